//! The storage seam of promptreg.
//!
//! - [`Store`]: the one trait every backend implements; it speaks domain types only, and every
//!   method is scoped by [`ProjectId`] so multi-tenancy is not a later migration.
//! - [`records`]: the records stored and returned; [`rollouts`]: rollout records;
//!   [`outcomes`]: outcome windows and accepted event ids; [`webhooks`]: webhook subscriptions
//!   and their delivery history; [`gates`]: validation results, environments' promotion
//!   gates and the validated-prompts query.
//!   and their delivery history; [`changes`]: change requests and their reviews.
//! - [`StoreError`]: `NotFound`, `Conflict` (with a machine code), `Unavailable` (the database
//!   cannot be reached), `StorageFull` and `Other`.
//! - [`StoreTx`] (in `tx.rs`): the unit of work's steps.
//! - [`codec`]: the content columns of a version row (sealed, plaintext or pruned), mapped
//!   once for every backend.
//! - `conformance` (feature `conformance`): one suite of stories run against every backend.
//!
//! The store never holds a key: versions come in and go out with their content sealed by the
//! server ([`StoredContent`]), and the store keeps the ciphertext, the wrapped data key and the
//! KEK id in columns beside the plaintext ones (names, digests, metadata, signatures).
//!
//! Every change is a unit of work ([`Store::begin`] → [`StoreTx`] steps → commit) that appends
//! its event to the project's log ([`StoreTx::append_event`], a dense `seq`), so the server
//! feeds its in-memory state, other replicas and (later) the ledger from the same records.

#![forbid(unsafe_code)]

pub mod audit;
pub mod changes;
pub mod codec;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod gates;
pub mod outcomes;
pub mod records;
pub mod rollouts;
mod tx;
pub mod webhooks;

use async_trait::async_trait;
use promptreg_core::{
    EnvName, EventDraft, EventRecord, ProjectId, PromptName, RollbackError, Version,
};

pub use audit::AuditFilter;
pub use changes::{ChangeRequestFilter, ChangeRequestRecord, ChangeReviewRecord};
pub use gates::{GatesRecord, ValidatedPrompt, ValidatedQuery, ValidationRecord};
pub use outcomes::{OutcomeIdBatch, RolloutWindowRow, VersionWindowRow};
pub use records::*;
pub use rollouts::{RolloutFilter, RolloutRecord};
pub use tx::StoreTx;
pub use webhooks::{DeliveryRecord, DeliveryStatus, WebhookRecord};

/// A boxed stream of change events from other processes sharing the database.
pub type EventStream = futures::stream::BoxStream<'static, StoreNotice>;

