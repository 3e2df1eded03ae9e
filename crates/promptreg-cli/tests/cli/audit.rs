//! `promptreg audit`: the audit log from the command line, as a table, as JSON pages and as an
//! export of JSON lines.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::admin;

both_backends!(the_audit_log_is_read_filtered_and_exported_from_the_cli);

async fn the_audit_log_is_read_filtered_and_exported_from_the_cli(server: &TestServer) {
    let client = reqwest::Client::new();
    let url = server.url();
    for template in ["one", "two"] {
        let answer = client
            .post(format!("{url}/v1/prompts/greet/versions"))
            .bearer_auth(server.admin_token())
            .json(&serde_json::json!({"type": "text", "template": template}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
    }
    admin(
        server,
        &[
            "deploy", "greet", "2", "--env", "staging", "--reason", "ship it",
        ],
    )
    .await
    .ok();

    let table = admin(server, &["audit", "--prompt", "greet"]).await.ok();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("ACTION") && lines[0].contains("BEFORE"),
        "{table}"
    );
    assert!(
        lines[1].contains("deploy") && lines[1].contains("ship it") && lines[1].contains("v2"),
        "{table}"
    );
    assert_eq!(lines.len(), 4, "{table}");

    let json = admin(
        server,
        &[
            "audit", "--action", "deploy", "--since", "1h", "--output", "json",
        ],
    )
    .await
    .json();
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{json}");
    assert_eq!(items[0]["after"]["version"], 2);
    assert_eq!(items[0]["reason"], "ship it");

    let export = admin(server, &["audit", "--jsonl", "--prompt", "greet"])
        .await
        .ok();
    let exported: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), 3);
    assert_eq!(exported[0]["action"], "deploy");
    assert_eq!(exported[2]["action"], "version_created");

    let none = admin(server, &["audit", "--until", "1h"]).await.ok();
    assert!(none.contains("no changes match"), "{none}");
    let bad = admin(server, &["audit", "--since", "yesterday"])
        .await
        .fails(2);
    assert!(bad.contains("--since"), "{bad}");
}
