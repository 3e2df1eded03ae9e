//! Environments, deploys, rollbacks, history and catalog.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    rollbacks_walk_back_through_recorded_moves,
    environments_are_unique_and_validated,
    deploy_refuses_unknown_things
);

fn live(a: &crate::helpers::Answer) -> i64 {
    a.body["to_version"]
        .as_i64()
        .unwrap_or_else(|| panic!("{}", a.body))
}

async fn rollbacks_walk_back_through_recorded_moves(app: &TestApp) {
    for i in 1..=3 {
        app.push("support/triage", &format!("v{i}")).await;
    }
    app.env("production").await;
    for i in 1..=3 {
        let d = app.deploy("production", "support/triage", i).await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.body);
        assert_eq!(
            (
                d.body["seq"].as_i64(),
                d.body["kind"].as_str(),
                d.body["changed"].as_bool()
            ),
            (Some(i), Some("deploy"), Some(true))
        );
        assert!(d.body["digest"].as_str().unwrap().starts_with("sha256:"));
    }
    let same = app.deploy("production", "support/triage", 3).await;
    assert_eq!(
        (
            same.status,
            same.body["changed"].as_bool(),
            same.body["seq"].as_i64()
        ),
        (StatusCode::OK, Some(false), Some(3))
    );

    let rb = |body: Option<serde_json::Value>| {
        app.call(
            Method::POST,
            "/v1/environments/production/prompts/support%2Ftriage/rollback",
            ADMIN,
            body,
        )
    };
    let r1 = rb(None).await;
    assert_eq!(
        (
            r1.status,
            live(&r1),
            r1.body["kind"].as_str(),
            r1.body["from_version"].as_i64()
        ),
        (StatusCode::OK, 2, Some("rollback"), Some(3))
    );
    let r2 = rb(Some(json!({"reason": "still bad"}))).await;
    assert_eq!(live(&r2), 1);
    assert_eq!(r2.body["reason"], "still bad");
    let r3 = rb(None).await;
    assert_eq!(
        (r3.status, r3.code()),
        (StatusCode::CONFLICT, "nothing_to_roll_back")
    );

    // A new deploy makes history to roll back through again; to_version jumps in one step.
    app.deploy("production", "support/triage", 2).await;
    app.deploy("production", "support/triage", 3).await;
    let jump = rb(Some(json!({"to_version": 1}))).await;
    assert_eq!(live(&jump), 1);
    let refused = rb(Some(json!({"to_version": 3}))).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "not_an_earlier_version")
    );

    let history = app
        .get("/v1/environments/production/prompts/support%2Ftriage/history")
        .await;
    let records: Vec<_> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["seq"].as_i64().unwrap(),
                r["kind"].as_str().unwrap().to_owned(),
                r["to_version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        records.len(),
        8,
        "every move is recorded, none erased: {records:?}"
    );
    assert_eq!(records[0], (8, "rollback".into(), 1));
    assert_eq!(records[7], (1, "deploy".into(), 1));
    let paged = app
        .get("/v1/environments/production/prompts/support%2Ftriage/history?limit=3")
        .await;
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 3);
    assert!(paged.body["next_cursor"].is_string());

    let current = app
        .get("/v1/environments/production/prompts/support%2Ftriage")
        .await;
    assert_eq!(current.body["to_version"], 1);
    let catalog = app.get("/v1/environments/production/catalog").await;
    assert_eq!(
        catalog.body["items"],
        json!([{"name": "support/triage", "version": 1, "digest": current.body["digest"], "deployed_at": catalog.body["items"][0]["deployed_at"]}])
    );
}

async fn environments_are_unique_and_validated(app: &TestApp) {
    let a = app
        .post(
            "/v1/environments",
            json!({"name": "prod-eu", "protected": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(
        (a.body["name"].as_str(), a.body["protected"].as_bool()),
        (Some("prod-eu"), Some(true))
    );
    let dup = app
        .post("/v1/environments", json!({"name": "prod-eu"}))
        .await;
    assert_eq!(
        (dup.status, dup.code()),
        (StatusCode::CONFLICT, "already_exists")
    );
    assert!(dup.message().contains("prod-eu"));
    let bad = app
        .post("/v1/environments", json!({"name": "Prod/EU"}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.message().contains("name"));
    app.env("staging").await;
    let list = app.get("/v1/environments").await;
    let names: Vec<_> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    // A new project starts with development, staging and production.
    assert_eq!(names, ["development", "prod-eu", "production", "staging"]);
    assert_eq!(
        app.get("/v1/environments/staging").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/environments/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn deploy_refuses_unknown_things(app: &TestApp) {
    app.push("p", "x").await;
    app.env("production").await;
    let e = app.deploy("nope", "p", 1).await;
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    assert!(
        e.message().contains("environment 'nope'"),
        "{}",
        e.message()
    );
    let v = app.deploy("production", "p", 7).await;
    assert_eq!(v.status, StatusCode::NOT_FOUND);
    assert!(v.message().contains("version 7"));
    let p = app.deploy("production", "q", 1).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let zero = app
        .put(
            "/v1/environments/production/prompts/p",
            json!({"version": 0}),
        )
        .await;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    let h = app.get("/v1/environments/nope/prompts/p/history").await;
    assert_eq!(h.status, StatusCode::NOT_FOUND);
    let c = app.get("/v1/environments/nope/catalog").await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/environments/production/prompts/p")
            .await
            .code(),
        "not_deployed"
    );
    assert!(app
        .get("/v1/environments/production/prompts/p/history")
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .is_empty());
}
