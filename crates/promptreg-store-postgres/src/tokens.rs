//! API tokens and key pairs, stored with the hash of their secret only.

use chrono::{DateTime, Utc};
use promptreg_core::{ChangeEvent, ProjectId};
use promptreg_store::{Committed, TokenRecord};

use crate::error::{already_exists, not_found, unique_violation, Result};
use crate::{events, rows, PgStore};

const COLUMNS: &str = "id, project, name, role, kind, public_key, secret_hash, created_by, \
     created_at, revoked_at";

/// Stores a new token; `Conflict { code: "already_exists" }` when its id, public key or
/// bearer secret is taken.
pub(crate) async fn create(store: &PgStore, token: TokenRecord) -> Result<Committed<TokenRecord>> {
    let mut tx = store.pool.begin().await?;
    let inserted = sqlx::query(&format!(
        "INSERT INTO tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         RETURNING {COLUMNS}"
    ))
    .bind(&token.id)
    .bind(token.project.as_str())
    .bind(&token.name)
    .bind(token.role.as_str())
    .bind(token.kind.as_str())
    .bind(&token.public_key)
    .bind(&token.secret_hash)
    .bind(&token.created_by)
    .bind(token.created_at)
    .bind(token.revoked_at)
    .fetch_one(&mut *tx)
    .await;
    let row = match inserted {
        Err(e) => {
            return Err(match unique_violation(&e).as_deref() {
                Some("tokens_pkey") => {
                    already_exists(format!("token '{}' already exists", token.id))
                }
                Some("tokens_public_key_key") => already_exists(format!(
                    "a key pair with public key '{}' already exists",
                    token.public_key.as_deref().unwrap_or_default()
                )),
                Some(_) => already_exists("a token with the same secret already exists"),
                None => e.into(),
            })
        }
        Ok(row) => row,
    };
    let created = rows::token(&row)?;
    let event = ChangeEvent::TokenCreated {
        project: created.project.clone(),
        id: created.id.clone(),
    };
    events::record(&mut tx, &store.channel, &event, token.created_at).await?;
    tx.commit().await?;
    Ok(Committed {
        value: created,
        event: Some(event),
    })
}

/// Active tokens of a project, newest first.
pub(crate) async fn list(store: &PgStore, project: &ProjectId) -> Result<Vec<TokenRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tokens WHERE project = $1 AND revoked_at IS NULL \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(project.as_str())
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(rows::token).collect()
}

/// One token, revoked or not.
pub(crate) async fn get(store: &PgStore, id: &str) -> Result<TokenRecord> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE id = $1"))
        .bind(id)
        .fetch_optional(&store.pool)
        .await?;
    match row {
        Some(row) => rows::token(&row),
        None => Err(not_found(format!("token '{id}' not found"))),
    }
}

/// Revokes an active token of the project.
pub(crate) async fn revoke(
    store: &PgStore,
    project: &ProjectId,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Committed<TokenRecord>> {
    let mut tx = store.pool.begin().await?;
    let row = sqlx::query(&format!(
        "UPDATE tokens SET revoked_at = $3 \
         WHERE project = $1 AND id = $2 AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(project.as_str())
    .bind(id)
    .bind(at)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(format!("token '{id}' not found")))?;
    let revoked = rows::token(&row)?;
    let event = ChangeEvent::TokenRevoked {
        project: project.clone(),
        id: revoked.id.clone(),
    };
    events::record(&mut tx, &store.channel, &event, at).await?;
    tx.commit().await?;
    Ok(Committed {
        value: revoked,
        event: Some(event),
    })
}

/// Active tokens of every project.
pub(crate) async fn load_all(store: &PgStore) -> Result<Vec<TokenRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tokens WHERE revoked_at IS NULL ORDER BY project, created_at, id"
    ))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(rows::token).collect()
}
