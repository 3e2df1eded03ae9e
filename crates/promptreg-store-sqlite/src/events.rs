//! Reading the event log (appending is a [`StoreTx`](promptreg_store::StoreTx) step, `tx.rs`).

use chrono::{DateTime, Utc};
use promptreg_core::audit::{keys, AuditKeys};
use promptreg_core::{EventRecord, ProjectId};
use promptreg_store::audit::actor_id_pattern;
use promptreg_store::{AuditFilter, LogEntry, StoreError, StoreResult};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::{db_err, ts};

/// Inserts one entry of a project's log with its audit keys (`None`: the body does not parse,
/// so it has none; it is still marked indexed).
pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    entry: &LogEntry,
    at: DateTime<Utc>,
    actor: Option<&str>,
    audit: Option<&AuditKeys>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO event_log (project, seq, kind, at, body, actor, action, prompt, env, subject)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(project.as_str())
    .bind(entry.seq)
    .bind(&entry.kind)
    .bind(ts(at))
    .bind(&entry.body)
    .bind(actor)
    .bind(audit.map(|k| k.action.as_str()))
    .bind(audit.and_then(|k| k.prompt.as_deref()))
    .bind(audit.and_then(|k| k.env.as_deref()))
    .bind(audit.map_or("", |k| k.subject.as_str()))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Changes of a project's log matching `filter`, newest first.
pub(crate) async fn audit(
    pool: &SqlitePool,
    project: &ProjectId,
    filter: &AuditFilter,
) -> StoreResult<Vec<EventRecord>> {
    let mut q = QueryBuilder::<Sqlite>::new("SELECT body FROM event_log WHERE project = ");
    q.push_bind(project.as_str());
    if let Some(before) = filter.before_seq {
        q.push(" AND seq < ").push_bind(before);
    }
    if let Some(actor) = &filter.actor {
        q.push(" AND (actor = ")
            .push_bind(actor.clone())
            .push(" OR actor LIKE ")
            .push_bind(actor_id_pattern(actor))
            .push(" ESCAPE '\\')");
    }
    if let Some(prompt) = &filter.prompt {
        q.push(" AND prompt = ").push_bind(prompt.clone());
    }
    if let Some(env) = &filter.env {
        q.push(" AND env = ").push_bind(env.clone());
    }
    if let Some(action) = &filter.action {
        q.push(" AND (action = ")
            .push_bind(action.clone())
            .push(" OR kind = ")
            .push_bind(action.clone())
            .push(")");
    }
    if let Some(since) = filter.since {
        q.push(" AND at >= ").push_bind(ts(since));
    }
    if let Some(until) = filter.until {
        q.push(" AND at < ").push_bind(ts(until));
    }
    q.push(" ORDER BY seq DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
    let rows = q.build().fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(parse_body).collect()
}

/// The newest change of `subject` before `before`.
pub(crate) async fn previous_of_subject(
    pool: &SqlitePool,
    project: &ProjectId,
    subject: &str,
    before: i64,
) -> StoreResult<Option<EventRecord>> {
    let row = sqlx::query(
        "SELECT body FROM event_log WHERE project = ? AND subject = ? AND seq < ?
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(project.as_str())
    .bind(subject)
    .bind(before)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.as_ref().map(parse_body).transpose()
}

/// Stores the audit keys of up to `limit` events appended before they existed.
pub(crate) async fn index_backlog(pool: &SqlitePool, limit: u32) -> StoreResult<u64> {
    let rows = sqlx::query(
        "SELECT project, seq, body FROM event_log WHERE subject IS NULL ORDER BY project, seq LIMIT ?",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut tx = pool.begin().await.map_err(db_err)?;
    for row in &rows {
        let body: String = row.get("body");
        let record = EventRecord::from_bytes(body.as_bytes()).ok();
        let audit = record.as_ref().map(|r| keys(&r.change));
        sqlx::query(
            "UPDATE event_log SET actor = ?, action = ?, prompt = ?, env = ?, subject = ?
             WHERE project = ? AND seq = ?",
        )
        .bind(record.as_ref().map(|r| r.actor.as_str()))
        .bind(audit.as_ref().map(|k| k.action.as_str()))
        .bind(audit.as_ref().and_then(|k| k.prompt.as_deref()))
        .bind(audit.as_ref().and_then(|k| k.env.as_deref()))
        .bind(audit.as_ref().map_or("", |k| k.subject.as_str()))
        .bind(row.get::<String, _>("project"))
        .bind(row.get::<i64, _>("seq"))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(rows.len() as u64)
}

fn parse_body(row: &sqlx::sqlite::SqliteRow) -> StoreResult<EventRecord> {
    let body: String = row.get("body");
    EventRecord::from_bytes(body.as_bytes()).map_err(StoreError::other)
}

/// Events of a project after `after`, oldest first.
pub(crate) async fn after(
    pool: &SqlitePool,
    project: &ProjectId,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<EventRecord>> {
    let rows = sqlx::query(
        "SELECT body FROM event_log WHERE project = ? AND seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(project.as_str())
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let body: String = r.get("body");
            EventRecord::from_bytes(body.as_bytes()).map_err(StoreError::other)
        })
        .collect()
}

/// Log entries of a project after `after`, as stored.
pub(crate) async fn entries(
    pool: &SqlitePool,
    project: &ProjectId,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<LogEntry>> {
    let rows = sqlx::query(
        "SELECT seq, kind, body FROM event_log WHERE project = ? AND seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(project.as_str())
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows
        .iter()
        .map(|r| LogEntry {
            seq: r.get("seq"),
            kind: r.get("kind"),
            body: r.get("body"),
        })
        .collect())
}

/// The last seq of every project's log.
pub(crate) async fn heads(pool: &SqlitePool) -> StoreResult<Vec<(ProjectId, i64)>> {
    let rows = sqlx::query("SELECT project, MAX(seq) AS seq FROM event_log GROUP BY project")
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let project = ProjectId::parse(r.get("project")).map_err(StoreError::other)?;
            Ok((project, r.get("seq")))
        })
        .collect()
}
