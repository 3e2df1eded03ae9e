//! Environments and deployment pointers.

use promptreg_core::deploy::{live_stack, plan_move};
use promptreg_core::{ChangeEvent, EnvName, ProjectId, PromptName, Version};
use promptreg_store::*;
use sqlx::{Row, SqlitePool};

use crate::{db_err, events, rows, ts};

const ENV_COLS: &str = "name, protected, description, created_by, created_at";
const DEPLOY_COLS: &str =
    "env, name, seq, from_version, to_version, digest, actor, reason, at, kind";

pub(crate) async fn create_environment(
    writer: &SqlitePool,
    project: &ProjectId,
    env: NewEnvironment,
) -> StoreResult<Committed<Environment>> {
    let mut tx = writer.begin().await.map_err(db_err)?;
    sqlx::query("INSERT INTO environments (project, name, protected, description, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(project.as_str())
        .bind(env.name.as_str())
        .bind(env.protected)
        .bind(&env.description)
        .bind(&env.created_by)
        .bind(ts(env.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict { code, .. } => {
                StoreError::Conflict { code, message: format!("environment '{}' already exists", env.name) }
            }
            other => other,
        })?;
    let event = ChangeEvent::EnvironmentCreated {
        project: project.clone(),
        env: env.name.clone(),
    };
    events::append(&mut tx, &event, env.created_at).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(Committed {
        value: env,
        event: Some(event),
    })
}

pub(crate) async fn get_environment(
    pool: &SqlitePool,
    project: &ProjectId,
    env: &EnvName,
) -> StoreResult<Environment> {
    let row = sqlx::query(&format!(
        "SELECT {ENV_COLS} FROM environments WHERE project = ? AND name = ?"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NotFound(format!("environment '{env}' not found")))?;
    rows::environment(&row)
}

pub(crate) async fn list_environments(
    pool: &SqlitePool,
    project: &ProjectId,
) -> StoreResult<Vec<Environment>> {
    sqlx::query(&format!(
        "SELECT {ENV_COLS} FROM environments WHERE project = ? ORDER BY name"
    ))
    .bind(project.as_str())
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(rows::environment)
    .collect()
}

/// Checks and records a pointer move in one transaction on the writer connection.
pub(crate) async fn move_pointer(
    writer: &SqlitePool,
    project: &ProjectId,
    change: PointerChange,
) -> StoreResult<MoveOutcome> {
    let mut tx = writer.begin().await.map_err(db_err)?;
    let env_exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM environments WHERE project = ? AND name = ?")
            .bind(project.as_str())
            .bind(change.env.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
    if env_exists.is_none() {
        return Err(StoreError::NotFound(format!(
            "environment '{}' not found",
            change.env
        )));
    }
    let history = sqlx::query(&format!(
        "SELECT {DEPLOY_COLS} FROM deployments WHERE project = ? AND env = ? AND name = ? ORDER BY seq"
    ))
    .bind(project.as_str())
    .bind(change.env.as_str())
    .bind(change.name.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(rows::deployment)
    .collect::<StoreResult<Vec<_>>>()?;
    let stack = live_stack(history.iter().map(|r| (r.kind, r.to_version)));
    let Some(planned) = plan_move(&stack, change.request)? else {
        tx.rollback().await.map_err(db_err)?;
        let last = history
            .into_iter()
            .next_back()
            .ok_or_else(|| StoreError::Other("unchanged move without history".into()))?;
        return Ok(MoveOutcome::Unchanged(last));
    };
    let seq = history.last().map_or(1, |r| r.seq + 1);
    let row = sqlx::query(
        "SELECT v.name, v.version, v.digest, v.content, v.commit_message, v.metadata, v.parent, v.created_by, v.created_at
           FROM versions v WHERE v.project = ? AND v.name = ? AND v.version = ?",
    )
    .bind(project.as_str())
    .bind(change.name.as_str())
    .bind(planned.to.get())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    // A version that does not exist is never live, so planning a deploy to it always gets
    // here: the one read of the version row also answers "unknown prompt or version".
    let Some(row) = row else {
        let prompt: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM prompts WHERE project = ? AND name = ?")
                .bind(project.as_str())
                .bind(change.name.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        return Err(StoreError::NotFound(match prompt {
            Some(_) => format!("prompt '{}' has no version {}", change.name, planned.to),
            None => format!("prompt '{}' not found", change.name),
        }));
    };
    let version = rows::version(&row)?;
    let at = ts(change.at);
    sqlx::query(
        "INSERT INTO deployments (project, env, name, seq, from_version, to_version, digest, actor, reason, at, kind)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(project.as_str())
    .bind(change.env.as_str())
    .bind(change.name.as_str())
    .bind(seq)
    .bind(planned.from.map(Version::get))
    .bind(planned.to.get())
    .bind(version.digest.as_str())
    .bind(&change.actor)
    .bind(&change.reason)
    .bind(&at)
    .bind(planned.kind.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO pointers (project, env, name, version, seq, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (project, env, name) DO UPDATE SET version = excluded.version, seq = excluded.seq, updated_at = excluded.updated_at",
    )
    .bind(project.as_str())
    .bind(change.env.as_str())
    .bind(change.name.as_str())
    .bind(planned.to.get())
    .bind(seq)
    .bind(&at)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let record = DeploymentRecord {
        env: change.env.clone(),
        name: change.name.clone(),
        seq,
        from_version: planned.from,
        to_version: planned.to,
        digest: version.digest.clone(),
        actor: change.actor,
        reason: change.reason,
        at: change.at,
        kind: planned.kind,
    };
    let event = record.event(project);
    events::append(&mut tx, &event, record.at).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(MoveOutcome::Moved {
        record,
        version: Box::new(version),
        event,
    })
}

pub(crate) async fn history(
    pool: &SqlitePool,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
    page: &PageRequest<i64>,
) -> StoreResult<Vec<DeploymentRecord>> {
    sqlx::query(&format!(
        "SELECT {DEPLOY_COLS} FROM deployments WHERE project = ? AND env = ? AND name = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .bind(page.after.unwrap_or(i64::MAX))
    .bind(i64::from(page.limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(rows::deployment)
    .collect()
}

pub(crate) async fn catalog(
    pool: &SqlitePool,
    project: &ProjectId,
    env: &EnvName,
    page: &PageRequest<PromptName>,
) -> StoreResult<Vec<CatalogRecord>> {
    sqlx::query(
        "SELECT p.name, p.version, v.digest, p.updated_at FROM pointers p
           JOIN versions v ON v.project = p.project AND v.name = p.name AND v.version = p.version
         WHERE p.project = ? AND p.env = ? AND p.name > ? ORDER BY p.name LIMIT ?",
    )
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(page.after.as_ref().map_or("", PromptName::as_str))
    .bind(i64::from(page.limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| {
        Ok(CatalogRecord {
            name: rows::prompt_name(r, "name")?,
            version: rows::version_col(r, "version")?,
            digest: promptreg_core::Digest::parse(r.get("digest"))
                .map_err(|e| StoreError::Other(e.into()))?,
            deployed_at: rows::time(r, "updated_at")?,
        })
    })
    .collect()
}

const LIVE_SQL: &str = "SELECT p.project, p.env, v.name, v.version, v.digest, v.content, v.commit_message, v.metadata,
        v.parent, v.created_by, v.created_at
   FROM pointers p JOIN versions v ON v.project = p.project AND v.name = p.name AND v.version = p.version";

pub(crate) async fn deployed_version(
    pool: &SqlitePool,
    project: &ProjectId,
    env: &EnvName,
    name: &PromptName,
) -> StoreResult<Option<VersionRecord>> {
    sqlx::query(&format!(
        "{LIVE_SQL} WHERE p.project = ? AND p.env = ? AND p.name = ?"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .bind(name.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .as_ref()
    .map(rows::version)
    .transpose()
}

pub(crate) async fn load_deployed(pool: &SqlitePool) -> StoreResult<Vec<DeployedVersion>> {
    sqlx::query(LIVE_SQL)
        .fetch_all(pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(DeployedVersion {
                project: ProjectId::parse(r.get("project"))
                    .map_err(|e| StoreError::Other(e.to_string().into()))?,
                env: rows::env_name(r, "env")?,
                version: rows::version(r)?,
            })
        })
        .collect()
}
