//! NUL characters and bodies that are not objects (issue 11, defect 6): refused at the edge
//! alike on both backends (SQLite would store a NUL, PostgreSQL failed with a 500), naming the
//! field, and nothing is written.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::langfuse::{assert_error, create, key_pair};
use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    nul_in_any_field_is_refused_naming_it,
    nul_in_paths_and_queries_is_refused,
    bodies_must_be_objects
);

const NUL: &str = "a\u{0}b";

async fn nul_in_any_field_is_refused_naming_it(app: &TestApp) {
    app.env("production").await;
    app.push("p", "Hello {{ name }}").await;
    app.deploy("production", "p", 1).await;
    let auth = key_pair(app, "deployer").await;
    let events = app.events().await;
    let cases = [
        (
            "/v1/prompts/p/versions",
            Method::POST,
            json!({"type": "text", "template": NUL}),
            "template",
        ),
        (
            "/v1/prompts/p/versions",
            Method::POST,
            json!({"type": "chat", "messages": [{"role": "system", "content": "ok"}, {"role": "user", "content": NUL}]}),
            "messages[1].content",
        ),
        (
            "/v1/prompts/p/versions",
            Method::POST,
            json!({"type": "text", "template": "x", "metadata": {"rationale": NUL}}),
            "metadata.rationale",
        ),
        (
            "/v1/prompts/p/versions",
            Method::POST,
            json!({"type": "text", "template": "x", "metadata": {"tags": ["ok", NUL]}}),
            "metadata.tags[1]",
        ),
        (
            "/v1/prompts/p/versions",
            Method::POST,
            json!({"type": "text", "template": "x", "model": {"provider": "openai", "name": NUL}}),
            "model.name",
        ),
        (
            "/v1/prompts/p/versions",
            Method::POST,
            json!({"type": "text", "template": "x", "variables": {"type": "object", "properties": {NUL: {"type": "string"}}}}),
            "variables.properties.a\\0b",
        ),
        (
            "/v1/prompts/p/versions",
            Method::POST,
            json!({"type": "text", "template": "x", "commit_message": NUL}),
            "commit_message",
        ),
        (
            "/v1/environments",
            Method::POST,
            json!({"name": NUL}),
            "name",
        ),
        (
            "/v1/environments/production/prompts/p",
            Method::PUT,
            json!({"version": 1, "reason": NUL}),
            "reason",
        ),
        (
            "/v1/environments/production/prompts/p/rollback",
            Method::POST,
            json!({"reason": NUL}),
            "reason",
        ),
        (
            "/v1/tokens",
            Method::POST,
            json!({"name": NUL, "role": "reader"}),
            "name",
        ),
        (
            "/v1/resolve/p/render?env=production",
            Method::POST,
            json!({"variables": {"name": NUL}}),
            "variables.name",
        ),
    ];
    for (path, method, body, field) in cases {
        let a = app.call(method, path, ADMIN, Some(body.clone())).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{path} {body}"
        );
        assert!(
            a.message().contains(field) && a.message().contains("NUL"),
            "{path} {body}: {:?} should name {field:?}",
            a.message()
        );
    }

    // The Langfuse routes refuse it in their own error form.
    let lf = create(
        app,
        &auth,
        json!({"name": "q", "prompt": "x", "config": {"model": NUL}}),
    )
    .await;
    assert_error(
        &lf,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "config.model",
    );
    let chat = create(
        app,
        &auth,
        json!({"name": "q", "type": "chat", "prompt": [{"role": "user", "content": NUL}]}),
    )
    .await;
    assert_error(
        &chat,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "prompt[0].content",
    );

    // Nothing was written.
    assert_eq!(app.events().await, events);
    let versions = app.get("/v1/prompts/p/versions").await;
    assert_eq!(versions.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/v1/prompts/q").await.status, StatusCode::NOT_FOUND);
}

async fn nul_in_paths_and_queries_is_refused(app: &TestApp) {
    app.push("p", "x").await;
    for (path, names) in [
        ("/v1/prompts?prefix=a%00", "prefix"),
        ("/v1/prompts?tag=%00", "tag"),
        ("/v1/prompts/p/versions?agent_type=x%00", "agent_type"),
        ("/v1/environments/prod%00", "path"),
        ("/v1/prompts/p%00q", "path"),
        ("/v1/resolve/p?env=prod%00", "env"),
    ] {
        let a = app.get(path).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{path}: {}",
            a.body
        );
        assert!(a.message().contains(names), "{path}: {}", a.message());
    }
}

async fn bodies_must_be_objects(app: &TestApp) {
    app.env("production").await;
    app.push("p", "Hello {{ name }}").await;
    app.deploy("production", "p", 1).await;
    for (path, method, body) in [
        (
            "/v1/resolve/p/render?env=production",
            Method::POST,
            r#"[{"name": "Ada"}]"#,
        ),
        ("/v1/prompts/p/versions", Method::POST, r#"["text", "x"]"#),
        ("/v1/environments/production/prompts/p", Method::PUT, "[1]"),
        ("/v1/environments", Method::POST, r#""staging""#),
        ("/v1/tokens", Method::POST, r#"["ci", "admin"]"#),
    ] {
        let a = app
            .raw(method, path, Some(ADMIN), body.as_bytes().to_vec(), &[])
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {}",
            a.body
        );
        assert!(a.message().contains("JSON object"), "{}", a.message());
    }
    let auth = key_pair(app, "deployer").await;
    let lf = app
        .raw(
            Method::POST,
            super::langfuse::PROMPTS,
            None,
            br#"["q", "x"]"#.to_vec(),
            &[("authorization", auth.as_str())],
        )
        .await;
    assert_error(
        &lf,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "JSON object",
    );
}
