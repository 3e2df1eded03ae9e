//! Bad bodies, contexts and credentials on the OFREP routes: OFREP's error body and codes.

use axum::http::StatusCode;
use serde_json::json;

use super::{assert_failure, evaluate, post_raw, FLAGS};
use crate::helpers::{TestApp, ADMIN};

pub(crate) async fn bad_bodies_get_ofrep_error_codes(app: &TestApp) {
    app.push("p", "hello").await;
    app.deploy("production", "p", 1).await;
    let single = format!("{FLAGS}/p");
    let long_key = "k".repeat(513);
    let cases: [(&[u8], &str, &str); 11] = [
        (b"", "PARSE_ERROR", "body is required"),
        (b"{not json", "PARSE_ERROR", "invalid JSON"),
        (b"[1, 2]", "PARSE_ERROR", "JSON object"),
        (b"\"context\"", "PARSE_ERROR", "JSON object"),
        (
            b"{\"context\": 5}",
            "INVALID_CONTEXT",
            "context: must be an object, got a number",
        ),
        (b"{\"context\": [\"a\"]}", "INVALID_CONTEXT", "got an array"),
        (
            b"{\"context\": {\"targetingKey\": 7}}",
            "INVALID_CONTEXT",
            "context.targetingKey: must be a string",
        ),
        (
            b"{\"context\": {\"targetingKey\": {\"id\": 1}}}",
            "INVALID_CONTEXT",
            "got an object",
        ),
        (
            b"{\"context\": {\"env\": true}}",
            "INVALID_CONTEXT",
            "context.env: must be a string, got a boolean",
        ),
        (
            b"{\"context\": {\"env\": \"prod\\u0000uction\"}}",
            "INVALID_CONTEXT",
            "NUL",
        ),
        (
            b"{\"context\": {\"prefix\": 1}}",
            "INVALID_CONTEXT",
            "context.prefix",
        ),
    ];
    for (body, code, mentions) in cases {
        let shown = String::from_utf8_lossy(body);
        let a = post_raw(app, &single, Some(ADMIN), body, &[]).await;
        assert_failure(&a, StatusCode::BAD_REQUEST, code, mentions);
        assert_eq!(a.body["key"], "p", "{shown}");
        let bulk = post_raw(app, FLAGS, Some(ADMIN), body, &[]).await;
        assert_failure(&bulk, StatusCode::BAD_REQUEST, code, mentions);
        assert!(bulk.body.get("key").is_none(), "{shown}: {}", bulk.body);
    }
    let a = evaluate(app, "p", json!({"targetingKey": long_key})).await;
    assert_failure(
        &a,
        StatusCode::BAD_REQUEST,
        "INVALID_CONTEXT",
        "at most 512 bytes",
    );
    // Attributes promptreg does not read are accepted, whatever their type.
    let a = evaluate(
        app,
        "p",
        json!({"targetingKey": "u", "plan": {"tier": [1, 2]}, "beta": true}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // A body over the server's limit (64 KiB in tests).
    let huge = format!("{{\"context\": {{\"pad\": \"{}\"}}}}", "x".repeat(70_000));
    let a = post_raw(app, &single, Some(ADMIN), huge.as_bytes(), &[]).await;
    assert_failure(&a, StatusCode::PAYLOAD_TOO_LARGE, "GENERAL", "limit");
    // An empty key names no flag; other paths under /ofrep answer in OFREP's body too.
    let empty = post_raw(app, &format!("{FLAGS}/"), Some(ADMIN), b"{}", &[]).await;
    assert_failure(&empty, StatusCode::NOT_FOUND, "FLAG_NOT_FOUND", "");
    let other = post_raw(app, "/ofrep/v2/evaluate", Some(ADMIN), b"{}", &[]).await;
    assert_failure(&other, StatusCode::NOT_FOUND, "GENERAL", "no such route");
    // Nothing but POST.
    let get = app.get(&single).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED, "{}", get.body);
}

pub(crate) async fn authentication_and_authorization(app: &TestApp) {
    app.push("p", "hello").await;
    app.deploy("production", "p", 1).await;
    let body = br#"{"context": {"targetingKey": "a"}}"#;
    for path in [format!("{FLAGS}/p"), FLAGS.to_owned()] {
        let none = post_raw(app, &path, None, body, &[]).await;
        assert_failure(&none, StatusCode::UNAUTHORIZED, "GENERAL", "Authorization");
        let wrong = post_raw(app, &path, Some("prt_not-a-token"), body, &[]).await;
        assert_failure(&wrong, StatusCode::UNAUTHORIZED, "GENERAL", "invalid");
    }
    let single = post_raw(app, &format!("{FLAGS}/p"), None, body, &[]).await;
    assert_eq!(single.body["key"], "p");

    // A reader may evaluate; under a policy that lets only admins act, it may not.
    let reader = app.token("reader").await;
    let a = post_raw(app, &format!("{FLAGS}/p"), Some(&reader), body, &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let engine = promptreg_server::registry::CedarPolicy::builtin();
    let admins_only = engine
        .prepare(
            "@id(\"admins-only\") permit (principal in Role::\"admin\", action, resource);",
            "admins.cedar",
        )
        .unwrap();
    let options = promptreg_server::registry::RegistryOptions {
        policies: Some(admins_only),
        ..Default::default()
    };
    let strict = app.restarted_with_options(options).await;
    for path in [format!("{FLAGS}/p"), FLAGS.to_owned()] {
        let a = post_raw(&strict, &path, Some(&reader), body, &[]).await;
        assert_failure(&a, StatusCode::FORBIDDEN, "GENERAL", "");
        let admin = post_raw(&strict, &path, Some(ADMIN), body, &[]).await;
        assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);
    }
}

/// Past the limit of failed authentications, an address gets 429 with `Retry-After` (what an
/// OFREP provider backs off on) in OFREP's body.
#[tokio::test]
async fn failed_authentication_is_throttled_with_retry_after() {
    for backend in [
        crate::helpers::Backend::Sqlite,
        crate::helpers::Backend::Postgres,
    ] {
        let Some(app) = TestApp::new(backend).await else {
            continue;
        };
        let server = promptreg_server::testing::spawn_with_store(app.store.clone())
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}{FLAGS}/p", server.url());
        let post = |token: &'static str| {
            client
                .post(&url)
                .bearer_auth(token)
                .json(&json!({"context": {"targetingKey": "a"}}))
                .send()
        };
        for _ in 0..promptreg_server::throttle::DEFAULT_LIMIT {
            assert_eq!(post("wrong").await.unwrap().status(), 401);
        }
        let throttled = post(ADMIN).await.unwrap();
        assert_eq!(throttled.status(), 429);
        let wait: u64 = throttled.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let body: serde_json::Value = throttled.json().await.unwrap();
        assert_eq!(body["errorCode"], "GENERAL", "{body}");
        assert_eq!(body["key"], "p", "{body}");
        server.stop().await;
        app.finish().await;
    }
}
