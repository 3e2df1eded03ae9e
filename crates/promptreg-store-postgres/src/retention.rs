//! The SQL of retention: lifecycle rules, what the rules read (versions without content,
//! every deployment record) and the prune.

use std::time::Duration;

use chrono::{DateTime, Utc};
use promptreg_core::retention::Rules;
use promptreg_core::{ProjectId, PromptName, Version};
use promptreg_store::{DeploymentRecord, LifecycleRecord, VersionStub};
use sqlx::Row;

use crate::deploy::DEPLOYMENT_COLUMNS;
use crate::error::{corrupt, Result};
use crate::rows;

/// A project's lifecycle rules, if set, inside a transaction or not.
pub(crate) async fn lifecycle<'e, E>(
    executor: E,
    project: &ProjectId,
) -> Result<Option<LifecycleRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let Some(row) = sqlx::query(
        "SELECT keep_last, prune_unused_after_secs, updated_by, updated_at FROM lifecycle_rules \
         WHERE project = $1",
    )
    .bind(project.as_str())
    .fetch_optional(executor)
    .await?
    else {
        return Ok(None);
    };
    let keep_last = row
        .try_get::<Option<i32>, _>("keep_last")?
        .map(u32::try_from)
        .transpose()
        .map_err(|e| corrupt("lifecycle keep_last", e))?;
    let age = row
        .try_get::<Option<i64>, _>("prune_unused_after_secs")?
        .map(|s| u64::try_from(s).map(Duration::from_secs))
        .transpose()
        .map_err(|e| corrupt("lifecycle prune_unused_after_secs", e))?;
    Ok(Some(LifecycleRecord {
        rules: Rules::new(keep_last, age).map_err(|e| corrupt("lifecycle rules", e))?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    }))
}

pub(crate) async fn set_lifecycle<'e, E>(
    executor: E,
    project: &ProjectId,
    record: &LifecycleRecord,
) -> Result<()>
where
    E: sqlx::PgExecutor<'e>,
{
    let keep_last = record
        .rules
        .keep_last
        .map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let secs = record
        .rules
        .prune_unused_after
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    sqlx::query(
        "INSERT INTO lifecycle_rules (project, keep_last, prune_unused_after_secs, updated_by, \
             updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (project) DO UPDATE SET keep_last = EXCLUDED.keep_last, \
             prune_unused_after_secs = EXCLUDED.prune_unused_after_secs, \
             updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
    )
    .bind(project.as_str())
    .bind(keep_last)
    .bind(secs)
    .bind(&record.updated_by)
    .bind(record.updated_at)
    .execute(executor)
    .await?;
    Ok(())
}

pub(crate) async fn version_stubs<'e, E>(
    executor: E,
    project: &ProjectId,
) -> Result<Vec<VersionStub>>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query(
        "SELECT name, version, digest, created_at, pruned_at FROM versions WHERE project = $1 \
         ORDER BY name, version",
    )
    .bind(project.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(VersionStub {
                name: rows::prompt_name(row.try_get("name")?)?,
                version: rows::version_number(row.try_get("version")?)?,
                digest: rows::digest(row.try_get("digest")?)?,
                created_at: row.try_get("created_at")?,
                pruned_at: row.try_get("pruned_at")?,
            })
        })
        .collect()
}

pub(crate) async fn all_deployments<'e, E>(
    executor: E,
    project: &ProjectId,
) -> Result<Vec<DeploymentRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE project = $1 ORDER BY env, name, seq"
    ))
    .bind(project.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter().map(rows::deployment).collect()
}

/// Drops the content and marks the row pruned. The old row version stays in the table's
/// free space until the next (auto)vacuum, as every PostgreSQL update does.
pub(crate) async fn prune_version<'e, E>(
    executor: E,
    project: &ProjectId,
    name: &PromptName,
    version: Version,
    at: DateTime<Utc>,
) -> Result<bool>
where
    E: sqlx::PgExecutor<'e>,
{
    let changed = sqlx::query(
        "UPDATE versions SET content = NULL, sealed_alg = NULL, kek_id = NULL, \
                wrapped_key = NULL, nonce = NULL, ciphertext = NULL, pruned_at = $1 \
         WHERE project = $2 AND name = $3 AND version = $4 AND pruned_at IS NULL",
    )
    .bind(at)
    .bind(project.as_str())
    .bind(name.as_str())
    .bind(version.get())
    .execute(executor)
    .await?
    .rows_affected();
    Ok(changed == 1)
}
