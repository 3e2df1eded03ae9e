//! Two servers on one PostgreSQL database, each with its own signing key: writes on both land
//! in one ledger per project, both replicas converge on the same tree (size and root), and
//! each signature verifies with the keys either of them lists.

use std::time::{Duration, Instant};

use promptreg_core::integrity::statement::open_version;
use promptreg_core::integrity::{Envelope, KeyRing, PublicKey};
use promptreg_server::testing::Replicas;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::call_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_ledger_and_each_others_keys() {
    let Some(replicas) = Replicas::start("replicas_share_one_ledger_and_each_others_keys").await
    else {
        return;
    };
    let (a, b) = (&replicas.a, &replicas.b);
    let c = reqwest::Client::new();
    let mut versions = Vec::new();
    for (i, server) in [a.url(), b.url(), a.url(), b.url()].into_iter().enumerate() {
        let (status, body) = call_url(
            &c,
            Method::POST,
            format!("{server}/v1/prompts/rep/versions"),
            Some(json!({"type": "text", "template": format!("v{i}")})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        versions.push(body);
    }
    let (status, _) = call_url(
        &c,
        Method::PUT,
        format!("{}/v1/environments/production/prompts/rep", b.url()),
        Some(json!({"version": 3})),
    )
    .await;
    assert_eq!(status, 200);

    // Both replicas reach the same tree.
    let start = Instant::now();
    let (cp_a, cp_b) = loop {
        let cp_a = call_url(
            &c,
            Method::GET,
            format!("{}/v1/ledger/checkpoint", a.url()),
            None,
        )
        .await
        .1;
        let cp_b = call_url(
            &c,
            Method::GET,
            format!("{}/v1/ledger/checkpoint", b.url()),
            None,
        )
        .await
        .1;
        if cp_a["tree_size"] == cp_b["tree_size"] && cp_a["root_hash"] == cp_b["root_hash"] {
            break (cp_a, cp_b);
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{cp_a} vs {cp_b}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(
        cp_a["key_id"], cp_b["key_id"],
        "each replica signs with its own key"
    );

    // Every version, signed by either replica, verifies with the keys that either lists.
    let keys: Value = call_url(&c, Method::GET, format!("{}/v1/keys", a.url()), None)
        .await
        .1;
    let ring = KeyRing::new(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| PublicKey::from_base64(k["public_key"].as_str().unwrap()).unwrap())
            .collect(),
    );
    assert_eq!(ring.len(), 2);
    for v in &versions {
        let envelope: Envelope = serde_json::from_value(v["signature"].clone()).unwrap();
        open_version(&envelope, &ring).unwrap();
    }
    replicas.stop().await;
}
