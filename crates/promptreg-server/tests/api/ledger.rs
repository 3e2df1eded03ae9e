//! Signatures and the ledger as an auditor checks them through the API: every version and
//! move verifies against the served keys, every leaf hashes to the signed root, proofs verify,
//! key rotation keeps old signatures valid, and bad proof requests are refused.

use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use promptreg_core::integrity::merkle::{
    leaf_hash, verify_consistency, verify_inclusion, Hash, Tree,
};
use promptreg_core::integrity::note::{open_checkpoint, NoteVerifier};
use promptreg_core::integrity::statement::{open_deployment, open_version};
use promptreg_core::integrity::{Envelope, KeyRing, PublicKey};
use promptreg_core::Digest;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

fn hash(v: &Value) -> Hash {
    B64.decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

async fn ring(app: &TestApp) -> KeyRing {
    let keys = app.get("/v1/keys").await;
    assert_eq!(keys.status, StatusCode::OK, "{}", keys.body);
    KeyRing::new(
        keys.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                assert_eq!(k["algorithm"], "ed25519");
                let key = PublicKey::from_base64(k["public_key"].as_str().unwrap()).unwrap();
                assert_eq!(key.key_id(), k["key_id"].as_str().unwrap());
                key
            })
            .collect(),
    )
}

/// Every leaf, checked against its hash.
async fn leaves(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let page = app
            .get(&format!("/v1/ledger/entries?start={}&limit=3", all.len()))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let entries = page.body["entries"].as_array().unwrap().clone();
        if entries.is_empty() {
            return all;
        }
        for e in entries {
            assert_eq!(e["index"], all.len());
            let bytes = serde_json_canonicalizer::to_vec(&e["leaf"]).unwrap();
            assert_eq!(leaf_hash(&bytes), hash(&e["leaf_hash"]));
            all.push(e["leaf"].clone());
        }
    }
}

async fn versions_and_moves_are_signed_and_ledgered(app: &TestApp) {
    let v1 = app.push("sig/a", "Hello {{ name }}").await;
    let v2 = app.push("sig/a", "Hi {{ name }}").await;
    let moved = app.deploy("production", "sig/a", 2).await;
    let ring = ring(app).await;
    for v in [&v1.body, &v2.body] {
        let envelope: Envelope = serde_json::from_value(v["signature"].clone()).unwrap();
        let (statement, predicate) = open_version(&envelope, &ring).unwrap();
        assert_eq!(
            statement.subject_digest().unwrap().as_str(),
            v["digest"].as_str().unwrap()
        );
        assert_eq!(predicate.version.get(), v["version"].as_i64().unwrap());
        assert_eq!(predicate.author, v["created_by"].as_str().unwrap());
    }
    let envelope: Envelope = serde_json::from_value(moved.body["signature"].clone()).unwrap();
    let (statement, predicate) = open_deployment(&envelope, &ring).unwrap();
    assert_eq!(predicate.to_version.get(), 2);
    assert_eq!(predicate.env.as_str(), "production");
    assert_eq!(
        statement.subject_digest().unwrap().as_str(),
        v2.body["digest"].as_str().unwrap()
    );

    // The leaf of each record names it and the digest of its signature.
    let leaves = leaves(app).await;
    for (answer, event) in [
        (&v2.body, "version_created"),
        (&moved.body, "pointer_moved"),
    ] {
        let index = answer["ledger_index"].as_u64().unwrap() as usize;
        let change = &leaves[index]["change"];
        assert_eq!(change["event"], event);
        let signed = serde_json_canonicalizer::to_vec(&answer["signature"]).unwrap();
        assert_eq!(change["signature"], Digest::of_bytes(&signed).as_str());
        assert_eq!(leaves[index]["seq"], index + 1);
    }
    // Reading a version back gives the same signature and leaf.
    let read = app.get("/v1/prompts/sig%2Fa/versions/2").await;
    assert_eq!(read.body["signature"], v2.body["signature"]);
    assert_eq!(read.body["ledger_index"], v2.body["ledger_index"]);
    let history = app
        .get("/v1/environments/production/prompts/sig%2Fa/history")
        .await;
    assert_eq!(
        history.body["items"][0]["signature"],
        moved.body["signature"]
    );
}

