//! The 196 RFC 6962 probes of Go's `transparency-dev/merkle` `testdata/` (copied into
//! `rfc6962_vectors.json`): happy paths and their corruptions, each marked whether Go's verifier
//! accepts it. Ours must agree on every one.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::merkle_vectors::{h, tree, ROOTS};
use crate::integrity::merkle::{verify_consistency, verify_inclusion, Hash};

#[derive(Deserialize)]
struct Vectors {
    inclusion: Vec<InclusionProbe>,
    consistency: Vec<ConsistencyProbe>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionProbe {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Vec<String>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyProbe {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Vec<String>,
    desc: String,
    want_err: bool,
}

/// A base64 hash. Go's probes also use values that are not 32 bytes long (`"don't care"`
/// roots, empty garbage in proofs), which Go compares byte for byte and which this API cannot
/// express: they become a tagged SHA-256 of themselves, which keeps equal values equal and
/// matches no real node (a plain SHA-256 would turn the empty value into the empty root).
fn b64(s: &str) -> Hash {
    let bytes = STANDARD.decode(s).unwrap();
    bytes.clone().try_into().unwrap_or_else(|_| {
        Sha256::new()
            .chain_update(b"not a hash: ")
            .chain_update(&bytes)
            .finalize()
            .into()
    })
}

fn all(list: &[String]) -> Vec<Hash> {
    list.iter().map(|s| b64(s)).collect()
}

#[test]
fn the_go_testdata_probes_verify_exactly_when_go_says_so() {
    let vectors: Vectors = serde_json::from_str(include_str!("rfc6962_vectors.json")).unwrap();
    assert_eq!(
        (vectors.inclusion.len(), vectors.consistency.len()),
        (98, 98)
    );
    let tree = tree();
    let mut compared = 0;
    for p in &vectors.inclusion {
        // Go refuses a leaf or root that is not 32 bytes before anything else.
        let exact = |s: &str| STANDARD.decode(s).unwrap().len() == 32;
        if !exact(&p.leaf_hash) || !exact(&p.root) {
            assert!(p.want_err, "{}", p.desc);
            continue;
        }
        let (leaf, root, proof) = (b64(&p.leaf_hash), b64(&p.root), all(&p.proof));
        let ok = verify_inclusion(&leaf, p.leaf_idx, p.tree_size, &proof, &root).is_ok();
        assert_eq!(ok, !p.want_err, "inclusion {}", p.desc);
        if ok && p.tree_size <= 8 && root == h(ROOTS[p.tree_size as usize]) {
            assert_eq!(
                tree.inclusion_proof(p.leaf_idx, p.tree_size).unwrap(),
                proof,
                "{}",
                p.desc
            );
            compared += 1;
        }
    }
    for p in &vectors.consistency {
        let (r1, r2, proof) = (b64(&p.root1), b64(&p.root2), all(&p.proof));
        let ok = verify_consistency(p.size1, p.size2, &proof, &r1, &r2).is_ok();
        assert_eq!(ok, !p.want_err, "consistency {}", p.desc);
        if ok && p.size2 <= 8 && r2 == h(ROOTS[p.size2 as usize]) {
            assert_eq!(
                tree.consistency_proof(p.size1, p.size2).unwrap(),
                proof,
                "{}",
                p.desc
            );
            compared += 1;
        }
    }
    // The happy paths are proofs in the 8-leaf tree: the tree makes them too.
    assert!(compared >= 8, "{compared} proofs compared");
}
