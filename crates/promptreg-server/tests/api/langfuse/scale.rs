//! Defect 5: the Langfuse prompt list loaded every prompt on each request (20,000 prompts:
//! `?limit=1` took 3–5 s, 16 calls at once held 7 GB). The list now asks the store for one
//! page and a count. Checked structurally, not by a clock: a replica over a store that counts
//! the prompt records it hands out answers `?limit=1` over 20,000 prompts having received
//! one record, with the right total and the right prompt at any page.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::Utc;
use promptreg_core::{
    EnvName, EventRecord, ProjectId, PromptBody, PromptContent, PromptName, Version,
};
use promptreg_store::*;
use serde_json::Value;

use super::{key_pair, PROMPTS};
use crate::helpers::{TestApp, ADMIN};

const PROMPT_COUNT: usize = 20_000;

/// The real store, counting the prompt records its list reads hand out.
struct Counting(Arc<dyn Store>, AtomicUsize);

impl Counting {
    fn saw(&self, n: usize) {
        self.1.fetch_add(n, Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for Counting {
    async fn begin(&self, p: &ProjectId) -> StoreResult<Box<dyn StoreTx>> {
        self.0.begin(p).await
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
    async fn get_version(
        &self,
        p: &ProjectId,
        n: &PromptName,
        v: Version,
    ) -> StoreResult<StoredVersion> {
        self.saw(1);
        self.0.get_version(p, n, v).await
    }
    async fn latest_version(&self, p: &ProjectId, n: &PromptName) -> StoreResult<StoredVersion> {
        self.saw(1);
        self.0.latest_version(p, n).await
    }
    async fn list_versions(
        &self,
        p: &ProjectId,
        n: &PromptName,
        f: &VersionFilter,
        pg: &PageRequest<Version>,
    ) -> StoreResult<Vec<StoredVersion>> {
        let rows = self.0.list_versions(p, n, f, pg).await?;
        self.saw(rows.len());
        Ok(rows)
    }
    async fn list_prompts(
        &self,
        p: &ProjectId,
        f: &PromptFilter,
        pg: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord<StoredContent>>> {
        let rows = self.0.list_prompts(p, f, pg).await?;
        self.saw(rows.len());
        Ok(rows)
    }
    async fn prompt_page(
        &self,
        p: &ProjectId,
        q: &PromptQuery,
        pg: OffsetPage,
    ) -> StoreResult<PromptPage<StoredContent>> {
        let page = self.0.prompt_page(p, q, pg).await?;
        self.saw(page.prompts.len());
        Ok(page)
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
        self.0.subscribe().await
    }
    fn shares_database(&self) -> bool {
        self.0.shares_database()
    }
    async fn ping(&self) -> StoreResult<()> {
        self.0.ping().await
    }
}

/// Writes `PROMPT_COUNT` prompts of one version each in one unit of work: the store's own
/// step, so the test needs neither 20,000 requests nor SQL of its own.
async fn fill(store: &dyn Store) {
    let mut tx = store.begin(&ProjectId::default()).await.unwrap();
    for i in 0..PROMPT_COUNT {
        let content =
            PromptContent::new(PromptBody::Text(format!("prompt {i}")), None, None).unwrap();
        tx.insert_version(&VersionRecord {
            name: PromptName::parse(&format!("bulk/p{i:05}")).unwrap(),
            version: Version::new(1).unwrap(),
            digest: content.digest(),
            // A plaintext row, as written before encryption at rest.
            content: StoredContent::Plain(content),
            commit_message: None,
            metadata: Default::default(),
            parent: None,
            created_by: "test".into(),
            created_at: Utc::now(),
            signature: None,
            ledger_seq: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn list(router: &axum::Router, query: &str, auth: &str) -> Value {
    let req = axum::http::Request::builder()
        .method(Method::GET)
        .uri(format!("{PROMPTS}?{query}"))
        .header("authorization", auth)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub(super) async fn a_page_of_a_large_list_reads_one_page(app: &TestApp) {
    let auth = key_pair(app, "reader").await;
    fill(&*app.store).await;
    let counting = Arc::new(Counting(app.store.clone(), AtomicUsize::new(0)));
    let store: Arc<dyn Store> = counting.clone();
    let state = promptreg_server::state_for_store(store, ADMIN)
        .await
        .unwrap();
    let router = promptreg_server::router(state, 64 * 1024);

    let first = list(&router, "limit=1", &auth).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    assert_eq!(first["data"][0]["name"], "bulk/p00000");
    assert_eq!(first["meta"]["totalItems"], PROMPT_COUNT);
    assert_eq!(first["meta"]["totalPages"], PROMPT_COUNT);
    assert_eq!(
        counting.1.load(Ordering::SeqCst),
        1,
        "one record read for one row"
    );

    let deep = list(&router, "limit=3&page=5000", &auth).await;
    let names: Vec<&str> = deep["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bulk/p14997", "bulk/p14998", "bulk/p14999"]);
    assert_eq!(
        counting.1.load(Ordering::SeqCst),
        4,
        "the skipped rows are not read"
    );

    let past = list(&router, "limit=100&page=1000", &auth).await;
    assert_eq!(past["data"], Value::Array(Vec::new()));
    assert_eq!(past["meta"]["totalItems"], PROMPT_COUNT);
    let live = list(&router, "label=production&limit=1", &auth).await;
    assert_eq!(live["meta"]["totalItems"], 0);
    assert_eq!(counting.1.load(Ordering::SeqCst), 4);
}
