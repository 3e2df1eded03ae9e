//! `promptreg serve` as its own command: only server options in its help, and logs without
//! colour codes when they do not go to a terminal.

use std::process::Stdio;

/// `promptreg <args> --help` (stdout).
async fn help(args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(args)
        .arg("--help")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn client_options_belong_to_client_commands_only() {
    let serve = help(&["serve"]).await;
    assert!(serve.contains("--listen"), "{serve}");
    assert!(
        serve.contains("--tls-cert") && serve.contains("--tls-key"),
        "{serve}"
    );
    for client_option in ["--url", "--token", "--ca-cert", "--output", "PROMPTREG_URL"] {
        assert!(!serve.contains(client_option), "serve --help: {serve}");
    }
    for command in [
        &["list"][..],
        &["token", "create"][..],
        &["key-pair", "create"][..],
    ] {
        let text = help(command).await;
        for client_option in ["--url", "--token", "--ca-cert", "--output"] {
            assert!(text.contains(client_option), "{command:?} --help: {text}");
        }
    }
    // The client options are accepted after the subcommand, at any depth; `serve` refuses them.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(["serve", "--url", "http://127.0.0.1:1"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn logs_to_a_file_or_pipe_carry_no_colour_codes() {
    // The port is taken, so the server logs its start and exits on the bind error: no waiting.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args([
            "serve",
            "--listen",
            &taken.local_addr().unwrap().to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("PROMPTREG_ADMIN_TOKEN", "logs-test-token")
        .env_remove("PROMPTREG_DATABASE_URL")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{logs}");
    assert!(logs.contains("starting promptreg"), "{logs}");
    assert!(logs.contains("binding"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escape codes in: {logs:?}");
}
