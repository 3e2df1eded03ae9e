//! The walk a KEK rotation makes over every version, and the rewrap it writes.

use promptreg_core::ProjectId;
use promptreg_store::{Reseal, StoreError, StoreResult, StoredVersion, VersionKey};
use sqlx::{Row, SqlitePool};

use crate::rows::VERSION_COLS;
use crate::{db_err, rows};

pub(crate) async fn all_versions(
    pool: &SqlitePool,
    after: Option<&VersionKey>,
    limit: u32,
) -> StoreResult<Vec<(ProjectId, StoredVersion)>> {
    let (project, name, version) = match after {
        Some((p, n, v)) => (p.as_str(), n.as_str(), v.get()),
        None => ("", "", 0),
    };
    sqlx::query(&format!(
        "SELECT v.project, {VERSION_COLS} FROM versions v
         WHERE (v.project, v.name, v.version) > (?, ?, ?)
         ORDER BY v.project, v.name, v.version LIMIT ?"
    ))
    .bind(project)
    .bind(name)
    .bind(version)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| {
        let project = ProjectId::parse(r.get("project"))
            .map_err(|e| StoreError::Other(e.to_string().into()))?;
        Ok((project, rows::version(r)?))
    })
    .collect()
}

pub(crate) async fn reseal(pool: &SqlitePool, batch: &[Reseal]) -> StoreResult<u64> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let mut changed = 0;
    for r in batch {
        let s = &r.sealed;
        let q = match &r.from_kek {
            // A rewrap: the ciphertext and nonce stay as they are.
            Some(from) => sqlx::query(
                "UPDATE versions SET kek_id = ?, wrapped_key = ?
                 WHERE project = ? AND name = ? AND version = ? AND kek_id = ?
                   AND pruned_at IS NULL",
            )
            .bind(&s.kek_id)
            .bind(&s.wrapped_key)
            .bind(r.project.as_str())
            .bind(r.name.as_str())
            .bind(r.version.get())
            .bind(from),
            None => sqlx::query(
                "UPDATE versions SET content = 'null', sealed_alg = ?, kek_id = ?, wrapped_key = ?,
                        nonce = ?, ciphertext = ?
                 WHERE project = ? AND name = ? AND version = ? AND ciphertext IS NULL
                   AND pruned_at IS NULL",
            )
            .bind(&s.alg)
            .bind(&s.kek_id)
            .bind(&s.wrapped_key)
            .bind(&s.nonce)
            .bind(&s.ciphertext)
            .bind(r.project.as_str())
            .bind(r.name.as_str())
            .bind(r.version.get()),
        };
        changed += q.execute(&mut *tx).await.map_err(db_err)?.rows_affected();
    }
    tx.commit().await.map_err(db_err)?;
    Ok(changed)
}
