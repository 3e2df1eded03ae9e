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

/// The longest a resolve may wait while a diff runs: an in-memory lookup takes microseconds,
/// the diff at least its one-second time bound.
const STALL: Duration = Duration::from_millis(500);

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
        took > STALL && resolves > 0,
        "the diff must overlap the resolves for this test to mean anything ({took:?}, {resolves})"
    );
    assert!(worst < STALL, "a resolve waited {worst:?} behind the diff");
    assert!(took < Duration::from_secs(30), "the diff took {took:?}");
    assert_eq!(d["approximate"], true, "the time bound was reached");
    let text = d["diff"].as_str().unwrap();
    assert!(text.contains("-line 0 a") && text.contains("+line 49999 b"));
}
