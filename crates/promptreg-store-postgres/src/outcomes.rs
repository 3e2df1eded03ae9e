//! The SQL of outcomes: window upserts and reads, and the accepted ids' batches.

use chrono::{DateTime, Utc};
use promptreg_core::analysis::ArmWindow;
use promptreg_core::{EnvName, ProjectId, PromptName, Version};
use promptreg_store::outcomes::{hashes_from_bytes, hashes_to_bytes};
use promptreg_store::{OutcomeIdBatch, RolloutWindowRow, StoreError, VersionWindowRow};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use crate::error::{corrupt, Error, Result};
use crate::rows;

fn window(row: &PgRow) -> Result<ArmWindow> {
    let v: serde_json::Value = row.try_get("figures")?;
    serde_json::from_value(v).map_err(|e| corrupt("outcome window", e))
}

fn json(w: &ArmWindow) -> Result<serde_json::Value> {
    serde_json::to_value(w).map_err(|e| Error::Store(StoreError::other(e)))
}

pub(crate) async fn save(
    pool: &PgPool,
    versions: &[VersionWindowRow],
    rollouts: &[RolloutWindowRow],
) -> Result<()> {
    let mut tx = pool.begin().await?;
    for w in versions {
        sqlx::query(
            "INSERT INTO outcome_version_windows (project, env, name, version, minute, replica, figures)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (project, env, name, version, minute, replica)
             DO UPDATE SET figures = excluded.figures",
        )
        .bind(w.project.as_str())
        .bind(w.env.as_str())
        .bind(w.name.as_str())
        .bind(w.version.get())
        .bind(w.minute)
        .bind(&w.replica)
        .bind(json(&w.window)?)
        .execute(&mut *tx)
        .await?;
    }
    for w in rollouts {
        sqlx::query(
            "INSERT INTO outcome_rollout_windows (project, rollout, step, arm, replica, figures)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project, rollout, step, arm, replica)
             DO UPDATE SET figures = excluded.figures",
        )
        .bind(w.project.as_str())
        .bind(&w.rollout)
        .bind(i64::from(w.step))
        .bind(&w.arm)
        .bind(&w.replica)
        .bind(json(&w.window)?)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn version_windows(
    conn: &mut PgConnection,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
    version: Version,
    since: DateTime<Utc>,
) -> Result<Vec<VersionWindowRow>> {
    let found = sqlx::query(
        "SELECT project, env, name, version, minute, replica, figures FROM outcome_version_windows
         WHERE project = $1 AND env = $2 AND name = $3 AND version = $4 AND minute >= $5
         ORDER BY minute, replica",
    )
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .bind(version.get())
    .bind(since)
    .fetch_all(conn)
    .await?;
    found
        .iter()
        .map(|r| {
            Ok(VersionWindowRow {
                project: rows::project(r.try_get("project")?)?,
                env: rows::env_name(r.try_get("env")?)?,
                name: rows::prompt_name(r.try_get("name")?)?,
                version: rows::version_number(r.try_get("version")?)?,
                minute: r.try_get("minute")?,
                replica: r.try_get("replica")?,
                window: window(r)?,
            })
        })
        .collect()
}

pub(crate) async fn rollout_windows(
    conn: &mut PgConnection,
    project: &ProjectId,
    rollout: &str,
) -> Result<Vec<RolloutWindowRow>> {
    let found = sqlx::query(
        "SELECT project, rollout, step, arm, replica, figures FROM outcome_rollout_windows
         WHERE project = $1 AND rollout = $2 ORDER BY step, arm, replica",
    )
    .bind(project.as_str())
    .bind(rollout)
    .fetch_all(conn)
    .await?;
    found
        .iter()
        .map(|r| {
            let step: i64 = r.try_get("step")?;
            Ok(RolloutWindowRow {
                project: rows::project(r.try_get("project")?)?,
                rollout: r.try_get("rollout")?,
                step: u32::try_from(step).map_err(|e| corrupt("rollout step", e))?,
                arm: r.try_get("arm")?,
                replica: r.try_get("replica")?,
                window: window(r)?,
            })
        })
        .collect()
}

pub(crate) async fn insert_ids(conn: &mut PgConnection, batch: &OutcomeIdBatch) -> Result<()> {
    sqlx::query("INSERT INTO outcome_ids (project, replica, at, hashes) VALUES ($1, $2, $3, $4)")
        .bind(batch.project.as_str())
        .bind(&batch.replica)
        .bind(batch.at)
        .bind(hashes_to_bytes(&batch.hashes))
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn ids_since(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
) -> Result<Vec<OutcomeIdBatch>> {
    let found = sqlx::query(
        "SELECT project, replica, at, hashes FROM outcome_ids WHERE at >= $1 ORDER BY at",
    )
    .bind(since)
    .fetch_all(conn)
    .await?;
    found
        .iter()
        .map(|r| {
            let bytes: Vec<u8> = r.try_get("hashes")?;
            Ok(OutcomeIdBatch {
                project: rows::project(r.try_get("project")?)?,
                replica: r.try_get("replica")?,
                at: r.try_get("at")?,
                hashes: hashes_from_bytes(&bytes),
            })
        })
        .collect()
}

pub(crate) async fn prune_ids(conn: &mut PgConnection, before: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query("DELETE FROM outcome_ids WHERE at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
