//! The verifiers of RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), step for step,
//! iterative and allocation-free: what a client runs against a signed checkpoint.

use super::{node_hash, Hash, ProofError};

/// Right-shifts `fn_` and `sn` together until the low bit of `fn_` is set or `fn_` is 0.
fn skip_right_edge(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Checks that `leaf` (a leaf hash) is entry `index` of the tree of `size` leaves whose root is
/// `root`, given the `proof` from [`super::Tree::inclusion_proof`].
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(too_long(proof.len(), "an inclusion", size));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            skip_right_edge(&mut fn_, &mut sn);
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(too_short(proof.len(), "an inclusion", size));
    }
    if r != *root {
        return Err(ProofError::RootMismatch("signed"));
    }
    Ok(())
}

/// Checks that the tree of `from` leaves with root `from_root` is a prefix of the tree of `to`
/// leaves with root `to_root`, given the `proof` from [`super::Tree::consistency_proof`].
///
/// Equal sizes need an empty proof and equal roots. A proof from the empty tree is refused as
/// meaningless (every tree extends it), as Go's `transparency-dev/merkle` does.
pub fn verify_consistency(
    from: u64,
    to: u64,
    proof: &[Hash],
    from_root: &Hash,
    to_root: &Hash,
) -> Result<(), ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::SizeOrder { from, to });
    }
    if from == to {
        if !proof.is_empty() {
            return Err(ProofError::BadProof(format!(
                "{} hashes between two trees of the same size, expected none",
                proof.len()
            )));
        }
        if from_root != to_root {
            return Err(ProofError::RootMismatch("new"));
        }
        return Ok(());
    }
    // When the old tree is a complete subtree of the new one, its root is the proof's first
    // node and is left out of the proof.
    let (seed, rest) = if from.is_power_of_two() {
        (from_root, proof)
    } else {
        match proof.split_first() {
            Some(split) => split,
            None => {
                return Err(ProofError::BadProof(
                    "an empty consistency proof between different sizes".into(),
                ))
            }
        }
    };
    let (mut fn_, mut sn) = (from - 1, to - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if sn == 0 {
            return Err(too_long(proof.len(), "a consistency", to));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            skip_right_edge(&mut fn_, &mut sn);
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(too_short(proof.len(), "a consistency", to));
    }
    if fr != *from_root {
        return Err(ProofError::RootMismatch("old"));
    }
    if sr != *to_root {
        return Err(ProofError::RootMismatch("new"));
    }
    Ok(())
}

fn too_long(len: usize, kind: &str, size: u64) -> ProofError {
    ProofError::BadProof(format!(
        "{len} hashes is too many for {kind} proof in a tree of {size} entries"
    ))
}

fn too_short(len: usize, kind: &str, size: u64) -> ProofError {
    ProofError::BadProof(format!(
        "{len} hashes is too few for {kind} proof in a tree of {size} entries"
    ))
}
