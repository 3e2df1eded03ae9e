//! Checks of an SQLite database file after a fault, with the server stopped.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

/// Asserts `PRAGMA integrity_check` says `ok` and no foreign key dangles.
pub async fn assert_intact(db: &Path) {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    let rows = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let verdict: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    assert_eq!(verdict, ["ok"], "integrity_check of {}", db.display());
    let dangling = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(
        dangling.is_empty(),
        "{} dangling foreign keys",
        dangling.len()
    );
}
