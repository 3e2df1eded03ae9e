//! Stories about projects and what a token carries besides its role (grants, expiry, use).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::{EnvName, GrantScope, ProjectId};

use super::misc::token;
use super::{at, other, project};
use crate::*;

/// The default project exists from the first migration; a new one is inserted once, listed
/// by id and found; a token keeps its grant scope and expiry; use times only move forward.
pub async fn projects_and_token_grants_round_trip(store: Arc<dyn Store>) {
    let listed = store.list_projects().await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        [project()]
    );
    assert!(matches!(
        store.get_project(&other()).await,
        Err(StoreError::NotFound(_))
    ));
    let record = ProjectRecord {
        id: other(),
        description: Some("the other team".into()),
        created_by: "admin".into(),
        created_at: at(1),
    };
    let mut tx = store.begin(&other()).await.unwrap();
    tx.insert_project(&record).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin(&other()).await.unwrap();
    assert!(matches!(
        tx.insert_project(&record).await,
        Err(StoreError::Conflict {
            code: "already_exists",
            ..
        })
    ));
    drop(tx);
    assert_eq!(store.get_project(&other()).await.unwrap(), record);
    let ids: Vec<ProjectId> = store
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, [project(), other()]);

    let scoped = TokenRecord {
        scope: GrantScope {
            environments: Some(vec![EnvName::parse("staging").unwrap()]),
            prompt_prefixes: Some(vec!["support/".into()]),
        },
        expires_at: Some(at(50)),
        ..token("tok7", TokenKind::Bearer)
    };
    let mut tx = store.begin(&project()).await.unwrap();
    tx.insert_token(&scoped).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.get_token("tok7").await.unwrap(), scoped);

    store
        .record_token_use(&[("tok7".into(), at(20)), ("ghost".into(), at(20))])
        .await
        .unwrap();
    // An older observation (another replica's) never moves it back.
    store
        .record_token_use(&[("tok7".into(), at(10))])
        .await
        .unwrap();
    store.record_token_use(&[]).await.unwrap();
    let used = store.get_token("tok7").await.unwrap();
    assert_eq!(used.last_used_at, Some(at(20)));
    assert_eq!(store.list_tokens(&project()).await.unwrap(), [used]);
}
