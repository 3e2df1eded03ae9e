//! Environments and deployment pointers.

use promptreg_core::{EnvName, ProjectId, PromptName};
use promptreg_store::*;
use sqlx::{Row, SqlitePool};

use crate::{db_err, rows};

pub(crate) const ENV_COLS: &str =
    "name, protected, description, created_by, created_at, approvals_required";
pub(crate) const DEPLOY_COLS: &str =
    "env, name, seq, from_version, to_version, digest, actor, reason, at, kind, signature, ledger_seq, approval";

pub(crate) async fn get_environment(
    pool: &SqlitePool,
    project: &ProjectId,
    env: &EnvName,
) -> StoreResult<Environment> {
    let row = sqlx::query(&format!(
        "SELECT {ENV_COLS} FROM environments WHERE project = ? AND name = ?"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NotFound(format!("environment '{env}' not found")))?;
    rows::environment(&row)
}

pub(crate) async fn list_environments(
    pool: &SqlitePool,
    project: &ProjectId,
) -> StoreResult<Vec<Environment>> {
    sqlx::query(&format!(
        "SELECT {ENV_COLS} FROM environments WHERE project = ? ORDER BY name"
    ))
    .bind(project.as_str())
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(rows::environment)
    .collect()
}

pub(crate) async fn history(
    pool: &SqlitePool,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
    page: &PageRequest<i64>,
) -> StoreResult<Vec<DeploymentRecord>> {
    sqlx::query(&format!(
        "SELECT {DEPLOY_COLS} FROM deployments WHERE project = ? AND env = ? AND name = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .bind(page.after.unwrap_or(i64::MAX))
    .bind(i64::from(page.limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(rows::deployment)
    .collect()
}

pub(crate) async fn catalog(
    pool: &SqlitePool,
    project: &ProjectId,
    env: &EnvName,
    page: &PageRequest<PromptName>,
) -> StoreResult<Vec<CatalogRecord>> {
    sqlx::query(
        "SELECT p.name, p.version, v.digest, p.updated_at FROM pointers p
           JOIN versions v ON v.project = p.project AND v.name = p.name AND v.version = p.version
         WHERE p.project = ? AND p.env = ? AND p.name > ? ORDER BY p.name LIMIT ?",
    )
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(page.after.as_ref().map_or("", PromptName::as_str))
    .bind(i64::from(page.limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| {
        Ok(CatalogRecord {
            name: rows::prompt_name(r, "name")?,
            version: rows::version_col(r, "version")?,
            digest: promptreg_core::Digest::parse(r.get("digest"))
                .map_err(|e| StoreError::Other(e.into()))?,
            deployed_at: rows::time(r, "updated_at")?,
        })
    })
    .collect()
}

/// Every live pointer with its version, one row at a time (what [`crate::live`] falls back
/// to when a packed batch does not decode).
pub(crate) async fn load_deployed_by_row(
    pool: &SqlitePool,
) -> StoreResult<Vec<DeployedVersion<StoredContent>>> {
    sqlx::query(&format!(
        "SELECT p.project, p.env, p.seq AS pointer_seq, {} FROM pointers p
           JOIN versions v ON v.project = p.project AND v.name = p.name AND v.version = p.version",
        rows::VERSION_COLS
    ))
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| {
        Ok(DeployedVersion {
            project: ProjectId::parse(r.get("project"))
                .map_err(|e| StoreError::Other(e.to_string().into()))?,
            env: rows::env_name(r, "env")?,
            version: rows::version(r)?,
            seq: r.get("pointer_seq"),
        })
    })
    .collect()
}
