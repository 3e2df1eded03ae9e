//! Edits to the database behind the server's back, on both backends: a restarted server
//! refuses to serve what does not verify (resolve does not answer it, `/readyz` names it,
//! `/metrics` counts it), and keeps serving what does.

use axum::http::StatusCode;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

/// `t/a` v1 then v2 live in production (two moves), `t/b` v1 live in staging (the newest
/// event of the log).
async fn seed(app: &TestApp) {
    assert_eq!(
        app.push("t/a", "Hello {{ name }}").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.push("t/a", "Hi {{ name }}").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.deploy("production", "t/a", 1).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.deploy("production", "t/a", 2).await.status,
        StatusCode::OK
    );
    assert_eq!(app.push("t/b", "Bye").await.status, StatusCode::CREATED);
    assert_eq!(app.deploy("staging", "t/b", 1).await.status, StatusCode::OK);
}

/// After the edit, a restarted server: does it serve `t/a` in production and `t/b` in
/// staging, and is it ready? A cold start (every pointer's content left to where it is first
/// needed, as on a large registry) must answer exactly as the full start does.
async fn after_restart(app: &TestApp) -> (TestApp, bool, bool) {
    let cold = app.restarted_cold().await;
    let (_, cold_a, cold_b) = served_after_restart(cold).await;
    let (restarted, a, b) = served_after_restart(app.restarted().await).await;
    assert_eq!(
        (cold_a, cold_b),
        (a, b),
        "a cold start serves what a full one does"
    );
    (restarted, a, b)
}

async fn served_after_restart(restarted: TestApp) -> (TestApp, bool, bool) {
    let a = restarted.get("/v1/resolve/t%2Fa?env=production").await;
    let b = restarted.get("/v1/resolve/t%2Fb?env=staging").await;
    if a.status == StatusCode::OK {
        assert_eq!(
            a.body["template"], "Hi {{ name }}",
            "never tampered content"
        );
    }
    let ready = ready(&restarted).await;
    assert_eq!(
        ready.status == StatusCode::OK,
        a.status == StatusCode::OK && b.status == StatusCode::OK,
        "ready exactly when everything is served: {}",
        ready.body
    );
    (
        restarted,
        a.status == StatusCode::OK,
        b.status == StatusCode::OK,
    )
}

/// `/readyz` once the replica has caught up with its change feed (PostgreSQL confirms that
/// within a poll or two): answers other than `not_ready` are about the data.
async fn ready(app: &TestApp) -> crate::helpers::Answer {
    for _ in 0..100 {
        let a = app.get("/readyz").await;
        if a.status == StatusCode::OK || a.code() != "not_ready" {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the restarted server never caught up with its change feed");
}

/// A refused pointer is named by `/readyz` and counted in `/metrics`.
async fn assert_refused(restarted: &TestApp, env: &str, name: &str) {
    let ready = ready(restarted).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.code(), "integrity_error");
    let message = ready.message();
    assert!(
        message.contains(&format!("environment '{env}'"))
            && message.contains(&format!("prompt '{name}'")),
        "{message}"
    );
    let metrics = restarted
        .raw(axum::http::Method::GET, "/metrics", None, vec![], &[])
        .await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.lines()
            .any(|l| l.starts_with("promptreg_integrity_errors ") && !l.ends_with(" 0")),
        "{text}"
    );
}

/// Changes one byte of the stored ciphertext of the versions `filter` selects.
pub(crate) async fn flip_ciphertext_byte(app: &TestApp, filter: &str) {
    app.tamper(
        &format!(
            "UPDATE versions SET ciphertext = substr(ciphertext, 1, 4) \
                 || CASE WHEN substr(ciphertext, 5, 1) = x'00' THEN x'01' ELSE x'00' END \
                 || substr(ciphertext, 6) WHERE {filter}"
        ),
        &format!(
            "UPDATE versions SET ciphertext = set_byte(ciphertext, 4, get_byte(ciphertext, 4) # 1) \
             WHERE {filter}"
        ),
    )
    .await;
}

async fn untouched_database_is_served_and_ready(app: &TestApp) {
    seed(app).await;
    let (_, a, b) = after_restart(app).await;
    assert!(a && b);
}

async fn a_changed_template_byte_is_not_served(app: &TestApp) {
    seed(app).await;
    // The template is stored encrypted: a changed byte of its ciphertext.
    flip_ciphertext_byte(app, "name = 't/a' AND version = 2").await;
    let (restarted, a, b) = after_restart(app).await;
    assert!(!a && b);
    assert_refused(&restarted, "production", "t/a").await;
}