async fn the_checkpoint_signs_the_root_of_every_leaf_and_proofs_verify(app: &TestApp) {
    app.push("led/a", "one").await;
    let old = app.get("/v1/ledger/checkpoint").await;
    assert_eq!(old.status, StatusCode::OK, "{}", old.body);
    app.push("led/a", "two").await;
    app.deploy("staging", "led/a", 2).await;
    app.push("led/b", "three").await;

    let ring = ring(app).await;
    let cp = app.get("/v1/ledger/checkpoint").await;
    let verifiers: Vec<NoteVerifier> = ring
        .iter()
        .map(|k| NoteVerifier::from_public("promptreg", k).unwrap())
        .collect();
    let checkpoint = open_checkpoint(cp.body["note"].as_str().unwrap(), &verifiers).unwrap();
    assert_eq!(checkpoint.origin, "promptreg/default");
    assert_eq!(checkpoint.origin, cp.body["origin"]);
    assert_eq!(checkpoint.size, cp.body["tree_size"].as_u64().unwrap());
    assert_eq!(checkpoint.root, hash(&cp.body["root_hash"]));
    assert_eq!(
        NoteVerifier::parse(cp.body["verifier_key"].as_str().unwrap())
            .unwrap()
            .verifier_key(),
        cp.body["verifier_key"].as_str().unwrap()
    );

    let leaves = leaves(app).await;
    assert_eq!(leaves.len() as u64, checkpoint.size);
    let mut tree = Tree::new();
    for leaf in &leaves {
        tree.push(leaf_hash(&serde_json_canonicalizer::to_vec(leaf).unwrap()));
    }
    assert_eq!(
        tree.root(),
        checkpoint.root,
        "the leaves add up to the signed root"
    );
    for index in 0..checkpoint.size {
        let p = app
            .get(&format!(
                "/v1/ledger/proofs/inclusion?index={index}&tree_size={}",
                checkpoint.size
            ))
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        verify_inclusion(
            &hash(&p.body["leaf_hash"]),
            index,
            checkpoint.size,
            &hashes(&p.body["hashes"]),
            &checkpoint.root,
        )
        .unwrap();
    }
    let old_size = old.body["tree_size"].as_u64().unwrap();
    let c = app
        .get(&format!("/v1/ledger/proofs/consistency?from={old_size}"))
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert_eq!(c.body["from_root"], old.body["root_hash"]);
    verify_consistency(
        old_size,
        checkpoint.size,
        &hashes(&c.body["hashes"]),
        &hash(&old.body["root_hash"]),
        &checkpoint.root,
    )
    .unwrap();
    // A proof for another size does not verify against this root.
    let other = app
        .get(&format!(
            "/v1/ledger/proofs/inclusion?index=0&tree_size={}",
            checkpoint.size - 1
        ))
        .await;
    assert!(verify_inclusion(
        &hash(&other.body["leaf_hash"]),
        0,
        checkpoint.size,
        &hashes(&other.body["hashes"]),
        &checkpoint.root
    )
    .is_err());
}

async fn proof_requests_past_the_tree_are_refused(app: &TestApp) {
    app.push("led/x", "one").await;
    let size = app.get("/v1/ledger/checkpoint").await.body["tree_size"]
        .as_u64()
        .unwrap();
    for path in [
        format!("/v1/ledger/proofs/inclusion?index={size}&tree_size={size}"),
        format!("/v1/ledger/proofs/inclusion?index=0&tree_size={}", size + 1),
        format!("/v1/ledger/proofs/consistency?from={}&to={size}", size + 1),
        format!("/v1/ledger/proofs/consistency?from=1&to={}", size + 5),
        format!("/v1/ledger/entries?start={}", size + 1),
        "/v1/ledger/proofs/inclusion?index=-1".to_owned(),
        "/v1/ledger/proofs/inclusion?index=abc".to_owned(),
        "/v1/ledger/proofs/consistency".to_owned(),
        "/v1/ledger/entries?limit=0".to_owned(),
        "/v1/ledger/entries?limit=1001".to_owned(),
        "/v1/ledger/entries?start=-1".to_owned(),
        "/v1/ledger/entries?limit=4294967296".to_owned(),
        "/v1/ledger/proofs/inclusion?index=0&tree_size=9223372036854775808".to_owned(),
        "/v1/ledger/proofs/consistency?from=-2".to_owned(),
    ] {
        let a = app.get(&path).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
        assert_eq!(a.code(), "invalid_request", "{path}");
    }
    let reader = app.token("reader").await;
    let a = app
        .call(
            axum::http::Method::GET,
            "/v1/ledger/checkpoint",
            &reader,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = app
        .call(
            axum::http::Method::POST,
            "/v1/keys/signing/rotate",
            &reader,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

async fn a_rotated_key_keeps_what_it_signed_valid(app: &TestApp) {
    let old = app.push("rot/a", "one").await;
    let rotated = app.post("/v1/keys/signing/rotate", json!({})).await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    let new = app.push("rot/a", "two").await;
    let keys = app.get("/v1/keys").await.body["keys"].clone();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0]["retired_at"].is_string() && keys[1]["retired_at"].is_null());
    assert_eq!(keys[1]["key_id"], rotated.body["key_id"]);
    let ring = ring(app).await;
    for (v, key) in [(&old.body, &keys[0]), (&new.body, &keys[1])] {
        let envelope: Envelope = serde_json::from_value(v["signature"].clone()).unwrap();
        assert_eq!(
            envelope.signatures[0].keyid,
            key["key_id"].as_str().unwrap()
        );
        open_version(&envelope, &ring).unwrap();
    }
    // Checkpoints are signed by the new key.
    let cp = app.get("/v1/ledger/checkpoint").await;
    assert_eq!(cp.body["key_id"], rotated.body["key_id"]);
}

both_backends!(
    versions_and_moves_are_signed_and_ledgered,
    the_checkpoint_signs_the_root_of_every_leaf_and_proofs_verify,
    proof_requests_past_the_tree_are_refused,
    a_rotated_key_keeps_what_it_signed_valid,
);
