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
    // The start-up audit reads the whole log (1.2 million entries for a catalogue of 100,000
    // prompts), and sqlx hands SQLite rows over one by one through a channel at several
    // microseconds each. So the batch travels as one row: `seq US kind US body` joined by RS.
    // Canonical JSON escapes every control character inside strings, so neither separator
    // can occur in a body. The aggregate keeps the subquery's order (SQLite does, though it
    // does not promise it); the count and the order are checked, and a batch that does not
    // split cleanly (a row edited behind the server's back) is read again row by row.
    let packed: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT COUNT(*), group_concat(seq || char(31) || kind || char(31) || body, char(30)) \
           FROM (SELECT seq, kind, body FROM event_log \
                  WHERE project = ? AND seq > ? ORDER BY seq LIMIT ?)",
    )
    .bind(project.as_str())
    .bind(after)
    .bind(i64::from(limit))
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    let Some((count, joined)) = packed else {
        return Ok(Vec::new());
    };
    let joined = joined.unwrap_or_default();
    if let Some(entries) = split_packed(&joined, count) {
        return Ok(entries);
    }
    entries_by_row(pool, project, after, limit).await
}

/// The entries of a packed batch, or `None` when it does not hold `count` well-formed ones in
/// increasing `seq` order.
fn split_packed(joined: &str, count: i64) -> Option<Vec<LogEntry>> {
    if count == 0 {
        return Some(Vec::new());
    }
    let mut entries: Vec<LogEntry> = Vec::with_capacity(usize::try_from(count).ok()?);
    for piece in joined.split('\u{1e}') {
        let mut fields = piece.splitn(3, '\u{1f}');
        let seq = fields.next()?.parse().ok()?;
        if entries.last().is_some_and(|last| last.seq >= seq) {
            return None;
        }
        let kind = fields.next()?.to_owned();
        let body = fields.next()?.to_owned();
        entries.push(LogEntry { seq, kind, body });
    }
    (entries.len() as i64 == count).then_some(entries)
}

/// [`entries`], one row at a time.
async fn entries_by_row(
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

/// The last seq of every project's log: a skip over the `(project, seq)` key, one index
/// seek per project, where `GROUP BY project` reads every entry (the webhook dispatcher and
/// the change feed ask several times a second, and a large log holds millions).
const HEADS: &str = "WITH RECURSIVE p(project) AS ( \
         SELECT MIN(project) FROM event_log \
         UNION ALL \
         SELECT (SELECT MIN(project) FROM event_log WHERE project > p.project) FROM p \
         WHERE p.project IS NOT NULL \
     ) \
     SELECT project, (SELECT MAX(seq) FROM event_log e WHERE e.project = p.project) AS seq \
     FROM p WHERE project IS NOT NULL ORDER BY project";

/// The last seq of every project's log.
pub(crate) async fn heads(pool: &SqlitePool) -> StoreResult<Vec<(ProjectId, i64)>> {
    let rows = sqlx::query(HEADS).fetch_all(pool).await.map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let project = ProjectId::parse(r.get("project")).map_err(StoreError::other)?;
            Ok((project, r.get("seq")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_packed;

    #[test]
    fn a_packed_batch_splits_into_its_entries() {
        let joined = "1\u{1f}version_created\u{1f}{\"a\":1}\u{1e}2\u{1f}pointer_moved\u{1f}{\"b\":\"x\u{1f}y\"}";
        let entries = split_packed(joined, 2).expect("splits");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].seq, 1);
        assert_eq!(entries[0].kind, "version_created");
        assert_eq!(entries[0].body, "{\"a\":1}");
        // A unit separator inside a body stays in the body.
        assert_eq!(entries[1].body, "{\"b\":\"x\u{1f}y\"}");
    }

    #[test]
    fn a_batch_that_does_not_split_cleanly_is_refused() {
        // A record separator inside a body (an edited row) changes the count.
        let joined = "1\u{1f}version_created\u{1f}{\"a\":\"\u{1e}\"}";
        assert!(split_packed(joined, 1).is_none());
        assert!(split_packed("x\u{1f}k\u{1f}{}", 1).is_none());
        // Out of order: read again row by row.
        assert!(split_packed("2\u{1f}k\u{1f}{}\u{1e}1\u{1f}k\u{1f}{}", 2).is_none());
        assert_eq!(split_packed("", 0).map(|e| e.len()), Some(0));
    }
}
