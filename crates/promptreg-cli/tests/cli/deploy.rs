//! `deploy`, `resolve`, `render`, `rollback` and `history`: a prompt's life in an environment.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir, write};

both_backends!(deploy_resolve_render_rollback_and_history);

async fn deploy_resolve_render_rollback_and_history(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();
    write(
        dir.path(),
        "greeting.yaml",
        "template: Hi {{ name }}, welcome back.\ncommit_message: warmer\n",
    );
    let out = admin(server, &["push", path(&dir)]).await.ok();
    assert!(out.contains("1 created, 1 unchanged"), "{out}");

    let env = admin(
        server,
        &[
            "env",
            "create",
            "prod-eu",
            "--protected",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(env["name"], "prod-eu");
    assert_eq!(env["protected"], true);

    let out = admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    assert!(out.contains("deployed greeting v1 to production"), "{out}");
    let record = admin(
        server,
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

    let resolved = admin(server, &["resolve", "greeting", "--output", "json"])
        .await
        .json();
    assert_eq!(resolved["version"], 2);
    assert_eq!(resolved["env"], "production");
    let text = admin(server, &["resolve", "greeting", "--env", "production"])
        .await
        .ok();
    assert!(text.contains("Hi {{ name }}, welcome back."), "{text}");

    let rendered = admin(server, &["render", "greeting", "--var", "name=Ada"])
        .await
        .ok();
    assert_eq!(rendered, "Hi Ada, welcome back.\n");
    let local = admin(
        server,
        &["render", "greeting", "--var", "name=Ada", "--local"],
    )
    .await
    .ok();
    assert_eq!(local, rendered);

    let back = admin(
        server,
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
    let rendered = admin(server, &["render", "greeting", "--var", "name=Ada"])
        .await
        .ok();
    assert_eq!(rendered, "Hello Ada!\n");

    let history = admin(
        server,
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
    let table = admin(server, &["history", "greeting", "--env", "production"])
        .await
        .ok();
    assert!(table.starts_with("SEQ"), "{table}");
    assert!(table.contains("too warm"), "{table}");

    // A chat prompt renders its messages with injected history.
    admin(
        server,
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
        server,
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
