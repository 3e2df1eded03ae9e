//! The event log: a dense sequence per project (`event_log`), each entry the canonical JSON
//! of an [`EventRecord`], announced with `NOTIFY` in the transaction that appends it.
//!
//! Appending is one round trip: the next `seq` (`MAX + 1`, safe because the unit of work holds
//! the project's writer lock, see `tx.rs`), the row, and `pg_notify` in one statement, which
//! may also carry a write the unit of work deferred (see `tx.rs`).
//! PostgreSQL delivers the notification at commit and drops it on rollback, so listeners hear
//! exactly the committed events, in commit order, which is `seq` order.

use promptreg_core::audit::{keys, AuditKeys};
use promptreg_core::{EventDraft, EventRecord, ProjectId};
use promptreg_store::audit::actor_id_pattern;
use promptreg_store::AuditFilter;
use serde::Deserialize;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::error::{corrupt, internal, Result};

/// PostgreSQL refuses a `NOTIFY` payload of this many bytes or more; a longer event is
/// announced by its key only ([`Announced`]) and listeners read it from the log.
pub(crate) const NOTIFY_LIMIT: i32 = 8000;

/// What a notification too long for the whole event carries: where to read it.
#[derive(Debug, Deserialize)]
pub(crate) struct Announced {
    /// The project whose log it is in.
    pub(crate) project: String,
    /// Its position there.
    pub(crate) seq: i64,
}

/// The statement that appends an event, after the data-modifying CTEs in `prelude` (each
/// followed by a comma; empty for none). The project is `$1`; the event's own values are
/// bound from `$first`, in the order [`bind`] binds them.
pub(crate) fn append_sql(prelude: &str, first: usize) -> String {
    append_sql_from(prelude, first, "")
}

/// [`append_sql`] whose `next` (and so the event) selects `FROM {from}`: an empty relation
/// there appends nothing.
pub(crate) fn append_sql_from(prelude: &str, first: usize, from: &str) -> String {
    let [kind, at, prefix, channel, limit, actor, action, prompt, env, subject] =
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(|i| first + i);
    format!(
        "WITH {prelude} next AS ( \
             SELECT (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_log WHERE project = $1) AS seq \
             {from} \
         ), logged AS ( \
             INSERT INTO event_log (project, seq, kind, at, body, actor, action, prompt, env, subject) \
             SELECT $1, seq, ${kind}, ${at}, ${prefix} || seq::text || '}}', \
                    ${actor}, ${action}, ${prompt}, ${env}, ${subject} FROM next \
             RETURNING seq, body \
         ) \
         SELECT seq, pg_notify(${channel}, CASE WHEN octet_length(body) < ${limit} THEN body \
             ELSE json_build_object('project', $1::text, 'seq', seq)::text END) \
         FROM logged"
    )
}

/// Binds the event's values of [`append_sql`] (after the project and any prelude's).
pub(crate) fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    draft: &'q EventDraft,
    prefix: &'q str,
    channel: &'q str,
    audit: &'q AuditKeys,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(draft.change.kind())
        .bind(draft.at)
        .bind(prefix)
        .bind(channel)
        .bind(NOTIFY_LIMIT)
        .bind(draft.actor.as_str())
        .bind(audit.action.as_str())
        .bind(audit.prompt.as_deref())
        .bind(audit.env.as_deref())
        .bind(audit.subject.as_str())
}

/// Appends `draft` to its project's log at the next `seq` and queues its notification on
/// `channel`. The caller holds the project's writer lock.
pub(crate) async fn append(
    conn: &mut PgConnection,
    channel: &str,
    draft: EventDraft,
) -> Result<EventRecord> {
    let prefix = body_prefix(&draft)?;
    let audit = keys(&draft.change);
    let sql = append_sql("", 2);
    let query = sqlx::query(&sql).bind(draft.change.project().as_str());
    let row = bind(query, &draft, &prefix, channel, &audit)
        .fetch_one(&mut *conn)
        .await?;
    logged(draft, &prefix, row.try_get("seq")?)
}

