//! The import steps: counting a project's rows, clearing what a first start wrote, and
//! replaying an exported log verbatim.

use std::sync::Arc;

use super::*;

fn key(id: &str) -> SigningKeyRecord {
    SigningKeyRecord {
        key_id: id.into(),
        algorithm: "ed25519".into(),
        public_key: format!("pk-{id}"),
        created_at: at(1),
        retired_at: Some(at(2)),
    }
}

/// Replays `source`'s log into the unit of work as an import does: each entry's row first
/// (so it gets the entry's seq as its `ledger_seq`), then the entry itself.
async fn replay(tx: &mut dyn StoreTx, store: &dyn Store, source: &ProjectId) -> Vec<LogEntry> {
    let entries = store.log_entries(source, 0, 100).await.unwrap();
    for entry in &entries {
        let record = EventRecord::from_bytes(entry.body.as_bytes()).unwrap();
        match &record.change {
            ChangeEvent::EnvironmentCreated { env, .. } => {
                tx.insert_environment(&environment(env.as_str()))
                    .await
                    .unwrap();
            }
            ChangeEvent::VersionCreated { name, version, .. } => {
                let v = store.get_version(source, name, *version).await.unwrap();
                tx.insert_version(&VersionRecord {
                    ledger_seq: None,
                    ..v
                })
                .await
                .unwrap();
            }
            ChangeEvent::PointerMoved { env, name, seq, .. } => {
                let page = PageRequest::first(100);
                let history = store.history(source, env, name, &page).await.unwrap();
                let r = history.into_iter().find(|r| r.seq == *seq).unwrap();
                tx.insert_deployment(&DeploymentRecord {
                    ledger_seq: None,
                    ..r
                })
                .await
                .unwrap();
            }
            _ => {}
        }
        tx.import_event(entry, record.at).await.unwrap();
    }
    entries
}

/// A project's rows are counted; clearing removes its environments and log; a log replayed
/// entry by entry comes back byte for byte, with every row's `ledger_seq` and signature as in
/// the source; an entry whose seq is taken is a conflict; a dropped import leaves nothing.
pub async fn an_import_replays_a_log_verbatim(store: Arc<dyn Store>) {
    let (target, source) = (project(), other());
    make_env(&*store, &target, "staging").await;
    let mut tx = store.begin(&target).await.unwrap();
    let first_start = ProjectCounts {
        environments: 1,
        ..ProjectCounts::default()
    };
    assert_eq!(tx.count_rows().await.unwrap(), first_start);
    drop(tx);

    make_env(&*store, &source, "production").await;
    publish(&*store, &source, "k/p", "one", Metadata::default()).await;
    publish(&*store, &source, "k/p", "two", Metadata::default()).await;
    let moved = move_to(&*store, &source, "production", "k/p", 2, DeployKind::Deploy).await;
    let mut tx = store.begin(&source).await.unwrap();
    let counts = tx.count_rows().await.unwrap();
    drop(tx);
    assert_eq!(
        counts,
        ProjectCounts {
            versions: 2,
            deployments: 1,
            environments: 1,
            other_events: 3,
            ..ProjectCounts::default()
        }
    );

    // A dropped import changes nothing.
    let mut tx = store.begin(&target).await.unwrap();
    tx.clear_for_import().await.unwrap();
    replay(&mut *tx, &*store, &source).await;
    drop(tx);
    let kept = store.log_entries(&target, 0, 100).await.unwrap();
    assert_eq!(kept.len(), 1, "the first start's log is still there");
    assert_eq!(store.list_environments(&target).await.unwrap().len(), 1);

    let mut tx = store.begin(&target).await.unwrap();
    tx.clear_for_import().await.unwrap();
    tx.import_signing_key(&key("a")).await.unwrap();
    tx.import_signing_key(&SigningKeyRecord {
        retired_at: None,
        ..key("a")
    })
    .await
    .unwrap();
    let entries = replay(&mut *tx, &*store, &source).await;
    tx.commit().await.unwrap();

    assert_eq!(store.log_entries(&target, 0, 100).await.unwrap(), entries);
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![key("a")]);
    let envs = store.list_environments(&target).await.unwrap();
    assert_eq!(envs, vec![environment("production")], "staging was cleared");
    for n in [1, 2] {
        let read = store
            .get_version(&target, &name("k/p"), v(n))
            .await
            .unwrap();
        let original = store
            .get_version(&source, &name("k/p"), v(n))
            .await
            .unwrap();
        assert_eq!(
            read, original,
            "version {n} with its ledger_seq and signature"
        );
    }
    let page = PageRequest::first(10);
    let history = store
        .history(&target, &env("production"), &name("k/p"), &page)
        .await
        .unwrap();
    assert_eq!(history, vec![moved]);
    let deployed = store.load_deployed().await.unwrap();
    assert!(deployed
        .iter()
        .any(|d| d.project == target && d.version.version == v(2) && d.seq == 1));

    let mut tx = store.begin(&target).await.unwrap();
    let err = tx.import_event(&entries[0], at(0)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { .. }),
        "a taken seq: {err:?}"
    );
}
