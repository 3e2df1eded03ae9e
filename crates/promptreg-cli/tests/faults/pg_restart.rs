//! PostgreSQL "restarted" under mixed writes and resolves. promptreg runs on a private cluster
//! (see `pg_cluster`), which the test crashes (`pg_ctl stop -m immediate`) while writers publish
//! and deploy and readers resolve, then starts again. What the product does, asserted:
//!
//! - `/readyz` says 503 within [`READY_BOUND`] of the crash;
//! - while the database is down, a write gets 503 `unavailable` (the envelope, no library
//!   error chain) within [`WRITE_BOUND`] (the pool's 10 s acquire timeout), and `/readyz` is 503;
//! - resolves are served from memory for the bootstrap admin throughout; a token that only the
//!   database can confirm (the replica no longer knows it is current) gets 503 `unavailable`
//!   rather than a possibly revoked pass, never a 500;
//! - after the database returns, `/readyz` is 200 again and writes succeed within
//!   [`RECOVERY_BOUND`], without restarting promptreg;
//! - no write that got a 2xx is lost.

use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::pg_cluster::PgCluster;
use crate::server::{envelope, eventually, Answer, Api, ServerProcess};
use crate::writers::{self, Progress};

const WRITERS: usize = 4;
/// How long a write may take to be refused while the database is down.
const WRITE_BOUND: Duration = Duration::from_secs(15);
/// How long `/readyz` may take to say 503 once the database is down (the confirmation
/// timeout is 2 s).
const READY_BOUND: Duration = Duration::from_secs(5);
/// How long after the database is back until promptreg is ready and writes work.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// What one resolve loop saw: every status with its error code, and the slowest answer.
#[derive(Debug, Default)]
struct Resolves {
    ok: usize,
    unavailable: usize,
    other: Vec<String>,
    slowest: Duration,
}

