//! The keys, the signed checkpoint and the leaves: the trusted key ring, the checkpoint's
//! signature, the tree rebuilt from every leaf against the signed root, an earlier checkpoint
//! it must extend, and the version, move and environment records the leaves hold (for the
//! row checks).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use promptreg_core::integrity::merkle::{leaf_hash, Hash, Tree};
use promptreg_core::integrity::note::{open_checkpoint, Checkpoint, NoteVerifier};
use promptreg_core::integrity::{KeyRing, PublicKey};
use promptreg_core::{ChangeEvent, DeployKind, Digest, EventRecord, Version};
use serde_json::Value;

use super::report::{leaf_row, Report};
use super::{Snapshot, Trust, TrustedKeys};

/// The actor of events carried over from before the ledger recorded actors.
pub(super) const UNRECORDED_ACTOR: &str = "unrecorded";

/// A `version_created` leaf.
pub(super) struct VersionLeaf {
    pub index: u64,
    pub actor: String,
    pub digest: Digest,
    pub signature: Option<Digest>,
}

/// A `version_pruned` leaf.
pub(super) struct PrunedLeaf {
    pub index: u64,
    pub digest: Digest,
}

/// A `pointer_moved` leaf.
pub(super) struct MoveLeaf {
    pub index: u64,
    pub actor: String,
    pub reason: Option<String>,
    pub seq: i64,
    pub from_version: Option<Version>,
    pub to_version: Version,
    pub digest: Digest,
    pub kind: DeployKind,
    pub signature: Option<Digest>,
}

/// What the keys, checkpoint and leaves establish, for the row checks.
pub(super) struct Ledger {
    /// The project the checkpoint's origin names.
    pub project: String,
    /// The keys signatures must be by.
    pub ring: KeyRing,
    /// The signed tree size (as claimed, when the note does not verify).
    pub size: u64,
    /// The signed root (as claimed, when the note does not verify).
    pub root: Hash,
    /// The tree of the leaves as given.
    pub tree: Tree,
    /// `version_created` leaves by (prompt, version).
    pub versions: BTreeMap<(String, Version), VersionLeaf>,
    /// `version_pruned` leaves by (prompt, version).
    pub pruned: BTreeMap<(String, Version), PrunedLeaf>,
    /// `pointer_moved` leaves by (env, prompt), in ledger order.
    pub moves: BTreeMap<(String, String), Vec<MoveLeaf>>,
    /// `environment_created` leaves by environment: (leaf index, actor).
    pub environments: BTreeMap<String, (u64, String)>,
    /// The earlier checkpoint this one must extend, once it verified.
    pub since: Option<Checkpoint>,
}

/// Runs the ledger checks into `report` and returns what the row checks need.
pub(super) fn check(snapshot: &Snapshot, trust: &Trust, report: &mut Report) -> Ledger {
    let ring = key_ring(snapshot, trust, report);
    report.checked.keys = ring.len();
    let cp = &snapshot.checkpoint;
    report.origin = cp.origin.clone();
    let (ledger_name, project) = match cp.origin.rsplit_once('/') {
        Some((name, project)) => (name.to_owned(), project.to_owned()),
        None => {
            report.fail_whole(
                "checkpoint",
                format!("origin {:?} is not <ledger name>/<project>", cp.origin),
            );
            (cp.origin.clone(), String::new())
        }
    };
    let verifiers: Vec<NoteVerifier> = ring
        .iter()
        .filter_map(|k| NoteVerifier::from_public(&ledger_name, k).ok())
        .collect();
    let claimed_root = decode_hash(&cp.root_hash);
    let (size, root) = match open_checkpoint(&cp.note, &verifiers) {
        Ok(signed) => {
            if signed.origin != cp.origin
                || signed.size != cp.tree_size
                || Some(signed.root) != claimed_root
            {
                report.fail_whole(
                    "checkpoint",
                    format!(
                        "the signed note says {} at size {} with root {}, but the answer's fields \
                         say {} at size {} with root {}",
                        signed.origin,
                        signed.size,
                        B64.encode(signed.root),
                        cp.origin,
                        cp.tree_size,
                        cp.root_hash
                    ),
                );
            }
            (signed.size, signed.root)
        }
        Err(e) => {
            report.fail_whole(
                "checkpoint",
                format!("the note does not verify with a trusted key: {e}"),
            );
            (cp.tree_size, claimed_root.unwrap_or_default())
        }
    };
    report.tree_size = size;
    report.root_hash = B64.encode(root);

    let mut ledger = Ledger {
        project,
        ring,
        size,
        root,
        tree: Tree::new(),
        versions: BTreeMap::new(),
        pruned: BTreeMap::new(),
        moves: BTreeMap::new(),
        environments: BTreeMap::new(),
        since: None,
    };
    replay(snapshot, &mut ledger, report);
    check_root(&ledger, report);
    if let Some(note) = &trust.since {
        ledger.since = check_since(note, &verifiers, &cp.origin, &ledger, report);
    }
    ledger
}

