//! The PostgreSQL backend of promptreg: the scale-out store, shared by server replicas.
//!
//! - [`PgStore`]: implements [`Store`]; connect with [`PgStore::connect`] (a `postgres://`
//!   URL) or [`PgStore::connect_with`] (explicit options). Connecting applies the embedded,
//!   append-only `migrations/`.
//! - `connect`: the pool, the migrator and the notification channel name.
//! - `versions`: prompts and versions; numbering serialised on the prompt row.
//! - `environments`: environments.
//! - `deploy`: pointer moves (rules from `promptreg_core::deploy`), history, catalog.
//! - `tokens`: tokens and key pairs (secret hashes only).
//! - `events`: the change log every write appends to, and its `NOTIFY`.
//! - `listen`: [`Store::subscribe`], a `LISTEN` stream with resync on reconnection.
//! - `rows`: rows back to domain records. `error`: sqlx errors to [`StoreError`].
//! - [`testing`]: a fresh store in a throw-away schema, for this and other crates' tests.
//!
//! Every write runs in one transaction that also appends its [`ChangeEvent`] to `events` and
//! queues `pg_notify` with it, so the log, the notification and the change commit together.
//! Queries are built at run time (`sqlx::query` with binds); no database is needed to build.

#![forbid(unsafe_code)]

mod connect;
mod deploy;
mod environments;
mod error;
mod events;
mod listen;
mod rows;
pub mod testing;
mod tokens;
mod versions;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use promptreg_core::{ChangeEvent, EnvName, ProjectId, PromptName, Version};
use promptreg_store::{
    CatalogRecord, Committed, Created, DeployedVersion, DeploymentRecord, Environment, EventStream,
    MoveOutcome, NewEnvironment, NewVersion, PageRequest, PointerChange, PromptFilter,
    PromptRecord, Store, StoreError, StoreResult, TokenRecord, VersionFilter, VersionRecord,
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
    async fn create_version(
        &self,
        project: &ProjectId,
        new: NewVersion,
    ) -> StoreResult<Committed<Created>> {
        Ok(versions::create(self, project, new).await?)
    }

    async fn get_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<VersionRecord> {
        Ok(versions::fetch(&self.pool, project, name, version.get()).await?)
    }

    async fn latest_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
    ) -> StoreResult<VersionRecord> {
        Ok(versions::latest(self, project, name).await?)
    }

    async fn list_versions(
        &self,
        project: &ProjectId,
        name: &PromptName,
        filter: &VersionFilter,
        page: &PageRequest<Version>,
    ) -> StoreResult<Vec<VersionRecord>> {
        Ok(versions::list(self, project, name, filter, page).await?)
    }

    async fn list_prompts(
        &self,
        project: &ProjectId,
        filter: &PromptFilter,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord>> {
        Ok(versions::list_prompts(self, project, filter, page).await?)
    }

    async fn create_environment(
        &self,
        project: &ProjectId,
        env: NewEnvironment,
    ) -> StoreResult<Committed<Environment>> {
        Ok(environments::create(self, project, env).await?)
    }

    async fn get_environment(
        &self,
        project: &ProjectId,
        env: &EnvName,
    ) -> StoreResult<Environment> {
        Ok(environments::get(&self.pool, project, env).await?)
    }

    async fn list_environments(&self, project: &ProjectId) -> StoreResult<Vec<Environment>> {
        Ok(environments::list(self, project).await?)
    }

    async fn move_pointer(
        &self,
        project: &ProjectId,
        change: PointerChange,
    ) -> StoreResult<MoveOutcome> {
        Ok(deploy::move_pointer(self, project, change).await?)
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

    async fn deployed_version(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Option<VersionRecord>> {
        Ok(deploy::deployed_version(self, project, env, name).await?)
    }

    async fn load_deployed(&self) -> StoreResult<Vec<DeployedVersion>> {
        Ok(deploy::load_deployed(self).await?)
    }

    async fn create_token(&self, token: TokenRecord) -> StoreResult<Committed<TokenRecord>> {
        Ok(tokens::create(self, token).await?)
    }

    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<TokenRecord>> {
        Ok(tokens::list(self, project).await?)
    }

    async fn get_token(&self, id: &str) -> StoreResult<TokenRecord> {
        Ok(tokens::get(self, id).await?)
    }

    async fn revoke_token(
        &self,
        project: &ProjectId,
        id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Committed<TokenRecord>> {
        Ok(tokens::revoke(self, project, id, at).await?)
    }

    async fn load_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        Ok(tokens::load_all(self).await?)
    }

    async fn events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<(i64, ChangeEvent)>> {
        Ok(events::after(&self.pool, after, limit).await?)
    }

    async fn subscribe(&self) -> StoreResult<Option<EventStream>> {
        let stream = listen::subscribe(self.options.clone(), self.channel.clone()).await?;
        Ok(Some(stream))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::other)?;
        Ok(())
    }
}
