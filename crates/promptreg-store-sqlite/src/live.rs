//! Every live pointer with its version, read in packed batches: each batch of pointers (in key
//! order) comes back as one row holding a JSON array of rows, built by SQLite. Handing
//! 200,000 rows to sqlx one at a time cost about 40 µs each (a channel hand-off and a row's
//! allocations per row), most of a large registry's start-up; one packed batch of 5,000 is
//! parsed by serde in a few milliseconds. A batch that does not decode (a row edited behind
//! the server's back, content that is not JSON) is read again row by row, which reports the
//! row that is wrong.

use chrono::{DateTime, Utc};
use promptreg_core::{Digest, EnvName, Metadata, ProjectId, PromptName, Version};
use promptreg_store::codec::{self, SealedColumns};
use promptreg_store::{
    DeployedVersion, LivePointer, StoreError, StoreResult, StoredContent, VersionRecord,
};
use serde::Deserialize;
use sqlx::SqlitePool;

use crate::{db_err, deploy};

/// Pointers per packed batch.
const BATCH: i64 = 5_000;

/// One batch: the pointers after the key `(?1, ?2, ?3)`, at most `?4`, in key order, as a
/// JSON array of [`LiveRow`]s (blobs in hex, as `hex(NULL)` would be `''`; the JSON columns
/// as strings: `json(content)` would parse and print each again, doubling SQLite's time).
const PACKED: &str = "SELECT COUNT(*), json_group_array(json_array( \
         project, env, pointer_seq, name, version, digest, prompt_type, content, \
         sealed_alg, kek_id, \
         CASE WHEN wrapped_key IS NULL THEN NULL ELSE hex(wrapped_key) END, \
         CASE WHEN nonce IS NULL THEN NULL ELSE hex(nonce) END, \
         CASE WHEN ciphertext IS NULL THEN NULL ELSE hex(ciphertext) END, \
         commit_message, metadata, parent, created_by, created_at, signature, \
         ledger_seq, pruned_at)) \
     FROM (SELECT p.project, p.env, p.name, p.seq AS pointer_seq, v.version, v.digest, \
                  v.prompt_type, v.content, v.sealed_alg, v.kek_id, v.wrapped_key, v.nonce, \
                  v.ciphertext, v.commit_message, v.metadata, v.parent, v.created_by, \
                  v.created_at, v.signature, v.ledger_seq, v.pruned_at \
             FROM pointers p \
             JOIN versions v ON v.project = p.project AND v.name = p.name \
                            AND v.version = p.version \
            WHERE (p.project, p.env, p.name) > (?1, ?2, ?3) \
            ORDER BY p.project, p.env, p.name LIMIT ?4)";

/// One batch of pointers alone, as [`PACKED`] but without the versions (whose rows, content
/// and all, would be read for a join: most of the time on a large registry).
const PACKED_POINTERS: &str = "SELECT COUNT(*), json_group_array(json_array( \
         project, env, name, version, seq)) \
     FROM (SELECT project, env, name, version, seq FROM pointers \
            WHERE (project, env, name) > (?1, ?2, ?3) \
            ORDER BY project, env, name LIMIT ?4)";

/// One pointer as packed by [`PACKED_POINTERS`].
type PointerRow = (String, String, String, i64, i64);

