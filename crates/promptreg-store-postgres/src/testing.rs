//! Throw-away stores for tests: each in a schema of its own, dropped afterwards.
//!
//! Used by this crate's conformance tests and by the server's tests when
//! `PROMPTREG_TEST_PG_URL` is set; parallel tests share one database without seeing each
//! other's rows or notifications.

use std::future::Future;
use std::str::FromStr;

use promptreg_store::{StoreError, StoreResult};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::PgStore;

/// A store in a new, migrated schema `t_<uuid>` of the database at `url`, and the future that
/// closes the store's pool and drops the schema with everything in it.
///
/// # Errors
/// `StoreError::Other` when the database cannot be reached or the schema cannot be created
/// or migrated (a schema that was created is dropped again).
pub async fn fresh(url: &str) -> StoreResult<(PgStore, impl Future<Output = ()> + Send + 'static)> {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(url).map_err(StoreError::other)?;
    execute(&base, format!("CREATE SCHEMA \"{schema}\"")).await?;
    let options = base.clone().options([("search_path", schema.as_str())]);
    let store = match PgStore::connect_with(options).await {
        Ok(store) => store,
        Err(e) => {
            drop_schema(&base, &schema).await;
            return Err(e);
        }
    };
    let pool = store.pool.clone();
    let cleanup = async move {
        pool.close().await;
        drop_schema(&base, &schema).await;
    };
    Ok((store, cleanup))
}

async fn drop_schema(base: &PgConnectOptions, schema: &str) {
    if let Err(e) = execute(base, format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await {
        tracing::warn!(error = %e, schema, "could not drop a test schema");
        eprintln!("could not drop test schema {schema}: {e}");
    }
}

/// Runs one statement on a connection of its own.
async fn execute(options: &PgConnectOptions, sql: String) -> StoreResult<()> {
    let mut conn = PgConnection::connect_with(options)
        .await
        .map_err(StoreError::other)?;
    sqlx::query(&sql)
        .execute(&mut conn)
        .await
        .map_err(StoreError::other)?;
    conn.close().await.map_err(StoreError::other)
}

/// Runs raw SQL in the store's schema, as someone with write access to the database would:
/// for tests that edit rows behind the server's back (integrity, recovery).
///
/// # Errors
/// `StoreError::Other` with the database's message.
pub async fn tamper(store: &PgStore, sql: &str) -> StoreResult<u64> {
    sqlx::raw_sql(sql)
        .execute(&store.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(StoreError::other)
}

/// Runs a `SELECT COUNT(*) …` (or any query of one `BIGINT`) in the store's schema: for tests
/// that check what is stored (a pruned row holds no key).
///
/// # Errors
/// `StoreError::Other` with the database's message.
pub async fn count(store: &PgStore, sql: &str) -> StoreResult<i64> {
    sqlx::query_scalar(sql)
        .fetch_one(&store.pool)
        .await
        .map_err(StoreError::other)
}
