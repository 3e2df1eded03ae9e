//! Langfuse-form errors, roles and the OpenAPI entries of the compatibility routes.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{assert_error, create, get, key_pair, lf, PROMPTS};
use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    errors_use_the_langfuse_body,
    roles_apply_to_key_pairs,
    labels_create_environments_for_deployers_atomically,
    a_prompt_keeps_its_type_on_both_apis,
);

/// Langfuse treats labels as free-form: the SDK's first call on a fresh server,
/// `create_prompt(..., labels=["production"])`, works, and a new label becomes an environment,
/// recorded like any other, when the caller may deploy. A caller who may not changes nothing.
async fn labels_create_environments_for_deployers_atomically(app: &TestApp) {
    let deployer = key_pair(app, "deployer").await;
    let first = create(
        app,
        &deployer,
        json!({"name": "q", "prompt": "x", "labels": ["production"]}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["labels"], json!(["production", "latest"]));
    let canary = create(
        app,
        &deployer,
        json!({"name": "q", "prompt": "y", "labels": ["canary"]}),
    )
    .await;
    assert_eq!(canary.status, StatusCode::CREATED, "{}", canary.body);
    assert_eq!(canary.body["labels"], json!(["canary", "latest"]));
    let env = app.get("/v1/environments/canary").await;
    assert_eq!(env.status, StatusCode::OK, "{}", env.body);
    assert_eq!(env.body["protected"], false);
    let history = app.get("/v1/environments/canary/prompts/q/history").await;
    assert_eq!(history.body["items"][0]["to_version"], 2);

    let author = key_pair(app, "author").await;
    let refused = create(
        app,
        &author,
        json!({"name": "q", "prompt": "z", "labels": ["beta"]}),
    )
    .await;
    assert_error(
        &refused,
        StatusCode::FORBIDDEN,
        "AccessDeniedError",
        "deploy",
    );
    assert_eq!(
        app.get("/v1/environments/beta").await.status,
        StatusCode::NOT_FOUND
    );
    let versions = app.get("/v1/prompts/q/versions").await;
    assert_eq!(
        versions.body["items"][0]["version"], 2,
        "the refused create left no version behind"
    );
}

/// One rule in the service layer: a prompt's type never changes, whichever API is used.
async fn a_prompt_keeps_its_type_on_both_apis(app: &TestApp) {
    let auth = key_pair(app, "author").await;
    create(app, &auth, json!({"name": "t", "prompt": "x"})).await;
    let chat = create(
        app,
        &auth,
        json!({"name": "t", "type": "chat", "prompt": [{"role": "system", "content": "x"}]}),
    )
    .await;
    assert_error(
        &chat,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "text",
    );
    let native = app
        .post(
            "/v1/prompts/t/versions",
            json!({"type": "chat", "messages": [{"role": "system", "content": "x"}]}),
        )
        .await;
    assert_eq!(
        (native.status, native.code()),
        (StatusCode::CONFLICT, "type_change")
    );
    assert!(native.message().contains("text"), "{}", native.message());
}

async fn errors_use_the_langfuse_body(app: &TestApp) {
    app.env("production").await;
    let auth = key_pair(app, "deployer").await;
    create(app, &auth, json!({"name": "p", "prompt": "x"})).await;

    let missing = get(app, &format!("{PROMPTS}/nope"), &auth).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "NotFoundError", "nope");
    let no_label = get(app, &format!("{PROMPTS}/p"), &auth).await;
    assert_error(
        &no_label,
        StatusCode::NOT_FOUND,
        "NotFoundError",
        "production",
    );
    let both = get(app, &format!("{PROMPTS}/p?version=1&label=latest"), &auth).await;
    assert_error(
        &both,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "both",
    );
    let anonymous = app
        .raw(Method::GET, &format!("{PROMPTS}/p"), None, vec![], &[])
        .await;
    assert_error(
        &anonymous,
        StatusCode::UNAUTHORIZED,
        "UnauthorizedError",
        "Authorization",
    );
    let wrong = get(app, &format!("{PROMPTS}/p"), "Basic cGstbGYtMTpzay1sZi0y").await;
    assert_error(
        &wrong,
        StatusCode::UNAUTHORIZED,
        "UnauthorizedError",
        "invalid",
    );
    let delete = lf(app, Method::DELETE, &format!("{PROMPTS}/p"), &auth, None).await;
    assert_error(
        &delete,
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowedError",
        "immutable",
    );

    let unknown = create(
        app,
        &auth,
        json!({"name": "p", "prompt": "y", "labels": ["Canary!"]}),
    )
    .await;
    assert_error(
        &unknown,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "Canary!",
    );
    assert_eq!(
        get(app, &format!("{PROMPTS}/p?label=latest"), &auth)
            .await
            .body["version"],
        1,
        "a refused create creates nothing"
    );
    let mustache = create(
        app,
        &auth,
        json!({"name": "p", "prompt": "{{#items}}x{{/items}}"}),
    )
    .await;
    assert_error(
        &mustache,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "prompt",
    );
    let config = create(
        app,
        &auth,
        json!({"name": "p", "prompt": "y", "config": [1]}),
    )
    .await;
    assert_error(
        &config,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "config",
    );
    let latest = lf(
        app,
        Method::PATCH,
        &format!("{PROMPTS}/p/versions/1"),
        &auth,
        Some(json!({"newLabels": ["latest"]})),
    )
    .await;
    assert_error(
        &latest,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "latest",
    );
    let no_version = lf(
        app,
        Method::PATCH,
        &format!("{PROMPTS}/p/versions/9"),
        &auth,
        Some(json!({"newLabels": ["production"]})),
    )
    .await;
    assert_error(&no_version, StatusCode::NOT_FOUND, "NotFoundError", "9");
    let bad_json = lf(
        app,
        Method::PATCH,
        &format!("{PROMPTS}/p/versions/1"),
        &auth,
        Some(json!({"labels": []})),
    )
    .await;
    assert_error(
        &bad_json,
        StatusCode::BAD_REQUEST,
        "InvalidRequestError",
        "newLabels",
    );
}