/// Every live pointer, without its version. A row that does not decode (edited behind the
/// server's back) is an error naming it: the start-up falls back to the full read, which
/// leaves that pointer out and reports it.
pub(crate) async fn load_live_pointers(pool: &SqlitePool) -> StoreResult<Vec<LivePointer>> {
    let mut live = Vec::new();
    let mut after = (String::new(), String::new(), String::new());
    loop {
        let (count, json): (i64, String) = sqlx::query_as(PACKED_POINTERS)
            .bind(&after.0)
            .bind(&after.1)
            .bind(&after.2)
            .bind(BATCH)
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
        let rows: Vec<PointerRow> = serde_json::from_str(&json).map_err(|e| {
            StoreError::Other(format!("a live pointer row does not decode: {e}").into())
        })?;
        if let Some(last) = rows.last() {
            after = (last.0.clone(), last.1.clone(), last.2.clone());
        }
        for (project, env, name, version, seq) in rows {
            let bad = |what: &str| {
                StoreError::Other(
                    format!("pointer ({project}, {env}, {name}): {what} does not decode").into(),
                )
            };
            live.push(LivePointer {
                project: ProjectId::parse(&project).map_err(|_| bad("the project"))?,
                env: EnvName::parse(&env).map_err(|_| bad("the environment"))?,
                name: PromptName::parse(&name).map_err(|_| bad("the name"))?,
                version: Version::new(version).map_err(|_| bad("the version"))?,
                seq,
            });
        }
        if count < BATCH {
            return Ok(live);
        }
    }
}

/// One live pointer as packed by [`PACKED`], in its column order.
#[derive(Deserialize)]
struct LiveRow {
    project: String,
    env: String,
    pointer_seq: i64,
    name: String,
    version: i64,
    digest: String,
    prompt_type: String,
    content: Option<String>,
    sealed_alg: Option<String>,
    kek_id: Option<String>,
    wrapped_key: Option<String>,
    nonce: Option<String>,
    ciphertext: Option<String>,
    commit_message: Option<String>,
    metadata: String,
    parent: Option<i64>,
    created_by: String,
    created_at: String,
    signature: Option<String>,
    ledger_seq: Option<i64>,
    pruned_at: Option<String>,
}

/// Every live pointer with its version as stored.
pub(crate) async fn load_deployed(
    pool: &SqlitePool,
) -> StoreResult<Vec<DeployedVersion<StoredContent>>> {
    match packed(pool, BATCH).await {
        Ok(Some(live)) => Ok(live),
        // Not decodable as packed: row by row, which names what is wrong.
        Ok(None) | Err(_) => deploy::load_deployed_by_row(pool).await,
    }
}

/// The packed read; `None` when a batch does not decode.
async fn packed(
    pool: &SqlitePool,
    batch: i64,
) -> StoreResult<Option<Vec<DeployedVersion<StoredContent>>>> {
    let mut live = Vec::new();
    let mut after = (String::new(), String::new(), String::new());
    loop {
        let (count, json): (i64, String) = sqlx::query_as(PACKED)
            .bind(&after.0)
            .bind(&after.1)
            .bind(&after.2)
            .bind(batch)
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
        let Ok(rows) = serde_json::from_str::<Vec<LiveRow>>(&json) else {
            return Ok(None);
        };
        if rows.len() as i64 != count {
            return Ok(None);
        }
        if let Some(last) = rows.last() {
            after = (last.project.clone(), last.env.clone(), last.name.clone());
        }
        for row in rows {
            match deployed(row) {
                Some(d) => live.push(d),
                None => return Ok(None),
            }
        }
        if count < batch {
            return Ok(Some(live));
        }
    }
}

