//! The propagation benchmark, reduced, in CI: 50 watchers of one SQLite server and (with
//! `PROMPTREG_TEST_PG_URL`) 25 on each of two replicas of one PostgreSQL database each receive
//! every one of 5 rollbacks and 5 deploys, through the same code as `bench/propagation.sh`.
//! The full runs, with their command and figures, are in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use promptreg_bench::propagation::run::{run, Config, Output};
use promptreg_server::testing::Replicas;

fn config(urls: Vec<String>, token: &str, watchers: usize) -> Config {
    Config {
        api_url: urls[0].clone(),
        urls,
        token: token.to_owned(),
        watchers,
        rollbacks: 5,
        warmup: 1,
        env: "production".to_owned(),
        prompt: "bench/propagation-test".to_owned(),
        pause: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
        connect_concurrency: 16,
        server_pids: vec![std::process::id()],
    }
}

/// What every run must show: each timed move reached every watcher (else `run` fails), in
/// order, alternating rollback to v1 and deploy of v2.
fn check(out: &Output, watchers: usize, servers: usize) {
    assert_eq!(out.watchers, watchers);
    assert_eq!(out.watchers_per_server, vec![watchers / servers; servers]);
    assert_eq!((out.rollback.moves, out.deploy.moves), (5, 5));
    assert_eq!(out.moves.len(), 10);
    for (i, m) in out.moves.iter().enumerate() {
        let (kind, version) = if i % 2 == 0 {
            ("rollback", 1)
        } else {
            ("deploy", 2)
        };
        assert_eq!(
            (m.kind.as_str(), m.to_version),
            (kind, version),
            "move {i}: {m:?}"
        );
        assert_eq!(m.last_by_server_ms.len(), servers);
        assert!(m.last_ms >= m.median_ms && m.last_ms < 10_000.0, "{m:?}");
    }
    assert!(out.moves.windows(2).all(|w| w[0].log_seq < w[1].log_seq));
    assert!(out.rollback.last_ms.p99 <= out.rollback.last_ms.max);
    assert_eq!(out.servers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_watcher_of_a_server_receives_every_rollback() {
    let server = promptreg_server::testing::spawn_sqlite().await.unwrap();
    let config = config(vec![server.url().to_owned()], server.admin_token(), 50);
    let out = run(&config, &tokio::runtime::Handle::current())
        .await
        .unwrap();
    check(&out, 50, 1);
    // The prompt is the benchmark's own: a second run must pick another name.
    let again = run(&config, &tokio::runtime::Handle::current()).await;
    assert!(format!("{:#}", again.unwrap_err()).contains("already existed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_of_both_postgres_replicas_receive_every_rollback() {
    let Some(replicas) =
        Replicas::start("watchers_of_both_postgres_replicas_receive_every_rollback").await
    else {
        return;
    };
    let (a, b) = (&replicas.a, &replicas.b);
    let urls = vec![a.url().to_owned(), b.url().to_owned()];
    let out = run(
        &config(urls, a.admin_token(), 50),
        &tokio::runtime::Handle::current(),
    )
    .await
    .unwrap();
    check(&out, 50, 2);
    replicas.stop().await;
}