/// The record appended at `seq`, checked against the bytes the database spliced.
pub(crate) fn logged(draft: EventDraft, prefix: &str, seq: i64) -> Result<EventRecord> {
    let record = draft.at_seq(seq);
    // The stored bytes were spliced in SQL; they must be the record's canonical form, or the
    // log would hold something no replica or ledger can reproduce: refuse (and roll back).
    if record.canonical_bytes()
        != [prefix.as_bytes(), record.seq.to_string().as_bytes(), b"}"].concat()
    {
        return Err(corrupt(
            "event body",
            "the stored body is not the canonical form",
        ));
    }
    Ok(record)
}

/// The canonical body of `draft` up to its `seq`: canonical JSON sorts keys, and `seq` sorts
/// after every other field of an [`EventRecord`], so the body at any `seq` is this prefix,
/// the number and `}`. That lets the database pick the number and build the body in the
/// same statement that inserts it.
pub(crate) fn body_prefix(draft: &EventDraft) -> Result<String> {
    let template =
        String::from_utf8(draft.clone().at_seq(0).canonical_bytes()).map_err(internal)?;
    match template.strip_suffix("0}") {
        Some(prefix) if prefix.ends_with(",\"seq\":") => Ok(prefix.to_owned()),
        _ => Err(corrupt(
            "event layout",
            "`seq` is not the last key of an event record",
        )),
    }
}

/// Parses a stored (or notified) body.
pub(crate) fn parse(body: &str) -> Result<EventRecord> {
    EventRecord::from_bytes(body.as_bytes()).map_err(|e| corrupt("event", e))
}

/// Events of a project with `seq > after`, oldest first.
pub(crate) async fn after<'e, E>(
    executor: E,
    project: &ProjectId,
    after: i64,
    limit: u32,
) -> Result<Vec<EventRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query(
        "SELECT body FROM event_log WHERE project = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(project.as_str())
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await?;
    rows.iter().map(|row| parse(row.try_get("body")?)).collect()
}

/// Log entries of a project with `seq > after`, as stored.
pub(crate) async fn entries<'e, E>(
    executor: E,
    project: &ProjectId,
    after: i64,
    limit: u32,
) -> Result<Vec<promptreg_store::LogEntry>>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query(
        "SELECT seq, kind, body FROM event_log WHERE project = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(project.as_str())
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(promptreg_store::LogEntry {
                seq: row.try_get("seq")?,
                kind: row.try_get("kind")?,
                body: row.try_get("body")?,
            })
        })
        .collect()
}

/// One event, if it is in the log.
pub(crate) async fn one<'e, E>(executor: E, project: &str, seq: i64) -> Result<Option<EventRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let body: Option<String> =
        sqlx::query_scalar("SELECT body FROM event_log WHERE project = $1 AND seq = $2")
            .bind(project)
            .bind(seq)
            .fetch_optional(executor)
            .await?;
    body.as_deref().map(parse).transpose()
}

/// Changes of a project's log matching `filter`, newest first.
pub(crate) async fn audit<'e, E>(
    executor: E,
    project: &ProjectId,
    filter: &AuditFilter,
) -> Result<Vec<EventRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let mut q = QueryBuilder::<Postgres>::new("SELECT body FROM event_log WHERE project = ");
    q.push_bind(project.as_str().to_owned());
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
        q.push(" AND at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        q.push(" AND at < ").push_bind(until);
    }
    q.push(" ORDER BY seq DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
    let rows = q.build().fetch_all(executor).await?;
    rows.iter().map(|row| parse(row.try_get("body")?)).collect()
}

/// The newest change of `subject` before `before`.
pub(crate) async fn previous_of_subject<'e, E>(
    executor: E,
    project: &ProjectId,
    subject: &str,
    before: i64,
) -> Result<Option<EventRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let body: Option<String> = sqlx::query_scalar(
        "SELECT body FROM event_log WHERE project = $1 AND subject = $2 AND seq < $3 \
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(project.as_str())
    .bind(subject)
    .bind(before)
    .fetch_optional(executor)
    .await?;
    body.as_deref().map(parse).transpose()
}

