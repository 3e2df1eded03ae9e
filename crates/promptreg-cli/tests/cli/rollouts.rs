//! `rollout start|status|list|promote|pause|resume|abort` and `resolve --subject`, against a
//! real server whose rollout controller runs every 250 ms: the tests poll `rollout status`
//! until the controller has acted, never sleep a fixed time.

use std::time::Duration;

use promptreg_server::testing::TestServer;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir, write};

both_backends!(
    canary_steps_pause_resume_and_promote_full,
    pause_resume_and_abort_keep_stable_live,
    watch_prints_a_line_per_change_until_the_end,
    bad_steps_are_named_before_anything_is_sent,
);

/// `greeting` with v1 live in production and v2 pushed.
async fn two_versions(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();
    write(dir.path(), "greeting.yaml", "template: Hi {{ name }}!\n");
    admin(server, &["push", path(&dir)]).await.ok();
    admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
}

/// `rollout status ID --output json`, read until `done` holds (10 s at most).
async fn status_until(server: &TestServer, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let view = admin(server, &["rollout", "status", id, "--output", "json"])
            .await
            .json();
        if done(&view) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("rollout {id} never reached the expected state");
}

async fn live_version(server: &TestServer) -> Value {
    admin(server, &["resolve", "greeting", "--output", "json"])
        .await
        .json()["version"]
        .clone()
}

