//! The change log: every write appends its [`ChangeEvent`] to `events` and `NOTIFY`s it, in
//! the write's own transaction, so the log, the notification and the change agree.

use chrono::{DateTime, Utc};
use promptreg_core::ChangeEvent;
use sqlx::{PgConnection, PgPool, Row};

use crate::error::{corrupt, internal, Result};

/// Appends `event` to the log and queues its notification on `channel` (PostgreSQL delivers
/// it when the transaction commits, and drops it on rollback).
pub(crate) async fn record(
    tx: &mut PgConnection,
    channel: &str,
    event: &ChangeEvent,
    at: DateTime<Utc>,
) -> Result<()> {
    let payload = serde_json::to_value(event).map_err(internal)?;
    // Ids come from a sequence when inserted, not when committed: two writers could commit in
    // the opposite order of their ids and a reader of `events_after` would skip the late one.
    // Holding this lock (per channel, so per schema) from taking the id until commit makes id
    // order commit order. It is taken last, after the write's row locks, so it cannot deadlock,
    // and committing a NOTIFY serialises on PostgreSQL's notify queue anyway.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(channel)
        .execute(&mut *tx)
        .await?;
    // The row and its notification in one round trip.
    sqlx::query(
        "WITH logged AS (INSERT INTO events (project, kind, payload, at) VALUES ($2, $3, $4, $5) RETURNING id) \
         SELECT pg_notify($1, $6) FROM logged",
    )
    .bind(channel)
    .bind(event.project().as_str())
    .bind(event.kind())
    .bind(&payload)
    .bind(at)
    .bind(payload.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Events with an id above `after`, oldest first.
pub(crate) async fn after(
    pool: &PgPool,
    after: i64,
    limit: u32,
) -> Result<Vec<(i64, ChangeEvent)>> {
    let rows = sqlx::query("SELECT id, payload FROM events WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let payload: serde_json::Value = row.try_get("payload")?;
            let event = serde_json::from_value(payload).map_err(|e| corrupt("event", e))?;
            Ok((row.try_get("id")?, event))
        })
        .collect()
}
