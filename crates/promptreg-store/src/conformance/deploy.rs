//! Stories about environments, deployment records and pointers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::{DeployKind, Version};

use super::{at, env, environment, make_env, move_to, name, other, project, push};
use crate::*;

/// Environments are inserted once (a second insert is a conflict naming it) and listed by name.
pub async fn environments_are_unique(store: Arc<dyn Store>) {
    make_env(&*store, &project(), "staging").await;
    make_env(&*store, &project(), "production").await;

    let mut tx = store.begin(&project()).await.unwrap();
    assert_eq!(
        tx.get_environment(&env("staging")).await.unwrap(),
        Some(environment("staging"))
    );
    assert_eq!(tx.get_environment(&env("nope")).await.unwrap(), None);
    let dup = tx.insert_environment(&environment("staging")).await;
    match dup {
        Err(StoreError::Conflict {
            code: "already_exists",
            message,
        }) => assert!(message.contains("staging"), "{message}"),
        other => panic!("expected already_exists, got {other:?}"),
    }
    drop(tx);

    let list = store.list_environments(&project()).await.unwrap();
    assert_eq!(list, [environment("production"), environment("staging")]);
    assert!(list[0].protected);
    assert_eq!(
        store
            .get_environment(&project(), &env("staging"))
            .await
            .unwrap(),
        environment("staging")
    );
    assert!(matches!(
        store.get_environment(&project(), &env("nope")).await,
        Err(StoreError::NotFound(_))
    ));
    // The same name in another project is another environment.
    make_env(&*store, &other(), "staging").await;
    assert_eq!(store.list_environments(&other()).await.unwrap().len(), 1);
}

/// Each deployment record is kept as written; the pointer follows the last one; history reads
/// oldest first inside a unit of work and newest first (paged) outside; the catalog and the
/// start-up load show what is live with the seq that made it live.
pub async fn deployments_record_history_and_move_the_pointer(store: Arc<dyn Store>) {
    for i in 1..=3 {
        push(&*store, "p", &format!("v{i}")).await;
    }
    push(&*store, "q", "q1").await;
    make_env(&*store, &project(), "production").await;
    make_env(&*store, &project(), "staging").await;

    let mut written = Vec::new();
    for (to, kind) in [
        (1, DeployKind::Deploy),
        (2, DeployKind::Deploy),
        (3, DeployKind::Deploy),
        (2, DeployKind::Rollback),
        (1, DeployKind::Rollback),
    ] {
        written.push(move_to(&*store, &project(), "production", "p", to, kind).await);
    }
    let staged = move_to(&*store, &project(), "staging", "q", 1, DeployKind::Deploy).await;
    let summary: Vec<_> = written
        .iter()
        .map(|r| (r.seq, r.from_version.map(Version::get), r.to_version.get()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, None, 1),
            (2, Some(1), 2),
            (3, Some(2), 3),
            (4, Some(3), 2),
            (5, Some(2), 1)
        ]
    );

    let mut tx = store.begin(&project()).await.unwrap();
    assert_eq!(
        tx.pointer_history(&env("production"), &name("p"))
            .await
            .unwrap(),
        written,
        "oldest first, exactly as written"
    );
    assert!(tx
        .pointer_history(&env("staging"), &name("p"))
        .await
        .unwrap()
        .is_empty());
    // A seq that exists is a conflict: a record is never overwritten.
    let dup = DeploymentRecord {
        reason: None,
        ..written[4].clone()
    };
    assert!(matches!(
        tx.insert_deployment(&dup).await,
        Err(StoreError::Conflict {
            code: "already_exists",
            ..
        })
    ));
    drop(tx);

    let newest_first: Vec<_> = written.iter().rev().cloned().collect();
    let history = store
        .history(
            &project(),
            &env("production"),
            &name("p"),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(history, newest_first);
    let older = store
        .history(
            &project(),
            &env("production"),
            &name("p"),
            &PageRequest {
                limit: 2,
                after: Some(3),
            },
        )
        .await
        .unwrap();
    assert_eq!(older, newest_first[3..5]);

    let catalog = store
        .catalog(&project(), &env("production"), &PageRequest::first(10))
        .await
        .unwrap();
    let p1 = store
        .get_version(&project(), &name("p"), Version::FIRST)
        .await
        .unwrap();
    assert_eq!(
        catalog,
        [CatalogRecord {
            name: name("p"),
            version: Version::FIRST,
            digest: p1.digest.clone(),
            deployed_at: at(105),
        }]
    );
    let staging = store
        .catalog(&project(), &env("staging"), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(staging.len(), 1);
    assert_eq!(staging[0].name, name("q"));

    let mut deployed = store.load_deployed().await.unwrap();
    deployed.sort_by(|a, b| a.env.cmp(&b.env));
    let q1 = store.latest_version(&project(), &name("q")).await.unwrap();
    assert_eq!(
        deployed,
        [
            DeployedVersion {
                project: project(),
                env: env("production"),
                version: p1,
                seq: 5,
            },
            DeployedVersion {
                project: project(),
                env: env("staging"),
                version: q1,
                seq: staged.seq,
            },
        ]
    );
}