/// Stores the audit keys of up to `limit` events appended before they existed, in one
/// statement.
pub(crate) async fn index_backlog(conn: &mut PgConnection, limit: u32) -> Result<u64> {
    let rows = sqlx::query(
        "SELECT project, seq, body FROM event_log WHERE subject IS NULL \
         ORDER BY project, seq LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let mut projects = Vec::with_capacity(rows.len());
    let mut seqs = Vec::with_capacity(rows.len());
    let mut columns: [Vec<Option<String>>; 5] = Default::default();
    for row in &rows {
        let body: String = row.try_get("body")?;
        let record = EventRecord::from_bytes(body.as_bytes()).ok();
        let audit = record.as_ref().map(|r| keys(&r.change));
        projects.push(row.try_get::<String, _>("project")?);
        seqs.push(row.try_get::<i64, _>("seq")?);
        columns[0].push(record.map(|r| r.actor));
        columns[1].push(audit.as_ref().map(|k| k.action.clone()));
        columns[2].push(audit.as_ref().and_then(|k| k.prompt.clone()));
        columns[3].push(audit.as_ref().and_then(|k| k.env.clone()));
        columns[4].push(Some(audit.map_or_else(String::new, |k| k.subject)));
    }
    let [actor, action, prompt, env, subject] = columns;
    sqlx::query(
        "UPDATE event_log e SET actor = u.actor, action = u.action, prompt = u.prompt, \
                env = u.env, subject = u.subject \
         FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::text[]) AS u(project, seq, actor, action, prompt, env, subject) \
         WHERE e.project = u.project AND e.seq = u.seq",
    )
    .bind(projects)
    .bind(seqs)
    .bind(actor)
    .bind(action)
    .bind(prompt)
    .bind(env)
    .bind(subject)
    .execute(&mut *conn)
    .await?;
    Ok(rows.len() as u64)
}

/// The last seq of every project's log: a skip over the `(project, seq)` key, one index
/// seek per project, where `GROUP BY project` reads every entry (the webhook dispatcher and
/// the change feed's poll ask several times a second, and a large log holds millions).
const HEADS: &str = "WITH RECURSIVE p(project) AS ( \
         SELECT MIN(project) FROM event_log \
         UNION ALL \
         SELECT (SELECT MIN(project) FROM event_log WHERE project > p.project) FROM p \
         WHERE p.project IS NOT NULL \
     ) \
     SELECT project, (SELECT MAX(seq) FROM event_log e WHERE e.project = p.project) AS seq \
     FROM p WHERE project IS NOT NULL ORDER BY project";

/// The last `seq` of every project's log.
pub(crate) async fn heads<'e, E>(executor: E) -> Result<Vec<(ProjectId, i64)>>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query(HEADS).fetch_all(executor).await?;
    rows.iter()
        .map(|row| {
            Ok((
                crate::rows::project(row.try_get("project")?)?,
                row.try_get("seq")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use promptreg_core::{ChangeEvent, EnvName, EventDraft, ProjectId};

    use super::body_prefix;

    /// The body spliced from the prefix is the canonical form at every seq, whatever the
    /// optional fields and however odd the text.
    #[test]
    fn the_prefix_and_the_number_are_the_canonical_body() {
        for (reason, request_id) in [
            (None, None),
            (
                Some("quote \" back\\slash\n é 🦀 \u{1}".to_owned()),
                Some("req-1".to_owned()),
            ),
        ] {
            let draft = EventDraft {
                at: Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap(),
                actor: "tok:ci".into(),
                reason,
                request_id,
                policies: Some(vec!["deployer-may-deploy".into()]),
                change: ChangeEvent::EnvironmentCreated {
                    project: ProjectId::default(),
                    env: EnvName::production(),
                },
            };
            let prefix = body_prefix(&draft).unwrap();
            for seq in [1, 9, 10, 123_456_789_012] {
                assert_eq!(
                    format!("{prefix}{seq}}}").into_bytes(),
                    draft.clone().at_seq(seq).canonical_bytes()
                );
            }
        }
    }
}
