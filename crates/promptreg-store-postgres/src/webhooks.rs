//! The SQL of webhooks: the unit-of-work steps (create, delete), the dispatcher's progress
//! (lease, cursor, deliveries) and the reads.

use chrono::{DateTime, Utc};
use promptreg_core::ProjectId;
use promptreg_store::{DeliveryRecord, DeliveryStatus, PageRequest, WebhookRecord};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::error::{corrupt, internal, not_found, Result};
use crate::rows;

const COLS: &str =
    "project, id, url, events, description, secret, created_by, created_at, cursor_seq";
const DELIVERY_COLS: &str = "project, webhook, seq, event, status, attempts, response_code, \
    error, first_attempt_at, last_attempt_at, next_attempt_at, duration_ms";

fn decode(row: &PgRow) -> Result<WebhookRecord> {
    let events: serde_json::Value = row.try_get("events")?;
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        project: rows::project(row.try_get("project")?)?,
        url: row.try_get("url")?,
        events: serde_json::from_value(events).map_err(|e| corrupt("webhook events", e))?,
        description: row.try_get("description")?,
        secret: row.try_get("secret")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        cursor: row.try_get("cursor_seq")?,
    })
}

fn decode_delivery(row: &PgRow) -> Result<DeliveryRecord> {
    let status: String = row.try_get("status")?;
    let code: Option<i32> = row.try_get("response_code")?;
    let attempts: i32 = row.try_get("attempts")?;
    Ok(DeliveryRecord {
        project: rows::project(row.try_get("project")?)?,
        webhook: row.try_get("webhook")?,
        seq: row.try_get("seq")?,
        event: row.try_get("event")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt("delivery status", &status))?,
        attempts: u32::try_from(attempts).map_err(|e| corrupt("delivery attempts", e))?,
        response_code: code
            .map(|c| u16::try_from(c).map_err(|e| corrupt("delivery response code", e)))
            .transpose()?,
        error: row.try_get("error")?,
        first_attempt_at: row.try_get("first_attempt_at")?,
        last_attempt_at: row.try_get("last_attempt_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        duration_ms: row.try_get("duration_ms")?,
    })
}

pub(crate) async fn insert(conn: &mut PgConnection, w: &WebhookRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO webhooks ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(w.project.as_str())
    .bind(&w.id)
    .bind(&w.url)
    .bind(serde_json::to_value(&w.events).map_err(internal)?)
    .bind(&w.description)
    .bind(&w.secret)
    .bind(&w.created_by)
    .bind(w.created_at)
    .bind(w.cursor)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn delete(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &str,
) -> Result<Option<WebhookRecord>> {
    let gone = sqlx::query(&format!(
        "DELETE FROM webhooks WHERE project = $1 AND id = $2 RETURNING {COLS}"
    ))
    .bind(project.as_str())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(decode)
    .transpose()?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE project = $1 AND webhook = $2")
        .bind(project.as_str())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(gone)
}

pub(crate) async fn list(
    conn: &mut PgConnection,
    project: Option<&ProjectId>,
    id: Option<&str>,
) -> Result<Vec<WebhookRecord>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM webhooks
          WHERE ($1::text IS NULL OR project = $1) AND ($2::text IS NULL OR id = $2)
          ORDER BY project, created_at, id"
    ))
    .bind(project.map(ProjectId::as_str))
    .bind(id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(decode)
    .collect()
}

pub(crate) async fn claim(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhooks SET lease_owner = $1, lease_until = $2
          WHERE project = $3 AND id = $4
            AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $5)",
    )
    .bind(owner)
    .bind(until)
    .bind(project.as_str())
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn advance(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &str,
    cursor: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhooks SET cursor_seq = GREATEST(cursor_seq, $1) WHERE project = $2 AND id = $3",
    )
    .bind(cursor)
    .bind(project.as_str())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes a delivery (the caller holds a transaction, so the cursor moves with it).
pub(crate) async fn save_delivery(conn: &mut PgConnection, d: &DeliveryRecord) -> Result<()> {
    let cursor = if d.status == DeliveryStatus::Pending {
        0
    } else {
        d.seq
    };
    if !advance(&mut *conn, &d.project, &d.webhook, cursor).await? {
        return Err(not_found(format!("webhook '{}' not found", d.webhook)));
    }
    sqlx::query(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (project, webhook, seq) DO UPDATE SET
           status = excluded.status, attempts = excluded.attempts,
           response_code = excluded.response_code, error = excluded.error,
           last_attempt_at = excluded.last_attempt_at, next_attempt_at = excluded.next_attempt_at,
           duration_ms = excluded.duration_ms"
    ))
    .bind(d.project.as_str())
    .bind(&d.webhook)
    .bind(d.seq)
    .bind(&d.event)
    .bind(d.status.as_str())
    .bind(i32::try_from(d.attempts).unwrap_or(i32::MAX))
    .bind(d.response_code.map(i32::from))
    .bind(&d.error)
    .bind(d.first_attempt_at)
    .bind(d.last_attempt_at)
    .bind(d.next_attempt_at)
    .bind(d.duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn deliveries(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: &str,
    page: &PageRequest<i64>,
) -> Result<Vec<DeliveryRecord>> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLS} FROM webhook_deliveries
          WHERE project = $1 AND webhook = $2 AND ($3::bigint IS NULL OR seq < $3)
          ORDER BY seq DESC LIMIT $4"
    ))
    .bind(project.as_str())
    .bind(id)
    .bind(page.after)
    .bind(i64::from(page.limit))
    .fetch_all(conn)
    .await?
    .iter()
    .map(decode_delivery)
    .collect()
}
