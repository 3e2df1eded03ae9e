//! The SQL of validation results, environment gates and the validated-prompts query.

use promptreg_core::{Digest, EnvName, ProjectId, PromptName, Version};
use promptreg_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqliteConnection};

use crate::{db_err, rows, ts};

const VALIDATION_COLS: &str = "id, name, version, digest, suite, passed, metrics, details, \
     tool_name, tool_version, attached_by, attached_at";

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored {col} does not decode: {e}").into())
}

fn validation(row: &SqliteRow) -> StoreResult<ValidationRecord> {
    let metrics: String = row.try_get("metrics").map_err(StoreError::other)?;
    let details: Option<String> = row.try_get("details").map_err(StoreError::other)?;
    let digest: String = row.try_get("digest").map_err(StoreError::other)?;
    Ok(ValidationRecord {
        id: row.try_get("id").map_err(StoreError::other)?,
        name: rows::prompt_name(row, "name")?,
        version: rows::version_col(row, "version")?,
        digest: Digest::parse(&digest).map_err(|e| corrupt("digest", e))?,
        suite: row.try_get("suite").map_err(StoreError::other)?,
        passed: row.try_get("passed").map_err(StoreError::other)?,
        metrics: serde_json::from_str(&metrics).map_err(|e| corrupt("metrics", e))?,
        details: details
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| corrupt("details", e))?,
        tool_name: row.try_get("tool_name").map_err(StoreError::other)?,
        tool_version: row.try_get("tool_version").map_err(StoreError::other)?,
        attached_by: row.try_get("attached_by").map_err(StoreError::other)?,
        attached_at: rows::time(row, "attached_at")?,
    })
}

pub(crate) async fn insert_validation(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    r: &ValidationRecord,
) -> StoreResult<i64> {
    let metrics = serde_json::to_string(&r.metrics).map_err(StoreError::other)?;
    let details = r.details.as_ref().map(ToString::to_string);
    sqlx::query_scalar(
        "INSERT INTO validations (project, name, version, digest, suite, passed, metrics, details,
                                  tool_name, tool_version, attached_by, attached_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(project.as_str())
    .bind(r.name.as_str())
    .bind(r.version.get())
    .bind(r.digest.as_str())
    .bind(&r.suite)
    .bind(r.passed)
    .bind(metrics)
    .bind(details)
    .bind(&r.tool_name)
    .bind(&r.tool_version)
    .bind(&r.attached_by)
    .bind(ts(r.attached_at))
    .fetch_one(conn)
    .await
    .map_err(db_err)
}

pub(crate) async fn validations<'c>(
    conn: impl sqlx::Executor<'c, Database = Sqlite>,
    project: &ProjectId,
    name: &PromptName,
    version: Version,
) -> StoreResult<Vec<ValidationRecord>> {
    sqlx::query(&format!(
        "SELECT {VALIDATION_COLS} FROM validations
         WHERE project = ? AND name = ? AND version = ? ORDER BY id"
    ))
    .bind(project.as_str())
    .bind(name.as_str())
    .bind(version.get())
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(validation)
    .collect()
}

pub(crate) async fn environment_gates<'c>(
    conn: impl sqlx::Executor<'c, Database = Sqlite>,
    project: &ProjectId,
    env: &EnvName,
) -> StoreResult<Option<GatesRecord>> {
    let Some(row) = sqlx::query(
        "SELECT env, spec, updated_by, updated_at FROM environment_gates
         WHERE project = ? AND env = ?",
    )
    .bind(project.as_str())
    .bind(env.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db_err)?
    else {
        return Ok(None);
    };
    let spec: String = row.try_get("spec").map_err(StoreError::other)?;
    Ok(Some(GatesRecord {
        env: rows::env_name(&row, "env")?,
        spec: serde_json::from_str(&spec).map_err(|e| corrupt("gate spec", e))?,
        updated_by: row.try_get("updated_by").map_err(StoreError::other)?,
        updated_at: rows::time(&row, "updated_at")?,
    }))
}

pub(crate) async fn set_environment_gates(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    r: &GatesRecord,
) -> StoreResult<()> {
    let spec = serde_json::to_string(&r.spec).map_err(StoreError::other)?;
    sqlx::query(
        "INSERT INTO environment_gates (project, env, spec, updated_by, updated_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (project, env) DO UPDATE SET spec = excluded.spec,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(project.as_str())
    .bind(r.env.as_str())
    .bind(spec)
    .bind(&r.updated_by)
    .bind(ts(r.updated_at))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// The newest result per (prompt, version) of the suite, the newest version per prompt whose
/// newest result passed, then the environment's pointer beside it.
pub(crate) async fn validated_prompts<'c>(
    conn: impl sqlx::Executor<'c, Database = Sqlite>,
    project: &ProjectId,
    query: &ValidatedQuery,
    page: &PageRequest<PromptName>,
) -> StoreResult<Vec<ValidatedPrompt>> {
    let rows = sqlx::query(
        "WITH newest AS (
             SELECT name, version, MAX(id) AS id FROM validations
             WHERE project = ?1 AND suite = ?2 AND name > ?3
             GROUP BY name, version
         ), passing AS (
             SELECT n.name, MAX(n.version) AS version FROM newest n
             JOIN validations r ON r.id = n.id
             WHERE r.passed = 1
             GROUP BY n.name
         )
         SELECT p.name, p.version, r.digest, r.id, r.attached_at, ptr.version AS env_version
         FROM passing p
         JOIN newest n ON n.name = p.name AND n.version = p.version
         JOIN validations r ON r.id = n.id
         LEFT JOIN pointers ptr ON ptr.project = ?1 AND ptr.env = ?4 AND ptr.name = p.name
         WHERE ?4 IS NULL OR ptr.version IS NULL OR ptr.version <> p.version
         ORDER BY p.name LIMIT ?5",
    )
    .bind(project.as_str())
    .bind(&query.suite)
    .bind(page.after.as_ref().map_or("", PromptName::as_str))
    .bind(query.env.as_ref().map(EnvName::as_str))
    .bind(i64::from(page.limit))
    .fetch_all(conn)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let digest: String = row.try_get("digest").map_err(StoreError::other)?;
            let env_version: Option<i64> = row.try_get("env_version").map_err(StoreError::other)?;
            Ok(ValidatedPrompt {
                name: rows::prompt_name(row, "name")?,
                version: rows::version_col(row, "version")?,
                digest: Digest::parse(&digest).map_err(|e| corrupt("digest", e))?,
                validation_id: row.try_get("id").map_err(StoreError::other)?,
                attached_at: rows::time(row, "attached_at")?,
                env_version: env_version
                    .map(Version::new)
                    .transpose()
                    .map_err(|e| corrupt("version", e))?,
            })
        })
        .collect()
}
