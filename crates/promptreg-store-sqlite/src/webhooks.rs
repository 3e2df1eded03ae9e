//! The SQL of webhooks: the unit-of-work steps (create, delete), the dispatcher's progress
//! (lease, cursor, deliveries) and the reads.

use chrono::{DateTime, Utc};
use promptreg_core::ProjectId;
use promptreg_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{db_err, rows, ts};

const COLS: &str =
    "project, id, url, events, description, secret, created_by, created_at, cursor_seq";
const DELIVERY_COLS: &str = "project, webhook, seq, event, status, attempts, response_code, \
    error, first_attempt_at, last_attempt_at, next_attempt_at, duration_ms";

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored webhook {col} does not decode: {e}").into())
}

fn decode(row: &SqliteRow) -> StoreResult<WebhookRecord> {
    let project: String = row.try_get("project").map_err(StoreError::other)?;
    let events: String = row.try_get("events").map_err(StoreError::other)?;
    Ok(WebhookRecord {
        id: row.try_get("id").map_err(StoreError::other)?,
        project: ProjectId::parse(&project).map_err(|e| corrupt("project", e))?,
        url: row.try_get("url").map_err(StoreError::other)?,
        events: serde_json::from_str(&events).map_err(|e| corrupt("events", e))?,
        description: row.try_get("description").map_err(StoreError::other)?,
        secret: row.try_get("secret").map_err(StoreError::other)?,
        created_by: row.try_get("created_by").map_err(StoreError::other)?,
        created_at: rows::time(row, "created_at")?,
        cursor: row.try_get("cursor_seq").map_err(StoreError::other)?,
    })
}

fn decode_delivery(row: &SqliteRow) -> StoreResult<DeliveryRecord> {
    let project: String = row.try_get("project").map_err(StoreError::other)?;
    let status: String = row.try_get("status").map_err(StoreError::other)?;
    let code: Option<i64> = row.try_get("response_code").map_err(StoreError::other)?;
    let attempts: i64 = row.try_get("attempts").map_err(StoreError::other)?;
    Ok(DeliveryRecord {
        project: ProjectId::parse(&project).map_err(|e| corrupt("project", e))?,
        webhook: row.try_get("webhook").map_err(StoreError::other)?,
        seq: row.try_get("seq").map_err(StoreError::other)?,
        event: row.try_get("event").map_err(StoreError::other)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        attempts: u32::try_from(attempts).map_err(|e| corrupt("attempts", e))?,
        response_code: code
            .map(|c| u16::try_from(c).map_err(|e| corrupt("response_code", e)))
            .transpose()?,
        error: row.try_get("error").map_err(StoreError::other)?,
        first_attempt_at: rows::time(row, "first_attempt_at")?,
        last_attempt_at: rows::time(row, "last_attempt_at")?,
        next_attempt_at: rows::opt_time(row, "next_attempt_at")?,
        duration_ms: row.try_get("duration_ms").map_err(StoreError::other)?,
    })
}

pub(crate) async fn insert(conn: &mut SqliteConnection, w: &WebhookRecord) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO webhooks ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(w.project.as_str())
    .bind(&w.id)
    .bind(&w.url)
    .bind(serde_json::to_string(&w.events).map_err(StoreError::other)?)
    .bind(&w.description)
    .bind(&w.secret)
    .bind(&w.created_by)
    .bind(ts(w.created_at))
    .bind(w.cursor)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn delete(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    id: &str,
) -> StoreResult<Option<WebhookRecord>> {
    let gone = sqlx::query(&format!(
        "DELETE FROM webhooks WHERE project = ? AND id = ? RETURNING {COLS}"
    ))
    .bind(project.as_str())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?
    .as_ref()
    .map(decode)
    .transpose()?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE project = ? AND webhook = ?")
        .bind(project.as_str())
        .bind(id)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(gone)
}

pub(crate) async fn list(
    conn: &mut SqliteConnection,
    project: Option<&ProjectId>,
    id: Option<&str>,
) -> StoreResult<Vec<WebhookRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM webhooks WHERE (? IS NULL OR project = ?) AND (? IS NULL OR id = ?)
         ORDER BY project, created_at, id"
    ))
    .bind(project.map(ProjectId::as_str))
    .bind(project.map(ProjectId::as_str))
    .bind(id)
    .bind(id)
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE webhooks SET lease_owner = ?, lease_until = ?
          WHERE project = ? AND id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
    )
    .bind(owner)
    .bind(ts(until))
    .bind(project.as_str())
    .bind(id)
    .bind(owner)
    .bind(ts(now))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn advance(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    id: &str,
    cursor: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE webhooks SET cursor_seq = MAX(cursor_seq, ?) WHERE project = ? AND id = ?",
    )
    .bind(cursor)
    .bind(project.as_str())
    .bind(id)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

/// Writes a delivery (the caller holds a transaction, so the cursor moves with it).
pub(crate) async fn save_delivery(
    conn: &mut SqliteConnection,
    d: &DeliveryRecord,
) -> StoreResult<()> {
    let settled = d.status != DeliveryStatus::Pending;
    let cursor = if settled { d.seq } else { 0 };
    if !advance(&mut *conn, &d.project, &d.webhook, cursor).await? {
        return Err(StoreError::NotFound(format!(
            "webhook '{}' not found",
            d.webhook
        )));
    }
    sqlx::query(&format!(
        "INSERT OR REPLACE INTO webhook_deliveries ({DELIVERY_COLS})
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(d.project.as_str())
    .bind(&d.webhook)
    .bind(d.seq)
    .bind(&d.event)
    .bind(d.status.as_str())
    .bind(i64::from(d.attempts))
    .bind(d.response_code.map(i64::from))
    .bind(&d.error)
    .bind(ts(d.first_attempt_at))
    .bind(ts(d.last_attempt_at))
    .bind(d.next_attempt_at.map(ts))
    .bind(d.duration_ms)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn deliveries(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    id: &str,
    page: &PageRequest<i64>,
) -> StoreResult<Vec<DeliveryRecord>> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLS} FROM webhook_deliveries
          WHERE project = ? AND webhook = ? AND (? IS NULL OR seq < ?)
          ORDER BY seq DESC LIMIT ?"
    ))
    .bind(project.as_str())
    .bind(id)
    .bind(page.after)
    .bind(page.after)
    .bind(i64::from(page.limit))
    .fetch_all(conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(decode_delivery)
    .collect()
}
