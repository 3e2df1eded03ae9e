//! RFC 6962 vectors from Go's `transparency-dev/merkle`: `testonly/constants.go` (the 8 leaves,
//! their node hashes and the roots of every prefix), the proofs of `proof/verify_test.go` with
//! its corruptions. The probes of its `testdata/` are in `merkle_probes.rs`.

use super::unhex;
use crate::integrity::merkle::{
    empty_root, leaf_hash, verify_consistency, verify_inclusion, Hash, ProofError, Tree,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

const LEAF_HASHES: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
];

/// Roots of the trees of sizes 0 to 8.
pub(super) const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// `(leaf index, tree size, proof)`; Go's table counts leaves from 1, this one from 0. Each
/// proof is its node hashes in order, space-separated.
const INCLUSION: [(u64, u64, &str); 5] = [
    (
        0,
        8,
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7 \
            5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e \
            6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    (
        5,
        8,
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b \
            ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0 \
            d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ),
    (
        2,
        3,
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    ),
    (
        1,
        5,
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d \
            5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e \
            bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ),
    (0, 1, ""),
];

/// `(old size, new size, proof)`, as [`INCLUSION`].
const CONSISTENCY: [(u64, u64, &str); 5] = [
    (1, 1, ""),
    (
        1,
        8,
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7 \
            5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e \
            6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    (
        6,
        8,
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a \
            ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0 \
            d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ),
    (
        2,
        5,
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e \
            bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ),
    (
        6,
        7,
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a \
            b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f \
            d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ),
];

/// Go's `sha256SomeHash`.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

pub(super) fn h(s: &str) -> Hash {
    unhex(s).try_into().unwrap()
}

fn hashes(list: &str) -> Vec<Hash> {
    list.split_whitespace().map(h).collect()
}

pub(super) fn tree() -> Tree {
    let mut tree = Tree::new();
    for leaf in LEAVES {
        tree.push(leaf_hash(&unhex(leaf)));
    }
    tree
}

#[test]
fn leaf_hashes_and_every_root_match() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    assert_eq!(Tree::new().root(), empty_root());
    let tree = tree();
    for (i, leaf) in LEAVES.iter().enumerate() {
        assert_eq!(leaf_hash(&unhex(leaf)), h(LEAF_HASHES[i]));
        assert_eq!(tree.leaf(i as u64), Some(h(LEAF_HASHES[i])));
    }
    assert_eq!(tree.leaf(8), None);
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(tree.root_at(size as u64).unwrap(), h(root), "size {size}");
    }
    assert_eq!(tree.root(), h(ROOTS[8]));
    let too_big = ProofError::SizeOutOfRange { size: 9, len: 8 };
    assert_eq!(tree.root_at(9), Err(too_big));
}

/// The arguments of one call of [`verify_inclusion`].
#[derive(Clone)]
struct Incl {
    index: u64,
    size: u64,
    proof: Vec<Hash>,
    root: Hash,
    leaf: Hash,
}

impl Incl {
    fn verifies(&self) -> bool {
        verify_inclusion(&self.leaf, self.index, self.size, &self.proof, &self.root).is_ok()
    }
}

/// Go's `corruptInclusionProof`: every variant must fail.
fn inclusion_corruptions(good: &Incl) -> Vec<(String, Incl)> {
    let (some, end, root) = (h(SOME_HASH), good.proof.len(), good.root);
    let change = |f: &dyn Fn(&mut Incl)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let mut out = vec![
        ("index - 1", change(&|c| c.index = c.index.wrapping_sub(1))),
        ("index + 1", change(&|c| c.index += 1)),
        ("index ^ 2", change(&|c| c.index ^= 2)),
        ("size * 2", change(&|c| c.size *= 2)),
        ("size / 2", change(&|c| c.size /= 2)),
        ("wrong leaf", change(&|c| c.leaf = leaf_hash(b"WrongLeaf"))),
        ("empty root", change(&|c| c.root = empty_root())),
        ("random root", change(&|c| c.root = some)),
        ("trailing garbage", change(&|c| c.proof.push([0; 32]))),
        ("trailing root", change(&|c| c.proof.push(root))),
        ("preceding garbage", change(&|c| c.proof.insert(0, [0; 32]))),
        ("preceding root", change(&|c| c.proof.insert(0, root))),
    ];
    if end > 0 {
        out.push(("removed component", change(&|c| c.proof.truncate(end - 1))));
    }
    if end > 1 {
        out.push(("inserted component", change(&|c| c.proof.insert(1, some))));
    }
    let mut out: Vec<_> = out.into_iter().map(|(d, p)| (d.to_owned(), p)).collect();
    for i in 0..end {
        let flipped = change(&|c| c.proof[i][0] ^= 8);
        out.push((format!("modified proof[{i}] bit 3"), flipped));
    }
    out
}

