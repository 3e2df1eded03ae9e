//! Retention through the API, on both backends: lifecycle rules, a dry run that lists what
//! would go (and what is held) and changes nothing, and a prune that crypto-shreds exactly
//! those versions, leaves tombstones (410 `pruned`, marked in lists), records a ledger leaf
//! per version, never touches what is live, was in a protected environment, may be rolled
//! back to or is part of an active rollout, and survives a restart.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Answer, TestApp};

both_backends!(
    a_dry_run_lists_what_would_go_and_changes_nothing,
    a_prune_leaves_tombstones_and_never_touches_held_versions,
    pruned_bytes_leave_the_sqlite_files,
    lifecycle_rules_are_checked_recorded_and_admin_only,
);

/// `t/a` v1..v8 and `t/b` v1..v3, moved so that every hold appears:
/// - `prod` (protected): `t/a` v1 then v2 (v2 live, v1 a rollback target);
/// - `staging`: v3, v4, rolled back to v3 (v4 was live, is no longer on the stack);
/// - `development`: v5 live and an active canary rollout to v6;
/// - v7 never deployed, v8 the newest; `t/b` (24 KB templates) never deployed.
async fn seed(app: &TestApp) {
    let env = app
        .post(
            "/v1/environments",
            json!({"name": "prod", "protected": true}),
        )
        .await;
    assert_eq!(env.status, StatusCode::CREATED, "{}", env.body);
    for i in 1..=8 {
        let a = app.push("t/a", &format!("A{i} {{{{ x }}}}")).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    }
    for i in 1..=3 {
        // Large enough to spill into SQLite overflow pages, which a prune frees.
        let template = format!("B{i} {}", "lorem ipsum ".repeat(2_000));
        assert_eq!(app.push("t/b", &template).await.status, StatusCode::CREATED);
    }
    for v in [1, 2] {
        // `prod` is protected: the admin seeds it by break-glass.
        let a = app
            .put(
                "/v1/environments/prod/prompts/t%2Fa",
                json!({"version": v, "break_glass": true, "reason": "seed"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    for (env, v) in [("staging", 3), ("staging", 4)] {
        let a = app.deploy(env, "t/a", v).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let back = app
        .post("/v1/environments/staging/prompts/t%2Fa/rollback", json!({}))
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(back.body["to_version"], 3);
    assert_eq!(
        app.deploy("development", "t/a", 5).await.status,
        StatusCode::OK
    );
    let rollout = app
        .post(
            "/v1/environments/development/prompts/t%2Fa/rollouts",
            json!({"candidate": 6, "strategy": {"canary": {"steps": [
                {"set_weight": 500}, {"pause": {}}]}}}),
        )
        .await;
    assert_eq!(rollout.status, StatusCode::CREATED, "{}", rollout.body);
    // The controller takes the first step (and records it) on its own pass: wait until it
    // rests at the pause, so that the tests' "no new event" checks see a quiet registry.
    let id = rollout.body["id"].as_str().unwrap();
    app.wait_for_rollout(id, |r| r["paused_reason"] == "pause_step")
        .await;
}

/// What a prune with `keep_last: 1` lets go in the seeded registry.
const EXPECTED: [(&str, i64); 4] = [("t/a", 4), ("t/a", 7), ("t/b", 1), ("t/b", 2)];

async fn set_rules(app: &TestApp, body: Value) -> Answer {
    app.put("/v1/lifecycle", body).await
}

async fn prune(app: &TestApp, dry_run: bool) -> Answer {
    let a = app.post("/v1/prune", json!({"dry_run": dry_run})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["dry_run"], dry_run);
    a
}

fn listed(answer: &Answer, key: &str) -> Vec<(String, i64)> {
    answer.body[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn expected() -> Vec<(String, i64)> {
    EXPECTED
        .iter()
        .map(|(n, v)| ((*n).to_owned(), *v))
        .collect()
}

fn holds(answer: &Answer, version: i64) -> Vec<String> {
    answer.body["held"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "t/a" && h["version"] == version)
        .map(|h| {
            h["holds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn version_path(name: &str, v: i64) -> String {
    format!("/v1/prompts/{}/versions/{v}", name.replace('/', "%2F"))
}

async fn a_dry_run_lists_what_would_go_and_changes_nothing(app: &TestApp) {
    seed(app).await;
    // No rules: nothing would go.
    let none = prune(app, true).await;
    assert_eq!(none.body["pruned"], json!([]));
    assert_eq!(none.body["keep_last"], Value::Null);
    // An age keeps everything here: it was all created a moment ago.
    let set = set_rules(app, json!({"keep_last": 1, "prune_unused_after": "30d"})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let recent = prune(app, true).await;
    assert_eq!(recent.body["pruned"], json!([]), "{}", recent.body);
    assert_eq!(recent.body["prune_unused_after"], "30d");

    assert_eq!(
        set_rules(app, json!({"keep_last": 1})).await.status,
        StatusCode::OK
    );
    let events = app.events().await;
    let checkpoint = app.get("/v1/ledger/checkpoint").await.body;
    let dry = prune(app, true).await;
    assert_eq!(listed(&dry, "pruned"), expected(), "{:#}", dry.body);
    for p in dry.body["pruned"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        assert_eq!(
            p["reason"],
            format!("beyond the newest 1 version of '{name}'")
        );
        assert!(p["digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(p.get("ledger_index").is_none(), "a dry run records nothing");
    }
    assert_eq!(
        listed(&dry, "held"),
        [1, 2, 3, 5, 6].map(|v| ("t/a".to_owned(), v)).to_vec()
    );
    assert_eq!(
        holds(&dry, 1),
        [
            "was deployed to the protected environment prod",
            "a rollback target in prod"
        ]
    );
    assert_eq!(
        holds(&dry, 2),
        [
            "live in prod",
            "was deployed to the protected environment prod"
        ]
    );
    assert_eq!(holds(&dry, 3), ["live in staging"]);
    let h5 = holds(&dry, 5);
    assert_eq!(h5[0], "live in development");
    assert!(
        h5[1].starts_with("the stable version of active rollout "),
        "{h5:?}"
    );
    let h6 = holds(&dry, 6);
    assert!(
        h6.len() == 1 && h6[0].starts_with("the candidate of active rollout "),
        "{h6:?}"
    );

    // Nothing changed: no event, the same ledger, every version still readable.
    assert_eq!(app.events().await, events);
    assert_eq!(app.get("/v1/ledger/checkpoint").await.body, checkpoint);
    for (name, v) in EXPECTED {
        let a = app.get(&version_path(name, v)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body["template"].is_string());
    }
    // The same answer twice.
    assert_eq!(
        listed(&prune(app, true).await, "pruned"),
        listed(&dry, "pruned")
    );
}

async fn a_prune_leaves_tombstones_and_never_touches_held_versions(app: &TestApp) {
    seed(app).await;
    assert_eq!(
        set_rules(app, json!({"keep_last": 1})).await.status,
        StatusCode::OK
    );
    let mut kept = Vec::new();
    for v in [1, 2, 3, 5, 6, 8] {
        kept.push(app.get(&version_path("t/a", v)).await.body);
    }
    let events = app.events().await;
    let done = prune(app, false).await;
    assert_eq!(listed(&done, "pruned"), expected(), "{:#}", done.body);
    assert_eq!(
        app.events().await,
        events + 4,
        "one version_pruned event each"
    );

    // The rows hold no content any more: no ciphertext, nonce, wrapped key or plaintext.
    let sealed_left = app
        .count(
            "SELECT COUNT(*) FROM versions WHERE pruned_at IS NOT NULL AND (ciphertext IS NOT NULL \
             OR nonce IS NOT NULL OR wrapped_key IS NOT NULL OR kek_id IS NOT NULL \
             OR content <> 'null')",
            "SELECT COUNT(*) FROM versions WHERE pruned_at IS NOT NULL AND (ciphertext IS NOT NULL \
             OR nonce IS NOT NULL OR wrapped_key IS NOT NULL OR kek_id IS NOT NULL \
             OR content IS NOT NULL)",
        )
        .await;
    assert_eq!(sealed_left, 0);
    let tombstones = "SELECT COUNT(*) FROM versions WHERE pruned_at IS NOT NULL \
                      AND signature IS NOT NULL AND ledger_seq IS NOT NULL";
    assert_eq!(app.count(tombstones, tombstones).await, 4);
    let sealed =
        "SELECT COUNT(*) FROM versions WHERE pruned_at IS NULL AND wrapped_key IS NOT NULL";
    assert_eq!(
        app.count(sealed, sealed).await,
        7,
        "the other versions keep theirs"
    );

    // GET answers 410 `pruned`; the list shows the tombstone, without content.
    for (name, v) in EXPECTED {
        let a = app.get(&version_path(name, v)).await;
        assert_eq!(a.status, StatusCode::GONE, "{}", a.body);
        assert_eq!(a.code(), "pruned");
        assert!(
            a.message()
                .contains(&format!("prompt '{name}' version {v} was pruned")),
            "{}",
            a.message()
        );
    }
    let list = app.get("/v1/prompts/t%2Fa/versions").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    let v4 = items.iter().find(|v| v["version"] == 4).unwrap();
    assert!(v4["pruned_at"].is_string(), "{v4}");
    assert!(v4["template"].is_null() && v4["digest"].is_string());
    assert!(v4["signature"].is_object() && v4["ledger_index"].is_u64());
    assert!(items
        .iter()
        .filter(|v| v["version"] != 4 && v["version"] != 7)
        .all(|v| v["pruned_at"].is_null() && v["template"].is_string()));
    // Neither deployed nor diffed.
    let deploy = app.deploy("staging", "t/a", 4).await;
    assert_eq!(deploy.status, StatusCode::GONE, "{}", deploy.body);
    let diff = app.get("/v1/prompts/t%2Fa/diff?from=4&to=8").await;
    assert_eq!(diff.status, StatusCode::GONE, "{}", diff.body);

    // Held versions are untouched and still served.
    for (i, v) in [1, 2, 3, 5, 6, 8].into_iter().enumerate() {
        let a = app.get(&version_path("t/a", v)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body, kept[i]);
    }
    let prod = app.get("/v1/resolve/t%2Fa?env=prod").await;
    assert_eq!(
        (prod.status, prod.body["version"].clone()),
        (StatusCode::OK, json!(2))
    );
    let staging = app.get("/v1/resolve/t%2Fa?env=staging").await;
    assert_eq!(staging.body["version"], 3);
    let rollback = app
        .post("/v1/environments/prod/prompts/t%2Fa/rollback", json!({}))
        .await;
    assert_eq!(rollback.status, StatusCode::OK, "{}", rollback.body);
    assert_eq!(
        rollback.body["to_version"], 1,
        "the rollback target is still there"
    );

    // The ledger has a leaf per pruned version, with its digest and the reason.
    let entries = app.get("/v1/ledger/entries?start=0&limit=1000").await;
    let leaves: Vec<&Value> = entries.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["leaf"])
        .filter(|l| l["change"]["event"] == "version_pruned")
        .collect();
    let pruned_leaves: Vec<(String, i64)> = leaves
        .iter()
        .map(|l| {
            (
                l["change"]["name"].as_str().unwrap().to_owned(),
                l["change"]["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(pruned_leaves, expected());
    for (leaf, p) in leaves.iter().zip(done.body["pruned"].as_array().unwrap()) {
        assert_eq!(leaf["change"]["digest"], p["digest"]);
        assert_eq!(
            leaf["seq"].as_u64().unwrap() - 1,
            p["ledger_index"].as_u64().unwrap()
        );
        assert!(leaf["reason"]
            .as_str()
            .unwrap()
            .starts_with("lifecycle rules: beyond the newest 1"));
    }

    // A restarted server is ready, serves the same, and finds nothing more to prune.
    let restarted = app.restarted().await;
    let mut ready = restarted.get("/readyz").await;
    for _ in 0..100 {
        if ready.status == StatusCode::OK || ready.code() != "not_ready" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        ready = restarted.get("/readyz").await;
    }
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let prod = restarted.get("/v1/resolve/t%2Fa?env=prod").await;
    assert_eq!(prod.body["version"], 1);
    assert_eq!(
        restarted.get(&version_path("t/b", 1)).await.status,
        StatusCode::GONE
    );
    let again = prune(&restarted, false).await;
    assert_eq!(again.body["pruned"], json!([]), "{}", again.body);
}

/// On SQLite, a pruned version's wrapped key and ciphertext are gone from the database file
/// and its write-ahead log, not just from the row.
async fn pruned_bytes_leave_the_sqlite_files(app: &TestApp) {
    let Some(files) = app.sqlite_files() else {
        return; // PostgreSQL keeps old row versions until vacuum (docs/api.md)
    };
    seed(app).await;
    let name = promptreg_core::PromptName::parse("t/b").unwrap();
    let stored = app
        .store
        .get_version(
            &promptreg_core::ProjectId::default(),
            &name,
            promptreg_core::Version::FIRST,
        )
        .await
        .unwrap();
    let promptreg_store::StoredContent::Sealed { sealed, .. } = stored.content else {
        panic!("sealed")
    };
    // Pieces of 32 bytes every 1,000 (a ciphertext this long spans several pages, each with
    // a header of its own, so it is never stored in one piece).
    let pieces: Vec<&[u8]> = sealed.ciphertext.chunks(1_000).map(|c| &c[..32]).collect();
    assert!(pieces.len() >= 20);
    let found = |needle: &[u8]| {
        files.iter().any(|f| {
            std::fs::read(f)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
        })
    };
    let pieces_found = || pieces.iter().filter(|p| found(p)).count();
    assert!(
        found(&sealed.wrapped_key) && pieces_found() == pieces.len(),
        "the test must see the bytes before the prune"
    );
    assert_eq!(
        set_rules(app, json!({"keep_last": 1})).await.status,
        StatusCode::OK
    );
    prune(app, false).await;
    assert!(!found(&sealed.wrapped_key), "the wrapped data key is gone");
    assert_eq!(
        pieces_found(),
        0,
        "the ciphertext is gone, overflow pages too"
    );
}

async fn lifecycle_rules_are_checked_recorded_and_admin_only(app: &TestApp) {
    let empty = app.get("/v1/lifecycle").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(
        empty.body,
        json!({"keep_last": null, "prune_unused_after": null, "updated_by": null, "updated_at": null})
    );
    for (body, field) in [
        (json!({"keep_last": 0}), "keep_last"),
        (json!({"keep_last": 1_000_001}), "keep_last"),
        (json!({"prune_unused_after": "30"}), "prune_unused_after"),
        (json!({"prune_unused_after": "0d"}), "prune_unused_after"),
    ] {
        let a = set_rules(app, body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert!(a.message().starts_with(field), "{}", a.message());
    }
    let unknown = set_rules(app, json!({"keep": 3})).await;
    assert!(unknown.status.is_client_error(), "{}", unknown.body);
    let events = app.events().await;

    let set = set_rules(app, json!({"keep_last": 5, "prune_unused_after": "720h"})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["keep_last"], 5);
    assert_eq!(
        set.body["prune_unused_after"], "30d",
        "written back in days"
    );
    assert!(set.body["updated_by"].as_str().unwrap().contains(':'));
    assert_eq!(app.get("/v1/lifecycle").await.body, set.body);
    assert_eq!(app.events().await, events + 1, "a lifecycle_set event");
    let entries = app.get("/v1/ledger/entries?start=0&limit=1000").await;
    let last = entries.body["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["leaf"]["change"],
        json!({"event": "lifecycle_set", "project": "default", "keep_last": 5,
               "prune_unused_after": "30d"})
    );

    // Reading the rules takes a reader; setting them or pruning takes an admin.
    let deployer = app.token("deployer").await;
    let reader = app.token("reader").await;
    let read = app.call(Method::GET, "/v1/lifecycle", &reader, None).await;
    assert_eq!(read.status, StatusCode::OK);
    for (method, path, body) in [
        (Method::PUT, "/v1/lifecycle", json!({"keep_last": 1})),
        (Method::POST, "/v1/prune", json!({"dry_run": true})),
    ] {
        let a = app.call(method, path, &deployer, Some(body)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.body);
    }
    // A prune with no body prunes (nothing here); clearing the rules is a `PUT` of nulls.
    let bare = app
        .raw(
            Method::POST,
            "/v1/prune",
            Some(crate::helpers::ADMIN),
            vec![],
            &[],
        )
        .await;
    assert_eq!(bare.status, StatusCode::OK, "{}", bare.body);
    assert_eq!(bare.body["dry_run"], false);
    let cleared = set_rules(app, json!({})).await;
    assert_eq!(cleared.body["keep_last"], Value::Null);
    assert_eq!(
        app.get("/v1/lifecycle").await.body["keep_last"],
        Value::Null
    );
}
