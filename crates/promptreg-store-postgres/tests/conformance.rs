//! The store conformance suite on PostgreSQL, plus what only PostgreSQL does: writers of
//! separate projects in parallel, change notifications across processes, the connection loss
//! they must report, and the migration of the old event table. Every test runs in a schema of
//! its own, dropped afterwards; without `PROMPTREG_TEST_PG_URL` the tests say SKIPPED and pass.

// Test helpers outside `#[test]` functions may panic too (clippy's in-tests allowance does
// not reach them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use promptreg_core::{ChangeEvent, EnvName, EventDraft, EventRecord, ProjectId};
use promptreg_store::conformance::Harness;
use promptreg_store::{EventStream, Store, StoreError, StoreNotice};
use promptreg_store_postgres::{testing, PgStore};

const URL_VAR: &str = "PROMPTREG_TEST_PG_URL";

/// How long a notice may take to arrive.
const WAIT: Duration = Duration::from_secs(10);

async fn make() -> Option<Harness> {
    let url = std::env::var(URL_VAR).ok()?;
    let (store, cleanup) = testing::fresh(&url).await.expect("fresh schema");
    Some(Harness {
        store: Arc::new(store),
        cleanup: Some(Box::pin(cleanup)),
    })
}

promptreg_store::conformance_suite!(make);

/// Runs `test` with a fresh store and the database URL, cleaning up even when it panics;
/// says SKIPPED without a URL.
async fn with_store<F, Fut>(test: &str, f: F)
where
    F: FnOnce(PgStore, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(url) = std::env::var(URL_VAR) else {
        eprintln!("SKIPPED {test}: {URL_VAR} not set");
        return;
    };
    let (store, cleanup) = testing::fresh(&url).await.unwrap();
    let outcome =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(f(store.clone(), url))).await;
    drop(store);
    cleanup.await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

fn draft(project: &ProjectId, id: &str, reason: Option<String>) -> EventDraft {
    EventDraft {
        at: t0(),
        actor: "tok:ci".into(),
        reason,
        request_id: Some(format!("req-{id}")),
        policies: Some(vec![format!("policy-{id}")]),
        change: ChangeEvent::TokenCreated {
            project: project.clone(),
            id: id.into(),
        },
    }
}

/// The next notice, within [`WAIT`].
async fn next(stream: &mut EventStream) -> Option<StoreNotice> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("a notice within the wait")
}

/// Appends one event in a unit of work of its own and commits it.
async fn append(
    store: &dyn Store,
    project: &ProjectId,
    id: &str,
    reason: Option<String>,
) -> EventRecord {
    let mut tx = store.begin(project).await.unwrap();
    let record = tx.append_event(draft(project, id, reason)).await.unwrap();
    tx.commit().await.unwrap();
    record
}

/// An import's restored log is announced once, as a reload (catching up by `seq` would
/// splice two logs), and only when it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_announced_as_a_reload() {
    with_store("an_import_is_announced_as_a_reload", |a, _| async move {
        let b = PgStore::connect_with(a.connect_options()).await.unwrap();
        let p = ProjectId::default();
        let mut stream = a.subscribe().await.unwrap().expect("a subscription");
        assert_eq!(next(&mut stream).await, Some(StoreNotice::Resync));
        let mut dropped = b.begin(&p).await.unwrap();
        dropped.clear_for_import().await.unwrap();
        drop(dropped);
        let mut tx = b.begin(&p).await.unwrap();
        tx.clear_for_import().await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(next(&mut stream).await, Some(StoreNotice::Reload));
        let first = append(&b, &p, "t1", None).await;
        assert_eq!(next(&mut stream).await, Some(StoreNotice::Event(first)));
        b.close().await;
    })
    .await;
}

/// Writers of one project wait for each other from `begin` to commit; writers of another
/// project do not wait for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_writers_of_the_same_project_wait() {
    with_store(
        "only_writers_of_the_same_project_wait",
        |store, _| async move {
            let a = ProjectId::default();
            let b = ProjectId::parse("other").unwrap();
            let mut holding = store.begin(&a).await.unwrap();
            holding.append_event(draft(&a, "held", None)).await.unwrap();

            let other = tokio::time::timeout(WAIT, append(&store, &b, "b1", None))
                .await
                .expect("a writer of another project does not wait");
            assert_eq!(other.seq, 1);

            let same = tokio::spawn({
                let store = store.clone();
                let a = a.clone();
                async move { append(&store, &a, "a2", None).await }
            });
            // Waiting for something that must not happen: 300 ms is far more than a begin takes.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!same.is_finished(), "a writer of the same project waits");
            holding.commit().await.unwrap();
            let after = tokio::time::timeout(WAIT, same).await.unwrap().unwrap();
            assert_eq!(after.seq, 2, "and goes next");
        },
    )
    .await;
}

/// An event committed by another replica (another pool on the same schema) reaches this
/// replica's subscription whole, after the initial resync; a rolled-back one never does; one
/// too long for a notification arrives whole too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_hears_the_events_of_another_store() {
    with_store(
        "subscribe_hears_the_events_of_another_store",
        |a, _| async move {
            let b = PgStore::connect_with(a.connect_options()).await.unwrap();
            let p = ProjectId::default();
            let mut stream = a
                .subscribe()
                .await
                .unwrap()
                .expect("PostgreSQL can push changes");
            assert_eq!(next(&mut stream).await, Some(StoreNotice::Resync));

            let first = append(&b, &p, "t1", None).await;
            assert_eq!(next(&mut stream).await, Some(StoreNotice::Event(first)));

            let mut dropped = b.begin(&p).await.unwrap();
            dropped
                .append_event(draft(&p, "never", None))
                .await
                .unwrap();
            drop(dropped);
            // Far beyond what fits in one notification (8000 bytes): announced by its key.
            let long = append(&b, &p, "t2", Some("é🦀\"\\".repeat(3000))).await;
            assert_eq!(long.seq, 2);
            assert_eq!(next(&mut stream).await, Some(StoreNotice::Event(long)));
            b.close().await;
        },
    )
    .await;
}

