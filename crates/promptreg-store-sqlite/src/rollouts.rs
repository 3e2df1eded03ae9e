//! The SQL of rollouts: the unit-of-work steps and the reads.

use chrono::{DateTime, Utc};
use promptreg_core::rollout::RolloutState;
use promptreg_core::{Digest, EnvName, ProjectId, PromptName};
use promptreg_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{db_err, rows, ts};

const COLS: &str = "project, id, env, name, stable_version, stable_digest, candidate_version, \
    candidate_digest, status, spec, state, revision, reason, created_by, created_at, updated_at, analysis";

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored rollout {col} does not decode: {e}").into())
}

fn json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> StoreResult<T> {
    let text: String = row.try_get(col).map_err(StoreError::other)?;
    serde_json::from_str(&text).map_err(|e| corrupt(col, e))
}

fn digest_col(row: &SqliteRow, col: &str) -> StoreResult<Digest> {
    let text: String = row.try_get(col).map_err(StoreError::other)?;
    Digest::parse(&text).map_err(|e| corrupt(col, e))
}

fn decode(row: &SqliteRow) -> StoreResult<RolloutRecord> {
    let project: String = row.try_get("project").map_err(StoreError::other)?;
    Ok(RolloutRecord {
        id: row.try_get("id").map_err(StoreError::other)?,
        project: ProjectId::parse(&project).map_err(|e| corrupt("project", e))?,
        env: rows::env_name(row, "env")?,
        name: rows::prompt_name(row, "name")?,
        stable_version: rows::version_col(row, "stable_version")?,
        stable_digest: digest_col(row, "stable_digest")?,
        candidate_version: rows::version_col(row, "candidate_version")?,
        candidate_digest: digest_col(row, "candidate_digest")?,
        spec: json_col(row, "spec")?,
        state: json_col::<RolloutState>(row, "state")?,
        revision: row.try_get("revision").map_err(StoreError::other)?,
        reason: row.try_get("reason").map_err(StoreError::other)?,
        created_by: row.try_get("created_by").map_err(StoreError::other)?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
        analysis: json_col(row, "analysis")?,
    })
}

fn to_json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::other)
}

pub(crate) async fn active(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
) -> StoreResult<Option<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE project = ? AND env = ? AND name = ?
           AND status IN ('progressing', 'paused')"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db_err)?
    .as_ref()
    .map(decode)
    .transpose()
}

/// Every rollout of a project, over or not, by id.
pub(crate) async fn all(
    conn: &mut SqliteConnection,
    project: &ProjectId,
) -> StoreResult<Vec<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE project = ? ORDER BY id"
    ))
    .bind(project.as_str())
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) async fn get(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    id: &str,
) -> StoreResult<Option<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE project = ? AND id = ?"
    ))
    .bind(project.as_str())
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_err)?
    .as_ref()
    .map(decode)
    .transpose()
}

pub(crate) async fn insert(conn: &mut SqliteConnection, r: &RolloutRecord) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO rollouts ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(r.project.as_str())
    .bind(&r.id)
    .bind(r.env.as_str())
    .bind(r.name.as_str())
    .bind(r.stable_version.get())
    .bind(r.stable_digest.as_str())
    .bind(r.candidate_version.get())
    .bind(r.candidate_digest.as_str())
    .bind(r.state.status.as_str())
    .bind(to_json(&r.spec)?)
    .bind(to_json(&r.state)?)
    .bind(r.revision)
    .bind(&r.reason)
    .bind(&r.created_by)
    .bind(ts(r.created_at))
    .bind(ts(r.updated_at))
    .bind(to_json(&r.analysis)?)
    .execute(conn)
    .await
    .map_err(|e| match db_err(e) {
        StoreError::Conflict { .. } => in_progress(r),
        other => other,
    })?;
    Ok(())
}

fn in_progress(r: &RolloutRecord) -> StoreError {
    StoreError::Conflict {
        code: "rollout_in_progress",
        message: format!(
            "prompt '{}' already has a rollout in progress in environment '{}'",
            r.name, r.env
        ),
    }
}

pub(crate) async fn update(conn: &mut SqliteConnection, r: &RolloutRecord) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE rollouts SET status = ?, state = ?, revision = ?, updated_at = ?, analysis = ?
          WHERE project = ? AND id = ?",
    )
    .bind(r.state.status.as_str())
    .bind(to_json(&r.state)?)
    .bind(r.revision)
    .bind(ts(r.updated_at))
    .bind(to_json(&r.analysis)?)
    .bind(r.project.as_str())
    .bind(&r.id)
    .execute(conn)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "rollout '{}' not found",
            r.id
        )));
    }
    Ok(())
}

pub(crate) async fn list(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    filter: &RolloutFilter,
    page: &PageRequest<String>,
) -> StoreResult<Vec<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE project = ?
           AND (? IS NULL OR env = ?) AND (? IS NULL OR name = ?) AND (? IS NULL OR status = ?)
           AND (? IS NULL OR id < ?)
         ORDER BY id DESC LIMIT ?"
    ))
    .bind(project.as_str())
    .bind(filter.env.as_ref().map(EnvName::as_str))
    .bind(filter.env.as_ref().map(EnvName::as_str))
    .bind(filter.name.as_ref().map(PromptName::as_str))
    .bind(filter.name.as_ref().map(PromptName::as_str))
    .bind(filter.status.map(|s| s.as_str()))
    .bind(filter.status.map(|s| s.as_str()))
    .bind(page.after.as_deref())
    .bind(page.after.as_deref())
    .bind(i64::from(page.limit))
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) async fn load_active(conn: &mut SqliteConnection) -> StoreResult<Vec<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE status IN ('progressing', 'paused') ORDER BY project, id"
    ))
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) async fn save_analysis(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    id: &str,
    revision: i64,
    analysis: &serde_json::Value,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE rollouts SET analysis = ? WHERE project = ? AND id = ? AND revision = ?",
    )
    .bind(to_json(analysis)?)
    .bind(project.as_str())
    .bind(id)
    .bind(revision)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE rollouts SET lease_owner = ?, lease_until = ?
          WHERE project = ? AND id = ? AND status IN ('progressing', 'paused')
            AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
    )
    .bind(owner)
    .bind(ts(until))
    .bind(project.as_str())
    .bind(id)
    .bind(owner)
    .bind(ts(now))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}
