//! Defect: while a replica's change feed was down it went on accepting a token revoked on
//! another replica and answered `/readyz` 200. Here replica B shares A's database but its feed
//! is broken on purpose (a wrapper store whose subscription never delivers), so B can only
//! learn of A's changes by reading the log: it must say it is not ready, and a token revoked
//! on A must stop working on B within the stated bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use futures::StreamExt;
use promptreg_store::*;

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};
use crate::store_proxy::{Hooks, Proxy};

/// How the broken feed behaves.
#[derive(Clone, Copy)]
enum Feed {
    /// Never connects: no `Resync`, nothing at all (a connection that hangs).
    Silent,
    /// Connects (`Resync`) and then delivers nothing (notifications lost in transit).
    Deaf,
}

/// A change subscription that is broken; everything else goes to the real store.
struct BrokenFeed(Feed);

impl Hooks for BrokenFeed {
    fn subscribe(&self) -> Option<EventStream> {
        Some(match self.0 {
            Feed::Silent => futures::stream::pending().boxed(),
            Feed::Deaf => futures::stream::once(async { StoreNotice::Resync })
                .chain(futures::stream::pending())
                .boxed(),
        })
    }
    fn shares_database(&self) -> Option<bool> {
        Some(true)
    }
}

/// Replica B over the same database as `a`, with a broken feed.
async fn replica_b(a: &TestApp, feed: Feed) -> axum::Router {
    let store: Arc<dyn Store> = Arc::new(Proxy {
        inner: a.store.clone(),
        hooks: Arc::new(BrokenFeed(feed)),
    });
    let state = promptreg_server::state_for_store(store, ADMIN)
        .await
        .unwrap();
    promptreg_server::router(state, 64 * 1024)
}

async fn status(router: &axum::Router, path: &str, token: &str) -> StatusCode {
    let req = axum::http::Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    tower::ServiceExt::oneshot(router.clone(), req)
        .await
        .unwrap()
        .status()
}

/// A feed that never comes up: B is not ready, and checks credentials against the database,
/// so a revocation on A is refused on B at once.
async fn a_replica_without_its_feed_is_not_ready_and_refuses_revoked_tokens(a: &TestApp) {
    let token = a.token("reader").await;
    let id = a.get("/v1/tokens").await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = replica_b(a, Feed::Silent).await;
    assert_eq!(
        status(&b, "/readyz", ADMIN).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(status(&b, "/v1/prompts", &token).await, StatusCode::OK);
    let revoked = a
        .call(Method::DELETE, &format!("/v1/tokens/{id}"), ADMIN, None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    assert_eq!(
        status(&b, "/v1/prompts", &token).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A feed that is up but loses notifications: the heads poll catches the revocation within
/// the poll interval (500 ms; the test allows 2 s).
async fn lost_notifications_are_caught_by_the_log_poll(a: &TestApp) {
    let token = a.token("reader").await;
    let id = a.get("/v1/tokens").await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = replica_b(a, Feed::Deaf).await;
    let start = Instant::now();
    while status(&b, "/readyz", ADMIN).await != StatusCode::OK {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "B never became ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status(&b, "/v1/prompts", &token).await, StatusCode::OK);
    a.push("p", "one").await;
    a.deploy("production", "p", 1).await;
    a.call(Method::DELETE, &format!("/v1/tokens/{id}"), ADMIN, None)
        .await;
    let start = Instant::now();
    loop {
        let refused = status(&b, "/v1/prompts", &token).await == StatusCode::UNAUTHORIZED;
        let served = status(&b, "/v1/resolve/p", ADMIN).await == StatusCode::OK;
        if refused && served {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "B did not catch up from the log"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both_backends!(
    a_replica_without_its_feed_is_not_ready_and_refuses_revoked_tokens,
    lost_notifications_are_caught_by_the_log_poll,
);
