//! `request`, `approve`, `reject`, `apply`, `requests` and `deploy --break-glass`: the
//! two-person flow for a protected environment, from the command line.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, promptreg, prompts_dir};

both_backends!(the_two_person_flow_from_the_command_line);

async fn token(server: &TestServer, role: &str) -> String {
    let t = admin(
        server,
        &["token", "create", role, "--role", role, "--output", "json"],
    )
    .await
    .json();
    t["token"].as_str().unwrap().to_owned()
}

async fn the_two_person_flow_from_the_command_line(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["env", "create", "prod-eu", "--protected"])
        .await
        .ok();
    let author = token(server, "author").await;
    let deployer = token(server, "deployer").await;
    let reviewer = token(server, "reviewer").await;
    promptreg(server, &author, &["push", path(&dir)]).await.ok();

    let err = promptreg(
        server,
        &deployer,
        &["deploy", "greeting", "1", "--env", "prod-eu"],
    )
    .await
    .fails(1);
    assert!(err.contains("approval_required"), "{err}");
    assert!(err.contains("promptreg request"), "{err}");

    let out = promptreg(
        server,
        &deployer,
        &[
            "request", "--env", "prod-eu", "greeting", "1", "--reason", "warmer",
        ],
    )
    .await
    .ok();
    assert!(out.contains("status"), "{out}");
    let r = promptreg(
        server,
        &deployer,
        &[
            "requests", "--status", "pending", "--env", "prod-eu", "--output", "json",
        ],
    )
    .await
    .json();
    let id = r["items"][0]["id"].as_str().unwrap().to_owned();

    let err = promptreg(server, &deployer, &["approve", &id])
        .await
        .fails(1);
    assert!(err.contains("HTTP 403"), "{err}");
    let err = promptreg(server, &deployer, &["apply", &id]).await.fails(1);
    assert!(err.contains("change_request_pending"), "{err}");

    let out = promptreg(server, &reviewer, &["approve", &id, "--comment", "lgtm"])
        .await
        .ok();
    assert!(out.contains("approved change request"), "{out}");
    assert!(out.contains("1/1"), "{out}");
    let list = admin(server, &["requests", "--status", "approved"])
        .await
        .ok();
    assert!(list.contains(&id), "{list}");

    let out = promptreg(server, &deployer, &["apply", &id]).await.ok();
    assert!(out.contains("deployed greeting v1 to prod-eu"), "{out}");
    let err = promptreg(server, &reviewer, &["reject", &id, "--comment", "late"])
        .await
        .fails(1);
    assert!(err.contains("change_request_applied"), "{err}");
    let resolved = admin(
        server,
        &[
            "resolve", "greeting", "--env", "prod-eu", "--output", "json",
        ],
    )
    .await
    .json();
    assert_eq!(resolved["version"], 1);

    // Break-glass: admins only, with a reason (clap refuses it without one).
    admin(
        server,
        &[
            "deploy",
            "support/triage",
            "1",
            "--env",
            "prod-eu",
            "--break-glass",
        ],
    )
    .await
    .fails(2);
    let err = promptreg(
        server,
        &deployer,
        &[
            "deploy",
            "support/triage",
            "1",
            "--env",
            "prod-eu",
            "--break-glass",
            "--reason",
            "x",
        ],
    )
    .await
    .fails(1);
    assert!(err.contains("HTTP 403"), "{err}");
    let out = admin(
        server,
        &[
            "deploy",
            "support/triage",
            "1",
            "--env",
            "prod-eu",
            "--break-glass",
            "--reason",
            "outage",
        ],
    )
    .await
    .ok();
    assert!(out.contains("BREAK-GLASS"), "{out}");
}
