//! The unit of work ([`Store::begin`](promptreg_store::Store::begin)): one transaction holding
//! the project's writer lock, and the SQL of each [`StoreTx`] step. Nothing here decides
//! anything: numbering, the deploy rules and the events are the service layer's.
//!
//! The writer lock is a transaction-scoped advisory lock keyed by the store's channel (one per
//! schema) and the project. Writers of one project take turns from `begin` to commit (or
//! rollback, which releases it too), so what a workflow reads is still true when it writes,
//! and the event log's next `seq` (`MAX + 1`) can be neither taken twice nor committed out of
//! order: seq order is commit order, which is what lets a replica that has applied `seq` `n`
//! ask for exactly what follows. Writers of different projects do not wait for each other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use promptreg_core::{EnvName, EventDraft, EventRecord, ProjectId, PromptName, Version};
use promptreg_store::{
    ChangeRequestRecord, ChangeReviewRecord, DeploymentRecord, Environment, LifecycleRecord,
    ProjectRecord, StoreResult, StoreTx, StoredVersion, TokenRecord, VersionStub,
};
use sqlx::{PgPool, Postgres, Row, Transaction};

use promptreg_store::codec;

use crate::deploy::{self, DEPLOYMENT_COLUMNS};
use crate::error::{already_exists, internal, unique_violation, Error, Result};
use crate::{environments, events, gates, retention, rows, tokens, versions};

/// A write transaction in one project.
pub(crate) struct PgTx {
    tx: Transaction<'static, Postgres>,
    project: ProjectId,
    channel: String,
    /// A version inserted but not sent yet: it goes with the next statement (see
    /// [`PgTx::flush`]), which for a publish is the event, so both are one round trip.
    pending: Option<Box<StoredVersion>>,
}

impl PgTx {
    /// Begins a transaction and waits for the project's writer lock, in one round trip:
    /// `BEGIN` and the lock are sent as one simple query, so the transaction's first
    /// statement already runs under the lock (its snapshot is taken after the lock).
    pub(crate) async fn begin(pool: &PgPool, channel: &str, project: &ProjectId) -> Result<PgTx> {
        let key = lock_key(channel, project)?;
        let tx = pool
            .begin_with(format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('{key}', 0))"
            ))
            .await?;
        Ok(PgTx {
            tx,
            project: project.clone(),
            channel: channel.to_owned(),
            pending: None,
        })
    }

    /// Sends a deferred version insert on its own, before any other statement of the unit of
    /// work, so every step reads what the earlier steps wrote.
    async fn flush(&mut self) -> StoreResult<()> {
        if let Some(v) = self.pending.take() {
            let sql = format!("WITH {INSERT_VERSION} SELECT 1");
            bind_version(sqlx::query(&sql), &self.project, &v)?
                .execute(&mut *self.tx)
                .await
                .map_err(|e| version_exists_or(e, &v))?;
        }
        Ok(())
    }
}

/// The key of a project's writer lock. `hashtextextended` is computed by the database, so
/// every replica (whatever its build) derives the same key; a collision between two projects
/// only makes them take turns. [`PgTx::begin`] sends it as a literal in a simple query (which
/// takes no parameters), so it must be made of a channel name and a project id, both
/// `[a-z0-9._-]` (checked again here).
fn lock_key(channel: &str, project: &ProjectId) -> Result<String> {
    let key = format!("{channel}/{project}");
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        return Err(internal(std::io::Error::other(format!(
            "lock key {key:?} is not a plain identifier"
        ))));
    }
    Ok(key)
}

