//! The unit of work: one `BEGIN IMMEDIATE` transaction on the single writer connection, and
//! the SQL of each [`StoreTx`] step. Nothing here decides anything: numbering, the deploy
//! rules and the events are the service layer's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use promptreg_core::{EnvName, EventDraft, EventRecord, ProjectId, PromptName, Version};
use promptreg_store::*;
use sqlx::{Sqlite, Transaction};

use promptreg_store::codec;

use crate::{db_err, gates, retention, rows, ts, versions, TOKEN_COLS};

/// A write transaction in one project.
pub(crate) struct SqliteTx {
    pub(crate) tx: Transaction<'static, Sqlite>,
    pub(crate) project: ProjectId,
    /// The writer pool, for the checkpoint after a prune.
    pub(crate) writer: sqlx::SqlitePool,
    /// Whether a version's content was pruned in this unit of work.
    pub(crate) pruned: bool,
}

const DEPLOY_COLS: &str =
    "env, name, seq, from_version, to_version, digest, actor, reason, at, kind, signature, ledger_seq, approval";

#[async_trait]
impl StoreTx for SqliteTx {
    async fn latest_version(&mut self, name: &PromptName) -> StoreResult<Option<StoredVersion>> {
        versions::get_on(&mut self.tx, &self.project, name, None).await
    }

