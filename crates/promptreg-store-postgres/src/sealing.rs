//! The walk a KEK rotation makes over every version, and the rewrap it writes.

use promptreg_core::ProjectId;
use promptreg_store::{Reseal, StoredVersion, VersionKey};
use sqlx::Row;

use crate::error::Result;
use crate::rows::{self, VERSION_COLUMNS};
use crate::PgStore;

pub(crate) async fn all_versions(
    store: &PgStore,
    after: Option<&VersionKey>,
    limit: u32,
) -> Result<Vec<(ProjectId, StoredVersion)>> {
    let (project, name, version) = match after {
        Some((p, n, v)) => (p.as_str(), n.as_str(), v.get()),
        None => ("", "", 0),
    };
    // `project` and `name` are `COLLATE "C"`: the row comparison is byte order, as SQLite's.
    let rows = sqlx::query(&format!(
        "SELECT v.project AS version_project, {VERSION_COLUMNS} FROM versions v \
         WHERE (v.project, v.name, v.version) > ($1, $2, $3) \
         ORDER BY v.project, v.name, v.version LIMIT $4"
    ))
    .bind(project)
    .bind(name)
    .bind(version)
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                rows::project(row.try_get("version_project")?)?,
                rows::version(row)?,
            ))
        })
        .collect()
}

pub(crate) async fn reseal(store: &PgStore, batch: &[Reseal]) -> Result<u64> {
    let mut tx = store.pool.begin().await?;
    let mut changed = 0;
    for r in batch {
        let s = &r.sealed;
        let q = match &r.from_kek {
            // A rewrap: the ciphertext and nonce stay as they are.
            Some(from) => sqlx::query(
                "UPDATE versions SET kek_id = $1, wrapped_key = $2 \
                 WHERE project = $3 AND name = $4 AND version = $5 AND kek_id = $6 \
                   AND pruned_at IS NULL",
            )
            .bind(&s.kek_id)
            .bind(&s.wrapped_key)
            .bind(r.project.as_str())
            .bind(r.name.as_str())
            .bind(r.version.get())
            .bind(from),
            None => sqlx::query(
                "UPDATE versions SET content = NULL, sealed_alg = $1, kek_id = $2, \
                        wrapped_key = $3, nonce = $4, ciphertext = $5 \
                 WHERE project = $6 AND name = $7 AND version = $8 AND ciphertext IS NULL \
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
        changed += q.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(changed)
}
