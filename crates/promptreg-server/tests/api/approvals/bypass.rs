//! What may not bypass the two-person rule, and what may: break-glass, rollback, Langfuse
//! labels, rollouts, concurrent applies, expiry, and the gates that see a request's approvals.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{act, kinds, log, open, people, request, setup};
use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    break_glass_is_for_admins_with_a_reason_and_is_flagged,
    rollback_needs_no_approval_but_is_flagged,
    langfuse_labels_cannot_move_a_protected_environment,
    rollouts_into_a_protected_environment_apply_an_approved_request,
    concurrent_applies_deploy_once,
    requests_expire,
    gates_see_the_approvals_of_the_request_applied,
);

async fn break_glass_is_for_admins_with_a_reason_and_is_flagged(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    let path = "/v1/environments/production/prompts/p";
    let before = log(app).await.len();
    let a = app
        .call(
            Method::PUT,
            path,
            ADMIN,
            Some(json!({"version": 1, "break_glass": true})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.message().contains("reason"), "{}", a.message());
    let a = app
        .call(
            Method::PUT,
            path,
            &who.deployer,
            Some(json!({"version": 1, "break_glass": true, "reason": "outage"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(log(app).await.len(), before, "refusals change nothing");
    let a = app
        .call(
            Method::PUT,
            path,
            ADMIN,
            Some(json!({"version": 1, "break_glass": true, "reason": "outage"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["approval"], "break_glass");
    assert_eq!(a.body["reason"], "outage");
    let h = app.get(&format!("{path}/history")).await;
    assert_eq!(h.body["items"][0]["approval"], "break_glass");
    let last = log(app).await.pop().unwrap();
    match last.change {
        promptreg_core::ChangeEvent::PointerMoved { approval, .. } => {
            assert_eq!(approval, Some(promptreg_core::change::Approval::BreakGlass));
        }
        other => panic!("not a move: {other:?}"),
    }
    let metrics = app.raw(Method::GET, "/metrics", None, vec![], &[]).await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains(
            r#"promptreg_protected_moves_total{env="production",approval="break_glass"} 1"#
        ),
        "{text}"
    );
}

async fn rollback_needs_no_approval_but_is_flagged(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    for v in [1, 2] {
        let id = open(app, &who, v).await;
        assert_eq!(
            act(app, &who.reviewer, &id, "approve", None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            act(app, &who.deployer, &id, "apply", None).await.status,
            StatusCode::OK
        );
    }
    let a = app
        .call(
            Method::POST,
            "/v1/environments/production/prompts/p/rollback",
            &who.deployer,
            Some(json!({"reason": "incident"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["to_version"], 1);
    assert_eq!(a.body["approval"], "protected_rollback");
    let h = app
        .get("/v1/environments/production/prompts/p/history")
        .await;
    assert_eq!(h.body["items"][0]["approval"], "protected_rollback");
    assert_eq!(h.body["items"][1]["approval"], "change_request");
    // Outside a protected environment nothing is flagged.
    app.deploy("staging", "p", 1).await;
    let a = app.deploy("staging", "p", 2).await;
    assert!(a.body.get("approval").is_none(), "{}", a.body);
}

async fn langfuse_labels_cannot_move_a_protected_environment(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    let auth = crate::langfuse::key_pair(app, "admin").await;
    let before = log(app).await.len();
    let a = crate::langfuse::lf(
        app,
        Method::PATCH,
        &format!("{}/p/versions/1", crate::langfuse::PROMPTS),
        &auth,
        Some(json!({"newLabels": ["production"]})),
    )
    .await;
    // The Langfuse envelope answers a refused change with 400 `InvalidRequestError`.
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body.to_string().contains("POST /v1/change-requests"),
        "{}",
        a.body
    );
    // Create-with-labels is refused as a whole: no version is created either.
    let a = crate::langfuse::create(
        app,
        &auth,
        json!({"name": "p", "prompt": "new", "type": "text", "labels": ["production"]}),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.to_string().contains("protected"), "{}", a.body);
    assert_eq!(log(app).await.len(), before, "nothing changed");
    let r = app.get("/v1/resolve/p?env=production").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn rollouts_into_a_protected_environment_apply_an_approved_request(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    let id = open(app, &who, 1).await;
    act(app, &who.reviewer, &id, "approve", None).await;
    assert_eq!(
        act(app, &who.deployer, &id, "apply", None).await.status,
        StatusCode::OK
    );
    let path = "/v1/environments/production/prompts/p/rollouts";
    let canary = json!({"canary": {"steps": [{"set_weight": 500}, {"pause": {}}]}});
    let a = app
        .call(
            Method::POST,
            path,
            &who.deployer,
            Some(json!({"candidate": 2, "strategy": canary})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.code(), "approval_required");
    let id2 = open(app, &who, 2).await;
    let a = app
        .call(
            Method::POST,
            path,
            &who.deployer,
            Some(json!({"candidate": 2, "strategy": canary, "change_request": id2})),
        )
        .await;
    assert_eq!(a.code(), "change_request_pending", "not approved yet");
    // A request for another version does not fit.
    let a = app
        .call(
            Method::POST,
            path,
            &who.deployer,
            Some(json!({"candidate": 2, "strategy": canary, "change_request": id})),
        )
        .await;
    assert_eq!(a.code(), "change_request_mismatch");
    act(app, &who.reviewer, &id2, "approve", None).await;
    let a = app
        .call(
            Method::POST,
            path,
            &who.deployer,
            Some(json!({"candidate": 2, "strategy": canary, "change_request": id2})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let rollout = a.body["id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/v1/change-requests/{id2}")).await;
    assert_eq!(r.body["status"], "applied");
    assert_eq!(r.body["rollout"], rollout.as_str());
    // Promotion makes the candidate live under the request the rollout applied.
    let a = app
        .call(
            Method::POST,
            &format!("/v1/rollouts/{rollout}/promote"),
            &who.deployer,
            Some(json!({"full": true})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let h = app
        .get("/v1/environments/production/prompts/p/history")
        .await;
    assert_eq!(h.body["items"][0]["to_version"], 2, "{}", h.body);
    assert_eq!(h.body["items"][0]["change_request"], id2.as_str());
}

async fn concurrent_applies_deploy_once(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    let id = open(app, &who, 1).await;
    act(app, &who.reviewer, &id, "approve", None).await;
    let before = log(app).await;
    let answers =
        futures::future::join_all((0..8).map(|_| act(app, &who.deployer, &id, "apply", None)))
            .await;
    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one apply deploys");
    for a in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        assert_eq!(a.code(), "change_request_applied");
    }
    let events = log(app).await;
    assert_eq!(
        kinds(&events[before.len()..]),
        ["pointer_moved", "change_applied"],
        "one pointer move, one event"
    );
    let h = app
        .get("/v1/environments/production/prompts/p/history")
        .await;
    assert_eq!(h.body["items"].as_array().unwrap().len(), 1);
}

async fn requests_expire(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    // A server whose requests expire at once (`--change-request-ttl 0s`).
    let options = promptreg_server::registry::RegistryOptions {
        change_request_ttl: std::time::Duration::ZERO,
        ..Default::default()
    };
    let brief = app.restarted_with_options(options).await;
    let a = request(&brief, &who.deployer, 1).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["status"], "expired");
    let id = a.body["id"].as_str().unwrap().to_owned();
    let before = log(app).await.len();
    let a = act(&brief, &who.reviewer, &id, "approve", None).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.code(), "change_request_expired");
    assert!(a.message().contains("expired"), "{}", a.message());
    let a = act(&brief, &who.deployer, &id, "apply", None).await;
    assert_eq!(a.code(), "change_request_expired");
    assert_eq!(log(app).await.len(), before, "refusals change nothing");
    let list = brief.get("/v1/change-requests?status=expired").await;
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    let list = brief.get("/v1/change-requests?status=pending").await;
    assert_eq!(list.body["items"], json!([]));
    // On the default server the same store's request reads as pending for 72 hours.
    let a = request(app, &who.deployer, 1).await;
    assert_eq!(a.body["status"], "pending");
    let created: chrono::DateTime<chrono::Utc> =
        a.body["created_at"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        a.body["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - created, chrono::TimeDelta::hours(72));
}

/// A gate over `approvals` counts the approvals of the request a deploy applies; a
/// break-glass deploy applies none, so such a gate refuses it.
async fn gates_see_the_approvals_of_the_request_applied(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    let gates = json!({"gates": [{"name": "reviewed", "expression": "approvals >= 1"}]});
    let a = app.put("/v1/environments/production/gates", gates).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let id = open(app, &who, 1).await;
    let a = act(
        app,
        &who.reviewer,
        &id,
        "approve",
        Some(json!({"comment": "ok"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = act(app, &who.deployer, &id, "apply", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let glass = json!({"version": 2, "break_glass": true, "reason": "outage"});
    let a = app
        .put("/v1/environments/production/prompts/p", glass)
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::CONFLICT, "gate_failed"),
        "{}",
        a.body
    );
    assert!(a.message().contains("reviewed"), "{}", a.message());
}
