//! Property tests: every proof the tree makes verifies, is byte for byte the proof the
//! `ct-merkle` crate makes for the same entries, passes `ct-merkle`'s own verifier, and stops
//! verifying when any byte of it, the leaf or the root is flipped.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use proptest::prelude::*;
use sha2::Sha256;

use crate::integrity::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash, Tree};

type Reference = MemoryBackedTree<Sha256, Vec<u8>>;

fn ct_root(hash: &Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new((*hash).into(), size)
}

fn flip(mut h: Hash, byte: usize, bit: u8) -> Hash {
    h[byte % 32] ^= 1 << (bit % 8);
    h
}

/// Grows both trees entry by entry and checks every inclusion and consistency proof at every
/// size. `pick` chooses which hash, byte and bit to corrupt in each proof.
fn check_all(entries: &[Vec<u8>], pick: (usize, usize, u8)) {
    let (which, byte, bit) = pick;
    let mut tree = Tree::new();
    let mut reference = Reference::new();
    for (n, entry) in entries.iter().enumerate() {
        tree.push(leaf_hash(entry));
        reference.push(entry.clone());
        let size = n as u64 + 1;
        let root = tree.root();
        assert_eq!(
            root.as_slice(),
            reference.root().as_bytes().as_slice(),
            "root of {size}"
        );
        let ct = ct_root(&root, size);

        for index in 0..size {
            let leaf = tree.leaf(index).unwrap();
            let proof = tree.inclusion_proof(index, size).unwrap();
            verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
            let theirs = reference.prove_inclusion(index as usize);
            assert_eq!(
                proof.concat(),
                theirs.as_bytes(),
                "inclusion {index} in {size}"
            );
            ct.verify_inclusion(
                &entries[index as usize],
                index,
                &InclusionProof::from_bytes(proof.concat()),
            )
            .unwrap();

            assert!(verify_inclusion(&flip(leaf, byte, bit), index, size, &proof, &root).is_err());
            assert!(verify_inclusion(&leaf, index, size, &proof, &flip(root, byte, bit)).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let i = which % bad.len();
                bad[i] = flip(bad[i], byte, bit);
                assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
                assert!(ct
                    .verify_inclusion(
                        &entries[index as usize],
                        index,
                        &InclusionProof::from_bytes(bad.concat())
                    )
                    .is_err());
            }
        }

        for from in 1..=size {
            let old = tree.root_at(from).unwrap();
            let proof = tree.consistency_proof(from, size).unwrap();
            verify_consistency(from, size, &proof, &old, &root).unwrap();
            assert!(verify_consistency(from, size, &proof, &flip(old, byte, bit), &root).is_err());
            assert!(verify_consistency(from, size, &proof, &old, &flip(root, byte, bit)).is_err());
            if from == size {
                assert!(proof.is_empty());
                continue;
            }
            let theirs = reference.prove_consistency((size - from) as usize);
            assert_eq!(
                proof.concat(),
                theirs.as_bytes(),
                "consistency {from} to {size}"
            );
            let wrapped = ConsistencyProof::try_from_bytes(proof.concat()).unwrap();
            ct.verify_consistency(&ct_root(&old, from), &wrapped)
                .unwrap();

            let mut bad = proof.clone();
            let i = which % bad.len();
            bad[i] = flip(bad[i], byte, bit);
            assert!(verify_consistency(from, size, &bad, &old, &root).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_proof_verifies_matches_ct_merkle_and_breaks_when_flipped(
        entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 1..70),
        pick in (any::<usize>(), any::<usize>(), any::<u8>()),
    ) {
        check_all(&entries, pick);
    }

    #[test]
    fn proofs_in_a_larger_tree_verify(size in 70u64..3000, index in any::<u64>(), from in any::<u64>()) {
        let mut tree = Tree::new();
        for i in 0..size {
            tree.push(leaf_hash(&i.to_be_bytes()));
        }
        let (index, from) = (index % size, from % size + 1);
        let root = tree.root();
        let proof = tree.inclusion_proof(index, size).unwrap();
        prop_assert!(proof.len() <= 64 - (size - 1).leading_zeros() as usize);
        verify_inclusion(&leaf_hash(&index.to_be_bytes()), index, size, &proof, &root).unwrap();
        let proof = tree.consistency_proof(from, size).unwrap();
        verify_consistency(from, size, &proof, &tree.root_at(from).unwrap(), &root).unwrap();
    }
}