async fn roles_apply_to_key_pairs(app: &TestApp) {
    app.env("production").await;
    let reader = key_pair(app, "reader").await;
    let author = key_pair(app, "author").await;
    let projects = get(app, "/api/public/projects", &reader).await;
    assert_eq!(projects.status, StatusCode::OK, "{}", projects.body);
    assert_eq!(projects.body["data"].as_array().unwrap().len(), 1);
    assert!(projects.body["data"][0]["organization"]["id"].is_string());

    let denied = create(app, &reader, json!({"name": "p", "prompt": "x"})).await;
    assert_error(
        &denied,
        StatusCode::FORBIDDEN,
        "AccessDeniedError",
        "author",
    );
    let unlabelled = create(app, &author, json!({"name": "p", "prompt": "x"})).await;
    assert_eq!(unlabelled.status, StatusCode::CREATED);
    let labelled = create(
        app,
        &author,
        json!({"name": "p", "prompt": "x", "labels": ["production"]}),
    )
    .await;
    assert_error(
        &labelled,
        StatusCode::FORBIDDEN,
        "AccessDeniedError",
        "deployer",
    );
    // Bearer tokens work on these routes too.
    let bearer = format!("Bearer {}", app.token("reader").await);
    assert_eq!(
        get(app, &format!("{PROMPTS}/p?version=1"), &bearer)
            .await
            .status,
        StatusCode::OK
    );

    let doc = app
        .raw(Method::GET, "/openapi.json", None, vec![], &[])
        .await;
    for (path, method) in [
        (PROMPTS, "get"),
        (PROMPTS, "post"),
        ("/api/public/v2/prompts/{name}", "get"),
        ("/api/public/v2/prompts/{name}/versions/{version}", "patch"),
        ("/api/public/projects", "get"),
    ] {
        assert!(
            doc.body["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
}