    async fn get_version(
        &mut self,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Option<StoredVersion>> {
        versions::get_on(&mut self.tx, &self.project, name, Some(version)).await
    }

    async fn insert_version(&mut self, v: &StoredVersion) -> StoreResult<()> {
        let created_at = ts(v.created_at);
        sqlx::query(
            "INSERT INTO prompts (project, name, latest_version, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (project, name) DO UPDATE SET latest_version = excluded.latest_version",
        )
        .bind(self.project.as_str())
        .bind(v.name.as_str())
        .bind(v.version.get())
        .bind(&created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let metadata = serde_json::to_string(&v.metadata).map_err(StoreError::other)?;
        let content = codec::to_columns(&v.content);
        let sealed = content.sealed;
        sqlx::query(
            "INSERT INTO versions (project, name, version, digest, prompt_type, content,
                                   sealed_alg, kek_id, wrapped_key, nonce, ciphertext, commit_message,
                                   metadata, parent, created_by, created_at, signature, pruned_at,
                                   ledger_seq)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_log WHERE project = ?))",
        )
        .bind(self.project.as_str())
        .bind(v.name.as_str())
        .bind(v.version.get())
        .bind(v.digest.as_str())
        .bind(content.prompt_type)
        // A sealed row keeps JSON null: the column is NOT NULL since the first migration.
        .bind(content.plain.as_ref().map_or_else(|| "null".into(), |c| c.to_string()))
        .bind(sealed.map(|s| s.alg.as_str()))
        .bind(sealed.map(|s| s.kek_id.as_str()))
        .bind(sealed.map(|s| s.wrapped_key.as_slice()))
        .bind(sealed.map(|s| s.nonce.as_slice()))
        .bind(sealed.map(|s| s.ciphertext.as_slice()))
        .bind(&v.commit_message)
        .bind(metadata)
        .bind(v.parent.map(Version::get))
        .bind(&v.created_by)
        .bind(&created_at)
        .bind(&v.signature)
        .bind(content.pruned_at.map(ts))
        .bind(self.project.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn active_rollout(
        &mut self,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Option<RolloutRecord>> {
        crate::rollouts::active(&mut self.tx, &self.project, env, name).await
    }

    async fn get_rollout(&mut self, id: &str) -> StoreResult<Option<RolloutRecord>> {
        crate::rollouts::get(&mut self.tx, &self.project, id).await
    }

    async fn insert_rollout(&mut self, rollout: &RolloutRecord) -> StoreResult<()> {
        crate::rollouts::insert(&mut self.tx, rollout).await
    }

    async fn update_rollout(&mut self, rollout: &RolloutRecord) -> StoreResult<()> {
        crate::rollouts::update(&mut self.tx, rollout).await
    }

    async fn get_environment(&mut self, env: &EnvName) -> StoreResult<Option<Environment>> {
        sqlx::query(
            "SELECT name, protected, description, created_by, created_at, approvals_required
             FROM environments WHERE project = ? AND name = ?",
        )
        .bind(self.project.as_str())
        .bind(env.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(rows::environment)
        .transpose()
    }

    async fn insert_environment(&mut self, env: &Environment) -> StoreResult<()> {
        sqlx::query("INSERT INTO environments (project, name, protected, description, created_by, created_at, approvals_required) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(self.project.as_str())
            .bind(env.name.as_str())
            .bind(env.protected)
            .bind(&env.description)
            .bind(&env.created_by)
            .bind(ts(env.created_at))
            .bind(i64::from(env.approvals_required))
            .execute(&mut *self.tx)
            .await
            .map_err(|e| match db_err(e) {
                StoreError::Conflict { code, .. } => StoreError::Conflict {
                    code,
                    message: format!("environment '{}' already exists", env.name),
                },
                other => other,
            })?;
        Ok(())
    }

    async fn pointer_history(
        &mut self,
        env: &EnvName,
        name: &PromptName,
    ) -> StoreResult<Vec<DeploymentRecord>> {
        sqlx::query(&format!(
            "SELECT {DEPLOY_COLS} FROM deployments WHERE project = ? AND env = ? AND name = ? ORDER BY seq"
        ))
        .bind(self.project.as_str())
        .bind(env.as_str())
        .bind(name.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(rows::deployment)
        .collect()
    }

    async fn insert_deployment(&mut self, r: &DeploymentRecord) -> StoreResult<()> {
        let at = ts(r.at);
        sqlx::query(
            "INSERT INTO deployments (project, env, name, seq, from_version, to_version, digest, actor, reason, at, kind, signature, approval, ledger_seq)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_log WHERE project = ?))",
        )
        .bind(self.project.as_str())
        .bind(r.env.as_str())
        .bind(r.name.as_str())
        .bind(r.seq)
        .bind(r.from_version.map(Version::get))
        .bind(r.to_version.get())
        .bind(r.digest.as_str())
        .bind(&r.actor)
        .bind(&r.reason)
        .bind(&at)
        .bind(r.kind.as_str())
        .bind(&r.signature)
        .bind(r.approval.as_ref().map(|a| a.to_column()))
        .bind(self.project.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO pointers (project, env, name, version, seq, updated_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (project, env, name) DO UPDATE SET version = excluded.version, seq = excluded.seq, updated_at = excluded.updated_at",
        )
        .bind(self.project.as_str())
        .bind(r.env.as_str())
        .bind(r.name.as_str())
        .bind(r.to_version.get())
        .bind(r.seq)
        .bind(&at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_token(&mut self, t: &TokenRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO tokens ({TOKEN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)"
        ))
        .bind(&t.id)
        .bind(self.project.as_str())
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(t.kind.as_str())
        .bind(&t.public_key)
        .bind(&t.secret_hash)
        .bind(&t.created_by)
        .bind(ts(t.created_at))
        .bind(crate::tokens::scope_column(&t.scope)?)
        .bind(t.expires_at.map(ts))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_token(
        &mut self,
        id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>> {
        sqlx::query(&format!(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND project = ? AND revoked_at IS NULL RETURNING {TOKEN_COLS}"
        ))
        .bind(ts(at))
        .bind(id)
        .bind(self.project.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(rows::token)
        .transpose()
    }

    async fn insert_webhook(&mut self, webhook: &WebhookRecord) -> StoreResult<()> {
        crate::webhooks::insert(&mut self.tx, webhook).await
    }

    async fn delete_webhook(&mut self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        crate::webhooks::delete(&mut self.tx, &self.project, id).await
    }

    async fn lifecycle(&mut self) -> StoreResult<Option<LifecycleRecord>> {
        retention::lifecycle(&mut *self.tx, &self.project).await
    }

    async fn set_lifecycle(&mut self, record: &LifecycleRecord) -> StoreResult<()> {
        retention::set_lifecycle(&mut self.tx, &self.project, record).await
    }

    async fn version_stubs(&mut self) -> StoreResult<Vec<VersionStub>> {
        retention::version_stubs(&mut self.tx, &self.project).await
    }

    async fn environments(&mut self) -> StoreResult<Vec<Environment>> {
        retention::environments(&mut self.tx, &self.project).await
    }

    async fn all_deployments(&mut self) -> StoreResult<Vec<DeploymentRecord>> {
        retention::all_deployments(&mut self.tx, &self.project).await
    }

    async fn all_rollouts(&mut self) -> StoreResult<Vec<RolloutRecord>> {
        crate::rollouts::all(&mut self.tx, &self.project).await
    }

    async fn prune_version(
        &mut self,
        name: &PromptName,
        version: Version,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let pruned =
            retention::prune_version(&mut self.tx, &self.project, name, version, at).await?;
        self.pruned |= pruned;
        Ok(pruned)
    }

    async fn append_event(&mut self, draft: EventDraft) -> StoreResult<EventRecord> {
        // The writer connection is the only one, so MAX + 1 inside this transaction is dense.
        let last: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM event_log WHERE project = ?")
                .bind(self.project.as_str())
                .fetch_one(&mut *self.tx)
                .await
                .map_err(db_err)?;
        let record = draft.at_seq(last + 1);
        let body = String::from_utf8(record.canonical_bytes()).map_err(StoreError::other)?;
        let entry = LogEntry {
            seq: record.seq,
            kind: record.change.kind().to_owned(),
            body,
        };
        let audit = promptreg_core::audit::keys(&record.change);
        crate::events::insert(
            &mut self.tx,
            &self.project,
            &entry,
            record.at,
            Some(&record.actor),
            Some(&audit),
        )
        .await?;
        Ok(record)
    }

    async fn count_rows(&mut self) -> StoreResult<ProjectCounts> {
        crate::import::count_rows(&mut self.tx, &self.project).await
    }

    async fn clear_for_import(&mut self) -> StoreResult<()> {
        crate::import::clear(&mut self.tx, &self.project).await
    }

    async fn import_signing_key(&mut self, key: &SigningKeyRecord) -> StoreResult<()> {
        crate::import::signing_key(&mut self.tx, key).await
    }

    async fn import_event(&mut self, entry: &LogEntry, at: DateTime<Utc>) -> StoreResult<()> {
        crate::import::event(&mut self.tx, &self.project, entry, at).await
    }

    async fn insert_validation(&mut self, record: &ValidationRecord) -> StoreResult<i64> {
        gates::insert_validation(&mut self.tx, &self.project, record).await
    }

    async fn validations(
        &mut self,
        name: &PromptName,
        version: Version,
    ) -> StoreResult<Vec<ValidationRecord>> {
        gates::validations(&mut *self.tx, &self.project, name, version).await
    }

    async fn environment_gates(&mut self, env: &EnvName) -> StoreResult<Option<GatesRecord>> {
        gates::environment_gates(&mut *self.tx, &self.project, env).await
    }

    async fn set_environment_gates(&mut self, record: &GatesRecord) -> StoreResult<()> {
        gates::set_environment_gates(&mut self.tx, &self.project, record).await
    }

    async fn lock_change_request(&mut self, id: &str) -> StoreResult<Option<ChangeRequestRecord>> {
        crate::changes::get(&mut self.tx, &self.project, Some(id), None).await
    }

    async fn insert_change_request(&mut self, request: &ChangeRequestRecord) -> StoreResult<()> {
        crate::changes::insert(&mut self.tx, &self.project, request).await
    }

    async fn update_change_request(&mut self, request: &ChangeRequestRecord) -> StoreResult<()> {
        crate::changes::update(&mut self.tx, &self.project, request).await
    }

    async fn insert_change_review(
        &mut self,
        request_id: &str,
        review: &ChangeReviewRecord,
    ) -> StoreResult<()> {
        crate::changes::insert_review(&mut self.tx, &self.project, request_id, review).await
    }

    async fn change_request_of_rollout(
        &mut self,
        rollout: &str,
    ) -> StoreResult<Option<ChangeRequestRecord>> {
        crate::changes::get(&mut self.tx, &self.project, None, Some(rollout)).await
    }

    async fn update_environment(&mut self, env: &Environment) -> StoreResult<()> {
        crate::changes::update_environment(&mut self.tx, &self.project, env).await
    }

    async fn insert_project(&mut self, p: &ProjectRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO projects (id, description, created_by, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(p.id.as_str())
        .bind(&p.description)
        .bind(&p.created_by)
        .bind(ts(p.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict { code, .. } => StoreError::Conflict {
                code,
                message: format!("project '{}' already exists", p.id),
            },
            other => other,
        })?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await.map_err(db_err)?;
        if self.pruned {
            // The pruned rows' old pages are still in the write-ahead log (and, until it is
            // checkpointed, in the database file): copy the new pages over them and empty
            // the log, so the dropped keys and ciphertexts leave the disk now.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.writer)
                .await
            {
                tracing::warn!(error = %e, "checkpoint after a prune failed; SQLite checkpoints later");
            }
        }
        Ok(())
    }
}
