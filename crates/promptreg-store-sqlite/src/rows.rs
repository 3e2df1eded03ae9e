//! Decoding rows into domain records. A row that does not decode is corruption: `Other`.

use chrono::{DateTime, Utc};
use promptreg_core::{DeployKind, Digest, EnvName, ProjectId, PromptName, Version};
use promptreg_store::codec::{self, SealedColumns};
use promptreg_store::{
    DeploymentRecord, Environment, StoreError, StoreResult, StoredVersion, TokenKind, TokenRecord,
    VersionRecord,
};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored {what} does not decode: {detail}").into())
}

pub(crate) fn time(row: &SqliteRow, col: &str) -> StoreResult<DateTime<Utc>> {
    let s: String = row.try_get(col).map_err(StoreError::other)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_time(row: &SqliteRow, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
    let s: Option<String> = row.try_get(col).map_err(StoreError::other)?;
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt(col, e))
    })
    .transpose()
}

pub(crate) fn version_col(row: &SqliteRow, col: &str) -> StoreResult<Version> {
    Version::new(row.try_get(col).map_err(StoreError::other)?).map_err(|e| corrupt(col, e))
}

fn opt_version(row: &SqliteRow, col: &str) -> StoreResult<Option<Version>> {
    let n: Option<i64> = row.try_get(col).map_err(StoreError::other)?;
    n.map(|n| Version::new(n).map_err(|e| corrupt(col, e)))
        .transpose()
}

fn text(row: &SqliteRow, col: &str) -> StoreResult<String> {
    row.try_get(col).map_err(StoreError::other)
}

pub(crate) fn prompt_name(row: &SqliteRow, col: &str) -> StoreResult<PromptName> {
    PromptName::parse(&text(row, col)?).map_err(|e| corrupt(col, e))
}

pub(crate) fn env_name(row: &SqliteRow, col: &str) -> StoreResult<EnvName> {
    EnvName::parse(&text(row, col)?).map_err(|e| corrupt(col, e))
}

fn digest(row: &SqliteRow, col: &str) -> StoreResult<Digest> {
    Digest::parse(&text(row, col)?).map_err(|e| corrupt(col, e))
}

/// The columns [`version`] reads, of `versions v`.
pub(crate) const VERSION_COLS: &str = "v.name, v.version, v.digest, v.prompt_type, v.content, \
     v.sealed_alg, v.kek_id, v.wrapped_key, v.nonce, v.ciphertext, v.commit_message, v.metadata, \
     v.parent, v.created_by, v.created_at, v.signature, v.ledger_seq, v.pruned_at";

fn opt<T>(row: &SqliteRow, col: &str) -> StoreResult<Option<T>>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col).map_err(StoreError::other)
}

/// A version row ([`VERSION_COLS`]) with its content as stored.
pub(crate) fn version(row: &SqliteRow) -> StoreResult<StoredVersion> {
    let plain = opt::<String>(row, "content")?
        .map(|s| serde_json::from_str(&s).map_err(|e| corrupt("content", e)))
        .transpose()?;
    let sealed = SealedColumns {
        alg: opt(row, "sealed_alg")?,
        kek_id: opt(row, "kek_id")?,
        wrapped_key: opt(row, "wrapped_key")?,
        nonce: opt(row, "nonce")?,
        ciphertext: opt(row, "ciphertext")?,
    };
    let pruned_at = opt_time(row, "pruned_at")?;
    let content = codec::from_columns(&text(row, "prompt_type")?, plain, sealed, pruned_at)
        .map_err(|e| corrupt("content", e))?;
    let metadata =
        serde_json::from_str(&text(row, "metadata")?).map_err(|e| corrupt("metadata", e))?;
    Ok(VersionRecord {
        name: prompt_name(row, "name")?,
        version: version_col(row, "version")?,
        digest: digest(row, "digest")?,
        content,
        commit_message: row.try_get("commit_message").map_err(StoreError::other)?,
        metadata,
        parent: opt_version(row, "parent")?,
        created_by: text(row, "created_by")?,
        created_at: time(row, "created_at")?,
        signature: row.try_get("signature").map_err(StoreError::other)?,
        ledger_seq: row.try_get("ledger_seq").map_err(StoreError::other)?,
    })
}

pub(crate) fn deployment(row: &SqliteRow) -> StoreResult<DeploymentRecord> {
    Ok(DeploymentRecord {
        env: env_name(row, "env")?,
        name: prompt_name(row, "name")?,
        seq: row.try_get("seq").map_err(StoreError::other)?,
        from_version: opt_version(row, "from_version")?,
        to_version: version_col(row, "to_version")?,
        digest: digest(row, "digest")?,
        actor: text(row, "actor")?,
        reason: row.try_get("reason").map_err(StoreError::other)?,
        at: time(row, "at")?,
        kind: DeployKind::parse(&text(row, "kind")?)
            .ok_or_else(|| corrupt("kind", "unknown kind"))?,
        signature: row.try_get("signature").map_err(StoreError::other)?,
        ledger_seq: row.try_get("ledger_seq").map_err(StoreError::other)?,
        approval: approval(row)?,
    })
}

fn approval(row: &SqliteRow) -> StoreResult<Option<promptreg_core::change::Approval>> {
    let text: Option<String> = row.try_get("approval").map_err(StoreError::other)?;
    text.map(|t| {
        promptreg_core::change::Approval::from_column(&t)
            .ok_or_else(|| corrupt("approval", format!("unknown approval {t:?}")))
    })
    .transpose()
}

pub(crate) fn environment(row: &SqliteRow) -> StoreResult<Environment> {
    Ok(Environment {
        name: env_name(row, "name")?,
        protected: row.try_get("protected").map_err(StoreError::other)?,
        description: row.try_get("description").map_err(StoreError::other)?,
        created_by: text(row, "created_by")?,
        created_at: time(row, "created_at")?,
        approvals_required: {
            let n: i64 = row
                .try_get("approvals_required")
                .map_err(StoreError::other)?;
            u32::try_from(n).map_err(|e| corrupt("approvals_required", e))?
        },
    })
}

pub(crate) fn token(row: &SqliteRow) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: text(row, "id")?,
        project: ProjectId::parse(&text(row, "project")?).map_err(|e| corrupt("project", e))?,
        name: text(row, "name")?,
        role: text(row, "role")?.parse().map_err(|e| corrupt("role", e))?,
        kind: TokenKind::parse(&text(row, "kind")?)
            .ok_or_else(|| corrupt("kind", "unknown token kind"))?,
        public_key: row.try_get("public_key").map_err(StoreError::other)?,
        secret_hash: text(row, "secret_hash")?,
        created_by: text(row, "created_by")?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
        scope: match row
            .try_get::<Option<String>, _>("scope")
            .map_err(StoreError::other)?
        {
            Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("scope", e))?,
            None => Default::default(),
        },
        expires_at: opt_time(row, "expires_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
    })
}

pub(crate) fn project(row: &SqliteRow) -> StoreResult<promptreg_store::ProjectRecord> {
    Ok(promptreg_store::ProjectRecord {
        id: ProjectId::parse(&text(row, "id")?).map_err(|e| corrupt("id", e))?,
        description: row.try_get("description").map_err(StoreError::other)?,
        created_by: text(row, "created_by")?,
        created_at: time(row, "created_at")?,
    })
}