/// [`Store::publish_if_latest`](promptreg_store::Store::publish_if_latest) in one statement
/// and one round trip, committed on its own (no `BEGIN`/`COMMIT`): the writer lock, the
/// check that the newest version is still `expected`, the prompt row, the version, the event
/// and its notification. Nothing is written when the check fails or another writer holds the
/// lock.
///
/// The statement's snapshot is taken before it waits for the lock, so a writer that committed
/// in between is not seen: its version number or log position is then taken twice, which the
/// primary keys refuse (after that writer's commit); that is reported as `None` too, and the
/// caller plans again under the lock. Writers that hold the lock from `BEGIN` (every other
/// unit of work) take their snapshot after it, so they never meet such a conflict.
pub(crate) async fn publish_if_latest(
    pool: &PgPool,
    channel: &str,
    project: &ProjectId,
    expected: Option<Version>,
    v: &StoredVersion,
    draft: EventDraft,
) -> StoreResult<Option<EventRecord>> {
    if draft.change.project() != project {
        return Err(internal(std::io::Error::other(format!(
            "an event of project '{}' published in '{project}'",
            draft.change.project()
        )))
        .into());
    }
    let key = lock_key(channel, project)?;
    let prefix = events::body_prefix(&draft)?;
    let audit = promptreg_core::audit::keys(&draft.change);
    let sql = events::append_sql_from(&format!("{GUARDED_VERSION},"), 19, "FROM guard");
    let query = bind_version(sqlx::query(&sql), project, v)?;
    let row = events::bind(query, &draft, &prefix, channel, &audit)
        .bind(key)
        .bind(expected.map(Version::get))
        .fetch_optional(pool)
        .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return Ok(None),
        Err(e) if unique_violation(&e).is_some() => return Ok(None),
        Err(e) => return Err(Error::from(e).into()),
    };
    let seq = row.try_get("seq").map_err(Error::from)?;
    Ok(Some(events::logged(draft, &prefix, seq)?))
}

/// [`INSERT_VERSION`] behind the writer lock (`$29`, the key) and the check that the prompt's
/// newest version is `$30` (`NULL`: none): both inserts select from `guard`, which is empty
/// when the check fails. The event's `next` selects from `guard` too. The newest version is
/// the prompt row's `latest_version`, as the store's `latest_version` read has it: one index
/// lookup (`MAX(version)` may be planned as a scan of every version of the prompt while the
/// table has no statistics). The lock is only tried:
/// when another writer holds it, the project is busy and the plan is likely stale, so the
/// statement writes nothing at once instead of queueing for a write that would then fail.
const GUARDED_VERSION: &str = "lock AS ( \
         SELECT pg_try_advisory_xact_lock(hashtextextended($29, 0)) AS held \
     ), guard AS ( \
         SELECT 1 FROM lock WHERE held AND (SELECT latest_version FROM prompts \
             WHERE project = $1 AND name = $2) IS NOT DISTINCT FROM $30::bigint \
     ), prompt AS ( \
         INSERT INTO prompts (project, name, latest_version, created_at) \
         SELECT $1, $2, $3, $11 FROM guard \
         ON CONFLICT (project, name) DO UPDATE SET latest_version = EXCLUDED.latest_version \
     ), version AS ( \
         INSERT INTO versions (project, name, version, digest, prompt_type, content, \
             commit_message, metadata, parent, created_by, created_at, signature, \
             sealed_alg, kek_id, wrapped_key, nonce, ciphertext, pruned_at, ledger_seq) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_log WHERE project = $1) \
         FROM guard \
     )";

/// The prompt row (created with version 1, else pointed at the new latest) and the version,
/// as two data-modifying CTEs binding `$1`-`$18` (see [`bind_version`]). The foreign key
/// from the version to the prompt is checked at the end of the statement, when the prompt
/// row exists.
const INSERT_VERSION: &str = "prompt AS ( \
         INSERT INTO prompts (project, name, latest_version, created_at) \
         VALUES ($1, $2, $3, $11) \
         ON CONFLICT (project, name) DO UPDATE SET latest_version = EXCLUDED.latest_version \
     ), version AS ( \
         INSERT INTO versions (project, name, version, digest, prompt_type, content, \
             commit_message, metadata, parent, created_by, created_at, signature, \
             sealed_alg, kek_id, wrapped_key, nonce, ciphertext, pruned_at, ledger_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_log WHERE project = $1)) \
     )";

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds `$1`-`$18` of [`INSERT_VERSION`].
fn bind_version<'q>(
    query: PgQuery<'q>,
    project: &'q ProjectId,
    v: &'q StoredVersion,
) -> StoreResult<PgQuery<'q>> {
    let metadata = serde_json::to_value(&v.metadata).map_err(internal)?;
    let content = codec::to_columns(&v.content);
    let sealed = content.sealed;
    Ok(query
        .bind(project.as_str())
        .bind(v.name.as_str())
        .bind(v.version.get())
        .bind(v.digest.as_str())
        .bind(content.prompt_type)
        .bind(content.plain)
        .bind(&v.commit_message)
        .bind(metadata)
        .bind(v.parent.map(Version::get))
        .bind(&v.created_by)
        .bind(v.created_at)
        .bind(&v.signature)
        .bind(sealed.map(|s| s.alg.as_str()))
        .bind(sealed.map(|s| s.kek_id.as_str()))
        .bind(sealed.map(|s| s.wrapped_key.as_slice()))
        .bind(sealed.map(|s| s.nonce.as_slice()))
        .bind(sealed.map(|s| s.ciphertext.as_slice()))
        .bind(content.pruned_at))
}

