//! `promptreg verify` and `promptreg keys` through the binary, on both backends: a clean
//! registry verifies; each edit of the database behind the server's back (then a restart, so
//! the server reads the edited rows) makes verify exit 1 with a line naming the row; a saved
//! checkpoint catches a shrunk ledger; a foreign trusted key fails; rotation keeps it valid.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use promptreg_api::{CreateVersion, DeployRequest};
use promptreg_client::verify::fetch_snapshot;
use promptreg_client::Client;
use promptreg_core::integrity::SigningKey;
use promptreg_core::{EnvName, PromptBody, PromptContent, PromptName, Version};
use promptreg_server::testing::{spawn_with_store, TestServer};
use promptreg_store_postgres::PgStore;
use promptreg_store_sqlite::SqliteStore;
use serde_json::{json, Value};

use crate::helpers::{admin, Backend, Run};

/// The concrete store, for edits behind the server's back.
enum Raw {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

/// A server over a store the test can edit and restart the server on.
struct Registry {
    raw: Raw,
    server: Option<TestServer>,
    _dir: Option<tempfile::TempDir>,
    cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Registry {
    async fn new(backend: Backend) -> Option<Self> {
        let (raw, dir, cleanup) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("t.db").display());
                let store = Arc::new(SqliteStore::open(&url).await.unwrap());
                (Raw::Sqlite(store), Some(dir), None)
            }
            Backend::Postgres => {
                let url = std::env::var("PROMPTREG_TEST_PG_URL").ok()?;
                let (store, cleanup) = promptreg_store_postgres::testing::fresh(&url)
                    .await
                    .unwrap();
                let cleanup: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(cleanup);
                (Raw::Postgres(Arc::new(store)), None, Some(cleanup))
            }
        };
        let mut registry = Registry {
            raw,
            server: None,
            _dir: dir,
            cleanup,
        };
        registry.restart().await;
        Some(registry)
    }

    fn server(&self) -> &TestServer {
        self.server.as_ref().unwrap()
    }

    fn client(&self) -> Client {
        Client::new(self.server().url(), self.server().admin_token()).unwrap()
    }

    /// Stops the server (if any) and starts one over the same store, which reads (and
    /// audits) everything again, with a new signing key of its own.
    async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        let server = match &self.raw {
            Raw::Sqlite(s) => spawn_with_store(s.clone()).await,
            Raw::Postgres(s) => spawn_with_store(s.clone()).await,
        };
        self.server = Some(server.unwrap());
    }

    /// Edits the database (foreign keys not enforced), then restarts the server.
    async fn tamper(&mut self, sqlite: &str, postgres: &str) {
        let changed = match &self.raw {
            Raw::Sqlite(s) => promptreg_store_sqlite::testing::tamper(s, sqlite)
                .await
                .unwrap(),
            Raw::Postgres(s) => {
                let sql = format!(
                    "SET session_replication_role = replica; {postgres}; \
                     SET session_replication_role = DEFAULT"
                );
                promptreg_store_postgres::testing::tamper(s, &sql)
                    .await
                    .unwrap()
            }
        };
        assert!(changed > 0, "the edit changed no row");
        self.restart().await;
    }

    async fn verify(&self, args: &[&str]) -> Run {
        let mut all = vec!["verify"];
        all.extend_from_slice(args);
        admin(self.server(), &all).await
    }

    async fn finish(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        if let Some(cleanup) = self.cleanup.take() {
            cleanup.await;
        }
    }
}

/// Declares a test per backend for `async fn name(registry: &mut Registry)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::Registry;
                use crate::helpers::Backend;

                async fn run(backend: Backend) {
                    let Some(mut registry) = Registry::new(backend).await else {
                        eprintln!("SKIPPED {} on PostgreSQL: PROMPTREG_TEST_PG_URL is not set", stringify!($name));
                        return;
                    };
                    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(super::$name(&mut registry))).await;
                    registry.finish().await;
                    if let Err(panic) = outcome {
                        std::panic::resume_unwind(panic);
                    }
                }

                #[tokio::test]
                async fn sqlite() {
                    run(Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    run(Backend::Postgres).await;
                }
            }
        )*
    };
}

mod tamper;

async fn push(client: &Client, name: &str, template: &str) {
    let content = PromptContent::new(PromptBody::Text(template.into()), None, None).unwrap();
    client
        .create_version(
            &PromptName::parse(name).unwrap(),
            &CreateVersion::from_content(&content),
        )
        .await
        .unwrap();
}

