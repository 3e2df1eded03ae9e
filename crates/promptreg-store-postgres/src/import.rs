//! The SQL of the import steps ([`StoreTx::count_rows`](promptreg_store::StoreTx) and the
//! three after it): restoring an exported project into an empty one, in the unit of work.
//!
//! The restored log is not announced event by event: a replica that caught up by `seq` would
//! splice the new log onto the old one it had applied. Clearing the project queues one
//! notification instead, `{"reload": "<project>"}`, which listeners turn into
//! [`StoreNotice::Reload`](promptreg_store::StoreNotice::Reload) (see `listen.rs`).

use chrono::{DateTime, Utc};
use promptreg_core::ProjectId;
use promptreg_store::{LogEntry, ProjectCounts, SigningKeyRecord};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Row};

use crate::error::{already_exists, unique_violation, Result};

/// The notification that a project's log was replaced.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reload {
    /// The project.
    pub(crate) reload: String,
}

/// Counts the project's rows, in one statement.
pub(crate) async fn count_rows(
    conn: &mut PgConnection,
    project: &ProjectId,
) -> Result<ProjectCounts> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM versions WHERE project = $1) AS versions, \
                (SELECT COUNT(*) FROM deployments WHERE project = $1) AS deployments, \
                (SELECT COUNT(*) FROM rollouts WHERE project = $1) AS rollouts, \
                (SELECT COUNT(*) FROM tokens WHERE project = $1) AS tokens, \
                (SELECT COUNT(*) FROM webhooks WHERE project = $1) AS webhooks, \
                (SELECT COUNT(*) FROM environments WHERE project = $1) AS environments, \
                (SELECT COUNT(*) FROM event_log \
                  WHERE project = $1 AND kind <> 'environment_created') AS other_events",
    )
    .bind(project.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(ProjectCounts {
        versions: row.try_get("versions")?,
        deployments: row.try_get("deployments")?,
        rollouts: row.try_get("rollouts")?,
        tokens: row.try_get("tokens")?,
        webhooks: row.try_get("webhooks")?,
        environments: row.try_get("environments")?,
        other_events: row.try_get("other_events")?,
    })
}

/// Deletes the project's environments and event log, and queues the reload notification.
pub(crate) async fn clear(
    conn: &mut PgConnection,
    channel: &str,
    project: &ProjectId,
) -> Result<()> {
    let payload = serde_json::to_string(&Reload {
        reload: project.to_string(),
    })
    .map_err(crate::error::internal)?;
    sqlx::query(
        "WITH environments AS (DELETE FROM environments WHERE project = $1), \
              logged AS (DELETE FROM event_log WHERE project = $1) \
         SELECT pg_notify($2, $3)",
    )
    .bind(project.as_str())
    .bind(channel)
    .bind(payload)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Registers a key unless its id is known.
pub(crate) async fn signing_key(conn: &mut PgConnection, key: &SigningKeyRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (key_id, algorithm, public_key, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING",
    )
    .bind(&key.key_id)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(key.created_at)
    .bind(key.retired_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a log entry as given.
pub(crate) async fn event(
    conn: &mut PgConnection,
    project: &ProjectId,
    entry: &LogEntry,
    at: DateTime<Utc>,
) -> Result<()> {
    let record = promptreg_core::EventRecord::from_bytes(entry.body.as_bytes()).ok();
    let audit = record
        .as_ref()
        .map(|r| promptreg_core::audit::keys(&r.change));
    sqlx::query(
        "INSERT INTO event_log (project, seq, kind, at, body, actor, action, prompt, env, subject) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(project.as_str())
    .bind(entry.seq)
    .bind(&entry.kind)
    .bind(at)
    .bind(&entry.body)
    .bind(record.as_ref().map(|r| r.actor.as_str()))
    .bind(audit.as_ref().map(|k| k.action.as_str()))
    .bind(audit.as_ref().and_then(|k| k.prompt.as_deref()))
    .bind(audit.as_ref().and_then(|k| k.env.as_deref()))
    .bind(audit.as_ref().map_or("", |k| k.subject.as_str()))
    .execute(&mut *conn)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => already_exists(format!("the event log already has seq {}", entry.seq)),
            None => e.into(),
        })?;
    Ok(())
}
