//! Reading the event log (appending is a [`StoreTx`](promptreg_store::StoreTx) step, `tx.rs`).

use promptreg_core::{EventRecord, ProjectId};
use promptreg_store::{LogEntry, StoreError, StoreResult};
use sqlx::{Row, SqlitePool};

use crate::db_err;

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
