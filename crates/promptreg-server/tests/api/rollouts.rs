//! Rollouts through the HTTP API: the issue's canary request, sticky assignment, commands,
//! blue-green, immediate, and bad input, on both backends.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Answer, TestApp};

both_backends!(
    the_issue_example_serves_a_sticky_canary_share,
    commands_promote_pause_resume_and_abort,
    blue_green_previews_then_switches_and_switches_back,
    immediate_is_a_recorded_deploy,
    bad_rollouts_are_refused_and_change_nothing
);

fn example() -> Value {
    json!({"candidate": 2, "reason": "shorter greeting",
     "strategy": {"canary": {"steps": [{"set_weight": 500}, {"pause": {"duration": "60s"}},
                                       {"set_weight": 5000}, {"pause": {}}]}},
     "analysis": {"interval": "1s", "min_sample": 200,
                  "breakers": [{"metric": "unsafe_action_rate", "max": 0.02},
                               {"metric": "policy_violations", "max": 0}],
                  "compare": [{"metric": "success_rate", "max_drop": 0.05}]}})
}

async fn two_versions_with_one_live(app: &TestApp, name: &str) {
    assert_eq!(
        app.push(name, "Hello {{ who }}").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.push(name, "Hi {{ who }}").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.deploy("production", name, 1).await.status,
        StatusCode::OK
    );
}

async fn start(app: &TestApp, name: &str, body: Value) -> Answer {
    app.post(
        &format!("/v1/environments/production/prompts/{name}/rollouts"),
        body,
    )
    .await
}

async fn resolve_as(app: &TestApp, name: &str, subject: &str) -> Answer {
    app.get(&format!(
        "/v1/resolve/{name}?env=production&subject={subject}"
    ))
    .await
}

async fn the_issue_example_serves_a_sticky_canary_share(app: &TestApp) {
    two_versions_with_one_live(app, "greet").await;
    let started = start(app, "greet", example()).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let id = started.body["id"].as_str().unwrap().to_owned();
    assert_eq!(started.body["status"], "progressing");
    assert_eq!(started.body["stable_version"], 1);
    assert_eq!(started.body["candidate_version"], 2);
    assert_eq!(started.body["steps_total"], 4);
    // The first step (5 %) completes on the controller's first pass; the 60 s pause holds.
    let r = app.wait_for_rollout(&id, |r| r["weight"] == 500).await;
    assert_eq!(r["step"], 1);
    app.wait_until_served("production", "greet", &r).await;
    let current = app
        .get("/v1/environments/production/prompts/greet/rollouts/current")
        .await;
    assert_eq!(current.body["id"], id.as_str());

    let mut on_candidate = 0;
    for i in 0..1_000 {
        let subject = format!("agent-{i}");
        let a = resolve_as(app, "greet", &subject).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let assignment = &a.body["assignment"];
        let bucket = promptreg_core::rollout::bucket(&id, &subject);
        assert_eq!(
            assignment["bucket"], bucket,
            "the bucket is murmur3(\"<rollout>:<subject>\") % 10000"
        );
        assert_eq!(assignment["rollout"], id.as_str());
        let (arm, version) = if bucket < 500 {
            ("candidate", 2)
        } else {
            ("stable", 1)
        };
        assert_eq!(assignment["arm"], arm);
        assert_eq!(a.body["version"], version);
        let etag = a.headers["etag"].to_str().unwrap().to_owned();
        let digest = a.body["digest"].as_str().unwrap();
        assert_eq!(etag, format!("\"{digest}.{id}.{arm}\""), "one ETag per arm");
        // A copy kept from before the rollout is not confirmed by a 304.
        let stale = app
            .raw(
                axum::http::Method::GET,
                &format!("/v1/resolve/greet?env=production&subject={subject}"),
                Some(crate::helpers::ADMIN),
                Vec::new(),
                &[("if-none-match", &format!("\"{digest}\""))],
            )
            .await;
        assert_eq!(stale.status, StatusCode::OK);
        let fresh = app
            .raw(
                axum::http::Method::GET,
                &format!("/v1/resolve/greet?env=production&subject={subject}"),
                Some(crate::helpers::ADMIN),
                Vec::new(),
                &[("if-none-match", &etag)],
            )
            .await;
        assert_eq!(fresh.status, StatusCode::NOT_MODIFIED);
        on_candidate += usize::from(arm == "candidate");
    }
    assert!(
        (25..=80).contains(&on_candidate),
        "5 % of 1,000 subjects, got {on_candidate}"
    );
    // No subject: the stable version, and no assignment.
    let plain = app.get("/v1/resolve/greet?env=production").await;
    assert_eq!(plain.body["version"], 1);
    assert!(plain.body.get("assignment").is_none());
    // One active rollout per pointer; a plain deploy or rollback is refused the same way.
    assert_eq!(
        start(app, "greet", example()).await.code(),
        "rollout_in_progress"
    );
    let deploy = app.deploy("production", "greet", 2).await;
    assert_eq!(
        (deploy.status, deploy.code()),
        (StatusCode::CONFLICT, "rollout_in_progress")
    );
    assert!(deploy.message().contains(&id), "{}", deploy.message());
    let rollback = app
        .post(
            "/v1/environments/production/prompts/greet/rollback",
            json!({}),
        )
        .await;
    assert_eq!(rollback.code(), "rollout_in_progress");
    // Abort: stable for everyone, and the pointer never moved.
    let aborted = app
        .post(
            &format!("/v1/rollouts/{id}/abort"),
            json!({"reason": "looks wrong"}),
        )
        .await;
    assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.body);
    assert_eq!(aborted.body["status"], "aborted");
    for i in 0..200 {
        let a = resolve_as(app, "greet", &format!("agent-{i}")).await;
        assert_eq!(a.body["version"], 1);
        assert!(a.body.get("assignment").is_none());
    }
    let history = app
        .get("/v1/environments/production/prompts/greet/history")
        .await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
    let listed = app
        .get("/v1/environments/production/prompts/greet/rollouts")
        .await;
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    let none = app
        .get("/v1/environments/production/prompts/greet/rollouts/current")
        .await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::NOT_FOUND, "no_active_rollout")
    );
    // The log carries every change with its actor and reason.
    let events = app
        .store
        .events_after(&promptreg_core::ProjectId::default(), 0, 1000)
        .await
        .unwrap();
    let rollout_events: Vec<_> = events
        .iter()
        .filter(|e| e.change.kind() == "rollout_changed")
        .collect();
    assert!(rollout_events.len() >= 3, "started, step, aborted");
    let last = rollout_events.last().unwrap();
    assert_eq!(last.reason.as_deref(), Some("looks wrong"));
    assert!(last.actor.contains("bootstrap-admin"), "{}", last.actor);
}