async fn a_changed_digest_is_not_served(app: &TestApp) {
    seed(app).await;
    let sql = "UPDATE versions SET digest = (SELECT digest FROM versions WHERE name = 't/a' AND version = 1) \
               WHERE name = 't/a' AND version = 2";
    app.tamper(sql, sql).await;
    let (restarted, a, b) = after_restart(app).await;
    assert!(!a && b);
    assert_refused(&restarted, "production", "t/a").await;
}

async fn a_moved_pointer_is_not_served(app: &TestApp) {
    seed(app).await;
    let sql = "UPDATE pointers SET version = 1 WHERE name = 't/a' AND env = 'production'";
    app.tamper(sql, sql).await;
    let (restarted, a, b) = after_restart(app).await;
    assert!(
        !a && b,
        "the pointer no longer agrees with the ledger's last move"
    );
    assert_refused(&restarted, "production", "t/a").await;
}

async fn a_deleted_live_version_is_reported(app: &TestApp) {
    seed(app).await;
    let sql = "DELETE FROM versions WHERE name = 't/a' AND version = 2";
    app.tamper(sql, sql).await;
    let (restarted, a, b) = after_restart(app).await;
    assert!(!a && b);
    assert_refused(&restarted, "production", "t/a").await;
}

async fn a_deleted_newest_leaf_is_reported(app: &TestApp) {
    seed(app).await;
    let sql = "DELETE FROM event_log WHERE seq = (SELECT MAX(seq) FROM event_log)";
    app.tamper(sql, sql).await;
    let (restarted, a, b) = after_restart(app).await;
    assert!(a && !b, "t/b's move is no longer in the ledger");
    assert_refused(&restarted, "staging", "t/b").await;
}

