//! The store conformance suite on PostgreSQL, plus what only PostgreSQL does (cross-process
//! change notifications). Every test runs in a schema of its own, dropped afterwards; without
//! `PROMPTREG_TEST_PG_URL` the tests say SKIPPED and pass.

// Test helpers outside `#[test]` functions may panic too (clippy's in-tests allowance does
// not reach them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures::StreamExt;
use promptreg_core::{ChangeEvent, Metadata, ProjectId, PromptBody, PromptContent, PromptName};
use promptreg_store::conformance::Harness;
use promptreg_store::{NewVersion, Store, StoreNotice};
use promptreg_store_postgres::{testing, PgStore};

const URL_VAR: &str = "PROMPTREG_TEST_PG_URL";

async fn make() -> Option<Harness> {
    let url = std::env::var(URL_VAR).ok()?;
    let (store, cleanup) = testing::fresh(&url).await.expect("fresh schema");
    Some(Harness {
        store: Arc::new(store),
        cleanup: Some(Box::pin(cleanup)),
    })
}

promptreg_store::conformance_suite!(make);

fn version(template: &str) -> NewVersion {
    NewVersion {
        name: PromptName::parse("support/triage").unwrap(),
        content: PromptContent::new(PromptBody::Text(template.into()), None, None).unwrap(),
        commit_message: None,
        metadata: Metadata::default(),
        created_by: "tester".into(),
        created_at: Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap(),
    }
}

/// A write committed by another replica (another pool on the same schema) reaches this
/// replica's subscription, after the initial resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_hears_writes_of_another_store() {
    let Ok(url) = std::env::var(URL_VAR) else {
        eprintln!("SKIPPED subscribe_hears_writes_of_another_store: {URL_VAR} not set");
        return;
    };
    let (a, cleanup) = testing::fresh(&url).await.unwrap();
    let b = PgStore::connect_with(a.connect_options()).await.unwrap();
    let outcome = async {
        let mut stream = a
            .subscribe()
            .await
            .unwrap()
            .expect("PostgreSQL can push changes");
        let wait = Duration::from_secs(5);
        let first = tokio::time::timeout(wait, stream.next()).await.unwrap();
        assert_eq!(first, Some(StoreNotice::Resync));

        let created = b
            .create_version(&ProjectId::default(), version("Hi {{ name }}"))
            .await
            .unwrap();
        let heard = tokio::time::timeout(wait, stream.next())
            .await
            .expect("the event arrives within 5 s");
        let Some(StoreNotice::Event(event)) = heard else {
            panic!("expected an event, got {heard:?}")
        };
        assert!(matches!(event, ChangeEvent::VersionCreated { .. }));
        assert_eq!(Some(event), created.event);

        // An unchanged push commits nothing and announces nothing.
        b.create_version(&ProjectId::default(), version("Hi {{ name }}"))
            .await
            .unwrap();
        let next = b
            .create_version(&ProjectId::default(), version("Hello {{ name }}"))
            .await
            .unwrap();
        let heard = tokio::time::timeout(wait, stream.next()).await.unwrap();
        assert_eq!(heard, next.event.map(StoreNotice::Event));
    };
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    b.close().await;
    drop(a);
    cleanup.await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
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
/// `Resync` once it listens again, and later writes are heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_resyncs_after_losing_its_connection() {
    use sqlx::Connection;

    let Ok(url) = std::env::var(URL_VAR) else {
        eprintln!("SKIPPED subscription_resyncs_after_losing_its_connection: {URL_VAR} not set");
        return;
    };
    let (store, cleanup) = testing::fresh(&url).await.unwrap();
    let outcome = async {
        let wait = Duration::from_secs(10);
        let mut stream = store.subscribe().await.unwrap().unwrap();
        assert_eq!(
            tokio::time::timeout(wait, stream.next()).await.unwrap(),
            Some(StoreNotice::Resync)
        );

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

        assert_eq!(
            tokio::time::timeout(wait, stream.next()).await.unwrap(),
            Some(StoreNotice::Resync)
        );
        let created = store
            .create_version(&ProjectId::default(), version("after the outage"))
            .await
            .unwrap();
        assert_eq!(
            tokio::time::timeout(wait, stream.next()).await.unwrap(),
            created.event.map(StoreNotice::Event)
        );
    };
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    drop(store);
    cleanup.await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The error code (`not_found` for misses) and message of a failed call.
fn message<T>(result: Result<T, promptreg_store::StoreError>) -> (&'static str, String) {
    use promptreg_store::StoreError;
    match result {
        Err(StoreError::NotFound(m)) => ("not_found", m),
        Err(StoreError::Conflict { code, message }) => (code, message),
        Err(e) => panic!("expected a domain error, got {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

/// Conflicts and misses name the object, since the server shows these messages to users.
#[tokio::test]
async fn errors_name_the_object() {
    use promptreg_core::deploy::MoveRequest;
    use promptreg_core::{EnvName, Role, Version};
    use promptreg_store::{NewEnvironment, PointerChange, TokenKind, TokenRecord};

    let Ok(url) = std::env::var(URL_VAR) else {
        eprintln!("SKIPPED errors_name_the_object: {URL_VAR} not set");
        return;
    };
    let (store, cleanup) = testing::fresh(&url).await.unwrap();
    let outcome = async {
        let p = ProjectId::default();
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        let staging = NewEnvironment {
            name: EnvName::parse("staging").unwrap(),
            protected: false,
            description: None,
            created_by: "admin".into(),
            created_at: at,
        };
        store.create_environment(&p, staging.clone()).await.unwrap();
        assert_eq!(
            message(store.create_environment(&p, staging).await),
            (
                "already_exists",
                "environment 'staging' already exists".into()
            )
        );

        let token = TokenRecord {
            id: "tok".into(),
            project: p.clone(),
            name: "ci".into(),
            role: Role::Reader,
            kind: TokenKind::Bearer,
            public_key: None,
            secret_hash: "0".repeat(64),
            created_by: "admin".into(),
            created_at: at,
            revoked_at: None,
        };
        store.create_token(token.clone()).await.unwrap();
        assert_eq!(
            message(store.create_token(token.clone()).await),
            ("already_exists", "token 'tok' already exists".into())
        );
        let same_secret = TokenRecord {
            id: "tok2".into(),
            ..token
        };
        assert_eq!(
            message(store.create_token(same_secret).await).0,
            "already_exists"
        );

        store.create_version(&p, version("one")).await.unwrap();
        let mv = |env: &str, name: &str, v: i64| PointerChange {
            env: EnvName::parse(env).unwrap(),
            name: PromptName::parse(name).unwrap(),
            request: MoveRequest::Deploy(Version::new(v).unwrap()),
            actor: "d".into(),
            reason: None,
            at,
        };
        assert_eq!(
            message(
                store
                    .move_pointer(&p, mv("prod", "support/triage", 1))
                    .await
            ),
            ("not_found", "environment 'prod' not found".into())
        );
        assert_eq!(
            message(store.move_pointer(&p, mv("staging", "nope", 1)).await),
            ("not_found", "prompt 'nope' not found".into())
        );
        assert_eq!(
            message(
                store
                    .move_pointer(&p, mv("staging", "support/triage", 7))
                    .await
            ),
            (
                "not_found",
                "prompt 'support/triage' has no version 7".into()
            )
        );
        assert_eq!(
            message(store.revoke_token(&p, "ghost", at).await),
            ("not_found", "token 'ghost' not found".into())
        );
    };
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    drop(store);
    cleanup.await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
