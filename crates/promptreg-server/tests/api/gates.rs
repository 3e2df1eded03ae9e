//! Validation results and promotion gates: attach and list results, the validated-prompts
//! query, required predecessors, CEL gates (passing, failing with details, refused when they
//! do not compile), rollback never gated, Langfuse labels and rollouts gated like deploys.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{enc, Answer, TestApp, ADMIN};

both_backends!(
    results_are_attached_listed_and_immutable,
    bad_results_are_refused,
    validated_query_finds_candidates_to_promote,
    predecessor_rules_hold_with_the_figures,
    gates_pass_or_fail_with_details,
    bad_gate_specs_are_refused_and_change_nothing,
    rollback_is_never_gated,
    langfuse_labels_and_rollouts_are_gated,
    a_deploy_racing_a_failing_result_sees_it_or_not
);

fn validations(name: &str, v: i64) -> String {
    format!("/v1/prompts/{}/versions/{v}/validations", enc(name))
}

async fn attach(app: &TestApp, name: &str, v: i64, suite: &str, passed: bool, acc: f64) -> Answer {
    app.post(
        &validations(name, v),
        json!({"suite": suite, "passed": passed, "metrics": {"accuracy": acc},
               "details": {"cases": 120}, "tool": {"name": "promptfoo", "version": "0.90.1"}}),
    )
    .await
}

async fn set_gates(app: &TestApp, env: &str, body: Value) -> Answer {
    app.put(&format!("/v1/environments/{env}/gates"), body)
        .await
}