async fn resolve_loop(api: Api, progress: Arc<Progress>) -> Resolves {
    let mut seen = Resolves::default();
    while !progress.stop.load(Ordering::SeqCst) {
        let start = Instant::now();
        let answer = api.resolve("pg/base").await;
        seen.slowest = seen.slowest.max(start.elapsed());
        match answer {
            Answer::Done(StatusCode::OK, _) => seen.ok += 1,
            Answer::Done(StatusCode::SERVICE_UNAVAILABLE, body)
                if body["error"]["code"] == "unavailable" =>
            {
                seen.unavailable += 1
            }
            other => seen.other.push(format!("{other:?}")),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

/// Asserts a 503 `unavailable` whose message is ours, not a database driver's.
fn assert_unavailable(status: StatusCode, body: &serde_json::Value) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = envelope(body, "unavailable");
    assert!(message.contains("database"), "{message}");
    for raw in [
        "sqlx",
        "error returned",
        "Connection refused",
        "os error",
        "pool",
    ] {
        assert!(
            !message.contains(raw),
            "a library error in the answer: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fail_clearly_while_down_and_recover_without_restart() {
    if std::env::var("PROMPTREG_TEST_PG_URL").is_err() {
        eprintln!("SKIPPED pg_restart: PROMPTREG_TEST_PG_URL is not set");
        return;
    }
    let cluster = match PgCluster::start() {
        Ok(cluster) => cluster,
        Err(why) => {
            eprintln!("SKIPPED pg_restart: no private PostgreSQL cluster: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<OsString> = vec![
        "--database-url".into(),
        cluster.url().into(),
        "--data-dir".into(),
        dir.path().join("data").into(),
    ];
    let server = ServerProcess::start(&args, dir.path().join("server.log")).await;
    let api = server.api(Duration::from_secs(30));
    let reader = api.as_token(&api.create_token("reader").await);
    let (status, body) = api
        .publish("pg/base", "Hello {{ name }}")
        .await
        .done("publish");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api.deploy("pg/base", 1).await.done("deploy");
    assert_eq!(status, StatusCode::OK, "{body}");

    let progress = Arc::new(Progress::default());
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writers::write(
                api.clone(),
                format!("pg/{w}"),
                progress.clone(),
            ))
        })
        .collect();
    let admin_resolves = tokio::spawn(resolve_loop(api.clone(), progress.clone()));
    let reader_resolves = tokio::spawn(resolve_loop(reader.clone(), progress.clone()));
    writers::wait_acked(&progress, 40, &handles).await;

    cluster.crash();
    let down = Instant::now();
    let noticed = eventually(
        Duration::from_secs(5),
        "/readyz 503 after the crash",
        || async { api.readyz().await == Some(StatusCode::SERVICE_UNAVAILABLE) },
    )
    .await;
    // Even the first `/readyz` after the crash, which may find the feed not yet aware of it
    // and ask the database itself, answers at once rather than after the pool's timeout.
    assert!(noticed < READY_BOUND, "/readyz took {noticed:?} to say 503");
    // A write sent while the database is down: refused clearly, in bounded time.
    let start = Instant::now();
    let (status, body) = api
        .publish("pg/probe", "while down")
        .await
        .done("write while down");
    let took = start.elapsed();
    assert_unavailable(status, &body);
    assert!(took < WRITE_BOUND, "a write while down took {took:?}");
    assert_eq!(api.readyz().await, Some(StatusCode::SERVICE_UNAVAILABLE));
    match api.resolve("pg/base").await {
        Answer::Done(StatusCode::OK, live) => assert_eq!(live["version"], 1, "{live}"),
        other => panic!("resolve from memory while down: {other:?}"),
    }
    let (status, body) = reader
        .resolve("pg/base")
        .await
        .done("reader resolve while down");
    assert_unavailable(status, &body);
    let outage = down.elapsed();

    cluster.up();
    let ready = eventually(
        RECOVERY_BOUND,
        "/readyz 200 after the database returned",
        || async { api.readyz().await == Some(StatusCode::OK) },
    )
    .await;
    let (status, body) = api.publish("pg/probe", "after").await.done("write after");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{body}\npromptreg:\n{}\nPostgreSQL:\n{}",
        server.logs(),
        cluster.logs()
    );
    let before = progress.acked.load(Ordering::SeqCst);
    writers::wait_acked(&progress, before + 20, &handles).await;
    let ledgers = writers::finish(&progress, handles).await;
    let admin_resolves = admin_resolves.await.unwrap();
    let reader_resolves = reader_resolves.await.unwrap();

    let mut refused = 0;
    for ledger in &ledgers {
        assert!(
            ledger.broken.is_empty(),
            "{}: {:?}",
            ledger.name,
            ledger.broken
        );
        for (status, body, took) in &ledger.errors {
            assert_unavailable(*status, body);
            assert!(
                *took < WRITE_BOUND,
                "{}: refused after {took:?}",
                ledger.name
            );
        }
        refused += ledger.errors.len();
    }
    assert!(
        refused > 0,
        "no writer was refused while the database was down"
    );
    assert!(admin_resolves.other.is_empty(), "{admin_resolves:?}");
    assert_eq!(admin_resolves.unavailable, 0, "{admin_resolves:?}");
    assert!(reader_resolves.other.is_empty(), "{reader_resolves:?}");
    assert!(reader_resolves.unavailable > 0, "{reader_resolves:?}");
    assert!(admin_resolves.slowest < WRITE_BOUND, "{admin_resolves:?}");
    assert!(reader_resolves.slowest < WRITE_BOUND, "{reader_resolves:?}");
    match reader.resolve("pg/base").await {
        Answer::Done(StatusCode::OK, _) => {}
        other => panic!("reader resolve after recovery: {other:?}"),
    }

    let mut versions = 0;
    for ledger in &ledgers {
        versions += writers::check(&api, ledger).await;
    }
    eprintln!(
        "PostgreSQL crash: /readyz 503 after {noticed:?}, down {outage:?}, ready {ready:?} after \
         restart; a write while down refused in {took:?}; {refused} writes refused, {versions} \
         versions checked; resolves: admin {} ok (slowest {:?}), reader {} ok / {} 503",
        admin_resolves.ok, admin_resolves.slowest, reader_resolves.ok, reader_resolves.unavailable
    );
    drop(server);
    drop(cluster);
}
