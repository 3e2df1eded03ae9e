//! Versions and prompts.

use promptreg_core::{ProjectId, PromptName, Version};
use promptreg_store::*;
use sqlx::SqlitePool;

use crate::{db_err, rows};

use crate::rows::VERSION_COLS;

fn not_found(name: &PromptName, version: Option<Version>) -> StoreError {
    match version {
        Some(v) => StoreError::NotFound(format!("prompt '{name}' has no version {v}")),
        None => StoreError::NotFound(format!("prompt '{name}' not found")),
    }
}

/// One version, or the latest when `version` is `None`, on a given connection.
pub(crate) async fn get_on(
    conn: &mut sqlx::SqliteConnection,
    project: &ProjectId,
    name: &PromptName,
    version: Option<Version>,
) -> StoreResult<Option<StoredVersion>> {
    let sql = match version {
        Some(_) => format!("SELECT {VERSION_COLS} FROM versions v WHERE v.project = ? AND v.name = ? AND v.version = ?"),
        None => format!(
            "SELECT {VERSION_COLS} FROM prompts p JOIN versions v
               ON v.project = p.project AND v.name = p.name AND v.version = p.latest_version
             WHERE p.project = ? AND p.name = ?"
        ),
    };
    let mut q = sqlx::query(&sql).bind(project.as_str()).bind(name.as_str());
    if let Some(v) = version {
        q = q.bind(v.get());
    }
    q.fetch_optional(conn)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(rows::version)
        .transpose()
}

/// One version, or the latest when `version` is `None`.
pub(crate) async fn get(
    pool: &SqlitePool,
    project: &ProjectId,
    name: &PromptName,
    version: Option<Version>,
) -> StoreResult<StoredVersion> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    get_on(&mut conn, project, name, version)
        .await?
        .ok_or_else(|| not_found(name, version))
}

/// Whether `metadata` serves an agent type: listed, or no agent types at all.
const AGENT_TYPE_MATCH: &str = "(json_array_length(v.metadata, '$.compat.agent_types') IS NULL
      OR json_array_length(v.metadata, '$.compat.agent_types') = 0
      OR EXISTS (SELECT 1 FROM json_each(v.metadata, '$.compat.agent_types') WHERE value = ?))";
const TAG_MATCH: &str = "EXISTS (SELECT 1 FROM json_each(v.metadata, '$.tags') WHERE value = ?)";

pub(crate) async fn list(
    pool: &SqlitePool,
    project: &ProjectId,
    name: &PromptName,
    filter: &VersionFilter,
    page: &PageRequest<Version>,
) -> StoreResult<Vec<StoredVersion>> {
    let mut sql = format!("SELECT {VERSION_COLS} FROM versions v WHERE v.project = ? AND v.name = ? AND v.version < ?");
    if filter.tag.is_some() {
        sql.push_str(&format!(" AND {TAG_MATCH}"));
    }
    if filter.agent_type.is_some() {
        sql.push_str(&format!(" AND {AGENT_TYPE_MATCH}"));
    }
    sql.push_str(" ORDER BY v.version DESC LIMIT ?");
    let mut q = sqlx::query(&sql)
        .bind(project.as_str())
        .bind(name.as_str())
        .bind(page.after.map_or(i64::MAX, Version::get));
    if let Some(tag) = &filter.tag {
        q = q.bind(tag);
    }
    if let Some(agent) = &filter.agent_type {
        q = q.bind(agent);
    }
    let rows = q
        .bind(i64::from(page.limit))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(rows::version).collect()
}

pub(crate) async fn list_prompts(
    pool: &SqlitePool,
    project: &ProjectId,
    filter: &PromptFilter,
    page: &PageRequest<PromptName>,
) -> StoreResult<Vec<PromptRecord<StoredContent>>> {
    let mut sql = format!(
        "SELECT {VERSION_COLS} FROM prompts p JOIN versions v
           ON v.project = p.project AND v.name = p.name AND v.version = p.latest_version
         WHERE p.project = ? AND p.name > ?"
    );
    if filter.prefix.is_some() {
        // substr comparison keeps the prefix literal (no LIKE wildcards).
        sql.push_str(" AND substr(p.name, 1, length(?)) = ?");
    }
    if filter.tag.is_some() {
        sql.push_str(&format!(" AND {TAG_MATCH}"));
    }
    sql.push_str(" ORDER BY p.name LIMIT ?");
    let mut q = sqlx::query(&sql)
        .bind(project.as_str())
        .bind(page.after.as_ref().map_or("", PromptName::as_str));
    if let Some(prefix) = &filter.prefix {
        q = q.bind(prefix).bind(prefix);
    }
    if let Some(tag) = &filter.tag {
        q = q.bind(tag);
    }
    let rows = q
        .bind(i64::from(page.limit))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let latest = rows::version(row)?;
        let deployed = sqlx::query(
            "SELECT env, version FROM pointers WHERE project = ? AND name = ? ORDER BY env",
        )
        .bind(project.as_str())
        .bind(latest.name.as_str())
        .fetch_all(pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| Ok((rows::env_name(r, "env")?, rows::version_col(r, "version")?)))
        .collect::<StoreResult<Vec<_>>>()?;
        out.push(PromptRecord {
            name: latest.name.clone(),
            latest,
            deployed,
        });
    }
    Ok(out)
}
