//! Environments: created once, listed by name.

use promptreg_core::{ChangeEvent, EnvName, ProjectId};
use promptreg_store::{Committed, Environment, NewEnvironment};

use crate::error::{already_exists, not_found, unique_violation, Result};
use crate::{events, rows, PgStore};

const COLUMNS: &str = "name, protected, description, created_by, created_at";

/// Creates an environment; `Conflict { code: "already_exists" }` when it exists.
pub(crate) async fn create(
    store: &PgStore,
    project: &ProjectId,
    env: NewEnvironment,
) -> Result<Committed<Environment>> {
    let mut tx = store.pool.begin().await?;
    let inserted = sqlx::query(&format!(
        "INSERT INTO environments (project, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING {COLUMNS}"
    ))
    .bind(project.as_str())
    .bind(env.name.as_str())
    .bind(env.protected)
    .bind(&env.description)
    .bind(&env.created_by)
    .bind(env.created_at)
    .fetch_one(&mut *tx)
    .await;
    let row = match inserted {
        Err(e) if unique_violation(&e).is_some() => {
            return Err(already_exists(format!(
                "environment '{}' already exists",
                env.name
            )))
        }
        other => other?,
    };
    let created = rows::environment(&row)?;
    let event = ChangeEvent::EnvironmentCreated {
        project: project.clone(),
        env: created.name.clone(),
    };
    events::record(&mut tx, &store.channel, &event, env.created_at).await?;
    tx.commit().await?;
    Ok(Committed {
        value: created,
        event: Some(event),
    })
}

/// One environment.
pub(crate) async fn get<'e, E>(
    executor: E,
    project: &ProjectId,
    env: &EnvName,
) -> Result<Environment>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM environments WHERE project = $1 AND name = $2"
    ))
    .bind(project.as_str())
    .bind(env.as_str())
    .fetch_optional(executor)
    .await?;
    match row {
        Some(row) => rows::environment(&row),
        None => Err(not_found(format!("environment '{env}' not found"))),
    }
}

/// All environments of a project by name.
pub(crate) async fn list(store: &PgStore, project: &ProjectId) -> Result<Vec<Environment>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM environments WHERE project = $1 ORDER BY name"
    ))
    .bind(project.as_str())
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(rows::environment).collect()
}
