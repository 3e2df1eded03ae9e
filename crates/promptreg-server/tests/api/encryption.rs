//! Encryption at rest, on both backends: what the database holds (no template, variables
//! schema or model configuration in plaintext), what the API still answers, a version that
//! does not open, the KEK rotation, and a wrong KEK file.

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use promptreg_server::integrity::{Keyring, Signer};
use promptreg_server::Keys;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Answer, TestApp};

const MARK_TEMPLATE: &str = "SecretTpl7f3a";
const MARK_SCHEMA: &str = "secret_var_91c2";
const MARK_MODEL: &str = "secret-model-5d0e";
/// Plaintext by design (provenance), the positive control of the search.
const MARK_COMMIT: &str = "commit-note-b8e1";

fn file_keys(path: &Path, generate: bool) -> Keys {
    Keys {
        signer: Arc::new(Signer::ephemeral()),
        keyring: Arc::new(Keyring::open(path, generate).unwrap()),
    }
}

/// How many rows of `table` (`versions` or `event_log`) hold `needle` anywhere in their text.
async fn rows_holding(app: &TestApp, table: &str, needle: &str) -> u64 {
    let sqlite = match table {
        "versions" => format!(
            "UPDATE versions SET name = name WHERE coalesce(content, '') || coalesce(commit_message, '') \
             || metadata || coalesce(signature, '') || coalesce(CAST(ciphertext AS TEXT), '') \
             || coalesce(CAST(wrapped_key AS TEXT), '') || digest LIKE '%{needle}%'"
        ),
        _ => format!("UPDATE {table} SET project = project WHERE body LIKE '%{needle}%'"),
    };
    let postgres =
        format!("UPDATE {table} SET project = project WHERE {table}::text LIKE '%{needle}%'");
    app.tamper(&sqlite, &postgres).await
}

