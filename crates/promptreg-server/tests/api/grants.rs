//! What a token carries besides its role: its project, the environments and prompt prefixes
//! its deploy and rollback grants are limited to, its expiry (checked in memory at once) and
//! its last use; and failed authentication attempts throttled per client address.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Answer, Backend, TestApp, ADMIN};

both_backends!(
    tokens_carry_grants_that_the_policy_enforces,
    bad_grants_are_refused_naming_the_problem,
    an_issuer_cannot_grant_more_than_it_has,
    an_expired_token_is_refused_at_once_and_use_is_shown,
);

async fn create(app: &TestApp, token: &str, body: Value) -> Answer {
    app.call(Method::POST, "/v1/tokens", token, Some(body))
        .await
}

async fn tokens_carry_grants_that_the_policy_enforces(app: &TestApp) {
    app.push("support/triage", "s").await;
    app.push("billing/refund", "b").await;
    let a = create(
        app,
        ADMIN,
        json!({"name": "stg", "role": "deployer", "environments": ["staging"],
               "prompt_prefixes": ["support/"]}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["environments"], json!(["staging"]));
    assert_eq!(a.body["prompt_prefixes"], json!(["support/"]));
    assert_eq!(a.body["project"], "default");
    assert_eq!(a.body["expires_at"], Value::Null);
    let token = a.body["token"].as_str().unwrap().to_owned();

    let deploy = |env: &'static str, name: &'static str| {
        let token = token.clone();
        async move {
            app.call(
                Method::PUT,
                &format!(
                    "/v1/environments/{env}/prompts/{}",
                    name.replace('/', "%2F")
                ),
                &token,
                Some(json!({"version": 1})),
            )
            .await
        }
    };
    assert_eq!(
        deploy("staging", "support/triage").await.status,
        StatusCode::OK
    );
    let outside = deploy("production", "support/triage").await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN, "{}", outside.body);
    assert!(
        outside.message().contains("production"),
        "{}",
        outside.message()
    );
    let other = deploy("staging", "billing/refund").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);

    let listed = app.get("/v1/tokens").await;
    let row = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "stg")
        .unwrap()
        .clone();
    assert_eq!(row["environments"], json!(["staging"]));
    assert_eq!(row["prompt_prefixes"], json!(["support/"]));
    assert_eq!(row["role"], "deployer");
    assert!(row.get("token").is_none(), "secrets are never listed");

    // Reviewer is a role like the others.
    let r = create(app, ADMIN, json!({"name": "rev", "role": "reviewer"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["role"], "reviewer");
}

async fn bad_grants_are_refused_naming_the_problem(app: &TestApp) {
    let events = app.events().await;
    let cases = [
        (
            json!({"name": "t", "role": "deployer", "environments": ["nowhere"]}),
            StatusCode::BAD_REQUEST,
            "nowhere",
        ),
        (
            json!({"name": "t", "role": "deployer", "environments": []}),
            StatusCode::BAD_REQUEST,
            "environments",
        ),
        (
            json!({"name": "t", "role": "deployer", "environments": ["Bad Env"]}),
            StatusCode::BAD_REQUEST,
            "environments",
        ),
        (
            json!({"name": "t", "role": "deployer", "prompt_prefixes": [""]}),
            StatusCode::BAD_REQUEST,
            "prompt_prefixes",
        ),
        (
            json!({"name": "t", "role": "deployer", "expires_at": "2001-01-01T00:00:00Z"}),
            StatusCode::BAD_REQUEST,
            "expires_at",
        ),
        (
            json!({"name": "t", "role": "deployer", "project": "ghost"}),
            StatusCode::NOT_FOUND,
            "ghost",
        ),
        (
            json!({"name": "t", "role": "deployer", "project": "Not A Project"}),
            StatusCode::BAD_REQUEST,
            "project",
        ),
        (
            json!({"name": "t", "role": "owner"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "owner",
        ),
    ];
    for (body, status, mentions) in cases {
        for path in ["/v1/tokens", "/v1/key-pairs"] {
            let a = app
                .call(Method::POST, path, ADMIN, Some(body.clone()))
                .await;
            assert_eq!(a.status, status, "{path} {body}: {}", a.body);
            assert!(
                a.body.to_string().contains(mentions),
                "{path} {body}: {} should name {mentions}",
                a.body
            );
        }
    }
    let garbled = app
        .call(
            Method::POST,
            "/v1/tokens",
            ADMIN,
            Some(json!({"name": "t", "role": "reader", "expires_at": "tomorrow"})),
        )
        .await;
    assert!(garbled.status.is_client_error(), "{}", garbled.body);
    assert_eq!(
        app.events().await,
        events,
        "a refused token changed the log"
    );
    let listed = app.get("/v1/tokens").await;
    assert_eq!(listed.body["items"], json!([]), "{}", listed.body);
}

async fn an_issuer_cannot_grant_more_than_it_has(app: &TestApp) {
    let scoped = create(
        app,
        ADMIN,
        json!({"name": "stg admin", "role": "admin", "environments": ["staging"], "prompt_prefixes": ["team/"]}),
    )
    .await;
    assert_eq!(scoped.status, StatusCode::CREATED, "{}", scoped.body);
    let admin = scoped.body["token"].as_str().unwrap().to_owned();
    let refusals = [
        (json!({"name": "x", "role": "reader"}), "environments"),
        (
            json!({"name": "x", "role": "reader", "environments": ["production"], "prompt_prefixes": ["team/"]}),
            "production",
        ),
        (
            json!({"name": "x", "role": "reader", "environments": ["staging"]}),
            "prefix",
        ),
        (
            json!({"name": "x", "role": "reader", "environments": ["staging"], "prompt_prefixes": ["other/"]}),
            "other/",
        ),
    ];
    for (body, mentions) in refusals {
        let a = create(app, &admin, body.clone()).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{body}: {}", a.body);
        assert!(a.message().contains(mentions), "{body}: {}", a.message());
    }
    let narrower = create(
        app,
        &admin,
        json!({"name": "x", "role": "deployer", "environments": ["staging"], "prompt_prefixes": ["team/a/"]}),
    )
    .await;
    assert_eq!(narrower.status, StatusCode::CREATED, "{}", narrower.body);

    // Only a server administrator issues into another project; a project admin naming its own
    // project is fine, a deployer naming it lacks the right (403).
    let own = create(
        app,
        &admin,
        json!({"name": "y", "role": "reader", "project": "default", "environments": ["staging"], "prompt_prefixes": ["team/"]}),
    )
    .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    let deployer = app.token("deployer").await;
    let a = create(
        app,
        &deployer,
        json!({"name": "z", "role": "reader", "project": "default"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = app.post("/v1/projects", json!({"id": "elsewhere"})).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = create(
        app,
        &deployer,
        json!({"name": "z", "role": "reader", "project": "elsewhere"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    // A server administrator may, with environments checked in the token's project.
    let a = create(app, ADMIN, json!({"name": "z", "role": "reader", "project": "elsewhere", "environments": ["production"]})).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["project"], "elsewhere");
}

async fn an_expired_token_is_refused_at_once_and_use_is_shown(app: &TestApp) {
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let a = create(
        app,
        ADMIN,
        json!({"name": "short", "role": "reader", "expires_at": expires.to_rfc3339()}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let token = a.body["token"].as_str().unwrap().to_owned();
    let listed = app.get("/v1/tokens").await;
    assert_eq!(listed.body["items"][0]["last_used_at"], Value::Null);
    assert_eq!(
        app.call(Method::GET, "/v1/prompts", &token, None)
            .await
            .status,
        StatusCode::OK
    );
    let listed = app.get("/v1/tokens").await;
    let used = listed.body["items"][0]["last_used_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!used.is_empty());
    assert!(listed.body["items"][0]["expires_at"].is_string());

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let refused = app.call(Method::GET, "/v1/prompts", &token, None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(
        refused.message().contains("expired"),
        "{}",
        refused.message()
    );
}

/// Past the limit of failed attempts, an address gets 429 with `Retry-After`, even with a
/// correct token, while other addresses go on; `/metrics` counts both.
#[tokio::test]
async fn failed_authentication_is_throttled_per_address() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::new(backend).await else {
            continue;
        };
        let server = promptreg_server::testing::spawn_with_store(Arc::clone(&app.store))
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let get = |token: &'static str| {
            client
                .get(format!("{}/v1/prompts", server.url()))
                .bearer_auth(token)
                .send()
        };
        for _ in 0..promptreg_server::throttle::DEFAULT_LIMIT {
            assert_eq!(get("wrong").await.unwrap().status(), 401);
        }
        let throttled = get(ADMIN).await.unwrap();
        assert_eq!(throttled.status(), 429);
        let wait: u64 = throttled.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let body: Value = throttled.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
        // In-process calls carry no address: the limit is per address, not global.
        assert_eq!(app.get("/v1/prompts").await.status, StatusCode::OK);
        let metrics = client
            .get(format!("{}/metrics", server.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("promptreg_auth_failures_total 20"),
            "{metrics}"
        );
        assert!(
            metrics.contains("promptreg_auth_throttled_total 1"),
            "{metrics}"
        );
        server.stop().await;
        app.finish().await;
    }
}

/// The last use seen by a server is written when it stops (and every 30 s before), so a
/// server started afterwards over the same database shows it.
#[tokio::test]
async fn last_use_is_flushed_to_the_store() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::new(backend).await else {
            continue;
        };
        let a = create(&app, ADMIN, json!({"name": "agent", "role": "reader"})).await;
        let token = a.body["token"].as_str().unwrap().to_owned();
        let server = promptreg_server::testing::spawn_with_store(Arc::clone(&app.store))
            .await
            .unwrap();
        let res = reqwest::Client::new()
            .get(format!("{}/v1/prompts", server.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        server.stop().await;
        let stored = app
            .store
            .list_tokens(&promptreg_core::ProjectId::default())
            .await
            .unwrap();
        assert!(stored[0].last_used_at.is_some(), "{stored:?}");
        let later = app.restarted().await;
        let listed = later.get("/v1/tokens").await;
        assert!(
            listed.body["items"][0]["last_used_at"].is_string(),
            "{}",
            listed.body
        );
        app.finish().await;
    }
}
