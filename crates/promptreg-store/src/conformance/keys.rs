//! Signing keys and the records' signatures and ledger positions.

use std::sync::Arc;

use super::*;

fn key(id: &str, minute: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        key_id: id.into(),
        algorithm: "ed25519".into(),
        public_key: format!("pk-{id}"),
        created_at: at(minute * 60),
        retired_at: None,
    }
}

/// Keys are kept oldest first; adding one again changes nothing; a rotation retires the old
/// key at the new key's time and keeps it listed. Versions and moves come back with their
/// signature byte for byte and the seq of the event appended after them.
pub async fn signing_keys_rotate_and_records_keep_signatures(store: Arc<dyn Store>) {
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    store.add_signing_key(&key("a", 1), None).await.unwrap();
    store.add_signing_key(&key("a", 9), None).await.unwrap();
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![key("a", 1)]);
    store
        .add_signing_key(&key("b", 2), Some("a"))
        .await
        .unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(
        keys,
        vec![
            SigningKeyRecord {
                retired_at: Some(at(120)),
                ..key("a", 1)
            },
            key("b", 2)
        ]
    );

    make_env(&*store, &project(), "staging").await;
    let v1 = push(&*store, "k/p", "one").await;
    let v2 = push(&*store, "k/p", "two").await;
    assert!(v1.ledger_seq.is_some() && v2.ledger_seq > v1.ledger_seq);
    let read = store
        .get_version(&project(), &name("k/p"), v(2))
        .await
        .unwrap();
    assert_eq!(read, v2, "signature and ledger_seq round trip");
    let moved = move_to(&*store, &project(), "staging", "k/p", 2, DeployKind::Deploy).await;
    assert!(moved.signature.is_some() && moved.ledger_seq > v2.ledger_seq);
    let history = store
        .history(
            &project(),
            &env("staging"),
            &name("k/p"),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(history.first(), Some(&moved));
}
