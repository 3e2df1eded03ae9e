//! The Langfuse public prompt API: what an unmodified Langfuse SDK sends, with a key pair.

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Answer, TestApp};

mod errors;
mod scale;

use scale::a_page_of_a_large_list_reads_one_page;

both_backends!(
    labels_are_environments,
    chat_prompts_and_folders_round_trip,
    list_is_paged_by_page_number,
    a_page_of_a_large_list_reads_one_page,
);

pub(crate) const PROMPTS: &str = "/api/public/v2/prompts";

/// Creates a key pair of `role` and returns its Basic `Authorization` value.
pub(crate) async fn key_pair(app: &TestApp, role: &str) -> String {
    let kp = app
        .post("/v1/key-pairs", json!({"name": "sdk", "role": role}))
        .await;
    assert_eq!(kp.status, StatusCode::CREATED, "{}", kp.body);
    let pair = format!(
        "{}:{}",
        kp.body["public_key"].as_str().unwrap(),
        kp.body["secret_key"].as_str().unwrap()
    );
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

pub(crate) async fn lf(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> Answer {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let headers = [
        ("authorization", auth),
        ("content-type", "application/json"),
    ];
    app.raw(method, path, None, bytes, &headers).await
}

pub(crate) async fn get(app: &TestApp, path: &str, auth: &str) -> Answer {
    lf(app, Method::GET, path, auth, None).await
}

pub(crate) async fn create(app: &TestApp, auth: &str, body: Value) -> Answer {
    lf(app, Method::POST, PROMPTS, auth, Some(body)).await
}

/// Asserts a Langfuse error answer.
pub(crate) fn assert_error(a: &Answer, status: StatusCode, error: &str, mentions: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"], error, "{}", a.body);
    let message = a.body["message"].as_str().unwrap();
    assert!(
        message.contains(mentions),
        "{message:?} should mention {mentions:?}"
    );
}

async fn labels_are_environments(app: &TestApp) {
    app.env("production").await;
    app.env("staging").await;
    let auth = key_pair(app, "deployer").await;
    // Exactly what SDK 5.0.4 sends for a text prompt: no `type`, `tags: null`.
    let v1 = create(
        app,
        &auth,
        json!({"name": "critic", "prompt": "Rate {{movie}}.", "config": {},
        "labels": ["production"], "tags": ["films"], "commitMessage": "first"}),
    )
    .await;
    assert_eq!(v1.status, StatusCode::CREATED, "{}", v1.body);
    assert_eq!(v1.body["id"], "critic@1");
    assert_eq!(v1.body["type"], "text");
    assert_eq!(v1.body["version"], 1);
    assert_eq!(v1.body["prompt"], "Rate {{movie}}.");
    assert_eq!(v1.body["config"], json!({}));
    assert_eq!(v1.body["labels"], json!(["production", "latest"]));
    assert_eq!(v1.body["tags"], json!(["films"]));
    assert_eq!(v1.body["commitMessage"], "first");
    assert_eq!(v1.body["isActive"], true);
    assert_eq!(v1.body["resolutionGraph"], Value::Null);
    let created_at = v1.body["createdAt"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.len() == 24,
        "{created_at}"
    );

    let config = json!({"model": "gpt-4o", "temperature": 0.7});
    let v2 = create(
        app,
        &auth,
        json!({"name": "critic", "prompt": "Rate {{movie}} harshly.",
        "config": config, "labels": [], "tags": null, "commitMessage": null}),
    )
    .await;
    assert_eq!(v2.status, StatusCode::CREATED, "{}", v2.body);
    assert_eq!(v2.body["version"], 2);
    assert_eq!(
        v2.body["tags"],
        json!(["films"]),
        "tags: null keeps the previous tags"
    );
    assert_eq!(v2.body["labels"], json!(["latest"]));
    assert_eq!(v2.body["isActive"], false);

    // Default label is production; `latest` and version numbers work too.
    let prod = get(app, &format!("{PROMPTS}/critic"), &auth).await;
    assert_eq!(
        (prod.status, prod.body["version"].as_i64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(prod.body["labels"], json!(["production"]));
    let latest = get(app, &format!("{PROMPTS}/critic?label=latest"), &auth).await;
    assert_eq!(latest.body["version"], 2);
    let by_version = get(
        app,
        &format!("{PROMPTS}/critic?version=2&resolve=false"),
        &auth,
    )
    .await;
    assert_eq!(by_version.body["config"], config);
    assert_eq!(by_version.body["prompt"], "Rate {{movie}} harshly.");
    assert_eq!(
        get(app, &format!("{PROMPTS}/critic?label=staging"), &auth)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // PATCH moves production to v2: a promptreg deploy, so native resolve follows.
    let moved = lf(
        app,
        Method::PATCH,
        &format!("{PROMPTS}/critic/versions/2"),
        &auth,
        Some(json!({"newLabels": ["production", "staging"]})),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(
        moved.body["labels"],
        json!(["production", "staging", "latest"])
    );
    assert_eq!(
        get(app, &format!("{PROMPTS}/critic"), &auth).await.body["version"],
        2
    );
    let old = get(app, &format!("{PROMPTS}/critic?version=1"), &auth).await;
    assert_eq!(old.body["labels"], json!([]), "the label left version 1");
    let native = app.get("/v1/resolve/critic?env=production").await;
    assert_eq!(native.body["version"], 2);
    let history = app
        .get("/v1/environments/production/prompts/critic/history")
        .await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 2);

    // Pushing the same content again creates nothing, but labels still apply.
    let again = create(
        app,
        &auth,
        json!({"name": "critic", "prompt": "Rate {{movie}} harshly.",
        "config": config, "labels": ["production"]}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["version"], 2);
    let versions = app.get("/v1/prompts/critic/versions").await;
    assert_eq!(versions.body["items"].as_array().unwrap().len(), 2);
}

async fn chat_prompts_and_folders_round_trip(app: &TestApp) {
    app.env("production").await;
    let auth = key_pair(app, "deployer").await;
    let messages = json!([
        {"role": "system", "content": "You review {{topic}}."},
        {"type": "placeholder", "name": "history"},
        {"type": "chatmessage", "role": "user", "content": "{{question}}"}
    ]);
    let created = create(
        app,
        &auth,
        json!({"name": "team/reviewer", "type": "chat",
        "prompt": messages, "labels": ["production", "latest"], "tags": null}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let got = get(app, &format!("{PROMPTS}/team%2Freviewer"), &auth).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(got.body["type"], "chat");
    assert_eq!(got.body["name"], "team/reviewer");
    assert_eq!(got.body["tags"], json!([]));
    assert_eq!(
        got.body["prompt"],
        json!([
            {"role": "system", "content": "You review {{topic}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"}
        ])
    );
    // A prompt keeps its type.
    let text = create(
        app,
        &auth,
        json!({"name": "team/reviewer", "prompt": "plain"}),
    )
    .await;
    assert_error(
        &text,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "chat",
    );
}

async fn list_is_paged_by_page_number(app: &TestApp) {
    app.env("production").await;
    let auth = key_pair(app, "deployer").await;
    for (name, labels) in [
        ("a", json!(["production"])),
        ("b", json!([])),
        ("c", json!([])),
    ] {
        let a = create(
            app,
            &auth,
            json!({"name": name, "prompt": "one", "labels": labels,
            "tags": ["t"]}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    }
    create(
        app,
        &auth,
        json!({"name": "a", "prompt": "two", "config": {"x": 1}}),
    )
    .await;

    let first = get(app, &format!("{PROMPTS}?limit=2"), &auth).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let meta = json!({"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2});
    assert_eq!(
        (&first.body["meta"], &first.body["pagination"]),
        (&meta, &meta)
    );
    let a = &first.body["data"][0];
    assert_eq!(
        (a["name"].as_str(), a["type"].as_str()),
        (Some("a"), Some("text"))
    );
    assert_eq!(a["versions"], json!([1, 2]));
    assert_eq!(a["labels"], json!(["production", "latest"]));
    assert_eq!(a["tags"], json!(["t"]));
    assert_eq!(a["lastConfig"], json!({"x": 1}));
    let second = get(app, &format!("{PROMPTS}?limit=2&page=2"), &auth).await;
    let names: Vec<_> = second.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("c")]);
    let by_label = get(app, &format!("{PROMPTS}?label=production"), &auth).await;
    assert_eq!(by_label.body["meta"]["totalItems"], 1);
    let by_name = get(app, &format!("{PROMPTS}?name=b"), &auth).await;
    assert_eq!(by_name.body["data"][0]["name"], "b");
    assert_eq!(by_name.body["meta"]["totalItems"], 1);
    let bad = get(app, &format!("{PROMPTS}?limit=101"), &auth).await;
    assert_error(
        &bad,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "limit",
    );
}
