//! An export bundle's own signature: a DSSE envelope by a trusted key over an in-toto
//! statement whose subject is the snapshot's digest and whose predicate names the snapshot's
//! project, tree size and root. The snapshot itself is then checked like any other.

use promptreg_api::{snapshot_digest, Bundle, Snapshot, SnapshotError, BUNDLE_FORMAT};
use promptreg_core::integrity::statement::open_export;
use promptreg_core::integrity::{Envelope, KeyRing, PublicKey};
use serde_json::Value;

use super::report::Report;
use super::{Trust, TrustedKeys};

/// What a table name of the findings here says.
const WHAT: &str = "bundle signature";

/// What a `--bundle` file holds: an export bundle, or a bare snapshot (no signature of its
/// own; its checkpoint and rows are still signed).
#[derive(Debug, Clone)]
pub enum BundleFile {
    /// `promptreg-bundle/v1`.
    Signed(Box<Bundle>, Box<Snapshot>),
    /// `promptreg-snapshot/v1`.
    Bare(Box<Snapshot>),
}

impl BundleFile {
    /// Reads either format (anything else, or a file cut short, is an error).
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        if value.get("format").and_then(Value::as_str) == Some(BUNDLE_FORMAT) {
            let bundle = Bundle::from_value(value)?;
            let snapshot = bundle.snapshot()?;
            return Ok(BundleFile::Signed(Box::new(bundle), Box::new(snapshot)));
        }
        Ok(BundleFile::Bare(Box::new(Snapshot::from_value(value)?)))
    }

    /// The snapshot inside.
    pub fn snapshot(&self) -> &Snapshot {
        match self {
            BundleFile::Signed(_, s) | BundleFile::Bare(s) => s,
        }
    }
}

/// Checks the bundle's signature into `report`.
pub(super) fn check(bundle: &Bundle, snapshot: &Snapshot, trust: &Trust, report: &mut Report) {
    let ring = match &trust.keys {
        TrustedKeys::Pinned(keys) => KeyRing::new(keys.clone()),
        // The keys the snapshot lists (each one's id is checked with the ledger's keys).
        TrustedKeys::Served => KeyRing::new(
            snapshot
                .keys
                .iter()
                .filter_map(|k| PublicKey::from_base64(&k.public_key).ok())
                .collect(),
        ),
    };
    let envelope: Envelope = match serde_json::from_value(bundle.signature.clone()) {
        Ok(envelope) => envelope,
        Err(e) => return report.fail_whole(WHAT, format!("not a DSSE envelope ({e})")),
    };
    let (statement, p) = match open_export(&envelope, &ring) {
        Ok(opened) => opened,
        Err(e) => return report.fail_whole(WHAT, format!("does not verify: {e}")),
    };
    let digest = snapshot_digest(&bundle.snapshot);
    if statement.verify_subject(&digest).is_err() {
        report.fail_whole(
            WHAT,
            format!(
                "signs snapshot digest {}, but the snapshot hashes to {digest}: it was changed \
                 after export",
                statement
                    .subject_digest()
                    .map_or_else(|| "(none)".to_owned(), |d| d.to_string())
            ),
        );
    }
    let cp = &snapshot.checkpoint;
    let project = cp.origin.rsplit_once('/').map_or("", |(_, p)| p);
    let fields = [
        ("project", project.to_owned(), p.project.to_string()),
        (
            "tree size",
            cp.tree_size.to_string(),
            p.tree_size.to_string(),
        ),
        ("root", cp.root_hash.clone(), p.root_hash.clone()),
    ];
    for (field, snapshot, signed) in fields {
        if snapshot != signed {
            report.fail_whole(
                WHAT,
                format!("the checkpoint's {field} is {snapshot}, but the signature says {signed}"),
            );
        }
    }
}
