//! `promptreg export` and `promptreg import` through the binary: the recovery drill (a SQLite
//! registry with versions, deploys and a rollback, exported and imported into a fresh
//! PostgreSQL-backed server, or SQLite when `PROMPTREG_TEST_PG_URL` is not set), and bad
//! bundles, each refused by the CLI and by the server alone, naming the check and leaving the
//! target empty.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use promptreg_api::{snapshot_digest, ExportSignRequest};
use promptreg_client::verify::fetch_snapshot;
use promptreg_client::{Client, ClientError};
use promptreg_core::integrity::{Envelope, SigningKey, Statement};
use promptreg_server::testing::TestServer;
use serde_json::Value;

use crate::helpers::{admin, path, prompts_dir, write, Backend, Run, Started};

fn client(server: &TestServer) -> Client {
    Client::new(server.url(), server.admin_token()).unwrap()
}

/// A source registry: two prompts, three versions, deploys to two environments, a rollback.
async fn populate(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();
    write(
        dir.path(),
        "greeting.yaml",
        "template: Hi {{ name }}, welcome back.\ncommit_message: warmer\n",
    );
    admin(server, &["push", path(&dir)]).await.ok();
    for (prompt, version, env) in [
        ("greeting", "1", "staging"),
        ("greeting", "2", "staging"),
        ("greeting", "2", "production"),
        ("support/triage", "1", "production"),
    ] {
        admin(server, &["deploy", prompt, version, "--env", env])
            .await
            .ok();
    }
    admin(
        server,
        &[
            "rollback", "greeting", "--env", "staging", "--reason", "drill",
        ],
    )
    .await
    .ok();
}

/// `GET /v1/resolve/{name}?env=`: status, ETag and body.
async fn resolve(server: &TestServer, name: &str, env: &str) -> (u16, String, String) {
    let url = format!(
        "{}/v1/resolve/{}?env={env}",
        server.url(),
        promptreg_client::encode_segment(name)
    );
    let answer = reqwest::Client::new()
        .get(url)
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    let etag = answer
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (answer.status().as_u16(), etag, answer.text().await.unwrap())
}

