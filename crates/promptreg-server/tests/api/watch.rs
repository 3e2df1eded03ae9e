//! The change stream, `GET /v1/watch`, on both backends: replay after `Last-Event-ID` or
//! `?after=`, the `ready` frame, live changes, filters, the errors before the stream opens, and
//! a reconnect while writes go on that misses nothing and repeats nothing.

mod options;
mod replicas;
pub(crate) mod snapshot;
pub mod sse;

use axum::http::StatusCode;
use promptreg_core::ProjectId;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;
use sse::{open, open_as, SECOND};

/// The seqs of the log's watched changes (version creations, pointer moves, rollout
/// changes) after `after`: what a watcher must receive, in this order.
pub async fn watched_seqs(app: &TestApp, after: i64) -> Vec<i64> {
    app.store
        .events_after(&ProjectId::default(), after, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| {
            matches!(
                e.change.kind(),
                "version_created" | "pointer_moved" | "rollout_changed"
            )
        })
        .map(|e| e.seq)
        .collect()
}

/// The project's log head.
pub async fn head(app: &TestApp) -> i64 {
    app.store
        .events_after(&ProjectId::default(), 0, 10_000)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.seq)
}

both_backends!(
    replays_after_last_event_id_or_after_then_goes_live,
    a_reconnect_while_writes_go_on_misses_nothing_and_repeats_nothing,
    env_and_prefix_filter_what_is_sent,
    refusals_come_before_the_stream_with_the_envelope,
);

async fn replays_after_last_event_id_or_after_then_goes_live(app: &TestApp) {
    app.push("p", "one").await;
    app.deploy("production", "p", 1).await;
    let all = watched_seqs(app, 0).await;
    assert_eq!(all.len(), 2);
    let head = head(app).await;

    // From the start of the log, by header and by query (the header wins).
    for (path, headers) in [
        ("/v1/watch", vec![("last-event-id", "0")]),
        ("/v1/watch?after=0", vec![]),
        ("/v1/watch?after=999999", vec![("last-event-id", "0")]),
    ] {
        let mut s = open(&app.router, path, &headers).await;
        let (changes, ready) = s.until_ready().await;
        let ids: Vec<i64> = changes.iter().map(|f| f.id.unwrap()).collect();
        assert_eq!(ids, all, "{path} {headers:?}");
        assert_eq!(ready, head, "ready says everything up to the head was sent");
        assert_eq!(changes[0].event, "version_created");
        assert_eq!(changes[1].event, "pointer_moved");
        // `data` is the event record, the same as the log holds.
        let record: promptreg_core::EventRecord = serde_json::from_str(&changes[1].data).unwrap();
        assert_eq!(Some(record.seq), changes[1].id);
        assert_eq!(changes[1].json()["change"]["to_version"], 1);
    }

    // After the first change: only the second is replayed.
    let after = all[0].to_string();
    let mut s = open(&app.router, "/v1/watch", &[("last-event-id", &after)]).await;
    let (changes, _) = s.until_ready().await;
    assert_eq!(
        changes.iter().map(|f| f.id.unwrap()).collect::<Vec<_>>(),
        &all[1..]
    );

    // Without a position: no replay, then what is committed next, live.
    let mut live = open(&app.router, "/v1/watch", &[]).await;
    let (changes, ready) = live.until_ready().await;
    assert!(changes.is_empty());
    assert_eq!(ready, head);
    app.push("p", "two").await;
    app.deploy("production", "p", 2).await;
    let created = live.event(SECOND * 5).await.unwrap();
    assert_eq!(created.event, "version_created");
    assert_eq!(created.json()["change"]["version"], 2);
    let moved = live.event(SECOND * 5).await.unwrap();
    assert_eq!(moved.event, "pointer_moved");
    assert_eq!(moved.json()["change"]["from_version"], 1);
    assert_eq!(moved.json()["change"]["to_version"], 2);
    assert!(moved.id > created.id);
    // The older stream (opened with a replay) gets the same frames live.
    let mut more = Vec::new();
    for _ in 0..2 {
        more.push(s.event(SECOND * 5).await.unwrap().id.unwrap());
    }
    assert_eq!(more, vec![created.id.unwrap(), moved.id.unwrap()]);
}

