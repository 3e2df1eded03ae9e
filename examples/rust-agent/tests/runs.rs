//! The example runs against a real server (SQLite): it resolves, renders, reports each task's
//! outcome, and the server counts them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use promptreg_api::{CreateVersion, DeployRequest};
use promptreg_client::Client;
use promptreg_core::{EnvName, PromptName, PromptType, Version};
use promptreg_server::testing::{spawn_sqlite, TEST_ADMIN_TOKEN};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_loop_runs_against_a_real_server() {
    let server = spawn_sqlite().await.unwrap();
    let client = Client::new(server.url(), TEST_ADMIN_TOKEN).unwrap();
    let name = PromptName::parse("support/triage").unwrap();
    let body = CreateVersion {
        prompt_type: PromptType::Text,
        template: Some("Triage this ticket: {{ ticket }}".into()),
        messages: None,
        variables: Some(serde_json::json!({"type": "object", "required": ["ticket"]})),
        model: None,
        commit_message: None,
        metadata: None,
    };
    client.create_version(&name, &body).await.unwrap();
    let deploy = DeployRequest {
        version: Version::new(1).unwrap(),
        reason: None,
        break_glass: false,
    };
    client
        .deploy(&EnvName::parse("production").unwrap(), &name, &deploy)
        .await
        .unwrap();

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rust-agent"))
        .args([
            "--prompt",
            "support/triage",
            "--var",
            "ticket=My order is late",
            "--tasks",
            "7",
        ])
        .env("PROMPTREG_URL", server.url())
        .env("PROMPTREG_TOKEN", TEST_ADMIN_TOKEN)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8, "{stdout}");
    for task in &lines[..7] {
        assert_eq!(task["version"], 1, "{task}");
        assert_eq!(task["answer"], "ok (36 chars)", "{task}");
    }
    // Every outcome reached the server before the example exited.
    assert_eq!(lines[7]["status"]["outcomes_accepted"], 7, "{stdout}");
    server.stop().await;
}
