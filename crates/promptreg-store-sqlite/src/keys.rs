//! The server's public signing keys (the private halves never reach the database).

use promptreg_store::{SigningKeyRecord, StoreResult};
use sqlx::{Row, SqlitePool};

use crate::{db_err, rows, ts};

pub(crate) async fn list(pool: &SqlitePool) -> StoreResult<Vec<SigningKeyRecord>> {
    let rows = sqlx::query(
        "SELECT key_id, algorithm, public_key, created_at, retired_at FROM signing_keys
         ORDER BY created_at, key_id",
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(SigningKeyRecord {
                key_id: r.get("key_id"),
                algorithm: r.get("algorithm"),
                public_key: r.get("public_key"),
                created_at: rows::time(r, "created_at")?,
                retired_at: rows::opt_time(r, "retired_at")?,
            })
        })
        .collect()
}

pub(crate) async fn add(
    writer: &SqlitePool,
    key: &SigningKeyRecord,
    retire: Option<&str>,
) -> StoreResult<()> {
    let mut tx = writer.begin().await.map_err(db_err)?;
    sqlx::query(
        "INSERT INTO signing_keys (key_id, algorithm, public_key, created_at, retired_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
    )
    .bind(&key.key_id)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(ts(key.created_at))
    .bind(key.retired_at.map(ts))
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    if let Some(old) = retire {
        sqlx::query(
            "UPDATE signing_keys SET retired_at = ? WHERE key_id = ? AND retired_at IS NULL",
        )
        .bind(ts(key.created_at))
        .bind(old)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}
