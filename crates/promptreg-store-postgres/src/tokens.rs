//! API tokens and key pairs, stored with the hash of their secret only: the reads (tokens are
//! inserted and revoked by the unit of work, `tx.rs`).

use promptreg_core::ProjectId;
use promptreg_store::{TokenLookup, TokenRecord};

use crate::error::{already_exists, not_found, unique_violation, Error, Result};
use crate::{rows, PgStore};

/// The columns of `tokens` that [`rows::token`] reads.
pub(crate) const COLUMNS: &str = "id, project, name, role, kind, public_key, secret_hash, \
     created_by, created_at, revoked_at";

/// The conflict a failed token insert is, naming what is taken; other errors as they are.
pub(crate) fn insert_error(e: sqlx::Error, token: &TokenRecord) -> Error {
    match unique_violation(&e).as_deref() {
        Some("tokens_pkey") => already_exists(format!("token '{}' already exists", token.id)),
        Some("tokens_public_key_key") => already_exists(format!(
            "a key pair with public key '{}' already exists",
            token.public_key.as_deref().unwrap_or_default()
        )),
        Some(_) => already_exists("a token with the same secret already exists"),
        None => e.into(),
    }
}

/// Active tokens of a project, oldest first (as on SQLite).
pub(crate) async fn list(store: &PgStore, project: &ProjectId) -> Result<Vec<TokenRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tokens WHERE project = $1 AND revoked_at IS NULL \
         ORDER BY created_at, id"
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

/// The token a credential names, revoked or not: a bearer token by the hash of its secret
/// (unique among bearer tokens), a key pair by its public key (unique).
pub(crate) async fn find(store: &PgStore, lookup: &TokenLookup) -> Result<Option<TokenRecord>> {
    let (query, key) = match lookup {
        TokenLookup::SecretHash(hash) => (
            format!("SELECT {COLUMNS} FROM tokens WHERE secret_hash = $1 AND kind = 'bearer'"),
            hash,
        ),
        TokenLookup::PublicKey(key) => (
            format!("SELECT {COLUMNS} FROM tokens WHERE public_key = $1"),
            key,
        ),
    };
    let row = sqlx::query(&query)
        .bind(key)
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref().map(rows::token).transpose()
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
