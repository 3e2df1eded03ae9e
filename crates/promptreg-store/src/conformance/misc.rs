//! Stories about tokens, the event log and project isolation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::deploy::MoveRequest;
use promptreg_core::{ChangeEvent, Metadata, ProjectId, Role};

use super::{env, make_env, mv, name, project, push, t0, text_version, v};
use crate::*;

/// Tokens are stored by hash, listed, found and revoked once.
pub async fn tokens_are_created_listed_and_revoked(store: Arc<dyn Store>) {
    let token = |id: &str, kind| TokenRecord {
        id: id.into(),
        project: project(),
        name: format!("{id} token"),
        role: Role::Author,
        kind,
        public_key: (kind == TokenKind::KeyPair).then(|| format!("pk-{id}")),
        secret_hash: format!("{id:0>64}"),
        created_by: "admin".into(),
        created_at: t0(),
        revoked_at: None,
    };
    let created = store
        .create_token(token("tok1", TokenKind::Bearer))
        .await
        .unwrap();
    assert!(matches!(
        created.event,
        Some(ChangeEvent::TokenCreated { .. })
    ));
    store
        .create_token(token("tok2", TokenKind::KeyPair))
        .await
        .unwrap();
    assert!(matches!(
        store.create_token(token("tok1", TokenKind::Bearer)).await,
        Err(StoreError::Conflict { .. })
    ));
    let list = store.list_tokens(&project()).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        store.get_token("tok2").await.unwrap(),
        token("tok2", TokenKind::KeyPair)
    );
    let revoked = store.revoke_token(&project(), "tok1", t0()).await.unwrap();
    assert_eq!(revoked.value.revoked_at, Some(t0()));
    assert!(matches!(
        store.revoke_token(&project(), "tok1", t0()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .revoke_token(&ProjectId::parse("other").unwrap(), "tok2", t0())
            .await,
        Err(StoreError::NotFound(_))
    ));
    let active = store.load_tokens().await.unwrap();
    assert_eq!(
        active.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["tok2"]
    );
    assert_eq!(store.list_tokens(&project()).await.unwrap().len(), 1);
    assert!(store.get_token("tok1").await.unwrap().revoked_at.is_some());
}

/// Every state change leaves its event in the log, in commit order.
pub async fn every_write_records_its_event(store: Arc<dyn Store>) {
    push(&*store, "p", "one").await;
    push(&*store, "p", "one").await; // unchanged: no event
    make_env(&*store, "staging").await;
    mv(&*store, "staging", "p", MoveRequest::Deploy(v(1)))
        .await
        .unwrap();
    mv(&*store, "staging", "p", MoveRequest::Deploy(v(1)))
        .await
        .unwrap(); // unchanged
    let events = store.events_after(0, 100).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|(_, e)| e.kind()).collect();
    assert_eq!(
        kinds,
        ["version_created", "environment_created", "pointer_moved"]
    );
    assert!(
        events.windows(2).all(|w| w[0].0 < w[1].0),
        "event ids increase"
    );
    let after_first = store.events_after(events[0].0, 100).await.unwrap();
    assert_eq!(after_first.len(), 2);
}

/// Projects share nothing: names, versions, environments and pointers are per project.
pub async fn projects_are_isolated(store: Arc<dyn Store>) {
    let other = ProjectId::parse("other").unwrap();
    push(&*store, "p", "default one").await;
    let mut nv = text_version("p", "other one", Metadata::default());
    nv.created_by = "b".into();
    let b1 = store
        .create_version(&other, nv)
        .await
        .unwrap()
        .value
        .version;
    assert_eq!(b1.version, v(1), "numbering is per project");
    assert_eq!(
        store
            .latest_version(&project(), &name("p"))
            .await
            .unwrap()
            .version,
        v(1)
    );
    make_env(&*store, "production").await;
    assert!(matches!(
        store.get_environment(&other, &env("production")).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .create_environment(
            &other,
            NewEnvironment {
                name: env("production"),
                protected: false,
                description: None,
                created_by: "b".into(),
                created_at: t0(),
            },
        )
        .await
        .unwrap();
    store
        .move_pointer(
            &other,
            PointerChange {
                env: env("production"),
                name: name("p"),
                request: MoveRequest::Deploy(v(1)),
                actor: "b".into(),
                reason: None,
                at: t0(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .deployed_version(&project(), &env("production"), &name("p"))
            .await
            .unwrap(),
        None
    );
    let live = store
        .deployed_version(&other, &env("production"), &name("p"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.digest, b1.digest);
    let all = store.load_deployed().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].project, other);
    assert_eq!(
        store
            .list_prompts(&other, &PromptFilter::default(), &PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );
}