/// The trusted keys: the pinned ones, or the served ones (each checked against its key id).
fn key_ring(snapshot: &Snapshot, trust: &Trust, report: &mut Report) -> KeyRing {
    match &trust.keys {
        TrustedKeys::Pinned(keys) => KeyRing::new(keys.clone()),
        TrustedKeys::Served => {
            let mut keys = Vec::new();
            for k in &snapshot.keys {
                let row = ("signing_keys", format!("key_id {}", k.key_id));
                if k.algorithm != "ed25519" {
                    report.fail(
                        row,
                        format!("algorithm {:?}, expected ed25519", k.algorithm),
                    );
                    continue;
                }
                match PublicKey::from_base64(&k.public_key) {
                    Ok(key) if key.key_id() == k.key_id => keys.push(key),
                    Ok(key) => report.fail(
                        row,
                        format!("the public key's id is {}, not {}", key.key_id(), k.key_id),
                    ),
                    Err(e) => report.fail(row, e.to_string()),
                }
            }
            KeyRing::new(keys)
        }
    }
}

fn decode_hash(text: &str) -> Option<Hash> {
    B64.decode(text).ok()?.try_into().ok()
}

/// Hashes every leaf into the tree and collects the version and move records.
fn replay(snapshot: &Snapshot, ledger: &mut Ledger, report: &mut Report) {
    let mut expected = 0u64;
    for leaf in &snapshot.leaves {
        if leaf.index != expected {
            let what = if leaf.index > expected {
                format!("missing (the next leaf given is {})", leaf.index)
            } else {
                format!(
                    "out of order: leaf {} comes after leaf {}",
                    leaf.index,
                    expected - 1
                )
            };
            report.fail(leaf_row(expected), what);
        }
        expected = leaf.index + 1;
        let bytes = match serde_json_canonicalizer::to_vec(&leaf.leaf) {
            Ok(bytes) => bytes,
            Err(e) => {
                report.fail(leaf_row(leaf.index), format!("not canonical JSON: {e}"));
                Vec::new()
            }
        };
        ledger.tree.push(leaf_hash(&bytes));
        read_leaf(leaf.index, &leaf.leaf, ledger, report);
    }
    report.checked.leaves = ledger.tree.len();
}

