//! The SQL of retention: lifecycle rules, what the rules read (versions without content,
//! environments, every deployment record) and the prune.

use std::time::Duration;

use chrono::{DateTime, Utc};
use promptreg_core::retention::Rules;
use promptreg_core::{ProjectId, PromptName, Version};
use promptreg_store::*;
use sqlx::{Row, Sqlite, SqliteConnection};

use crate::deploy::{DEPLOY_COLS, ENV_COLS};
use crate::{db_err, rows, ts};

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored lifecycle {col} does not decode: {e}").into())
}

/// A project's lifecycle rules, if set.
pub(crate) async fn lifecycle<'c>(
    conn: impl sqlx::Executor<'c, Database = Sqlite>,
    project: &ProjectId,
) -> StoreResult<Option<LifecycleRecord>> {
    let Some(row) = sqlx::query(
        "SELECT keep_last, prune_unused_after_secs, updated_by, updated_at FROM lifecycle_rules
         WHERE project = ?",
    )
    .bind(project.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db_err)?
    else {
        return Ok(None);
    };
    let keep_last: Option<i64> = row.try_get("keep_last").map_err(StoreError::other)?;
    let secs: Option<i64> = row
        .try_get("prune_unused_after_secs")
        .map_err(StoreError::other)?;
    let keep_last = keep_last
        .map(u32::try_from)
        .transpose()
        .map_err(|e| corrupt("keep_last", e))?;
    let age = secs
        .map(|s| u64::try_from(s).map(Duration::from_secs))
        .transpose()
        .map_err(|e| corrupt("prune_unused_after_secs", e))?;
    Ok(Some(LifecycleRecord {
        rules: Rules::new(keep_last, age).map_err(|e| corrupt("rules", e))?,
        updated_by: row.try_get("updated_by").map_err(StoreError::other)?,
        updated_at: rows::time(&row, "updated_at")?,
    }))
}

pub(crate) async fn set_lifecycle(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    record: &LifecycleRecord,
) -> StoreResult<()> {
    let secs = record
        .rules
        .prune_unused_after
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    sqlx::query(
        "INSERT INTO lifecycle_rules (project, keep_last, prune_unused_after_secs, updated_by, updated_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (project) DO UPDATE SET keep_last = excluded.keep_last,
             prune_unused_after_secs = excluded.prune_unused_after_secs,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(project.as_str())
    .bind(record.rules.keep_last.map(i64::from))
    .bind(secs)
    .bind(&record.updated_by)
    .bind(ts(record.updated_at))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn version_stubs(
    conn: &mut SqliteConnection,
    project: &ProjectId,
) -> StoreResult<Vec<VersionStub>> {
    sqlx::query(
        "SELECT name, version, digest, created_at, pruned_at FROM versions WHERE project = ?
         ORDER BY name, version",
    )
    .bind(project.as_str())
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(|row| {
        let digest: String = row.try_get("digest").map_err(StoreError::other)?;
        Ok(VersionStub {
            name: rows::prompt_name(row, "name")?,
            version: rows::version_col(row, "version")?,
            digest: promptreg_core::Digest::parse(&digest)
                .map_err(|e| StoreError::Other(format!("stored digest: {e}").into()))?,
            created_at: rows::time(row, "created_at")?,
            pruned_at: rows::opt_time(row, "pruned_at")?,
        })
    })
    .collect()
}

pub(crate) async fn environments(
    conn: &mut SqliteConnection,
    project: &ProjectId,
) -> StoreResult<Vec<Environment>> {
    sqlx::query(&format!(
        "SELECT {ENV_COLS} FROM environments WHERE project = ? ORDER BY name"
    ))
    .bind(project.as_str())
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(rows::environment)
    .collect()
}

pub(crate) async fn all_deployments(
    conn: &mut SqliteConnection,
    project: &ProjectId,
) -> StoreResult<Vec<DeploymentRecord>> {
    sqlx::query(&format!(
        "SELECT {DEPLOY_COLS} FROM deployments WHERE project = ? ORDER BY env, name, seq"
    ))
    .bind(project.as_str())
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(rows::deployment)
    .collect()
}

/// Drops the content and marks the row pruned (`secure_delete`, set at open, zeroes the
/// dropped bytes in the page; the commit checkpoints the log).
pub(crate) async fn prune_version(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    name: &PromptName,
    version: Version,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let changed = sqlx::query(
        "UPDATE versions SET content = 'null', sealed_alg = NULL, kek_id = NULL,
                wrapped_key = NULL, nonce = NULL, ciphertext = NULL, pruned_at = ?
         WHERE project = ? AND name = ? AND version = ? AND pruned_at IS NULL",
    )
    .bind(ts(at))
    .bind(project.as_str())
    .bind(name.as_str())
    .bind(version.get())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(changed == 1)
}
