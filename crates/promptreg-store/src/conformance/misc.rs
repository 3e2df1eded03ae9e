//! Stories about tokens, the event log, concurrent writers and project isolation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::{ChangeEvent, DeployKind, Metadata, ProjectId, Role};

use super::{at, draft, env, make_env, move_to, name, other, project, publish, v};
use crate::*;

/// A token of the default project, created at `at(n)` for `tokN`.
pub(crate) fn token(id: &str, kind: TokenKind) -> TokenRecord {
    let n: i64 = id.trim_start_matches("tok").parse().unwrap_or(0);
    TokenRecord {
        id: id.into(),
        project: project(),
        name: format!("{id} token"),
        role: Role::Author,
        kind,
        public_key: (kind == TokenKind::KeyPair).then(|| format!("pk-{id}")),
        secret_hash: format!("{id:0>64}"),
        created_by: "admin".into(),
        created_at: at(n),
        revoked_at: None,
        scope: Default::default(),
        expires_at: None,
        last_used_at: None,
    }
}

/// Tokens are inserted once, listed oldest first, found by what a credential carries, and
/// revoked once, only in their own project.
pub async fn tokens_are_inserted_found_and_revoked(store: Arc<dyn Store>) {
    let bearer = token("tok1", TokenKind::Bearer);
    let pair = token("tok2", TokenKind::KeyPair);
    let mut tx = store.begin(&project()).await.unwrap();
    tx.insert_token(&bearer).await.unwrap();
    tx.insert_token(&pair).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(&project()).await.unwrap();
    assert!(matches!(
        tx.insert_token(&bearer).await,
        Err(StoreError::Conflict {
            code: "already_exists",
            ..
        })
    ));
    drop(tx);

    assert_eq!(
        store.list_tokens(&project()).await.unwrap(),
        [bearer.clone(), pair.clone()]
    );
    assert_eq!(store.get_token("tok2").await.unwrap(), pair);
    assert!(matches!(
        store.get_token("ghost").await,
        Err(StoreError::NotFound(_))
    ));
    let by_hash = |h: &str| TokenLookup::SecretHash(h.into());
    let by_key = |k: &str| TokenLookup::PublicKey(k.into());
    assert_eq!(
        store
            .find_token(&by_hash(&bearer.secret_hash))
            .await
            .unwrap(),
        Some(bearer.clone())
    );
    // A key pair is found by its public key only, never by its secret's hash alone.
    assert_eq!(
        store.find_token(&by_hash(&pair.secret_hash)).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_token(&by_key("pk-tok2")).await.unwrap(),
        Some(pair.clone())
    );
    assert_eq!(store.find_token(&by_key("pk-nope")).await.unwrap(), None);
    assert_eq!(
        store.find_token(&by_hash(&"f".repeat(64))).await.unwrap(),
        None
    );

    // Revoking is scoped by project: another project's unit of work does not see tok1.
    let mut tx = store.begin(&other()).await.unwrap();
    assert_eq!(tx.revoke_token("tok1", at(9)).await.unwrap(), None);
    tx.commit().await.unwrap();
    let mut tx = store.begin(&project()).await.unwrap();
    let revoked = tx.revoke_token("tok1", at(9)).await.unwrap();
    assert_eq!(
        revoked,
        Some(TokenRecord {
            revoked_at: Some(at(9)),
            ..bearer.clone()
        })
    );
    assert_eq!(tx.revoke_token("tok1", at(10)).await.unwrap(), None);
    assert_eq!(tx.revoke_token("ghost", at(10)).await.unwrap(), None);
    tx.commit().await.unwrap();

    let active = store.load_tokens().await.unwrap();
    assert_eq!(active, std::slice::from_ref(&pair));
    assert_eq!(store.list_tokens(&project()).await.unwrap(), [pair]);
    // A revoked token is still found (so the caller can say it is revoked), with its time.
    let found = store
        .find_token(&by_hash(&bearer.secret_hash))
        .await
        .unwrap();
    assert_eq!(found.and_then(|t| t.revoked_at), Some(at(9)));
    assert_eq!(
        store.get_token("tok1").await.unwrap().revoked_at,
        Some(at(9))
    );
}

