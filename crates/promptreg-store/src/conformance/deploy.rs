//! Stories about environments, deploys and rollbacks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::deploy::MoveRequest;
use promptreg_core::{ChangeEvent, DeployKind, Version};

use super::{env, live, make_env, mv, name, project, push, t0, v};
use crate::*;

/// Environments are created once and listed by name.
pub async fn environments_are_unique(store: Arc<dyn Store>) {
    make_env(&*store, "staging").await;
    make_env(&*store, "production").await;
    let dup = store
        .create_environment(
            &project(),
            NewEnvironment {
                name: env("staging"),
                protected: false,
                description: None,
                created_by: "x".into(),
                created_at: t0(),
            },
        )
        .await;
    assert!(
        matches!(
            dup,
            Err(StoreError::Conflict {
                code: "already_exists",
                ..
            })
        ),
        "{dup:?}"
    );
    let list = store.list_environments(&project()).await.unwrap();
    assert_eq!(
        list.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["production", "staging"]
    );
    assert!(list[0].protected);
    assert_eq!(
        store
            .get_environment(&project(), &env("staging"))
            .await
            .unwrap()
            .created_by,
        "admin"
    );
    assert!(matches!(
        store.get_environment(&project(), &env("nope")).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Deploys push, rollbacks walk back, every move is a record, nothing is erased.
pub async fn deploy_and_rollback_follow_the_live_stack(store: Arc<dyn Store>) {
    for i in 1..=3 {
        push(&*store, "p", &format!("v{i}")).await;
    }
    make_env(&*store, "production").await;
    assert!(matches!(
        mv(&*store, "nope", "p", MoveRequest::Deploy(v(1))).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        mv(&*store, "production", "p", MoveRequest::Deploy(v(7))).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        mv(&*store, "production", "q", MoveRequest::Deploy(v(1))).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        mv(&*store, "production", "p", MoveRequest::Rollback(None)).await,
        Err(StoreError::Conflict {
            code: "nothing_to_roll_back",
            ..
        })
    ));
    assert_eq!(
        store
            .deployed_version(&project(), &env("production"), &name("p"))
            .await
            .unwrap(),
        None
    );

    for i in 1..=3 {
        let out = mv(&*store, "production", "p", MoveRequest::Deploy(v(i)))
            .await
            .unwrap();
        let MoveOutcome::Moved {
            record,
            version,
            event,
        } = out
        else {
            panic!("moved expected")
        };
        assert_eq!(
            (record.seq, record.to_version, record.kind),
            (i, v(i), DeployKind::Deploy)
        );
        assert_eq!(record.from_version, Version::new(i - 1).ok());
        assert_eq!(version.version, v(i));
        assert_eq!(record.digest, version.digest);
        assert!(matches!(event, ChangeEvent::PointerMoved { seq, .. } if seq == i));
    }
    let same = mv(&*store, "production", "p", MoveRequest::Deploy(v(3)))
        .await
        .unwrap();
    assert!(matches!(same, MoveOutcome::Unchanged(ref r) if r.seq == 3));

    let back = mv(&*store, "production", "p", MoveRequest::Rollback(None))
        .await
        .unwrap();
    assert_eq!(live(&back), v(2));
    assert!(matches!(
        mv(
            &*store,
            "production",
            "p",
            MoveRequest::Rollback(Some(v(3)))
        )
        .await,
        Err(StoreError::Conflict {
            code: "not_an_earlier_version",
            ..
        })
    ));
    assert_eq!(
        live(
            &mv(&*store, "production", "p", MoveRequest::Rollback(None))
                .await
                .unwrap()
        ),
        v(1)
    );
    assert!(matches!(
        mv(&*store, "production", "p", MoveRequest::Rollback(None)).await,
        Err(StoreError::Conflict {
            code: "nothing_to_roll_back",
            ..
        })
    ));
    let live_now = store
        .deployed_version(&project(), &env("production"), &name("p"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live_now.version, v(1));

    let history = store
        .history(
            &project(),
            &env("production"),
            &name("p"),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|r| {
            (
                r.seq,
                r.kind,
                r.from_version.map(Version::get),
                r.to_version.get(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (5, DeployKind::Rollback, Some(2), 1),
            (4, DeployKind::Rollback, Some(3), 2),
            (3, DeployKind::Deploy, Some(2), 3),
            (2, DeployKind::Deploy, Some(1), 2),
            (1, DeployKind::Deploy, None, 1),
        ]
    );
    assert_eq!(history[0].actor, "deployer");
    assert_eq!(history[0].reason.as_deref(), Some("because"));
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
    assert_eq!(older.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 1]);

    let catalog = store
        .catalog(&project(), &env("production"), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(catalog.len(), 1);
    assert_eq!((catalog[0].name.as_str(), catalog[0].version), ("p", v(1)));
    let deployed = store.load_deployed().await.unwrap();
    assert_eq!(deployed.len(), 1);
    assert_eq!(
        (deployed[0].env.as_str(), deployed[0].version.version),
        ("production", v(1))
    );
}

/// 16 deployers racing on one pointer produce consecutive seqs and a consistent chain.
pub async fn concurrent_deploys_never_duplicate_seq(store: Arc<dyn Store>) {
    for i in 1..=4 {
        push(&*store, "p", &format!("v{i}")).await;
    }
    make_env(&*store, "production").await;
    let mut tasks = Vec::new();
    for w in 0..16i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..4i64 {
                mv(
                    &*store,
                    "production",
                    "p",
                    MoveRequest::Deploy(v((w + i) % 4 + 1)),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let history = store
        .history(
            &project(),
            &env("production"),
            &name("p"),
            &PageRequest::first(500),
        )
        .await
        .unwrap();
    let n = history.len() as i64;
    assert!(n >= 1);
    let seqs: Vec<i64> = history.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=n).rev().collect::<Vec<_>>());
    // Each record starts where the previous one ended.
    for pair in history.windows(2) {
        assert_eq!(pair[0].from_version, Some(pair[1].to_version));
        assert_ne!(pair[0].from_version, Some(pair[0].to_version));
    }
}
