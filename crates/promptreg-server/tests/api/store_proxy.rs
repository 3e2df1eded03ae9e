//! A store that hands every call to a real one, with hooks where a test wants to see or
//! change what happens (a broken change feed, counting the records reads hand out). One
//! delegating implementation, so a new `Store` method is added here once.

use std::sync::Arc;

use async_trait::async_trait;
use promptreg_core::{EnvName, EventRecord, ProjectId, PromptName, Version};
use promptreg_store::*;

/// What a test changes or observes; every default leaves the real store's behaviour.
pub trait Hooks: Send + Sync + 'static {
    /// A change subscription to hand out instead of the real one.
    fn subscribe(&self) -> Option<EventStream> {
        None
    }
    /// Whether to claim the database is shared, instead of asking the real store.
    fn shares_database(&self) -> Option<bool> {
        None
    }
    /// Told how many version or prompt records a read handed out.
    fn records_read(&self, _n: usize) {}
}

/// The real store behind `hooks`.
pub struct Proxy {
    pub inner: Arc<dyn Store>,
    pub hooks: Arc<dyn Hooks>,
}

#[async_trait]
impl Store for Proxy {
    async fn begin(&self, p: &ProjectId) -> StoreResult<Box<dyn StoreTx>> {
        self.inner.begin(p).await
    }
    async fn get_rollout(&self, p: &ProjectId, id: &str) -> StoreResult<RolloutRecord> {
        self.inner.get_rollout(p, id).await
    }
    async fn list_rollouts(
        &self,
        p: &ProjectId,
        f: &RolloutFilter,
        pg: &PageRequest<String>,
    ) -> StoreResult<Vec<RolloutRecord>> {
        self.inner.list_rollouts(p, f, pg).await
    }
    async fn load_active_rollouts(&self) -> StoreResult<Vec<RolloutRecord>> {
        self.inner.load_active_rollouts().await
    }
    async fn save_rollout_analysis(
        &self,
        p: &ProjectId,
        id: &str,
        revision: i64,
        analysis: &serde_json::Value,
    ) -> StoreResult<bool> {
        self.inner
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
        self.inner.claim_rollout(p, id, owner, now, until).await
    }
    async fn get_webhook(&self, p: &ProjectId, id: &str) -> StoreResult<WebhookRecord> {
        self.inner.get_webhook(p, id).await
    }
    async fn list_webhooks(&self, p: &ProjectId) -> StoreResult<Vec<WebhookRecord>> {
        self.inner.list_webhooks(p).await
    }
    async fn load_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        self.inner.load_webhooks().await
    }
    async fn claim_webhook(
        &self,
        p: &ProjectId,
        id: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        self.inner.claim_webhook(p, id, owner, now, until).await
    }
    async fn save_delivery(&self, d: &DeliveryRecord) -> StoreResult<()> {
        self.inner.save_delivery(d).await
    }
    async fn advance_webhook(&self, p: &ProjectId, id: &str, cursor: i64) -> StoreResult<()> {
        self.inner.advance_webhook(p, id, cursor).await
    }
    async fn list_deliveries(
        &self,
        p: &ProjectId,
        id: &str,
        pg: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.inner.list_deliveries(p, id, pg).await
    }
    async fn get_version(
        &self,
        p: &ProjectId,
        n: &PromptName,
        v: Version,
    ) -> StoreResult<StoredVersion> {
        self.hooks.records_read(1);
        self.inner.get_version(p, n, v).await
    }
    async fn latest_version(&self, p: &ProjectId, n: &PromptName) -> StoreResult<StoredVersion> {
        self.hooks.records_read(1);
        self.inner.latest_version(p, n).await
    }
    async fn list_versions(
        &self,
        p: &ProjectId,
        n: &PromptName,
        f: &VersionFilter,
        pg: &PageRequest<Version>,
    ) -> StoreResult<Vec<StoredVersion>> {
        let rows = self.inner.list_versions(p, n, f, pg).await?;
        self.hooks.records_read(rows.len());
        Ok(rows)
    }
    async fn list_prompts(
        &self,
        p: &ProjectId,
        f: &PromptFilter,
        pg: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord<StoredContent>>> {
        let rows = self.inner.list_prompts(p, f, pg).await?;
        self.hooks.records_read(rows.len());
        Ok(rows)
    }
    async fn prompt_page(
        &self,
        p: &ProjectId,
        q: &PromptQuery,
        pg: OffsetPage,
    ) -> StoreResult<PromptPage<StoredContent>> {
        let page = self.inner.prompt_page(p, q, pg).await?;
        self.hooks.records_read(page.prompts.len());
        Ok(page)
    }
    async fn get_environment(&self, p: &ProjectId, e: &EnvName) -> StoreResult<Environment> {
        self.inner.get_environment(p, e).await
    }
    async fn list_environments(&self, p: &ProjectId) -> StoreResult<Vec<Environment>> {
        self.inner.list_environments(p).await
    }
    async fn history(
        &self,
        p: &ProjectId,
        e: &EnvName,
        n: &PromptName,
        pg: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeploymentRecord>> {
        self.inner.history(p, e, n, pg).await
    }
    async fn catalog(
        &self,
        p: &ProjectId,
        e: &EnvName,
        pg: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<CatalogRecord>> {
        self.inner.catalog(p, e, pg).await
    }
    async fn load_deployed(&self) -> StoreResult<Vec<DeployedVersion<StoredContent>>> {
        self.inner.load_deployed().await
    }
    async fn load_live_pointers(&self) -> StoreResult<Vec<LivePointer>> {
        self.inner.load_live_pointers().await
    }
    async fn all_versions(
        &self,
        after: Option<&VersionKey>,
        limit: u32,
    ) -> StoreResult<Vec<(ProjectId, StoredVersion)>> {
        self.inner.all_versions(after, limit).await
    }
    async fn reseal(&self, batch: &[Reseal]) -> StoreResult<u64> {
        self.inner.reseal(batch).await
    }
    async fn lifecycle(&self, p: &ProjectId) -> StoreResult<Option<LifecycleRecord>> {
        self.inner.lifecycle(p).await
    }
    async fn list_tokens(&self, p: &ProjectId) -> StoreResult<Vec<TokenRecord>> {
        self.inner.list_tokens(p).await
    }
    async fn get_token(&self, id: &str) -> StoreResult<TokenRecord> {
        self.inner.get_token(id).await
    }
    async fn find_token(&self, c: &TokenLookup) -> StoreResult<Option<TokenRecord>> {
        self.inner.find_token(c).await
    }
    async fn load_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.inner.load_tokens().await
    }
    async fn events_after(
        &self,
        p: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        self.inner.events_after(p, after, limit).await
    }
    async fn event_heads(&self) -> StoreResult<Vec<(ProjectId, i64)>> {
        self.inner.event_heads().await
    }
    async fn audit_events(&self, p: &ProjectId, f: &AuditFilter) -> StoreResult<Vec<EventRecord>> {
        self.inner.audit_events(p, f).await
    }
    async fn previous_of_subject(
        &self,
        p: &ProjectId,
        subject: &str,
        before: i64,
    ) -> StoreResult<Option<EventRecord>> {
        self.inner.previous_of_subject(p, subject, before).await
    }
    async fn index_audit_backlog(&self, limit: u32) -> StoreResult<u64> {
        self.inner.index_audit_backlog(limit).await
    }
    async fn subscribe(&self) -> StoreResult<Option<EventStream>> {
        match self.hooks.subscribe() {
            Some(stream) => Ok(Some(stream)),
            None => self.inner.subscribe().await,
        }
    }
    fn shares_database(&self) -> bool {
        self.hooks
            .shares_database()
            .unwrap_or_else(|| self.inner.shares_database())
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn save_outcome_windows(
        &self,
        v: &[promptreg_store::VersionWindowRow],
        r: &[promptreg_store::RolloutWindowRow],
    ) -> StoreResult<()> {
        self.inner.save_outcome_windows(v, r).await
    }
    async fn version_windows(
        &self,
        p: &ProjectId,
        e: &EnvName,
        n: &PromptName,
        v: Version,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<promptreg_store::VersionWindowRow>> {
        self.inner.version_windows(p, e, n, v, since).await
    }
    async fn rollout_windows(
        &self,
        p: &ProjectId,
        id: &str,
    ) -> StoreResult<Vec<promptreg_store::RolloutWindowRow>> {
        self.inner.rollout_windows(p, id).await
    }
    async fn insert_outcome_ids(&self, b: &promptreg_store::OutcomeIdBatch) -> StoreResult<()> {
        self.inner.insert_outcome_ids(b).await
    }
    async fn outcome_ids_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<promptreg_store::OutcomeIdBatch>> {
        self.inner.outcome_ids_since(since).await
    }
    async fn prune_outcome_ids(&self, before: chrono::DateTime<chrono::Utc>) -> StoreResult<u64> {
        self.inner.prune_outcome_ids(before).await
    }
    async fn log_entries(
        &self,
        project: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<promptreg_store::LogEntry>> {
        self.inner.log_entries(project, after, limit).await
    }
    async fn list_signing_keys(&self) -> StoreResult<Vec<promptreg_store::SigningKeyRecord>> {
        self.inner.list_signing_keys().await
    }
    async fn add_signing_key(
        &self,
        key: &promptreg_store::SigningKeyRecord,
        retire: Option<&str>,
    ) -> StoreResult<()> {
        self.inner.add_signing_key(key, retire).await
    }
    async fn list_validations(
        &self,
        p: &ProjectId,
        n: &PromptName,
        v: Version,
    ) -> StoreResult<Vec<ValidationRecord>> {
        self.inner.list_validations(p, n, v).await
    }
    async fn environment_gates(
        &self,
        p: &ProjectId,
        e: &EnvName,
    ) -> StoreResult<Option<GatesRecord>> {
        self.inner.environment_gates(p, e).await
    }
    async fn validated_prompts(
        &self,
        p: &ProjectId,
        q: &ValidatedQuery,
        pg: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<ValidatedPrompt>> {
        self.inner.validated_prompts(p, q, pg).await
    }
    async fn get_change_request(
        &self,
        p: &ProjectId,
        id: &str,
    ) -> StoreResult<Option<ChangeRequestRecord>> {
        self.inner.get_change_request(p, id).await
    }
    async fn list_change_requests(
        &self,
        p: &ProjectId,
        f: &ChangeRequestFilter,
        pg: &PageRequest<String>,
    ) -> StoreResult<Vec<ChangeRequestRecord>> {
        self.inner.list_change_requests(p, f, pg).await
    }
    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>> {
        self.inner.list_projects().await
    }
    async fn get_project(&self, id: &ProjectId) -> StoreResult<ProjectRecord> {
        self.inner.get_project(id).await
    }
    async fn record_token_use(
        &self,
        uses: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()> {
        self.inner.record_token_use(uses).await
    }
}
