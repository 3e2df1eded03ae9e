//! Exit codes and messages: server refusals exit 1, usage errors 2, an unreachable server 1.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir, write};

both_backends!(
    server_refusals_exit_1_with_the_server_message,
    usage_errors_exit_2,
    json_output_makes_errors_the_json_envelope
);

async fn server_refusals_exit_1_with_the_server_message(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();

    let err = admin(server, &["deploy", "greeting", "1", "--env", "nowhere"])
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

    let err = admin(server, &["get", "no-such-prompt"]).await.fails(1);
    assert!(err.contains("HTTP 404"), "{err}");

    // An invalid template is refused before anything is sent, naming file and field.
    write(dir.path(), "broken.yaml", "template: 'Hello {{ name'\n");
    let err = admin(server, &["push", path(&dir)]).await.fails(1);
    assert!(err.contains("broken.yaml: template:"), "{err}");
    let listed = admin(server, &["list", "--output", "json"]).await.json();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        2,
        "nothing was pushed"
    );

    // Rolling back with nothing to roll back to is a 409 from the server.
    admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    let err = admin(server, &["rollback", "greeting", "--env", "production"])
        .await
        .fails(1);
    assert!(err.contains("HTTP 409"), "{err}");
}

async fn usage_errors_exit_2(server: &TestServer) {
    for args in [
        &["deploy", "greeting", "one", "--env", "production"][..],
        &["get", "Not A Name"][..],
        &["render", "greeting", "--var", "novalue"][..],
        &["token", "create", "x", "--role", "root"][..],
        &["list", "--limit", "0"][..],
        &["frobnicate"][..],
    ] {
        let err = admin(server, args).await.fails(2);
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

/// The last line of stderr as JSON, asserting that stdout is empty.
fn envelope(run: crate::helpers::Run, code: i32) -> serde_json::Value {
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    let err = run.fails(code);
    let last = err.lines().last().unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {err}"));
    assert!(value["error"]["message"].is_string(), "{value}");
    value
}

async fn json_output_makes_errors_the_json_envelope(server: &TestServer) {
    let refused = envelope(
        admin(server, &["get", "no-such-prompt", "--output", "json"]).await,
        1,
    );
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
    assert_eq!(refused["error"]["status"], 404, "{refused}");
    // The server's message, without the code and status that text output appends.
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no-such-prompt") && !message.contains("HTTP 404"),
        "{refused}"
    );
    assert_eq!(
        refused["error"]["context"][0], "getting no-such-prompt",
        "{refused}"
    );

    // Usage errors, found by clap or by the command, are envelopes too (exit 2).
    for args in [
        &[
            "deploy",
            "greeting",
            "one",
            "--env",
            "production",
            "--output",
            "json",
        ][..],
        &["list", "--output=json", "--limit", "0"][..],
    ] {
        let usage = envelope(admin(server, args).await, 2);
        assert_eq!(usage["error"]["code"], "usage", "{args:?}: {usage}");
    }

    // A prompt file that does not validate: the CLI's own code.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broken.yaml", "template: 'Hello {{ name'\n");
    let local = envelope(
        admin(server, &["push", path(&dir), "--output", "json"]).await,
        1,
    );
    assert_eq!(local["error"]["code"], "cli_error", "{local}");
    assert!(
        local["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broken.yaml: template:"),
        "{local}"
    );

    // Text output is unchanged.
    let text = admin(server, &["get", "no-such-prompt"]).await.fails(1);
    assert!(text.starts_with("error: "), "{text}");
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
    let url = format!("http://127.0.0.1:{port}");
    let mut lines = err.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "error: cannot reach the promptreg server at {url}: is it running? ("
        )),
        "{err}"
    );
    // The cause is the operating system's, not the HTTP library's chain.
    assert!(first.to_lowercase().contains("refused"), "{err}");
    assert!(!first.contains("HTTP request failed"), "{err}");
    assert_eq!(lines.next(), Some("  while listing prompts"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_json_envelope_with_output_json() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(["list", "--output", "json"])
        .env("PROMPTREG_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .await
        .unwrap();
    let value = envelope(
        crate::helpers::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        1,
    );
    assert_eq!(value["error"]["code"], "unreachable", "{value}");
    assert!(value["error"].get("status").is_none(), "{value}");
}
