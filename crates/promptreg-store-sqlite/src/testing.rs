//! Support for tests of other crates.

use promptreg_store::{StoreError, StoreResult};

use crate::SqliteStore;

/// Runs raw SQL on the database, as someone with write access to the file would: for tests
/// that edit rows behind the server's back (integrity, recovery). Foreign keys are not
/// enforced here, as in the `sqlite3` shell's default.
///
/// # Errors
/// `StoreError::Other` with SQLite's message.
pub async fn tamper(store: &SqliteStore, sql: &str) -> StoreResult<u64> {
    let mut conn = store.writer.acquire().await.map_err(StoreError::other)?;
    sqlx::raw_sql("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .map_err(StoreError::other)?;
    let result = sqlx::raw_sql(sql).execute(&mut *conn).await;
    sqlx::raw_sql("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await
        .map_err(StoreError::other)?;
    result.map(|r| r.rows_affected()).map_err(StoreError::other)
}

/// Runs a `SELECT COUNT(*) …` (or any query of one integer) on the database, as someone
/// reading the file would: for tests that check what is stored (a pruned row holds no key).
///
/// # Errors
/// `StoreError::Other` with SQLite's message.
pub async fn count(store: &SqliteStore, sql: &str) -> StoreResult<i64> {
    sqlx::query_scalar(sql)
        .fetch_one(&store.reader)
        .await
        .map_err(StoreError::other)
}
