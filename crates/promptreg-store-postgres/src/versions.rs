//! Prompts and their immutable versions.

use std::collections::BTreeMap;

use promptreg_core::{ChangeEvent, EnvName, ProjectId, PromptName, Version};
use promptreg_store::{
    Committed, Created, NewVersion, PageRequest, PromptFilter, PromptRecord, VersionFilter,
    VersionRecord,
};
use sqlx::Row;

use crate::error::{internal, not_found, Result};
use crate::rows::{self, VERSION_COLUMNS};
use crate::{events, PgStore};

/// Creates the next version unless the content equals the latest's.
///
/// The prompt row is the lock: it is inserted if missing (a concurrent creator of the same
/// prompt waits on the insert and then finds the row) and locked `FOR UPDATE`, so writers of
/// one prompt take turns and numbers have no gaps or duplicates.
pub(crate) async fn create(
    store: &PgStore,
    project: &ProjectId,
    new: NewVersion,
) -> Result<Committed<Created>> {
    let digest = new.content.digest();
    let mut tx = store.pool.begin().await?;
    // One round trip inserts the prompt row if missing and locks it either way (an upsert
    // locks the row it updates; a concurrent creator waits here, then sees the committed row).
    let latest: i64 = sqlx::query_scalar(
        "INSERT INTO prompts (project, name, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (project, name) DO UPDATE SET latest_version = prompts.latest_version \
         RETURNING latest_version",
    )
    .bind(project.as_str())
    .bind(new.name.as_str())
    .bind(new.created_at)
    .fetch_one(&mut *tx)
    .await?;

    let parent = if latest > 0 {
        let current = fetch(&mut *tx, project, &new.name, latest).await?;
        if current.digest == digest {
            tx.rollback().await?;
            return Ok(Committed {
                value: Created {
                    version: current,
                    created: false,
                },
                event: None,
            });
        }
        Some(current.version)
    } else {
        None
    };
    let number = parent.map_or(Version::FIRST, Version::next);
    if parent == Some(number) {
        return Err(internal(std::io::Error::other("version numbers exhausted")));
    }

    let metadata = serde_json::to_value(&new.metadata).map_err(internal)?;
    // The version and the prompt's latest number in one statement (one round trip).
    let row = sqlx::query(&format!(
        "WITH bump AS (UPDATE prompts SET latest_version = $3 WHERE project = $1 AND name = $2) \
         INSERT INTO versions AS v (project, name, version, digest, prompt_type, content, \
         commit_message, metadata, parent, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {VERSION_COLUMNS}"
    ))
    .bind(project.as_str())
    .bind(new.name.as_str())
    .bind(number.get())
    .bind(digest.as_str())
    .bind(new.content.prompt_type().as_str())
    .bind(new.content.to_value())
    .bind(&new.commit_message)
    .bind(metadata)
    .bind(parent.map(Version::get))
    .bind(&new.created_by)
    .bind(new.created_at)
    .fetch_one(&mut *tx)
    .await?;
    let version = rows::version(&row)?;

    let event = ChangeEvent::VersionCreated {
        project: project.clone(),
        name: version.name.clone(),
        version: version.version,
        digest: version.digest.clone(),
    };
    events::record(&mut tx, &store.channel, &event, new.created_at).await?;
    tx.commit().await?;
    Ok(Committed {
        value: Created {
            version,
            created: true,
        },
        event: Some(event),
    })
}

/// One version, inside a transaction or not.
pub(crate) async fn fetch<'e, E>(
    executor: E,
    project: &ProjectId,
    name: &PromptName,
    version: i64,
) -> Result<VersionRecord>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions v \
         WHERE v.project = $1 AND v.name = $2 AND v.version = $3"
    ))
    .bind(project.as_str())
    .bind(name.as_str())
    .bind(version)
    .fetch_optional(executor)
    .await?;
    match row {
        Some(row) => rows::version(&row),
        None => Err(not_found(format!(
            "prompt '{name}' has no version {version}"
        ))),
    }
}

/// The newest version of a prompt.
pub(crate) async fn latest(
    store: &PgStore,
    project: &ProjectId,
    name: &PromptName,
) -> Result<VersionRecord> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM prompts p JOIN versions v \
         ON v.project = p.project AND v.name = p.name AND v.version = p.latest_version \
         WHERE p.project = $1 AND p.name = $2"
    ))
    .bind(project.as_str())
    .bind(name.as_str())
    .fetch_optional(&store.pool)
    .await?;
    match row {
        Some(row) => rows::version(&row),
        None => Err(not_found(format!("prompt '{name}' not found"))),
    }
}

/// Versions newest first below `page.after`, filtered by tag and agent type.
pub(crate) async fn list(
    store: &PgStore,
    project: &ProjectId,
    name: &PromptName,
    filter: &VersionFilter,
    page: &PageRequest<Version>,
) -> Result<Vec<VersionRecord>> {
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
) -> Result<Vec<PromptRecord>> {
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
