//! A diff of two large, entirely different versions: bounded in time and flagged, and computed
//! off the async threads, so that resolves go on being answered while it runs.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(large_diffs_are_bounded_and_never_stall_resolves);

/// The diff's time bound: a diff of these versions runs at least this long.
const DIFF_BOUND: Duration = Duration::from_secs(1);

async fn send(
    router: &Router,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, bytes) = send_raw(router, method, path, body).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The status and the body unparsed (parsing a large body would itself hold up the test's
/// single thread).
async fn send_raw(
    router: &Router,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, axum::body::Bytes) {
    let body = body.map_or_else(Vec::new, |b| serde_json::to_vec(&b).unwrap());
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn lines(tag: &str) -> String {
    (0..50_000).map(|i| format!("line {i} {tag}\n")).collect()
}

async fn large_diffs_are_bounded_and_never_stall_resolves(app: &TestApp) {
    // The shared test router refuses bodies over 64 KiB; these versions are ~700 KB each.
    let state = promptreg_server::state_for_store(app.store.clone(), ADMIN)
        .await
        .unwrap();
    let router = promptreg_server::router(state, 4 * 1024 * 1024);
    for tag in ["a", "b"] {
        let (status, body) = send(
            &router,
            Method::POST,
            "/v1/prompts/big/versions",
            Some(json!({"type": "text", "template": lines(tag)})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    send(
        &router,
        Method::POST,
        "/v1/environments",
        Some(json!({"name": "production"})),
    )
    .await;
    send(
        &router,
        Method::POST,
        "/v1/prompts/small/versions",
        Some(json!({"type": "text", "template": "hi"})),
    )
    .await;
    let (status, body) = send(
        &router,
        Method::PUT,
        "/v1/environments/production/prompts/small",
        Some(json!({"version": 1})),
    )
    .await;
    assert!(status.is_success(), "{body}");

    let started = Instant::now();
    let diff = tokio::spawn({
        let router = router.clone();
        async move { send_raw(&router, Method::GET, "/v1/prompts/big/diff", None).await }
    });
    let (mut worst, mut resolves, mut last) = (Duration::ZERO, 0, Instant::now());
    while !diff.is_finished() {
        tokio::task::yield_now().await;
        let (status, body) = send(&router, Method::GET, "/v1/resolve/small", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        worst = worst.max(last.elapsed());
        last = Instant::now();
        resolves += 1;
    }
    let took = started.elapsed();
    let (status, bytes) = diff.await.unwrap();
    let d: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, StatusCode::OK, "{d}");
    assert!(
        took >= DIFF_BOUND && resolves > 1,
        "the diff must overlap the resolves for this test to mean anything ({took:?}, {resolves})"
    );
    // A diff on the async thread would hold every resolve for (nearly) all of its time: one
    // gap as long as the diff. Off that thread, resolves go on; the longest gap is the
    // request's own work around the diff (reading and answering ~1.4 MB in a debug build),
    // which a loaded CI machine stretches, so the bound is relative to the diff's time rather
    // than a fixed number of milliseconds.
    assert!(
        worst < took * 3 / 4,
        "a resolve waited {worst:?} behind a diff that took {took:?} ({resolves} resolves)"
    );
    assert!(took < Duration::from_secs(30), "the diff took {took:?}");
    assert_eq!(d["approximate"], true, "the time bound was reached");
    let text = d["diff"].as_str().unwrap();
    assert!(text.contains("-line 0 a") && text.contains("+line 49999 b"));
}
