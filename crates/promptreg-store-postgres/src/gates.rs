//! The SQL of validation results, environment gates and the validated-prompts query.

use chrono::{DateTime, Utc};
use promptreg_core::{EnvName, ProjectId, PromptName, Version};
use promptreg_store::*;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::error::{Error, Result};
use crate::rows;

const VALIDATION_COLS: &str = "id, name, version, digest, suite, passed, metrics, details, \
     tool_name, tool_version, attached_by, attached_at";

fn corrupt(message: String) -> Error {
    Error::Store(StoreError::Other(message.into()))
}

fn validation(row: &PgRow) -> Result<ValidationRecord> {
    let metrics: String = row.try_get("metrics")?;
    let details: Option<String> = row.try_get("details")?;
    Ok(ValidationRecord {
        id: row.try_get("id")?,
        name: rows::prompt_name(row.try_get("name")?)?,
        version: rows::version_number(row.try_get("version")?)?,
        digest: rows::digest(row.try_get("digest")?)?,
        suite: row.try_get("suite")?,
        passed: row.try_get("passed")?,
        metrics: serde_json::from_str(&metrics)
            .map_err(|e| corrupt(format!("stored metrics do not decode: {e}")))?,
        details: details
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| corrupt(format!("stored details do not decode: {e}")))?,
        tool_name: row.try_get("tool_name")?,
        tool_version: row.try_get("tool_version")?,
        attached_by: row.try_get("attached_by")?,
        attached_at: row.try_get::<DateTime<Utc>, _>("attached_at")?,
    })
}

pub(crate) async fn insert_validation<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    project: &ProjectId,
    r: &ValidationRecord,
) -> Result<i64> {
    let metrics = serde_json::to_string(&r.metrics).map_err(|e| corrupt(e.to_string()))?;
    let details = r.details.as_ref().map(ToString::to_string);
    Ok(sqlx::query_scalar(
        "INSERT INTO validations (project, name, version, digest, suite, passed, metrics, details, \
             tool_name, tool_version, attached_by, attached_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
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
    .bind(r.attached_at)
    .fetch_one(executor)
    .await?)
}

pub(crate) async fn validations<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    project: &ProjectId,
    name: &PromptName,
    version: Version,
) -> Result<Vec<ValidationRecord>> {
    sqlx::query(&format!(
        "SELECT {VALIDATION_COLS} FROM validations \
         WHERE project = $1 AND name = $2 AND version = $3 ORDER BY id"
    ))
    .bind(project.as_str())
    .bind(name.as_str())
    .bind(version.get())
    .fetch_all(executor)
    .await?
    .iter()
    .map(validation)
    .collect()
}

pub(crate) async fn environment_gates<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    project: &ProjectId,
    env: &EnvName,
) -> Result<Option<GatesRecord>> {
    let Some(row) = sqlx::query(
        "SELECT env, spec, updated_by, updated_at FROM environment_gates \
         WHERE project = $1 AND env = $2",
    )
    .bind(project.as_str())
    .bind(env.as_str())
    .fetch_optional(executor)
    .await?
    else {
        return Ok(None);
    };
    let spec: String = row.try_get("spec")?;
    Ok(Some(GatesRecord {
        env: rows::env_name(row.try_get("env")?)?,
        spec: serde_json::from_str(&spec)
            .map_err(|e| corrupt(format!("stored gate spec does not decode: {e}")))?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    }))
}

pub(crate) async fn set_environment_gates<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    project: &ProjectId,
    r: &GatesRecord,
) -> Result<()> {
    let spec = serde_json::to_string(&r.spec).map_err(|e| corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO environment_gates (project, env, spec, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (project, env) DO UPDATE SET spec = EXCLUDED.spec, \
             updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
    )
    .bind(project.as_str())
    .bind(r.env.as_str())
    .bind(spec)
    .bind(&r.updated_by)
    .bind(r.updated_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// The newest result per (prompt, version) of the suite, the newest version per prompt whose
/// newest result passed, then the environment's pointer beside it.
pub(crate) async fn validated_prompts<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    project: &ProjectId,
    query: &ValidatedQuery,
    page: &PageRequest<PromptName>,
) -> Result<Vec<ValidatedPrompt>> {
    let rows = sqlx::query(
        "WITH newest AS ( \
             SELECT DISTINCT ON (name, version) name, version, id, passed, digest, attached_at \
             FROM validations WHERE project = $1 AND suite = $2 AND name > $3 \
             ORDER BY name, version, id DESC \
         ), passing AS ( \
             SELECT DISTINCT ON (name) name, version, id, digest, attached_at FROM newest \
             WHERE passed ORDER BY name, version DESC \
         ) \
         SELECT p.name, p.version, p.digest, p.id, p.attached_at, ptr.version AS env_version \
         FROM passing p \
         LEFT JOIN pointers ptr ON ptr.project = $1 AND ptr.env = $4 AND ptr.name = p.name \
         WHERE $4::text IS NULL OR ptr.version IS NULL OR ptr.version <> p.version \
         ORDER BY p.name LIMIT $5",
    )
    .bind(project.as_str())
    .bind(&query.suite)
    .bind(page.after.as_ref().map_or("", PromptName::as_str))
    .bind(query.env.as_ref().map(EnvName::as_str))
    .bind(i64::from(page.limit))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let env_version: Option<i64> = row.try_get("env_version")?;
            Ok(ValidatedPrompt {
                name: rows::prompt_name(row.try_get("name")?)?,
                version: rows::version_number(row.try_get("version")?)?,
                digest: rows::digest(row.try_get("digest")?)?,
                validation_id: row.try_get("id")?,
                attached_at: row.try_get("attached_at")?,
                env_version: env_version.map(rows::version_number).transpose()?,
            })
        })
        .collect()
}