async fn results_are_attached_listed_and_immutable(app: &TestApp) {
    app.push("support/triage", "one").await;
    let before = app.events().await;
    let a = attach(app, "support/triage", 1, "evals", false, 0.7).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["suite"], "evals");
    assert_eq!(a.body["passed"], false);
    assert_eq!(a.body["version"], 1);
    assert!(a.body["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(a.body["attached_by"]
        .as_str()
        .unwrap()
        .contains("bootstrap-admin"));
    assert_eq!(
        a.body["tool"],
        json!({"name": "promptfoo", "version": "0.90.1"})
    );
    assert_eq!(a.body["details"], json!({"cases": 120}));
    let b = attach(app, "support/triage", 1, "evals", true, 0.95).await;
    assert!(b.body["id"].as_i64() > a.body["id"].as_i64());
    let author = app.token("author").await;
    let c = app
        .call(
            Method::POST,
            &validations("support/triage", 1),
            &author,
            Some(
                json!({"suite": "safety", "passed": true, "tool": {"name": "ci", "version": "1"},
                        "details": "all 40 red-team cases refused"}),
            ),
        )
        .await;
    assert_eq!(
        c.status,
        StatusCode::CREATED,
        "an author may attach: {}",
        c.body
    );
    // Each result is an event in the log (the ledger records it), besides the token's.
    assert_eq!(app.events().await, before + 4);

    let list = app.get(&validations("support/triage", 1)).await;
    assert_eq!(list.status, StatusCode::OK);
    let suites: Vec<(&str, bool)> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["suite"].as_str().unwrap(), r["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        suites,
        [("evals", false), ("evals", true), ("safety", true)]
    );
    // The version shows the newest result of each suite.
    let v = app.get("/v1/prompts/support%2Ftriage/versions/1").await;
    let shown: Vec<(&str, bool)> = v.body["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["suite"].as_str().unwrap(), r["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(shown, [("evals", true), ("safety", true)]);

    // Immutable: no route changes or removes a result.
    let one = format!("{}/{}", validations("support/triage", 1), a.body["id"]);
    for m in [Method::PUT, Method::PATCH, Method::DELETE] {
        let r = app
            .call(m.clone(), &one, ADMIN, Some(json!({"passed": true})))
            .await;
        assert!(r.status.is_client_error(), "{m} {}", r.status);
    }
    for m in [Method::PUT, Method::DELETE] {
        let r = app
            .call(
                m.clone(),
                &validations("support/triage", 1),
                ADMIN,
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m}");
    }
    assert_eq!(
        app.get(&validations("support/triage", 1)).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // A reader may list but not attach.
    let reader = app.token("reader").await;
    let r = app
        .call(
            Method::POST,
            &validations("support/triage", 1),
            &reader,
            Some(json!({"suite": "x", "passed": true, "tool": {"name": "ci", "version": "1"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn bad_results_are_refused(app: &TestApp) {
    app.push("p", "one").await;
    let before = app.events().await;
    let tool = json!({"name": "ci", "version": "1"});
    let cases = [
        (
            json!({"suite": "has space", "passed": true, "tool": tool}),
            "suite",
        ),
        (json!({"suite": "", "passed": true, "tool": tool}), "suite"),
        (
            json!({"suite": "s", "passed": true, "tool": {"name": "", "version": "1"}}),
            "tool.name",
        ),
        (
            json!({"suite": "s", "passed": true, "tool": tool, "details": "x".repeat(17_000)}),
            "details",
        ),
        (
            json!({"suite": "s", "passed": true, "tool": tool, "metrics": {"a b": 1}}),
            "metrics",
        ),
        (
            json!({"suite": "s", "passed": "yes", "tool": tool}),
            "passed",
        ),
        (json!({"suite": "s", "passed": true}), "tool"),
        (
            json!({"suite": "s", "passed": true, "tool": tool, "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in cases {
        let r = app.post(&validations("p", 1), body.clone()).await;
        assert!(r.status.is_client_error(), "{body}: {}", r.status);
        assert!(r.message().contains(field), "{body}: {}", r.message());
    }
    let unknown = attach(app, "p", 9, "s", true, 1.0).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert!(unknown.message().contains("no version 9"));
    let nope = attach(app, "nope", 1, "s", true, 1.0).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&validations("nope", 1)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.events().await, before, "nothing was recorded");
}

fn validated_names(a: &Answer) -> Vec<(String, i64, Option<i64>)> {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["validated"]["version"].as_i64().unwrap(),
                p["validated"]["env_version"].as_i64(),
            )
        })
        .collect()
}

async fn validated_query_finds_candidates_to_promote(app: &TestApp) {
    for name in ["a", "b", "c", "d"] {
        app.push(name, "one").await;
        app.push(name, "two").await;
    }
    // a: v1 and v2 pass -> v2. b: v2 passed, then failed -> v1 (passed). c: only fails.
    // d: v2 passes and production serves it already.
    attach(app, "a", 1, "canary", true, 1.0).await;
    attach(app, "a", 2, "canary", true, 1.0).await;
    attach(app, "b", 1, "canary", true, 1.0).await;
    attach(app, "b", 2, "canary", true, 1.0).await;
    attach(app, "b", 2, "canary", false, 0.1).await;
    attach(app, "c", 2, "canary", false, 0.1).await;
    attach(app, "d", 2, "canary", true, 1.0).await;
    attach(app, "c", 1, "other", true, 1.0).await;
    app.deploy("production", "d", 2).await;
    app.deploy("production", "a", 1).await;

    let all = app.get("/v1/prompts?validated=canary").await;
    assert_eq!(
        validated_names(&all),
        [
            ("a".into(), 2, None),
            ("b".into(), 1, None),
            ("d".into(), 2, None)
        ]
    );
    assert_eq!(all.body["items"][0]["latest_version"], 2, "a full summary");
    let prod = app.get("/v1/prompts?validated=canary&env=production").await;
    assert_eq!(
        validated_names(&prod),
        [("a".into(), 2, Some(1)), ("b".into(), 1, None)],
        "d is served already"
    );
    assert_eq!(prod.body["items"][0]["validated"]["env"], "production");
    // Paged like every list.
    let first = app.get("/v1/prompts?validated=canary&limit=2").await;
    assert_eq!(validated_names(&first).len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(&format!(
            "/v1/prompts?validated=canary&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(validated_names(&rest), [("d".into(), 2, None)]);
    // Bad queries.
    assert_eq!(
        app.get("/v1/prompts?env=production").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/v1/prompts?validated=canary&env=nowhere")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/prompts?validated=has%20space").await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn predecessor_rules_hold_with_the_figures(app: &TestApp) {
    app.push("p", "one").await;
    let g = set_gates(
        app,
        "production",
        json!({"required_predecessor": "staging", "min_time_in_predecessor": "1h"}),
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert_eq!(g.body["required_predecessor"], "staging");
    let shown = app.get("/v1/environments/production/gates").await;
    assert_eq!(shown.body["min_time_in_predecessor"], "1h");

    let never = app.deploy("production", "p", 1).await;
    assert_eq!(
        (never.status, never.code()),
        (StatusCode::CONFLICT, "predecessor_required")
    );
    assert!(
        never.message().contains("never live in 'staging'"),
        "{}",
        never.message()
    );
    assert_eq!(never.body["error"]["details"]["predecessor"], "staging");
    assert_eq!(never.body["error"]["details"]["ever_live"], false);

    assert_eq!(app.deploy("staging", "p", 1).await.status, StatusCode::OK);
    let short = app.deploy("production", "p", 1).await;
    assert_eq!(
        (short.status, short.code()),
        (StatusCode::CONFLICT, "predecessor_required")
    );
    assert!(short.message().contains("of the 1h"), "{}", short.message());
    assert_eq!(short.body["error"]["details"]["required_seconds"], 3600);
    assert_eq!(short.body["error"]["details"]["live"], true);

    // Two hours in staging (the record's time moved back, as if it had been deployed then).
    app.tamper(
        "UPDATE deployments SET at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours') WHERE env = 'staging'",
        "UPDATE deployments SET at = now() - interval '2 hours' WHERE env = 'staging'",
    )
    .await;
    let ok = app.deploy("production", "p", 1).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

async fn gates_pass_or_fail_with_details(app: &TestApp) {
    app.push("p", "one").await;
    let g = set_gates(
        app,
        "production",
        json!({"gates": [
            {"name": "evals-pass", "expression": "has(validations.evals) && validations.evals.passed"},
            {"name": "accuracy", "expression": "validations.evals.metrics.accuracy >= 0.9"}]}),
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let none = app.deploy("production", "p", 1).await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::CONFLICT, "gate_failed")
    );
    let d = &none.body["error"]["details"];
    assert_eq!(d["gate"], "evals-pass");
    assert_eq!(d["result"], "false");
    assert_eq!(d["values"]["validations"], json!({}));

    attach(app, "p", 1, "evals", true, 0.8).await;
    let low = app.deploy("production", "p", 1).await;
    assert_eq!(low.code(), "gate_failed");
    let d = &low.body["error"]["details"];
    assert_eq!(d["gate"], "accuracy");
    assert_eq!(d["expression"], "validations.evals.metrics.accuracy >= 0.9");
    assert_eq!(
        d["values"]["validations"]["evals"]["metrics"]["accuracy"],
        0.8
    );
    assert!(low.message().contains("accuracy"), "{}", low.message());
    assert!(app
        .get("/v1/environments/production/prompts/p")
        .await
        .status
        .is_client_error());

    // The newest result of the suite counts.
    attach(app, "p", 1, "evals", true, 0.93).await;
    let ok = app.deploy("production", "p", 1).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // Other environments are not gated.
    assert_eq!(app.deploy("staging", "p", 1).await.status, StatusCode::OK);
    // Facts of the version: tags and metadata.
    set_gates(
        app,
        "staging",
        json!({"gates": [{"name": "tagged", "expression": "'reviewed' in version.tags && version.metadata.owner == 'team-a'"}]}),
    )
    .await;
    app.post(
        "/v1/prompts/p/versions",
        json!({"type": "text", "template": "two", "metadata": {"tags": ["reviewed"], "owner": "team-a"}}),
    )
    .await;
    app.push("p", "three").await;
    assert_eq!(app.deploy("staging", "p", 2).await.status, StatusCode::OK);
    assert_eq!(app.deploy("staging", "p", 3).await.code(), "gate_failed");
}

async fn bad_gate_specs_are_refused_and_change_nothing(app: &TestApp) {
    app.env("qa").await;
    let ok = set_gates(
        app,
        "production",
        json!({"required_predecessor": "staging"}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        set_gates(app, "staging", json!({"required_predecessor": "qa"}))
            .await
            .status,
        StatusCode::OK
    );
    let before = app.events().await;
    let cases = [
        (
            json!({"gates": [{"name": "g", "expression": "validations.x.passed &&"}]}),
            "does not compile",
        ),
        (
            json!({"gates": [{"name": "g", "expression": "build.ok"}]}),
            "unknown variable `build`",
        ),
        (
            json!({"gates": [{"name": "g", "expression": "true || ".repeat(300) + "true"}]}),
            "at most",
        ),
        (
            json!({"gates": [{"name": "Bad Name", "expression": "true"}]}),
            "gate name",
        ),
        (
            json!({"required_predecessor": "nowhere"}),
            "'nowhere' does not exist",
        ),
        (
            json!({"required_predecessor": "qa", "min_time_in_predecessor": "soon"}),
            "min_time_in_predecessor",
        ),
        (
            json!({"min_time_in_predecessor": "1h"}),
            "needs required_predecessor",
        ),
    ];
    for (body, needle) in cases {
        let r = set_gates(app, "staging", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(r.message().contains(needle), "{body}: {}", r.message());
    }
    let unknown = set_gates(app, "staging", json!({"unknown": 1})).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown.message().contains("unknown"),
        "{}",
        unknown.message()
    );
    let own = set_gates(app, "qa", json!({"required_predecessor": "qa"})).await;
    assert!(
        own.message().contains("its own predecessor"),
        "{}",
        own.message()
    );
    let cycle = set_gates(app, "qa", json!({"required_predecessor": "production"})).await;
    assert_eq!(cycle.status, StatusCode::BAD_REQUEST);
    assert!(cycle.message().contains("loop"), "{}", cycle.message());
    assert_eq!(app.events().await, before, "nothing changed");
    assert_eq!(
        app.get("/v1/environments/staging/gates").await.body["required_predecessor"],
        "qa"
    );
    assert_eq!(
        set_gates(app, "nowhere", json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    // Only an admin configures environments; anyone who reads may look.
    let deployer = app.token("deployer").await;
    let r = app
        .call(
            Method::PUT,
            "/v1/environments/qa/gates",
            &deployer,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let reader = app.token("reader").await;
    let r = app
        .call(Method::GET, "/v1/environments/qa/gates", &reader, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn rollback_is_never_gated(app: &TestApp) {
    app.push("p", "one").await;
    app.push("p", "two").await;
    app.deploy("production", "p", 1).await;
    app.deploy("production", "p", 2).await;
    set_gates(
        app,
        "production",
        json!({"required_predecessor": "staging",
        "gates": [{"name": "never", "expression": "false"}]}),
    )
    .await;
    let r = app
        .post(
            "/v1/environments/production/prompts/p/rollback",
            json!({"reason": "incident"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["to_version"], 1);
    // Going forward again is a deploy, and gated.
    assert_eq!(
        app.deploy("production", "p", 2).await.code(),
        "predecessor_required"
    );
}

async fn langfuse_labels_and_rollouts_are_gated(app: &TestApp) {
    app.push("greet", "Hello").await;
    app.push("greet", "Hi").await;
    app.deploy("production", "greet", 1).await;
    set_gates(
        app,
        "production",
        json!({"gates": [
        {"name": "evals", "expression": "'evals' in validations && validations.evals.passed"}]}),
    )
    .await;
    let auth = crate::langfuse::key_pair(app, "admin").await;
    let moved = crate::langfuse::lf(
        app,
        Method::PATCH,
        "/api/public/v2/prompts/greet/versions/2",
        &auth,
        Some(json!({"newLabels": ["production"]})),
    )
    .await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST, "{}", moved.body);
    assert!(
        moved.body["message"]
            .as_str()
            .unwrap()
            .contains("gate 'evals'"),
        "{}",
        moved.body
    );
    let live = app.get("/v1/environments/production/prompts/greet").await;
    assert_eq!(live.body["to_version"], 1, "the label did not move");

    let rollout = app
        .post(
            "/v1/environments/production/prompts/greet/rollouts",
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"set_weight": 1000}, {"pause": {}}]}}}),
        )
        .await;
    assert_eq!(
        (rollout.status, rollout.code()),
        (StatusCode::CONFLICT, "gate_failed")
    );

    attach(app, "greet", 2, "evals", true, 1.0).await;
    let moved = crate::langfuse::lf(
        app,
        Method::PATCH,
        "/api/public/v2/prompts/greet/versions/2",
        &auth,
        Some(json!({"newLabels": ["production"]})),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
}

async fn a_deploy_racing_a_failing_result_sees_it_or_not(app: &TestApp) {
    app.push("p", "one").await;
    attach(app, "p", 1, "evals", true, 1.0).await;
    set_gates(
        app,
        "production",
        json!({"gates": [
        {"name": "evals", "expression": "validations.evals.passed"}]}),
    )
    .await;
    let (deploy, failing) = tokio::join!(
        app.deploy("production", "p", 1),
        attach(app, "p", 1, "evals", false, 0.0)
    );
    assert_eq!(failing.status, StatusCode::CREATED);
    let history = app
        .get("/v1/environments/production/prompts/p/history")
        .await;
    let moves = history.body["items"].as_array().unwrap().len();
    if deploy.status == StatusCode::OK {
        // It committed before the failing result: the result came after, the move stands.
        assert_eq!(moves, 1);
        let results = app.get(&validations("p", 1)).await;
        let last = results.body["items"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["passed"], false);
    } else {
        assert_eq!(deploy.code(), "gate_failed", "{}", deploy.body);
        assert_eq!(moves, 0, "refused: nothing recorded");
    }
    // Either way, from now on the failing result is the suite's result.
    assert_eq!(
        app.deploy("production", "p", 1).await.status == StatusCode::OK,
        deploy.status == StatusCode::OK
    );
}