async fn commands_promote_pause_resume_and_abort(app: &TestApp) {
    two_versions_with_one_live(app, "cmd").await;
    let body = json!({"candidate": 2, "strategy": {"canary": {"steps": [
        {"set_weight": 1000}, {"approval": {}}, {"set_weight": 5000}, {"pause": {}}]}}});
    let id = start(app, "cmd", body).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.wait_for_rollout(&id, |r| r["status"] == "paused").await;
    assert_eq!(
        (r["paused_reason"].as_str(), r["weight"].as_u64()),
        (Some("approval"), Some(1000))
    );
    let cmd = |c: &str| format!("/v1/rollouts/{id}/{c}");
    // Resume at an approval completes it; the next weight follows at once.
    let resumed = app
        .post(&cmd("resume"), json!({"reason": "approved by QA"}))
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    let r = app
        .wait_for_rollout(&id, |r| r["paused_reason"] == "pause_step")
        .await;
    assert_eq!(r["weight"], 5000);
    assert_eq!(
        app.post(&cmd("pause"), json!({})).await.code(),
        "invalid_rollout_state"
    );
    let promoted = app.post(&cmd("promote"), json!({"full": true})).await;
    assert_eq!(promoted.body["status"], "promoted", "{}", promoted.body);
    // The promotion is a recorded pointer move.
    let history = app
        .get("/v1/environments/production/prompts/cmd/history")
        .await;
    let last = &history.body["items"][0];
    assert_eq!(
        (last["to_version"].as_i64(), last["kind"].as_str()),
        (Some(2), Some("deploy"))
    );
    assert!(last["reason"].as_str().unwrap().contains(&id));
    assert_eq!(
        app.get("/v1/resolve/cmd?env=production").await.body["version"],
        2
    );
    for c in ["promote", "pause", "resume", "abort", "skip-analysis"] {
        let a = app.post(&cmd(c), json!({})).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::CONFLICT, "rollout_finished"),
            "{c}"
        );
    }
    assert_eq!(
        app.post("/v1/rollouts/nope/abort", json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&cmd("pause"), json!({"full": true})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn blue_green_previews_then_switches_and_switches_back(app: &TestApp) {
    two_versions_with_one_live(app, "bg").await;
    let body = json!({"candidate": 2, "strategy": {"blue_green": {"post_promotion_window": "1h"}}});
    let id = start(app, "bg", body).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = app.get("/v1/resolve/bg?env=production&track=preview").await;
    assert_eq!(preview.body["version"], 2, "{}", preview.body);
    assert_eq!(preview.body["assignment"]["arm"], "preview");
    assert_eq!(
        app.get("/v1/resolve/bg?env=production").await.body["version"],
        1
    );
    assert_eq!(resolve_as(app, "bg", "a1").await.body["version"], 1);
    let bad = app.get("/v1/resolve/bg?env=production&track=green").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    app.wait_for_rollout(&id, |r| r["paused_reason"] == "approval")
        .await;
    let switched = app
        .post(&format!("/v1/rollouts/{id}/promote"), json!({}))
        .await;
    assert_eq!(switched.body["switched"], true, "{}", switched.body);
    assert_eq!(switched.body["status"], "progressing");
    assert_eq!(
        app.get("/v1/resolve/bg?env=production").await.body["version"],
        2
    );
    // Abort after the switch is one recorded move back.
    let aborted = app
        .post(
            &format!("/v1/rollouts/{id}/abort"),
            json!({"reason": "bad"}),
        )
        .await;
    assert_eq!(aborted.body["status"], "aborted");
    assert_eq!(
        app.get("/v1/resolve/bg?env=production").await.body["version"],
        1
    );
    let history = app
        .get("/v1/environments/production/prompts/bg/history")
        .await;
    let last = &history.body["items"][0];
    assert_eq!(
        (last["to_version"].as_i64(), last["kind"].as_str()),
        (Some(1), Some("rollback"))
    );
}

async fn immediate_is_a_recorded_deploy(app: &TestApp) {
    two_versions_with_one_live(app, "now").await;
    let r = start(
        app,
        "now",
        json!({"candidate": 2, "strategy": {"immediate": {}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "promoted");
    assert_eq!(
        app.get("/v1/resolve/now?env=production").await.body["version"],
        2
    );
    // The pointer is free again.
    assert_eq!(
        app.deploy("production", "now", 1).await.status,
        StatusCode::OK
    );
}

async fn bad_rollouts_are_refused_and_change_nothing(app: &TestApp) {
    two_versions_with_one_live(app, "bad").await;
    let before = app.events().await;
    let cases = [
        (
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"set_weight": 10001}]}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "strategy.canary.steps[0].set_weight",
        ),
        (
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"hop": 1}]}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "strategy.canary.steps[0]",
        ),
        (
            json!({"candidate": 1, "strategy": {"immediate": {}}}),
            StatusCode::CONFLICT,
            "already live",
        ),
        (
            json!({"candidate": 9, "strategy": {"immediate": {}}}),
            StatusCode::NOT_FOUND,
            "no version 9",
        ),
        (
            json!({"candidate": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "strategy",
        ),
        (
            json!({"candidate": 2, "strategy": {"immediate": {}}, "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "extra",
        ),
    ];
    for (body, status, says) in cases {
        let a = start(app, "bad", body.clone()).await;
        assert_eq!(a.status, status, "{body}: {}", a.body);
        assert!(a.message().contains(says), "{body}: {}", a.message());
    }
    let never = app.push("fresh", "x").await;
    assert_eq!(never.status, StatusCode::CREATED);
    let a = start(
        app,
        "fresh",
        json!({"candidate": 1, "strategy": {"immediate": {}}}),
    )
    .await;
    assert_eq!((a.status, a.code()), (StatusCode::CONFLICT, "not_deployed"));
    let a = app
        .post(
            "/v1/environments/nowhere/prompts/bad/rollouts",
            json!({"candidate": 2, "strategy": {"immediate": {}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.events().await,
        before + 1,
        "only the push of 'fresh' was recorded"
    );
    let reader = app.token("reader").await;
    let a = app
        .call(
            axum::http::Method::POST,
            "/v1/environments/production/prompts/bad/rollouts",
            &reader,
            Some(json!({"candidate": 2, "strategy": {"immediate": {}}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}
