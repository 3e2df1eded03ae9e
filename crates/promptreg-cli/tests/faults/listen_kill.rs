//! The change feed's LISTEN connection killed on one of two replicas sharing a database (a
//! private cluster, see `pg_cluster`, so that terminating sessions cannot touch other tests).
//!
//! Replica A connects as its own role, so the test can both terminate A's LISTEN session
//! (`pg_terminate_backend`) and keep A from reconnecting for a while (`ALTER ROLE … NOLOGIN`;
//! A's pooled connections stay up). Meanwhile replica B deploys a new version. Asserted: A's
//! `/readyz` is 503 for as long as it cannot listen (it cannot know it is current), and once it
//! may log in again it resyncs: `/readyz` is 200 and it resolves the new version within
//! [`RESYNC_BOUND`] (the feed's reconnect back-off is at most 10 s).

use std::ffi::OsString;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::{Connection, PgConnection};

use crate::pg_cluster::PgCluster;
use crate::server::{eventually, Answer, Api, ServerProcess};

/// From the moment A may reconnect until it is ready and resolves the new version.
const RESYNC_BOUND: Duration = Duration::from_secs(20);
/// How long A is kept from reconnecting, sampling `/readyz` all along.
const CUT: Duration = Duration::from_secs(3);

/// The live version A resolves, if any.
async fn live(api: &Api) -> Option<i64> {
    match api.resolve("lk/p").await {
        Answer::Done(StatusCode::OK, body) => body["version"].as_i64(),
        _ => None,
    }
}

async fn sql(conn: &mut PgConnection, statement: &str) {
    sqlx::query(statement).execute(&mut *conn).await.unwrap();
}

async fn start(cluster_url: &str, user: &str, dir: &std::path::Path) -> ServerProcess {
    let url = cluster_url.replacen("postgres@", &format!("{user}@"), 1);
    let args: Vec<OsString> = vec![
        "--database-url".into(),
        format!("{url}?application_name=promptreg-{user}").into(),
        "--data-dir".into(),
        dir.join(user).into(),
        "--instance".into(),
        user.into(),
        // Replicas on one database share the key-encryption key (each reads the other's
        // sealed versions).
        "--kek-file".into(),
        dir.join("kek").into(),
    ];
    ServerProcess::start(&args, dir.join(format!("{user}.log"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_listen_connection_dies_says_so_and_resyncs() {
    if std::env::var("PROMPTREG_TEST_PG_URL").is_err() {
        eprintln!("SKIPPED listen_kill: PROMPTREG_TEST_PG_URL is not set");
        return;
    }
    let cluster = match PgCluster::start() {
        Ok(cluster) => cluster,
        Err(why) => {
            eprintln!("SKIPPED listen_kill: no private PostgreSQL cluster: {why}");
            return;
        }
    };
    let mut admin = PgConnection::connect(&cluster.url()).await.unwrap();
    sql(&mut admin, "CREATE ROLE replica_a LOGIN SUPERUSER").await;
    let dir = tempfile::tempdir().unwrap();
    // 32 bytes in base64 (a fixed test key).
    std::fs::write(
        dir.path().join("kek"),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    )
    .unwrap();
    let b = start(&cluster.url(), "postgres", dir.path()).await;
    let a = start(&cluster.url(), "replica_a", dir.path()).await;
    let (a_api, b_api) = (
        a.api(Duration::from_secs(10)),
        b.api(Duration::from_secs(10)),
    );

    let (status, body) = b_api.publish("lk/p", "one").await.done("publish");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = b_api.deploy("lk/p", 1).await.done("deploy");
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(Duration::from_secs(10), "A resolves v1", || async {
        live(&a_api).await == Some(1)
    })
    .await;
    assert_eq!(a_api.readyz().await, Some(StatusCode::OK));

    // Cut A's feed and keep it from reconnecting.
    sql(&mut admin, "ALTER ROLE replica_a NOLOGIN").await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE usename = 'replica_a' AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, 1, "A's LISTEN session");
    let (status, body) = b_api.publish("lk/p", "two").await.done("publish");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = b_api.deploy("lk/p", 2).await.done("deploy");
    assert_eq!(status, StatusCode::OK, "{body}");

    // Truthful: not ready as long as it cannot listen (after it notices, within the bound).
    let noticed = eventually(Duration::from_secs(5), "A's /readyz 503", || async {
        a_api.readyz().await == Some(StatusCode::SERVICE_UNAVAILABLE)
    })
    .await;
    let start = Instant::now();
    let mut samples = 0;
    while start.elapsed() < CUT {
        let ready = a_api.readyz().await;
        assert_eq!(
            ready,
            Some(StatusCode::SERVICE_UNAVAILABLE),
            "A cannot listen: {:?}\n{}",
            start.elapsed(),
            a.logs()
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Allowed back: it resyncs, is ready, and serves what B deployed.
    sql(&mut admin, "ALTER ROLE replica_a LOGIN").await;
    let resynced = eventually(RESYNC_BOUND, "A ready again", || async {
        a_api.readyz().await == Some(StatusCode::OK)
    })
    .await;
    assert_eq!(
        live(&a_api).await,
        Some(2),
        "A is ready, so it must be current:\n{}",
        a.logs()
    );
    let listening: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'replica_a' AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(listening, 1, "A listens again");

    // And it keeps following: a third deploy on B reaches A through the new LISTEN session.
    let (status, body) = b_api.publish("lk/p", "three").await.done("publish");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = b_api.deploy("lk/p", 3).await.done("deploy");
    assert_eq!(status, StatusCode::OK, "{body}");
    let followed = eventually(Duration::from_secs(5), "A resolves v3", || async {
        live(&a_api).await == Some(3)
    })
    .await;
    eprintln!(
        "LISTEN killed: A 503 after {noticed:?}, 503 in all {samples} samples over {CUT:?}, \
         ready and current {resynced:?} after it could log in again, v3 followed in {followed:?}"
    );
    admin.close().await.unwrap();
    drop((a, b));
    drop(cluster);
}
