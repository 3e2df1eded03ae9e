//! Tokens: roles are enforced by the server and revocation takes effect at once.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, promptreg, prompts_dir};

both_backends!(roles_are_enforced_and_revocation_is_immediate);

async fn roles_are_enforced_and_revocation_is_immediate(server: &TestServer) {
    let dir = prompts_dir();

    let reader = admin(
        server,
        &[
            "token",
            "create",
            "dashboards",
            "--role",
            "reader",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(reader["role"], "reader");
    let secret = reader["token"].as_str().unwrap().to_owned();

    let err = promptreg(server, &secret, &["push", path(&dir)])
        .await
        .fails(1);
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(err.contains("(forbidden"), "{err}");

    // The reader may still read.
    promptreg(server, &secret, &["list"]).await.ok();

    let tokens = admin(server, &["token", "list"]).await.ok();
    assert!(tokens.contains("dashboards"), "{tokens}");
    assert!(!tokens.contains(&secret), "secrets are never listed");

    let id = reader["id"].as_str().unwrap();
    let out = admin(server, &["token", "revoke", id]).await.ok();
    assert!(out.contains("revoked"), "{out}");
    let err = promptreg(server, &secret, &["list"]).await.fails(1);
    assert!(err.contains("HTTP 401"), "{err}");

    let err = promptreg(server, "wrong", &["list"]).await.fails(1);
    assert!(err.contains("HTTP 401"), "{err}");
}
