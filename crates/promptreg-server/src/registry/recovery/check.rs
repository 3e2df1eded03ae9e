//! The server's own check of a bundle before anything is written (a client's verification is
//! never trusted): the bundle's signature, the signed checkpoint, and the leaves against it.
//! The rows are checked against the leaves in `rows`. Each refusal names the check.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use promptreg_api::{snapshot_digest, Bundle, Snapshot, BUNDLE_FORMAT};
use promptreg_core::integrity::merkle::{leaf_hash, Hash, Tree};
use promptreg_core::integrity::note::{open_checkpoint, NoteVerifier};
use promptreg_core::integrity::statement::open_export;
use promptreg_core::integrity::{Envelope, KeyRing, PublicKey};
use promptreg_core::{EventRecord, ProjectId};
use promptreg_store::{LogEntry, SigningKeyRecord};
use serde_json::Value;

use crate::registry::ServiceError;

/// A refusal: 422 `invalid_bundle`, naming the check that failed.
pub(super) fn refuse(check: &str, message: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid {
        code: "invalid_bundle",
        message: format!("{check}: {message}; nothing was imported"),
    }
}

/// One leaf, ready to be stored verbatim.
pub(super) struct Leaf {
    /// The log entry (seq = index + 1, kind, canonical body).
    pub entry: LogEntry,
    /// Its time (the record's `at`).
    pub at: DateTime<Utc>,
    /// The record, when this build knows its kind.
    pub record: Option<EventRecord>,
}

/// What the bundle-level checks establish.
pub(super) struct Checked {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// The keys it lists (what every signature must be by).
    pub ring: KeyRing,
    /// Their records, as listed.
    pub keys: Vec<SigningKeyRecord>,
    /// The leaves, in order.
    pub leaves: Vec<Leaf>,
    /// The signed root.
    pub root: Hash,
}

/// Checks the bundle's signature, the checkpoint and the leaves, for an import into `project`.
pub(super) fn bundle(bundle: &Bundle, project: &ProjectId) -> Result<Checked, ServiceError> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(refuse(
            "bundle",
            format!("format {:?}, expected {BUNDLE_FORMAT:?}", bundle.format),
        ));
    }
    let snapshot = bundle.snapshot().map_err(|e| refuse("snapshot", e))?;
    let (ring, keys) = key_ring(&snapshot)?;
    signature(bundle, &snapshot, &ring)?;
    let root = checkpoint(&snapshot, &ring, project)?;
    let leaves = leaves(&snapshot, project, root)?;
    Ok(Checked {
        snapshot,
        ring,
        keys,
        leaves,
        root,
    })
}

/// The listed keys, each one's id checked.
fn key_ring(snapshot: &Snapshot) -> Result<(KeyRing, Vec<SigningKeyRecord>), ServiceError> {
    let mut ring = Vec::new();
    let mut records = Vec::new();
    for k in &snapshot.keys {
        let check = format!("signing key {}", k.key_id);
        let key = PublicKey::from_base64(&k.public_key).map_err(|e| refuse(&check, e))?;
        if k.algorithm != "ed25519" || key.key_id() != k.key_id {
            return Err(refuse(
                &check,
                format!("an {} key whose id is {}", k.algorithm, key.key_id()),
            ));
        }
        ring.push(key);
        records.push(SigningKeyRecord {
            key_id: k.key_id.clone(),
            algorithm: k.algorithm.clone(),
            public_key: k.public_key.clone(),
            created_at: k.created_at,
            retired_at: k.retired_at,
        });
    }
    Ok((KeyRing::new(ring), records))
}

/// The bundle's envelope: by a listed key, over this snapshot, for its checkpoint.
fn signature(bundle: &Bundle, snapshot: &Snapshot, ring: &KeyRing) -> Result<(), ServiceError> {
    const CHECK: &str = "bundle signature";
    let envelope: Envelope = serde_json::from_value(bundle.signature.clone())
        .map_err(|e| refuse(CHECK, format!("not a DSSE envelope ({e})")))?;
    let (statement, p) =
        open_export(&envelope, ring).map_err(|e| refuse(CHECK, format!("does not verify: {e}")))?;
    let digest = snapshot_digest(&bundle.snapshot);
    statement.verify_subject(&digest).map_err(|_| {
        refuse(
            CHECK,
            format!("it signs another snapshot than this one (digest {digest}): the snapshot was changed"),
        )
    })?;
    let cp = &snapshot.checkpoint;
    if p.tree_size != cp.tree_size || p.root_hash != cp.root_hash {
        return Err(refuse(
            CHECK,
            format!(
                "it signs tree size {} with root {}, but the checkpoint says {} with {}",
                p.tree_size, p.root_hash, cp.tree_size, cp.root_hash
            ),
        ));
    }
    Ok(())
}

