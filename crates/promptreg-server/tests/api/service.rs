//! Health, readiness, metrics and the OpenAPI document.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    service_routes_answer_without_auth,
    openapi_documents_every_route
);

async fn service_routes_answer_without_auth(app: &TestApp) {
    assert_eq!(
        app.raw(Method::GET, "/healthz", None, vec![], &[])
            .await
            .status,
        StatusCode::OK
    );
    // With PostgreSQL a replica is ready once its change feed listens (a few ms after start).
    let start = std::time::Instant::now();
    let ready = loop {
        let ready = app.raw(Method::GET, "/readyz", None, vec![], &[]).await;
        if ready.status == StatusCode::OK || start.elapsed() > std::time::Duration::from_secs(5) {
            break ready;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );

    app.push("support/triage", "x").await;
    app.env("production").await;
    app.deploy("production", "support/triage", 1).await;
    for _ in 0..3 {
        app.get("/v1/resolve/support%2Ftriage").await;
    }
    app.call(
        Method::POST,
        "/v1/environments/production/prompts/support%2Ftriage/rollback",
        crate::helpers::ADMIN,
        Some(json!({})),
    )
    .await;
    let metrics = app.raw(Method::GET, "/metrics", None, vec![], &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains(r#"promptreg_resolves_total{project="default",env="production",prompt="support/triage",version="1"} 3"#), "{text}");
    assert!(text.contains(r#"route="/v1/resolve/{name}""#), "{text}");
    assert!(text.contains("promptreg_http_request_duration_seconds_bucket"));
    assert!(
        text.contains(
            r#"promptreg_pointer_moves_total{project="default",env="production",kind="deploy"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("promptreg_versions_created_total 1"),
        "{text}"
    );
    let id = app
        .get("/v1/prompts")
        .await
        .headers
        .get("x-request-id")
        .cloned();
    assert!(id.is_some(), "every answer carries a request id");
}

async fn openapi_documents_every_route(app: &TestApp) {
    let doc = app
        .raw(Method::GET, "/openapi.json", None, vec![], &[])
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/prompts", "get"),
        ("/v1/prompts/{name}", "get"),
        ("/v1/prompts/{name}/diff", "get"),
        ("/v1/prompts/{name}/versions", "post"),
        ("/v1/prompts/{name}/versions", "get"),
        ("/v1/prompts/{name}/versions/{version}", "get"),
        ("/v1/prompts/{name}/versions/{version}", "put"),
        ("/v1/environments", "post"),
        ("/v1/environments", "get"),
        ("/v1/environments/{env}", "get"),
        ("/v1/environments/{env}/catalog", "get"),
        ("/v1/environments/{env}/prompts/{name}", "put"),
        ("/v1/environments/{env}/prompts/{name}/rollback", "post"),
        ("/v1/environments/{env}/prompts/{name}/history", "get"),
        ("/v1/resolve/{name}", "get"),
        ("/v1/resolve/{name}/render", "post"),
        ("/v1/tokens", "post"),
        ("/v1/tokens", "get"),
        ("/v1/tokens/{id}", "delete"),
        ("/v1/key-pairs", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    assert!(doc.body["components"]["schemas"]["CreateVersion"].is_object());
}

/// First start generates the admin token into `<data-dir>/admin-token` (mode 0600); later
/// starts reuse it; `PROMPTREG_ADMIN_TOKEN` (the config's `admin_token`) wins when set.
#[cfg(unix)]
#[tokio::test]
async fn admin_token_is_generated_once_and_kept_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let config = promptreg_server::Config::for_data_dir(dir.path().join("data"));
    let first = promptreg_server::build_state(&config).await.unwrap();
    let path = dir.path().join("data/admin-token");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert!(token.len() > 30, "a long random token: {token:?}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(first
        .registry
        .tokens()
        .authenticate(&format!("Bearer {token}"))
        .is_some());
    drop(first);

    let again = promptreg_server::build_state(&config).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        token,
        "reused, not regenerated"
    );
    assert!(again
        .registry
        .tokens()
        .authenticate(&format!("Bearer {token}"))
        .is_some());
    drop(again);

    let mut configured = config.clone();
    configured.admin_token = Some("from-the-environment".into());
    let state = promptreg_server::build_state(&configured).await.unwrap();
    assert!(state
        .registry
        .tokens()
        .authenticate("Bearer from-the-environment")
        .is_some());
    assert!(state
        .registry
        .tokens()
        .authenticate(&format!("Bearer {token}"))
        .is_none());
}