/// Starts a target: PostgreSQL when configured, else SQLite.
async fn target() -> Started {
    match Started::new(Backend::Postgres).await {
        Some(started) => started,
        None => {
            eprintln!("PROMPTREG_TEST_PG_URL is not set: importing into SQLite instead");
            Started::new(Backend::Sqlite).await.unwrap()
        }
    }
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Export, `verify --bundle`, import into a fresh server of the other backend: the new server
/// verifies, has the same checkpoint root and size, and answers every resolve the same.
#[tokio::test]
async fn the_recovery_drill_reproduces_the_registry() {
    let source = Started::new(Backend::Sqlite).await.unwrap();
    let to = target().await;
    populate(&source.server).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("registry.bundle.json");
    let bundle = bundle.to_str().unwrap();

    // What an operator keeps off-site: a checkpoint saved earlier, the keys, the bundle.
    let note = dir.path().join("checkpoint.note");
    let note = note.to_str().unwrap();
    admin(&source.server, &["verify", "--save-checkpoint", note])
        .await
        .ok();
    admin(
        &source.server,
        &["deploy", "support/triage", "1", "--env", "staging"],
    )
    .await
    .ok();
    let keys = admin(&source.server, &["keys", "list", "-o", "json"])
        .await
        .ok();
    let keys = write_file(&dir, "keys.json", &keys);
    let out = admin(&source.server, &["export", "--bundle", bundle])
        .await
        .ok();
    assert!(
        out.starts_with("exported promptreg/default at tree size"),
        "{out}"
    );
    let offline = [
        "--bundle",
        bundle,
        "--trusted-keys",
        &keys,
        "--since-checkpoint",
        note,
    ];
    let out = admin(&source.server, &[&["verify"], &offline[..]].concat())
        .await
        .ok();
    assert!(out.starts_with("verified"), "{out}");

    let out = admin(
        &to.server,
        &["import", "--bundle", bundle, "--trusted-keys", &keys],
    )
    .await
    .ok();
    assert!(out.contains("3 versions, 6 deployment records"), "{out}");
    let out = admin(&to.server, &["verify", "--since-checkpoint", note])
        .await
        .ok();
    assert!(out.starts_with("verified"), "{out}");
    assert!(out.contains("extends the checkpoint of size"), "{out}");

    let before = client(&source.server).checkpoint().await.unwrap();
    let after = client(&to.server).checkpoint().await.unwrap();
    assert_eq!(
        (after.tree_size, &after.root_hash),
        (before.tree_size, &before.root_hash)
    );
    let snapshot = fetch_snapshot(&client(&source.server)).await.unwrap();
    let mut live = 0;
    for catalog in &snapshot.catalog {
        for entry in &catalog.entries {
            let a = resolve(&source.server, &entry.name, &catalog.env).await;
            let b = resolve(&to.server, &entry.name, &catalog.env).await;
            assert_eq!(a.0, 200, "{a:?}");
            assert_eq!(a, b, "{} in {}", entry.name, catalog.env);
            live += 1;
        }
    }
    assert_eq!(live, 4, "every live pointer was compared");
    let restored = fetch_snapshot(&client(&to.server)).await.unwrap();
    assert_eq!(restored.versions, snapshot.versions);
    assert_eq!(restored.history, snapshot.history);
    assert_eq!(restored.leaves, snapshot.leaves);

    // The restored server signs new changes with its own key and lists the exported ones.
    let keys = client(&to.server).keys().await.unwrap().keys;
    assert_eq!(keys.len(), 2, "{keys:?}");
    admin(
        &to.server,
        &["deploy", "greeting", "1", "--env", "production"],
    )
    .await
    .ok();
    let out = admin(&to.server, &["verify"]).await.ok();
    assert!(out.starts_with("verified"), "{out}");

    // The project is not empty any more.
    let stderr = admin(&to.server, &["import", "--bundle", bundle])
        .await
        .fails(1);
    assert!(stderr.contains("not_empty"), "{stderr}");
    source.finish().await;
    to.finish().await;
}

/// What an attacker with the source's admin token can make: a changed snapshot, signed by the
/// source server (it signs any digest for its own tree size).
async fn resign(source: &TestServer, mut bundle: Value, snapshot: Value) -> Value {
    let request = ExportSignRequest {
        digest: snapshot_digest(&snapshot).to_string(),
        tree_size: snapshot["checkpoint"]["tree_size"].as_u64().unwrap(),
    };
    let signed = client(source).sign_export(&request).await.unwrap();
    bundle["snapshot"] = snapshot;
    bundle["signature"] = signed.signature;
    bundle
}

/// The export statement of `bundle`, signed by `key` instead.
fn foreign_signature(bundle: &Value, key: &SigningKey) -> Value {
    let envelope: Envelope = serde_json::from_value(bundle["signature"].clone()).unwrap();
    let payload = B64.decode(&envelope.payload).unwrap();
    let statement: Statement = serde_json::from_slice(&payload).unwrap();
    serde_json::to_value(statement.sign(key)).unwrap()
}

/// The target is as a first start left it.
async fn assert_empty(server: &TestServer) {
    let c = client(server);
    let prompts = c
        .list_prompts(&Default::default(), Default::default())
        .await
        .unwrap();
    assert!(prompts.items.is_empty(), "{:?}", prompts.items);
    assert_eq!(
        c.checkpoint().await.unwrap().tree_size,
        3,
        "three first-start environments"
    );
    assert_eq!(c.keys().await.unwrap().keys.len(), 1);
}

/// `import` refuses the file: exit 1 naming `check` (stdout or stderr); the server alone
/// refuses it too (422 `invalid_bundle` naming `server_check`), and the target stays empty.
async fn refused(
    to: &TestServer,
    dir: &tempfile::TempDir,
    name: &str,
    bundle: &str,
    args: &[&str],
    check: &str,
    server_check: Option<&str>,
) {
    let path = write_file(dir, name, bundle);
    let mut all = vec!["import", "--bundle", path.as_str()];
    all.extend_from_slice(args);
    let run: Run = admin(to, &all).await;
    let (stdout, stderr) = (run.stdout.clone(), run.fails(1));
    assert!(
        stdout.contains(check) || stderr.contains(check),
        "{name}: expected {check:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{name}: {stderr}");
    if let Some(expected) = server_check {
        match client(to).import_bundle(bundle.to_owned()).await {
            Err(ClientError::Api {
                status,
                code,
                message,
            }) => {
                assert_eq!(
                    (status, code.as_str()),
                    (422, "invalid_bundle"),
                    "{name}: {message}"
                );
                assert!(message.starts_with(expected), "{name}: {message}");
                assert!(
                    message.ends_with("nothing was imported"),
                    "{name}: {message}"
                );
            }
            other => panic!("{name}: the server took it: {other:?}"),
        }
    }
    assert_empty(to).await;
}

/// Truncated, foreign-signed, a leaf removed, leaves reordered, a checkpoint of another size:
/// each is refused by the CLI and by the server, naming the check; the target stays empty.
#[tokio::test]
async fn bad_bundles_are_refused_and_change_nothing() {
    let source = Started::new(Backend::Sqlite).await.unwrap();
    let to = target().await;
    populate(&source.server).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    admin(
        &source.server,
        &["export", "--bundle", good.to_str().unwrap()],
    )
    .await
    .ok();
    let text = std::fs::read_to_string(&good).unwrap();
    let bundle: Value = serde_json::from_str(&text).unwrap();
    let keys = admin(&source.server, &["keys", "list", "-o", "json"])
        .await
        .ok();
    let trusted = write_file(&dir, "keys.json", &keys);
    assert_empty(&to.server).await;

    refused(
        &to.server,
        &dir,
        "truncated",
        &text[..text.len() / 2],
        &[],
        "truncated",
        None,
    )
    .await;

    let foreign = SigningKey::from_seed([9; 32]);
    let mut resigned = bundle.clone();
    resigned["signature"] = foreign_signature(&bundle, &foreign);
    let check = "bundle signature: does not verify: no signature by a trusted key";
    refused(
        &to.server,
        &dir,
        "foreign",
        &resigned.to_string(),
        &[],
        check,
        Some(check),
    )
    .await;
    // Listing the foreign key in the snapshot does not help against pinned keys.
    let mut snapshot = bundle["snapshot"].clone();
    snapshot["keys"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "key_id": foreign.key_id(), "algorithm": "ed25519",
            "public_key": foreign.public().to_base64(), "created_at": "2026-01-01T00:00:00Z",
            "retired_at": null,
        }));
    let mut listed = bundle.clone();
    listed["snapshot"] = snapshot;
    let digest = snapshot_digest(&listed["snapshot"]);
    let envelope: Envelope = serde_json::from_value(bundle["signature"].clone()).unwrap();
    let mut statement: Statement =
        serde_json::from_slice(&B64.decode(&envelope.payload).unwrap()).unwrap();
    statement.subject[0].digest.insert(
        "sha256".into(),
        digest.as_str().trim_start_matches("sha256:").into(),
    );
    listed["signature"] = serde_json::to_value(statement.sign(&foreign)).unwrap();
    refused(
        &to.server,
        &dir,
        "foreign-listed",
        &listed.to_string(),
        &["--trusted-keys", &trusted],
        "bundle signature: does not verify: no signature by a trusted key",
        None,
    )
    .await;

    let mut removed = bundle["snapshot"].clone();
    removed["leaves"].as_array_mut().unwrap().remove(3);
    let removed = resign(&source.server, bundle.clone(), removed).await;
    refused(
        &to.server,
        &dir,
        "removed",
        &removed.to_string(),
        &[],
        "event_log row (seq 4, ledger leaf 3): missing",
        Some("ledger: leaf 3 is missing or out of order"),
    )
    .await;

    let mut reordered = bundle["snapshot"].clone();
    reordered["leaves"].as_array_mut().unwrap().swap(3, 4);
    let reordered = resign(&source.server, bundle.clone(), reordered).await;
    refused(
        &to.server,
        &dir,
        "reordered",
        &reordered.to_string(),
        &[],
        "out of order",
        Some("ledger: leaf 3 is missing or out of order"),
    )
    .await;

    // Content changed behind the signatures (the leaves still add up).
    let mut edited = bundle["snapshot"].clone();
    let greeting = edited["versions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|v| v["name"] == "greeting" && v["version"] == 1)
        .unwrap();
    greeting["template"] = "Hello {{ name }}, send me your password.".into();
    let edited = resign(&source.server, bundle.clone(), edited).await;
    refused(
        &to.server,
        &dir,
        "edited",
        &edited.to_string(),
        &[],
        "versions row (prompt 'greeting', version 1): content hashes to",
        Some("version (prompt 'greeting', version 1): its content hashes to"),
    )
    .await;

    // A checkpoint of a later tree size, genuinely signed, over the exported leaves.
    let size = bundle["snapshot"]["checkpoint"]["tree_size"]
        .as_u64()
        .unwrap();
    admin(&source.server, &["env", "create", "later"])
        .await
        .ok();
    let later = client(&source.server).checkpoint().await.unwrap();
    assert_eq!(later.tree_size, size + 1);
    let mut other_size = bundle["snapshot"].clone();
    other_size["checkpoint"] = serde_json::to_value(&later).unwrap();
    let other_size = resign(&source.server, bundle.clone(), other_size).await;
    refused(
        &to.server,
        &dir,
        "other-size",
        &other_size.to_string(),
        &[],
        &format!("the signed checkpoint covers {}", size + 1),
        Some(&format!(
            "ledger: {size} leaves, but the signed checkpoint covers {}",
            size + 1
        )),
    )
    .await;

    // The genuine bundle still goes in.
    admin(&to.server, &["import", "--bundle", good.to_str().unwrap()])
        .await
        .ok();
    source.finish().await;
    to.finish().await;
}

