//! Deployment pointers: moves, their history, and what is live where.
//!
//! The rules (deploys push, rollbacks walk back) live in `promptreg_core::deploy`; this module
//! replays the pointer's history inside the transaction and records the planned move.

use promptreg_core::deploy::{live_stack, plan_move};
use promptreg_core::{EnvName, ProjectId, PromptName, Version};
use promptreg_store::{
    CatalogRecord, DeployedVersion, DeploymentRecord, MoveOutcome, PageRequest, PointerChange,
    VersionRecord,
};
use sqlx::Row;

use crate::error::{internal, not_found, Result};
use crate::rows::{self, VERSION_COLUMNS};
use crate::{environments, events, versions, PgStore};

const DEPLOYMENT_COLUMNS: &str =
    "env, name, seq, from_version, to_version, digest, actor, reason, at, kind";

/// Joins a pointer `p` to its live version `v`.
const POINTER_JOIN: &str = "pointers p JOIN versions v \
     ON v.project = p.project AND v.name = p.name AND v.version = p.version";

/// Checks and records a deploy or rollback.
///
/// Moves of one prompt take turns on its `prompts` row (`FOR UPDATE`), so the history read
/// here is the one the new record extends: seqs never repeat and every record starts where
/// the previous one ended.
pub(crate) async fn move_pointer(
    store: &PgStore,
    project: &ProjectId,
    change: PointerChange,
) -> Result<MoveOutcome> {
    let mut tx = store.pool.begin().await?;
    environments::get(&mut *tx, project, &change.env).await?;
    let prompt: Option<i64> = sqlx::query_scalar(
        "SELECT latest_version FROM prompts WHERE project = $1 AND name = $2 FOR UPDATE",
    )
    .bind(project.as_str())
    .bind(change.name.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if prompt.is_none() {
        return Err(not_found(format!("prompt '{}' not found", change.name)));
    }

    let rows = sqlx::query(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments \
         WHERE project = $1 AND env = $2 AND name = $3 ORDER BY seq"
    ))
    .bind(project.as_str())
    .bind(change.env.as_str())
    .bind(change.name.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let mut history = rows
        .iter()
        .map(rows::deployment)
        .collect::<Result<Vec<_>>>()?;
    let stack = live_stack(history.iter().map(|r| (r.kind, r.to_version)));
    let Some(planned) = plan_move(&stack, change.request)? else {
        tx.rollback().await?;
        // `plan_move` plans nothing only when the version asked for is already live, and the
        // last record is the one that made it live.
        return match history.pop() {
            Some(last) => Ok(MoveOutcome::Unchanged(last)),
            None => Err(internal(std::io::Error::other(
                "an unchanged pointer without history",
            ))),
        };
    };
    let version = versions::fetch(&mut *tx, project, &change.name, planned.to.get()).await?;
    let seq = history.last().map_or(1, |r| r.seq + 1);

    let row = sqlx::query(&format!(
        "INSERT INTO deployments (project, {DEPLOYMENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {DEPLOYMENT_COLUMNS}"
    ))
    .bind(project.as_str())
    .bind(change.env.as_str())
    .bind(change.name.as_str())
    .bind(seq)
    .bind(planned.from.map(Version::get))
    .bind(planned.to.get())
    .bind(version.digest.as_str())
    .bind(&change.actor)
    .bind(&change.reason)
    .bind(change.at)
    .bind(planned.kind.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let record = rows::deployment(&row)?;
    sqlx::query(
        "INSERT INTO pointers (project, env, name, version, seq, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (project, env, name) DO UPDATE \
         SET version = EXCLUDED.version, seq = EXCLUDED.seq, updated_at = EXCLUDED.updated_at",
    )
    .bind(project.as_str())
    .bind(change.env.as_str())
    .bind(change.name.as_str())
    .bind(planned.to.get())
    .bind(seq)
    .bind(change.at)
    .execute(&mut *tx)
    .await?;

    let event = record.event(project);
    events::record(&mut tx, &store.channel, &event, change.at).await?;
    tx.commit().await?;
    Ok(MoveOutcome::Moved {
        record,
        version: Box::new(version),
        event,
    })
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

/// The version live for one pointer.
pub(crate) async fn deployed_version(
    store: &PgStore,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
) -> Result<Option<VersionRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM {POINTER_JOIN} \
         WHERE p.project = $1 AND p.env = $2 AND p.name = $3"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .fetch_optional(&store.pool)
    .await?;
    row.as_ref().map(rows::version).transpose()
}

/// Every live pointer of every project.
pub(crate) async fn load_deployed(store: &PgStore) -> Result<Vec<DeployedVersion>> {
    let rows = sqlx::query(&format!(
        "SELECT p.project AS pointer_project, p.env AS pointer_env, {VERSION_COLUMNS} \
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
            })
        })
        .collect()
}
