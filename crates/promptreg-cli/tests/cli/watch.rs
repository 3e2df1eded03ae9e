//! `promptreg watch` (one line per change, `--output json` one event record per line, live,
//! ended by Ctrl-C or a closed stdout with exit 0) and `promptreg snapshot -o FILE` (the
//! signed envelope, verbatim).

use std::process::Stdio;
use std::time::Duration;

use promptreg_server::testing::TestServer;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir};

both_backends!(
    watch_prints_one_json_record_per_line_live_until_ctrl_c,
    watch_text_lines_and_a_closed_stdout,
    snapshot_writes_the_signed_envelope,
);

fn watch_child(server: &TestServer, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .arg("watch")
        .args(args)
        .env("PROMPTREG_URL", server.url())
        .env("PROMPTREG_TOKEN", server.admin_token())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the promptreg binary runs")
}

async fn watch_prints_one_json_record_per_line_live_until_ctrl_c(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();
    admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    admin(server, &["deploy", "greeting", "1", "--env", "staging"])
        .await
        .ok();

    let mut child = watch_child(
        server,
        &["--env", "production", "--after", "0", "--output", "json"],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("a line within 10 s")
            .unwrap()
            .expect("watch ended early");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON record ({e}): {line}"))
    };
    // The replay: two creations and production's deploy (not staging's).
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let record = next().await;
        assert!(record["seq"].as_i64().unwrap() > 0);
        kinds.push(record["change"]["event"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        kinds,
        ["version_created", "version_created", "pointer_moved"]
    );
    // Live.
    write_v2(&dir);
    admin(server, &["push", path(&dir)]).await.ok();
    admin(server, &["deploy", "greeting", "2", "--env", "production"])
        .await
        .ok();
    let created = next().await;
    assert_eq!(created["change"]["event"], "version_created");
    assert_eq!(created["change"]["version"], 2);
    let moved = next().await;
    assert_eq!(moved["change"]["event"], "pointer_moved");
    assert_eq!(
        (
            moved["change"]["from_version"].clone(),
            moved["change"]["to_version"].clone()
        ),
        (1.into(), 2.into())
    );
    assert!(moved["actor"].as_str().is_some());

    // Ctrl-C: a clean exit.
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

fn write_v2(dir: &tempfile::TempDir) {
    crate::helpers::write(dir.path(), "greeting.yaml", "template: Hi {{ name }}!\n");
}

async fn watch_text_lines_and_a_closed_stdout(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();
    admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    let mut child = watch_child(server, &["--after", "0", "--prefix", "greet"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(
            tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
        );
    }
    assert!(
        got[0].contains("  version_created  greeting  -  v1  "),
        "{got:?}"
    );
    assert!(
        got[1].contains("  pointer_moved (deploy)  greeting  production  -->v1  "),
        "{got:?}"
    );
    // The reader goes away: the next line fails to print and watch stops, exit 0.
    drop(lines);
    write_v2(&dir);
    admin(server, &["push", path(&dir)]).await.ok();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    // An unknown environment is refused at once.
    let run = admin(server, &["watch", "--env", "nowhere"]).await;
    let stderr = run.fails(1);
    assert!(stderr.contains("nowhere"), "{stderr}");
}

async fn snapshot_writes_the_signed_envelope(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();
    admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("prod.json");
    let file_arg = file.to_str().unwrap();
    let printed = admin(server, &["snapshot", "--env", "production", "-o", file_arg])
        .await
        .ok();
    assert!(
        printed.contains("1 prompts live in production"),
        "{printed}"
    );
    let envelope: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        envelope["payloadType"],
        "application/vnd.promptreg.env-snapshot+json"
    );
    assert_eq!(envelope["signatures"].as_array().unwrap().len(), 1);
    let payload = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        envelope["payload"].as_str().unwrap(),
    )
    .unwrap();
    let snap: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(snap["prompts"][0]["name"], "greeting");
    assert_eq!(snap["prompts"][0]["live"]["version"], 1);

    let summary = admin(
        server,
        &[
            "snapshot",
            "--env",
            "production",
            "--prefix",
            "support/",
            "--file",
            file_arg,
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(summary["prompts"], 0);
    assert_eq!(summary["prefix"], "support/");

    let stderr = admin(server, &["snapshot", "--env", "nowhere", "-o", file_arg])
        .await
        .fails(1);
    assert!(stderr.contains("nowhere"), "{stderr}");
}
