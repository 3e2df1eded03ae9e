//! Stories about retention's steps: lifecycle rules, what the rules read (versions without
//! content, environments, every deployment record, every rollout) and the prune, which
//! leaves a tombstone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use promptreg_core::retention::Rules;
use promptreg_core::rollout::{machine, RolloutSpec, Status};
use promptreg_core::{DeployKind, Metadata, PromptType};
use serde_json::json;

use super::{at, content, environment, make_env, move_to, name, other, project, record, v};
use crate::*;

async fn insert(store: &dyn Store, p: &ProjectId, version: &StoredVersion) {
    let mut tx = store.begin(p).await.unwrap();
    tx.insert_version(version).await.unwrap();
    tx.commit().await.unwrap();
}

fn rollout(id: &str, stable: i64, candidate: i64, status: Status) -> RolloutRecord {
    let spec = RolloutSpec::parse(
        &json!({"canary": {"steps": [{"set_weight": 500}, {"pause": {"duration": "60s"}}]}}),
        None,
    )
    .unwrap();
    let (mut state, _) = machine::start(&spec, at(10));
    state.status = status;
    RolloutRecord {
        id: id.into(),
        project: project(),
        env: super::env("staging"),
        name: name("a"),
        stable_version: v(stable),
        stable_digest: content("x").digest(),
        candidate_version: v(candidate),
        candidate_digest: content("y").digest(),
        spec,
        state,
        revision: 1,
        reason: None,
        created_by: "tester".into(),
        created_at: at(10),
        updated_at: at(11),
        analysis: json!({}),
    }
}

