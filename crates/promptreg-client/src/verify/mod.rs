//! Verifying a registry without trusting its database (`promptreg verify`).
//!
//! The checks are pure functions over a [`Snapshot`] (everything the API serves about one
//! project), so that they run the same on a live server and on an exported file:
//!
//! - `ledger`: the signed checkpoint verifies with a trusted key; every leaf, as RFC 8785
//!   canonical JSON, rebuilt into an RFC 6962 tree, gives the signed root (which proves the
//!   inclusion of every leaf); an earlier checkpoint (`since`) is a prefix of it.
//! - `versions`: each version's content recomputes to its digest, its signature verifies and
//!   says what the row says, and its ledger leaf agrees; every `version_created` leaf has its
//!   row.
//! - `moves`: each pointer's history is exactly its `pointer_moved` leaves, each record signed;
//!   the live catalog is what the last move made live.
//! - `environments`: each `environment_created` leaf has its row, made by the leaf's actor.
//! - `proofs` ([`verify_online`] only): the server's inclusion and consistency proofs verify
//!   against the signed roots.
//! - `bundle` ([`verify_bundle`] only): an export bundle's signature is by a trusted key and
//!   names the snapshot's digest, project, tree size and root.
//!
//! Every failure names the table row it concerns ([`Finding`]); versions and moves written
//! before signing existed are warnings, not failures.

mod bundle;
mod environments;
mod ledger;
mod moves;
mod proofs;
mod report;
mod signed;
mod snapshot;
mod versions;

use promptreg_api::KeysView;
use promptreg_core::integrity::PublicKey;
use serde::Deserialize;

pub use bundle::BundleFile;
pub use promptreg_api::{
    EnvironmentCatalog, LedgerLeaf, PointerHistory, Snapshot, SnapshotError, WithheldVersion,
    SNAPSHOT_FORMAT,
};
pub use report::{Checked, Finding, Report};
pub use snapshot::fetch_snapshot;

use crate::{Client, ClientError};

/// Which keys signatures and checkpoints must be by.
#[derive(Debug, Clone)]
pub enum TrustedKeys {
    /// The keys the snapshot lists (`GET /v1/keys`): proves the data was not changed after
    /// signing, but not who signed.
    Served,
    /// Keys the auditor pinned beforehand.
    Pinned(Vec<PublicKey>),
}

/// What a verification trusts: keys, and optionally a checkpoint saved earlier that the
/// current ledger must extend.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The signing keys.
    pub keys: TrustedKeys,
    /// An earlier checkpoint's signed note (as `GET /v1/ledger/checkpoint` gave it in `note`).
    pub since: Option<String>,
}

/// Why a trusted-keys file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Not the JSON of `GET /v1/keys`.
    #[error(
        "not the JSON of GET /v1/keys ({{\"keys\": [{{\"key_id\", \"public_key\", ...}}]}}): {0}"
    )]
    Malformed(String),
    /// A key that cannot be used, or whose id is not the one given.
    #[error("key {index}: {message}")]
    Key {
        /// Its position in `keys`.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// No key at all: nothing would verify.
    #[error("the file lists no key")]
    Empty,
}

/// A key of a trusted-keys file: `GET /v1/keys` items, of which only the key is required.
#[derive(Deserialize)]
struct PinnedKey {
    public_key: String,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    algorithm: Option<String>,
}

#[derive(Deserialize)]
struct PinnedKeys {
    keys: Vec<PinnedKey>,
}

impl Trust {
    /// Trusts the keys the registry serves.
    pub fn served() -> Self {
        Trust {
            keys: TrustedKeys::Served,
            since: None,
        }
    }

    /// Trusts exactly the keys of `keys` (the answer of `GET /v1/keys`, as the auditor saved
    /// it), checking each key id.
    pub fn pinned(keys: &KeysView) -> Result<Self, TrustError> {
        let text = serde_json::to_string(keys).map_err(|e| TrustError::Malformed(e.to_string()))?;
        Self::pinned_json(&text)
    }

    /// [`Trust::pinned`] from the JSON text of a `GET /v1/keys` answer (only `public_key` is
    /// required of each key; a `key_id` given must match it).
    pub fn pinned_json(text: &str) -> Result<Self, TrustError> {
        let file: PinnedKeys =
            serde_json::from_str(text).map_err(|e| TrustError::Malformed(e.to_string()))?;
        let mut keys = Vec::with_capacity(file.keys.len());
        for (index, k) in file.keys.into_iter().enumerate() {
            let bad = |message: String| TrustError::Key { index, message };
            if let Some(alg) = k.algorithm.filter(|a| a != "ed25519") {
                return Err(bad(format!("algorithm {alg:?}, expected ed25519")));
            }
            let key = PublicKey::from_base64(&k.public_key).map_err(|e| bad(e.to_string()))?;
            if let Some(id) = k.key_id.filter(|id| id != key.key_id()) {
                return Err(bad(format!(
                    "key_id {id}, but the public key's id is {}",
                    key.key_id()
                )));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(TrustError::Empty);
        }
        Ok(Trust {
            keys: TrustedKeys::Pinned(keys),
            since: None,
        })
    }

    /// Also requires the ledger to extend the checkpoint `note` (a C2SP signed note).
    pub fn since(mut self, note: impl Into<String>) -> Self {
        self.since = Some(note.into());
        self
    }
}

/// Runs every check that needs only the data.
pub fn verify(snapshot: &Snapshot, trust: &Trust) -> Report {
    let mut report = Report::default();
    audit(snapshot, trust, &mut report);
    report.finish();
    report
}

/// Checks a `--bundle` file: an export bundle's own signature (by a trusted key, over this
/// snapshot, for its project, tree size and root), then everything [`verify`] checks.
pub fn verify_bundle(file: &BundleFile, trust: &Trust) -> Report {
    let mut report = Report::default();
    if let BundleFile::Signed(bundle, snapshot) = file {
        bundle::check(bundle, snapshot, trust, &mut report);
    }
    audit(file.snapshot(), trust, &mut report);
    report.finish();
    report
}

/// [`verify`], then checks the server's own proofs against the signed roots: an inclusion
/// proof for every version and move leaf, and the consistency proof from `trust.since`.
pub async fn verify_online(
    client: &Client,
    snapshot: &Snapshot,
    trust: &Trust,
) -> Result<Report, ClientError> {
    let mut report = Report::default();
    let ledger = audit(snapshot, trust, &mut report);
    proofs::check(client, &ledger, &mut report).await?;
    report.finish();
    Ok(report)
}

fn audit(snapshot: &Snapshot, trust: &Trust, report: &mut Report) -> ledger::Ledger {
    if snapshot.format != SNAPSHOT_FORMAT {
        report.fail_whole(
            "snapshot",
            format!("format {:?}, expected {SNAPSHOT_FORMAT:?}", snapshot.format),
        );
    }
    let ledger = ledger::check(snapshot, trust, report);
    versions::check(snapshot, &ledger, report);
    moves::check(snapshot, &ledger, report);
    environments::check(snapshot, &ledger, report);
    ledger
}

#[cfg(test)]
mod tests;
