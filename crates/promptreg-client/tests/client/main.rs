//! The client against a scripted stand-in server: encoding, envelopes, ETag caching, paging.
//! The agent SDK runs against the real server, on both backends (`agent/`).

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use promptreg_client::{all_pages, Client, ClientError, PageRequest, PromptFilter};
use promptreg_core::{EnvName, PromptBody, PromptContent, PromptName};
use serde_json::json;

mod agent;
mod rollouts;

#[derive(Default)]
struct Seen {
    full_bodies: AtomicUsize,
    not_modified: AtomicUsize,
    uris: parking_lot::Mutex<Vec<String>>,
}

fn greeting_digest() -> String {
    PromptContent::new(PromptBody::Text("Hello {{ name }}".into()), None, None)
        .unwrap()
        .digest()
        .to_string()
}

async fn resolve(
    State(seen): State<Arc<Seen>>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    seen.uris.lock().push(uri.to_string());
    if q.get("env").map(String::as_str) == Some("staging") {
        let body = json!({"error": {"code": "not_deployed", "message": "support/triage is not deployed in staging"}});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let digest = greeting_digest();
    let etag = format!("\"{digest}\"");
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        seen.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    seen.full_bodies.fetch_add(1, Ordering::SeqCst);
    let body = json!({
        "name": "support/triage", "version": 3, "digest": digest, "type": "text",
        "template": "Hello {{ name }}", "messages": null, "variables": null, "model": null,
        "env": q.get("env").cloned().unwrap_or_default()
    });
    (StatusCode::OK, [("etag", etag)], Json(body)).into_response()
}

async fn prompts(Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    let summary = |name: &str| {
        json!({"name": name, "latest_version": 1, "latest_digest": greeting_digest(),
               "type": "text", "tags": [], "updated_at": "2026-01-01T00:00:00Z", "environments": []})
    };
    let page = match q.get("cursor").map(String::as_str) {
        None => json!({"items": [summary("a"), summary("b")], "next_cursor": "c1"}),
        Some("c1") => json!({"items": [summary("c")], "next_cursor": null}),
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"code": "invalid_cursor", "message": "cursor: not issued by this server"}})),
            )
                .into_response()
        }
    };
    assert_eq!(q.get("limit").map(String::as_str), Some("500"));
    Json(page).into_response()
}

async fn start() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/v1/resolve/{name}", get(resolve))
        .route("/v1/prompts", get(prompts))
        .route(
            "/v1/prompts/{name}/versions/latest",
            get(|| async { Json(json!({"not": "a version"})) }),
        )
        .route(
            "/v1/environments",
            get(|| async { StatusCode::BAD_REQUEST }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn name(s: &str) -> PromptName {
    PromptName::parse(s).unwrap()
}

#[tokio::test]
async fn resolve_revalidates_with_the_etag_and_serves_the_kept_copy_on_304() {
    let (url, seen) = start().await;
    let client = Client::new(&url, "t").unwrap();
    let first = client
        .resolve(&name("support/triage"), None, Some("user-1"))
        .await
        .unwrap();
    let second = client
        .resolve(&name("support/triage"), None, Some("user-1"))
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(first.version.get(), 3);
    assert_eq!(seen.full_bodies.load(Ordering::SeqCst), 1);
    assert_eq!(seen.not_modified.load(Ordering::SeqCst), 1);
    assert_eq!(
        seen.uris.lock()[0],
        "/v1/resolve/support%2Ftriage?env=production&subject=user-1"
    );
    assert_eq!(
        client.cached_resolve(&name("support/triage"), None),
        Some(first)
    );
    // A fresh client has nothing kept, so it gets a full body.
    client.clear_resolve_cache();
    client
        .resolve(&name("support/triage"), None, None)
        .await
        .unwrap();
    assert_eq!(seen.full_bodies.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn api_errors_carry_the_envelope() {
    let (url, _) = start().await;
    let client = Client::new(&url, "t").unwrap();
    let staging = EnvName::parse("staging").unwrap();
    let err = client
        .resolve(&name("support/triage"), Some(&staging), None)
        .await
        .unwrap_err();
    match &err {
        ClientError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 404);
            assert_eq!(code, "not_deployed");
            assert!(message.contains("staging"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "support/triage is not deployed in staging (not_deployed, HTTP 404)"
    );
    assert!(err.is_not_found());
}

#[tokio::test]
async fn bodies_that_are_not_the_envelope_still_give_the_status() {
    let (url, _) = start().await;
    let client = Client::new(&url, "t").unwrap();
    let err = client
        .list_environments(PageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.code(), Some("bad_request"));
}

#[tokio::test]
async fn undecodable_success_bodies_are_decode_errors() {
    let (url, _) = start().await;
    let client = Client::new(&url, "t").unwrap();
    let err = client.latest_version(&name("a")).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Decode { status: 200, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn all_pages_follows_cursors() {
    let (url, _) = start().await;
    let client = Client::new(&url, "t").unwrap();
    let filter = PromptFilter::default();
    let items = all_pages(|page| client.list_prompts(&filter, page))
        .await
        .unwrap();
    let names: Vec<&str> = items.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error() {
    // Bind and drop to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::new(&format!("http://127.0.0.1:{port}"), "t").unwrap();
    let err = client.get_prompt(&name("a")).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err}");
}
