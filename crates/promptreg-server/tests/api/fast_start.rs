//! A large registry's fast start, on both backends: pointers indexed cold (checked against
//! the ledger, their content opened where first needed), the ledger replayed from its
//! snapshot, and the background audit that does what the start left out. The same tamper
//! cases as `tamper.rs` run a cold start too; these are what only a snapshot changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;
use promptreg_server::registry::StartOptions;

use crate::both_backends;
use crate::helpers::{Answer, TestApp};

/// `t/a` v2 live in production, `t/b` v1 in staging.
async fn seed(app: &TestApp) {
    for t in ["Hello {{ name }}", "Hi {{ name }}"] {
        assert_eq!(app.push("t/a", t).await.status, StatusCode::CREATED);
    }
    assert_eq!(app.push("t/b", "Bye").await.status, StatusCode::CREATED);
    assert_eq!(
        app.deploy("production", "t/a", 2).await.status,
        StatusCode::OK
    );
    assert_eq!(app.deploy("staging", "t/b", 1).await.status, StatusCode::OK);
}

/// Every pointer cold, a snapshot kept at `file` whatever the log's size.
fn cold_with_snapshot(file: &Path) -> StartOptions {
    StartOptions {
        eager_max: 0,
        ledger_snapshot: Some(file.to_path_buf()),
        snapshot_min_entries: 0,
    }
}

/// A server started over `app`'s database that saved a snapshot in a new file of `dir`,
/// `name`. It starts in full (nothing left to a background audit, which would save again
/// later, perhaps after a test's edit).
async fn snapshotted(app: &TestApp, dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let file = dir.path().join(name);
    let first = app
        .restarted_with_start(StartOptions {
            eager_max: usize::MAX,
            ..cold_with_snapshot(&file)
        })
        .await;
    for _ in 0..200 {
        if file.exists() {
            drop(first);
            return file;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no ledger snapshot was saved");
}

/// `/readyz` once `done` holds for it (the background audit runs after the start).
async fn readyz_until(app: &TestApp, done: impl Fn(&Answer) -> bool) -> Answer {
    let mut last = app.get("/readyz").await;
    for _ in 0..200 {
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        last = app.get("/readyz").await;
    }
    panic!("/readyz never got there: {} {}", last.status, last.body);
}

async fn a_cold_start_from_a_snapshot_answers_as_a_full_one(app: &TestApp) {
    seed(app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = snapshotted(app, &dir, "a").await;
    let fast = app.restarted_with_start(cold_with_snapshot(&file)).await;
    for path in [
        "/v1/resolve/t%2Fa?env=production",
        "/v1/resolve/t%2Fb?env=staging",
        "/v1/ledger/checkpoint",
    ] {
        let (want, got) = (app.get(path).await, fast.get(path).await);
        assert_eq!(got.status, StatusCode::OK, "{path}: {}", got.body);
        if path.starts_with("/v1/ledger") {
            assert_eq!(got.body["root_hash"], want.body["root_hash"], "{path}");
            assert_eq!(got.body["tree_size"], want.body["tree_size"], "{path}");
        } else {
            assert_eq!(got.body, want.body, "{path}");
            assert_eq!(got.headers["etag"], want.headers["etag"], "{path}");
        }
    }
    // An environment's snapshot warms what it lists.
    let (_, snap, _) = crate::watch::snapshot::snapshot(&fast, "").await;
    let names: Vec<&str> = snap.prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["t/a"]);
    // A move after the start replaces a cold pointer like any other.
    let cold = app.restarted_with_start(cold_with_snapshot(&file)).await;
    assert_eq!(
        cold.deploy("staging", "t/a", 1).await.status,
        StatusCode::OK
    );
    let a = cold.get("/v1/resolve/t%2Fa?env=staging").await;
    assert_eq!(
        (a.status, a.body["version"].as_i64()),
        (StatusCode::OK, Some(1))
    );
    let ready = readyz_until(&cold, |a| a.status == StatusCode::OK).await;
    assert_eq!(ready.status, StatusCode::OK);
}

async fn an_old_entry_edited_after_the_snapshot_is_found_in_the_background(app: &TestApp) {
    seed(app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = snapshotted(app, &dir, "a").await;
    let before = app.get("/v1/ledger/checkpoint").await;
    let sql = "UPDATE event_log SET body = replace(body, '\"actor\":', '\"actor\":\"x\",\"was\":') WHERE seq = 1";
    app.tamper(sql, sql).await;
    let fast = app.restarted_with_start(cold_with_snapshot(&file)).await;
    // The tree is the snapshot's: the edit does not rewrite what auditors were shown.
    let after = fast.get("/v1/ledger/checkpoint").await;
    assert_eq!(after.body["root_hash"], before.body["root_hash"]);
    let ready = readyz_until(&fast, |a| a.body["error"]["code"] == "integrity_error").await;
    assert_eq!(ready.code(), "integrity_error", "{}", ready.body);
    assert!(
        ready.message().contains("event_log row seq 1 "),
        "the finding names the row: {}",
        ready.message()
    );
}

async fn content_edited_after_the_snapshot_is_refused_without_a_resolve(app: &TestApp) {
    seed(app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = snapshotted(app, &dir, "a").await;
    crate::tamper::flip_ciphertext_byte(app, "name = 't/a' AND version = 2").await;
    let fast = app.restarted_with_start(cold_with_snapshot(&file)).await;
    // Nobody asks for `t/a`: the background audit opens it and reports it.
    let ready = readyz_until(&fast, |a| a.body["error"]["code"] == "integrity_error").await;
    assert_eq!(ready.code(), "integrity_error", "{}", ready.body);
    assert!(
        ready.message().contains("prompt 't/a'"),
        "{}",
        ready.message()
    );
    let a = fast.get("/v1/resolve/t%2Fa?env=production").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let b = fast.get("/v1/resolve/t%2Fb?env=staging").await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
}

async fn a_snapshot_that_does_not_hold_is_ignored(app: &TestApp) {
    seed(app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = snapshotted(app, &dir, "a").await;
    let want = app.get("/v1/ledger/checkpoint").await;
    // A changed byte (the checksum fails), then a log that no longer ends where the
    // snapshot does (its newest entry deleted): both are replayed from the log.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let fast = app.restarted_with_start(cold_with_snapshot(&file)).await;
    let got = fast.get("/v1/ledger/checkpoint").await;
    assert_eq!(got.body["root_hash"], want.body["root_hash"]);
    readyz_until(&fast, |a| a.status == StatusCode::OK).await;

    let file = snapshotted(app, &dir, "b").await;
    let sql = "DELETE FROM event_log WHERE seq = (SELECT MAX(seq) FROM event_log)";
    app.tamper(sql, sql).await;
    let fast = app.restarted_with_start(cold_with_snapshot(&file)).await;
    let ready = readyz_until(&fast, |a| a.body["error"]["code"] == "integrity_error").await;
    assert!(
        ready.message().contains("prompt 't/b'"),
        "t/b's move is no longer in the ledger: {}",
        ready.message()
    );
    let b = fast.get("/v1/resolve/t%2Fb?env=staging").await;
    assert_eq!(b.status, StatusCode::NOT_FOUND);
}

both_backends!(
    a_cold_start_from_a_snapshot_answers_as_a_full_one,
    an_old_entry_edited_after_the_snapshot_is_found_in_the_background,
    content_edited_after_the_snapshot_is_refused_without_a_resolve,
    a_snapshot_that_does_not_hold_is_ignored,
);