/// A packed row as a live version; `None` when a field does not decode.
fn deployed(row: LiveRow) -> Option<DeployedVersion<StoredContent>> {
    let blob = |h: Option<String>| h.map(hex::decode).transpose().ok();
    let sealed = SealedColumns {
        alg: row.sealed_alg,
        kek_id: row.kek_id,
        wrapped_key: blob(row.wrapped_key)?,
        nonce: blob(row.nonce)?,
        ciphertext: blob(row.ciphertext)?,
    };
    let pruned_at = match row.pruned_at.as_deref() {
        Some(at) => Some(time(at)?),
        None => None,
    };
    let plain = match row.content {
        Some(c) => Some(serde_json::from_str(&c).ok()?),
        None => None,
    };
    let content = codec::from_columns(&row.prompt_type, plain, sealed, pruned_at).ok()?;
    let metadata: Metadata = serde_json::from_str(&row.metadata).ok()?;
    Some(DeployedVersion {
        project: ProjectId::parse(&row.project).ok()?,
        env: EnvName::parse(&row.env).ok()?,
        seq: row.pointer_seq,
        version: VersionRecord {
            name: PromptName::parse(&row.name).ok()?,
            version: Version::new(row.version).ok()?,
            digest: Digest::parse(&row.digest).ok()?,
            content,
            commit_message: row.commit_message,
            metadata,
            parent: row.parent.map(Version::new).transpose().ok()?,
            created_by: row.created_by,
            created_at: time(&row.created_at)?,
            signature: row.signature,
            ledger_seq: row.ledger_seq,
        },
    })
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testing::tamper;
    use crate::SqliteStore;

    const VERSIONS: &str = "INSERT INTO versions (project, name, version, digest, prompt_type, \
        content, commit_message, metadata, parent, created_by, created_at, signature, \
        sealed_alg, kek_id, wrapped_key, nonce, ciphertext, pruned_at, ledger_seq) VALUES ";
    const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    /// Five live pointers of every stored form (plaintext, sealed, pruned), read packed two
    /// at a time, equal what the row-by-row read returns; then one row whose content is
    /// not JSON: the packed read gives up and the row read names the row.
    #[tokio::test]
    async fn packed_batches_read_what_rows_read() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let at = "2026-11-30T10:00:00.123456Z";
        let mut sql = String::from(VERSIONS);
        for (i, name) in ["a", "b", "c", "d/e", "f"].iter().enumerate() {
            let row = match i {
                // Sealed: blobs, no plaintext.
                1 => format!(
                    "('default', '{name}', 1, '{DIGEST}', 'chat', 'null', 'sealed', \
                      '{{\"tags\":[\"x\"]}}', NULL, 'me', '{at}', 'sig', 'aes-256-gcm', \
                      'k1', X'0102', X'03', X'0405', NULL, 7)"
                ),
                // Pruned: no content at all.
                2 => format!(
                    "('default', '{name}', 1, '{DIGEST}', 'text', 'null', NULL, '{{}}', NULL, \
                      'me', '{at}', NULL, NULL, NULL, NULL, NULL, NULL, '{at}', NULL)"
                ),
                _ => format!(
                    "('default', '{name}', 1, '{DIGEST}', 'text', \
                      '{{\"type\":\"text\",\"template\":\"hi {{{{ x }}}} \\u00e9\"}}', \
                      'm', '{{}}', NULL, 'me', '{at}', NULL, NULL, NULL, NULL, NULL, NULL, \
                      NULL, {i})"
                ),
            };
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&row);
        }
        tamper(&store, &sql).await.unwrap();
        tamper(
            &store,
            &format!(
                "INSERT INTO pointers (project, env, name, version, seq, updated_at) \
                 SELECT 'default', e, name, 1, 3, '{at}' FROM versions, \
                 (SELECT 'production' AS e UNION ALL SELECT 'staging') WHERE name <> 'f'"
            ),
        )
        .await
        .unwrap();
        let rows = deploy::load_deployed_by_row(&store.reader).await.unwrap();
        assert_eq!(rows.len(), 8);
        for batch in [2, 3, 8, 100] {
            let mut packed = packed(&store.reader, batch).await.unwrap().unwrap();
            let mut by_row = rows.clone();
            let key = |d: &DeployedVersion<StoredContent>| {
                (d.env.to_string(), d.version.name.to_string())
            };
            packed.sort_by_key(key);
            by_row.sort_by_key(key);
            assert_eq!(packed, by_row, "batch {batch}");
        }

        tamper(
            &store,
            "UPDATE versions SET content = '{not json' WHERE name = 'a'",
        )
        .await
        .unwrap();
        assert!(!matches!(packed(&store.reader, 100).await, Ok(Some(_))));
        let e = load_deployed(&store.reader).await.unwrap_err();
        assert!(e.to_string().contains("content"), "{e}");
    }
}