/// Lifecycle rules are absent until set, then read back (in and out of a unit of work) and
/// replaced; the reads the rules need list only this project's rows, in order; a prune
/// drops the content of one version (sealed or plaintext) and keeps the rest of the row,
/// once; a rewrap or a sealing never writes into a pruned row.
pub async fn retention_reads_rules_and_prunes_to_a_tombstone(store: Arc<dyn Store>) {
    assert_eq!(store.lifecycle(&project()).await.unwrap(), None);
    let rules = LifecycleRecord {
        rules: Rules::new(Some(3), Some(Duration::from_secs(30 * 86_400))).unwrap(),
        updated_by: "tok1:admin".into(),
        updated_at: at(1),
    };
    let mut tx = store.begin(&project()).await.unwrap();
    assert_eq!(tx.lifecycle().await.unwrap(), None);
    tx.set_lifecycle(&rules).await.unwrap();
    assert_eq!(tx.lifecycle().await.unwrap(), Some(rules.clone()));
    tx.commit().await.unwrap();
    assert_eq!(store.lifecycle(&project()).await.unwrap(), Some(rules));
    let cleared = LifecycleRecord {
        rules: Rules::default(),
        updated_by: "tok2:admin".into(),
        updated_at: at(2),
    };
    let mut tx = store.begin(&project()).await.unwrap();
    tx.set_lifecycle(&cleared).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.lifecycle(&project()).await.unwrap(), Some(cleared));
    assert_eq!(store.lifecycle(&other()).await.unwrap(), None);

    // a/1 plaintext (older than encryption at rest), a/2 and b/1 sealed; one elsewhere.
    let legacy = VersionRecord {
        content: StoredContent::Plain(content("Legacy")),
        digest: content("Legacy").digest(),
        ..record("a", 1, "unused", Metadata::default())
    };
    let a2 = record("a", 2, "Two", Metadata::default());
    let b1 = record("b", 1, "B", Metadata::default());
    for version in [&legacy, &a2, &b1] {
        insert(&*store, &project(), version).await;
    }
    insert(
        &*store,
        &other(),
        &record("a", 1, "Elsewhere", Metadata::default()),
    )
    .await;
    make_env(&*store, &project(), "staging").await;
    make_env(&*store, &project(), "production").await;
    make_env(&*store, &other(), "staging").await;
    let s1 = move_to(&*store, &project(), "staging", "a", 1, DeployKind::Deploy).await;
    let s2 = move_to(&*store, &project(), "staging", "a", 2, DeployKind::Deploy).await;
    let p1 = move_to(
        &*store,
        &project(),
        "production",
        "b",
        1,
        DeployKind::Deploy,
    )
    .await;
    move_to(&*store, &other(), "staging", "a", 1, DeployKind::Deploy).await;
    let mut tx = store.begin(&project()).await.unwrap();
    tx.insert_rollout(&rollout("r2", 2, 1, Status::Progressing))
        .await
        .unwrap();
    tx.insert_rollout(&rollout("r1", 1, 2, Status::Aborted))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(&project()).await.unwrap();
    let stubs = tx.version_stubs().await.unwrap();
    let stub = |v: &StoredVersion| VersionStub {
        name: v.name.clone(),
        version: v.version,
        digest: v.digest.clone(),
        created_at: v.created_at,
        pruned_at: None,
    };
    assert_eq!(stubs, [stub(&legacy), stub(&a2), stub(&b1)]);
    assert_eq!(
        tx.environments().await.unwrap(),
        [environment("production"), environment("staging")]
    );
    assert_eq!(tx.all_deployments().await.unwrap(), [p1, s1, s2]);
    let ids: Vec<String> = tx
        .all_rollouts()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["r1", "r2"], "over or not, by id");

    // The prune: both kinds of content go, the rest of the row stays.
    assert!(tx.prune_version(&name("a"), v(1), at(20)).await.unwrap());
    assert!(tx.prune_version(&name("a"), v(2), at(20)).await.unwrap());
    assert!(
        !tx.prune_version(&name("a"), v(2), at(21)).await.unwrap(),
        "once"
    );
    assert!(!tx.prune_version(&name("zz"), v(1), at(21)).await.unwrap());
    let seen = tx.get_version(&name("a"), v(2)).await.unwrap().unwrap();
    assert_eq!(
        seen.content.pruned_at(),
        Some(at(20)),
        "seen in the unit of work"
    );
    tx.commit().await.unwrap();
    for (before, pruned) in [(&legacy, 1), (&a2, 2)] {
        let tomb = store
            .get_version(&project(), &name("a"), v(pruned))
            .await
            .unwrap();
        assert_eq!(
            tomb.content,
            StoredContent::Pruned {
                prompt_type: PromptType::Text,
                pruned_at: at(20)
            }
        );
        let mut kept = before.clone().with_content(());
        kept.ledger_seq = tomb.ledger_seq;
        assert_eq!(
            tomb.clone().with_content(()),
            kept,
            "the rest of the row stays"
        );
    }
    let listed = store
        .list_versions(
            &project(),
            &name("a"),
            &VersionFilter::default(),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(listed.iter().all(|v| v.content.pruned_at().is_some()));
    assert_eq!(
        store
            .get_version(&project(), &name("b"), v(1))
            .await
            .unwrap()
            .content,
        b1.content,
        "other versions keep their content"
    );
    assert_eq!(
        store
            .get_version(&other(), &name("a"), v(1))
            .await
            .unwrap()
            .content
            .pruned_at(),
        None,
        "other projects too"
    );
    let mut tx = store.begin(&project()).await.unwrap();
    let stubs = tx.version_stubs().await.unwrap();
    assert_eq!(stubs[1].pruned_at, Some(at(20)));
    drop(tx);

    // A KEK rotation never writes content back into a tombstone.
    let back = [
        Reseal {
            project: project(),
            name: name("a"),
            version: v(1),
            from_kek: None,
            sealed: super::sealing("Legacy", "k2", 1),
        },
        Reseal {
            project: project(),
            name: name("a"),
            version: v(2),
            from_kek: Some("k1".into()),
            sealed: super::sealing("Two", "k2", 1),
        },
    ];
    assert_eq!(store.reseal(&back).await.unwrap(), 0);
    let all = store.all_versions(None, 10).await.unwrap();
    assert_eq!(
        all.iter()
            .filter(|(_, v)| v.content.pruned_at().is_some())
            .count(),
        2
    );
}
