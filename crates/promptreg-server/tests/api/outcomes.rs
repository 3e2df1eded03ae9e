//! Outcomes through the HTTP API on both backends: a batch answered event by event, duplicate
//! ids refused also after a restart, figures per version surviving a restart, `/metrics`, and
//! a candidate's policy violation rolling its rollout back through the controller.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    a_batch_is_answered_event_by_event,
    rollout_events_are_checked_against_the_arms,
    duplicates_and_figures_survive_a_restart,
    figures_add_up_across_replicas,
    a_policy_violation_on_the_candidate_rolls_the_rollout_back,
);

async fn setup(app: &TestApp) -> String {
    assert_eq!(
        app.push("greet", "Hello {{ who }}").await.status,
        StatusCode::CREATED
    );
    let v2 = app.push("greet", "Hi {{ who }}").await;
    assert_eq!(v2.status, StatusCode::CREATED);
    assert_eq!(app.push("other", "Bye").await.status, StatusCode::CREATED);
    assert_eq!(
        app.deploy("production", "greet", 1).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.deploy("production", "other", 1).await.status,
        StatusCode::OK
    );
    v2.body["digest"].as_str().unwrap().to_owned()
}

async fn report(app: &TestApp, events: Value) -> Value {
    let a = app.post("/v1/outcomes", json!({ "events": events })).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body
}

fn codes(report: &Value) -> Vec<String> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or("ok").to_owned())
        .collect()
}

fn ev(id: &str, version: i64) -> Value {
    json!({"id": id, "prompt": "greet", "version": version, "success": true, "latency_ms": 120.0})
}

