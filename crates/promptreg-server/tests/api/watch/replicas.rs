//! Two servers on one PostgreSQL database: a change made on replica A reaches a watcher of
//! replica B (through B's change feed), in order, and B's snapshot agrees.

use std::time::Duration;

use futures::StreamExt;
use promptreg_client::{WatchEvent, WatchOptions};
use promptreg_core::{ChangeEvent, EnvName};
use promptreg_server::testing::Replicas;
use serde_json::json;

use crate::helpers::{call_url, ADMIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_replica_reaches_a_watcher_of_the_other() {
    let Some(replicas) =
        Replicas::start("a_change_on_one_replica_reaches_a_watcher_of_the_other").await
    else {
        return;
    };
    let (a, b) = (&replicas.a, &replicas.b);
    let http = reqwest::Client::new();
    let client_b = promptreg_client::Client::builder(b.url())
        .token(ADMIN)
        .build()
        .unwrap();
    let options = WatchOptions {
        env: Some(EnvName::parse("production").unwrap()),
        ..Default::default()
    };
    let mut stream = client_b.watch(&options).await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(WatchEvent::Ready(_)))
    ));

    let post = |body| {
        call_url(
            &http,
            reqwest::Method::POST,
            format!("{}/v1/prompts/p/versions", a.url()),
            Some(body),
        )
    };
    assert_eq!(
        post(json!({"type": "text", "template": "one"})).await.0,
        201
    );
    assert_eq!(
        post(json!({"type": "text", "template": "two"})).await.0,
        201
    );
    for (version, status) in [(1, 200), (2, 200)] {
        let (got, body) = call_url(
            &http,
            reqwest::Method::PUT,
            format!("{}/v1/environments/production/prompts/p", a.url()),
            Some(json!({"version": version})),
        )
        .await;
        assert_eq!(got, status, "{body}");
    }
    let (got, _) = call_url(
        &http,
        reqwest::Method::POST,
        format!("{}/v1/environments/production/prompts/p/rollback", a.url()),
        Some(json!({})),
    )
    .await;
    assert_eq!(got, 200);

    // Two creations, two deploys and a rollback, in log order, on B.
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let frame = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("replica B's watcher got nothing within 10 s")
            .unwrap()
            .unwrap();
        let WatchEvent::Change(record) = frame else {
            panic!("unexpected {frame:?}")
        };
        let line = match &record.change {
            ChangeEvent::VersionCreated { version, .. } => format!("created v{version}"),
            ChangeEvent::PointerMoved {
                to_version, kind, ..
            } => {
                format!("{} v{to_version}", kind.as_str())
            }
            other => panic!("unexpected {other:?}"),
        };
        seen.push((record.seq, line));
    }
    let lines: Vec<&str> = seen.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "created v1",
            "created v2",
            "deploy v1",
            "deploy v2",
            "rollback v1"
        ]
    );
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    // B's snapshot has A's rollback.
    let snap = client_b
        .env_snapshot(&EnvName::parse("production").unwrap(), None)
        .await
        .unwrap();
    let payload =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &snap.payload).unwrap();
    let snap: promptreg_api::EnvSnapshot = serde_json::from_slice(&payload).unwrap();
    assert_eq!(snap.prompts[0].live.version.get(), 1);
    assert!(snap.seq >= seen.last().unwrap().0);
    replicas.stop().await;
}
