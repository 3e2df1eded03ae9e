//! The inbound abort hook for external alerting: by rollout id, by pointer, and from an
//! Alertmanager payload; each abort recorded with the caller and a reason naming the alert.

use axum::http::{Method, StatusCode};
use promptreg_core::rollout::RolloutAction;
use promptreg_core::{ChangeEvent, ProjectId};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    the_hook_aborts_by_id_by_pointer_and_from_alertmanager,
    the_hook_needs_a_deployer_and_a_target
);

/// A prompt with version 1 live in production and a rollout of version 2 waiting at a pause.
async fn rollout(app: &TestApp, name: &str) -> String {
    app.push(name, "one").await;
    app.push(name, "two").await;
    assert_eq!(
        app.deploy("production", name, 1).await.status,
        StatusCode::OK
    );
    let a = app
        .post(
            &format!("/v1/environments/production/prompts/{name}/rollouts"),
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"set_weight": 1000}, {"pause": {}}]}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

async fn status(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/rollouts/{id}")).await.body["status"].clone()
}

/// The actor and reason of the `aborted` event of a rollout.
async fn abort_record(app: &TestApp, id: &str) -> (String, Option<String>) {
    let events = app
        .store
        .events_after(&ProjectId::default(), 0, 10_000)
        .await
        .unwrap();
    events
        .into_iter()
        .find_map(|e| match &e.change {
            ChangeEvent::RolloutChanged {
                rollout,
                action: RolloutAction::Aborted,
                ..
            } if rollout == id => Some((e.actor.clone(), e.reason.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no abort recorded for {id}"))
}

async fn the_hook_aborts_by_id_by_pointer_and_from_alertmanager(app: &TestApp) {
    let deployer = app.token("deployer").await;
    let (by_id, by_pointer, by_alert) = (
        rollout(app, "a").await,
        rollout(app, "b").await,
        rollout(app, "c").await,
    );
    let hook = |body: Value| {
        let token = deployer.clone();
        async move {
            app.call(Method::POST, "/v1/hooks/abort", &token, Some(body))
                .await
        }
    };

    let a = hook(json!({"rollout": by_id, "reason": "error budget burn"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["aborted"][0]["rollout"], by_id.as_str());
    assert_eq!(status(app, &by_id).await, "aborted");
    let (actor, reason) = abort_record(app, &by_id).await;
    assert!(actor.contains("deployer token"), "{actor}");
    assert_eq!(reason.as_deref(), Some("error budget burn"));
    // Aborting it again is a conflict, like the abort route.
    let again = hook(json!({"rollout": by_id})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    let a = hook(json!({"env": "production", "prompt": "b", "reason": "pager"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["aborted"][0]["rollout"], by_pointer.as_str());
    assert_eq!(status(app, &by_pointer).await, "aborted");
    let a = hook(json!({"env": "production", "prompt": "b"})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert_eq!(a.code(), "no_active_rollout");

    // Alertmanager's webhook payload, with the fields it always sends.
    let payload = json!({
        "version": "4", "groupKey": "{}:{alertname=\"HighUnsafeRate\"}", "status": "firing",
        "receiver": "promptreg", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
        "alerts": [
            {"status": "firing", "labels": {"alertname": "HighUnsafeRate", "prompt": "c", "env": "production"},
             "annotations": {"summary": "unsafe actions at 4%"}, "startsAt": "2026-11-30T01:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "a1"},
            {"status": "resolved", "labels": {"alertname": "Old", "prompt": "b", "env": "production"},
             "annotations": {}},
            {"status": "firing", "labels": {"alertname": "Stray", "rollout": "no-such-rollout"},
             "annotations": {}},
            {"status": "firing", "labels": {"alertname": "Unrelated", "severity": "page"},
             "annotations": {}},
        ]
    });
    let a = hook(payload).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let aborted = a.body["aborted"].as_array().unwrap();
    assert_eq!(aborted.len(), 1, "{}", a.body);
    assert_eq!(aborted[0]["rollout"], by_alert.as_str());
    assert_eq!(aborted[0]["prompt"], "c");
    assert_eq!(status(app, &by_alert).await, "aborted");
    let skipped: Vec<_> = a.body["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["index"].as_u64().unwrap(),
                s["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (1, "resolved".to_owned()),
            (2, "not_found".to_owned()),
            (3, "no_target".to_owned())
        ]
    );
    let (_, reason) = abort_record(app, &by_alert).await;
    assert_eq!(
        reason.as_deref(),
        Some("alert HighUnsafeRate: unsafe actions at 4%")
    );
}

async fn the_hook_needs_a_deployer_and_a_target(app: &TestApp) {
    let id = rollout(app, "p").await;
    for role in ["reader", "author"] {
        let token = app.token(role).await;
        let a = app
            .call(
                Method::POST,
                "/v1/hooks/abort",
                &token,
                Some(json!({"rollout": id})),
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{role}: {}", a.body);
    }
    assert_eq!(status(app, &id).await, "progressing");
    for body in [
        json!({}),
        json!({"env": "production"}),
        json!({"prompt": "p"}),
    ] {
        let a = app.post("/v1/hooks/abort", body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
    }
    let a = app
        .post("/v1/hooks/abort", json!({"rollout": "nope"}))
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert_eq!(status(app, &id).await, "progressing");
}
