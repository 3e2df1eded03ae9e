//! A path that matches no route: 404 with the envelope, and a hint when the path holds a
//! prompt name whose `/` was not percent-encoded.

use axum::http::StatusCode;

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn an_unencoded_slash_in_a_prompt_name_gets_a_hint() {
    let app = TestApp::new(Backend::Sqlite).await.unwrap();
    app.push("support/triage", "Hello").await;
    app.env("production").await;

    for path in [
        "/v1/prompts/support/triage",
        "/v1/prompts/support/triage/versions",
        "/v1/prompts/support/triage/versions/1",
        "/v1/resolve/support/triage?env=production",
        "/v1/environments/production/prompts/support/triage/history",
        "/api/public/v2/prompts/support/triage",
    ] {
        let answer = app.get(path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.code(), "not_found", "{path}");
        assert!(
            answer
                .message()
                .contains("use support%2Ftriage for support/triage"),
            "{path}: {}",
            answer.message()
        );
    }
    // The encoded path is the route the hint points to.
    let answer = app.get("/v1/prompts/support%2Ftriage/versions/1").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Anything else that matches no route: no hint.
    for path in ["/v2/prompts/a/b", "/v1/nothing", "/v1/tokens/a/b"] {
        let answer = app.get(path).await;
        assert_eq!(
            (answer.status, answer.message()),
            (StatusCode::NOT_FOUND, "no such route"),
            "{path}"
        );
    }
    app.finish().await;
}
