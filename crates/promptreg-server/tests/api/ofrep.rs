//! OpenFeature Remote Evaluation Protocol: prompts as object flags, as an OFREP provider
//! calls them (key unencoded in the path, `{"context": {...}}` bodies), on both backends.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{enc, Answer, TestApp, ADMIN};

mod bad_input;
mod bulk;

use bad_input::{authentication_and_authorization, bad_bodies_get_ofrep_error_codes};
use bulk::{bulk_evaluates_what_is_live_with_an_etag, bulk_follows_rollouts_and_the_server_limit};

both_backends!(
    a_deployed_prompt_is_a_static_object_flag,
    undeployed_prompts_are_disabled_and_unknown_ones_not_found,
    a_rollout_splits_subjects_exactly_as_resolve_does,
    a_rollout_without_targeting_key_answers_the_stable_value_as_an_error,
    bad_bodies_get_ofrep_error_codes,
    authentication_and_authorization,
    bulk_evaluates_what_is_live_with_an_etag,
    bulk_follows_rollouts_and_the_server_limit,
);

pub(crate) const FLAGS: &str = "/ofrep/v1/evaluate/flags";

/// POSTs a raw body to an OFREP route with a bearer token.
pub(crate) async fn post_raw(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Answer {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    app.raw(Method::POST, path, token, body.to_vec(), &all)
        .await
}

/// Evaluates `key` (sent unencoded, as the Python provider does) with `context`.
pub(crate) async fn evaluate(app: &TestApp, key: &str, context: Value) -> Answer {
    let body = serde_json::to_vec(&json!({ "context": context })).unwrap();
    post_raw(app, &format!("{FLAGS}/{key}"), Some(ADMIN), &body, &[]).await
}

/// Asserts an OFREP error answer.
pub(crate) fn assert_failure(a: &Answer, status: StatusCode, code: &str, mentions: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["errorCode"], code, "{}", a.body);
    let details = a.body["errorDetails"].as_str().unwrap();
    assert!(
        details.contains(mentions),
        "{details:?} should mention {mentions:?}"
    );
}

pub(crate) async fn resolve(app: &TestApp, name: &str, query: &str) -> Answer {
    app.get(&format!("/v1/resolve/{}?{query}", enc(name))).await
}

/// Two versions of `name`, version 1 live in production, and a 50 % canary of version 2
/// holding on a pause; returns the rollout id.
pub(crate) async fn canary(app: &TestApp, name: &str) -> String {
    for t in ["Hello {{ who }}", "Hi {{ who }}"] {
        assert_eq!(app.push(name, t).await.status, StatusCode::CREATED);
    }
    assert_eq!(
        app.deploy("production", name, 1).await.status,
        StatusCode::OK
    );
    let started = app
        .post(
            &format!("/v1/environments/production/prompts/{}/rollouts", enc(name)),
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"set_weight": 5000}, {"pause": {}}]}}}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let id = started.body["id"].as_str().unwrap().to_owned();
    // The first step (50 %) completes on the controller's first pass.
    let r = app.wait_for_rollout(&id, |r| r["weight"] == 5000).await;
    app.wait_until_served("production", name, &r).await;
    id
}