/// The checkpoint: of `project`, its note signed by a listed key and saying what its fields
/// say. Returns the signed root.
fn checkpoint(
    snapshot: &Snapshot,
    ring: &KeyRing,
    project: &ProjectId,
) -> Result<Hash, ServiceError> {
    const CHECK: &str = "checkpoint";
    let cp = &snapshot.checkpoint;
    let Some((name, of)) = cp.origin.rsplit_once('/') else {
        return Err(refuse(
            CHECK,
            format!("origin {:?} is not <ledger>/<project>", cp.origin),
        ));
    };
    if of != project.as_str() {
        return Err(refuse(
            CHECK,
            format!("the bundle is of project '{of}', not of '{project}'"),
        ));
    }
    let verifiers: Vec<NoteVerifier> = ring
        .iter()
        .filter_map(|k| NoteVerifier::from_public(name, k).ok())
        .collect();
    let signed = open_checkpoint(&cp.note, &verifiers).map_err(|e| refuse(CHECK, e))?;
    if signed.origin != cp.origin
        || signed.size != cp.tree_size
        || B64.encode(signed.root) != cp.root_hash
    {
        return Err(refuse(
            CHECK,
            "the signed note does not say what the checkpoint's fields say",
        ));
    }
    Ok(signed.root)
}

/// The leaves: exactly `0..tree_size` in order, of `project`, hashing to the signed root.
fn leaves(snapshot: &Snapshot, project: &ProjectId, root: Hash) -> Result<Vec<Leaf>, ServiceError> {
    const CHECK: &str = "ledger";
    let size = snapshot.checkpoint.tree_size;
    let mut tree = Tree::new();
    let mut leaves = Vec::with_capacity(snapshot.leaves.len());
    for (position, leaf) in snapshot.leaves.iter().enumerate() {
        let expected = position as u64;
        if leaf.index != expected {
            return Err(refuse(
                CHECK,
                format!(
                    "leaf {expected} is missing or out of order (found leaf {} there)",
                    leaf.index
                ),
            ));
        }
        let body = promptreg_core::content::canonical_json(&leaf.leaf);
        tree.push(leaf_hash(body.as_bytes()));
        leaves.push(read_leaf(leaf.index, &leaf.leaf, body, project)?);
    }
    if tree.len() != size {
        return Err(refuse(
            CHECK,
            format!(
                "{} leaves, but the signed checkpoint covers {size}",
                tree.len()
            ),
        ));
    }
    if tree.root() != root {
        return Err(refuse(
            CHECK,
            format!(
                "the {size} leaves hash to root {}, but the signed checkpoint says {}: a leaf was \
                 changed, added, removed or reordered",
                B64.encode(tree.root()),
                B64.encode(root)
            ),
        ));
    }
    Ok(leaves)
}

/// One leaf's log entry: its seq and project checked, its kind and time read.
fn read_leaf(
    index: u64,
    leaf: &Value,
    body: String,
    project: &ProjectId,
) -> Result<Leaf, ServiceError> {
    let check = format!("ledger leaf {index}");
    let seq = i64::try_from(index + 1).map_err(|e| refuse(&check, e))?;
    if leaf["seq"].as_i64() != Some(seq) || leaf["project"].as_str() != Some(project.as_str()) {
        return Err(refuse(
            &check,
            format!(
                "it says seq {} of project {}, not seq {seq} of '{project}'",
                leaf["seq"], leaf["project"]
            ),
        ));
    }
    let kind = leaf["change"]["event"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let at = serde_json::from_value::<DateTime<Utc>>(leaf["at"].clone())
        .map_err(|e| refuse(&check, format!("its time does not read ({e})")))?;
    // A kind newer than this build is stored as it is (it names no row this import writes).
    let record = EventRecord::from_bytes(body.as_bytes()).ok();
    if record.is_none()
        && matches!(
            kind.as_str(),
            "version_created" | "pointer_moved" | "environment_created"
        )
    {
        return Err(refuse(&check, "it does not read as a change record"));
    }
    Ok(Leaf {
        entry: LogEntry { seq, kind, body },
        at,
        record,
    })
}
