//! Tokens: stored by hash, revoked by timestamp, never deleted.

use promptreg_core::ProjectId;
use promptreg_store::*;
use sqlx::SqlitePool;

use crate::{db_err, rows};

use crate::TOKEN_COLS as COLS;

/// Active tokens of one project, or of all projects.
pub(crate) async fn list(
    pool: &SqlitePool,
    project: Option<&ProjectId>,
) -> StoreResult<Vec<TokenRecord>> {
    let rows = match project {
        Some(p) => sqlx::query(&format!("SELECT {COLS} FROM tokens WHERE project = ? AND revoked_at IS NULL ORDER BY created_at, id"))
            .bind(p.as_str())
            .fetch_all(pool)
            .await,
        None => sqlx::query(&format!("SELECT {COLS} FROM tokens WHERE revoked_at IS NULL ORDER BY created_at, id")).fetch_all(pool).await,
    }
    .map_err(db_err)?;
    rows.iter().map(rows::token).collect()
}

pub(crate) async fn get(pool: &SqlitePool, id: &str) -> StoreResult<TokenRecord> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM tokens WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("token '{id}' not found")))?;
    rows::token(&row)
}

/// The token a credential names (revoked or not).
pub(crate) async fn find(
    pool: &SqlitePool,
    lookup: &TokenLookup,
) -> StoreResult<Option<TokenRecord>> {
    let (sql, key) = match lookup {
        TokenLookup::SecretHash(h) => (
            format!("SELECT {COLS} FROM tokens WHERE secret_hash = ? AND kind = 'bearer'"),
            h,
        ),
        TokenLookup::PublicKey(pk) => (
            format!("SELECT {COLS} FROM tokens WHERE public_key = ?"),
            pk,
        ),
    };
    sqlx::query(&sql)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(rows::token)
        .transpose()
}

/// The `scope` column of a token: JSON, or NULL for a token whose grants reach everywhere.
pub(crate) fn scope_column(scope: &promptreg_core::GrantScope) -> StoreResult<Option<String>> {
    if scope == &promptreg_core::GrantScope::default() {
        return Ok(None);
    }
    serde_json::to_string(scope)
        .map(Some)
        .map_err(StoreError::other)
}

/// Every project by id.
pub(crate) async fn list_projects(pool: &SqlitePool) -> StoreResult<Vec<ProjectRecord>> {
    let rows =
        sqlx::query("SELECT id, description, created_by, created_at FROM projects ORDER BY id")
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
    rows.iter().map(rows::project).collect()
}

/// One project.
pub(crate) async fn get_project(pool: &SqlitePool, id: &ProjectId) -> StoreResult<ProjectRecord> {
    let row =
        sqlx::query("SELECT id, description, created_by, created_at FROM projects WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("project '{id}' not found")))?;
    rows::project(&row)
}

/// Moves each token's `last_used_at` up to the given time (never back), in one statement:
/// the batch goes in as one JSON array of `[id, time]` pairs.
pub(crate) async fn record_use(
    conn: &mut sqlx::SqliteConnection,
    uses: &[(String, chrono::DateTime<chrono::Utc>)],
) -> StoreResult<()> {
    let batch: Vec<(&str, String)> = uses
        .iter()
        .map(|(id, at)| (id.as_str(), crate::ts(*at)))
        .collect();
    let json = serde_json::to_string(&batch).map_err(StoreError::other)?;
    sqlx::query(
        "UPDATE tokens SET last_used_at = v.at \
         FROM (SELECT json_extract(value, '$[0]') AS id, MAX(json_extract(value, '$[1]')) AS at \
               FROM json_each(?) GROUP BY 1) AS v \
         WHERE tokens.id = v.id AND (tokens.last_used_at IS NULL OR tokens.last_used_at < v.at)",
    )
    .bind(json)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}
