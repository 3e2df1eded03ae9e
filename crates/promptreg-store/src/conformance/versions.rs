//! Stories about versions, prompt lists and units of work that are not committed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use promptreg_core::{ChangeEvent, DeployKind, Metadata};

use super::{draft, environment, make_env, move_to, name, project, publish, push, record, v};
use crate::*;

/// A version inserted in a unit of work is seen by the unit's own reads, and after commit by
/// every read, exactly as it was written.
pub async fn versions_round_trip_through_a_tx(store: Arc<dyn Store>) {
    let meta = Metadata {
        rationale: Some("why".into()),
        tags: vec!["a".into()],
        ..Default::default()
    };
    let p = name("support/triage");
    let written = record("support/triage", 1, "Hi {{ name }}", meta.clone());
    // The store numbers the row with the seq the next event of the project will take.
    let v1 = VersionRecord {
        ledger_seq: Some(1),
        ..written.clone()
    };
    let mut tx = store.begin(&project()).await.unwrap();
    assert_eq!(tx.latest_version(&p).await.unwrap(), None);
    assert_eq!(tx.get_version(&p, v(1)).await.unwrap(), None);
    tx.insert_version(&written).await.unwrap();
    assert_eq!(tx.latest_version(&p).await.unwrap().as_ref(), Some(&v1));
    assert_eq!(tx.get_version(&p, v(1)).await.unwrap().as_ref(), Some(&v1));
    tx.commit().await.unwrap();

    assert_eq!(store.get_version(&project(), &p, v(1)).await.unwrap(), v1);
    assert_eq!(store.latest_version(&project(), &p).await.unwrap(), v1);
    assert_eq!(v1.metadata, meta);

    // The next version becomes the latest; the first stays as it was.
    let v2 = push(&*store, "support/triage", "Hello {{ name }}").await;
    assert_eq!((v2.version, v2.parent), (v(2), Some(v(1))));
    assert_eq!(store.latest_version(&project(), &p).await.unwrap(), v2);
    assert_eq!(store.get_version(&project(), &p, v(1)).await.unwrap(), v1);
    let all = store
        .list_versions(
            &project(),
            &p,
            &VersionFilter::default(),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(all, [v2.clone(), v1.clone()]);

    // Inserting a number that exists is a conflict, not a second row: reported by the step
    // itself or, where the backend sends the write with the next statement, by that one
    // (here the commit).
    let mut tx = store.begin(&project()).await.unwrap();
    let again = record("support/triage", 2, "again", Metadata::default());
    let outcome = match tx.insert_version(&again).await {
        Ok(()) => tx.commit().await,
        Err(e) => Err(e),
    };
    assert!(
        matches!(
            outcome,
            Err(StoreError::Conflict {
                code: "already_exists",
                ..
            })
        ),
        "a version number is inserted once: {outcome:?}"
    );
    assert_eq!(store.latest_version(&project(), &p).await.unwrap(), v2);

    assert!(matches!(
        store.get_version(&project(), &p, v(9)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.latest_version(&project(), &name("nope")).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A unit of work dropped without commit leaves nothing behind (rows, log, notification), and
/// releases the project's writer lock.
pub async fn a_dropped_tx_leaves_nothing(store: Arc<dyn Store>) {
    let mut tx = store.begin(&project()).await.unwrap();
    tx.insert_version(&record("p", 1, "one", Metadata::default()))
        .await
        .unwrap();
    tx.insert_environment(&environment("staging"))
        .await
        .unwrap();
    let token = super::misc::token("tok1", TokenKind::Bearer);
    tx.insert_token(&token).await.unwrap();
    let event = tx
        .append_event(draft(ChangeEvent::TokenCreated {
            project: project(),
            id: "tok1".into(),
        }))
        .await
        .unwrap();
    assert_eq!(event.seq, 1);
    drop(tx);

    // The lock is released: the next unit of work in the project begins (and sees nothing).
    let mut tx = tokio::time::timeout(Duration::from_secs(10), store.begin(&project()))
        .await
        .expect("a dropped unit of work releases the project")
        .unwrap();
    assert_eq!(tx.latest_version(&name("p")).await.unwrap(), None);
    assert_eq!(tx.get_environment(&env_name()).await.unwrap(), None);
    drop(tx);

    assert!(matches!(
        store.latest_version(&project(), &name("p")).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store
        .list_prompts(
            &project(),
            &PromptFilter::default(),
            &PageRequest::first(10)
        )
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list_environments(&project())
        .await
        .unwrap()
        .is_empty());
    assert!(store.list_tokens(&project()).await.unwrap().is_empty());
    assert_eq!(
        store
            .find_token(&TokenLookup::SecretHash(token.secret_hash))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .events_after(&project(), 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.event_heads().await.unwrap().is_empty());

    // The seq the dropped event had is given again: the log has no gap.
    let (_, event) = publish(&*store, &project(), "p", "one", Metadata::default()).await;
    assert_eq!(event.seq, 1);
}

fn env_name() -> promptreg_core::EnvName {
    super::env("staging")
}

/// Version lists are newest first, paged by keyset, filtered by tag and agent type.
pub async fn versions_page_newest_first_and_filter(store: Arc<dyn Store>) {
    for i in 1..=5 {
        let mut meta = Metadata::default();
        if i % 2 == 0 {
            meta.tags = vec!["even".into()];
            meta.compat.agent_types = vec!["triage".into()];
        }
        publish(&*store, &project(), "p", &format!("v{i}"), meta).await;
    }
    let p = name("p");
    let numbers =
        |records: Vec<StoredVersion>| records.iter().map(|r| r.version.get()).collect::<Vec<_>>();
    let all = VersionFilter::default();
    let page1 = store
        .list_versions(&project(), &p, &all, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(numbers(page1), [5, 4]);
    let page2 = store
        .list_versions(
            &project(),
            &p,
            &all,
            &PageRequest {
                limit: 2,
                after: Some(v(4)),
            },
        )
        .await
        .unwrap();
    assert_eq!(numbers(page2), [3, 2]);
    let tagged = VersionFilter {
        tag: Some("even".into()),
        agent_type: None,
    };
    let even = store
        .list_versions(&project(), &p, &tagged, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(numbers(even), [4, 2]);
    // No agent types listed means "any agent", so odd versions serve `billing` too.
    let billing = VersionFilter {
        tag: None,
        agent_type: Some("billing".into()),
    };
    let b = store
        .list_versions(&project(), &p, &billing, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(numbers(b), [5, 3, 1]);
    let triage = VersionFilter {
        tag: None,
        agent_type: Some("triage".into()),
    };
    let t = store
        .list_versions(&project(), &p, &triage, &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(numbers(t), [5], "latest compatible version for triage");
    assert!(store
        .list_versions(&project(), &name("none"), &all, &PageRequest::first(5))
        .await
        .unwrap()
        .is_empty());
}

/// Prompts list by name with prefix and tag filters and their live environments.
pub async fn prompts_list_with_prefix_tag_and_deployments(store: Arc<dyn Store>) {
    for p in [
        "support/triage",
        "support/refund",
        "sales/pitch",
        "support_x",
    ] {
        push(&*store, p, "x").await;
    }
    let tagged = Metadata {
        tags: vec!["hot".into()],
        ..Default::default()
    };
    publish(&*store, &project(), "sales/pitch", "y", tagged).await;
    make_env(&*store, &project(), "staging").await;
    move_to(
        &*store,
        &project(),
        "staging",
        "support/triage",
        1,
        DeployKind::Deploy,
    )
    .await;

    let names = |list: &[PromptRecord<StoredContent>]| {
        list.iter()
            .map(|p| p.name.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let support = PromptFilter {
        prefix: Some("support/".into()),
        tag: None,
    };
    let list = store
        .list_prompts(&project(), &support, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(names(&list), ["support/refund", "support/triage"]);
    assert_eq!(list[1].deployed, vec![(env_name(), v(1))]);
    assert!(list[0].deployed.is_empty());

    let hot = PromptFilter {
        prefix: None,
        tag: Some("hot".into()),
    };
    let list = store
        .list_prompts(&project(), &hot, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(names(&list), ["sales/pitch"]);
    assert_eq!(list[0].latest.version, v(2));

    let all = PromptFilter::default();
    let page1 = store
        .list_prompts(&project(), &all, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(names(&page1), ["sales/pitch", "support/refund"]);
    let page2 = store
        .list_prompts(
            &project(),
            &all,
            &PageRequest {
                limit: 5,
                after: Some(name("support/refund")),
            },
        )
        .await
        .unwrap();
    assert_eq!(names(&page2), ["support/triage", "support_x"]);
    // A prefix is literal: `_` and `%` are not wildcards.
    let lit = PromptFilter {
        prefix: Some("support_".into()),
        tag: None,
    };
    let list = store
        .list_prompts(&project(), &lit, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(names(&list), ["support_x"]);
}

/// A publish planned outside the lock is written only while its plan holds: the newest version
/// is still the one it was planned from. Racing such publishes and locked units of work never
/// fail a locked writer and leave versions and the log dense, in commit order.
pub async fn publish_if_latest_writes_only_while_the_plan_holds(store: Arc<dyn Store>) {
    let p = name("cas/one");
    let created = |version: &StoredVersion| {
        draft(ChangeEvent::VersionCreated {
            project: project(),
            name: version.name.clone(),
            version: version.version,
            digest: version.digest.clone(),
            signature: None,
        })
    };
    let v1 = record("cas/one", 1, "first", Metadata::default());
    let event = store
        .publish_if_latest(&project(), None, &v1, created(&v1))
        .await
        .unwrap()
        .expect("a new prompt has no version: the plan holds");
    assert_eq!(event.seq, 1);
    let stored = store.latest_version(&project(), &p).await.unwrap();
    assert_eq!(
        stored,
        VersionRecord {
            ledger_seq: Some(1),
            ..v1.clone()
        }
    );

    // Planned from a state that is gone: nothing is written, nothing is logged.
    let stale = record("cas/one", 1, "first again", Metadata::default());
    let outcome = store
        .publish_if_latest(&project(), None, &stale, created(&stale))
        .await
        .unwrap();
    assert_eq!(outcome, None);
    let v2 = record("cas/one", 2, "second", Metadata::default());
    assert_eq!(
        store
            .publish_if_latest(&project(), Some(v(2)), &v2, created(&v2))
            .await
            .unwrap(),
        None,
        "expected a version that does not exist yet"
    );
    assert_eq!(
        store.events_after(&project(), 0, 10).await.unwrap().len(),
        1
    );
    assert_eq!(store.latest_version(&project(), &p).await.unwrap(), stored);

    let event = store
        .publish_if_latest(&project(), Some(v(1)), &v2, created(&v2))
        .await
        .unwrap()
        .expect("v1 is still the newest");
    assert_eq!(event.seq, 2);
    assert_eq!(
        store.latest_version(&project(), &p).await.unwrap().version,
        v(2)
    );

    // Optimistic writers on one prompt (falling back to the lock when they lose) race locked
    // writers on another prompt of the same project.
    const WRITERS: i64 = 8;
    const EACH: i64 = 4;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut events = Vec::new();
            for i in 0..EACH {
                let template = format!("writer {w} write {i}");
                if w % 2 == 0 {
                    let (_, event) = publish(
                        &*store,
                        &project(),
                        "cas/locked",
                        &template,
                        Metadata::default(),
                    )
                    .await;
                    events.push(event);
                    continue;
                }
                let latest = store.latest_version(&project(), &name("cas/race")).await;
                let expected = latest.ok().map(|l| l.version);
                let n = expected.map_or(1, |e| e.get() + 1);
                let version = record("cas/race", n, &template, Metadata::default());
                let change = draft(ChangeEvent::VersionCreated {
                    project: project(),
                    name: version.name.clone(),
                    version: version.version,
                    digest: version.digest.clone(),
                    signature: None,
                });
                let written = store
                    .publish_if_latest(&project(), expected, &version, change)
                    .await
                    .unwrap();
                let event = match written {
                    Some(event) => event,
                    None => {
                        publish(
                            &*store,
                            &project(),
                            "cas/race",
                            &template,
                            Metadata::default(),
                        )
                        .await
                        .1
                    }
                };
                events.push(event);
            }
            events
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.extend(t.await.unwrap().into_iter().map(|e| e.seq));
    }
    seqs.sort_unstable();
    let total = WRITERS * EACH;
    assert_eq!(
        seqs,
        (3..3 + total).collect::<Vec<_>>(),
        "the log stays dense"
    );
    let log = store.events_after(&project(), 0, 1000).await.unwrap();
    assert_eq!(log.len(), usize::try_from(total + 2).unwrap());
    // Every version of each prompt exists once, numbered densely, and a later number was
    // committed later (its event has a higher seq).
    for prompt in ["cas/race", "cas/locked"] {
        let mut announced: Vec<(i64, i64)> = log
            .iter()
            .filter_map(|e| match &e.change {
                ChangeEvent::VersionCreated { name, version, .. } if name.as_str() == prompt => {
                    Some((version.get(), e.seq))
                }
                _ => None,
            })
            .collect();
        announced.sort_unstable();
        let numbers: Vec<i64> = announced.iter().map(|a| a.0).collect();
        assert_eq!(numbers, (1..=total / 2).collect::<Vec<_>>(), "{prompt}");
        assert!(announced.windows(2).all(|w| w[0].1 < w[1].1), "{prompt}");
        for (n, seq) in announced {
            let stored = store
                .get_version(&project(), &name(prompt), v(n))
                .await
                .unwrap();
            assert_eq!(stored.ledger_seq, Some(seq), "{prompt} v{n}");
        }
    }
}
