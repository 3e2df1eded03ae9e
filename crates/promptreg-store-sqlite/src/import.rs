//! The SQL of the import steps ([`StoreTx::count_rows`](promptreg_store::StoreTx) and the
//! three after it): restoring an exported project into an empty one, in the unit of work.

use chrono::{DateTime, Utc};
use promptreg_core::ProjectId;
use promptreg_store::{LogEntry, ProjectCounts, SigningKeyRecord, StoreResult};
use sqlx::{Row, Sqlite, Transaction};

use crate::{db_err, ts};

/// Counts the project's rows, in one statement.
pub(crate) async fn count_rows(
    tx: &mut Transaction<'static, Sqlite>,
    project: &ProjectId,
) -> StoreResult<ProjectCounts> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM versions WHERE project = ?1) AS versions,
                (SELECT COUNT(*) FROM deployments WHERE project = ?1) AS deployments,
                (SELECT COUNT(*) FROM rollouts WHERE project = ?1) AS rollouts,
                (SELECT COUNT(*) FROM tokens WHERE project = ?1) AS tokens,
                (SELECT COUNT(*) FROM webhooks WHERE project = ?1) AS webhooks,
                (SELECT COUNT(*) FROM environments WHERE project = ?1) AS environments,
                (SELECT COUNT(*) FROM event_log
                  WHERE project = ?1 AND kind <> 'environment_created') AS other_events",
    )
    .bind(project.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(ProjectCounts {
        versions: row.get("versions"),
        deployments: row.get("deployments"),
        rollouts: row.get("rollouts"),
        tokens: row.get("tokens"),
        webhooks: row.get("webhooks"),
        environments: row.get("environments"),
        other_events: row.get("other_events"),
    })
}

/// Deletes the project's environments and event log (an embedded database has no other
/// process to tell).
pub(crate) async fn clear(
    tx: &mut Transaction<'static, Sqlite>,
    project: &ProjectId,
) -> StoreResult<()> {
    for sql in [
        "DELETE FROM environments WHERE project = ?",
        "DELETE FROM event_log WHERE project = ?",
    ] {
        sqlx::query(sql)
            .bind(project.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Registers a key unless its id is known.
pub(crate) async fn signing_key(
    tx: &mut Transaction<'static, Sqlite>,
    key: &SigningKeyRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (key_id, algorithm, public_key, created_at, retired_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
    )
    .bind(&key.key_id)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(ts(key.created_at))
    .bind(key.retired_at.map(ts))
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Inserts a log entry as given.
pub(crate) async fn event(
    tx: &mut Transaction<'static, Sqlite>,
    project: &ProjectId,
    entry: &LogEntry,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let record = promptreg_core::EventRecord::from_bytes(entry.body.as_bytes()).ok();
    let audit = record
        .as_ref()
        .map(|r| promptreg_core::audit::keys(&r.change));
    crate::events::insert(
        tx,
        project,
        entry,
        at,
        record.as_ref().map(|r| r.actor.as_str()),
        audit.as_ref(),
    )
    .await
}