async fn a_deployed_prompt_is_a_static_object_flag(app: &TestApp) {
    assert_eq!(
        app.push("support/triage", "Triage {{ ticket }}")
            .await
            .status,
        StatusCode::CREATED
    );
    app.push("support/triage", "Triage {{ ticket }} now").await;
    app.deploy("production", "support/triage", 1).await;
    app.deploy("staging", "support/triage", 1).await;
    app.deploy("staging", "support/triage", 2).await;

    let a = evaluate(app, "support/triage", json!({"targetingKey": "agent-1"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["key"], "support/triage");
    assert_eq!(a.body["reason"], "STATIC");
    assert_eq!(a.body["variant"], "v1");
    let resolved = resolve(app, "support/triage", "env=production").await;
    assert_eq!(
        a.body["value"], resolved.body,
        "the value is resolve's answer"
    );
    assert_eq!(a.body["value"]["template"], "Triage {{ ticket }}");
    let digest = resolved.body["digest"].as_str().unwrap();
    assert_eq!(
        a.body["metadata"],
        json!({"env": "production", "version": 1, "digest": digest})
    );

    // Percent-encoded keys and a body without a context read the same; `env` picks staging.
    let encoded = post_raw(
        app,
        &format!("{FLAGS}/support%2Ftriage"),
        Some(ADMIN),
        b"{}",
        &[],
    )
    .await;
    assert_eq!(encoded.body, a.body);
    let staging = evaluate(app, "support/triage", json!({"env": "staging"})).await;
    assert_eq!(staging.body["variant"], "v2", "{}", staging.body);
    assert_eq!(staging.body["value"]["env"], "staging");
    assert_eq!(
        staging.body["value"],
        resolve(app, "support/triage", "env=staging").await.body
    );
    // A rollback is seen at once.
    let back = app
        .post(
            "/v1/environments/staging/prompts/support%2Ftriage/rollback",
            json!({}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let staging = evaluate(app, "support/triage", json!({"env": "staging"})).await;
    assert_eq!(staging.body["variant"], "v1", "{}", staging.body);
}

async fn undeployed_prompts_are_disabled_and_unknown_ones_not_found(app: &TestApp) {
    app.push("drafts/idea", "Think about {{ x }}").await;
    app.deploy("staging", "drafts/idea", 1).await;
    let a = evaluate(app, "drafts/idea", json!({"targetingKey": "a"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["reason"], "DISABLED");
    assert_eq!(a.body["variant"], "disabled");
    assert!(
        a.body.get("value").is_none(),
        "no value: the caller's default applies"
    );
    assert_eq!(a.body["metadata"], json!({"env": "production"}));

    let missing = evaluate(app, "drafts/nothing", json!({})).await;
    assert_failure(
        &missing,
        StatusCode::NOT_FOUND,
        "FLAG_NOT_FOUND",
        "drafts/nothing",
    );
    assert_eq!(missing.body["key"], "drafts/nothing");
    // A key that cannot be a prompt name names no flag either.
    let bad = evaluate(app, "Not%20A%20Name", json!({})).await;
    assert_failure(&bad, StatusCode::NOT_FOUND, "FLAG_NOT_FOUND", "Not A Name");

    let nowhere = evaluate(app, "drafts/idea", json!({"env": "nowhere"})).await;
    assert_failure(
        &nowhere,
        StatusCode::BAD_REQUEST,
        "INVALID_CONTEXT",
        "'nowhere' does not exist",
    );
    let invalid = evaluate(app, "drafts/idea", json!({"env": "Bad Env"})).await;
    assert_failure(&invalid, StatusCode::BAD_REQUEST, "INVALID_CONTEXT", "env:");
}

async fn a_rollout_splits_subjects_exactly_as_resolve_does(app: &TestApp) {
    let id = canary(app, "team/greet").await;
    let mut arms = [0, 0];
    for i in 0..300 {
        let subject = format!("agent-{i}");
        let a = evaluate(
            app,
            "team/greet",
            json!({"targetingKey": subject, "tier": "gold"}),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let r = resolve(
            app,
            "team/greet",
            &format!("env=production&subject={subject}"),
        )
        .await;
        assert_eq!(a.body["reason"], "SPLIT");
        assert_eq!(
            a.body["value"], r.body,
            "{subject}: same version and assignment as resolve"
        );
        let assignment = &r.body["assignment"];
        let version = r.body["version"].as_i64().unwrap();
        assert_eq!(a.body["variant"], format!("v{version}"));
        let m = &a.body["metadata"];
        assert_eq!(m["rollout"], id.as_str());
        assert_eq!(m["arm"], assignment["arm"]);
        assert_eq!(m["bucket"], assignment["bucket"]);
        assert_eq!(m["step"], assignment["step"]);
        assert_eq!(m["version"], version);
        let bucket = promptreg_core::rollout::bucket(&id, &subject);
        let candidate = bucket < 5000;
        assert_eq!(
            version,
            if candidate { 2 } else { 1 },
            "{subject}: bucket {bucket}"
        );
        arms[usize::from(candidate)] += 1;
    }
    assert!(
        arms[0] > 90 && arms[1] > 90,
        "both arms are served: {arms:?}"
    );

    // Aborted: no rollout, back to STATIC on the stable version for everyone.
    let abort = app
        .post(
            &format!("/v1/rollouts/{id}/abort"),
            json!({"reason": "test"}),
        )
        .await;
    assert_eq!(abort.status, StatusCode::OK, "{}", abort.body);
    let a = evaluate(app, "team/greet", json!({"targetingKey": "agent-1"})).await;
    assert_eq!(a.body["reason"], "STATIC", "{}", a.body);
    assert_eq!(a.body["variant"], "v1");
}

async fn a_rollout_without_targeting_key_answers_the_stable_value_as_an_error(app: &TestApp) {
    let id = canary(app, "greet").await;
    let stable = resolve(app, "greet", "env=production").await;
    assert_eq!(stable.body["version"], 1);
    for context in [
        json!({}),
        json!({"targetingKey": ""}),
        json!({"targetingKey": null}),
    ] {
        let a = evaluate(app, "greet", context.clone()).await;
        assert_failure(
            &a,
            StatusCode::BAD_REQUEST,
            "TARGETING_KEY_MISSING",
            "targetingKey",
        );
        assert_eq!(a.body["key"], "greet");
        assert_eq!(a.body["value"], stable.body, "{context}: the stable value");
        assert_eq!(a.body["variant"], "v1");
        assert_eq!(a.body["metadata"]["rollout"], id.as_str());
        assert_eq!(a.body["metadata"]["version"], 1);
    }
    // Another prompt without a rollout needs no key.
    app.push("other", "x").await;
    app.deploy("production", "other", 1).await;
    let a = evaluate(app, "other", json!({})).await;
    assert_eq!(a.body["reason"], "STATIC", "{}", a.body);
}