async fn figures(app: &TestApp, version: i64) -> Value {
    let a = app
        .get(&format!(
            "/v1/prompts/greet/versions/{version}/outcomes?env=production"
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body
}

async fn a_batch_is_answered_event_by_event(app: &TestApp) {
    let v2_digest = setup(app).await;
    let v1 = app.get("/v1/prompts/greet/versions/1").await.body;
    let v1_digest = v1["digest"].as_str().unwrap();
    let now = chrono::Utc::now();
    let events = json!([
        ev("a", 1),
        {"id": "b", "prompt": "greet", "digest": v1_digest, "success": false, "latency_ms": 80.0,
         "cost": 0.5, "score": 3.0, "unsafe_action": true, "subject": "agent-7",
         "correlation_id": "trace-1", "time": now.to_rfc3339()},
        {"id": "c", "prompt": "nope", "version": 1},
        {"id": "d", "prompt": "greet", "env": "mars", "version": 1},
        {"id": "e", "prompt": "greet", "version": 99},
        {"id": "f", "prompt": "greet", "version": 1, "digest": v2_digest},
        {"id": "g", "prompt": "greet", "version": 1, "rollout": "r-unknown"},
        {"id": "h", "prompt": "greet", "version": 1,
         "time": (now + chrono::Duration::minutes(10)).to_rfc3339()},
        {"id": "i", "prompt": "greet", "version": 1,
         "time": (now - chrono::Duration::hours(2)).to_rfc3339()},
        ev("a", 1),
        {"id": "k", "prompt": "greet", "version": 1, "success": "yes"},
        42,
        {"id": "m", "prompt": "greet", "version": 1, "latency_ms": -1},
        {"id": "n", "prompt": "greet"},
        {"id": "o", "prompt": "greet", "version": 2, "policy_violation": true, "latency_ms": 300.0},
    ]);
    let r = report(app, events).await;
    assert_eq!(
        codes(&r),
        [
            "ok",
            "ok",
            "unknown_prompt",
            "unknown_env",
            "unknown_version",
            "digest_mismatch",
            "unknown_rollout",
            "time_in_future",
            "time_too_old",
            "duplicate_id",
            "invalid_event",
            "invalid_event",
            "invalid_event",
            "invalid_event",
            "ok",
        ]
    );
    assert_eq!(
        (r["accepted"].clone(), r["rejected"].clone()),
        (json!(3), json!(12))
    );
    assert_eq!(r["results"][9]["id"], "a");
    assert_eq!(
        r["results"][10]["id"], "k",
        "the id of a malformed event is echoed"
    );
    assert!(r["results"][10]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("success"));

    let f = figures(app, 1).await;
    assert_eq!(f["samples"], 2);
    assert_eq!(f["success_rate"], 0.5);
    assert_eq!(f["unsafe_action_rate"], 0.5);
    assert_eq!(f["policy_violations"], 0);
    assert_eq!(f["score_mean"], 3.0);
    // Two latencies, 80 and 120 ms: the median is the lower (rank floor(q (n - 1))), within 1%.
    let p50 = f["latency_ms"]["p50"].as_f64().unwrap();
    assert!((p50 - 80.0).abs() <= 0.8, "{f}");
    assert_eq!(f["cost"]["p99"], 0.5);
    assert_eq!(figures(app, 2).await["policy_violation_rate"], 1.0);
    let later = app
        .get(&format!(
            "/v1/prompts/greet/versions/1/outcomes?since={}",
            (now + chrono::Duration::minutes(2))
                .to_rfc3339()
                .replace('+', "%2B")
        ))
        .await;
    assert_eq!(later.body["samples"], 0, "{}", later.body);
    assert_eq!(
        app.get("/v1/prompts/greet/versions/7/outcomes")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Over 10,000 events: refused whole, nothing counted.
    let many: Vec<Value> = (0..10_001).map(|i| ev(&format!("x{i}"), 1)).collect();
    let a = app.post("/v1/outcomes", json!({ "events": many })).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
    assert_eq!(a.code(), "too_many_events");
    assert_eq!(figures(app, 1).await["samples"], 2);
    // 10,000 are fine.
    let many: Vec<Value> = (0..10_000).map(|i| ev(&format!("y{i}"), 1)).collect();
    assert_eq!(report(app, json!(many)).await["accepted"], 10_000);

    let metrics = app.raw(Method::GET, "/metrics", None, vec![], &[]).await;
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains(r#"promptreg_outcomes_total{project="default",env="production",prompt="greet",version="1",arm="none",result="success"} 10001"#),
        "{text}"
    );
    assert!(text.contains(r#"promptreg_outcomes_total{project="default",env="production",prompt="greet",version="2",arm="none",result="policy_violation"} 1"#));
    // Latency per version and arm, as a histogram (every accepted event of version 1 above
    // reported at most 120 ms: all 10,002 fall in the 160 ms bucket).
    assert!(
        text.contains(r#"promptreg_outcome_latency_ms_bucket{le="160.0",project="default",env="production",prompt="greet",version="1",arm="none"} 10002"#),
        "{text}"
    );
    let below = text
        .lines()
        .find(|l| l.starts_with(r#"promptreg_outcome_latency_ms_bucket{le="80.0",project="default",env="production",prompt="greet",version="1","#))
        .unwrap_or_default();
    assert!(
        below.ends_with("} 1"),
        "one event above reported less than 80 ms: {below:?}"
    );
    assert!(text.contains(r#"promptreg_outcome_latency_ms_count{project="default",env="production",prompt="greet",version="1",arm="none"} 10002"#));
}

async fn start_canary(app: &TestApp, analysis: Value) -> String {
    let a = app
        .post(
            "/v1/environments/production/prompts/greet/rollouts",
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"set_weight": 5000}, {"pause": {}}]}},
                   "analysis": analysis}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

async fn rollout_events_are_checked_against_the_arms(app: &TestApp) {
    setup(app).await;
    let id = start_canary(
        app,
        json!({"interval": "1s", "breakers": [{"metric": "unsafe_action_rate", "max": 0.5}]}),
    )
    .await;
    let r = report(
        app,
        json!([
            {"id": "1", "prompt": "greet", "version": 2, "rollout": id, "arm": "candidate", "success": true},
            {"id": "2", "prompt": "greet", "version": 1, "rollout": id, "arm": "candidate"},
            {"id": "3", "prompt": "other", "version": 1, "rollout": id},
            {"id": "4", "prompt": "greet", "env": "staging", "version": 1, "rollout": id},
            {"id": "5", "prompt": "greet", "version": 1, "success": true},
            {"id": "6", "prompt": "greet", "version": 1, "arm": "sideways"},
        ]),
    )
    .await;
    assert_eq!(
        codes(&r),
        [
            "ok",
            "arm_mismatch",
            "rollout_mismatch",
            "rollout_mismatch",
            "ok",
            "invalid_event"
        ]
    );
    // The event without rollout or arm was attributed to the stable arm by its version; the
    // controller shows both arms.
    let view = wait_until(app, &id, |v| {
        v["arms"]["stable"]["rollout"]["samples"] == 1
            && v["arms"]["candidate"]["rollout"]["samples"] == 1
    })
    .await;
    assert_eq!(view["arms"]["candidate"]["step"]["successes"], 1);
    // At its `pause` step, not rolled back: no unsafe action was reported.
    assert_eq!(view["status"], "paused", "{view}");
}

async fn wait_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = app.get(&format!("/v1/rollouts/{id}")).await.body;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rollout {id} never reached the expected state: {last}");
}

async fn a_policy_violation_on_the_candidate_rolls_the_rollout_back(app: &TestApp) {
    setup(app).await;
    let id = start_canary(
        app,
        json!({"interval": "250ms", "breakers": [{"metric": "policy_violations", "max": 0}]}),
    )
    .await;
    let mut events: Vec<Value> = (0..20).map(|i| ev(&format!("s{i}"), 1)).collect();
    events.push(
        json!({"id": "bad", "prompt": "greet", "version": 2, "rollout": id,
                       "arm": "candidate", "policy_violation": true}),
    );
    assert_eq!(report(app, json!(events)).await["accepted"], 21);
    let started = std::time::Instant::now();
    let view = wait_until(app, &id, |v| v["status"] == "rolled_back").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        view["arms"]["candidate"]["rollout"]["policy_violations"], 1,
        "{view}"
    );
    assert_eq!(view["arms"]["stable"]["rollout"]["samples"], 20, "{view}");
    let background = &view["analysis_results"]["background"]["result"];
    assert_eq!(background["phase"], "failed", "{view}");
    // Rolled back: everyone resolves the stable version again.
    let r = app.get("/v1/resolve/greet?env=production&subject=s1").await;
    assert_eq!(r.body["version"], 1);
}

async fn duplicates_and_figures_survive_a_restart(app: &TestApp) {
    setup(app).await;
    let first = promptreg_server::state_for_store(app.store.clone(), ADMIN)
        .await
        .unwrap();
    let router = promptreg_server::router(first.clone(), 64 * 1024);
    let before = TestApp::with_router(app, router);
    let r = report(&before, json!([ev("once", 1), ev("twice", 1)])).await;
    assert_eq!(r["accepted"], 2);
    // Stopping flushes what is in memory.
    first.shutdown().await;

    let second = promptreg_server::state_for_store(app.store.clone(), ADMIN)
        .await
        .unwrap();
    let after = TestApp::with_router(app, promptreg_server::router(second.clone(), 64 * 1024));
    let r = report(&after, json!([ev("once", 1), ev("thrice", 1)])).await;
    assert_eq!(codes(&r), ["duplicate_id", "ok"]);
    let f = figures(&after, 1).await;
    assert_eq!(
        f["samples"], 3,
        "two from before the restart, one after: {f}"
    );
    second.shutdown().await;
}

async fn figures_add_up_across_replicas(app: &TestApp) {
    setup(app).await;
    let a = promptreg_server::state_for_store(app.store.clone(), ADMIN)
        .await
        .unwrap();
    let b = promptreg_server::state_for_store(app.store.clone(), ADMIN)
        .await
        .unwrap();
    let on_a = TestApp::with_router(app, promptreg_server::router(a.clone(), 64 * 1024));
    let on_b = TestApp::with_router(app, promptreg_server::router(b.clone(), 64 * 1024));
    assert_eq!(
        report(&on_a, json!([ev("a1", 1), ev("a2", 1)])).await["accepted"],
        2
    );
    assert_eq!(
        report(&on_b, json!([ev("b1", 1), ev("b2", 1), ev("b3", 1)])).await["accepted"],
        3
    );
    // Each replica sees its own memory at once and the other's rows once flushed (A's flusher
    // may or may not have run yet: every 500 ms).
    let seen = figures(&on_b, 1).await["samples"].as_u64();
    assert!(matches!(seen, Some(3 | 5)), "{seen:?}");
    a.shutdown().await;
    assert_eq!(figures(&on_b, 1).await["samples"], 5);
    b.shutdown().await;
    assert_eq!(
        figures(app, 1).await["samples"],
        5,
        "a third replica reads both"
    );
}
