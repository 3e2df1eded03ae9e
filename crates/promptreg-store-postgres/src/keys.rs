//! The server's public signing keys (the private halves never reach the database).

use promptreg_store::SigningKeyRecord;
use sqlx::{PgPool, Row};

use crate::error::Result;

pub(crate) async fn list(pool: &PgPool) -> Result<Vec<SigningKeyRecord>> {
    let rows = sqlx::query(
        "SELECT key_id, algorithm, public_key, created_at, retired_at FROM signing_keys \
         ORDER BY created_at, key_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SigningKeyRecord {
                key_id: r.try_get("key_id")?,
                algorithm: r.try_get("algorithm")?,
                public_key: r.try_get("public_key")?,
                created_at: r.try_get("created_at")?,
                retired_at: r.try_get("retired_at")?,
            })
        })
        .collect()
}

pub(crate) async fn add(pool: &PgPool, key: &SigningKeyRecord, retire: Option<&str>) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO signing_keys (key_id, algorithm, public_key, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING",
    )
    .bind(&key.key_id)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(key.created_at)
    .bind(key.retired_at)
    .execute(&mut *tx)
    .await?;
    if let Some(old) = retire {
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE key_id = $2 AND retired_at IS NULL",
        )
        .bind(key.created_at)
        .bind(old)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