async fn deploy(client: &Client, env: &str, name: &str, version: i64) {
    client
        .deploy(
            &EnvName::parse(env).unwrap(),
            &PromptName::parse(name).unwrap(),
            &DeployRequest {
                version: Version::try_from(version).unwrap(),
                reason: Some("test".into()),
                break_glass: false,
            },
        )
        .await
        .unwrap();
}

/// `t/a` v1 then v2 live in production (two moves), `t/b` v1 live in staging (the newest
/// event of the log).
async fn seed(registry: &Registry) {
    let c = registry.client();
    push(&c, "t/a", "Hello {{ name }}").await;
    push(&c, "t/a", "Hi {{ name }}").await;
    deploy(&c, "production", "t/a", 1).await;
    deploy(&c, "production", "t/a", 2).await;
    push(&c, "t/b", "Bye").await;
    deploy(&c, "staging", "t/b", 1).await;
}

/// Verify fails (exit 1) and prints `line` (a failure naming a row).
async fn fails_naming(registry: &Registry, line: &str) -> String {
    let run = registry.verify(&[]).await;
    let stdout = run.stdout.clone();
    let stderr = run.fails(1);
    assert!(
        stdout.lines().any(|l| l.starts_with(line)),
        "no line starting with {line:?}:\n{stdout}"
    );
    assert!(stderr.contains("the registry does not verify"), "{stderr}");
    stdout
}

fn json_report(run: Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

async fn a_clean_registry_verifies_and_survives_rotation(registry: &mut Registry) {
    seed(registry).await;
    let report = json_report(registry.verify(&["--output", "json"]).await);
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["failures"], json!([]));
    let checked = &report["checked"];
    assert_eq!(checked["versions"], 3);
    assert_eq!(checked["version_signatures"], 3);
    assert_eq!(checked["moves"], 3);
    assert_eq!(checked["move_signatures"], 3);
    assert_eq!(checked["pointers"], 2);
    assert_eq!(checked["inclusion_proofs"], 6, "one per version and move");
    assert_eq!(checked["leaves"], report["tree_size"]);
    let text = registry.verify(&[]).await.ok();
    assert!(
        text.starts_with("verified promptreg/default at tree size "),
        "{text}"
    );

    // Keys as the auditor pins them: the same keys pass, a foreign key fails.
    let dir = tempfile::tempdir().unwrap();
    let pinned = dir.path().join("keys.json");
    let keys = admin(registry.server(), &["keys", "list", "-o", "json"])
        .await
        .ok();
    std::fs::write(&pinned, &keys).unwrap();
    let pinned = pinned.to_str().unwrap();
    registry.verify(&["--trusted-keys", pinned]).await.ok();
    let foreign = dir.path().join("foreign.json");
    let key = SigningKey::from_seed([7; 32]).public();
    std::fs::write(
        &foreign,
        json!({"keys": [{"key_id": key.key_id(), "algorithm": "ed25519", "public_key": key.to_base64()}]})
            .to_string(),
    )
    .unwrap();
    let run = registry
        .verify(&["--trusted-keys", foreign.to_str().unwrap()])
        .await;
    let stdout = run.stdout.clone();
    run.fails(1);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("checkpoint: the note does not verify")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l
                .starts_with("versions row (prompt 't/a', version 1): signature does not verify")),
        "{stdout}"
    );

    // A rotated key: old signatures stay valid, new ones are by the new key.
    let rotated = admin(registry.server(), &["keys", "rotate-signing", "-o", "json"])
        .await
        .json();
    push(&registry.client(), "t/a", "Hey {{ name }}").await;
    let report = json_report(registry.verify(&["-o", "json"]).await);
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["checked"]["version_signatures"], 4);
    let listed = admin(registry.server(), &["keys", "list"]).await.ok();
    assert!(
        listed.contains(rotated["key_id"].as_str().unwrap()),
        "{listed}"
    );
    // The pinned file predates the new key: what it signed no longer verifies.
    registry.verify(&["--trusted-keys", pinned]).await.fails(1);
}

