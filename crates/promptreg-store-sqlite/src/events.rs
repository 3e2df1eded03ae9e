//! The append-only event log, written inside each write transaction.

use chrono::{DateTime, Utc};
use promptreg_core::ChangeEvent;
use promptreg_store::{StoreError, StoreResult};
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::{db_err, ts};

/// Appends `event` on the transaction's connection.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    event: &ChangeEvent,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let payload = serde_json::to_string(event).map_err(StoreError::other)?;
    sqlx::query("INSERT INTO events (project, kind, payload, at) VALUES (?, ?, ?, ?)")
        .bind(event.project().as_str())
        .bind(event.kind())
        .bind(payload)
        .bind(ts(at))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Events after an id, oldest first.
pub(crate) async fn after(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<(i64, ChangeEvent)>> {
    let rows = sqlx::query("SELECT id, payload FROM events WHERE id > ? ORDER BY id LIMIT ?")
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let payload: String = r.get("payload");
            let event = serde_json::from_str(&payload).map_err(StoreError::other)?;
            Ok((r.get("id"), event))
        })
        .collect()
}
