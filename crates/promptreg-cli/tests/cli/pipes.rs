//! Output into a pipe whose reader has gone away (`promptreg list | head -1`): the command
//! finishes its work quietly and exits 0, instead of panicking with "failed printing to
//! stdout: Broken pipe" and exit 101.

use std::process::Stdio;

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir, Run};

both_backends!(a_closed_stdout_is_a_quiet_stop);

/// Runs `promptreg <args>` as the admin with stdout a pipe whose read end is closed before the
/// command prints anything, so that its first write fails with EPIPE (every time, not only when
/// the output outgrows the pipe's buffer).
async fn with_closed_stdout(server: &TestServer, args: &[&str]) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(args)
        .env("PROMPTREG_URL", server.url())
        .env("PROMPTREG_TOKEN", server.admin_token())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the promptreg binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn a_closed_stdout_is_a_quiet_stop(server: &TestServer) {
    let dir = prompts_dir();

    // A push still pushes every file, although nobody reads its progress lines.
    let run = with_closed_stdout(server, &["push", path(&dir)]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "push");
    let listed = admin(server, &["list", "--output", "json"]).await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");

    admin(server, &["env", "create", "prod-eu"]).await.ok();
    admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    for args in [
        &["list"][..],
        &["list", "--output", "json"][..],
        &["get", "support/triage"][..],
        &["versions", "greeting"][..],
        &["history", "greeting", "--env", "production"][..],
        &["catalog", "--env", "production"][..],
        &["resolve", "greeting"][..],
        &["render", "greeting", "--var", "name=Ada"][..],
        &["env", "list"][..],
        &["token", "list"][..],
        &["--help"][..],
    ] {
        let run = with_closed_stdout(server, args).await;
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{args:?}");
    }

    // A failure is still reported on stderr with its exit code.
    let run = with_closed_stdout(server, &["get", "no-such-prompt"]).await;
    let err = run.fails(1);
    assert!(
        err.contains("HTTP 404") && !err.contains("panicked"),
        "{err}"
    );
}