/// Checks a leaf's place and project and keeps its version or move record.
fn read_leaf(index: u64, leaf: &Value, ledger: &mut Ledger, report: &mut Report) {
    let row = || leaf_row(index);
    let kind = leaf["change"]["event"].as_str().unwrap_or_default();
    let record: EventRecord = match serde_json::from_value(leaf.clone()) {
        Ok(record) => record,
        Err(_) if !matches!(kind, "version_created" | "version_pruned" | "pointer_moved") => {
            // A kind newer than this client: it is hashed (so covered by the root) but its
            // content cannot be compared with any row.
            if leaf["seq"].as_u64() != Some(index + 1) {
                report.fail(
                    row(),
                    format!("seq {} where {} belongs", leaf["seq"], index + 1),
                );
            }
            return;
        }
        Err(e) => {
            report.fail(row(), format!("does not read as a change record: {e}"));
            return;
        }
    };
    if u64::try_from(record.seq).ok() != Some(index + 1) {
        report.fail(
            row(),
            format!("seq {} where {} belongs", record.seq, index + 1),
        );
    }
    if record.project.as_str() != ledger.project || record.change.project() != &record.project {
        report.fail(
            row(),
            format!(
                "a change of project '{}' in the ledger of project '{}'",
                record.change.project(),
                ledger.project
            ),
        );
    }
    match record.change {
        ChangeEvent::VersionCreated {
            name,
            version,
            digest,
            signature,
            ..
        } => {
            let key = (name.to_string(), version);
            if let Some(first) = ledger.versions.get(&key) {
                report.fail(
                    row(),
                    format!(
                        "records version {version} of '{name}' again (first at leaf {})",
                        first.index
                    ),
                );
                return;
            }
            ledger.versions.insert(
                key,
                VersionLeaf {
                    index,
                    actor: record.actor,
                    digest,
                    signature,
                },
            );
        }
        ChangeEvent::VersionPruned {
            name,
            version,
            digest,
            ..
        } => {
            let key = (name.to_string(), version);
            if let Some(first) = ledger.pruned.get(&key) {
                report.fail(
                    row(),
                    format!(
                        "records the pruning of version {version} of '{name}' again (first at \
                         leaf {})",
                        first.index
                    ),
                );
                return;
            }
            ledger.pruned.insert(key, PrunedLeaf { index, digest });
        }
        ChangeEvent::PointerMoved {
            env,
            name,
            seq,
            from_version,
            to_version,
            digest,
            kind,
            signature,
            ..
        } => {
            ledger
                .moves
                .entry((env.to_string(), name.to_string()))
                .or_default()
                .push(MoveLeaf {
                    index,
                    actor: record.actor,
                    reason: record.reason,
                    seq,
                    from_version,
                    to_version,
                    digest,
                    kind,
                    signature,
                });
        }
        ChangeEvent::EnvironmentCreated { env, .. } => {
            if let Some((first, _)) = ledger.environments.get(env.as_str()) {
                report.fail(
                    row(),
                    format!("records environment '{env}' again (first at leaf {first})"),
                );
                return;
            }
            ledger
                .environments
                .insert(env.to_string(), (index, record.actor));
        }
        _ => {}
    }
}

/// The leaves must be exactly the signed tree.
fn check_root(ledger: &Ledger, report: &mut Report) {
    let have = ledger.tree.len();
    if have < ledger.size {
        report.fail(
            leaf_row(have),
            format!(
                "missing: the ledger has {have} leaves but the signed checkpoint covers {}",
                ledger.size
            ),
        );
        return;
    }
    if have > ledger.size {
        report.fail_whole(
            "event_log",
            format!(
                "{have} leaves, but the signed checkpoint covers only {}",
                ledger.size
            ),
        );
    }
    match ledger.tree.root_at(ledger.size) {
        Ok(root) if root == ledger.root => {}
        Ok(root) => report.fail_whole(
            "event_log",
            format!(
                "the {} leaves hash to root {}, but the signed checkpoint says {}: a leaf was \
                 changed, added or removed",
                ledger.size,
                B64.encode(root),
                B64.encode(ledger.root)
            ),
        ),
        Err(e) => report.fail_whole("event_log", e.to_string()),
    }
}

/// The earlier checkpoint `note` must verify and be a prefix of this ledger.
fn check_since(
    note: &str,
    verifiers: &[NoteVerifier],
    origin: &str,
    ledger: &Ledger,
    report: &mut Report,
) -> Option<Checkpoint> {
    const WHAT: &str = "since checkpoint";
    let old = match open_checkpoint(note, verifiers) {
        Ok(old) => old,
        Err(e) => {
            report.fail_whole(WHAT, format!("does not verify with a trusted key: {e}"));
            return None;
        }
    };
    if old.origin != origin {
        report.fail_whole(
            WHAT,
            format!("is of ledger {}, not of {origin}", old.origin),
        );
        return None;
    }
    if old.size > ledger.size {
        report.fail_whole(
            WHAT,
            format!(
                "the ledger shrank: the saved checkpoint covers {} leaves, the current one only \
                 {}; leaves were removed",
                old.size, ledger.size
            ),
        );
        return None;
    }
    match ledger.tree.root_at(old.size) {
        Ok(root) if root == old.root => {
            report.checked.since_tree_size = Some(old.size);
            Some(old)
        }
        Ok(root) => {
            report.fail_whole(
                WHAT,
                format!(
                    "the ledger was rewritten: its first {} leaves now hash to {}, but the saved \
                     checkpoint signed {}",
                    old.size,
                    B64.encode(root),
                    B64.encode(old.root)
                ),
            );
            None
        }
        Err(e) => {
            report.fail_whole(WHAT, format!("cannot be compared: {e}"));
            None
        }
    }
}
