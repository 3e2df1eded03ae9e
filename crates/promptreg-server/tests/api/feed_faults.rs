//! Defect: while a replica's change feed was down it went on accepting a token revoked on
//! another replica and answered `/readyz` 200. Here replica B shares A's database but its feed
//! is broken on purpose (a wrapper store whose subscription never delivers), so B can only
//! learn of A's changes by reading the log: it must say it is not ready, and a token revoked
//! on A must stop working on B within the stated bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use futures::StreamExt;
use promptreg_core::{EnvName, EventRecord, ProjectId, PromptName, Version};
use promptreg_store::*;

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

/// How the broken feed behaves.
#[derive(Clone, Copy)]
enum Feed {
    /// Never connects: no `Resync`, nothing at all (a connection that hangs).
    Silent,
    /// Connects (`Resync`) and then delivers nothing (notifications lost in transit).
    Deaf,
}

/// A store whose change subscription is broken; everything else goes to the real store.
struct BrokenFeed(Arc<dyn Store>, Feed);

#[async_trait]
impl Store for BrokenFeed {
    async fn begin(&self, p: &ProjectId) -> StoreResult<Box<dyn StoreTx>> {
        self.0.begin(p).await
    }
    async fn get_rollout(&self, p: &ProjectId, id: &str) -> StoreResult<RolloutRecord> {
        self.0.get_rollout(p, id).await
    }
    async fn list_rollouts(
        &self,
        p: &ProjectId,
        f: &RolloutFilter,
        pg: &PageRequest<String>,
    ) -> StoreResult<Vec<RolloutRecord>> {
        self.0.list_rollouts(p, f, pg).await
    }
    async fn load_active_rollouts(&self) -> StoreResult<Vec<RolloutRecord>> {
        self.0.load_active_rollouts().await
    }
    async fn save_rollout_analysis(
        &self,
        p: &ProjectId,
        id: &str,
        revision: i64,
        analysis: &serde_json::Value,
    ) -> StoreResult<bool> {
        self.0
            .save_rollout_analysis(p, id, revision, analysis)
            .await
    }
    async fn claim_rollout(
        &self,
        p: &ProjectId,
        id: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        self.0.claim_rollout(p, id, owner, now, until).await
    }
    async fn get_webhook(&self, p: &ProjectId, id: &str) -> StoreResult<WebhookRecord> {
        self.0.get_webhook(p, id).await
    }
    async fn list_webhooks(&self, p: &ProjectId) -> StoreResult<Vec<WebhookRecord>> {
        self.0.list_webhooks(p).await
    }
    async fn load_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        self.0.load_webhooks().await
    }
    async fn claim_webhook(
        &self,
        p: &ProjectId,
        id: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        self.0.claim_webhook(p, id, owner, now, until).await
    }
    async fn save_delivery(&self, d: &DeliveryRecord) -> StoreResult<()> {
        self.0.save_delivery(d).await
    }
    async fn advance_webhook(&self, p: &ProjectId, id: &str, cursor: i64) -> StoreResult<()> {
        self.0.advance_webhook(p, id, cursor).await
    }
    async fn list_deliveries(
        &self,
        p: &ProjectId,
        id: &str,
        pg: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.0.list_deliveries(p, id, pg).await
    }
    async fn get_version(
        &self,
        p: &ProjectId,
        n: &PromptName,
        v: Version,
    ) -> StoreResult<StoredVersion> {
        self.0.get_version(p, n, v).await
    }
    async fn latest_version(&self, p: &ProjectId, n: &PromptName) -> StoreResult<StoredVersion> {
        self.0.latest_version(p, n).await
    }
    async fn list_versions(
        &self,
        p: &ProjectId,
        n: &PromptName,
        f: &VersionFilter,
        pg: &PageRequest<Version>,
    ) -> StoreResult<Vec<StoredVersion>> {
        self.0.list_versions(p, n, f, pg).await
    }
    async fn list_prompts(
        &self,
        p: &ProjectId,
        f: &PromptFilter,
        pg: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord<StoredContent>>> {
        self.0.list_prompts(p, f, pg).await
    }
    async fn prompt_page(
        &self,
        p: &ProjectId,
        q: &PromptQuery,
        pg: OffsetPage,
    ) -> StoreResult<PromptPage<StoredContent>> {
        self.0.prompt_page(p, q, pg).await
    }
    async fn get_environment(&self, p: &ProjectId, e: &EnvName) -> StoreResult<Environment> {
        self.0.get_environment(p, e).await
    }
    async fn list_environments(&self, p: &ProjectId) -> StoreResult<Vec<Environment>> {
        self.0.list_environments(p).await
    }
    async fn history(
        &self,
        p: &ProjectId,
        e: &EnvName,
        n: &PromptName,
        pg: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeploymentRecord>> {
        self.0.history(p, e, n, pg).await
    }
    async fn catalog(
        &self,
        p: &ProjectId,
        e: &EnvName,
        pg: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<CatalogRecord>> {
        self.0.catalog(p, e, pg).await
    }
    async fn load_deployed(&self) -> StoreResult<Vec<DeployedVersion<StoredContent>>> {
        self.0.load_deployed().await
    }
    async fn all_versions(
        &self,
        after: Option<&VersionKey>,
        limit: u32,
    ) -> StoreResult<Vec<(ProjectId, StoredVersion)>> {
        self.0.all_versions(after, limit).await
    }
    async fn reseal(&self, batch: &[Reseal]) -> StoreResult<u64> {
        self.0.reseal(batch).await
    }
    async fn lifecycle(&self, p: &ProjectId) -> StoreResult<Option<LifecycleRecord>> {
        self.0.lifecycle(p).await
    }
    async fn list_tokens(&self, p: &ProjectId) -> StoreResult<Vec<TokenRecord>> {
        self.0.list_tokens(p).await
    }
    async fn get_token(&self, id: &str) -> StoreResult<TokenRecord> {
        self.0.get_token(id).await
    }
    async fn find_token(&self, c: &TokenLookup) -> StoreResult<Option<TokenRecord>> {
        self.0.find_token(c).await
    }
    async fn load_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.0.load_tokens().await
    }
    async fn list_projects(&self) -> StoreResult<Vec<promptreg_store::ProjectRecord>> {
        self.0.list_projects().await
    }
    async fn get_project(
        &self,
        id: &promptreg_core::ProjectId,
    ) -> StoreResult<promptreg_store::ProjectRecord> {
        self.0.get_project(id).await
    }
    async fn record_token_use(
        &self,
        uses: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()> {
        self.0.record_token_use(uses).await
    }
    async fn events_after(
        &self,
        p: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        self.0.events_after(p, after, limit).await
    }
    async fn event_heads(&self) -> StoreResult<Vec<(ProjectId, i64)>> {
        self.0.event_heads().await
    }
    async fn subscribe(&self) -> StoreResult<Option<EventStream>> {
        Ok(Some(match self.1 {
            Feed::Silent => futures::stream::pending().boxed(),
            Feed::Deaf => futures::stream::once(async { StoreNotice::Resync })
                .chain(futures::stream::pending())
                .boxed(),
        }))
    }
    fn shares_database(&self) -> bool {
        true
    }
    async fn ping(&self) -> StoreResult<()> {
        self.0.ping().await
    }
    async fn save_outcome_windows(
        &self,
        v: &[promptreg_store::VersionWindowRow],
        r: &[promptreg_store::RolloutWindowRow],
    ) -> StoreResult<()> {
        self.0.save_outcome_windows(v, r).await
    }
    async fn version_windows(
        &self,
        p: &ProjectId,
        e: &EnvName,
        n: &PromptName,
        v: Version,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<promptreg_store::VersionWindowRow>> {
        self.0.version_windows(p, e, n, v, since).await
    }
    async fn rollout_windows(
        &self,
        p: &ProjectId,
        id: &str,
    ) -> StoreResult<Vec<promptreg_store::RolloutWindowRow>> {
        self.0.rollout_windows(p, id).await
    }
    async fn insert_outcome_ids(&self, b: &promptreg_store::OutcomeIdBatch) -> StoreResult<()> {
        self.0.insert_outcome_ids(b).await
    }
    async fn outcome_ids_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<promptreg_store::OutcomeIdBatch>> {
        self.0.outcome_ids_since(since).await
    }
    async fn prune_outcome_ids(&self, before: chrono::DateTime<chrono::Utc>) -> StoreResult<u64> {
        self.0.prune_outcome_ids(before).await
    }
    async fn log_entries(
        &self,
        project: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<promptreg_store::LogEntry>> {
        self.0.log_entries(project, after, limit).await
    }
    async fn list_signing_keys(&self) -> StoreResult<Vec<promptreg_store::SigningKeyRecord>> {
        self.0.list_signing_keys().await
    }
    async fn add_signing_key(
        &self,
        key: &promptreg_store::SigningKeyRecord,
        retire: Option<&str>,
    ) -> StoreResult<()> {
        self.0.add_signing_key(key, retire).await
    }
}

/// Replica B over the same database as `a`, with a broken feed.
async fn replica_b(a: &TestApp, feed: Feed) -> axum::Router {
    let store: Arc<dyn Store> = Arc::new(BrokenFeed(a.store.clone(), feed));
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
