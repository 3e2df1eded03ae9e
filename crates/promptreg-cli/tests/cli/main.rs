//! End to end: the built `promptreg` binary against a real server on port 0
//! (`promptreg_server::testing::spawn_sqlite`), configured through `PROMPTREG_URL` and
//! `PROMPTREG_TOKEN` like a user's shell.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use promptreg_server::testing::{spawn_sqlite, TestServer};
use serde_json::Value;

/// One finished run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    fn json(self) -> Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
    }

    /// Asserts failure with `code` and returns stderr.
    fn fails(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stderr
    }
}

/// Runs `promptreg <args>` against `server` as `token`.
async fn promptreg(server: &TestServer, token: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(args)
        .env("PROMPTREG_URL", server.url())
        .env("PROMPTREG_TOKEN", token)
        .output()
        .await
        .expect("the promptreg binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn admin(server: &TestServer, args: &[&str]) -> Run {
    promptreg(server, server.admin_token(), args).await
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A directory with one YAML text prompt and one Dotprompt chat prompt.
fn prompts_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "greeting.yaml",
        "template: Hello {{ name }}!\nvariables:\n  type: object\n  required: [name]\n",
    );
    write(
        dir.path(),
        "support/triage.prompt",
        "---\nmodel: openai/gpt-4o\nconfig: {temperature: 0.2}\ntags: [support]\n---\n\
         {{role \"system\"}}\nYou triage tickets for {{ team }}.\n{{history}}\n\
         {{role \"user\"}}\n{{ ticket }}\n",
    );
    dir
}

fn path(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().unwrap()
}

async fn server() -> TestServer {
    spawn_sqlite().await.expect("test server starts")
}

#[tokio::test]
async fn pushing_the_same_directory_twice_creates_nothing_the_second_time() {
    let server = server().await;
    let dir = prompts_dir();

    let dry = admin(
        &server,
        &["push", path(&dir), "--dry-run", "--output", "json"],
    )
    .await
    .json();
    assert_eq!(dry["dry_run"], true);

    let first = admin(&server, &["push", path(&dir), "-m", "initial import"])
        .await
        .ok();
    assert!(first.contains("created    greeting"), "{first}");
    assert!(first.contains("support/triage"), "{first}");
    assert!(first.contains("2 created, 0 unchanged"), "{first}");

    let second = admin(&server, &["push", path(&dir), "--output", "json"])
        .await
        .json();
    assert_eq!(second["created"], 0);
    assert_eq!(second["unchanged"], 2);
    for (pushed, local) in second["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(dry["prompts"].as_array().unwrap())
    {
        assert_eq!(pushed["status"], "unchanged");
        assert_eq!(pushed["version"], 1);
        // The server's digest is the one computed offline.
        assert_eq!(pushed["digest"], local["digest"]);
    }

    let versions = admin(&server, &["versions", "support/triage", "--output", "json"])
        .await
        .json();
    let items = versions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["commit_message"], "initial import");
    assert_eq!(items[0]["model"]["params"]["temperature"], 0.2);
    assert_eq!(items[0]["messages"][1]["type"], "placeholder");

    let listed = admin(&server, &["list", "--prefix", "support/"]).await.ok();
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        listed.contains("support/triage") && !listed.contains("greeting"),
        "{listed}"
    );
}