/// The log numbers a project's events 1, 2, 3… (also several in one unit of work); what is
/// read back is the appended record, byte for byte in its canonical form.
pub async fn the_event_log_is_dense_and_round_trips(store: Arc<dyn Store>) {
    let (_, first) = publish(&*store, &project(), "p", "one", Metadata::default()).await;
    assert_eq!(first.seq, 1);

    // Two events in one unit of work, with every optional field and text that needs escaping,
    // one of them longer than a PostgreSQL notification may be.
    let odd = "quote \" backslash \\ newline \n tab \t é ü 🦀 \u{7f} </script>".to_owned();
    let mut tx = store.begin(&project()).await.unwrap();
    let mut second = draft(ChangeEvent::EnvironmentCreated {
        project: project(),
        env: env("staging"),
    });
    second.reason = Some(odd.clone());
    second.request_id = Some("req-42".into());
    second.actor = "tok9:déploiement".into();
    let mut third = draft(ChangeEvent::TokenRevoked {
        project: project(),
        id: "tok1".into(),
    });
    third.reason = Some(odd.repeat(400));
    let expected = [second.clone().at_seq(2), third.clone().at_seq(3)];
    assert_eq!(tx.append_event(second).await.unwrap(), expected[0]);
    assert_eq!(tx.append_event(third).await.unwrap(), expected[1]);
    tx.commit().await.unwrap();
    assert_eq!(first, draft(first.change.clone()).at_seq(1));

    let all = store.events_after(&project(), 0, 100).await.unwrap();
    assert_eq!(
        all,
        [first.clone(), expected[0].clone(), expected[1].clone()]
    );
    // As stored, each entry is its record's canonical JSON, byte for byte (the ledger's leaf).
    let raw = store.log_entries(&project(), 1, 100).await.unwrap();
    assert_eq!(raw.len(), 2);
    for (entry, record) in raw.iter().zip(&expected) {
        assert_eq!(entry.seq, record.seq);
        assert_eq!(entry.kind, record.change.kind());
        assert_eq!(entry.body.as_bytes(), record.canonical_bytes().as_slice());
    }
    for (read, written) in all.iter().zip([&first, &expected[0], &expected[1]]) {
        assert_eq!(read.canonical_bytes(), written.canonical_bytes());
    }
    assert_eq!(
        store.events_after(&project(), 1, 100).await.unwrap(),
        expected
    );
    assert_eq!(
        store.events_after(&project(), 1, 1).await.unwrap(),
        expected[..1]
    );
    assert!(store
        .events_after(&project(), 3, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .events_after(&other(), 0, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.event_heads().await.unwrap(), [(project(), 3)]);
}

/// 16 writers of one project, each reading the latest version and inserting the next one with
/// its event, all at once: `begin` makes them take turns, so versions are exactly 1..=16 and
/// event seqs exactly 1..=16, each version's event at the seq of its commit.
pub async fn concurrent_writers_take_turns(store: Arc<dyn Store>) {
    const WRITERS: i64 = 16;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            publish(
                &*store,
                &project(),
                "race/one",
                &format!("writer {w}"),
                Metadata::default(),
            )
            .await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let mut numbers: Vec<i64> = results.iter().map(|(r, _)| r.version.get()).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=WRITERS).collect::<Vec<_>>(),
        "versions 1..=16"
    );
    let mut seqs: Vec<i64> = results.iter().map(|(_, e)| e.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=WRITERS).collect::<Vec<_>>(), "event seqs 1..=16");
    // Seq order is commit order: the n-th event announces version n.
    for (version, event) in &results {
        assert_eq!(event.seq, version.version.get());
        let stored = store
            .get_version(&project(), &name("race/one"), version.version)
            .await
            .unwrap();
        assert_eq!(&stored, version);
    }
    let log = store.events_after(&project(), 0, 100).await.unwrap();
    assert_eq!(log.len(), 16);
    assert_eq!(store.event_heads().await.unwrap(), [(project(), WRITERS)]);
}

/// Projects share nothing: names, versions, environments, pointers, tokens and logs are per
/// project, and each log counts from 1.
pub async fn projects_are_isolated(store: Arc<dyn Store>) {
    let (a1, a_event) = publish(&*store, &project(), "p", "default one", Metadata::default()).await;
    let (b1, b_event) = publish(&*store, &other(), "p", "other one", Metadata::default()).await;
    assert_eq!(
        (a1.version, b1.version),
        (v(1), v(1)),
        "numbering is per project"
    );
    assert_eq!((a_event.seq, b_event.seq), (1, 1), "each log counts from 1");
    assert_eq!(b_event.project, other());
    assert_eq!(
        store.latest_version(&project(), &name("p")).await.unwrap(),
        a1
    );
    assert_eq!(
        store.latest_version(&other(), &name("p")).await.unwrap(),
        b1
    );

    make_env(&*store, &project(), "production").await;
    assert!(matches!(
        store.get_environment(&other(), &env("production")).await,
        Err(StoreError::NotFound(_))
    ));
    let mut tx = store.begin(&other()).await.unwrap();
    assert_eq!(tx.get_environment(&env("production")).await.unwrap(), None);
    assert_eq!(
        tx.latest_version(&name("p")).await.unwrap(),
        Some(b1.clone())
    );
    drop(tx);
    make_env(&*store, &other(), "production").await;
    let moved = move_to(&*store, &other(), "production", "p", 1, DeployKind::Deploy).await;
    assert_eq!(moved.digest, b1.digest);
    assert!(store
        .catalog(&project(), &env("production"), &PageRequest::first(10))
        .await
        .unwrap()
        .is_empty());
    let all = store.load_deployed().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].project.clone(), all[0].seq), (other(), 1));
    assert_eq!(all[0].version, b1);
    assert_eq!(
        store
            .list_prompts(&other(), &PromptFilter::default(), &PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );

    let theirs = TokenRecord {
        project: other(),
        ..token("tok3", TokenKind::Bearer)
    };
    let mut tx = store.begin(&other()).await.unwrap();
    tx.insert_token(&theirs).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.list_tokens(&project()).await.unwrap().is_empty());
    assert_eq!(store.list_tokens(&other()).await.unwrap(), [theirs]);

    let ours: Vec<i64> = store
        .events_after(&project(), 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    let their_log = store.events_after(&other(), 0, 100).await.unwrap();
    assert_eq!(ours, [1, 2]);
    assert_eq!(
        their_log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(their_log.iter().all(|e| e.project == other()));
    let mut heads = store.event_heads().await.unwrap();
    heads.sort();
    let mut expected: Vec<(ProjectId, i64)> = vec![(project(), 2), (other(), 3)];
    expected.sort();
    assert_eq!(heads, expected);
}
