//! Deployment pointers: their history and what is live where. Records and pointer moves are
//! written by the unit of work (`tx.rs`); the rules that plan them are the service layer's.

use promptreg_core::{EnvName, ProjectId, PromptName};
use promptreg_store::{
    CatalogRecord, DeployedVersion, DeploymentRecord, LivePointer, PageRequest, StoredContent,
};
use sqlx::Row;

use crate::error::Result;
use crate::rows::{self, VERSION_COLUMNS};
use crate::PgStore;

/// The columns of `deployments` that [`rows::deployment`] reads.
pub(crate) const DEPLOYMENT_COLUMNS: &str =
    "env, name, seq, from_version, to_version, digest, actor, reason, at, kind, signature, approval, ledger_seq";

/// Joins a pointer `p` to its live version `v`.
const POINTER_JOIN: &str = "pointers p JOIN versions v \
     ON v.project = p.project AND v.name = p.name AND v.version = p.version";

/// Every record of one pointer, oldest first.
pub(crate) async fn pointer_history<'e, E>(
    executor: E,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
) -> Result<Vec<DeploymentRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments \
         WHERE project = $1 AND env = $2 AND name = $3 ORDER BY seq"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter().map(rows::deployment).collect()
}

/// Records of one pointer, newest first, below seq `page.after`.
pub(crate) async fn history(
    store: &PgStore,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
    page: &PageRequest<i64>,
) -> Result<Vec<DeploymentRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments \
         WHERE project = $1 AND env = $2 AND name = $3 AND ($4::BIGINT IS NULL OR seq < $4) \
         ORDER BY seq DESC LIMIT $5"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .bind(page.after)
    .bind(i64::from(page.limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(rows::deployment).collect()
}

/// Prompts live in an environment, by name after `page.after`.
pub(crate) async fn catalog(
    store: &PgStore,
    project: &ProjectId,
    env: &EnvName,
    page: &PageRequest<PromptName>,
) -> Result<Vec<CatalogRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT p.name, p.version, v.digest, p.updated_at FROM {POINTER_JOIN} \
         WHERE p.project = $1 AND p.env = $2 AND ($3::TEXT IS NULL OR p.name > $3) \
         ORDER BY p.name LIMIT $4"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(page.after.as_ref().map(PromptName::as_str))
    .bind(i64::from(page.limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CatalogRecord {
                name: rows::prompt_name(row.try_get("name")?)?,
                version: rows::version_number(row.try_get("version")?)?,
                digest: rows::digest(row.try_get("digest")?)?,
                deployed_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}

/// Every live pointer of every project.
pub(crate) async fn load_deployed(store: &PgStore) -> Result<Vec<DeployedVersion<StoredContent>>> {
    let rows = sqlx::query(&format!(
        "SELECT p.project AS pointer_project, p.env AS pointer_env, p.seq AS pointer_seq, \
         {VERSION_COLUMNS} \
         FROM {POINTER_JOIN} ORDER BY p.project, p.env, p.name"
    ))
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DeployedVersion {
                project: rows::project(row.try_get("pointer_project")?)?,
                env: rows::env_name(row.try_get("pointer_env")?)?,
                version: rows::version(row)?,
                seq: row.try_get("pointer_seq")?,
            })
        })
        .collect()
}

/// Every live pointer of every project, without its version.
pub(crate) async fn load_live_pointers(store: &PgStore) -> Result<Vec<LivePointer>> {
    let rows = sqlx::query(
        "SELECT project, env, name, version, seq FROM pointers ORDER BY project, env, name",
    )
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(LivePointer {
                project: rows::project(row.try_get("project")?)?,
                env: rows::env_name(row.try_get("env")?)?,
                name: rows::prompt_name(row.try_get("name")?)?,
                version: rows::version_number(row.try_get("version")?)?,
                seq: row.try_get("seq")?,
            })
        })
        .collect()
}
