//! Change requests: inserted, read back with their reviews, one review per reviewer,
//! updated, filtered by effective status (expiry judged by the filter's `now`), found by
//! rollout, isolated by project; environments' protection and approval count updated.

use std::sync::Arc;

use promptreg_core::change::{ChangeStatus, Verdict};

use super::*;

fn request(id: &str, e: &str, expires: i64) -> ChangeRequestRecord {
    ChangeRequestRecord {
        id: id.into(),
        env: env(e),
        name: name("p"),
        version: Version::FIRST,
        digest: promptreg_core::Digest::of_bytes(id.as_bytes()),
        reason: format!("ship {id}"),
        status: ChangeStatus::Pending,
        requested_by: "dep:deployer".into(),
        author: "auth:author".into(),
        created_at: at(10),
        expires_at: at(expires),
        applied_at: None,
        applied_by: None,
        rollout: None,
        reviews: Vec::new(),
    }
}

fn review(who: &str, verdict: Verdict, t: i64) -> ChangeReviewRecord {
    ChangeReviewRecord {
        reviewer_id: who.into(),
        reviewer: format!("{who}:person"),
        verdict,
        comment: Some(format!("{who} says {}", verdict.as_str())),
        at: at(t),
    }
}

/// The story.
pub async fn change_requests_round_trip_with_reviews_and_filters(store: Arc<dyn Store>) {
    make_env(&*store, &project(), "production").await;
    let mut tx = store.begin(&project()).await.unwrap();
    tx.insert_change_request(&request("a1", "production", 1_000))
        .await
        .unwrap();
    tx.insert_change_request(&request("a2", "production", 20))
        .await
        .unwrap();
    tx.insert_change_review("a1", &review("r1", Verdict::Approve, 11))
        .await
        .unwrap();
    tx.insert_change_review("a1", &review("r2", Verdict::Reject, 12))
        .await
        .unwrap();
    let mut locked = tx.lock_change_request("a1").await.unwrap().unwrap();
    assert_eq!(locked.reviews.len(), 2, "reviews come with the request");
    assert_eq!(locked.reviews[0], review("r1", Verdict::Approve, 11));
    assert_eq!(locked.approvals(), 1);
    locked.status = ChangeStatus::Applied;
    locked.applied_at = Some(at(14));
    locked.applied_by = Some("dep:deployer".into());
    locked.rollout = Some("roll-1".into());
    tx.update_change_request(&locked).await.unwrap();
    assert_eq!(
        tx.change_request_of_rollout("roll-1").await.unwrap(),
        Some(locked.clone())
    );
    assert_eq!(tx.change_request_of_rollout("roll-2").await.unwrap(), None);
    assert_eq!(tx.lock_change_request("nope").await.unwrap(), None);
    let mut production = tx
        .get_environment(&env("production"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(production.approvals_required, 1, "one approval by default");
    production.approvals_required = 3;
    production.protected = true;
    tx.update_environment(&production).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        store
            .get_environment(&project(), &env("production"))
            .await
            .unwrap(),
        production
    );
    let got = store.get_change_request(&project(), "a1").await.unwrap();
    assert_eq!(got, Some(locked));
    assert_eq!(
        store.get_change_request(&other(), "a1").await.unwrap(),
        None,
        "another project's request is not found"
    );

    let ids = |found: Vec<ChangeRequestRecord>| -> Vec<String> {
        found.into_iter().map(|r| r.id).collect()
    };
    let list = |status: Option<ChangeStatus>, now: i64| {
        let store = store.clone();
        async move {
            let filter = ChangeRequestFilter {
                status,
                env: Some(env("production")),
                name: None,
                now: at(now),
            };
            store
                .list_change_requests(&project(), &filter, &PageRequest::first(10))
                .await
                .unwrap()
        }
    };
    assert_eq!(ids(list(None, 15).await), ["a2", "a1"], "newest id first");
    assert_eq!(ids(list(Some(ChangeStatus::Pending), 15).await), ["a2"]);
    assert!(list(Some(ChangeStatus::Expired), 15).await.is_empty());
    // Past its `expires_at`, the pending request reads as expired.
    assert!(list(Some(ChangeStatus::Pending), 25).await.is_empty());
    assert_eq!(ids(list(Some(ChangeStatus::Expired), 25).await), ["a2"]);
    assert_eq!(ids(list(Some(ChangeStatus::Applied), 25).await), ["a1"]);
    let page = store
        .list_change_requests(
            &project(),
            &ChangeRequestFilter {
                now: at(15),
                ..Default::default()
            },
            &PageRequest {
                limit: 10,
                after: Some("a2".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(page), ["a1"], "pages continue below the cursor");

    // One review per reviewer (in a unit of work of its own: a failed statement ends a
    // PostgreSQL transaction, and the service never goes on after a store error).
    let mut tx = store.begin(&project()).await.unwrap();
    assert!(matches!(
        tx.insert_change_review("a1", &review("r1", Verdict::Reject, 13))
            .await,
        Err(StoreError::Conflict {
            code: "already_reviewed",
            ..
        })
    ));
    drop(tx);
    let got = store.get_change_request(&project(), "a1").await.unwrap();
    assert_eq!(
        got.unwrap().reviews.len(),
        2,
        "the second review was not kept"
    );
}
