//! The change stream's limits and lifecycle: heartbeats, a client that reads too slowly
//! (`resync` `lagged`), a replay longer than the limit (`too_far_behind`), a policy that
//! refuses `resolve` (403), and a server that stops with streams open (`shutdown`, and the
//! stop does not wait for them).

use std::time::Duration;

use axum::http::StatusCode;
use futures::StreamExt;
use promptreg_client::{WatchEvent, WatchOptions as ClientWatchOptions};
use promptreg_server::registry::{CedarPolicy, RegistryOptions, WatchOptions};

use super::head;
use super::sse::{open, open_as, SECOND};
use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

/// A server over `app`'s database with other change-stream options; every request of the
/// test goes to it.
async fn with_options(app: &TestApp, watch: WatchOptions, policy: Option<&str>) -> TestApp {
    let mut options = RegistryOptions {
        watch,
        ..Default::default()
    };
    if let Some(text) = policy {
        options.policies = Some(CedarPolicy::builtin().prepare(text, "test").unwrap());
    }
    app.restarted_with_options(options).await
}

both_backends!(
    heartbeats_fill_silence_at_the_configured_interval,
    a_client_that_reads_too_slowly_gets_resync_lagged_and_is_closed,
    a_replay_longer_than_the_limit_gets_resync_too_far_behind,
    a_policy_that_refuses_resolve_refuses_the_stream_and_the_snapshot,
);

async fn heartbeats_fill_silence_at_the_configured_interval(app: &TestApp) {
    let watch = WatchOptions {
        heartbeat: Duration::from_millis(100),
        ..Default::default()
    };
    let app = with_options(app, watch, None).await;
    let mut s = open(&app.router, "/v1/watch", &[]).await;
    let ready = s.event(SECOND * 5).await.unwrap();
    assert_eq!(ready.event, "ready");
    assert_eq!(ready.json()["heartbeat_ms"], 100);
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let f = s.next(SECOND).await.unwrap();
        assert_eq!((f.event.as_str(), f.data.as_str()), (":", "heartbeat"));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

async fn a_client_that_reads_too_slowly_gets_resync_lagged_and_is_closed(app: &TestApp) {
    let watch = WatchOptions {
        buffer: 4,
        ..Default::default()
    };
    let app = with_options(app, watch, None).await;
    let mut slow = open(&app.router, "/v1/watch", &[]).await;
    let (_, ready) = slow.until_ready().await;
    // A reader that keeps up sees every change.
    let mut quick = open(&app.router, "/v1/watch", &[]).await;
    quick.until_ready().await;
    for i in 0..10 {
        app.push("p", &format!("v{i}")).await;
        assert_eq!(
            quick.event(SECOND * 5).await.unwrap().event,
            "version_created"
        );
    }
    // The slow one is told, with the last position it got, and the stream ends.
    let f = slow.event(SECOND * 5).await.unwrap();
    assert_eq!(f.event, "resync", "{f:?}");
    assert_eq!(f.json()["reason"], "lagged");
    assert_eq!(f.json()["seq"], ready);
    assert!(
        slow.event(SECOND * 5).await.is_none(),
        "closed after resync"
    );
}

async fn a_replay_longer_than_the_limit_gets_resync_too_far_behind(app: &TestApp) {
    let watch = WatchOptions {
        replay_limit: 3,
        ..Default::default()
    };
    let app = with_options(app, watch, None).await;
    for i in 0..5 {
        app.push("p", &format!("v{i}")).await;
    }
    let mut s = open(&app.router, "/v1/watch?after=0", &[]).await;
    let f = s.event(SECOND * 5).await.unwrap();
    assert_eq!(f.event, "resync");
    assert_eq!(f.json()["reason"], "too_far_behind");
    assert_eq!(f.json()["seq"], 0);
    assert!(s.event(SECOND * 5).await.is_none());
    // Within the limit, the replay is served.
    let after = (head(&app).await - 2).to_string();
    let mut s = open(&app.router, "/v1/watch", &[("last-event-id", &after)]).await;
    let (changes, _) = s.until_ready().await;
    assert_eq!(changes.len(), 2);
}

async fn a_policy_that_refuses_resolve_refuses_the_stream_and_the_snapshot(app: &TestApp) {
    let policy = r#"
        permit (principal, action, resource);
        forbid (principal, action == Action::"resolve", resource)
        unless { principal in Role::"admin" };
    "#;
    let app = with_options(app, WatchOptions::default(), Some(policy)).await;
    let reader = app.token("reader").await;
    for path in ["/v1/watch", "/v1/environments/production/snapshot"] {
        let a = open_as(&app.router, path, Some(&reader), &[])
            .await
            .err()
            .unwrap();
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.body);
        assert_eq!(a.code(), "forbidden");
    }
    let a = app.get("/v1/environments/production/snapshot").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// A real server: a heartbeat set by the serve option reaches a plain HTTP client, and
/// stopping the server sends open streams `resync` (`shutdown`) instead of waiting on them.
#[tokio::test]
async fn the_heartbeat_option_applies_and_a_stop_ends_open_streams() {
    let server = promptreg_server::testing::spawn_sqlite_with(|c| {
        c.service.watch_heartbeat = Duration::from_millis(200);
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let mut raw = http
        .get(format!("{}/v1/watch", server.url()))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let mut text = String::new();
    while !text.contains(": heartbeat\n\n") {
        let chunk = tokio::time::timeout(SECOND * 3, raw.chunk())
            .await
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.starts_with("id: "), "{text}");
    assert!(text.contains("\"heartbeat_ms\":200"), "{text}");

    let client = promptreg_client::Client::builder(server.url())
        .token(ADMIN)
        .build()
        .unwrap();
    let mut stream = client.watch(&ClientWatchOptions::default()).await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(WatchEvent::Ready(_)))
    ));
    let stopped = tokio::time::timeout(SECOND * 10, server.stop()).await;
    assert!(stopped.is_ok(), "the server did not stop with streams open");
    let last = tokio::time::timeout(SECOND * 5, stream.next())
        .await
        .unwrap();
    match last {
        Some(Ok(WatchEvent::Resync(r))) => assert_eq!(r.reason, "shutdown"),
        other => panic!("expected resync shutdown, got {other:?}"),
    }
    drop(raw);
}
