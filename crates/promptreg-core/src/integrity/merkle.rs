//! RFC 6962 / RFC 9162 Merkle tree math: the hashing, an append-only [`Tree`] that proves
//! inclusion and consistency, and the verifiers a client runs ([`verify_inclusion`],
//! [`verify_consistency`]).
//!
//! Leaves and interior nodes hash with different prefixes (0x00, 0x01) so that no leaf can pass
//! for a node. A tree of `n` leaves splits at the largest power of two below `n`, which is what
//! makes a log append-only in a checkable way: every earlier tree is a prefix whose root can be
//! recomputed from the later one.

use sha2::{Digest as _, Sha256};

mod verify;

pub use verify::{verify_consistency, verify_inclusion};

/// A SHA-256 hash: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// The leaf hash of an entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(entry)
        .finalize()
        .into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Why a proof cannot be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// A leaf index at or past the tree size.
    #[error("leaf index {index} is outside a tree of {size} entries")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The size of the tree it was asked in.
        size: u64,
    },
    /// A tree size larger than the log.
    #[error("tree size {size} is larger than the log, which has {len} entries")]
    SizeOutOfRange {
        /// The size asked for.
        size: u64,
        /// How many entries the log has.
        len: u64,
    },
    /// A consistency proof asked between sizes in the wrong order or from the empty tree.
    #[error("no consistency proof from size {from} to size {to}: the old size must be between 1 and the new size")]
    SizeOrder {
        /// The old tree size.
        from: u64,
        /// The new tree size.
        to: u64,
    },
    /// A proof with the wrong number of hashes for the sizes given.
    #[error("malformed proof: {0}")]
    BadProof(String),
    /// A well-formed proof that leads to another root: the entry is not in the tree, or the
    /// later tree does not extend the earlier one.
    #[error("the proof does not lead to the {0} root: the entry is not in that tree, or the log was rewritten")]
    RootMismatch(&'static str),
}

/// Largest power of two strictly below `n` (`n >= 2`): where RFC 6962 splits a tree.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// An append-only Merkle tree that keeps only hashes: per level, the hashes of the complete
/// (perfect, aligned) subtrees, about two hashes per leaf. Any root or proof is computed from
/// them with O(log² n) lookups and hashes.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// `levels[h][i]` is the hash of leaves `[i << h, (i + 1) << h)`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Self {
        Tree::default()
    }

    /// Appends a leaf hash (see [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut h = 0;
        loop {
            if self.levels.len() == h {
                self.levels.push(Vec::new());
            }
            let level = &mut self.levels[h];
            level.push(carry);
            // A level of even length just completed a subtree one level up.
            if level.len() % 2 == 1 {
                return;
            }
            carry = node_hash(&level[level.len() - 2], &level[level.len() - 1]);
            h += 1;
        }
    }

    /// How many leaves the tree has.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every leaf hash, in order (what a snapshot of the tree keeps).
    pub fn leaves(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let i = usize::try_from(index).ok()?;
        self.levels.first()?.get(i).copied()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.len()).unwrap_or_else(|_| empty_root())
    }

    /// The root the tree had when it had `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        Ok(if size == 0 {
            empty_root()
        } else {
            self.range_hash(0, size)
        })
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves: RFC 6962's
    /// `PATH(index, D[size])`, sibling hashes from the leaf up to the root.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Ok(out)
    }

    /// The proof that the tree of `from` leaves is a prefix of the tree of `to` leaves:
    /// RFC 6962's `PROOF(from, D[to])`. Empty when the sizes are equal.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(to)?;
        if from == 0 || from > to {
            return Err(ProofError::SizeOrder { from, to });
        }
        let mut out = Vec::new();
        self.subproof(from, 0, to, true, &mut out);
        Ok(out)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        let len = self.len();
        if size > len {
            return Err(ProofError::SizeOutOfRange { size, len });
        }
        Ok(())
    }

    /// `MTH(D[a:b])` for `a < b <= len`. In every range RFC 6962's recursion visits, `a` is a
    /// multiple of the smallest power of two `>= b - a`, so a power-of-two range is a stored
    /// complete subtree.
    fn range_hash(&self, a: u64, b: u64) -> Hash {
        let n = b - a;
        if n.is_power_of_two() {
            let h = n.trailing_zeros();
            return self.levels[h as usize][(a >> h) as usize];
        }
        let k = split(n);
        node_hash(&self.range_hash(a, a + k), &self.range_hash(a + k, b))
    }

    /// `PATH(m, D[a:b])`, `m` relative to `a`.
    fn path(&self, m: u64, a: u64, b: u64, out: &mut Vec<Hash>) {
        let n = b - a;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, a, a + k, out);
            out.push(self.range_hash(a + k, b));
        } else {
            self.path(m - k, a + k, b, out);
            out.push(self.range_hash(a, a + k));
        }
    }

    /// `SUBPROOF(m, D[a:b], complete)`: `complete` says whether `D[a:a+m]` is a whole earlier
    /// tree, whose root the verifier already has.
    fn subproof(&self, m: u64, a: u64, b: u64, complete: bool, out: &mut Vec<Hash>) {
        let n = b - a;
        if m == n {
            if !complete {
                out.push(self.range_hash(a, b));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, a, a + k, complete, out);
            out.push(self.range_hash(a + k, b));
        } else {
            self.subproof(m - k, a + k, b, false, out);
            out.push(self.range_hash(a, a + k));
        }
    }
}