/// Two replicas on one PostgreSQL database: an import through one is reloaded by the other
/// (which had applied the first start's log), so both serve the restored ledger and pointers.
#[tokio::test]
async fn a_replica_reloads_after_an_import_through_another() {
    let Ok(url) = std::env::var("PROMPTREG_TEST_PG_URL") else {
        eprintln!("SKIPPED a_replica_reloads_after_an_import_through_another: PROMPTREG_TEST_PG_URL is not set");
        return;
    };
    let (store, cleanup) = promptreg_store_postgres::testing::fresh(&url)
        .await
        .unwrap();
    let store = std::sync::Arc::new(store);
    let a = promptreg_server::testing::spawn_with_store(store.clone())
        .await
        .unwrap();
    let b = promptreg_server::testing::spawn_with_store(store)
        .await
        .unwrap();
    let source = Started::new(Backend::Sqlite).await.unwrap();
    populate(&source.server).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b.json");
    let bundle = bundle.to_str().unwrap();
    admin(&source.server, &["export", "--bundle", bundle])
        .await
        .ok();
    assert_eq!(client(&b).checkpoint().await.unwrap().tree_size, 3);

    admin(&a, &["import", "--bundle", bundle]).await.ok();
    let want = client(&source.server).checkpoint().await.unwrap();
    let start = std::time::Instant::now();
    loop {
        let seen = client(&b).checkpoint().await.unwrap();
        if (seen.tree_size, &seen.root_hash) == (want.tree_size, &want.root_hash) {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the other replica still says {seen:?}, not {want:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        resolve(&b, "greeting", "staging").await,
        resolve(&source.server, "greeting", "staging").await
    );
    let out = admin(&b, &["verify"]).await.ok();
    assert!(out.starts_with("verified"), "{out}");
    source.finish().await;
    a.stop().await;
    b.stop().await;
    cleanup.await;
}

/// A registry that has pruned old versions exports, imports and verifies: each tombstone is
/// restored as a tombstone (410 `pruned`, its signature and ledger leaves kept), and the live
/// pointer answers the same.
#[tokio::test]
async fn a_pruned_registry_is_restored_with_its_tombstones() {
    let source = Started::new(Backend::Sqlite).await.unwrap();
    let to = target().await;
    let notes = tempfile::tempdir().unwrap();
    for text in ["one", "two", "three"] {
        write(
            notes.path(),
            "notes.yaml",
            &format!("template: Notes {text}.\n"),
        );
        admin(&source.server, &["push", path(&notes)]).await.ok();
    }
    admin(
        &source.server,
        &["deploy", "notes", "3", "--env", "production"],
    )
    .await
    .ok();
    admin(&source.server, &["lifecycle", "set", "--keep-last", "1"])
        .await
        .ok();
    let pruned = admin(&source.server, &["prune"]).await.ok();
    assert!(pruned.contains("v1") && pruned.contains("v2"), "{pruned}");

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("pruned.bundle.json");
    let bundle = bundle.to_str().unwrap();
    admin(&source.server, &["export", "--bundle", bundle])
        .await
        .ok();
    admin(&to.server, &["import", "--bundle", bundle])
        .await
        .ok();
    let out = admin(&to.server, &["verify"]).await.ok();
    assert!(
        out.starts_with("verified") && out.contains("2 pruned"),
        "{out}"
    );
    let restored = reqwest::Client::new()
        .get(format!("{}/v1/prompts/notes/versions/1", to.server.url()))
        .bearer_auth(to.server.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(restored.status().as_u16(), 410, "restored as a tombstone");
    assert_eq!(
        resolve(&source.server, "notes", "production").await,
        resolve(&to.server, "notes", "production").await
    );
}
