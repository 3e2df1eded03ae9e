//! Prompts and their immutable versions: the reads (versions are inserted by `tx.rs`).

use std::collections::BTreeMap;

use promptreg_core::{EnvName, ProjectId, PromptName, Version};
use promptreg_store::{
    PageRequest, PromptFilter, PromptRecord, StoredContent, StoredVersion, VersionFilter,
};
use sqlx::Row;

use crate::error::{not_found, Result};
use crate::rows::{self, VERSION_COLUMNS};
use crate::PgStore;

/// One version, or the latest when `version` is `None`, if it exists; inside a transaction or
/// not.
pub(crate) async fn find<'e, E>(
    executor: E,
    project: &ProjectId,
    name: &PromptName,
    version: Option<Version>,
) -> Result<Option<StoredVersion>>
where
    E: sqlx::PgExecutor<'e>,
{
    let query = match version {
        Some(_) => format!(
            "SELECT {VERSION_COLUMNS} FROM versions v \
             WHERE v.project = $1 AND v.name = $2 AND v.version = $3"
        ),
        // The prompt row names its latest version: one index lookup, no sort.
        None => format!(
            "SELECT {VERSION_COLUMNS} FROM prompts p JOIN versions v \
             ON v.project = p.project AND v.name = p.name AND v.version = p.latest_version \
             WHERE p.project = $1 AND p.name = $2"
        ),
    };
    let mut query = sqlx::query(&query)
        .bind(project.as_str())
        .bind(name.as_str());
    if let Some(v) = version {
        query = query.bind(v.get());
    }
    let row = query.fetch_optional(executor).await?;
    row.as_ref().map(rows::version).transpose()
}

/// One version, or the latest; `NotFound` naming what is missing.
pub(crate) async fn get(
    store: &PgStore,
    project: &ProjectId,
    name: &PromptName,
    version: Option<Version>,
) -> Result<StoredVersion> {
    find(&store.pool, project, name, version)
        .await?
        .ok_or_else(|| match version {
            Some(v) => not_found(format!("prompt '{name}' has no version {v}")),
            None => not_found(format!("prompt '{name}' not found")),
        })
}

/// Versions newest first below `page.after`, filtered by tag and agent type.
pub(crate) async fn list(
    store: &PgStore,
    project: &ProjectId,
    name: &PromptName,
    filter: &VersionFilter,
    page: &PageRequest<Version>,
) -> Result<Vec<StoredVersion>> {
    // An absent or empty `agent_types` list means the version serves any agent.
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions v \
         WHERE v.project = $1 AND v.name = $2 \
           AND ($3::BIGINT IS NULL OR v.version < $3) \
           AND ($4::TEXT IS NULL OR v.metadata -> 'tags' ? $4) \
           AND ($5::TEXT IS NULL \
                OR COALESCE(v.metadata -> 'compat' -> 'agent_types', '[]'::jsonb) = '[]'::jsonb \
                OR v.metadata -> 'compat' -> 'agent_types' ? $5) \
         ORDER BY v.version DESC LIMIT $6"
    ))
    .bind(project.as_str())
    .bind(name.as_str())
    .bind(page.after.map(Version::get))
    .bind(filter.tag.as_deref())
    .bind(filter.agent_type.as_deref())
    .bind(i64::from(page.limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(rows::version).collect()
}

/// Prompts by name after `page.after`, with their latest version and live environments.
pub(crate) async fn list_prompts(
    store: &PgStore,
    project: &ProjectId,
    filter: &PromptFilter,
    page: &PageRequest<PromptName>,
) -> Result<Vec<PromptRecord<StoredContent>>> {
    // `starts_with` keeps the prefix literal: `_` and `%` are not wildcards.
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM prompts p JOIN versions v \
         ON v.project = p.project AND v.name = p.name AND v.version = p.latest_version \
         WHERE p.project = $1 \
           AND ($2::TEXT IS NULL OR starts_with(p.name, $2)) \
           AND ($3::TEXT IS NULL OR v.metadata -> 'tags' ? $3) \
           AND ($4::TEXT IS NULL OR p.name > $4) \
         ORDER BY p.name LIMIT $5"
    ))
    .bind(project.as_str())
    .bind(filter.prefix.as_deref())
    .bind(filter.tag.as_deref())
    .bind(page.after.as_ref().map(PromptName::as_str))
    .bind(i64::from(page.limit))
    .fetch_all(&store.pool)
    .await?;
    let latest = rows.iter().map(rows::version).collect::<Result<Vec<_>>>()?;

    let names: Vec<&str> = latest.iter().map(|v| v.name.as_str()).collect();
    let pointers = sqlx::query(
        "SELECT name, env, version FROM pointers \
         WHERE project = $1 AND name = ANY($2) ORDER BY name, env",
    )
    .bind(project.as_str())
    .bind(&names)
    .fetch_all(&store.pool)
    .await?;
    let mut deployed: BTreeMap<String, Vec<(EnvName, Version)>> = BTreeMap::new();
    for row in &pointers {
        deployed.entry(row.try_get("name")?).or_default().push((
            rows::env_name(row.try_get("env")?)?,
            rows::version_number(row.try_get("version")?)?,
        ));
    }
    Ok(latest
        .into_iter()
        .map(|latest| PromptRecord {
            name: latest.name.clone(),
            deployed: deployed.remove(latest.name.as_str()).unwrap_or_default(),
            latest,
        })
        .collect())
}