async fn start(server: &TestServer, candidate: &str, canary: &str) -> String {
    let view = admin(
        server,
        &[
            "rollout",
            "start",
            "greeting",
            "--env",
            "production",
            "--candidate",
            candidate,
            "--canary",
            canary,
            "--reason",
            "try it",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(view["strategy_name"], "canary");
    view["id"].as_str().unwrap().to_owned()
}

async fn canary_steps_pause_resume_and_promote_full(server: &TestServer) {
    two_versions(server).await;
    let id = start(server, "2", "5%,pause,5000,approval,100%").await;

    // The controller's first pass sets the weight, then stops at the pause step.
    let view = status_until(server, &id, |v| v["status"] == "paused").await;
    assert_eq!(
        (view["weight"].as_u64(), view["step"].as_u64()),
        (Some(500), Some(1))
    );
    assert_eq!(view["paused_reason"], "pause_step");
    let text = admin(server, &["rollout", "status", &id]).await.ok();
    for needle in [
        "paused (pause_step)",
        "step 2/5",
        "[#...................] 5%",
        "[x]  1  set weight 5%",
        "[>]  2  pause until resumed",
        "[ ]  5  set weight 100%",
        "v1 (stable) → v2 (candidate)",
        "ARM",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    // The same rollout, found by prompt and environment.
    let by_pointer = admin(
        server,
        &[
            "rollout",
            "status",
            "greeting",
            "--env",
            "production",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(by_pointer["id"], id.as_str());

    // A subject learns its arm; the pointer itself has not moved.
    let resolved = admin(server, &["resolve", "greeting", "--subject", "agent-1"])
        .await
        .ok();
    assert!(
        resolved.contains(&format!("arm of rollout {id} (bucket ")),
        "{resolved}"
    );
    assert_eq!(live_version(server).await, 1);

    // resume completes the pause step; the controller raises the weight to the approval.
    let out = admin(
        server,
        &["rollout", "resume", &id, "--reason", "looks fine"],
    )
    .await
    .ok();
    assert!(out.contains(&id), "{out}");
    let view = status_until(server, &id, |v| v["paused_reason"] == "approval").await;
    assert_eq!(view["weight"], 5000);

    let out = admin(
        server,
        &["rollout", "promote", &id, "--full", "--reason", "ship"],
    )
    .await
    .ok();
    assert!(out.contains("promoted"), "{out}");
    assert_eq!(live_version(server).await, 2);
    let list = admin(
        server,
        &["rollout", "list", "greeting", "--env", "production"],
    )
    .await
    .ok();
    assert!(list.starts_with("ID"), "{list}");
    assert!(list.contains(&id) && list.contains("promoted"), "{list}");
}

async fn pause_resume_and_abort_keep_stable_live(server: &TestServer) {
    two_versions(server).await;
    // A long timed pause keeps it progressing, so a person's pause has something to pause.
    let id = start(server, "2", "10%,10m").await;
    status_until(server, &id, |v| v["weight"] == 1000).await;
    let paused = admin(server, &["rollout", "pause", &id, "--output", "json"])
        .await
        .json();
    assert_eq!(
        (&paused["status"], &paused["paused_reason"]),
        (&"paused".into(), &"manual".into())
    );
    // Pausing a paused rollout is refused in the API's words.
    let err = admin(server, &["rollout", "pause", &id]).await.fails(1);
    assert!(err.contains("invalid_rollout_state, HTTP 409"), "{err}");
    let resumed = admin(server, &["rollout", "resume", &id, "--output", "json"])
        .await
        .json();
    assert_eq!(resumed["status"], "progressing");
    let out = admin(
        server,
        &["rollout", "abort", &id, "--reason", "changed my mind"],
    )
    .await
    .ok();
    assert!(out.contains("aborted"), "{out}");
    assert_eq!(live_version(server).await, 1);
    let err = admin(server, &["rollout", "abort", &id, "--output", "json"])
        .await
        .fails(1);
    let envelope: Value = serde_json::from_str(err.trim().lines().last().unwrap()).unwrap();
    assert_eq!(envelope["error"]["code"], "rollout_finished");
    // No rollout in progress any more: said plainly.
    let err = admin(
        server,
        &["rollout", "status", "greeting", "--env", "production"],
    )
    .await
    .fails(1);
    assert!(
        err.contains("in environment 'production' (no_active_rollout, HTTP 404)"),
        "{err}"
    );
}

async fn watch_prints_a_line_per_change_until_the_end(server: &TestServer) {
    two_versions(server).await;
    let id = start(server, "2", "50%,1s").await;
    // stdout is a pipe here, so watch prints lines instead of redrawing.
    let out = admin(
        server,
        &[
            "rollout",
            "status",
            "greeting",
            "--env",
            "production",
            "--watch",
        ],
    )
    .await
    .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.iter().all(|l| l.starts_with(&id)), "{out}");
    assert!(
        !out.contains("\x1b["),
        "no terminal codes in a pipe:\n{out}"
    );
    assert!(lines.last().unwrap().contains("promoted"), "{out}");
    // One line per change: no two consecutive lines alike.
    assert!(lines.windows(2).all(|w| w[0] != w[1]), "{out}");
    assert_eq!(live_version(server).await, 2);
}

async fn bad_steps_are_named_before_anything_is_sent(server: &TestServer) {
    two_versions(server).await;
    let base = [
        "rollout",
        "start",
        "greeting",
        "--env",
        "production",
        "--candidate",
        "2",
    ];
    let err = admin(server, &[&base[..], &["--canary", "5%,5x,pause"]].concat())
        .await
        .fails(2);
    assert!(err.contains("--canary: item 2 `5x`"), "{err}");
    let err = admin(
        server,
        &[&base[..], &["--canary", "150%", "--output", "json"]].concat(),
    )
    .await
    .fails(2);
    let envelope: Value = serde_json::from_str(err.trim().lines().last().unwrap()).unwrap();
    assert_eq!(envelope["error"]["code"], "usage");
    assert!(envelope["error"]["message"]
        .as_str()
        .unwrap()
        .contains("item 1 `150%`"));
    // No strategy at all is clap's usage error.
    admin(server, &base).await.fails(2);
    // A steps file the server refuses: its 422 names the step.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("steps.json");
    std::fs::write(&file, r#"[{"set_weight": 500}, {"set_weight": 20000}]"#).unwrap();
    let err = admin(
        server,
        &[&base[..], &["--steps-file", file.to_str().unwrap()]].concat(),
    )
    .await
    .fails(1);
    assert!(err.contains("steps[1]"), "{err}");
    // Nothing was started.
    let list = admin(server, &["rollout", "list", "--output", "json"])
        .await
        .json();
    assert_eq!(list["items"], Value::Array(vec![]));
}
