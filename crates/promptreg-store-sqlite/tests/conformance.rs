//! The store conformance suite against SQLite (a fresh file per story).

#![allow(clippy::expect_used)] // test set-up: failing to open is a failed test.

use std::sync::Arc;

use promptreg_store::conformance::Harness;
use promptreg_store_sqlite::SqliteStore;

async fn make() -> Option<Harness> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("test.db").display());
    let store = SqliteStore::open(&url).await.expect("open sqlite");
    Some(Harness {
        store: Arc::new(store),
        cleanup: Some(Box::pin(async move { drop(dir) })),
    })
}

promptreg_store::conformance_suite!(make);
