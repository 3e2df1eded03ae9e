//! Rows to domain records. Every stored string is parsed back through its domain type, so
//! nothing leaves the backend unchecked.

use promptreg_core::{DeployKind, Digest, EnvName, ProjectId, PromptName, Version};
use promptreg_store::codec::{self, SealedColumns};
use promptreg_store::{
    DeploymentRecord, Environment, StoredVersion, TokenKind, TokenRecord, VersionRecord,
};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::error::{corrupt, Result};

/// Columns of `versions` in the order [`version`] reads them, qualified by alias `v`.
pub(crate) const VERSION_COLUMNS: &str = "v.name, v.version, v.digest, v.prompt_type, \
     v.content, v.sealed_alg, v.kek_id, v.wrapped_key, v.nonce, v.ciphertext, v.commit_message, v.metadata, v.parent, v.created_by, v.created_at, v.signature, v.ledger_seq, v.pruned_at";

pub(crate) fn project(s: String) -> Result<ProjectId> {
    ProjectId::parse(&s).map_err(|e| corrupt("project id", e))
}

pub(crate) fn prompt_name(s: String) -> Result<PromptName> {
    PromptName::parse(&s).map_err(|e| corrupt("prompt name", e))
}

pub(crate) fn env_name(s: String) -> Result<EnvName> {
    EnvName::parse(&s).map_err(|e| corrupt("environment name", e))
}

pub(crate) fn version_number(n: i64) -> Result<Version> {
    Version::new(n).map_err(|e| corrupt("version number", e))
}

pub(crate) fn digest(s: String) -> Result<Digest> {
    Digest::parse(&s).map_err(|e| corrupt("digest", e))
}

/// A `versions` row (see [`VERSION_COLUMNS`]).
pub(crate) fn version(row: &PgRow) -> Result<StoredVersion> {
    let sealed = SealedColumns {
        alg: row.try_get("sealed_alg")?,
        kek_id: row.try_get("kek_id")?,
        wrapped_key: row.try_get("wrapped_key")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
    };
    let prompt_type: String = row.try_get("prompt_type")?;
    let content = codec::from_columns(
        &prompt_type,
        row.try_get("content")?,
        sealed,
        row.try_get("pruned_at")?,
    )
    .map_err(|e| corrupt("content", e))?;
    let metadata: serde_json::Value = row.try_get("metadata")?;
    Ok(VersionRecord {
        name: prompt_name(row.try_get("name")?)?,
        version: version_number(row.try_get("version")?)?,
        digest: digest(row.try_get("digest")?)?,
        content,
        commit_message: row.try_get("commit_message")?,
        metadata: serde_json::from_value(metadata).map_err(|e| corrupt("metadata", e))?,
        parent: row
            .try_get::<Option<i64>, _>("parent")?
            .map(version_number)
            .transpose()?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        signature: row.try_get("signature")?,
        ledger_seq: row.try_get("ledger_seq")?,
    })
}

/// An `environments` row.
pub(crate) fn environment(row: &PgRow) -> Result<Environment> {
    Ok(Environment {
        name: env_name(row.try_get("name")?)?,
        protected: row.try_get("protected")?,
        description: row.try_get("description")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        approvals_required: {
            let n: i32 = row.try_get("approvals_required")?;
            u32::try_from(n).map_err(|e| corrupt("approvals_required", e))?
        },
    })
}

/// A `deployments` row.
pub(crate) fn deployment(row: &PgRow) -> Result<DeploymentRecord> {
    let kind: String = row.try_get("kind")?;
    Ok(DeploymentRecord {
        env: env_name(row.try_get("env")?)?,
        name: prompt_name(row.try_get("name")?)?,
        seq: row.try_get("seq")?,
        from_version: row
            .try_get::<Option<i64>, _>("from_version")?
            .map(version_number)
            .transpose()?,
        to_version: version_number(row.try_get("to_version")?)?,
        digest: digest(row.try_get("digest")?)?,
        actor: row.try_get("actor")?,
        reason: row.try_get("reason")?,
        at: row.try_get("at")?,
        kind: DeployKind::parse(&kind).ok_or_else(|| corrupt("deployment kind", &kind))?,
        signature: row.try_get("signature")?,
        ledger_seq: row.try_get("ledger_seq")?,
        approval: row
            .try_get::<Option<String>, _>("approval")?
            .map(|t| {
                promptreg_core::change::Approval::from_column(&t)
                    .ok_or_else(|| corrupt("deployment approval", &t))
            })
            .transpose()?,
    })
}

/// A `tokens` row.
pub(crate) fn token(row: &PgRow) -> Result<TokenRecord> {
    let role: String = row.try_get("role")?;
    let kind: String = row.try_get("kind")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        project: project(row.try_get("project")?)?,
        name: row.try_get("name")?,
        role: role.parse().map_err(|e| corrupt("token role", e))?,
        kind: TokenKind::parse(&kind).ok_or_else(|| corrupt("token kind", &kind))?,
        public_key: row.try_get("public_key")?,
        secret_hash: row.try_get("secret_hash")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        scope: match row.try_get::<Option<serde_json::Value>, _>("scope")? {
            Some(json) => serde_json::from_value(json).map_err(|e| corrupt("token scope", e))?,
            None => Default::default(),
        },
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// A `projects` row.
pub(crate) fn project_row(row: &PgRow) -> Result<promptreg_store::ProjectRecord> {
    Ok(promptreg_store::ProjectRecord {
        id: project(row.try_get("id")?)?,
        description: row.try_get("description")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}