/// `/readyz` once the replica has caught up with its change feed.
async fn ready(app: &TestApp) -> Answer {
    for _ in 0..100 {
        let a = app.get("/readyz").await;
        if a.status == StatusCode::OK || a.code() != "not_ready" {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never caught up with the change feed");
}

async fn the_database_holds_no_prompt_text(app: &TestApp) {
    let created = app
        .post(
            "/v1/prompts/enc%2Fa/versions",
            json!({
                "type": "text",
                "template": format!("{MARK_TEMPLATE} greets {{{{ name }}}}"),
                "variables": {"type": "object", "properties": {MARK_SCHEMA: {"type": "string"}}},
                "model": {"name": MARK_MODEL},
                "commit_message": MARK_COMMIT,
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        app.deploy("production", "enc/a", 1).await.status,
        StatusCode::OK
    );
    for mark in [MARK_TEMPLATE, MARK_SCHEMA, MARK_MODEL] {
        assert_eq!(
            rows_holding(app, "versions", mark).await,
            0,
            "{mark} in versions"
        );
        assert_eq!(
            rows_holding(app, "event_log", mark).await,
            0,
            "{mark} in the log"
        );
    }
    // The search does find what is stored in plaintext.
    assert_eq!(rows_holding(app, "versions", MARK_COMMIT).await, 1);

    // The API answers the plaintext, before and after a restart (opened into the index).
    let got = app.get("/v1/prompts/enc%2Fa/versions/1").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.body["template"],
        format!("{MARK_TEMPLATE} greets {{{{ name }}}}")
    );
    assert_eq!(
        got.body["variables"]["properties"][MARK_SCHEMA]["type"],
        "string"
    );
    assert_eq!(got.body["model"]["name"], MARK_MODEL);
    for server in [app, &app.restarted().await] {
        let live = server.get("/v1/resolve/enc%2Fa?env=production").await;
        assert_eq!(live.status, StatusCode::OK, "{}", live.body);
        assert_eq!(live.body["template"], got.body["template"]);
        assert_eq!(live.body["digest"], got.body["digest"]);
    }
}

async fn a_version_that_does_not_open_is_reported_and_nothing_else_fails(app: &TestApp) {
    for (name, template) in [("t/a", "one"), ("t/a", "two"), ("t/b", "other")] {
        assert_eq!(app.push(name, template).await.status, StatusCode::CREATED);
    }
    assert_eq!(
        app.deploy("production", "t/a", 2).await.status,
        StatusCode::OK
    );
    assert_eq!(ready(app).await.status, StatusCode::OK);
    // A ciphertext moved from another row: v1 of `t/a` no longer opens.
    let sql =
        "UPDATE versions SET ciphertext = (SELECT ciphertext FROM versions WHERE name = 't/b'), \
               nonce = (SELECT nonce FROM versions WHERE name = 't/b') \
               WHERE name = 't/a' AND version = 1";
    assert_eq!(app.tamper(sql, sql).await, 1);
    let broken = app.get("/v1/prompts/t%2Fa/versions/1").await;
    assert_eq!(broken.status, StatusCode::CONFLICT);
    assert_eq!(broken.code(), "integrity_error");
    assert!(broken.message().contains("t/a"), "{}", broken.body);
    assert!(
        !broken.message().contains("one"),
        "no content in the message: {}",
        broken.body
    );
    // Everything else answers.
    assert_eq!(
        app.get("/v1/prompts/t%2Fb/versions/1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/prompts/t%2Fa/versions/2").await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/v1/prompts").await.status, StatusCode::OK);
    let live = app.get("/v1/resolve/t%2Fa?env=production").await;
    assert_eq!(
        (live.status, live.body["template"].clone()),
        (StatusCode::OK, json!("two"))
    );
    // And it is named as an integrity error.
    let readyz = ready(app).await;
    assert_eq!(readyz.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(readyz.code(), "integrity_error");
    assert!(
        readyz.message().contains("prompt 't/a'") && readyz.message().contains("version 1"),
        "{}",
        readyz.message()
    );
}

async fn rotate_kek_rewraps_every_data_key(first: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    let app = first.restarted_with(file_keys(&path, true)).await.unwrap();
    for (name, template) in [("t/a", "one"), ("t/a", "two"), ("t/b", "Legacy {{ x }}")] {
        assert_eq!(app.push(name, template).await.status, StatusCode::CREATED);
    }
    assert_eq!(
        app.deploy("production", "t/a", 2).await.status,
        StatusCode::OK
    );
    // `t/b` as a row written before encryption at rest: plaintext, still read as it is.
    let legacy = r#"{"template":"Legacy {{ x }}","type":"text"}"#;
    let unseal =
        "sealed_alg = NULL, kek_id = NULL, wrapped_key = NULL, nonce = NULL, ciphertext = NULL";
    app.tamper(
        &format!("UPDATE versions SET content = '{legacy}', {unseal} WHERE name = 't/b'"),
        &format!("UPDATE versions SET content = '{legacy}'::jsonb, {unseal} WHERE name = 't/b'"),
    )
    .await;
    let app = app.restarted_with(file_keys(&path, false)).await.unwrap();
    let got = app.get("/v1/prompts/t%2Fb/versions/1").await;
    assert_eq!(
        (got.status, got.body["template"].clone()),
        (StatusCode::OK, json!("Legacy {{ x }}"))
    );

    let snap = "CREATE TABLE snap AS SELECT name, version, ciphertext, wrapped_key FROM versions";
    app.tamper(snap, snap).await;
    let rotated = app.post("/v1/keys/kek/rotate", json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let body = &rotated.body;
    assert_eq!(
        (body["rewrapped"].clone(), body["sealed"].clone()),
        (json!(2), json!(1)),
        "{body}"
    );
    assert_eq!(body["unreadable"], json!([]));
    let new_id = body["kek_id"].as_str().unwrap().to_owned();
    let retired = body["retired"].as_array().unwrap();
    assert_eq!(retired.len(), 1, "{body}");
    let old_id = retired[0].as_str().unwrap().to_owned();
    assert_ne!(old_id, new_id);

    // The two sealed rows: the same ciphertext, another wrapped key; every row is now
    // wrapped by the new KEK, and the legacy row holds no plaintext any more.
    let same_ciphertext_new_key =
        "UPDATE versions SET name = name WHERE EXISTS (SELECT 1 FROM snap s \
         WHERE s.name = versions.name AND s.version = versions.version \
         AND s.ciphertext = versions.ciphertext AND s.wrapped_key <> versions.wrapped_key)";
    assert_eq!(
        app.tamper(same_ciphertext_new_key, same_ciphertext_new_key)
            .await,
        2
    );
    let by_new = format!("UPDATE versions SET name = name WHERE kek_id = '{new_id}'");
    assert_eq!(app.tamper(&by_new, &by_new).await, 3);
    assert_eq!(rows_holding(&app, "versions", "Legacy").await, 0);

    // The old KEK file is retired; removed, a restart still reads everything.
    let retired_file = dir.path().join(format!("kek.{old_id}.retired"));
    assert!(retired_file.exists());
    assert!(!dir.path().join(format!("kek.{old_id}.previous")).exists());
    std::fs::remove_file(&retired_file).unwrap();
    for server in [
        &app,
        &app.restarted_with(file_keys(&path, false)).await.unwrap(),
    ] {
        for (name, v, template) in [
            ("t%2Fa", 1, "one"),
            ("t%2Fa", 2, "two"),
            ("t%2Fb", 1, "Legacy {{ x }}"),
        ] {
            let got = server
                .get(&format!("/v1/prompts/{name}/versions/{v}"))
                .await;
            assert_eq!(
                (got.status, got.body["template"].clone()),
                (StatusCode::OK, json!(template))
            );
        }
        let live = server.get("/v1/resolve/t%2Fa?env=production").await;
        assert_eq!(live.body["template"], "two");
        assert_eq!(ready(server).await.status, StatusCode::OK);
    }

    // Another KEK file (well formed, wrong): the server does not start, and names the file.
    let other = dir.path().join("other-kek");
    let e = app
        .restarted_with(file_keys(&other, true))
        .await
        .err()
        .expect("a wrong KEK file is refused");
    let message = e.to_string();
    assert!(
        message.contains(&other.display().to_string()) && message.contains(&new_id),
        "{message}"
    );
}

both_backends!(
    the_database_holds_no_prompt_text,
    a_version_that_does_not_open_is_reported_and_nothing_else_fails,
    rotate_kek_rewraps_every_data_key,
);
