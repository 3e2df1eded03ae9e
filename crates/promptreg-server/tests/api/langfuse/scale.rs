//! Defect 5: the Langfuse prompt list loaded every prompt on each request (20,000 prompts:
//! `?limit=1` took 3–5 s, 16 calls at once held 7 GB). The list now asks the store for one
//! page and a count. Checked structurally, not by a clock: a replica over a store that counts
//! the prompt records it hands out answers `?limit=1` over 20,000 prompts having received
//! one record, with the right total and the right prompt at any page.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use promptreg_core::{ProjectId, PromptBody, PromptContent, PromptName, Version};
use promptreg_store::*;
use serde_json::Value;

use super::{key_pair, PROMPTS};
use crate::helpers::{TestApp, ADMIN};
use crate::store_proxy::{Hooks, Proxy};

const PROMPT_COUNT: usize = 20_000;

/// Counts the prompt records the real store's list reads hand out.
struct Counting(AtomicUsize);

impl Hooks for Counting {
    fn records_read(&self, n: usize) {
        self.0.fetch_add(n, Ordering::SeqCst);
    }
}

/// Writes `PROMPT_COUNT` prompts of one version each in one unit of work: the store's own
/// step, so the test needs neither 20,000 requests nor SQL of its own.
async fn fill(store: &dyn Store) {
    let mut tx = store.begin(&ProjectId::default()).await.unwrap();
    for i in 0..PROMPT_COUNT {
        let content =
            PromptContent::new(PromptBody::Text(format!("prompt {i}")), None, None).unwrap();
        tx.insert_version(&VersionRecord {
            name: PromptName::parse(&format!("bulk/p{i:05}")).unwrap(),
            version: Version::new(1).unwrap(),
            digest: content.digest(),
            // A plaintext row, as written before encryption at rest.
            content: StoredContent::Plain(content),
            commit_message: None,
            metadata: Default::default(),
            parent: None,
            created_by: "test".into(),
            created_at: Utc::now(),
            signature: None,
            ledger_seq: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn list(router: &axum::Router, query: &str, auth: &str) -> Value {
    let req = axum::http::Request::builder()
        .method(Method::GET)
        .uri(format!("{PROMPTS}?{query}"))
        .header("authorization", auth)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub(super) async fn a_page_of_a_large_list_reads_one_page(app: &TestApp) {
    let auth = key_pair(app, "reader").await;
    fill(&*app.store).await;
    let counting = Arc::new(Counting(AtomicUsize::new(0)));
    let store: Arc<dyn Store> = Arc::new(Proxy {
        inner: app.store.clone(),
        hooks: counting.clone(),
    });
    let state = promptreg_server::state_for_store(store, ADMIN)
        .await
        .unwrap();
    let router = promptreg_server::router(state, 64 * 1024);

    let first = list(&router, "limit=1", &auth).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    assert_eq!(first["data"][0]["name"], "bulk/p00000");
    assert_eq!(first["meta"]["totalItems"], PROMPT_COUNT);
    assert_eq!(first["meta"]["totalPages"], PROMPT_COUNT);
    assert_eq!(
        counting.0.load(Ordering::SeqCst),
        1,
        "one record read for one row"
    );

    let deep = list(&router, "limit=3&page=5000", &auth).await;
    let names: Vec<&str> = deep["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bulk/p14997", "bulk/p14998", "bulk/p14999"]);
    assert_eq!(
        counting.0.load(Ordering::SeqCst),
        4,
        "the skipped rows are not read"
    );

    let past = list(&router, "limit=100&page=1000", &auth).await;
    assert_eq!(past["data"], Value::Array(Vec::new()));
    assert_eq!(past["meta"]["totalItems"], PROMPT_COUNT);
    let live = list(&router, "label=production&limit=1", &auth).await;
    assert_eq!(live["meta"]["totalItems"], 0);
    assert_eq!(counting.0.load(Ordering::SeqCst), 4);
}