/// Stores in different schemas of one database use different channels, so they do not hear
/// each other's writes.
#[tokio::test]
async fn schemas_have_their_own_channels() {
    let Ok(url) = std::env::var(URL_VAR) else {
        eprintln!("SKIPPED schemas_have_their_own_channels: {URL_VAR} not set");
        return;
    };
    let (a, cleanup_a) = testing::fresh(&url).await.unwrap();
    let (b, cleanup_b) = testing::fresh(&url).await.unwrap();
    let channels = (a.channel().to_owned(), b.channel().to_owned());
    drop((a, b));
    cleanup_a.await;
    cleanup_b.await;
    assert!(channels.0.starts_with("promptreg_events_t_"));
    assert_ne!(channels.0, channels.1);
}

/// When the listening connection dies (here: terminated by the server), the stream says
/// `Lost` at once, then `Resync` once it listens again, and later events are heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_says_lost_then_resync_when_its_connection_dies() {
    use sqlx::Connection;

    with_store(
        "subscription_says_lost_then_resync",
        |store, url| async move {
            let p = ProjectId::default();
            let mut stream = store.subscribe().await.unwrap().unwrap();
            assert_eq!(next(&mut stream).await, Some(StoreNotice::Resync));

            let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE query LIKE 'LISTEN %' AND strpos(query, $1) > 0 AND pid <> pg_backend_pid()",
            )
            .bind(store.channel())
            .fetch_all(&mut admin)
            .await
            .unwrap();
            assert_eq!(killed, [true], "one listening connection");
            admin.close().await.unwrap();

            assert_eq!(next(&mut stream).await, Some(StoreNotice::Lost));
            assert_eq!(next(&mut stream).await, Some(StoreNotice::Resync));
            let after = append(&store, &p, "after-the-outage", None).await;
            assert_eq!(next(&mut stream).await, Some(StoreNotice::Event(after)));
        },
    )
    .await;
}

/// The error code (`not_found` for misses) and message of a failed call.
fn message<T: std::fmt::Debug>(result: Result<T, StoreError>) -> (&'static str, String) {
    match result {
        Err(StoreError::NotFound(m)) => ("not_found", m),
        Err(StoreError::Conflict { code, message }) => (code, message),
        other => panic!("expected a domain error, got {other:?}"),
    }
}

/// Conflicts and misses name the object, since the server shows these messages to users.
#[tokio::test]
async fn errors_name_the_object() {
    use promptreg_core::Role;
    use promptreg_store::{Environment, TokenKind, TokenRecord};

    with_store("errors_name_the_object", |store, _| async move {
        let p = ProjectId::default();
        let staging = Environment {
            name: EnvName::parse("staging").unwrap(),
            protected: false,
            description: None,
            created_by: "admin".into(),
            created_at: t0(),
            approvals_required: 1,
        };
        let token = TokenRecord {
            id: "tok".into(),
            project: p.clone(),
            name: "ci".into(),
            role: Role::Reader,
            kind: TokenKind::Bearer,
            public_key: None,
            secret_hash: "0".repeat(64),
            created_by: "admin".into(),
            created_at: t0(),
            revoked_at: None,
            scope: Default::default(),
            expires_at: None,
            last_used_at: None,
        };
        let pair = TokenRecord {
            id: "pair".into(),
            kind: TokenKind::KeyPair,
            public_key: Some("pk-1".into()),
            secret_hash: "1".repeat(64),
            ..token.clone()
        };
        let mut tx = store.begin(&p).await.unwrap();
        tx.insert_environment(&staging).await.unwrap();
        tx.insert_token(&token).await.unwrap();
        tx.insert_token(&pair).await.unwrap();
        tx.commit().await.unwrap();

        // Each failed step in a unit of work of its own: a failed statement aborts the rest.
        let mut tx = store.begin(&p).await.unwrap();
        assert_eq!(
            message(tx.insert_environment(&staging).await),
            (
                "already_exists",
                "environment 'staging' already exists".into()
            )
        );
        let mut tx = store.begin(&p).await.unwrap();
        assert_eq!(
            message(tx.insert_token(&token).await),
            ("already_exists", "token 'tok' already exists".into())
        );
        let mut tx = store.begin(&p).await.unwrap();
        let same_secret = TokenRecord {
            id: "tok2".into(),
            ..token.clone()
        };
        assert_eq!(
            message(tx.insert_token(&same_secret).await),
            (
                "already_exists",
                "a token with the same secret already exists".into()
            )
        );
        let mut tx = store.begin(&p).await.unwrap();
        let same_key = TokenRecord {
            id: "pair2".into(),
            secret_hash: "2".repeat(64),
            ..pair
        };
        assert_eq!(
            message(tx.insert_token(&same_key).await),
            (
                "already_exists",
                "a key pair with public key 'pk-1' already exists".into()
            )
        );
        drop(tx);
        assert_eq!(
            message(store.get_token("ghost").await),
            ("not_found", "token 'ghost' not found".into())
        );
        assert_eq!(
            message(
                store
                    .get_environment(&p, &EnvName::parse("prod").unwrap())
                    .await
            ),
            ("not_found", "environment 'prod' not found".into())
        );
    })
    .await;
}

#[path = "conformance/migration.rs"]
mod migration;
