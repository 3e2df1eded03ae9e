//! The PostgreSQL backend of promptreg: the scale-out store, shared by server replicas.
//!
//! - [`PgStore`]: implements [`Store`]; connect with [`PgStore::connect`] (a `postgres://`
//!   URL) or [`PgStore::connect_with`] (explicit options). Connecting applies the embedded,
//!   append-only `migrations/`.
//! - `connect`: the pool, the migrator and the notification channel name.
//! - `tx`: the unit of work ([`Store::begin`]): a transaction holding the project's writer
//!   lock, and the SQL of each write step. Numbering, the deploy rules and the events are the
//!   service layer's; this crate holds SQL and row mapping only.
//! - `versions`, `prompt_page`, `environments`, `deploy`, `tokens`: the reads (and the SQL the
//!   steps share).
//! - `events`: the per-project event log (dense `seq`, canonical bodies) and its `NOTIFY`.
//! - `listen`: [`Store::subscribe`], a `LISTEN` stream that says when it lost the connection
//!   and when to resynchronise.
//! - `outcomes`: outcome windows (one row per replica) and accepted ids' batches.
//! - `webhooks`: the SQL of webhooks (steps, the dispatcher's progress, reads).
//! - `keys`: the server's public signing keys.
//! - `sealing`: the walk over every version and the rewrap of data keys (KEK rotation).
//! - `import`: the SQL of the import steps (an export restored into an empty project) and its
//!   one reload notification.
//! - `retention`: lifecycle rules, what the rules read, and the prune.
//! - `rows`: rows back to domain records. `error`: sqlx errors to [`StoreError`].
//! - [`testing`]: a fresh store in a throw-away schema, for this and other crates' tests.
//!
//! A write's event is appended (and its `pg_notify` queued) in the write's own transaction, so
//! the change, the log and the notification commit together or not at all. Queries are built
//! at run time (`sqlx::query` with binds); no database is needed to build.

#![forbid(unsafe_code)]

mod changes;
mod connect;
mod deploy;
mod environments;
mod error;
mod events;
mod gates;
mod import;
mod keys;
mod listen;
mod outcomes;
mod prompt_page;
mod retention;
mod rollouts;
mod rows;
mod sealing;
pub mod testing;
mod tokens;
mod tx;
mod versions;
mod webhooks;

use std::fmt;

use async_trait::async_trait;
use promptreg_core::{EnvName, EventDraft, EventRecord, ProjectId, PromptName, Version};
use promptreg_store::{AuditFilter, DeliveryRecord, WebhookRecord};
use promptreg_store::{
    CatalogRecord, DeployedVersion, DeploymentRecord, Environment, EventStream, OffsetPage,
    OutcomeIdBatch, PageRequest, ProjectRecord, PromptFilter, PromptPage, PromptQuery,
    PromptRecord, Reseal, RolloutFilter, RolloutRecord, RolloutWindowRow, SigningKeyRecord, Store,
    StoreError, StoreResult, StoreTx, StoredContent, StoredVersion, TokenLookup, TokenRecord,
    VersionFilter, VersionKey, VersionWindowRow,
};
use sqlx::postgres::{PgConnectOptions, PgPool};

/// A [`Store`] on PostgreSQL. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
    channel: String,
}

impl fmt::Debug for PgStore {
    // The options hold the password: show only what identifies the store.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for PgStore {
    async fn begin(&self, project: &ProjectId) -> StoreResult<Box<dyn StoreTx>> {
        Ok(Box::new(
            tx::PgTx::begin(&self.pool, &self.channel, project).await?,
        ))
    }

    async fn publish_if_latest(
        &self,
        project: &ProjectId,
        expected: Option<Version>,
        version: &StoredVersion,
        event: EventDraft,
    ) -> StoreResult<Option<EventRecord>> {
        tx::publish_if_latest(&self.pool, &self.channel, project, expected, version, event).await
    }

    async fn get_rollout(&self, project: &ProjectId, id: &str) -> StoreResult<RolloutRecord> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(rollouts::get(&mut conn, project, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rollout '{id}' not found")))?)
    }

    async fn list_rollouts(
        &self,
        project: &ProjectId,
        filter: &RolloutFilter,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<RolloutRecord>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(rollouts::list(&mut conn, project, filter, page).await?)
    }

    async fn load_active_rollouts(&self) -> StoreResult<Vec<RolloutRecord>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(rollouts::load_active(&mut conn).await?)
    }

