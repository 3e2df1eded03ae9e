//! Webhooks: created and deleted in a unit of work, leased like rollouts, a cursor that only
//! moves forward with settled deliveries, and the delivery history newest first.

use std::sync::Arc;

use super::*;

fn webhook(p: &ProjectId, id: &str, cursor: i64) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        project: p.clone(),
        url: "https://hooks.example/in".into(),
        events: vec!["pointer_moved".into(), "version_created".into()],
        description: Some("ci".into()),
        secret: "whsec_x".into(),
        created_by: "tok1:admin".into(),
        created_at: at(1),
        cursor,
    }
}

fn delivery(id: &str, seq: i64, status: DeliveryStatus, attempts: u32) -> DeliveryRecord {
    DeliveryRecord {
        project: project(),
        webhook: id.into(),
        seq,
        event: "version_created".into(),
        status,
        attempts,
        response_code: Some(500),
        error: Some("HTTP 500".into()),
        first_attempt_at: at(2),
        last_attempt_at: at(3),
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| at(5)),
        duration_ms: 12,
    }
}

/// Creating, leasing, delivering (cursor, history) and deleting a webhook.
pub async fn webhooks_lease_deliver_and_delete(store: Arc<dyn Store>) {
    let s = store.as_ref();
    push(s, "a/b", "one").await;
    let mut tx = s.begin(&project()).await.unwrap();
    tx.insert_webhook(&webhook(&project(), "wh_1", 1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.begin(&project()).await.unwrap();
    let dup = tx.insert_webhook(&webhook(&project(), "wh_1", 1)).await;
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
    drop(tx);
    let mut tx = s.begin(&other()).await.unwrap();
    tx.insert_webhook(&webhook(&other(), "wh_2", 0))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        s.get_webhook(&project(), "wh_1").await.unwrap(),
        webhook(&project(), "wh_1", 1)
    );
    assert!(matches!(
        s.get_webhook(&project(), "wh_2").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.list_webhooks(&project()).await.unwrap().len(), 1);
    assert_eq!(s.load_webhooks().await.unwrap().len(), 2);

    // The lease: one owner at a time until it lapses.
    assert!(s
        .claim_webhook(&project(), "wh_1", "a", at(10), at(15))
        .await
        .unwrap());
    assert!(!s
        .claim_webhook(&project(), "wh_1", "b", at(11), at(16))
        .await
        .unwrap());
    assert!(s
        .claim_webhook(&project(), "wh_1", "a", at(12), at(17))
        .await
        .unwrap());
    assert!(s
        .claim_webhook(&project(), "wh_1", "b", at(18), at(23))
        .await
        .unwrap());

    // A pending attempt leaves the cursor; a settled one moves it; it never goes back.
    s.save_delivery(&delivery("wh_1", 2, DeliveryStatus::Pending, 1))
        .await
        .unwrap();
    assert_eq!(s.get_webhook(&project(), "wh_1").await.unwrap().cursor, 1);
    s.save_delivery(&delivery("wh_1", 2, DeliveryStatus::Delivered, 2))
        .await
        .unwrap();
    assert_eq!(s.get_webhook(&project(), "wh_1").await.unwrap().cursor, 2);
    s.advance_webhook(&project(), "wh_1", 5).await.unwrap();
    s.advance_webhook(&project(), "wh_1", 3).await.unwrap();
    assert_eq!(s.get_webhook(&project(), "wh_1").await.unwrap().cursor, 5);
    s.save_delivery(&delivery("wh_1", 6, DeliveryStatus::Failed, 8))
        .await
        .unwrap();
    assert!(matches!(
        s.save_delivery(&delivery("wh_9", 1, DeliveryStatus::Delivered, 1))
            .await,
        Err(StoreError::NotFound(_))
    ));

    let all = s
        .list_deliveries(&project(), "wh_1", &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        all.iter()
            .map(|d| (d.seq, d.status, d.attempts))
            .collect::<Vec<_>>(),
        [
            (6, DeliveryStatus::Failed, 8),
            (2, DeliveryStatus::Delivered, 2)
        ]
    );
    assert_eq!(all[1], delivery("wh_1", 2, DeliveryStatus::Delivered, 2));
    let older = s
        .list_deliveries(
            &project(),
            "wh_1",
            &PageRequest {
                limit: 10,
                after: Some(6),
            },
        )
        .await
        .unwrap();
    assert_eq!(older.len(), 1);

    // Deleting takes the history with it, in this project only.
    let mut tx = s.begin(&project()).await.unwrap();
    assert!(tx.delete_webhook("wh_2").await.unwrap().is_none());
    assert_eq!(
        tx.delete_webhook("wh_1").await.unwrap().map(|w| w.id),
        Some("wh_1".to_owned())
    );
    tx.commit().await.unwrap();
    assert!(s.list_webhooks(&project()).await.unwrap().is_empty());
    assert!(s
        .list_deliveries(&project(), "wh_1", &PageRequest::first(10))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.load_webhooks().await.unwrap().len(), 1);
}