/// A version's unique violation as `already_exists`; other errors as they are.
fn version_exists_or(e: sqlx::Error, v: &StoredVersion) -> Error {
    exists_or(e, || {
        format!("prompt '{}' already has version {}", v.name, v.version)
    })
}

/// A unique violation as `already_exists` with `message`; other errors as they are.
fn exists_or(e: sqlx::Error, message: impl FnOnce() -> String) -> Error {
    match unique_violation(&e) {
        Some(_) => already_exists(message()),
        None => e.into(),
    }
}

#[async_trait]
impl StoreTx for PgTx {
    async fn active_rollout(
        &mut self,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Option<promptreg_store::RolloutRecord>> {
        Ok(crate::rollouts::active(&mut self.tx, &self.project, env, name).await?)
    }

    async fn get_rollout(
        &mut self,
        id: &str,
    ) -> StoreResult<Option<promptreg_store::RolloutRecord>> {
        Ok(crate::rollouts::get(&mut self.tx, &self.project, id).await?)
    }

    async fn insert_rollout(
        &mut self,
        rollout: &promptreg_store::RolloutRecord,
    ) -> StoreResult<()> {
        Ok(crate::rollouts::insert(&mut self.tx, rollout).await?)
    }

    async fn update_rollout(
        &mut self,
        rollout: &promptreg_store::RolloutRecord,
    ) -> StoreResult<()> {
        Ok(crate::rollouts::update(&mut self.tx, rollout).await?)
    }

    async fn latest_version(&mut self, name: &PromptName) -> StoreResult<Option<StoredVersion>> {
        self.flush().await?;
        Ok(versions::find(&mut *self.tx, &self.project, name, None).await?)
    }

    async fn get_version(
        &mut self,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Option<StoredVersion>> {
        self.flush().await?;
        Ok(versions::find(&mut *self.tx, &self.project, name, Some(version)).await?)
    }

    async fn insert_version(&mut self, v: &StoredVersion) -> StoreResult<()> {
        // Sent with the next statement (the event, in a publish) or on its own before it.
        self.flush().await?;
        self.pending = Some(Box::new(v.clone()));
        Ok(())
    }

    async fn get_environment(&mut self, env: &EnvName) -> StoreResult<Option<Environment>> {
        self.flush().await?;
        Ok(environments::find(&mut *self.tx, &self.project, env).await?)
    }

    async fn insert_environment(&mut self, env: &Environment) -> StoreResult<()> {
        self.flush().await?;
        sqlx::query(&format!(
            "INSERT INTO environments (project, {}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            environments::COLUMNS
        ))
        .bind(self.project.as_str())
        .bind(env.name.as_str())
        .bind(env.protected)
        .bind(&env.description)
        .bind(&env.created_by)
        .bind(env.created_at)
        .bind(i64::from(env.approvals_required))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| exists_or(e, || format!("environment '{}' already exists", env.name)))?;
        Ok(())
    }

    async fn pointer_history(
        &mut self,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Vec<DeploymentRecord>> {
        self.flush().await?;
        Ok(deploy::pointer_history(&mut *self.tx, &self.project, env, name).await?)
    }

    async fn insert_deployment(&mut self, r: &DeploymentRecord) -> StoreResult<()> {
        self.flush().await?;
        // The record and the pointer in one statement; the pointer's foreign key to its
        // record is checked at the end of the statement, when the record exists.
        sqlx::query(&format!(
            "WITH record AS ( \
                 INSERT INTO deployments (project, {DEPLOYMENT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_log WHERE project = $1)) \
             ) \
             INSERT INTO pointers (project, env, name, version, seq, updated_at) \
             VALUES ($1, $2, $3, $6, $4, $10) \
             ON CONFLICT (project, env, name) DO UPDATE \
             SET version = EXCLUDED.version, seq = EXCLUDED.seq, updated_at = EXCLUDED.updated_at"
        ))
        .bind(self.project.as_str())
        .bind(r.env.as_str())
        .bind(r.name.as_str())
        .bind(r.seq)
        .bind(r.from_version.map(Version::get))
        .bind(r.to_version.get())
        .bind(r.digest.as_str())
        .bind(&r.actor)
        .bind(&r.reason)
        .bind(r.at)
        .bind(r.kind.as_str())
        .bind(&r.signature)
        .bind(r.approval.as_ref().map(|a| a.to_column()))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            exists_or(e, || {
                format!(
                    "'{}' in '{}' already has deployment record {}",
                    r.name, r.env, r.seq
                )
            })
        })?;
        Ok(())
    }

