//! The SQL of outcomes: window upserts and reads, and the accepted ids' batches.

use chrono::{DateTime, Utc};
use promptreg_core::{EnvName, ProjectId, PromptName, Version};
use promptreg_store::outcomes::{hashes_from_bytes, hashes_to_bytes};
use promptreg_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{db_err, rows, ts};

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored outcome {col} does not decode: {e}").into())
}

fn project_col(row: &SqliteRow) -> StoreResult<ProjectId> {
    let s: String = row.try_get("project").map_err(StoreError::other)?;
    ProjectId::parse(&s).map_err(|e| corrupt("project", e))
}

fn window(row: &SqliteRow) -> StoreResult<promptreg_core::analysis::ArmWindow> {
    let s: String = row.try_get("figures").map_err(StoreError::other)?;
    serde_json::from_str(&s).map_err(|e| corrupt("window", e))
}

fn json(w: &promptreg_core::analysis::ArmWindow) -> StoreResult<String> {
    serde_json::to_string(w).map_err(StoreError::other)
}

pub(crate) async fn save(
    conn: &mut SqliteConnection,
    versions: &[VersionWindowRow],
    rollouts: &[RolloutWindowRow],
) -> StoreResult<()> {
    let mut tx = sqlx::Connection::begin(conn).await.map_err(db_err)?;
    for w in versions {
        sqlx::query(
            "INSERT INTO outcome_version_windows (project, env, name, version, minute, replica, figures)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (project, env, name, version, minute, replica)
             DO UPDATE SET figures = excluded.figures",
        )
        .bind(w.project.as_str())
        .bind(w.env.as_str())
        .bind(w.name.as_str())
        .bind(w.version.get())
        .bind(ts(w.minute))
        .bind(&w.replica)
        .bind(json(&w.window)?)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    for w in rollouts {
        sqlx::query(
            "INSERT INTO outcome_rollout_windows (project, rollout, step, arm, replica, figures)
             VALUES (?, ?, ?, ?, ?, ?)
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
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn version_windows(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
    version: Version,
    since: DateTime<Utc>,
) -> StoreResult<Vec<VersionWindowRow>> {
    let rows = sqlx::query(
        "SELECT project, env, name, version, minute, replica, figures FROM outcome_version_windows
         WHERE project = ? AND env = ? AND name = ? AND version = ? AND minute >= ?
         ORDER BY minute, replica",
    )
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .bind(version.get())
    .bind(ts(since))
    .fetch_all(conn)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(VersionWindowRow {
                project: project_col(r)?,
                env: rows::env_name(r, "env")?,
                name: rows::prompt_name(r, "name")?,
                version: rows::version_col(r, "version")?,
                minute: rows::time(r, "minute")?,
                replica: r.try_get("replica").map_err(StoreError::other)?,
                window: window(r)?,
            })
        })
        .collect()
}

pub(crate) async fn rollout_windows(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    rollout: &str,
) -> StoreResult<Vec<RolloutWindowRow>> {
    let rows = sqlx::query(
        "SELECT project, rollout, step, arm, replica, figures FROM outcome_rollout_windows
         WHERE project = ? AND rollout = ? ORDER BY step, arm, replica",
    )
    .bind(project.as_str())
    .bind(rollout)
    .fetch_all(conn)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let step: i64 = r.try_get("step").map_err(StoreError::other)?;
            Ok(RolloutWindowRow {
                project: project_col(r)?,
                rollout: r.try_get("rollout").map_err(StoreError::other)?,
                step: u32::try_from(step).map_err(|e| corrupt("step", e))?,
                arm: r.try_get("arm").map_err(StoreError::other)?,
                replica: r.try_get("replica").map_err(StoreError::other)?,
                window: window(r)?,
            })
        })
        .collect()
}

pub(crate) async fn insert_ids(
    conn: &mut SqliteConnection,
    batch: &OutcomeIdBatch,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO outcome_ids (project, replica, at, hashes) VALUES (?, ?, ?, ?)")
        .bind(batch.project.as_str())
        .bind(&batch.replica)
        .bind(ts(batch.at))
        .bind(hashes_to_bytes(&batch.hashes))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn ids_since(
    conn: &mut SqliteConnection,
    since: DateTime<Utc>,
) -> StoreResult<Vec<OutcomeIdBatch>> {
    let rows = sqlx::query(
        "SELECT project, replica, at, hashes FROM outcome_ids WHERE at >= ? ORDER BY at",
    )
    .bind(ts(since))
    .fetch_all(conn)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let bytes: Vec<u8> = r.try_get("hashes").map_err(StoreError::other)?;
            Ok(OutcomeIdBatch {
                project: project_col(r)?,
                replica: r.try_get("replica").map_err(StoreError::other)?,
                at: rows::time(r, "at")?,
                hashes: hashes_from_bytes(&bytes),
            })
        })
        .collect()
}

pub(crate) async fn prune_ids(
    conn: &mut SqliteConnection,
    before: DateTime<Utc>,
) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM outcome_ids WHERE at < ?")
        .bind(ts(before))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(done.rows_affected())
}