async fn a_saved_checkpoint_catches_a_shrunk_ledger(registry: &mut Registry) {
    seed(registry).await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.checkpoint");
    let second = dir.path().join("second.checkpoint");
    let first_arg = first.to_str().unwrap();
    registry
        .verify(&["--save-checkpoint", first_arg])
        .await
        .ok();
    let note = std::fs::read_to_string(&first).unwrap();
    assert!(note.starts_with("promptreg/default\n"), "{note}");

    push(&registry.client(), "t/c", "More").await;
    deploy(&registry.client(), "production", "t/c", 1).await;
    let report = json_report(
        registry
            .verify(&[
                "--since-checkpoint",
                first_arg,
                "--save-checkpoint",
                second.to_str().unwrap(),
                "-o",
                "json",
            ])
            .await,
    );
    assert_eq!(report["ok"], true, "{report:#}");
    let old_size = note.lines().nth(1).unwrap().parse::<u64>().unwrap();
    assert_eq!(report["checked"]["since_tree_size"], old_size);
    assert_eq!(report["checked"]["consistency_proof"], true);

    let sql = "DELETE FROM event_log WHERE seq = (SELECT MAX(seq) FROM event_log)";
    registry.tamper(sql, sql).await;
    let run = registry
        .verify(&["--since-checkpoint", second.to_str().unwrap()])
        .await;
    let stdout = run.stdout.clone();
    run.fails(1);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("since checkpoint: the ledger shrank")),
        "{stdout}"
    );
    // A failed verification does not overwrite a saved checkpoint.
    let run = registry.verify(&["--save-checkpoint", first_arg]).await;
    run.fails(1);
    assert_eq!(std::fs::read_to_string(&first).unwrap(), note);
}

