//! The storage seam of promptreg.
//!
//! - [`Store`]: the one trait every backend implements; it speaks domain types only, and every
//!   method is scoped by [`ProjectId`] so multi-tenancy is not a later migration.
//! - [`records`]: the records stored and returned.
//! - [`StoreError`]: `NotFound`, `Conflict` (with a machine code) and `Other`.
//! - `conformance` (feature `conformance`): one suite of stories run against every backend.
//!
//! Every write method runs in one transaction that also appends its [`ChangeEvent`] to the
//! backend's event log, and returns that event in [`Committed`], so the server feeds its
//! in-memory index (and, later, the change stream and the ledger) from the same value.

#![forbid(unsafe_code)]

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod records;

use async_trait::async_trait;
use promptreg_core::deploy::MoveRequest;
use promptreg_core::{ChangeEvent, EnvName, ProjectId, PromptName, RollbackError, Version};

pub use records::*;

/// A boxed stream of change events from other processes sharing the database.
pub type EventStream = futures::stream::BoxStream<'static, StoreNotice>;

/// What a change subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreNotice {
    /// A change committed by some process.
    Event(ChangeEvent),
    /// The subscription was (re)established and events may have been missed: reload.
    Resync,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The prompt, version, environment or token does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The write conflicts with existing state.
    #[error("{message}")]
    Conflict {
        /// snake_case code for the API, e.g. `already_exists`, `nothing_to_roll_back`.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// Anything else (I/O, database); logged, never shown to clients.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// An internal error from any error type.
    pub fn other(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Other(Box::new(e))
    }
}

impl From<RollbackError> for StoreError {
    fn from(e: RollbackError) -> Self {
        let code = match e {
            RollbackError::NothingToRollBack => "nothing_to_roll_back",
            RollbackError::NotAnEarlierVersion(_) => "not_an_earlier_version",
        };
        StoreError::Conflict {
            code,
            message: e.to_string(),
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The storage backend. One implementation per database, selected by URL at start-up.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the next version of a prompt (creating the prompt with version 1), unless its
    /// digest equals the latest version's, in which case the latest is returned unchanged.
    /// Version numbers never have gaps or duplicates, whatever the concurrency.
    async fn create_version(
        &self,
        project: &ProjectId,
        new: NewVersion,
    ) -> StoreResult<Committed<Created>>;
    /// One version.
    async fn get_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<VersionRecord>;
    /// The newest version of a prompt.
    async fn latest_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
    ) -> StoreResult<VersionRecord>;
    /// Versions newest first, below `page.after` (a version number), filtered.
    async fn list_versions(
        &self,
        project: &ProjectId,
        name: &PromptName,
        filter: &VersionFilter,
        page: &PageRequest<Version>,
    ) -> StoreResult<Vec<VersionRecord>>;
    /// Prompts by name, after `page.after`, filtered.
    async fn list_prompts(
        &self,
        project: &ProjectId,
        filter: &PromptFilter,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord>>;

    /// Creates an environment; `Conflict` if it exists.
    async fn create_environment(
        &self,
        project: &ProjectId,
        env: NewEnvironment,
    ) -> StoreResult<Committed<Environment>>;
    /// One environment.
    async fn get_environment(&self, project: &ProjectId, env: &EnvName)
        -> StoreResult<Environment>;
    /// All environments by name.
    async fn list_environments(&self, project: &ProjectId) -> StoreResult<Vec<Environment>>;

    /// Applies a deploy or rollback with the rules of `promptreg_core::deploy`, recording it.
    /// `Ok(Unchanged)` when the version is already live.
    async fn move_pointer(
        &self,
        project: &ProjectId,
        change: PointerChange,
    ) -> StoreResult<MoveOutcome>;
    /// Deployment records of one pointer, newest first, below `page.after` (a seq).
    async fn history(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeploymentRecord>>;
    /// What is deployed in an environment, by prompt name after `page.after`.
    async fn catalog(
        &self,
        project: &ProjectId,
        env: &EnvName,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<CatalogRecord>>;
    /// The version live for one pointer, if any.
    async fn deployed_version(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Option<VersionRecord>>;
    /// Every live pointer of every project, to build the resolve index at start-up.
    async fn load_deployed(&self) -> StoreResult<Vec<DeployedVersion>>;

    /// Stores a new token (its secret only as a hash).
    async fn create_token(&self, token: TokenRecord) -> StoreResult<Committed<TokenRecord>>;
    /// Tokens of a project that are not revoked.
    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<TokenRecord>>;
    /// One token (revoked or not).
    async fn get_token(&self, id: &str) -> StoreResult<TokenRecord>;
    /// Revokes a token; `NotFound` if unknown or already revoked.
    async fn revoke_token(
        &self,
        project: &ProjectId,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Committed<TokenRecord>>;
    /// Every active token of every project, to build the auth cache at start-up.
    async fn load_tokens(&self) -> StoreResult<Vec<TokenRecord>>;

    /// Events committed by any process, oldest first, after `after` (an event id).
    async fn events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<(i64, ChangeEvent)>>;
    /// Changes committed by *other* processes sharing the database, when the backend can push
    /// them (PostgreSQL `LISTEN`); `None` for an embedded backend that only this process uses.
    async fn subscribe(&self) -> StoreResult<Option<EventStream>>;
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// A [`MoveRequest`] is re-exported for backends.
pub type Move = MoveRequest;