    async fn save_rollout_analysis(
        &self,
        project: &ProjectId,
        id: &str,
        revision: i64,
        analysis: &serde_json::Value,
    ) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(rollouts::save_analysis(&mut conn, project, id, revision, analysis).await?)
    }

    async fn claim_rollout(
        &self,
        project: &ProjectId,
        id: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(rollouts::claim(&mut conn, project, id, owner, now, until).await?)
    }

    async fn get_webhook(&self, project: &ProjectId, id: &str) -> StoreResult<WebhookRecord> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        webhooks::list(&mut conn, Some(project), Some(id))
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("webhook '{id}' not found")))
    }

    async fn list_webhooks(&self, project: &ProjectId) -> StoreResult<Vec<WebhookRecord>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(webhooks::list(&mut conn, Some(project), None).await?)
    }

    async fn load_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(webhooks::list(&mut conn, None, None).await?)
    }

    async fn claim_webhook(
        &self,
        project: &ProjectId,
        id: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(webhooks::claim(&mut conn, project, id, owner, now, until).await?)
    }

    async fn save_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(StoreError::other)?;
        webhooks::save_delivery(&mut tx, delivery).await?;
        tx.commit().await.map_err(StoreError::other)
    }

    async fn advance_webhook(&self, project: &ProjectId, id: &str, cursor: i64) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        webhooks::advance(&mut conn, project, id, cursor).await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        project: &ProjectId,
        id: &str,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(webhooks::deliveries(&mut conn, project, id, page).await?)
    }

    async fn get_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<StoredVersion> {
        Ok(versions::get(self, project, name, Some(version)).await?)
    }

    async fn latest_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
    ) -> StoreResult<StoredVersion> {
        Ok(versions::get(self, project, name, None).await?)
    }

    async fn list_versions(
        &self,
        project: &ProjectId,
        name: &PromptName,
        filter: &VersionFilter,
        page: &PageRequest<Version>,
    ) -> StoreResult<Vec<StoredVersion>> {
        Ok(versions::list(self, project, name, filter, page).await?)
    }

    async fn list_prompts(
        &self,
        project: &ProjectId,
        filter: &PromptFilter,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord<StoredContent>>> {
        Ok(versions::list_prompts(self, project, filter, page).await?)
    }

    async fn prompt_page(
        &self,
        project: &ProjectId,
        query: &PromptQuery,
        page: OffsetPage,
    ) -> StoreResult<PromptPage<StoredContent>> {
        Ok(prompt_page::prompt_page(self, project, query, page).await?)
    }

    async fn get_environment(
        &self,
        project: &ProjectId,
        env: &EnvName,
    ) -> StoreResult<Environment> {
        environments::find(&self.pool, project, env)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("environment '{env}' not found")))
    }

    async fn list_environments(&self, project: &ProjectId) -> StoreResult<Vec<Environment>> {
        Ok(environments::list(&self.pool, project).await?)
    }

    async fn history(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeploymentRecord>> {
        Ok(deploy::history(self, project, env, name, page).await?)
    }

    async fn catalog(
        &self,
        project: &ProjectId,
        env: &EnvName,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<CatalogRecord>> {
        Ok(deploy::catalog(self, project, env, page).await?)
    }

    async fn all_versions(
        &self,
        after: Option<&VersionKey>,
        limit: u32,
    ) -> StoreResult<Vec<(ProjectId, StoredVersion)>> {
        Ok(sealing::all_versions(self, after, limit).await?)
    }

    async fn reseal(&self, batch: &[Reseal]) -> StoreResult<u64> {
        Ok(sealing::reseal(self, batch).await?)
    }

    async fn lifecycle(
        &self,
        project: &ProjectId,
    ) -> StoreResult<Option<promptreg_store::LifecycleRecord>> {
        Ok(retention::lifecycle(&self.pool, project).await?)
    }

    async fn load_deployed(&self) -> StoreResult<Vec<DeployedVersion<StoredContent>>> {
        Ok(deploy::load_deployed(self).await?)
    }

    async fn load_live_pointers(&self) -> StoreResult<Vec<promptreg_store::LivePointer>> {
        Ok(deploy::load_live_pointers(self).await?)
    }

    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<TokenRecord>> {
        Ok(tokens::list(self, project).await?)
    }

    async fn get_token(&self, id: &str) -> StoreResult<TokenRecord> {
        Ok(tokens::get(self, id).await?)
    }

    async fn find_token(&self, credential: &TokenLookup) -> StoreResult<Option<TokenRecord>> {
        Ok(tokens::find(self, credential).await?)
    }

    async fn load_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        Ok(tokens::load_all(self).await?)
    }

    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>> {
        Ok(tokens::list_projects(self).await?)
    }

    async fn get_project(&self, id: &ProjectId) -> StoreResult<ProjectRecord> {
        Ok(tokens::get_project(self, id).await?)
    }

    async fn record_token_use(
        &self,
        uses: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        Ok(tokens::record_use(self, uses).await?)
    }

    async fn events_after(
        &self,
        project: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        Ok(events::after(&self.pool, project, after, limit).await?)
    }

    async fn log_entries(
        &self,
        project: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<promptreg_store::LogEntry>> {
        Ok(events::entries(&self.pool, project, after, limit).await?)
    }

    async fn event_heads(&self) -> StoreResult<Vec<(ProjectId, i64)>> {
        Ok(events::heads(&self.pool).await?)
    }

    async fn audit_events(
        &self,
        project: &ProjectId,
        filter: &AuditFilter,
    ) -> StoreResult<Vec<EventRecord>> {
        Ok(events::audit(&self.pool, project, filter).await?)
    }

    async fn previous_of_subject(
        &self,
        project: &ProjectId,
        subject: &str,
        before: i64,
    ) -> StoreResult<Option<EventRecord>> {
        Ok(events::previous_of_subject(&self.pool, project, subject, before).await?)
    }

    async fn index_audit_backlog(&self, limit: u32) -> StoreResult<u64> {
        let mut conn = self.pool.acquire().await.map_err(error::Error::from)?;
        Ok(events::index_backlog(&mut conn, limit).await?)
    }

    async fn subscribe(&self) -> StoreResult<Option<EventStream>> {
        let stream = listen::subscribe(
            self.options.clone(),
            self.pool.clone(),
            self.channel.clone(),
        )
        .await?;
        Ok(Some(stream))
    }

    fn shares_database(&self) -> bool {
        true
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::other)?;
        Ok(())
    }

    async fn save_outcome_windows(
        &self,
        versions: &[VersionWindowRow],
        rollouts: &[RolloutWindowRow],
    ) -> StoreResult<()> {
        Ok(outcomes::save(&self.pool, versions, rollouts).await?)
    }

    async fn version_windows(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
        version: Version,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<VersionWindowRow>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(outcomes::version_windows(&mut conn, project, env, name, version, since).await?)
    }

    async fn rollout_windows(
        &self,
        project: &ProjectId,
        rollout: &str,
    ) -> StoreResult<Vec<RolloutWindowRow>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(outcomes::rollout_windows(&mut conn, project, rollout).await?)
    }

    async fn insert_outcome_ids(&self, batch: &OutcomeIdBatch) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(outcomes::insert_ids(&mut conn, batch).await?)
    }

    async fn outcome_ids_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<OutcomeIdBatch>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(outcomes::ids_since(&mut conn, since).await?)
    }

    async fn prune_outcome_ids(&self, before: chrono::DateTime<chrono::Utc>) -> StoreResult<u64> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(outcomes::prune_ids(&mut conn, before).await?)
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        Ok(keys::list(&self.pool).await?)
    }

    async fn add_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire: Option<&str>,
    ) -> StoreResult<()> {
        Ok(keys::add(&self.pool, key, retire).await?)
    }

    async fn list_validations(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Vec<promptreg_store::ValidationRecord>> {
        Ok(gates::validations(&self.pool, project, name, version).await?)
    }

    async fn environment_gates(
        &self,
        project: &ProjectId,
        env: &EnvName,
    ) -> StoreResult<Option<promptreg_store::GatesRecord>> {
        Ok(gates::environment_gates(&self.pool, project, env).await?)
    }

    async fn validated_prompts(
        &self,
        project: &ProjectId,
        query: &promptreg_store::ValidatedQuery,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<promptreg_store::ValidatedPrompt>> {
        Ok(gates::validated_prompts(&self.pool, project, query, page).await?)
    }

    async fn get_change_request(
        &self,
        project: &ProjectId,
        id: &str,
    ) -> StoreResult<Option<promptreg_store::ChangeRequestRecord>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(changes::get(&mut conn, project, Some(id), None, false).await?)
    }

    async fn list_change_requests(
        &self,
        project: &ProjectId,
        filter: &promptreg_store::ChangeRequestFilter,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<promptreg_store::ChangeRequestRecord>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::other)?;
        Ok(changes::list(&mut conn, project, filter, page).await?)
    }
}
