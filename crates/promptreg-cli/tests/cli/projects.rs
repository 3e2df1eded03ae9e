//! `promptreg projects create|list` and the token grants (`--project`, `--environment`,
//! `--prompt-prefix`, `--expires-at`) from the CLI.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, promptreg};

both_backends!(projects_and_scoped_tokens_are_made_with_the_cli);

async fn projects_and_scoped_tokens_are_made_with_the_cli(server: &TestServer) {
    let out = admin(
        server,
        &[
            "projects",
            "create",
            "payments",
            "--description",
            "the payments team",
        ],
    )
    .await
    .ok();
    assert!(out.contains("created project payments"), "{out}");
    let err = admin(server, &["projects", "create", "payments"])
        .await
        .fails(1);
    assert!(err.contains("HTTP 409"), "{err}");
    let listed = admin(server, &["projects", "list", "-o", "json"])
        .await
        .json();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", "payments"]);
    let table = admin(server, &["projects", "list"]).await.ok();
    assert!(table.contains("the payments team"), "{table}");

    let token = admin(
        server,
        &[
            "tokens",
            "create",
            "ci",
            "--role",
            "deployer",
            "--project",
            "payments",
            "--environment",
            "staging",
            "--environment",
            "development",
            "--prompt-prefix",
            "checkout/",
            "--expires-at",
            "2099-01-01T00:00:00Z",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(token["project"], "payments", "{token}");
    assert_eq!(
        token["environments"],
        serde_json::json!(["staging", "development"])
    );
    assert_eq!(token["prompt_prefixes"], serde_json::json!(["checkout/"]));
    assert_eq!(token["expires_at"], "2099-01-01T00:00:00Z");
    let secret = token["token"].as_str().unwrap();
    // The token sees its own project only.
    let mine = promptreg(server, secret, &["projects", "list", "-o", "json"])
        .await
        .json();
    assert_eq!(mine["items"][0]["id"], "payments", "{mine}");
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    let err = promptreg(server, secret, &["projects", "create", "other"])
        .await
        .fails(1);
    assert!(err.contains("HTTP 403"), "{err}");

    let err = admin(
        server,
        &[
            "token",
            "create",
            "x",
            "--role",
            "reader",
            "--environment",
            "nowhere",
        ],
    )
    .await
    .fails(1);
    assert!(err.contains("HTTP 400") && err.contains("nowhere"), "{err}");
    let err = admin(
        server,
        &[
            "token",
            "create",
            "x",
            "--role",
            "reader",
            "--expires-at",
            "2001-01-01T00:00:00Z",
        ],
    )
    .await
    .fails(1);
    assert!(err.contains("expires_at"), "{err}");

    let pair = admin(
        server,
        &[
            "key-pair",
            "create",
            "sdk",
            "--role",
            "reader",
            "--project",
            "payments",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(pair["project"], "payments", "{pair}");

    admin(
        server,
        &[
            "tokens",
            "create",
            "dash",
            "--role",
            "reader",
            "--prompt-prefix",
            "ui/",
        ],
    )
    .await
    .ok();
    let tokens = admin(server, &["tokens", "list"]).await.ok();
    assert!(
        tokens.contains("LAST USED") && tokens.contains("dash"),
        "{tokens}"
    );
    assert!(
        tokens.contains("ui/") && tokens.contains("never"),
        "{tokens}"
    );
    assert!(!tokens.contains("ci "), "another project's token: {tokens}");
}