    async fn insert_token(&mut self, t: &TokenRecord) -> StoreResult<()> {
        self.flush().await?;
        sqlx::query(&format!(
            "INSERT INTO tokens ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11, NULL)",
            tokens::COLUMNS
        ))
        .bind(&t.id)
        .bind(self.project.as_str())
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(t.kind.as_str())
        .bind(&t.public_key)
        .bind(&t.secret_hash)
        .bind(&t.created_by)
        .bind(t.created_at)
        .bind(tokens::scope_column(&t.scope))
        .bind(t.expires_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| tokens::insert_error(e, t))?;
        Ok(())
    }

    async fn revoke_token(
        &mut self,
        id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        self.flush().await?;
        let row = sqlx::query(&format!(
            "UPDATE tokens SET revoked_at = $3 \
             WHERE project = $1 AND id = $2 AND revoked_at IS NULL RETURNING {}",
            tokens::COLUMNS
        ))
        .bind(self.project.as_str())
        .bind(id)
        .bind(at)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(Error::from)?;
        Ok(row.as_ref().map(rows::token).transpose()?)
    }

    async fn insert_webhook(
        &mut self,
        webhook: &promptreg_store::WebhookRecord,
    ) -> StoreResult<()> {
        Ok(crate::webhooks::insert(&mut self.tx, webhook).await?)
    }

    async fn delete_webhook(
        &mut self,
        id: &str,
    ) -> StoreResult<Option<promptreg_store::WebhookRecord>> {
        Ok(crate::webhooks::delete(&mut self.tx, &self.project, id).await?)
    }

    async fn lifecycle(&mut self) -> StoreResult<Option<LifecycleRecord>> {
        self.flush().await?;
        Ok(retention::lifecycle(&mut *self.tx, &self.project).await?)
    }

    async fn set_lifecycle(&mut self, record: &LifecycleRecord) -> StoreResult<()> {
        self.flush().await?;
        Ok(retention::set_lifecycle(&mut *self.tx, &self.project, record).await?)
    }

    async fn version_stubs(&mut self) -> StoreResult<Vec<VersionStub>> {
        self.flush().await?;
        Ok(retention::version_stubs(&mut *self.tx, &self.project).await?)
    }

    async fn environments(&mut self) -> StoreResult<Vec<Environment>> {
        self.flush().await?;
        Ok(environments::list(&mut *self.tx, &self.project).await?)
    }

    async fn all_deployments(&mut self) -> StoreResult<Vec<DeploymentRecord>> {
        self.flush().await?;
        Ok(retention::all_deployments(&mut *self.tx, &self.project).await?)
    }

    async fn all_rollouts(&mut self) -> StoreResult<Vec<promptreg_store::RolloutRecord>> {
        self.flush().await?;
        Ok(crate::rollouts::all(&mut self.tx, &self.project).await?)
    }

    async fn prune_version(
        &mut self,
        name: &PromptName,
        version: Version,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.flush().await?;
        Ok(retention::prune_version(&mut *self.tx, &self.project, name, version, at).await?)
    }

