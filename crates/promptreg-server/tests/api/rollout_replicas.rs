//! Rollouts outlive the process that drives them: a restarted server resumes every rollout
//! where it was (both backends), and with two servers on one PostgreSQL database exactly one
//! drives each rollout, handing it over when it stops. Outcome ids accepted by one replica
//! are refused as duplicates by the other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptreg_server::testing::{spawn_with_store, TestServer};
use promptreg_store::Store;
use serde_json::{json, Value};

use crate::helpers::call_url as call;

/// Pushes two versions of `name`, deploys v1 to production, starts a canary and returns its id.
async fn start_canary(c: &reqwest::Client, base: &str, name: &str, steps: Value) -> String {
    for t in ["one {{ x }}", "two {{ x }}"] {
        let (s, b) = call(
            c,
            reqwest::Method::POST,
            format!("{base}/v1/prompts/{name}/versions"),
            Some(json!({"type": "text", "template": t})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) = call(
        c,
        reqwest::Method::PUT,
        format!("{base}/v1/environments/production/prompts/{name}"),
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(
        c,
        reqwest::Method::POST,
        format!("{base}/v1/environments/production/prompts/{name}/rollouts"),
        Some(json!({"candidate": 2, "strategy": {"canary": {"steps": steps}}})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

async fn wait_for(
    c: &reqwest::Client,
    base: &str,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let (s, b) = call(
            c,
            reqwest::Method::GET,
            format!("{base}/v1/rollouts/{id}"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{b}");
        if done(&b) {
            return b;
        }
        assert!(start.elapsed() < within, "rollout {id} stuck at {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every subject gets the arm its bucket says at this weight.
async fn assignments_follow_the_weight(
    c: &reqwest::Client,
    base: &str,
    name: &str,
    id: &str,
    weight: u32,
) {
    for i in 0..100 {
        let subject = format!("agent-{i}");
        let (s, b) = call(
            c,
            reqwest::Method::GET,
            format!("{base}/v1/resolve/{name}?env=production&subject={subject}"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let expected = if promptreg_core::rollout::bucket(id, &subject) < weight {
            2
        } else {
            1
        };
        assert_eq!(b["version"], expected, "{subject} at weight {weight}: {b}");
    }
}

async fn restart_resumes(
    store: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>> + Send>>,
) {
    let c = reqwest::Client::new();
    let first: TestServer = spawn_with_store(store().await).await.unwrap();
    let steps = json!([{"set_weight": 1000}, {"pause": {"duration": "1s"}}, {"set_weight": 3000}, {"pause": {}}]);
    let id = start_canary(&c, first.url(), "resume", steps).await;
    wait_for(&c, first.url(), &id, Duration::from_secs(10), |r| {
        r["weight"] == 1000
    })
    .await;
    first.stop().await;
    // A new process over the same database: the index holds the rollout from the start, and
    // the controller carries on from the step it was in.
    let second = spawn_with_store(store().await).await.unwrap();
    let r = wait_for(&c, second.url(), &id, Duration::from_secs(10), |_| true).await;
    assert!(r["weight"] == 1000 || r["weight"] == 3000, "{r}");
    let r = wait_for(&c, second.url(), &id, Duration::from_secs(10), |r| {
        r["paused_reason"] == "pause_step"
    })
    .await;
    assert_eq!(r["weight"], 3000);
    assignments_follow_the_weight(&c, second.url(), "resume", &id, 3000).await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_resumes_its_rollouts_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("r.db").display());
    restart_resumes(move || {
        let url = url.clone();
        Box::pin(async move {
            Arc::new(
                promptreg_store_sqlite::SqliteStore::open(&url)
                    .await
                    .unwrap(),
            ) as Arc<dyn Store>
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_resumes_its_rollouts_postgres() {
    let Ok(url) = std::env::var("PROMPTREG_TEST_PG_URL") else {
        eprintln!("SKIPPED a_restarted_server_resumes_its_rollouts_postgres: PROMPTREG_TEST_PG_URL is not set");
        return;
    };
    let (pg, cleanup) = promptreg_store_postgres::testing::fresh(&url)
        .await
        .unwrap();
    let options = pg.connect_options();
    restart_resumes(move || {
        let options = options.clone();
        Box::pin(async move {
            Arc::new(
                promptreg_store_postgres::PgStore::connect_with(options)
                    .await
                    .unwrap(),
            ) as Arc<dyn Store>
        })
    })
    .await;
    drop(pg);
    cleanup.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_replica_drives_each_rollout_and_hands_it_over_when_it_stops() {
    let Ok(url) = std::env::var("PROMPTREG_TEST_PG_URL") else {
        eprintln!("SKIPPED one_replica_drives_each_rollout_and_hands_it_over_when_it_stops: PROMPTREG_TEST_PG_URL is not set");
        return;
    };
    let (pg_a, cleanup) = promptreg_store_postgres::testing::fresh(&url)
        .await
        .unwrap();
    let options = pg_a.connect_options();
    let events = promptreg_store_postgres::PgStore::connect_with(options.clone())
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let a = spawn_with_store(Arc::new(pg_a)).await.unwrap();
    let steps = json!([{"set_weight": 1000}, {"pause": {"duration": "500ms"}}, {"set_weight": 2000},
                       {"pause": {"duration": "500ms"}}, {"set_weight": 3000}, {"pause": {"duration": "8s"}},
                       {"set_weight": 4000}, {"pause": {}}]);
    let id = start_canary(&c, a.url(), "lease", steps).await;
    // A drives (it is alone); B joins while A holds the lease.
    wait_for(&c, a.url(), &id, Duration::from_secs(10), |r| {
        r["weight"] == 1000
    })
    .await;
    let b = spawn_with_store(Arc::new(
        promptreg_store_postgres::PgStore::connect_with(options.clone())
            .await
            .unwrap(),
    ))
    .await
    .unwrap();
    wait_for(&c, b.url(), &id, Duration::from_secs(10), |r| {
        r["weight"] == 3000
    })
    .await;
    // Both replicas serve the same arms.
    assignments_follow_the_weight(&c, b.url(), "lease", &id, 3000).await;
    assignments_follow_the_weight(&c, a.url(), "lease", &id, 3000).await;
    // A stops; B takes the rollout over once A's lease lapses, and finishes the 8 s pause.
    a.stop().await;
    let r = wait_for(&c, b.url(), &id, Duration::from_secs(30), |r| {
        r["paused_reason"] == "pause_step"
    })
    .await;
    assert_eq!(r["weight"], 4000);
    // Each step was completed exactly once, whoever drove it.
    let log = events
        .events_after(&promptreg_core::ProjectId::default(), 0, 10_000)
        .await
        .unwrap();
    let mut completed: Vec<u64> = log
        .iter()
        .filter_map(|e| serde_json::to_value(&e.change).ok())
        .filter(|v| v["event"] == "rollout_changed" && v["action"]["kind"] == "step_completed")
        .filter_map(|v| v["action"]["step"].as_u64())
        .collect();
    completed.sort_unstable();
    assert_eq!(
        completed,
        vec![0, 1, 2, 3, 4, 5, 6],
        "every step completed once"
    );
    b.stop().await;
    drop(events);
    cleanup.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outcome_id_accepted_by_one_replica_is_a_duplicate_on_the_other() {
    let Ok(url) = std::env::var("PROMPTREG_TEST_PG_URL") else {
        eprintln!("SKIPPED an_outcome_id_accepted_by_one_replica_is_a_duplicate_on_the_other: PROMPTREG_TEST_PG_URL is not set");
        return;
    };
    let (pg_a, cleanup) = promptreg_store_postgres::testing::fresh(&url)
        .await
        .unwrap();
    let options = pg_a.connect_options();
    let a = spawn_with_store(Arc::new(pg_a)).await.unwrap();
    let b = spawn_with_store(Arc::new(
        promptreg_store_postgres::PgStore::connect_with(options)
            .await
            .unwrap(),
    ))
    .await
    .unwrap();
    let c = reqwest::Client::new();
    let (s, _) = call(
        &c,
        reqwest::Method::POST,
        format!("{}/v1/prompts/dup/versions", a.url()),
        Some(json!({"type": "text", "template": "x"})),
    )
    .await;
    assert_eq!(s, 201);
    let event = json!({"events": [{"id": "run-1", "prompt": "dup", "env": "production", "version": 1, "success": true}]});
    let (s, first) = call(
        &c,
        reqwest::Method::POST,
        format!("{}/v1/outcomes", a.url()),
        Some(event.clone()),
    )
    .await;
    assert_eq!((s, first["accepted"].as_u64()), (200, Some(1)), "{first}");
    // B learns A's ids from A's flushed batches within about a flush interval (500 ms).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, again) = call(
        &c,
        reqwest::Method::POST,
        format!("{}/v1/outcomes", b.url()),
        Some(event),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        again["results"][0]["error"]["code"], "duplicate_id",
        "{again}"
    );
    a.stop().await;
    b.stop().await;
    cleanup.await;
}