async fn a_bundle_file_is_verified_offline(registry: &mut Registry) {
    let registry = &*registry;
    seed(registry).await;
    let snapshot = fetch_snapshot(&registry.client()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let clean = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(clean["format"], "promptreg-snapshot/v1");
    let path = write("clean.json", &clean);
    let report = json_report(registry.verify(&["--bundle", &path, "-o", "json"]).await);
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(
        report["checked"]["inclusion_proofs"], 0,
        "offline: the tree itself proves inclusion"
    );

    let bundle_fails = |bundle: Value, name: &'static str, line: &'static str| {
        let path = write(name, &bundle);
        async move {
            let run = registry.verify(&["--bundle", &path]).await;
            let stdout = run.stdout.clone();
            run.fails(1);
            assert!(
                stdout.lines().any(|l| l.starts_with(line)),
                "{name}: no line starting with {line:?}:\n{stdout}"
            );
        }
    };
    // A template byte changed in the file.
    let mut edited = clean.clone();
    let v = edited["versions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|v| v["name"] == "t/a" && v["version"] == 2)
        .unwrap();
    v["template"] = json!("Ha {{ name }}");
    bundle_fails(
        edited,
        "template.json",
        "versions row (prompt 't/a', version 2): content hashes to",
    )
    .await;
    // A leaf removed from the middle.
    let mut removed = clean.clone();
    removed["leaves"].as_array_mut().unwrap().remove(4);
    bundle_fails(
        removed,
        "removed.json",
        "event_log row (seq 5, ledger leaf 4): missing (the next leaf given is 5)",
    )
    .await;
    // Two leaves swapped (indexes and all): the tree no longer adds up to the signed root.
    let mut swapped = clean.clone();
    swapped["leaves"].as_array_mut().unwrap().swap(3, 4);
    bundle_fails(
        swapped,
        "swapped.json",
        "event_log: the 9 leaves hash to root",
    )
    .await;
    // Another format is refused before anything is checked (a usage error).
    let mut other = clean.clone();
    other["format"] = json!("promptreg-snapshot/v2");
    let path = write("other.json", &other);
    let stderr = registry.verify(&["--bundle", &path]).await.fails(2);
    assert!(stderr.contains("is not supported"), "{stderr}");
}

/// `promptreg lifecycle set`, `prune --dry-run` and `prune` through the binary, then
/// `verify` passes (a tombstone is checked by its signature and its two leaves); a tombstone
/// edited afterwards fails, naming its row.
async fn a_pruned_registry_still_verifies(registry: &mut Registry) {
    seed(registry).await;
    let c = registry.client();
    for template in ["One", "Two", "Three"] {
        push(&c, "t/c", template).await;
    }
    let server = registry.server();
    let none = admin(server, &["prune", "--dry-run"]).await.ok();
    assert!(none.starts_with("no lifecycle rules"), "{none}");
    let set = admin(server, &["lifecycle", "set", "--keep-last", "1"])
        .await
        .ok();
    assert!(
        set.lines()
            .any(|l| l.starts_with("keep_last") && l.ends_with(" 1")),
        "{set}"
    );
    let shown = admin(server, &["lifecycle", "show", "-o", "json"])
        .await
        .json();
    assert_eq!(shown["keep_last"], 1);
    assert_eq!(shown["prune_unused_after"], Value::Null);

    // t/a v1 is a rollback target in production, v2 and t/b v1 the newest: t/c v1, v2 go.
    let dry = admin(server, &["prune", "--dry-run"]).await;
    let stderr = dry.stderr.clone();
    let out = dry.ok();
    for line in [
        "t/c     v1       ",
        "t/c     v2       ",
        "t/a     v1       a rollback target in production",
    ] {
        assert!(out.lines().any(|l| l.starts_with(line)), "{line:?}:\n{out}");
    }
    assert!(
        out.contains("beyond the newest 1 version of 't/c'"),
        "{out}"
    );
    assert!(
        stderr.contains("would prune 2 version(s), 1 held"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    let done = admin(server, &["prune", "-o", "json"]).await.json();
    assert_eq!(done["pruned"].as_array().unwrap().len(), 2, "{done:#}");
    let listed = admin(server, &["versions", "t/c"]).await.ok();
    assert!(
        listed.contains("v1 (pruned)") && listed.contains("v2 (pruned)"),
        "{listed}"
    );
    let get = admin(server, &["get", "t/c", "--version", "1"]).await;
    let stderr = get.fails(1);
    assert!(stderr.contains("was pruned"), "{stderr}");

    let report = json_report(registry.verify(&["-o", "json"]).await);
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["checked"]["versions"], 6);
    assert_eq!(report["checked"]["pruned_versions"], 2);
    assert_eq!(
        report["checked"]["version_signatures"], 6,
        "tombstones keep signatures"
    );
    let text = registry.verify(&[]).await.ok();
    assert!(text.contains("6 versions (6 signed, 2 pruned)"), "{text}");

    // A tombstone's digest edited: its signature and both of its leaves disagree.
    let sql = "UPDATE versions SET digest = (SELECT digest FROM versions WHERE name = 't/c' AND version = 3) \
               WHERE name = 't/c' AND version = 1";
    registry.tamper(sql, sql).await;
    let out = fails_naming(
        registry,
        "versions row (prompt 't/c', version 1): digest sha256:",
    )
    .await;
    assert!(
        out.lines().any(
            |l| l.starts_with("versions row (prompt 't/c', version 1): digest ")
                && l.contains(" but ledger leaf ")
                && l.contains(" pruned digest ")
        ),
        "{out}"
    );
}

on_both_backends!(
    a_pruned_registry_still_verifies,
    a_clean_registry_verifies_and_survives_rotation,
    a_bundle_file_is_verified_offline,
    a_saved_checkpoint_catches_a_shrunk_ledger,
);

/// The figure in `docs/cli.md`: `promptreg verify` of 10,000 versions (100 prompts of
/// 100 versions, each prompt deployed twice) on SQLite, with the time spent reading, checking
/// the data and checking the server's proofs. Run it alone:
/// `cargo test -p promptreg-cli --test cli -- --ignored --nocapture verify_time`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about a minute in a debug build), not a check"]
async fn verify_time_for_10_000_versions() {
    use futures::StreamExt as _;
    use std::time::Instant;

    let registry = Registry::new(Backend::Sqlite).await.unwrap();
    let client = Arc::new(registry.client());
    let started = Instant::now();
    futures::stream::iter(0..100)
        .map(|p| {
            let client = client.clone();
            async move {
                let name = format!("bench/p{p:03}");
                for v in 0..100 {
                    push(
                        &client,
                        &name,
                        &format!("Prompt {p} version {v}: {{{{ x }}}}"),
                    )
                    .await;
                }
                deploy(&client, "staging", &name, 50).await;
                deploy(&client, "production", &name, 100).await;
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    eprintln!("seeded 10,000 versions in {:.1?}", started.elapsed());

    let started = Instant::now();
    let snapshot = fetch_snapshot(&client).await.unwrap();
    let fetched = started.elapsed();
    let started = Instant::now();
    let trust = promptreg_client::verify::Trust::served();
    let offline = promptreg_client::verify::verify(&snapshot, &trust);
    let checked = started.elapsed();
    assert!(offline.ok, "{:?}", offline.failures);
    let started = Instant::now();
    let online = promptreg_client::verify::verify_online(&client, &snapshot, &trust)
        .await
        .unwrap();
    let with_proofs = started.elapsed();
    assert_eq!(online.checked.versions, 10_000);
    eprintln!(
        "in-process: read {fetched:.1?}, checks {checked:.1?}, checks + {} inclusion proofs {with_proofs:.1?}",
        online.checked.inclusion_proofs
    );

    let started = Instant::now();
    let report = json_report(registry.verify(&["-o", "json"]).await);
    eprintln!(
        "`promptreg verify` (debug binary): {:.1?}, ok = {}",
        started.elapsed(),
        report["ok"]
    );
    assert_eq!(report["ok"], true);
    registry.finish().await;
}
