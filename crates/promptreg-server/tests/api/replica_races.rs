//! Defect: with two replicas on one PostgreSQL database and deploys of the same pointer
//! arriving concurrently on both, a replica went on resolving an older version than the
//! database's pointer. Index updates are now monotonic per pointer (by the record's `seq`),
//! so after every round of racing deploys both replicas must serve exactly what the database
//! says is live.

use std::time::{Duration, Instant};

use promptreg_server::testing::Replicas;
use serde_json::json;

use crate::helpers::call_url as call;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_deploys_on_two_replicas_never_leave_one_stale() {
    let Some(replicas) =
        Replicas::start("racing_deploys_on_two_replicas_never_leave_one_stale").await
    else {
        return;
    };
    let (a, b) = (&replicas.a, &replicas.b);
    let c = reqwest::Client::new();
    for i in 1..=6 {
        let (s, _) = call(
            &c,
            reqwest::Method::POST,
            format!("{}/v1/prompts/race/versions", a.url()),
            Some(json!({"type": "text", "template": format!("v{i}")})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let servers = [a.url().to_owned(), b.url().to_owned()];
    for round in 0..25u64 {
        // Eight deploys of different versions, four on each replica, all at once.
        let mut tasks = Vec::new();
        for k in 0..8u64 {
            let server = servers[(k % 2) as usize].clone();
            let version = 1 + (round * 7 + k * 3) % 6;
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                call(
                    &c,
                    reqwest::Method::PUT,
                    format!("{server}/v1/environments/production/prompts/race"),
                    Some(json!({"version": version})),
                )
                .await
                .0
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 200);
        }
        // What the database says is live (read through the store, not the index).
        let (_, live) = call(
            &c,
            reqwest::Method::GET,
            format!("{}/v1/environments/production/prompts/race", a.url()),
            None,
        )
        .await;
        let expected = live["to_version"].as_i64().unwrap();
        let start = Instant::now();
        loop {
            let mut served = Vec::new();
            for s in &servers {
                let (_, r) = call(
                    &c,
                    reqwest::Method::GET,
                    format!("{s}/v1/resolve/race"),
                    None,
                )
                .await;
                served.push(r["version"].as_i64());
            }
            if served.iter().all(|v| *v == Some(expected)) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "round {round}: database has v{expected} live, replicas serve {served:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    replicas.stop().await;
}
