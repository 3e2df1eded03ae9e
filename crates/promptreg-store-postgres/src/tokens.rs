//! API tokens and key pairs, stored with the hash of their secret only: the reads (tokens are
//! inserted and revoked by the unit of work, `tx.rs`).

use promptreg_core::ProjectId;
use promptreg_store::{ProjectRecord, TokenLookup, TokenRecord};

use crate::error::{already_exists, not_found, unique_violation, Error, Result};
use crate::{rows, PgStore};

/// The columns of `tokens` that [`rows::token`] reads.
pub(crate) const COLUMNS: &str = "id, project, name, role, kind, public_key, secret_hash, \
     created_by, created_at, revoked_at, scope, expires_at, last_used_at";

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

/// The `scope` column of a token: JSON, or NULL for a token whose grants reach everywhere.
pub(crate) fn scope_column(scope: &promptreg_core::GrantScope) -> Option<serde_json::Value> {
    (scope != &promptreg_core::GrantScope::default())
        .then(|| serde_json::to_value(scope).unwrap_or_default())
}

/// Every project by id.
pub(crate) async fn list_projects(store: &PgStore) -> Result<Vec<ProjectRecord>> {
    let rows =
        sqlx::query("SELECT id, description, created_by, created_at FROM projects ORDER BY id")
            .fetch_all(&store.pool)
            .await?;
    rows.iter().map(rows::project_row).collect()
}

/// One project.
pub(crate) async fn get_project(store: &PgStore, id: &ProjectId) -> Result<ProjectRecord> {
    let row =
        sqlx::query("SELECT id, description, created_by, created_at FROM projects WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&store.pool)
            .await?;
    match row {
        Some(row) => rows::project_row(&row),
        None => Err(not_found(format!("project '{id}' not found"))),
    }
}

/// Moves each token's `last_used_at` up to the given time, never back (replicas flush their
/// own observations; the latest wins), in one statement.
pub(crate) async fn record_use(
    store: &PgStore,
    uses: &[(String, chrono::DateTime<chrono::Utc>)],
) -> Result<()> {
    let ids: Vec<&str> = uses.iter().map(|(id, _)| id.as_str()).collect();
    let times: Vec<chrono::DateTime<chrono::Utc>> = uses.iter().map(|(_, at)| *at).collect();
    sqlx::query(
        "UPDATE tokens AS t SET last_used_at = v.at \
         FROM (SELECT id, MAX(at) AS at FROM UNNEST($1::text[], $2::timestamptz[]) AS u(id, at) \
               GROUP BY id) AS v \
         WHERE t.id = v.id AND (t.last_used_at IS NULL OR t.last_used_at < v.at)",
    )
    .bind(ids)
    .bind(times)
    .execute(&store.pool)
    .await?;
    Ok(())
}
