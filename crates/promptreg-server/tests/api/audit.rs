//! The audit log: who changed what, when, why, with the state before and after.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    every_change_is_listed_newest_first_with_before_and_after,
    filters_combine_and_pages_do_not_overlap,
    the_export_is_every_match_as_json_lines,
    reading_the_audit_log_takes_a_reviewer_and_bad_filters_are_refused,
    events_logged_before_the_audit_log_are_indexed_in_the_background
);

async fn audit(app: &TestApp, query: &str) -> Value {
    let a = app.get(&format!("/v1/audit{query}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body
}

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_change_is_listed_newest_first_with_before_and_after(app: &TestApp) {
    app.push("support/triage", "one").await;
    app.push("support/triage", "two").await;
    app.deploy("production", "support/triage", 1).await;
    app.deploy("production", "support/triage", 2).await;
    let rollback = app
        .raw(
            Method::POST,
            "/v1/environments/production/prompts/support%2Ftriage/rollback",
            Some(ADMIN),
            serde_json::to_vec(&json!({"reason": "bad answers"})).unwrap(),
            &[
                ("content-type", "application/json"),
                ("x-request-id", "incident-42"),
            ],
        )
        .await;
    assert_eq!(rollback.status, StatusCode::OK, "{}", rollback.body);

    let page = audit(app, "?prompt=support/triage").await;
    assert_eq!(
        actions(&page),
        [
            "rollback",
            "deploy",
            "deploy",
            "version_created",
            "version_created"
        ]
    );
    let items = page["items"].as_array().unwrap();
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");

    let rb = &items[0];
    assert_eq!(rb["env"], "production");
    assert_eq!(rb["subject"], "pointer:production/support/triage");
    assert_eq!(rb["reason"], "bad answers");
    assert_eq!(rb["request_id"], "incident-42");
    // The decision behind it: the policies that allowed it.
    let policies = rb["policies"].as_array().expect("policies");
    assert!(!policies.is_empty(), "{rb}");
    assert!(rb["actor"]
        .as_str()
        .unwrap()
        .starts_with("bootstrap-admin:"));
    assert_eq!(rb["before"]["version"], 2);
    assert_eq!(rb["after"]["version"], 1);
    assert_eq!(rb["kind"], "pointer_moved");
    assert_eq!(rb["change"]["to_version"], 1);
    // The state before names the digest the previous move left, not just its number.
    assert_eq!(rb["before"]["digest"], items[1]["after"]["digest"]);
    // A pointer's first move came from nothing.
    assert_eq!(items[2]["before"], Value::Null);
    assert_eq!(items[2]["after"]["version"], 1);
    // Versions: the latest version before and after.
    assert_eq!(items[3]["before"]["latest_version"], 1);
    assert_eq!(items[3]["after"]["latest_version"], 2);
    assert_eq!(items[4]["before"], Value::Null);

    // Token life: created then revoked shows active -> inactive.
    let created = app
        .post("/v1/tokens", json!({"name": "ci", "role": "author"}))
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let revoked = app
        .call(Method::DELETE, &format!("/v1/tokens/{id}"), ADMIN, None)
        .await;
    assert!(revoked.status.is_success(), "{}", revoked.body);
    let page = audit(app, "?action=token_revoked").await;
    let entry = &page["items"][0];
    assert_eq!(entry["subject"], format!("token:{id}"));
    assert_eq!(entry["before"], json!({"active": true}));
    assert_eq!(entry["after"], json!({"active": false}));
}

async fn filters_combine_and_pages_do_not_overlap(app: &TestApp) {
    let author = app.token("author").await;
    for i in 0..5 {
        let a = app
            .call(
                Method::POST,
                "/v1/prompts/a/versions",
                &author,
                Some(json!({"type": "text", "template": format!("a{i}")})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    }
    app.push("b", "b").await;
    app.deploy("staging", "a", 5).await;
    app.deploy("production", "a", 4).await;

    // By environment, by action (an action or an event kind), by actor (token id or full).
    assert_eq!(
        actions(&audit(app, "?env=staging").await),
        ["deploy", "environment_created"]
    );
    let moves = audit(app, "?action=pointer_moved").await;
    assert_eq!(actions(&moves), ["deploy", "deploy"]);
    let page = audit(app, "?prompt=a&action=version_created&limit=2").await;
    let first: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(first.len(), 2);
    let actor = page["items"][0]["actor"].as_str().unwrap().to_owned();
    let token_id = actor.split(':').next().unwrap().to_owned();
    let mut seen = first.clone();
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let next = audit(
            app,
            &format!("?prompt=a&action=version_created&limit=2&cursor={c}"),
        )
        .await;
        seen.extend(
            next["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        cursor = next["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
    for who in [token_id.as_str(), actor.as_str()] {
        let by = audit(app, &format!("?actor={}", urlencode(who))).await;
        assert_eq!(by["items"].as_array().unwrap().len(), 5, "{who}");
    }
    // An id that is a prefix of another is not a match (`_` and `%` are not wildcards).
    let none = audit(app, &format!("?actor={}", &token_id[..token_id.len() - 1])).await;
    assert_eq!(none["items"], json!([]));
    let wild = audit(app, "?actor=%25").await;
    assert_eq!(wild["items"], json!([]));

    // Time range: everything is after an hour ago and nothing before it.
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let after = audit(app, &format!("?prompt=a&since={}", urlencode(&hour_ago))).await;
    assert_eq!(after["items"].as_array().unwrap().len(), 7);
    let before = audit(app, &format!("?prompt=a&until={}", urlencode(&hour_ago))).await;
    assert_eq!(before["items"], json!([]));
}

async fn the_export_is_every_match_as_json_lines(app: &TestApp) {
    for i in 0..7 {
        app.push("x", &format!("v{i}")).await;
    }
    let a = app
        .raw(
            Method::GET,
            "/v1/audit/export?prompt=x",
            Some(ADMIN),
            vec![],
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "application/x-ndjson");
    let text = a.body.as_str().unwrap().to_owned();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    let listed = audit(app, "?prompt=x").await;
    assert_eq!(Value::Array(lines), listed["items"]);
}

async fn reading_the_audit_log_takes_a_reviewer_and_bad_filters_are_refused(app: &TestApp) {
    let author = app.token("author").await;
    let reviewer = app.token("reviewer").await;
    let a = app.call(Method::GET, "/v1/audit", &author, None).await;
    assert_eq!((a.status, a.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let a = app
        .call(Method::GET, "/v1/audit/export", &author, None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = app.call(Method::GET, "/v1/audit", &reviewer, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for bad in [
        "?since=yesterday",
        "?until=2026-13-01T00:00:00Z",
        "?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "?prompt=Bad%20Name",
        "?env=a%2Fb",
        "?action=DROP%20TABLE",
        "?limit=0",
        "?limit=501",
        "?cursor=nonsense",
    ] {
        let a = app.get(&format!("/v1/audit{bad}")).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad}: {}",
            a.body
        );
    }
}

async fn events_logged_before_the_audit_log_are_indexed_in_the_background(app: &TestApp) {
    app.push("legacy", "one").await;
    app.deploy("production", "legacy", 1).await;
    // As a database from before the audit log: the keys were never stored.
    let erased = app
        .tamper(
            "UPDATE event_log SET actor = NULL, action = NULL, prompt = NULL, env = NULL, subject = NULL",
            "UPDATE event_log SET actor = NULL, action = NULL, prompt = NULL, env = NULL, subject = NULL",
        )
        .await;
    assert!(erased >= 2);
    assert_eq!(audit(app, "?prompt=legacy").await["items"], json!([]));
    let mut indexed = 0;
    while let Ok(n) = app.store.index_audit_backlog(1).await {
        if n == 0 {
            break;
        }
        indexed += n;
    }
    assert_eq!(indexed, erased);
    let page = audit(app, "?prompt=legacy").await;
    assert_eq!(actions(&page), ["deploy", "version_created"]);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