#[tokio::test]
async fn deploy_resolve_render_rollback_and_history() {
    let server = server().await;
    let dir = prompts_dir();
    admin(&server, &["push", path(&dir)]).await.ok();
    write(
        dir.path(),
        "greeting.yaml",
        "template: Hi {{ name }}, welcome back.\ncommit_message: warmer\n",
    );
    let out = admin(&server, &["push", path(&dir)]).await.ok();
    assert!(out.contains("1 created, 1 unchanged"), "{out}");

    let env = admin(
        &server,
        &[
            "env",
            "create",
            "production",
            "--protected",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(env["name"], "production");
    assert_eq!(env["protected"], true);

    let out = admin(&server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    assert!(out.contains("deployed greeting v1 to production"), "{out}");
    let record = admin(
        &server,
        &[
            "deploy",
            "greeting",
            "2",
            "--env",
            "production",
            "--reason",
            "warmer",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(record["from_version"], 1);
    assert_eq!(record["to_version"], 2);
    assert_eq!(record["kind"], "deploy");

    let resolved = admin(&server, &["resolve", "greeting", "--output", "json"])
        .await
        .json();
    assert_eq!(resolved["version"], 2);
    assert_eq!(resolved["env"], "production");
    let text = admin(&server, &["resolve", "greeting", "--env", "production"])
        .await
        .ok();
    assert!(text.contains("Hi {{ name }}, welcome back."), "{text}");

    let rendered = admin(&server, &["render", "greeting", "--var", "name=Ada"])
        .await
        .ok();
    assert_eq!(rendered, "Hi Ada, welcome back.\n");
    let local = admin(
        &server,
        &["render", "greeting", "--var", "name=Ada", "--local"],
    )
    .await
    .ok();
    assert_eq!(local, rendered);

    let back = admin(
        &server,
        &[
            "rollback",
            "greeting",
            "--env",
            "production",
            "--reason",
            "too warm",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(back["kind"], "rollback");
    assert_eq!(back["to_version"], 1);
    let rendered = admin(&server, &["render", "greeting", "--var", "name=Ada"])
        .await
        .ok();
    assert_eq!(rendered, "Hello Ada!\n");

    let history = admin(
        &server,
        &[
            "history",
            "greeting",
            "--env",
            "production",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["rollback", "deploy", "deploy"]);
    let table = admin(&server, &["history", "greeting", "--env", "production"])
        .await
        .ok();
    assert!(table.starts_with("SEQ"), "{table}");
    assert!(table.contains("too warm"), "{table}");

    // A chat prompt renders its messages with injected history.
    admin(
        &server,
        &["deploy", "support/triage", "1", "--env", "production"],
    )
    .await
    .ok();
    let vars = dir.path().join("vars.json");
    std::fs::write(
        &vars,
        r#"{"team": "billing", "history": [{"role": "user", "content": "earlier"}]}"#,
    )
    .unwrap();
    let chat = admin(
        &server,
        &[
            "render",
            "support/triage",
            "--vars-file",
            vars.to_str().unwrap(),
            "--var",
            "ticket=refund please",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    let messages = chat["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["content"], "You triage tickets for billing.");
    assert_eq!(messages[1]["content"], "earlier");
    assert_eq!(messages[2]["content"], "refund please");
}

#[tokio::test]
async fn json_output_parses_on_every_read_command() {
    let server = server().await;
    let dir = prompts_dir();
    admin(&server, &["push", path(&dir)]).await.ok();
    write(dir.path(), "greeting.yaml", "template: Bye {{ name }}\n");
    admin(&server, &["push", path(&dir)]).await.ok();
    admin(&server, &["env", "create", "staging"]).await.ok();
    admin(&server, &["deploy", "greeting", "2", "--env", "staging"])
        .await
        .ok();

    let got = admin(
        &server,
        &["get", "greeting", "--version", "1", "--output", "json"],
    )
    .await
    .json();
    assert_eq!(got["version"], 1);
    assert_eq!(got["name"], "greeting");
    let diff = admin(&server, &["diff", "greeting", "--output", "json"])
        .await
        .json();
    assert_eq!(
        (diff["from"].as_i64(), diff["to"].as_i64()),
        (Some(1), Some(2))
    );
    assert!(diff["diff"].as_str().unwrap().contains("Bye"), "{diff}");
    let page = admin(&server, &["list", "--output", "json"]).await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let page = admin(&server, &["list", "--limit", "1", "--output", "json"])
        .await
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string(), "{page}");
    let catalog = admin(
        &server,
        &["catalog", "--env", "staging", "--output", "json"],
    )
    .await
    .json();
    assert_eq!(catalog["items"][0]["name"], "greeting");
    for args in [
        &["env", "list", "--output", "json"][..],
        &["token", "list", "--output", "json"][..],
        &["versions", "greeting", "--output", "json"][..],
    ] {
        let v = admin(&server, args).await.json();
        assert!(v["items"].is_array(), "{args:?}: {v}");
    }
    let text = admin(&server, &["diff", "greeting"]).await.ok();
    assert!(text.contains("greeting v1 → v2"), "{text}");
}

#[tokio::test]
async fn server_refusals_exit_1_with_the_server_message() {
    let server = server().await;
    let dir = prompts_dir();
    admin(&server, &["push", path(&dir)]).await.ok();

    let err = admin(&server, &["deploy", "greeting", "1", "--env", "nowhere"])
        .await
        .fails(1);
    let first = err.lines().next().unwrap();
    assert!(first.starts_with("error: "), "{err}");
    assert!(first.ends_with("HTTP 404)"), "{err}");
    assert!(err.contains("nowhere"), "{err}");
    assert!(
        err.contains("while deploying greeting v1 to nowhere"),
        "{err}"
    );

    let err = admin(&server, &["get", "no-such-prompt"]).await.fails(1);
    assert!(err.contains("HTTP 404"), "{err}");

    // An invalid template is refused before anything is sent, naming file and field.
    write(dir.path(), "broken.yaml", "template: 'Hello {{ name'\n");
    let err = admin(&server, &["push", path(&dir)]).await.fails(1);
    assert!(err.contains("broken.yaml: template:"), "{err}");
    let listed = admin(&server, &["list", "--output", "json"]).await.json();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        2,
        "nothing was pushed"
    );

    // Rolling back with nothing to roll back to is a 409 from the server.
    admin(&server, &["env", "create", "production"]).await.ok();
    admin(&server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    let err = admin(&server, &["rollback", "greeting", "--env", "production"])
        .await
        .fails(1);
    assert!(err.contains("HTTP 409"), "{err}");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let server = server().await;
    for args in [
        &["deploy", "greeting", "one", "--env", "production"][..],
        &["get", "Not A Name"][..],
        &["render", "greeting", "--var", "novalue"][..],
        &["token", "create", "x", "--role", "root"][..],
        &["list", "--limit", "0"][..],
        &["frobnicate"][..],
    ] {
        let err = admin(&server, args).await.fails(2);
        assert!(!err.is_empty(), "{args:?}");
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(["list"])
        .env("PROMPTREG_URL", "not a url")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn roles_are_enforced_and_revocation_is_immediate() {
    let server = server().await;
    let dir = prompts_dir();

    let reader = admin(
        &server,
        &[
            "token",
            "create",
            "dashboards",
            "--role",
            "reader",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(reader["role"], "reader");
    let secret = reader["token"].as_str().unwrap().to_owned();

    let err = promptreg(&server, &secret, &["push", path(&dir)])
        .await
        .fails(1);
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(err.contains("(forbidden"), "{err}");

    // The reader may still read.
    promptreg(&server, &secret, &["list"]).await.ok();

    let tokens = admin(&server, &["token", "list"]).await.ok();
    assert!(tokens.contains("dashboards"), "{tokens}");
    assert!(!tokens.contains(&secret), "secrets are never listed");

    let id = reader["id"].as_str().unwrap();
    let out = admin(&server, &["token", "revoke", id]).await.ok();
    assert!(out.contains("revoked"), "{out}");
    let err = promptreg(&server, &secret, &["list"]).await.fails(1);
    assert!(err.contains("HTTP 401"), "{err}");

    let err = promptreg(&server, "wrong", &["list"]).await.fails(1);
    assert!(err.contains("HTTP 401"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(["list"])
        .env("PROMPTREG_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: listing prompts: HTTP request failed"),
        "{err}"
    );
}
