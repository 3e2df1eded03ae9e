//! Resolve from memory with ETags; render with variable validation.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    resolve_follows_deploys_and_rollbacks_at_once,
    render_checks_variables_and_fills_placeholders
);

async fn resolve_follows_deploys_and_rollbacks_at_once(app: &TestApp) {
    let v1 = app.post("/v1/prompts/support%2Ftriage/versions", json!({"type": "text", "template": "one {{ name }}", "model": {"provider": "openai", "name": "gpt-4o"}})).await;
    app.push("support/triage", "two {{ name }}").await;
    app.env("production").await;
    app.env("staging").await;

    let none = app.get("/v1/resolve/support%2Ftriage").await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::NOT_FOUND, "not_deployed")
    );
    assert!(none.message().contains("production"));

    app.deploy("production", "support/triage", 1).await;
    app.deploy("staging", "support/triage", 2).await;
    let r = app
        .get("/v1/resolve/support%2Ftriage?subject=agent-7")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({
            "name": "support/triage", "version": 1, "digest": v1.body["digest"], "type": "text",
            "template": "one {{ name }}", "messages": null, "variables": null,
            "model": {"provider": "openai", "name": "gpt-4o"}, "env": "production"
        })
    );
    let etag = r.headers["etag"].to_str().unwrap().to_owned();
    assert!(
        r.headers.contains_key("x-request-id"),
        "resolve answers carry a request id"
    );
    let traced = app
        .raw(
            Method::GET,
            "/v1/resolve/support%2Ftriage",
            Some(ADMIN),
            vec![],
            &[("x-request-id", "agent-7-req-1")],
        )
        .await;
    assert_eq!(
        traced.headers["x-request-id"], "agent-7-req-1",
        "a client's request id is echoed"
    );
    let anonymous = app
        .raw(
            Method::GET,
            "/v1/resolve/support%2Ftriage",
            None,
            vec![],
            &[],
        )
        .await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let wrong_method = app
        .call(Method::DELETE, "/v1/resolve/support%2Ftriage", ADMIN, None)
        .await;
    assert_eq!(
        (wrong_method.status, wrong_method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    assert_eq!(etag, format!("\"{}\"", v1.body["digest"].as_str().unwrap()));
    let staged = app.get("/v1/resolve/support%2Ftriage?env=staging").await;
    assert_eq!(staged.body["version"], 2);

    let cached = app
        .raw(
            Method::GET,
            "/v1/resolve/support%2Ftriage",
            Some(ADMIN),
            vec![],
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert_eq!(cached.body, json!(null));

    // A deploy changes the answer (and so the ETag) immediately, and a rollback too.
    app.deploy("production", "support/triage", 2).await;
    let moved = app
        .raw(
            Method::GET,
            "/v1/resolve/support%2Ftriage",
            Some(ADMIN),
            vec![],
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(
        (moved.status, moved.body["version"].as_i64()),
        (StatusCode::OK, Some(2))
    );
    app.call(
        Method::POST,
        "/v1/environments/production/prompts/support%2Ftriage/rollback",
        ADMIN,
        None,
    )
    .await;
    let back = app
        .raw(
            Method::GET,
            "/v1/resolve/support%2Ftriage",
            Some(ADMIN),
            vec![],
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(
        back.status,
        StatusCode::NOT_MODIFIED,
        "back on version 1, whose ETag the client holds"
    );

    // A miss says what is missing: the environment, the prompt, or a deployment.
    let no_env = app.get("/v1/resolve/support%2Ftriage?env=nope").await;
    assert_eq!(no_env.code(), "not_found");
    assert!(
        no_env.message().contains("environment 'nope'"),
        "{}",
        no_env.message()
    );
    let no_prompt = app.get("/v1/resolve/nothing").await;
    assert_eq!(no_prompt.code(), "not_found");
    assert!(
        no_prompt.message().contains("prompt 'nothing'"),
        "{}",
        no_prompt.message()
    );
    let not_here = app
        .get("/v1/resolve/support%2Ftriage?env=development")
        .await;
    assert_eq!(not_here.code(), "not_deployed");
    assert_eq!(
        app.get("/v1/resolve/Bad%20Name").await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn render_checks_variables_and_fills_placeholders(app: &TestApp) {
    app.post("/v1/prompts/greet/versions", json!({
        "type": "text",
        "template": "Hello {{ name }}{% if vip %}, welcome back{% endif %}",
        "variables": {"type": "object", "properties": {"name": {"type": "string"}, "vip": {"type": "boolean"}}, "required": ["name"]}
    })).await;
    app.post("/v1/prompts/chat/versions", json!({
        "type": "chat",
        "messages": [{"role": "system", "content": "You help {{ team }}."}, {"type": "placeholder", "name": "history"}, {"role": "user", "content": "{{ question }}"}]
    })).await;
    app.env("production").await;
    app.deploy("production", "greet", 1).await;
    app.deploy("production", "chat", 1).await;

    let ok = app
        .post(
            "/v1/resolve/greet/render",
            json!({"variables": {"name": "Ada", "vip": true}}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["text"], "Hello Ada, welcome back");
    assert_eq!(
        (ok.body["version"].as_i64(), ok.body["env"].as_str()),
        (Some(1), Some("production"))
    );

    let wrong = app
        .post(
            "/v1/resolve/greet/render",
            json!({"variables": {"name": 5}}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.message().contains("variables.name"),
        "{}",
        wrong.message()
    );
    let missing = app
        .post("/v1/resolve/greet/render", json!({"variables": {}}))
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.message().contains("name"), "{}", missing.message());

    let chat = app.post("/v1/resolve/chat/render?env=production", json!({"variables": {
        "team": "support", "question": "Where is my order?",
        "history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    }})).await;
    assert_eq!(chat.status, StatusCode::OK, "{}", chat.body);
    let roles: Vec<_> = chat.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(chat.body["messages"][0]["content"], "You help support.");
    let undefined = app
        .post(
            "/v1/resolve/chat/render",
            json!({"variables": {"team": "x", "history": []}}),
        )
        .await;
    assert_eq!(undefined.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        undefined.message().contains("messages[2].content"),
        "{}",
        undefined.message()
    );
    assert_eq!(
        app.post("/v1/resolve/nope/render", json!({})).await.code(),
        "not_found"
    );
}
