//! The embedded SQLite backend, promptreg's default store.
//!
//! - [`SqliteStore::open`]: opens (creating if missing) a database file in WAL mode with
//!   `synchronous=FULL`, so an acknowledged write is on disk before the answer, and
//!   `secure_delete=ON`, so dropped bytes are zeroed; and runs the embedded migrations.
//! - Writes go through one dedicated connection, which serialises writers inside the process
//!   (SQLite allows one writer at a time anyway) and so rules out `SQLITE_BUSY` between our own
//!   writers; reads use a separate pool and never wait for writers (WAL).
//! - `tx`: the unit of work ([`Store::begin`]): one `BEGIN IMMEDIATE` transaction and the SQL
//!   of each write step.
//! - `versions`, `prompt_page`, `deploy`, `tokens`, `events`: the SQL of the reads.
//! - `rollouts`: the SQL of rollouts (steps and reads).
//! - `outcomes`: outcome windows and accepted ids (through the writer, outside units of work).
//! - `webhooks`: the SQL of webhooks (steps, the dispatcher's progress, reads).
//! - `keys`: the server's public signing keys.
//! - `sealing`: the walk over every version and the rewrap of data keys (KEK rotation).
//! - `import`: the SQL of the import steps (an export restored into an empty project).
//! - `retention`: lifecycle rules, what the rules read, and the prune.
//! - `rows`: decoding rows into domain records.
//! - [`testing`]: raw SQL for tests that edit the database behind the server's back.

#![forbid(unsafe_code)]

mod changes;
mod deploy;
mod events;
mod gates;
mod import;
mod keys;
mod live;
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

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use promptreg_core::{EnvName, EventRecord, ProjectId, PromptName, Version};
use promptreg_store::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// The columns of a token row, in the order the token queries bind and read them.
pub(crate) const TOKEN_COLS: &str =
    "id, project, name, role, kind, public_key, secret_hash, created_by, created_at, revoked_at, \
     scope, expires_at, last_used_at";

/// Maps sqlx errors: unique violations are conflicts, a missing row is not found, a full disk
/// is [`StoreError::StorageFull`] (so the edge can say so instead of "internal error").
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound("not found".into()),
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
            code: "already_exists",
            message: "already exists".into(),
        },
        sqlx::Error::Database(d) if is_full(d.code().as_deref()) => {
            StoreError::StorageFull(Box::new(e))
        }
        _ => StoreError::other(e),
    }
}

/// `SQLITE_FULL` (13): a write needed a page the disk (or `max_page_count`) does not have.
/// sqlx reports the extended result code, whose low byte is the primary code.
fn is_full(code: Option<&str>) -> bool {
    const SQLITE_FULL: i32 = 13;
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == SQLITE_FULL)
}

