//! Tokens: stored by hash, revoked by timestamp, never deleted.

use chrono::{DateTime, Utc};
use promptreg_core::{ChangeEvent, ProjectId};
use promptreg_store::*;
use sqlx::SqlitePool;

use crate::{db_err, events, rows, ts};

const COLS: &str =
    "id, project, name, role, kind, public_key, secret_hash, created_by, created_at, revoked_at";

pub(crate) async fn create(
    writer: &SqlitePool,
    token: TokenRecord,
) -> StoreResult<Committed<TokenRecord>> {
    let mut tx = writer.begin().await.map_err(db_err)?;
    sqlx::query(&format!(
        "INSERT INTO tokens ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
    ))
    .bind(&token.id)
    .bind(token.project.as_str())
    .bind(&token.name)
    .bind(token.role.as_str())
    .bind(token.kind.as_str())
    .bind(&token.public_key)
    .bind(&token.secret_hash)
    .bind(&token.created_by)
    .bind(ts(token.created_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| match db_err(e) {
        StoreError::Conflict { code, .. } => StoreError::Conflict {
            code,
            message: format!("token '{}' already exists", token.id),
        },
        other => other,
    })?;
    let event = ChangeEvent::TokenCreated {
        project: token.project.clone(),
        id: token.id.clone(),
    };
    events::append(&mut tx, &event, token.created_at).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(Committed {
        value: token,
        event: Some(event),
    })
}

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

pub(crate) async fn revoke(
    writer: &SqlitePool,
    project: &ProjectId,
    id: &str,
    at: DateTime<Utc>,
) -> StoreResult<Committed<TokenRecord>> {
    let mut tx = writer.begin().await.map_err(db_err)?;
    let row = sqlx::query(&format!(
        "UPDATE tokens SET revoked_at = ? WHERE id = ? AND project = ? AND revoked_at IS NULL RETURNING {COLS}"
    ))
    .bind(ts(at))
    .bind(id)
    .bind(project.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NotFound(format!("token '{id}' not found or already revoked")))?;
    let token = rows::token(&row)?;
    let event = ChangeEvent::TokenRevoked {
        project: project.clone(),
        id: id.to_owned(),
    };
    events::append(&mut tx, &event, at).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(Committed {
        value: token,
        event: Some(event),
    })
}