/// What a change subscription delivers.
// Notices are moved one at a time through a stream, so their size does not matter; boxing
// the event would only make every consumer's `match` clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreNotice {
    /// An event committed by some process.
    Event(EventRecord),
    /// The subscription was (re)established and events may have been missed: catch up.
    Resync,
    /// The subscription is down (the database or the connection to it is gone): this process
    /// cannot know it is current until the next `Resync`.
    Lost,
    /// A project's log was replaced (an import): catching up by `seq` would mix two logs, so
    /// reload everything.
    Reload,
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
    /// The database cannot be reached now (down, restarting, the connection was cut): nothing
    /// was written, or a commit is in doubt. Logged; clients get 503 and may retry.
    #[error("the database is unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// The database's storage is full (SQLite's `SQLITE_FULL`): the write was rolled back.
    /// Logged; clients get 507 and reads go on.
    #[error("the database's storage is full: {0}")]
    StorageFull(Box<dyn std::error::Error + Send + Sync>),
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
///
/// Reads are plain methods. Every change goes through [`Store::begin`], a unit of work with
/// small SQL-shaped steps ([`StoreTx`]); the workflows that combine them (numbering, the
/// deploy rules, the event) are written once, in the server's service layer, so the backends
/// hold SQL and row mapping only.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a write transaction in a project. It holds the project's writer lock until it
    /// commits or is dropped (rolled back), so writes to one project take turns: that is what
    /// keeps version numbers, pointer records and the event log's `seq` dense.
    async fn begin(&self, project: &ProjectId) -> StoreResult<Box<dyn StoreTx>>;

    /// A publish planned outside the writer lock, written only if the plan still holds:
    /// inserts `version` and appends `event` as one unit if, and only if, the prompt's newest
    /// version is still `expected` (`None`: the prompt has none) and nobody took the log
    /// position first. Returns the appended event, or `None` when nothing was written (the
    /// caller plans again under the lock, with [`Store::begin`]).
    ///
    /// This is a compare-and-set, not a workflow: the service layer numbers, signs and
    /// builds the event. The default runs it as a unit of work; a backend whose round trips
    /// are dear may do it in one statement.
    async fn publish_if_latest(
        &self,
        project: &ProjectId,
        expected: Option<Version>,
        version: &StoredVersion,
        event: EventDraft,
    ) -> StoreResult<Option<EventRecord>> {
        let mut tx = self.begin(project).await?;
        let latest = tx.latest_version(&version.name).await?.map(|v| v.version);
        if latest != expected {
            return Ok(None);
        }
        tx.insert_version(version).await?;
        let record = tx.append_event(event).await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    /// One rollout of a project.
    async fn get_rollout(&self, project: &ProjectId, id: &str) -> StoreResult<RolloutRecord>;
    /// Rollouts newest first, below `page.after` (an id), filtered.
    async fn list_rollouts(
        &self,
        project: &ProjectId,
        filter: &RolloutFilter,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<RolloutRecord>>;
    /// Every rollout of every project that is not over (index and controller, at start-up).
    async fn load_active_rollouts(&self) -> StoreResult<Vec<RolloutRecord>>;
    /// Stores the controller's analysis memory of a rollout (not a change of state, so no
    /// event), unless the rollout moved past `revision` meanwhile. Returns whether it did.
    async fn save_rollout_analysis(
        &self,
        project: &ProjectId,
        id: &str,
        revision: i64,
        analysis: &serde_json::Value,
    ) -> StoreResult<bool>;
    /// Takes or renews the lease to drive a rollout: succeeds when the rollout is unleased,
    /// leased by `owner`, or its lease ended before `now`. Returns whether `owner` holds it.
    async fn claim_rollout(
        &self,
        project: &ProjectId,
        id: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;

    // --- Webhooks. Creating and deleting one are changes (`StoreTx` steps with their event);
    // the dispatcher's progress (cursor, deliveries, lease) is not, so it is written here.

    /// One webhook of a project.
    async fn get_webhook(&self, project: &ProjectId, id: &str) -> StoreResult<WebhookRecord>;
    /// A project's webhooks, oldest first.
    async fn list_webhooks(&self, project: &ProjectId) -> StoreResult<Vec<WebhookRecord>>;
    /// Every webhook of every project (the dispatcher's pass).
    async fn load_webhooks(&self) -> StoreResult<Vec<WebhookRecord>>;
    /// Takes or renews the lease to deliver a webhook's events, as [`Store::claim_rollout`]
    /// does for a rollout. Returns whether `owner` holds it.
    async fn claim_webhook(
        &self,
        project: &ProjectId,
        id: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;
    /// Writes (inserts or replaces) a delivery and, when it is settled (delivered or failed),
    /// moves the webhook's cursor up to its `seq`, in one transaction. `NotFound` if the
    /// webhook is gone.
    async fn save_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()>;
    /// Moves a webhook's cursor up to `cursor` (past events it does not want); never back.
    async fn advance_webhook(&self, project: &ProjectId, id: &str, cursor: i64) -> StoreResult<()>;
    /// A webhook's deliveries newest first (by `seq`), below `page.after` (a seq).
    async fn list_deliveries(
        &self,
        project: &ProjectId,
        id: &str,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeliveryRecord>>;

    /// One version.
    async fn get_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<StoredVersion>;
    /// The newest version of a prompt.
    async fn latest_version(
        &self,
        project: &ProjectId,
        name: &PromptName,
    ) -> StoreResult<StoredVersion>;
    /// Versions newest first, below `page.after` (a version number), filtered.
    async fn list_versions(
        &self,
        project: &ProjectId,
        name: &PromptName,
        filter: &VersionFilter,
        page: &PageRequest<Version>,
    ) -> StoreResult<Vec<StoredVersion>>;
    /// Prompts by name, after `page.after`, filtered.
    async fn list_prompts(
        &self,
        project: &ProjectId,
        filter: &PromptFilter,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<PromptRecord<StoredContent>>>;
    /// One page of the prompts matching `query`, by name, and how many match in all: what a
    /// page-number list needs without reading every prompt (the rows skipped are counted by
    /// the database, not loaded).
    async fn prompt_page(
        &self,
        project: &ProjectId,
        query: &PromptQuery,
        page: OffsetPage,
    ) -> StoreResult<PromptPage<StoredContent>>;

    /// One environment.
    async fn get_environment(&self, project: &ProjectId, env: &EnvName)
        -> StoreResult<Environment>;
    /// All environments by name.
    async fn list_environments(&self, project: &ProjectId) -> StoreResult<Vec<Environment>>;

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
    /// Every live pointer of every project with the seq of the record that made it live, to
    /// build the resolve index at start-up.
    async fn load_deployed(&self) -> StoreResult<Vec<DeployedVersion<StoredContent>>>;
    /// Every live pointer of every project (its version's number, not the version), in
    /// (project, environment, prompt) order: a large registry's start-up.
    async fn load_live_pointers(&self) -> StoreResult<Vec<LivePointer>>;

    /// Every version of every project in (project, prompt, version) order after `after`, at
    /// most `limit`: what re-keying (a KEK rotation) walks.
    async fn all_versions(
        &self,
        after: Option<&VersionKey>,
        limit: u32,
    ) -> StoreResult<Vec<(ProjectId, StoredVersion)>>;
    /// Writes new sealings in one transaction: for `from_kek: Some(id)`, only the wrapped key
    /// and the KEK id change, and only if the row is still wrapped by `id` (a rewrap never
    /// touches a ciphertext); for `from_kek: None`, a plaintext row is sealed (its plaintext
    /// removed), only if it is still plaintext. A pruned row is never written. Not a change
    /// of content, so no event. Returns how many rows changed.
    async fn reseal(&self, batch: &[Reseal]) -> StoreResult<u64>;

    /// A project's lifecycle rules, if they were ever set.
    async fn lifecycle(&self, project: &ProjectId) -> StoreResult<Option<LifecycleRecord>>;

    /// Tokens of a project that are not revoked.
    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<TokenRecord>>;
    /// One token (revoked or not).
    async fn get_token(&self, id: &str) -> StoreResult<TokenRecord>;
    /// The token a credential names: a bearer token by the hash of its secret, a key pair by
    /// its public key (revoked or not); `None` when there is none.
    async fn find_token(&self, credential: &TokenLookup) -> StoreResult<Option<TokenRecord>>;
    /// Every active token of every project, to build the auth cache at start-up.
    async fn load_tokens(&self) -> StoreResult<Vec<TokenRecord>>;

    /// Events of a project's log with `seq > after`, oldest first.
    async fn events_after(
        &self,
        project: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>>;
    /// Entries of a project's log after `after`, oldest first, exactly as stored (the ledger
    /// hashes these bytes; nothing is parsed).
    async fn log_entries(
        &self,
        project: &ProjectId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<LogEntry>>;
    /// The last `seq` of every project's log (projects with no event are absent).
    async fn event_heads(&self) -> StoreResult<Vec<(ProjectId, i64)>>;
    /// Changes of a project's log matching `filter`, newest first (the audit log).
    async fn audit_events(
        &self,
        project: &ProjectId,
        filter: &AuditFilter,
    ) -> StoreResult<Vec<EventRecord>>;
    /// The newest change of `subject` (see `promptreg_core::audit`) with `seq < before`: what
    /// it left is the state before the change at `before`.
    async fn previous_of_subject(
        &self,
        project: &ProjectId,
        subject: &str,
        before: i64,
    ) -> StoreResult<Option<EventRecord>>;
    /// Stores the audit keys of up to `limit` events written before the audit log existed;
    /// returns how many it indexed (0: none is left).
    async fn index_audit_backlog(&self, limit: u32) -> StoreResult<u64>;
    /// Changes committed by *other* processes sharing the database, when the backend can push
    /// them (PostgreSQL `LISTEN`); `None` for an embedded backend that only this process uses.
    async fn subscribe(&self) -> StoreResult<Option<EventStream>>;
    /// Whether other processes may write to this database (then a server must confirm it is
    /// current before it vouches for what it serves). `false` for an embedded database.
    fn shares_database(&self) -> bool {
        false
    }
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;

    // --- Outcomes. Aggregates, not changes: written outside the unit of work and the event
    // log (a replica flushes them every half second), each replica only its own rows.

    /// Upserts windows (full replacements of this replica's rows), in one transaction.
    async fn save_outcome_windows(
        &self,
        versions: &[VersionWindowRow],
        rollouts: &[RolloutWindowRow],
    ) -> StoreResult<()>;
    /// Every replica's windows of one version with `minute >= since`.
    async fn version_windows(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
        version: Version,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<VersionWindowRow>>;
    /// Every replica's windows of one rollout (all steps and arms).
    async fn rollout_windows(
        &self,
        project: &ProjectId,
        rollout: &str,
    ) -> StoreResult<Vec<RolloutWindowRow>>;
    /// Remembers the ids one flush accepted.
    async fn insert_outcome_ids(&self, batch: &OutcomeIdBatch) -> StoreResult<()>;
    /// Every batch of ids flushed at or after `since` (start-up).
    async fn outcome_ids_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<OutcomeIdBatch>>;
    /// Forgets id batches flushed before `before`; returns how many.
    async fn prune_outcome_ids(&self, before: chrono::DateTime<chrono::Utc>) -> StoreResult<u64>;

    /// Every public signing key the server has used, oldest first (retired ones included:
    /// what they signed stays verifiable).
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Registers a public signing key (nothing changes when its id is known) and, in the same
    /// transaction, marks `retire` (a key id) retired at `key.created_at`.
    async fn add_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire: Option<&str>,
    ) -> StoreResult<()>;

    // --- Validation results and promotion gates.

    /// A version's validation results, oldest first.
    async fn list_validations(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Vec<ValidationRecord>>;
    /// An environment's gates, if they were ever set.
    async fn environment_gates(
        &self,
        project: &ProjectId,
        env: &EnvName,
    ) -> StoreResult<Option<GatesRecord>>;
    /// Prompts by name after `page.after` having a version whose newest result for
    /// `query.suite` passed, each with the newest such version; with `query.env`, only those
    /// where that version is not the one the environment serves (one query, however many
    /// results there are).
    async fn validated_prompts(
        &self,
        project: &ProjectId,
        query: &ValidatedQuery,
        page: &PageRequest<PromptName>,
    ) -> StoreResult<Vec<ValidatedPrompt>>;
    // --- Change requests (approvals for protected environments). Opening, reviewing and
    // applying one are changes (`StoreTx` steps with their events); these are the reads.

    /// One change request of a project with its reviews, if it exists there.
    async fn get_change_request(
        &self,
        project: &ProjectId,
        id: &str,
    ) -> StoreResult<Option<ChangeRequestRecord>>;
    /// Change requests with their reviews, newest first, below `page.after` (an id), filtered.
    async fn list_change_requests(
        &self,
        project: &ProjectId,
        filter: &ChangeRequestFilter,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<ChangeRequestRecord>>;
    // --- Projects and token use (issue 14).

    /// Every project, by id.
    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>>;
    /// One project; `NotFound` naming it when there is none.
    async fn get_project(&self, id: &ProjectId) -> StoreResult<ProjectRecord>;
    /// Records when tokens were last used, in one statement: each token's `last_used_at`
    /// becomes the later of the stored time and the given one (replicas flush their own
    /// observations; the latest wins). Unknown ids are ignored.
    async fn record_token_use(
        &self,
        uses: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()>;
}

/// A credential to look up in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    /// Lowercase hex SHA-256 of a bearer secret.
    SecretHash(String),
    /// The public key of a key pair.
    PublicKey(String),
}
