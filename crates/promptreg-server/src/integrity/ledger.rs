//! The ledger: per project, an RFC 6962 Merkle tree whose leaf `i` is the RFC 8785 canonical
//! JSON of event `seq = i + 1` of the project's log. The log itself is the store's event
//! table (appended in the same transaction as each change, by the service layer); this is
//! the tree over it, kept in memory (two hashes per leaf) and fed by `Registry::apply` in
//! `seq` order, so proofs never touch the database.

use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;
use promptreg_core::integrity::merkle::{leaf_hash, Hash, ProofError, Tree};
use promptreg_core::integrity::note::{sign_checkpoint, Checkpoint, NoteError, NoteSigner};
use promptreg_core::{EventRecord, ProjectId};

/// How many out-of-order events a project may hold back before the oldest gap is given up
/// on (the follower's catch-up fills gaps; this only bounds memory).
const MAX_PENDING: usize = 10_000;

#[derive(Default)]
struct ProjectLog {
    tree: Tree,
    /// Leaves that arrived ahead of a missing `seq`, by `seq`.
    pending: BTreeMap<i64, Hash>,
}

impl ProjectLog {
    fn offer(&mut self, seq: i64, leaf: Hash) {
        let next = self.tree.len() as i64 + 1;
        if seq < next {
            return;
        }
        if seq > next {
            if self.pending.len() < MAX_PENDING {
                self.pending.insert(seq, leaf);
            }
            return;
        }
        self.tree.push(leaf);
        while let Some(entry) = self.pending.first_entry() {
            let want = self.tree.len() as i64 + 1;
            if *entry.key() < want {
                entry.remove();
            } else if *entry.key() == want {
                self.tree.push(entry.remove());
            } else {
                break;
            }
        }
    }
}

/// The trees of every project.
#[derive(Default)]
pub struct Ledger {
    projects: RwLock<HashMap<ProjectId, ProjectLog>>,
}

/// The leaf of an event record: what the ledger hashes.
pub fn leaf_of(record: &EventRecord) -> Hash {
    leaf_hash(&record.canonical_bytes())
}

/// How log entries carried over from before the ledger begin (their actor was not recorded;
/// their stored JSON may not be canonical).
const LEGACY_PREFIX: &str = "{\"actor\":\"unrecorded\"";

/// Whether a stored entry was carried over from before the ledger (then it is parsed and
/// canonicalised; every later entry is stored canonical and hashed as stored).
pub fn is_legacy(body: &str) -> bool {
    body.starts_with(LEGACY_PREFIX)
}

/// A stored log entry's leaf bytes and hash: the stored bytes, which the write path stores
/// as the record's canonical JSON, or, for an entry carried over from before the ledger,
/// its record's canonical JSON.
pub fn leaf_of_stored(body: &str) -> (String, Hash) {
    if is_legacy(body) {
        if let Ok(record) = EventRecord::from_bytes(body.as_bytes()) {
            let bytes = record.canonical_bytes();
            let hash = leaf_hash(&bytes);
            return (String::from_utf8_lossy(&bytes).into_owned(), hash);
        }
    }
    (body.to_owned(), leaf_hash(body.as_bytes()))
}

impl Ledger {
    /// Appends an event's leaf when it is the next of its project (held back until the gap
    /// before it is filled; ignored when already there).
    pub fn offer(&self, record: &EventRecord) {
        let leaf = leaf_of(record);
        self.projects
            .write()
            .entry(record.project.clone())
            .or_default()
            .offer(record.seq, leaf);
    }

    /// Replaces every tree (start-up and resynchronisation).
    pub fn replace_all(&self, trees: HashMap<ProjectId, Tree>) {
        *self.projects.write() = trees
            .into_iter()
            .map(|(p, tree)| {
                (
                    p,
                    ProjectLog {
                        tree,
                        pending: BTreeMap::new(),
                    },
                )
            })
            .collect();
    }

    /// The seq of the first leaf where `replayed` (the log read again) and this project's
    /// tree differ, over the leaves both hold.
    pub fn first_difference(&self, project: &ProjectId, replayed: &Tree) -> Option<i64> {
        self.with(project, |tree| {
            tree.leaves()
                .iter()
                .zip(replayed.leaves())
                .position(|(a, b)| a != b)
                .map(|i| i as i64 + 1)
        })
    }

    /// The number of leaves of a project's tree.
    pub fn size(&self, project: &ProjectId) -> u64 {
        self.projects
            .read()
            .get(project)
            .map_or(0, |p| p.tree.len())
    }

    fn with<T>(&self, project: &ProjectId, f: impl FnOnce(&Tree) -> T) -> T {
        let projects = self.projects.read();
        match projects.get(project) {
            Some(p) => f(&p.tree),
            None => f(&Tree::new()),
        }
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, project: &ProjectId, index: u64) -> Option<Hash> {
        self.with(project, |t| t.leaf(index))
    }

    /// The root hash at `size` leaves.
    pub fn root_at(&self, project: &ProjectId, size: u64) -> Result<Hash, ProofError> {
        self.with(project, |t| t.root_at(size))
    }

    /// The current checkpoint of a project, signed as a C2SP note.
    pub fn checkpoint(
        &self,
        project: &ProjectId,
        origin: String,
        signer: &NoteSigner,
    ) -> Result<(Checkpoint, String), NoteError> {
        let checkpoint = self.with(project, |t| Checkpoint {
            origin,
            size: t.len(),
            root: t.root(),
        });
        let note = sign_checkpoint(&checkpoint, signer)?;
        Ok((checkpoint, note))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion(
        &self,
        project: &ProjectId,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, ProofError> {
        self.with(project, |t| t.inclusion_proof(index, size))
    }

    /// The consistency proof between the trees of `from` and `to` leaves.
    pub fn consistency(
        &self,
        project: &ProjectId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Hash>, ProofError> {
        self.with(project, |t| t.consistency_proof(from, to))
    }
}