/// Swaps columns of `t/a` v1 and v2 (e.g. `ciphertext, nonce`).
fn swap(columns: &[&str]) -> String {
    let set = columns
        .iter()
        .map(|c| format!("{c} = (SELECT s.{c} FROM swap s WHERE s.version = 3 - versions.version)"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CREATE TEMP TABLE swap AS SELECT version, {} FROM versions WHERE name = 't/a'; \
         UPDATE versions SET {set} WHERE name = 't/a' AND version IN (1, 2); \
         DROP TABLE swap",
        columns.join(", ")
    )
}

async fn swapped_ciphertexts_are_not_served(app: &TestApp) {
    seed(app).await;
    let sql = swap(&["ciphertext", "nonce"]);
    app.tamper(&sql, &sql).await;
    let (restarted, a, b) = after_restart(app).await;
    assert!(!a && b);
    assert_refused(&restarted, "production", "t/a").await;
}

async fn swapped_ciphertexts_and_wrapped_keys_are_not_served(app: &TestApp) {
    seed(app).await;
    let sql = swap(&["ciphertext", "nonce", "wrapped_key", "kek_id", "sealed_alg"]);
    app.tamper(&sql, &sql).await;
    let (restarted, a, b) = after_restart(app).await;
    assert!(!a && b);
    assert_refused(&restarted, "production", "t/a").await;
    let ready = ready(&restarted).await;
    assert!(
        ready.message().contains("cannot be read"),
        "the finding says the content does not open: {}",
        ready.message()
    );
}

async fn an_edited_history_row_does_not_stop_serving_the_true_pointer(app: &TestApp) {
    seed(app).await;
    let sql = "UPDATE deployments SET to_version = 1 WHERE name = 't/a' AND env = 'production' AND seq = 2";
    app.tamper(sql, sql).await;
    let (_, a, b) = after_restart(app).await;
    // The live pointer still agrees with the ledger: served (`promptreg verify` reports the
    // history row).
    assert!(a && b);
}

async fn an_edited_leaf_changes_the_ledger_root(app: &TestApp) {
    seed(app).await;
    let before = app.get("/v1/ledger/checkpoint").await;
    assert_eq!(before.status, StatusCode::OK);
    let sql = "UPDATE event_log SET body = replace(body, '\"actor\":', '\"actor\":\"x\",\"was\":') WHERE seq = 1";
    app.tamper(sql, sql).await;
    let restarted = app.restarted().await;
    let after = restarted.get("/v1/ledger/checkpoint").await;
    assert_eq!(after.body["tree_size"], before.body["tree_size"]);
    assert_ne!(
        after.body["root_hash"], before.body["root_hash"],
        "an auditor's saved checkpoint no longer matches"
    );
    let proof = restarted
        .get(&format!(
            "/v1/ledger/proofs/consistency?from={}&to={}",
            before.body["tree_size"], after.body["tree_size"]
        ))
        .await;
    assert_eq!(proof.status, StatusCode::OK);
    assert_ne!(proof.body["from_root"], before.body["root_hash"]);
}

/// The running server never deploys an edited version: content edited alone does not open
/// (or fails its digest), content and digest edited together fail the signature.
async fn an_edited_version_is_never_deployed(app: &TestApp) {
    seed(app).await;
    assert_eq!(
        app.push("t/c", "Original").await.status,
        StatusCode::CREATED
    );
    flip_ciphertext_byte(app, "name = 't/c'").await;
    let a = app.deploy("production", "t/c", 1).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.code(), "integrity_error");
    assert!(
        a.message().contains("prompt 't/c' version 1"),
        "{}",
        a.message()
    );
    // Reads name the version too, rather than failing as an internal error.
    for path in ["/v1/prompts/t%2Fc/versions/1", "/v1/prompts/t%2Fc/versions"] {
        let read = app.get(path).await;
        assert_eq!(read.status, StatusCode::CONFLICT, "{path}: {}", read.body);
        assert_eq!(read.code(), "integrity_error");
        assert!(
            read.message().contains("prompt 't/c' version 1"),
            "{}",
            read.message()
        );
    }

    // Content and digest together, as someone holding the KEK could seal them: the row now
    // holds another sealing of `t/c2` version 1 (made by a second registry with the same
    // KEK), which opens and hashes to its digest, but the signature is of the original.
    assert_eq!(
        app.push("t/c2", "Original").await.status,
        StatusCode::CREATED
    );
    let other = TestApp::new(app.backend()).await.unwrap();
    assert_eq!(
        other.push("t/c2", "Tampered").await.status,
        StatusCode::CREATED
    );
    let name = promptreg_core::PromptName::parse("t/c2").unwrap();
    let forged = other
        .store
        .get_version(
            &promptreg_core::ProjectId::default(),
            &name,
            promptreg_core::Version::FIRST,
        )
        .await
        .unwrap();
    other.finish().await;
    let set = |backend| sealed_columns(&forged, backend);
    app.tamper(
        &format!(
            "UPDATE versions SET {} WHERE name = 't/c2'",
            set(Backend::Sqlite)
        ),
        &format!(
            "UPDATE versions SET {} WHERE name = 't/c2'",
            set(Backend::Postgres)
        ),
    )
    .await;
    let a = app.deploy("production", "t/c2", 1).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.code(), "integrity_error");
    assert!(a.message().contains("signature"), "{}", a.message());
    let live = app.get("/v1/resolve/t%2Fc2?env=production").await;
    assert_eq!(live.status, StatusCode::NOT_FOUND);
}

/// `SET` assignments that give a row `v`'s digest and sealed content.
fn sealed_columns(v: &promptreg_store::StoredVersion, backend: Backend) -> String {
    let promptreg_store::StoredContent::Sealed { sealed, .. } = &v.content else {
        panic!("not sealed: {v:?}");
    };
    let bytes = |b: &[u8]| {
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        match backend {
            Backend::Sqlite => format!("x'{hex}'"),
            Backend::Postgres => format!("'\\x{hex}'::bytea"),
        }
    };
    format!(
        "digest = '{}', ciphertext = {}, nonce = {}, wrapped_key = {}, kek_id = '{}', \
         sealed_alg = '{}'",
        v.digest,
        bytes(&sealed.ciphertext),
        bytes(&sealed.nonce),
        bytes(&sealed.wrapped_key),
        sealed.kek_id,
        sealed.alg
    )
}

both_backends!(
    an_edited_version_is_never_deployed,
    untouched_database_is_served_and_ready,
    a_changed_template_byte_is_not_served,
    a_changed_digest_is_not_served,
    a_moved_pointer_is_not_served,
    a_deleted_live_version_is_reported,
    a_deleted_newest_leaf_is_reported,
    swapped_ciphertexts_are_not_served,
    swapped_ciphertexts_and_wrapped_keys_are_not_served,
    an_edited_history_row_does_not_stop_serving_the_true_pointer,
    an_edited_leaf_changes_the_ledger_root,
);