    async fn append_event(&mut self, draft: EventDraft) -> StoreResult<EventRecord> {
        if draft.change.project() != &self.project {
            return Err(internal(std::io::Error::other(format!(
                "an event of project '{}' appended in a transaction of '{}'",
                draft.change.project(),
                self.project
            )))
            .into());
        }
        let Some(v) = self.pending.take() else {
            return Ok(events::append(&mut self.tx, &self.channel, draft).await?);
        };
        // The deferred version and the event in one statement, one round trip.
        let prefix = events::body_prefix(&draft)?;
        let audit = promptreg_core::audit::keys(&draft.change);
        let sql = events::append_sql(&format!("{INSERT_VERSION},"), 19);
        let query = bind_version(sqlx::query(&sql), &self.project, &v)?;
        let row = events::bind(query, &draft, &prefix, &self.channel, &audit)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| version_exists_or(e, &v))?;
        let seq = row.try_get("seq").map_err(Error::from)?;
        Ok(events::logged(draft, &prefix, seq)?)
    }

    async fn count_rows(&mut self) -> StoreResult<promptreg_store::ProjectCounts> {
        self.flush().await?;
        Ok(crate::import::count_rows(&mut self.tx, &self.project).await?)
    }

    async fn clear_for_import(&mut self) -> StoreResult<()> {
        self.flush().await?;
        Ok(crate::import::clear(&mut self.tx, &self.channel, &self.project).await?)
    }

    async fn import_signing_key(
        &mut self,
        key: &promptreg_store::SigningKeyRecord,
    ) -> StoreResult<()> {
        self.flush().await?;
        Ok(crate::import::signing_key(&mut self.tx, key).await?)
    }

    async fn import_event(
        &mut self,
        entry: &promptreg_store::LogEntry,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.flush().await?;
        Ok(crate::import::event(&mut self.tx, &self.project, entry, at).await?)
    }

    async fn insert_validation(
        &mut self,
        record: &promptreg_store::ValidationRecord,
    ) -> StoreResult<i64> {
        self.flush().await?;
        Ok(gates::insert_validation(&mut *self.tx, &self.project, record).await?)
    }

    async fn validations(
        &mut self,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Vec<promptreg_store::ValidationRecord>> {
        self.flush().await?;
        Ok(gates::validations(&mut *self.tx, &self.project, name, version).await?)
    }

    async fn environment_gates(
        &mut self,
        env: &EnvName,
    ) -> StoreResult<Option<promptreg_store::GatesRecord>> {
        self.flush().await?;
        Ok(gates::environment_gates(&mut *self.tx, &self.project, env).await?)
    }

    async fn set_environment_gates(
        &mut self,
        record: &promptreg_store::GatesRecord,
    ) -> StoreResult<()> {
        self.flush().await?;
        Ok(gates::set_environment_gates(&mut *self.tx, &self.project, record).await?)
    }

    async fn lock_change_request(&mut self, id: &str) -> StoreResult<Option<ChangeRequestRecord>> {
        self.flush().await?;
        Ok(crate::changes::get(&mut self.tx, &self.project, Some(id), None, true).await?)
    }

    async fn insert_change_request(&mut self, request: &ChangeRequestRecord) -> StoreResult<()> {
        self.flush().await?;
        Ok(crate::changes::insert(&mut self.tx, &self.project, request).await?)
    }

    async fn update_change_request(&mut self, request: &ChangeRequestRecord) -> StoreResult<()> {
        self.flush().await?;
        Ok(crate::changes::update(&mut self.tx, &self.project, request).await?)
    }

    async fn insert_change_review(
        &mut self,
        request_id: &str,
        review: &ChangeReviewRecord,
    ) -> StoreResult<()> {
        self.flush().await?;
        Ok(crate::changes::insert_review(&mut self.tx, &self.project, request_id, review).await?)
    }

    async fn change_request_of_rollout(
        &mut self,
        rollout: &str,
    ) -> StoreResult<Option<ChangeRequestRecord>> {
        self.flush().await?;
        Ok(crate::changes::get(&mut self.tx, &self.project, None, Some(rollout), false).await?)
    }

    async fn update_environment(&mut self, env: &Environment) -> StoreResult<()> {
        self.flush().await?;
        Ok(crate::changes::update_environment(&mut self.tx, &self.project, env).await?)
    }

    async fn insert_project(&mut self, p: &ProjectRecord) -> StoreResult<()> {
        self.flush().await?;
        sqlx::query(
            "INSERT INTO projects (id, description, created_by, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(p.id.as_str())
        .bind(&p.description)
        .bind(&p.created_by)
        .bind(p.created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => already_exists(format!("project '{}' already exists", p.id)),
            None => Error::from(e),
        })?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.flush().await?;
        self.tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
}
