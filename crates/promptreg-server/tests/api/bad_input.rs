//! Bad input gets the envelope with a message naming the problem, and changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    bad_versions_are_refused_and_store_nothing,
    malformed_requests_get_the_envelope
);

async fn bad_versions_are_refused_and_store_nothing(app: &TestApp) {
    app.push("p", "good").await;
    let cases = [
        (
            json!({"type": "text", "template": "{% if %}"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "template",
        ),
        (
            json!({"type": "text", "template": "{{ unclosed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "template",
        ),
        (
            json!({"type": "chat", "messages": [{"role": "user", "content": "{% for %}"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "messages[0].content",
        ),
        (
            json!({"type": "chat", "messages": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "messages",
        ),
        (
            json!({"type": "text", "messages": [{"role": "user", "content": "x"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "template",
        ),
        (
            json!({"type": "text", "template": "x", "variables": {"type": "bogus"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "variables",
        ),
        (
            json!({"type": "text", "template": "x", "variables": {"required": "name"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "variables",
        ),
        (
            json!({"type": "text", "template": "x", "model": "gpt-4o"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "model",
        ),
        (
            json!({"type": "text", "template": "x", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "colour",
        ),
        (
            json!({"type": "prose", "template": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type",
        ),
        (
            json!({"type": "text", "template": "x", "metadata": {"compat": {"tools": {"search": "one or two"}}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "metadata.compat.tools.search",
        ),
        (
            json!({"type": "text", "template": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "template",
        ),
    ];
    for (body, status, field) in cases {
        let a = app.post("/v1/prompts/p/versions", body.clone()).await;
        assert_eq!(a.status, status, "{body} -> {}", a.body);
        assert!(
            a.message().contains(field),
            "{body}: message {:?} should name {field:?}",
            a.message()
        );
    }
    let bad_name = app
        .post(
            "/v1/prompts/Support%2FTriage/versions",
            json!({"type": "text", "template": "x"}),
        )
        .await;
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_name.message().contains("prompt name"),
        "{}",
        bad_name.message()
    );
    let long = app
        .post(
            &format!("/v1/prompts/{}/versions", "a".repeat(201)),
            json!({"type": "text", "template": "x"}),
        )
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);

    // Nothing changed: still one version, one prompt, one event.
    let versions = app.get("/v1/prompts/p/versions").await;
    assert_eq!(versions.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/v1/prompts").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The project's three first environments, then the one version.
    assert_eq!(app.events().await, 4);
}

async fn malformed_requests_get_the_envelope(app: &TestApp) {
    let garbage = app
        .raw(
            Method::POST,
            "/v1/prompts/p/versions",
            Some(ADMIN),
            b"{not json".to_vec(),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(
        (garbage.status, garbage.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(garbage.message().contains("JSON"));
    let empty = app
        .raw(
            Method::POST,
            "/v1/prompts/p/versions",
            Some(ADMIN),
            vec![],
            &[],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    // The test router's limit is 64 KiB.
    let huge = json!({"type": "text", "template": "x".repeat(70 * 1024)});
    let too_big = app.post("/v1/prompts/p/versions", huge).await;
    assert_eq!(
        (too_big.status, too_big.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let limit = app.get("/v1/prompts?limit=0").await;
    assert_eq!(limit.status, StatusCode::BAD_REQUEST);
    assert!(limit.message().contains("limit"));
    assert_eq!(
        app.get("/v1/prompts?limit=501").await.status,
        StatusCode::BAD_REQUEST
    );
    let cursor = app.get("/v1/prompts?cursor=forged").await;
    assert_eq!(cursor.status, StatusCode::BAD_REQUEST);
    assert!(cursor.message().contains("cursor"));
    let unknown = app.get("/v1/nothing-here").await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let method = app.call(Method::DELETE, "/v1/prompts", ADMIN, None).await;
    assert_eq!(
        (method.status, method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let rollback = app
        .raw(
            Method::POST,
            "/v1/environments/production/prompts/p/rollback",
            Some(ADMIN),
            b"\"back\"".to_vec(),
            &[],
        )
        .await;
    assert_eq!(rollback.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.events().await == 3, "nothing was written");
}
