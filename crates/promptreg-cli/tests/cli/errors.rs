//! Exit codes and messages: server refusals exit 1, usage errors 2, an unreachable server 1.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir, write};

both_backends!(
    server_refusals_exit_1_with_the_server_message,
    usage_errors_exit_2
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
    admin(server, &["env", "create", "production"]).await.ok();
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
