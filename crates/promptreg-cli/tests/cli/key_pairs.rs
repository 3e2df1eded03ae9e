//! `promptreg key-pair create`: the Langfuse SDK's credentials from the CLI.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, promptreg};

both_backends!(key_pairs_are_made_with_the_cli_and_authenticate_langfuse_routes);

async fn key_pairs_are_made_with_the_cli_and_authenticate_langfuse_routes(server: &TestServer) {
    let run = admin(
        server,
        &[
            "key-pair", "create", "sdk", "--role", "reader", "--output", "json",
        ],
    )
    .await;
    let pair = run.json();
    let public = pair["public_key"].as_str().unwrap();
    let secret = pair["secret_key"].as_str().unwrap();
    assert!(
        public.starts_with("pk-") && secret.starts_with("sk-"),
        "{pair}"
    );
    assert_eq!(pair["role"], "reader");

    // The pair is a credential of the Langfuse routes (Basic auth), with its role.
    let projects = reqwest::Client::new()
        .get(format!("{}/api/public/projects", server.url()))
        .basic_auth(public, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(projects.status(), 200);

    // Listed (without its secret) and revoked like a token.
    let listed = admin(server, &["token", "list", "--output", "json"])
        .await
        .json();
    let entry = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sdk")
        .unwrap()
        .clone();
    assert_eq!(entry["kind"], "key_pair", "{entry}");
    assert!(!listed.to_string().contains(secret));

    // Text output shows the secret once and says so; a non-admin may not make one.
    let text = admin(server, &["key-pair", "create", "ci", "--role", "author"]).await;
    assert!(text.stderr.contains("not shown again"), "{}", text.stderr);
    let out = text.ok();
    assert!(
        out.contains("public_key  pk-") && out.contains("secret_key  sk-"),
        "{out}"
    );
    let err = promptreg(
        server,
        secret,
        &["key-pair", "create", "x", "--role", "admin"],
    )
    .await
    .fails(1);
    assert!(
        err.contains("HTTP 401") || err.contains("HTTP 403"),
        "{err}"
    );
}
