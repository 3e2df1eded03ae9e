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
