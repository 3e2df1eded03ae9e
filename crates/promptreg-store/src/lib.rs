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

/// One write transaction (a unit of work). Dropping it without [`StoreTx::commit`] rolls it
/// back. Each step is at most one statement (or one round trip); none decides anything.
#[async_trait]
pub trait StoreTx: Send {
    /// The newest version of a prompt, if it has any.
    async fn latest_version(&mut self, name: &PromptName) -> StoreResult<Option<StoredVersion>>;
    /// One version, if it exists.
    async fn get_version(
        &mut self,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Option<StoredVersion>>;
    /// Inserts a version (creating the prompt with version 1) and makes it the prompt's latest.
    /// A backend may send it with the unit's next statement (one round trip for a version and
    /// its event), so a conflict (`already_exists`) may be reported by the next step or by
    /// `commit`; every later step sees the version.
    async fn insert_version(&mut self, version: &StoredVersion) -> StoreResult<()>;

    /// The rollout of a pointer that is not over, if any.
    async fn active_rollout(
        &mut self,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Option<RolloutRecord>>;
    /// One rollout, if it exists in this project.
    async fn get_rollout(&mut self, id: &str) -> StoreResult<Option<RolloutRecord>>;
    /// Inserts a rollout; `Conflict { code: "rollout_in_progress" }` if the pointer has an
    /// active one already.
    async fn insert_rollout(&mut self, rollout: &RolloutRecord) -> StoreResult<()>;
    /// Writes a rollout's new state, revision and analysis memory.
    async fn update_rollout(&mut self, rollout: &RolloutRecord) -> StoreResult<()>;

    /// One environment, if it exists.
    async fn get_environment(&mut self, env: &EnvName) -> StoreResult<Option<Environment>>;
    /// Inserts an environment; `Conflict { code: "already_exists" }` if it exists.
    async fn insert_environment(&mut self, env: &Environment) -> StoreResult<()>;

    /// Every record of a pointer, oldest first (what the deploy rules replay).
    async fn pointer_history(
        &mut self,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Vec<DeploymentRecord>>;
    /// Inserts a deployment record and points the pointer at it.
    async fn insert_deployment(&mut self, record: &DeploymentRecord) -> StoreResult<()>;

    /// Inserts a token.
    async fn insert_token(&mut self, token: &TokenRecord) -> StoreResult<()>;
    /// Marks an active token of this project revoked; `Ok(None)` if unknown or already revoked.
    async fn revoke_token(
        &mut self,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<TokenRecord>>;

    /// Inserts a webhook; `Conflict { code: "already_exists" }` if its id is taken.
    async fn insert_webhook(&mut self, webhook: &WebhookRecord) -> StoreResult<()>;
    /// Deletes a webhook of this project and its delivery history; `Ok(None)` if unknown.
    async fn delete_webhook(&mut self, id: &str) -> StoreResult<Option<WebhookRecord>>;

    // --- Retention: what the lifecycle rules look at (read under the writer lock, so the
    // plan holds until commit), setting the rules, and the prune itself.

    /// The project's lifecycle rules, if they were ever set.
    async fn lifecycle(&mut self) -> StoreResult<Option<LifecycleRecord>>;
    /// Sets (inserts or replaces) the project's lifecycle rules.
    async fn set_lifecycle(&mut self, record: &LifecycleRecord) -> StoreResult<()>;
    /// Every version of the project without its content, by prompt then version.
    async fn version_stubs(&mut self) -> StoreResult<Vec<VersionStub>>;
    /// Every environment of the project, by name.
    async fn environments(&mut self) -> StoreResult<Vec<Environment>>;
    /// Every deployment record of the project, by environment, prompt and seq.
    async fn all_deployments(&mut self) -> StoreResult<Vec<DeploymentRecord>>;
    /// Every rollout of the project, over or not, by id.
    async fn all_rollouts(&mut self) -> StoreResult<Vec<RolloutRecord>>;
    /// Drops a version's content (plaintext, or ciphertext, nonce, wrapped data key, KEK id
    /// and algorithm) and marks it pruned at `at`, keeping the rest of the row. `false` when
    /// the version does not exist or was pruned already.
    async fn prune_version(
        &mut self,
        name: &PromptName,
        version: Version,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;

    /// Appends an event to the project's log at the next `seq` (and, on a shared database,
    /// queues its notification for commit).
    async fn append_event(&mut self, draft: EventDraft) -> StoreResult<EventRecord>;

    // --- Import (restoring an export into an empty project; `registry/import` in the server).

    /// Counts what the project holds, for the import's emptiness rule.
    async fn count_rows(&mut self) -> StoreResult<ProjectCounts>;
    /// Deletes the project's environments and its whole event log (what a first start writes,
    /// which an import replaces) and, on a shared database, queues a [`StoreNotice::Reload`]
    /// for commit. Fails (foreign keys) while a deployment names an environment.
    async fn clear_for_import(&mut self) -> StoreResult<()>;
    /// Registers a public signing key as given, unless its id is known (then nothing changes).
    async fn import_signing_key(&mut self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Appends a stored log entry exactly as given (seq, kind, time, body bytes), without a
    /// notification of its own (see [`StoreTx::clear_for_import`]); `Conflict` when its seq is
    /// taken. Rows inserted before it in the unit of work get its seq as their `ledger_seq`
    /// when it is the next one, as with [`StoreTx::append_event`].
    async fn import_event(
        &mut self,
        entry: &LogEntry,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()>;
    // --- Validation results and promotion gates (read under the writer lock by a deploy,
    // so a result attached or a gate set concurrently is either seen or waits).

    /// Inserts a validation result and returns its id (`record.id` is ignored).
    async fn insert_validation(&mut self, record: &ValidationRecord) -> StoreResult<i64>;
    /// A version's validation results, oldest first.
    async fn validations(
        &mut self,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Vec<ValidationRecord>>;
    /// An environment's gates, if set.
    async fn environment_gates(&mut self, env: &EnvName) -> StoreResult<Option<GatesRecord>>;
    /// Sets (inserts or replaces) an environment's gates.
    async fn set_environment_gates(&mut self, record: &GatesRecord) -> StoreResult<()>;

    // --- Change requests (approvals for protected environments).

    /// One change request with its reviews, its row locked until the unit of work ends
    /// (`SELECT … FOR UPDATE` where the database has row locks; the project's writer lock
    /// serializes the rest), so two applies of one request take turns and the second sees
    /// the first's status.
    async fn lock_change_request(&mut self, id: &str) -> StoreResult<Option<ChangeRequestRecord>>;
    /// Inserts a change request (its reviews are inserted one by one); `Conflict` if the id
    /// is taken.
    async fn insert_change_request(&mut self, request: &ChangeRequestRecord) -> StoreResult<()>;
    /// Writes a change request's status, `applied_at`, `applied_by` and `rollout`.
    async fn update_change_request(&mut self, request: &ChangeRequestRecord) -> StoreResult<()>;
    /// Inserts a review; `Conflict { code: "already_reviewed" }` when this reviewer has
    /// reviewed the request already.
    async fn insert_change_review(
        &mut self,
        request_id: &str,
        review: &ChangeReviewRecord,
    ) -> StoreResult<()>;
    /// The change request a rollout applied, if any.
    async fn change_request_of_rollout(
        &mut self,
        rollout: &str,
    ) -> StoreResult<Option<ChangeRequestRecord>>;
    /// Writes an environment's `protected` and `approvals_required`; `NotFound` if unknown.
    async fn update_environment(&mut self, env: &Environment) -> StoreResult<()>;

    /// Inserts the unit of work's project; `Conflict { code: "already_exists" }` if it exists.
    async fn insert_project(&mut self, project: &ProjectRecord) -> StoreResult<()>;
    /// Commits everything.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