#[test]
fn inclusion_proofs_match_go_and_every_corruption_fails() {
    let tree = tree();
    for (index, size, proof) in INCLUSION {
        let good = Incl {
            index,
            size,
            proof: hashes(proof),
            root: h(ROOTS[size as usize]),
            leaf: h(LEAF_HASHES[index as usize]),
        };
        assert_eq!(
            tree.inclusion_proof(index, size).unwrap(),
            good.proof,
            "{index} in {size}"
        );
        assert!(good.verifies(), "{index} in {size}");
        for (desc, bad) in inclusion_corruptions(&good) {
            assert!(!bad.verifies(), "{desc} for {index} in {size} verified");
        }
    }
    let (index, size) = (8, 8);
    assert_eq!(
        tree.inclusion_proof(8, 8),
        Err(ProofError::IndexOutOfRange { index, size })
    );
    let (size, len) = (9, 8);
    assert_eq!(
        tree.inclusion_proof(0, 9),
        Err(ProofError::SizeOutOfRange { size, len })
    );
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert!(verify_inclusion(&h(SOME_HASH), index, size, &[], &empty_root()).is_err());
    }
}

/// The arguments of one call of [`verify_consistency`].
#[derive(Clone)]
struct Cons {
    from: u64,
    to: u64,
    proof: Vec<Hash>,
    r1: Hash,
    r2: Hash,
}

impl Cons {
    fn verifies(&self) -> bool {
        verify_consistency(self.from, self.to, &self.proof, &self.r1, &self.r2).is_ok()
    }
}

/// Go's `corruptConsistencyProof`: every variant must fail.
fn consistency_corruptions(good: &Cons) -> Vec<(String, Cons)> {
    let (some, end, r1, r2, first) = (
        h(SOME_HASH),
        good.proof.len(),
        good.r1,
        good.r2,
        good.proof[0],
    );
    let change = |f: &dyn Fn(&mut Cons)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let out = vec![
        ("from - 1", change(&|c| c.from -= 1)),
        ("from + 1", change(&|c| c.from += 1)),
        ("from ^ 2", change(&|c| c.from ^= 2)),
        ("to * 2", change(&|c| c.to *= 2)),
        ("to / 2", change(&|c| c.to /= 2)),
        ("wrong root1", change(&|c| c.r1 = some)),
        ("wrong root2", change(&|c| c.r2 = some)),
        ("swapped roots", change(&|c| (c.r1, c.r2) = (r2, r1))),
        ("empty proof", change(&|c| c.proof.clear())),
        ("trailing garbage", change(&|c| c.proof.push([0; 32]))),
        ("trailing root1", change(&|c| c.proof.push(r1))),
        ("trailing root2", change(&|c| c.proof.push(r2))),
        ("preceding garbage", change(&|c| c.proof.insert(0, [0; 32]))),
        ("preceding root1", change(&|c| c.proof.insert(0, r1))),
        ("preceding root2", change(&|c| c.proof.insert(0, r2))),
        ("preceding proof[0]", change(&|c| c.proof.insert(0, first))),
        ("truncated proof", change(&|c| c.proof.truncate(end - 1))),
    ];
    let mut out: Vec<_> = out.into_iter().map(|(d, c)| (d.to_owned(), c)).collect();
    for i in 0..end {
        let flipped = change(&|c| c.proof[i][0] ^= 16);
        out.push((format!("modified proof[{i}] bit 4"), flipped));
    }
    out
}

#[test]
fn consistency_proofs_match_go_and_every_corruption_fails() {
    let tree = tree();
    for (from, to, proof) in CONSISTENCY {
        let good = Cons {
            from,
            to,
            proof: hashes(proof),
            r1: h(ROOTS[from as usize]),
            r2: h(ROOTS[to as usize]),
        };
        assert_eq!(
            tree.consistency_proof(from, to).unwrap(),
            good.proof,
            "{from} to {to}"
        );
        assert!(good.verifies(), "{from} to {to}");
        if good.proof.is_empty() {
            continue;
        }
        for (desc, bad) in consistency_corruptions(&good) {
            assert!(!bad.verifies(), "{desc} for {from} to {to} verified");
        }
    }
    let order = |from, to| Err(ProofError::SizeOrder { from, to });
    assert_eq!(tree.consistency_proof(0, 3), order(0, 3));
    assert_eq!(tree.consistency_proof(4, 3), order(4, 3));
    let (size, len) = (9, 8);
    assert_eq!(
        tree.consistency_proof(1, 9),
        Err(ProofError::SizeOutOfRange { size, len })
    );
}
