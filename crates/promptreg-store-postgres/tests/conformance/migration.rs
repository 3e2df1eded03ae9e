//! The migration to the per-project event log carries the old `events` rows over, in the order
//! of their ids, numbered from 1 in each project.

use std::borrow::Cow;
use std::str::FromStr;

use promptreg_core::{ChangeEvent, EnvName, ProjectId};
use promptreg_store::Store;
use promptreg_store_postgres::PgStore;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::URL_VAR;

async fn execute(options: &PgConnectOptions, sql: &str) {
    let mut conn = PgConnection::connect_with(options).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn old_events_are_carried_over_in_order() {
    let Ok(url) = std::env::var(URL_VAR) else {
        eprintln!("SKIPPED old_events_are_carried_over_in_order: {URL_VAR} not set");
        return;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(&url).unwrap();
    execute(&base, &format!("CREATE SCHEMA \"{schema}\"")).await;
    let options = base.clone().options([("search_path", schema.as_str())]);

    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        // The schema as shipped first, with events of two projects interleaved.
        let mut first = Migrator::new(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations"
        )))
        .await
        .unwrap();
        first.migrations = Cow::Owned(first.migrations[..1].to_vec());
        let mut conn = PgConnection::connect_with(&options).await.unwrap();
        first.run(&mut conn).await.unwrap();
        let env = |p: &str, e: &str| ChangeEvent::EnvironmentCreated {
            project: ProjectId::parse(p).unwrap(),
            env: EnvName::parse(e).unwrap(),
        };
        let old = [
            env("default", "a"),
            env("other", "x"),
            env("default", "b"),
            env("default", "c"),
        ];
        for (i, event) in old.iter().enumerate() {
            sqlx::query("INSERT INTO events (project, kind, payload, at) VALUES ($1, $2, $3, $4)")
                .bind(event.project().as_str())
                .bind(event.kind())
                .bind(serde_json::to_value(event).unwrap())
                .bind(super::t0() + chrono::Duration::microseconds(i as i64 * 1_000_001))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();

        let store = PgStore::connect_with(options.clone()).await.unwrap();
        let default = store
            .events_after(&ProjectId::default(), 0, 10)
            .await
            .unwrap();
        let other = store
            .events_after(&ProjectId::parse("other").unwrap(), 0, 10)
            .await
            .unwrap();
        let summary = |log: &[promptreg_core::EventRecord]| {
            log.iter()
                .map(|e| (e.seq, e.change.clone(), e.actor.clone(), e.at))
                .collect::<Vec<_>>()
        };
        let at = |i: i64| super::t0() + chrono::Duration::microseconds(i * 1_000_001);
        let unrecorded = || "unrecorded".to_owned();
        assert_eq!(
            summary(&default),
            [
                (1, old[0].clone(), unrecorded(), at(0)),
                (2, old[2].clone(), unrecorded(), at(2)),
                (3, old[3].clone(), unrecorded(), at(3)),
            ]
        );
        assert_eq!(summary(&other), [(1, old[1].clone(), unrecorded(), at(1))]);
        // The log goes on from there.
        let next = super::append(&store, &ProjectId::default(), "t", None).await;
        assert_eq!(next.seq, 4);
        store.close().await;
    }))
    .await;
    execute(&base, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
