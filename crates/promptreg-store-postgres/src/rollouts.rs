//! The SQL of rollouts: the unit-of-work steps and the reads.

use chrono::{DateTime, Utc};
use promptreg_core::{EnvName, ProjectId, PromptName};
use promptreg_store::{PageRequest, RolloutFilter, RolloutRecord, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::error::{corrupt, unique_violation, Error, Result};
use crate::rows;

const COLS: &str = "project, id, env, name, stable_version, stable_digest, candidate_version, \
    candidate_digest, status, spec, state, revision, reason, created_by, created_at, updated_at, analysis";

fn decode(row: &PgRow) -> Result<RolloutRecord> {
    let json = |col: &'static str| -> Result<serde_json::Value> { Ok(row.try_get(col)?) };
    Ok(RolloutRecord {
        id: row.try_get("id")?,
        project: rows::project(row.try_get("project")?)?,
        env: rows::env_name(row.try_get("env")?)?,
        name: rows::prompt_name(row.try_get("name")?)?,
        stable_version: rows::version_number(row.try_get("stable_version")?)?,
        stable_digest: rows::digest(row.try_get("stable_digest")?)?,
        candidate_version: rows::version_number(row.try_get("candidate_version")?)?,
        candidate_digest: rows::digest(row.try_get("candidate_digest")?)?,
        spec: serde_json::from_value(json("spec")?).map_err(|e| corrupt("rollout spec", e))?,
        state: serde_json::from_value(json("state")?).map_err(|e| corrupt("rollout state", e))?,
        revision: row.try_get("revision")?,
        reason: row.try_get("reason")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        analysis: json("analysis")?,
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Store(StoreError::other(e)))
}

/// Every rollout of a project, over or not, by id.
pub(crate) async fn all(
    conn: &mut PgConnection,
    project: &ProjectId,
) -> Result<Vec<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE project = $1 ORDER BY id"
    ))
    .bind(project.as_str())
    .fetch_all(conn)
    .await?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) async fn active(
    conn: &mut PgConnection,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
) -> Result<Option<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE project = $1 AND env = $2 AND name = $3
           AND status IN ('progressing', 'paused')"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(decode)
    .transpose()
}

pub(crate) async fn get(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &str,
) -> Result<Option<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE project = $1 AND id = $2"
    ))
    .bind(project.as_str())
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(decode)
    .transpose()
}

pub(crate) async fn insert(conn: &mut PgConnection, r: &RolloutRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO rollouts ({COLS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
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
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(&r.analysis)
    .execute(conn)
    .await
    .map_err(|e| match unique_violation(&e) {
        Some(_) => Error::Store(StoreError::Conflict {
            code: "rollout_in_progress",
            message: format!(
                "prompt '{}' already has a rollout in progress in environment '{}'",
                r.name, r.env
            ),
        }),
        None => e.into(),
    })?;
    Ok(())
}

pub(crate) async fn update(conn: &mut PgConnection, r: &RolloutRecord) -> Result<()> {
    let done = sqlx::query(
        "UPDATE rollouts SET status = $1, state = $2, revision = $3, updated_at = $4, analysis = $5
          WHERE project = $6 AND id = $7",
    )
    .bind(r.state.status.as_str())
    .bind(to_json(&r.state)?)
    .bind(r.revision)
    .bind(r.updated_at)
    .bind(&r.analysis)
    .bind(r.project.as_str())
    .bind(&r.id)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(crate::error::not_found(format!(
            "rollout '{}' not found",
            r.id
        )));
    }
    Ok(())
}

pub(crate) async fn list(
    conn: &mut PgConnection,
    project: &ProjectId,
    filter: &RolloutFilter,
    page: &PageRequest<String>,
) -> Result<Vec<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE project = $1
           AND ($2::text IS NULL OR env = $2) AND ($3::text IS NULL OR name = $3)
           AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6"
    ))
    .bind(project.as_str())
    .bind(filter.env.as_ref().map(EnvName::as_str))
    .bind(filter.name.as_ref().map(PromptName::as_str))
    .bind(filter.status.map(|s| s.as_str()))
    .bind(page.after.as_deref())
    .bind(i64::from(page.limit))
    .fetch_all(conn)
    .await?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) async fn load_active(conn: &mut PgConnection) -> Result<Vec<RolloutRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM rollouts WHERE status IN ('progressing', 'paused') ORDER BY project, id"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) async fn save_analysis(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &str,
    revision: i64,
    analysis: &serde_json::Value,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE rollouts SET analysis = $1 WHERE project = $2 AND id = $3 AND revision = $4",
    )
    .bind(analysis)
    .bind(project.as_str())
    .bind(id)
    .bind(revision)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn claim(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE rollouts SET lease_owner = $1, lease_until = $2
          WHERE project = $3 AND id = $4 AND status IN ('progressing', 'paused')
            AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $5)",
    )
    .bind(owner)
    .bind(until)
    .bind(project.as_str())
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