async fn a_reconnect_while_writes_go_on_misses_nothing_and_repeats_nothing(app: &TestApp) {
    app.push("w", "v0").await;
    let writer = {
        let router = app.router.clone();
        tokio::spawn(async move {
            for i in 1..=40 {
                let body = json!({"type": "text", "template": format!("v{i}")});
                let a = crate::helpers::send_json(&router, "POST", "/v1/prompts/w/versions", body)
                    .await;
                assert_eq!(a, StatusCode::CREATED);
                let body = json!({"version": i + 1});
                let a = crate::helpers::send_json(
                    &router,
                    "PUT",
                    "/v1/environments/production/prompts/w",
                    body,
                )
                .await;
                assert_eq!(a, StatusCode::OK);
            }
        })
    };
    let mut received = Vec::new();
    let mut last = 0;
    // Three connections, each dropped after a few frames while the writer goes on.
    for _ in 0..3 {
        let id = last.to_string();
        let mut s = open(&app.router, "/v1/watch", &[("last-event-id", &id)]).await;
        let mut changes = 0;
        while changes < 15 {
            let Some(f) = s.event(SECOND * 10).await else {
                break;
            };
            last = f.id.unwrap();
            if f.is_change() {
                received.push(last);
                changes += 1;
            }
        }
    }
    writer.await.unwrap();
    let expected = watched_seqs(app, 0).await;
    let final_seq = *expected.last().unwrap();
    let id = last.to_string();
    let mut s = open(&app.router, "/v1/watch", &[("last-event-id", &id)]).await;
    while received.last() != Some(&final_seq) {
        let f = s.event(SECOND * 10).await.expect("stream ended early");
        if f.is_change() {
            received.push(f.id.unwrap());
        }
    }
    assert_eq!(received, expected, "every change once, in log order");
}

async fn env_and_prefix_filter_what_is_sent(app: &TestApp) {
    let mut prod = open(&app.router, "/v1/watch?env=production", &[]).await;
    prod.until_ready().await;
    let mut support = open(&app.router, "/v1/watch?prefix=support%2F", &[]).await;
    support.until_ready().await;
    app.push("support/triage", "t").await;
    app.push("billing", "b").await;
    app.deploy("staging", "support/triage", 1).await;
    app.deploy("production", "billing", 1).await;
    app.deploy("production", "support/triage", 1).await;

    let mut got = Vec::new();
    for _ in 0..4 {
        let f = prod.event(SECOND * 5).await.unwrap();
        let c = f.json()["change"].clone();
        got.push(format!(
            "{} {} {}",
            f.event,
            c["name"].as_str().unwrap(),
            c["env"].as_str().unwrap_or("-")
        ));
    }
    assert_eq!(
        got,
        [
            "version_created support/triage -",
            "version_created billing -",
            "pointer_moved billing production",
            "pointer_moved support/triage production",
        ],
        "env=production: version creations and production's moves, not staging's"
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        let f = support.event(SECOND * 5).await.unwrap();
        let c = f.json()["change"].clone();
        got.push(format!("{} {}", f.event, c["env"].as_str().unwrap_or("-")));
    }
    assert_eq!(
        got,
        [
            "version_created -",
            "pointer_moved staging",
            "pointer_moved production"
        ],
        "prefix=support/: only support/triage"
    );
}

/// A refused watch request: path and query, extra headers, status, a word the message names.
type Refusal<'a> = (&'a str, &'a [(&'a str, &'a str)], StatusCode, &'a str);

async fn refusals_come_before_the_stream_with_the_envelope(app: &TestApp) {
    let cases: [Refusal<'_>; 8] = [
        (
            "/v1/watch?env=nowhere",
            &[],
            StatusCode::NOT_FOUND,
            "nowhere",
        ),
        (
            "/v1/watch?env=Bad%20Env",
            &[],
            StatusCode::BAD_REQUEST,
            "environment",
        ),
        ("/v1/watch?after=-1", &[], StatusCode::BAD_REQUEST, "after"),
        ("/v1/watch?after=x", &[], StatusCode::BAD_REQUEST, "after"),
        (
            "/v1/watch",
            &[("last-event-id", "twelve")],
            StatusCode::BAD_REQUEST,
            "Last-Event-ID",
        ),
        (
            "/v1/watch?prefix=Support",
            &[],
            StatusCode::BAD_REQUEST,
            "prefix",
        ),
        ("/v1/watch?prefix=", &[], StatusCode::BAD_REQUEST, "prefix"),
        (
            "/v1/environments/nowhere/snapshot",
            &[],
            StatusCode::NOT_FOUND,
            "nowhere",
        ),
    ];
    for (path, headers, status, mention) in cases {
        let a = open_as(&app.router, path, Some(crate::helpers::ADMIN), headers)
            .await
            .err()
            .unwrap_or_else(|| panic!("{path} opened a stream"));
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert!(a.message().contains(mention), "{path}: {}", a.message());
    }
    for path in ["/v1/watch", "/v1/environments/production/snapshot"] {
        let a = open_as(&app.router, path, None, &[]).await.err().unwrap();
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(a.code(), "unauthorized");
        let a = open_as(&app.router, path, Some("prt_wrong"), &[])
            .await
            .err()
            .unwrap();
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}
