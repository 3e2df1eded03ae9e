//! [`StoreTx`]: the steps of one unit of work ([`Store::begin`](crate::Store::begin)), each
//! at most one statement; the workflows that combine them live in the server's service layer.

use async_trait::async_trait;
use promptreg_core::{EnvName, EventDraft, EventRecord, PromptName, Version};

#[allow(clippy::wildcard_imports)]
use crate::*;

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
