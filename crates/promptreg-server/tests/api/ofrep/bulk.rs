//! Bulk evaluation: every prompt live in an environment, with an ETag over the answer.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{canary, evaluate, post_raw, FLAGS};
use crate::helpers::{Answer, TestApp, ADMIN};

async fn bulk(app: &TestApp, context: Value, if_none_match: Option<&str>) -> Answer {
    let body = serde_json::to_vec(&json!({ "context": context })).unwrap();
    let headers: Vec<(&str, &str)> = if_none_match
        .map(|t| vec![("if-none-match", t)])
        .unwrap_or_default();
    post_raw(app, FLAGS, Some(ADMIN), &body, &headers).await
}

fn keys(a: &Answer) -> Vec<&str> {
    a.body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect()
}

fn etag(a: &Answer) -> String {
    a.headers["etag"].to_str().unwrap().to_owned()
}

pub(crate) async fn bulk_evaluates_what_is_live_with_an_etag(app: &TestApp) {
    for name in ["b/two", "a/one", "c/three", "draft"] {
        app.push(name, &format!("{name} says {{{{ x }}}}")).await;
    }
    for name in ["b/two", "a/one"] {
        app.deploy("production", name, 1).await;
    }
    app.deploy("staging", "c/three", 1).await;

    let a = bulk(app, json!({"targetingKey": "agent-1"}), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        keys(&a),
        ["a/one", "b/two"],
        "live in production only, by name"
    );
    assert_eq!(
        a.body["metadata"],
        json!({"env": "production", "total": 2, "truncated": false})
    );
    // Each item is what the single route answers.
    for item in a.body["flags"].as_array().unwrap() {
        let key = item["key"].as_str().unwrap();
        let single = evaluate(app, key, json!({"targetingKey": "agent-1"})).await;
        assert_eq!(item, &single.body);
    }
    let tag = etag(&a);
    assert!(tag.starts_with('"') && tag.len() == 34, "{tag}");

    // Unchanged: 304 with the same tag; the context is part of the answer.
    let again = bulk(app, json!({"targetingKey": "agent-1"}), Some(&tag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{}", again.body);
    assert_eq!(etag(&again), tag);
    let weak = bulk(
        app,
        json!({"targetingKey": "agent-1"}),
        Some(&format!("W/{tag}")),
    )
    .await;
    assert_eq!(weak.status, StatusCode::NOT_MODIFIED);
    let staging = bulk(app, json!({"env": "staging"}), Some(&tag)).await;
    assert_eq!(staging.status, StatusCode::OK);
    assert_eq!(keys(&staging), ["c/three"]);
    assert_ne!(etag(&staging), tag);

    // A deploy changes the answer, and with it the tag.
    app.push("a/one", "a/one says {{ x }} twice").await;
    app.deploy("production", "a/one", 2).await;
    let moved = bulk(app, json!({"targetingKey": "agent-1"}), Some(&tag)).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["flags"][0]["variant"], "v2");
    assert_ne!(etag(&moved), tag);

    // `prefix` narrows the set; an environment with nothing live is an empty set; an unknown
    // one is an invalid context.
    let narrowed = bulk(app, json!({"prefix": "b/"}), None).await;
    assert_eq!(keys(&narrowed), ["b/two"]);
    let empty = bulk(app, json!({"env": "development"}), None).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body["flags"], json!([]));
    let unknown = bulk(app, json!({"env": "nowhere"}), None).await;
    super::assert_failure(
        &unknown,
        StatusCode::BAD_REQUEST,
        "INVALID_CONTEXT",
        "nowhere",
    );
}

pub(crate) async fn bulk_follows_rollouts_and_the_server_limit(app: &TestApp) {
    let id = canary(app, "greet").await;
    app.push("plain", "x").await;
    app.deploy("production", "plain", 1).await;

    // Without a targeting key the rollout's flag is a per-flag failure with the stable value.
    let a = bulk(app, json!({}), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let greet = &a.body["flags"][0];
    assert_eq!(greet["key"], "greet");
    assert_eq!(greet["errorCode"], "TARGETING_KEY_MISSING", "{greet}");
    assert_eq!(greet["value"]["version"], 1);
    assert_eq!(greet["metadata"]["rollout"], id.as_str());
    assert_eq!(a.body["flags"][1]["reason"], "STATIC");

    // With one, each subject gets its arm, as from the single route.
    for i in 0..40 {
        let subject = format!("s-{i}");
        let a = bulk(app, json!({"targetingKey": subject}), None).await;
        let single = evaluate(app, "greet", json!({"targetingKey": subject})).await;
        assert_eq!(a.body["flags"][0], single.body);
        assert_eq!(a.body["flags"][0]["reason"], "SPLIT");
    }

    // A server that answers at most 1 flag says the list was cut.
    let options = promptreg_server::registry::RegistryOptions {
        max_bulk_flags: 1,
        ..Default::default()
    };
    let small = app.restarted_with_options(options).await;
    let a = bulk(&small, json!({"targetingKey": "s-1"}), None).await;
    assert_eq!(keys(&a), ["greet"]);
    assert_eq!(
        a.body["metadata"],
        json!({"env": "production", "total": 2, "truncated": true})
    );
}
