//! The embedded SQLite backend, promptreg's default store.
//!
//! - [`SqliteStore::open`]: opens (creating if missing) a database file in WAL mode with
//!   `synchronous=FULL`, so an acknowledged write is on disk before the answer, and runs the
//!   embedded migrations.
//! - Writes go through one dedicated connection, which serialises writers inside the process
//!   (SQLite allows one writer at a time anyway) and so rules out `SQLITE_BUSY` between our own
//!   writers; reads use a separate pool and never wait for writers (WAL).
//! - `versions`, `deploy`, `tokens`, `events`: the SQL of each part of the [`Store`] trait.
//! - `rows`: decoding rows into domain records.

#![forbid(unsafe_code)]

mod deploy;
mod events;
mod rows;
mod tokens;
mod versions;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use promptreg_core::{ChangeEvent, EnvName, ProjectId, PromptName, Version};
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

/// Maps sqlx errors: unique violations are conflicts, a missing row is not found.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound("not found".into()),
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
            code: "already_exists",
            message: "already exists".into(),
        },
        _ => StoreError::other(e),
    }
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
    async fn create_version(
        &self,
        project: &ProjectId,
        new: NewVersion,
    ) -> StoreResult<Committed<Created>> {
        versions::create(&self.writer, project, new).await
    }

    async fn get_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<VersionRecord> {
        versions::get(&self.reader, project, name, Some(version)).await
    }

    async fn latest_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
    ) -> StoreResult<VersionRecord> {
        versions::get(&self.reader, project, name, None).await
    }

    async fn list_versions(
        &self,
        project: &ProjectId,
        name: &PromptName,
        filter: &VersionFilter,
        page: &PageRequest<Version>,
    ) -> StoreResult<Vec<VersionRecord>> {
        versions::list(&self.reader, project, name, filter, page).await
    }

    async fn list_prompts(
        &self,
        project: &ProjectId,
        filter: &PromptFilter,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord>> {
        versions::list_prompts(&self.reader, project, filter, page).await
    }

    async fn create_environment(
        &self,
        project: &ProjectId,
        env: NewEnvironment,
    ) -> StoreResult<Committed<Environment>> {
        deploy::create_environment(&self.writer, project, env).await
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

    async fn move_pointer(
        &self,
        project: &ProjectId,
        change: PointerChange,
    ) -> StoreResult<MoveOutcome> {
        deploy::move_pointer(&self.writer, project, change).await
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

    async fn deployed_version(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Option<VersionRecord>> {
        deploy::deployed_version(&self.reader, project, env, name).await
    }

    async fn load_deployed(&self) -> StoreResult<Vec<DeployedVersion>> {
        deploy::load_deployed(&self.reader).await
    }

    async fn create_token(&self, token: TokenRecord) -> StoreResult<Committed<TokenRecord>> {
        tokens::create(&self.writer, token).await
    }

    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<TokenRecord>> {
        tokens::list(&self.reader, Some(project)).await
    }

    async fn get_token(&self, id: &str) -> StoreResult<TokenRecord> {
        tokens::get(&self.reader, id).await
    }

    async fn revoke_token(
        &self,
        project: &ProjectId,
        id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Committed<TokenRecord>> {
        tokens::revoke(&self.writer, project, id, at).await
    }

    async fn load_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        tokens::list(&self.reader, None).await
    }

    async fn events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<(i64, ChangeEvent)>> {
        events::after(&self.reader, after, limit).await
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
}