/// Stored form of a time: RFC 3339, UTC, fixed microsecond precision, so text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl SqliteStore {
    /// Opens `sqlite:<path>` (created if missing) or `sqlite::memory:`, and migrates it.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::other)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Deleted and overwritten content is zeroed, not left in free space: a pruned
            // version's wrapped key and ciphertext leave the file (crypto-shredding), and so
            // do the bytes any page split or update leaves behind.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(10));
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::other)?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(StoreError::other)?;
        // An in-memory database exists once per connection, so it cannot have a read pool.
        let reader = if memory {
            writer.clone()
        } else {
            // Resolves are answered from memory, so reads here are listings and history:
            // two connections (one per core) that close when idle keep the footprint small.
            SqlitePoolOptions::new()
                .max_connections(2)
                .min_connections(0)
                .idle_timeout(Duration::from_secs(60))
                .connect_with(options.read_only(true))
                .await
                .map_err(StoreError::other)?
        };
        Ok(Self { writer, reader })
    }

    /// Closes both pools, flushing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self, project: &ProjectId) -> StoreResult<Box<dyn StoreTx>> {
        // A plain (deferred) BEGIN is enough: this process has one writer connection, so a
        // unit of work holds the writer from begin to commit and its reads see what it then
        // writes over. (`begin_with("BEGIN IMMEDIATE")` refuses a pooled connection that a
        // cancelled request left with a queued rollback: every later write failed.)
        let tx = self.writer.begin().await.map_err(db_err)?;
        Ok(Box::new(tx::SqliteTx {
            tx,
            project: project.clone(),
            writer: self.writer.clone(),
            pruned: false,
        }))
    }

    async fn get_rollout(&self, project: &ProjectId, id: &str) -> StoreResult<RolloutRecord> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        rollouts::get(&mut conn, project, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rollout '{id}' not found")))
    }

    async fn list_rollouts(
        &self,
        project: &ProjectId,
        filter: &RolloutFilter,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<RolloutRecord>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        rollouts::list(&mut conn, project, filter, page).await
    }

    async fn load_active_rollouts(&self) -> StoreResult<Vec<RolloutRecord>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        rollouts::load_active(&mut conn).await
    }

    async fn save_rollout_analysis(
        &self,
        project: &ProjectId,
        id: &str,
        revision: i64,
        analysis: &serde_json::Value,
    ) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        rollouts::save_analysis(&mut conn, project, id, revision, analysis).await
    }

    async fn claim_rollout(
        &self,
        project: &ProjectId,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        rollouts::claim(&mut conn, project, id, owner, now, until).await
    }

    async fn get_webhook(&self, project: &ProjectId, id: &str) -> StoreResult<WebhookRecord> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        webhooks::list(&mut conn, Some(project), Some(id))
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("webhook '{id}' not found")))
    }

    async fn list_webhooks(&self, project: &ProjectId) -> StoreResult<Vec<WebhookRecord>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        webhooks::list(&mut conn, Some(project), None).await
    }

    async fn load_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        webhooks::list(&mut conn, None, None).await
    }

    async fn claim_webhook(
        &self,
        project: &ProjectId,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        webhooks::claim(&mut conn, project, id, owner, now, until).await
    }

    async fn save_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        webhooks::save_delivery(&mut tx, delivery).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn advance_webhook(&self, project: &ProjectId, id: &str, cursor: i64) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        webhooks::advance(&mut conn, project, id, cursor).await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        project: &ProjectId,
        id: &str,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        webhooks::deliveries(&mut conn, project, id, page).await
    }

    async fn get_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<StoredVersion> {
        versions::get(&self.reader, project, name, Some(version)).await
    }

    async fn latest_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
    ) -> StoreResult<StoredVersion> {
        versions::get(&self.reader, project, name, None).await
    }

    async fn list_versions(
        &self,
        project: &ProjectId,
        name: &PromptName,
        filter: &VersionFilter,
        page: &PageRequest<Version>,
    ) -> StoreResult<Vec<StoredVersion>> {
        versions::list(&self.reader, project, name, filter, page).await
    }

    async fn list_prompts(
        &self,
        project: &ProjectId,
        filter: &PromptFilter,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord<StoredContent>>> {
        versions::list_prompts(&self.reader, project, filter, page).await
    }

    async fn prompt_page(
        &self,
        project: &ProjectId,
        query: &PromptQuery,
        page: OffsetPage,
    ) -> StoreResult<PromptPage<StoredContent>> {
        prompt_page::prompt_page(&self.reader, project, query, page).await
    }

    async fn get_environment(
        &self,
        project: &ProjectId,
        env: &EnvName,
    ) -> StoreResult<Environment> {
        deploy::get_environment(&self.reader, project, env).await
    }

    async fn list_environments(&self, project: &ProjectId) -> StoreResult<Vec<Environment>> {
        deploy::list_environments(&self.reader, project).await
    }

    async fn history(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeploymentRecord>> {
        deploy::history(&self.reader, project, env, name, page).await
    }

    async fn catalog(
        &self,
        project: &ProjectId,
        env: &EnvName,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<CatalogRecord>> {
        deploy::catalog(&self.reader, project, env, page).await
    }

    async fn load_deployed(&self) -> StoreResult<Vec<DeployedVersion<StoredContent>>> {
        live::load_deployed(&self.reader).await
    }

    async fn load_live_pointers(&self) -> StoreResult<Vec<LivePointer>> {
        live::load_live_pointers(&self.reader).await
    }

    async fn all_versions(
        &self,
        after: Option<&VersionKey>,
        limit: u32,
    ) -> StoreResult<Vec<(ProjectId, StoredVersion)>> {
        sealing::all_versions(&self.reader, after, limit).await
    }

    async fn reseal(&self, batch: &[Reseal]) -> StoreResult<u64> {
        sealing::reseal(&self.writer, batch).await
    }

    async fn lifecycle(&self, project: &ProjectId) -> StoreResult<Option<LifecycleRecord>> {
        retention::lifecycle(&self.reader, project).await
    }

    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<TokenRecord>> {
        tokens::list(&self.reader, Some(project)).await
    }

    async fn get_token(&self, id: &str) -> StoreResult<TokenRecord> {
        tokens::get(&self.reader, id).await
    }

    async fn find_token(&self, credential: &TokenLookup) -> StoreResult<Option<TokenRecord>> {
        tokens::find(&self.reader, credential).await
    }

    async fn load_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        tokens::list(&self.reader, None).await
    }

    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>> {
        tokens::list_projects(&self.reader).await
    }

    async fn get_project(&self, id: &ProjectId) -> StoreResult<ProjectRecord> {
        tokens::get_project(&self.reader, id).await
    }

    async fn record_token_use(&self, uses: &[(String, DateTime<Utc>)]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        tokens::record_use(&mut conn, uses).await
    }

    async fn events_after(
        &self,
        project: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        events::after(&self.reader, project, after, limit).await
    }

    async fn log_entries(
        &self,
        project: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<LogEntry>> {
        events::entries(&self.reader, project, after, limit).await
    }

    async fn event_heads(&self) -> StoreResult<Vec<(ProjectId, i64)>> {
        events::heads(&self.reader).await
    }

    async fn audit_events(
        &self,
        project: &ProjectId,
        filter: &AuditFilter,
    ) -> StoreResult<Vec<EventRecord>> {
        events::audit(&self.reader, project, filter).await
    }

    async fn previous_of_subject(
        &self,
        project: &ProjectId,
        subject: &str,
        before: i64,
    ) -> StoreResult<Option<EventRecord>> {
        events::previous_of_subject(&self.reader, project, subject, before).await
    }

    async fn index_audit_backlog(&self, limit: u32) -> StoreResult<u64> {
        events::index_backlog(&self.writer, limit).await
    }

    async fn subscribe(&self) -> StoreResult<Option<EventStream>> {
        // The embedded database belongs to this process: every change passes through it.
        Ok(None)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    async fn save_outcome_windows(
        &self,
        versions: &[VersionWindowRow],
        rollouts: &[RolloutWindowRow],
    ) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        outcomes::save(&mut conn, versions, rollouts).await
    }

    async fn version_windows(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
        version: Version,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<VersionWindowRow>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        outcomes::version_windows(&mut conn, project, env, name, version, since).await
    }

    async fn rollout_windows(
        &self,
        project: &ProjectId,
        rollout: &str,
    ) -> StoreResult<Vec<RolloutWindowRow>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        outcomes::rollout_windows(&mut conn, project, rollout).await
    }

    async fn insert_outcome_ids(&self, batch: &OutcomeIdBatch) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        outcomes::insert_ids(&mut conn, batch).await
    }

    async fn outcome_ids_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<OutcomeIdBatch>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        outcomes::ids_since(&mut conn, since).await
    }

    async fn prune_outcome_ids(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        outcomes::prune_ids(&mut conn, before).await
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        keys::list(&self.reader).await
    }

    async fn add_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire: Option<&str>,
    ) -> StoreResult<()> {
        keys::add(&self.writer, key, retire).await
    }

    async fn list_validations(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Vec<ValidationRecord>> {
        gates::validations(&self.reader, project, name, version).await
    }

    async fn environment_gates(
        &self,
        project: &ProjectId,
        env: &EnvName,
    ) -> StoreResult<Option<GatesRecord>> {
        gates::environment_gates(&self.reader, project, env).await
    }

    async fn validated_prompts(
        &self,
        project: &ProjectId,
        query: &ValidatedQuery,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<ValidatedPrompt>> {
        gates::validated_prompts(&self.reader, project, query, page).await
    }

    async fn get_change_request(
        &self,
        project: &ProjectId,
        id: &str,
    ) -> StoreResult<Option<ChangeRequestRecord>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        changes::get(&mut conn, project, Some(id), None).await
    }

    async fn list_change_requests(
        &self,
        project: &ProjectId,
        filter: &ChangeRequestFilter,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<ChangeRequestRecord>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        changes::list(&mut conn, project, filter, page).await
    }
}
