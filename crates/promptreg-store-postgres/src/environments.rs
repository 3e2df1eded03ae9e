//! Environments: read here, inserted by the unit of work (`tx.rs`).

use promptreg_core::{EnvName, ProjectId};
use promptreg_store::Environment;

use crate::error::Result;
use crate::rows;

/// The columns of `environments` that [`rows::environment`] reads.
pub(crate) const COLUMNS: &str =
    "name, protected, description, created_by, created_at, approvals_required";

/// One environment, if it exists, inside a transaction or not.
pub(crate) async fn find<'e, E>(
    executor: E,
    project: &ProjectId,
    env: &EnvName,
) -> Result<Option<Environment>>
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
    row.as_ref().map(rows::environment).transpose()
}

/// All environments of a project by name.
pub(crate) async fn list<'e, E>(executor: E, project: &ProjectId) -> Result<Vec<Environment>>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM environments WHERE project = $1 ORDER BY name"
    ))
    .bind(project.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter().map(rows::environment).collect()
}
