//! Versions: immutable, numbered, idempotent by digest, listed, diffed.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    versions_are_numbered_idempotent_and_immutable,
    prompts_list_filters_and_pages,
    diff_shows_content_and_metadata_changes
);

async fn versions_are_numbered_idempotent_and_immutable(app: &TestApp) {
    let body = json!({
        "type": "text",
        "template": "Hello {{ name }}",
        "variables": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        "model": {"provider": "openai", "name": "gpt-4o", "params": {"temperature": 0.2}},
        "commit_message": "first",
        "metadata": {"rationale": "why", "tags": ["support"], "compat": {"agent_types": ["triage"], "tools": {"search": ">=1.2, <2"}}, "ticket": "T-1"}
    });
    let a = app
        .post("/v1/prompts/support%2Ftriage/versions", body.clone())
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["name"], "support/triage");
    assert_eq!(a.body["version"], 1);
    assert_eq!(a.body["created"], true);
    assert_eq!(a.body["parent"], json!(null));
    assert_eq!(a.body["metadata"]["ticket"], "T-1");
    assert!(a.body["created_by"].as_str().unwrap().contains("admin"));
    // The digest is computable offline: SHA-256 of the RFC 8785 form of the content members.
    let canonical = r#"{"model":{"name":"gpt-4o","params":{"temperature":0.2},"provider":"openai"},"template":"Hello {{ name }}","type":"text","variables":{"properties":{"name":{"type":"string"}},"required":["name"],"type":"object"}}"#;
    assert_eq!(
        a.body["digest"],
        format!("sha256:{}", hex::encode(Sha256::digest(canonical)))
    );

    // Same content, other metadata: nothing is created.
    let mut same = body.clone();
    same["commit_message"] = json!("again");
    let again = app
        .post("/v1/prompts/support%2Ftriage/versions", same)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        (
            again.body["version"].as_i64(),
            again.body["created"].as_bool()
        ),
        (Some(1), Some(false))
    );

    let v2 = app.push("support/triage", "Hi {{ name }}").await;
    assert_eq!(
        (
            v2.status,
            v2.body["version"].as_i64(),
            v2.body["parent"].as_i64()
        ),
        (StatusCode::CREATED, Some(2), Some(1))
    );

    let got = app.get("/v1/prompts/support%2Ftriage/versions/1").await;
    assert_eq!(got.body["template"], "Hello {{ name }}");
    assert_eq!(got.body["digest"], a.body["digest"]);
    assert!(got.body.get("created").is_none());
    assert_eq!(
        app.get("/v1/prompts/support%2Ftriage/versions/latest")
            .await
            .body["version"],
        2
    );
    let missing = app.get("/v1/prompts/support%2Ftriage/versions/9").await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert!(missing.message().contains("version 9"));

    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let a = app
            .call(
                method.clone(),
                "/v1/prompts/support%2Ftriage/versions/1",
                ADMIN,
                Some(json!({"type": "text", "template": "x"})),
            )
            .await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(a.code(), "immutable");
    }
    assert_eq!(
        app.get("/v1/prompts/support%2Ftriage/versions/1")
            .await
            .body["template"],
        "Hello {{ name }}"
    );

    // Newest first, paged with an opaque cursor.
    for i in 3..=5 {
        app.push("support/triage", &format!("v{i}")).await;
    }
    let p1 = app
        .get("/v1/prompts/support%2Ftriage/versions?limit=2")
        .await;
    let numbers = |a: &crate::helpers::Answer| {
        a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&p1), [5, 4]);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(&format!(
            "/v1/prompts/support%2Ftriage/versions?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(numbers(&p2), [3, 2]);
    let p3 = app
        .get(&format!(
            "/v1/prompts/support%2Ftriage/versions?limit=2&cursor={}",
            p2.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(numbers(&p3), [1]);
    assert_eq!(p3.body["next_cursor"], json!(null));
    // Latest compatible version for an agent type.
    let compat = app
        .get("/v1/prompts/support%2Ftriage/versions?agent_type=billing&limit=1")
        .await;
    assert_eq!(
        numbers(&compat),
        [5],
        "versions without agent types serve every agent"
    );
    let tagged = app
        .get("/v1/prompts/support%2Ftriage/versions?tag=support")
        .await;
    assert_eq!(numbers(&tagged), [1]);
}

async fn prompts_list_filters_and_pages(app: &TestApp) {
    for name in ["support/triage", "support/refund", "sales/pitch"] {
        app.push(name, "x").await;
    }
    app.post(
        "/v1/prompts/sales%2Fpitch/versions",
        json!({"type": "text", "template": "sell", "metadata": {"tags": ["hot"]}}),
    )
    .await;
    app.env("staging").await;
    app.deploy("staging", "support/triage", 1).await;
    let list = app.get("/v1/prompts?prefix=support%2F").await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["support/refund", "support/triage"]
    );
    assert_eq!(
        items[1]["environments"],
        json!([{"env": "staging", "version": 1}])
    );
    let hot = app.get("/v1/prompts?tag=hot").await;
    assert_eq!(hot.body["items"][0]["name"], "sales/pitch");
    assert_eq!(hot.body["items"][0]["latest_version"], 2);
    assert_eq!(hot.body["items"][0]["type"], "text");
    let page = app.get("/v1/prompts?limit=1").await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    let next = app
        .get(&format!(
            "/v1/prompts?limit=5&cursor={}",
            page.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(next.body["items"].as_array().unwrap().len(), 2);
    let one = app.get("/v1/prompts/support%2Ftriage").await;
    assert_eq!(one.body["latest_version"], 1);
    assert_eq!(
        app.get("/v1/prompts/support").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn diff_shows_content_and_metadata_changes(app: &TestApp) {
    app.post(
        "/v1/prompts/p/versions",
        json!({"type": "text", "template": "Hello\nworld\n", "commit_message": "one"}),
    )
    .await;
    app.post("/v1/prompts/p/versions", json!({"type": "text", "template": "Hello\nthere\n", "commit_message": "two", "metadata": {"tags": ["x"]}})).await;
    let d = app.get("/v1/prompts/p/diff").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert_eq!(
        (d.body["from"].as_i64(), d.body["to"].as_i64()),
        (Some(1), Some(2))
    );
    let text = d.body["diff"].as_str().unwrap();
    assert!(text.contains("-world") && text.contains("+there"), "{text}");
    let fields: Vec<_> = d.body["changed_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["commit_message", "metadata.tags"]);
    let same = app.get("/v1/prompts/p/diff?from=2&to=2").await;
    assert_eq!(same.body["diff"], "");
    assert_eq!(
        app.get("/v1/prompts/p/diff?to=1").await.status,
        StatusCode::NOT_FOUND,
        "nothing before version 1"
    );
    assert_eq!(
        app.get("/v1/prompts/p/diff?from=x").await.status,
        StatusCode::BAD_REQUEST
    );
}
