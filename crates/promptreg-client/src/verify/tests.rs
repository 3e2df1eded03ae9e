//! The parts that need no server: trusted-key files, snapshot formats, finding lines, and the
//! ledger checks on a hand-made snapshot. End-to-end runs (both backends, tampered databases)
//! are in the CLI's tests (`tests/cli/verify.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use promptreg_api::CheckpointView;
use promptreg_core::integrity::merkle::{leaf_hash, Tree};
use promptreg_core::integrity::note::{sign_checkpoint, Checkpoint, NoteSigner};
use promptreg_core::integrity::SigningKey;
use serde_json::json;

use super::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

#[test]
fn a_trusted_keys_file_is_the_json_of_get_keys() {
    let k = key(1).public();
    let text = json!({"keys": [{"key_id": k.key_id(), "algorithm": "ed25519",
        "public_key": k.to_base64(), "created_at": "2026-01-01T00:00:00Z", "retired_at": null}]})
    .to_string();
    let trust = Trust::pinned_json(&text).unwrap();
    assert!(matches!(&trust.keys, TrustedKeys::Pinned(keys) if keys == &vec![k.clone()]));

    let wrong_id = json!({"keys": [{"key_id": "0000000000000000", "public_key": k.to_base64()}]});
    let err = Trust::pinned_json(&wrong_id.to_string()).unwrap_err();
    assert!(
        err.to_string().contains("key 0: key_id 0000000000000000"),
        "{err}"
    );
    assert!(matches!(
        Trust::pinned_json(r#"{"keys": []}"#),
        Err(TrustError::Empty)
    ));
    assert!(matches!(
        Trust::pinned_json("[1, 2]"),
        Err(TrustError::Malformed(_))
    ));
    let rsa = json!({"keys": [{"algorithm": "rsa", "public_key": k.to_base64()}]});
    assert!(Trust::pinned_json(&rsa.to_string()).is_err());
}

/// A snapshot of a ledger of `leaves` environment creations, signed by `signer`.
fn snapshot(envs: &[&str], signer: &SigningKey) -> Snapshot {
    let leaves: Vec<LedgerLeaf> = envs
        .iter()
        .enumerate()
        .map(|(i, env)| LedgerLeaf {
            index: i as u64,
            leaf: json!({"seq": i + 1, "project": "default", "at": "2026-01-01T00:00:00Z",
                "actor": "system:first-start",
                "change": {"event": "environment_created", "project": "default", "env": env}}),
        })
        .collect();
    let mut tree = Tree::new();
    for l in &leaves {
        tree.push(leaf_hash(
            &serde_json_canonicalizer::to_vec(&l.leaf).unwrap(),
        ));
    }
    let checkpoint = Checkpoint {
        origin: "promptreg/default".into(),
        size: tree.len(),
        root: tree.root(),
    };
    let note_signer = NoteSigner::new("promptreg", signer.clone()).unwrap();
    let environments = envs
        .iter()
        .map(|env| {
            serde_json::from_value(json!({"name": env, "protected": false, "description": null,
                "created_by": "system:first-start", "created_at": "2026-01-01T00:00:00Z"}))
            .unwrap()
        })
        .collect();
    Snapshot {
        format: SNAPSHOT_FORMAT.into(),
        keys: vec![serde_json::from_value(json!({"key_id": signer.key_id(),
            "algorithm": "ed25519", "public_key": signer.public().to_base64(),
            "created_at": "2026-01-01T00:00:00Z", "retired_at": null}))
        .unwrap()],
        checkpoint: CheckpointView {
            origin: checkpoint.origin.clone(),
            tree_size: checkpoint.size,
            root_hash: B64.encode(checkpoint.root),
            note: sign_checkpoint(&checkpoint, &note_signer).unwrap(),
            key_id: signer.key_id().into(),
            verifier_key: note_signer.verifier_key(),
        },
        leaves,
        environments,
        versions: Vec::new(),
        withheld: Vec::new(),
        history: Vec::new(),
        catalog: Vec::new(),
    }
}

fn lines(report: &Report) -> Vec<String> {
    report.failures.iter().map(ToString::to_string).collect()
}

#[test]
fn a_consistent_snapshot_verifies_and_round_trips_through_json() {
    let s = snapshot(&["development", "staging"], &key(1));
    let report = verify(&s, &Trust::served());
    assert!(report.ok, "{:?}", lines(&report));
    assert_eq!(report.checked.leaves, 2);
    let text = serde_json::to_string(&s).unwrap();
    assert_eq!(Snapshot::from_json(&text).unwrap(), s);
    let other = text.replace(SNAPSHOT_FORMAT, "promptreg-snapshot/v9");
    assert!(matches!(
        Snapshot::from_json(&other),
        Err(SnapshotError::Format { .. })
    ));
}

#[test]
fn a_checkpoint_by_another_key_fails() {
    let s = snapshot(&["development"], &key(1));
    let foreign = Trust::pinned_json(
        &json!({"keys": [{"public_key": key(2).public().to_base64()}]}).to_string(),
    )
    .unwrap();
    let report = verify(&s, &foreign);
    assert!(!report.ok);
    assert!(
        lines(&report)[0].starts_with("checkpoint: the note does not verify with a trusted key"),
        "{:?}",
        lines(&report)
    );
}

#[test]
fn since_catches_a_shrunk_and_a_forked_log() {
    let signer = key(1);
    let old = snapshot(&["a", "b", "c"], &signer).checkpoint.note;
    // Grown: passes.
    let grown = snapshot(&["a", "b", "c", "d"], &signer);
    let report = verify(&grown, &Trust::served().since(old.clone()));
    assert!(report.ok, "{:?}", lines(&report));
    assert_eq!(report.checked.since_tree_size, Some(3));
    // Shrunk.
    let shrunk = snapshot(&["a", "b"], &signer);
    let report = verify(&shrunk, &Trust::served().since(old.clone()));
    assert!(
        lines(&report)
            .iter()
            .any(|l| l.starts_with("since checkpoint: the ledger shrank")),
        "{:?}",
        lines(&report)
    );
    // Forked: the same size or more, but other leaves, re-signed by the same key.
    let forked = snapshot(&["a", "x", "c", "d"], &signer);
    let report = verify(&forked, &Trust::served().since(old));
    assert!(
        lines(&report)
            .iter()
            .any(|l| l.starts_with("since checkpoint: the ledger was rewritten")),
        "{:?}",
        lines(&report)
    );
}

#[test]
fn an_environment_row_missing_or_by_another_actor_is_named() {
    let mut s = snapshot(&["development", "staging"], &key(1));
    s.environments.remove(1);
    s.environments[0].created_by = "someone".into();
    let report = verify(&s, &Trust::served());
    assert_eq!(
        lines(&report),
        vec![
            "event_log row (seq 1, ledger leaf 0): actor 'system:first-start', but environments \
             row (development) was created by 'someone'",
            "environments row (staging): missing, but ledger leaf 1 records its creation",
        ]
    );
}

#[test]
fn a_version_the_server_refuses_is_a_failure_naming_its_row() {
    let mut s = snapshot(&["development"], &key(1));
    s.withheld.push(WithheldVersion {
        name: "t/a".into(),
        version: promptreg_core::Version::FIRST,
        code: "integrity_error".into(),
        message: "prompt 't/a' version 1 cannot be read".into(),
    });
    let report = verify(&s, &Trust::served());
    assert_eq!(
        lines(&report),
        vec![
            "versions row (prompt 't/a', version 1): the server refuses to serve it \
             (integrity_error): prompt 't/a' version 1 cannot be read",
        ]
    );
    let text = serde_json::to_string(&s).unwrap();
    assert_eq!(Snapshot::from_json(&text).unwrap(), s);

    // A 410 for a version no `version_pruned` leaf records is a failure too.
    s.withheld[0].code = "pruned".into();
    s.withheld[0].message = "prompt 't/a' version 1 was pruned at …".into();
    let report = verify(&s, &Trust::served());
    assert_eq!(
        lines(&report),
        vec![
            "versions row (prompt 't/a', version 1): the server says it was pruned (prompt 't/a' \
             version 1 was pruned at …), but no version_pruned leaf of the ledger records it",
        ]
    );
}
