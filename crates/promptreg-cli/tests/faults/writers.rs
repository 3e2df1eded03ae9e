//! Writers that publish and deploy while a fault happens, keeping a ledger of what the server
//! acknowledged, and the check that all of it is there afterwards.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::server::{Answer, Api};

/// Every `DEPLOY_EVERY`th acknowledged version is also deployed to `production`.
const DEPLOY_EVERY: i64 = 2;

/// A version the server answered 201 for.
#[derive(Debug)]
pub struct Acked {
    pub version: i64,
    pub digest: String,
    pub template: String,
}

/// What one writer saw.
#[derive(Debug, Default)]
pub struct Ledger {
    pub name: String,
    pub versions: Vec<Acked>,
    /// The last deploy answered 200.
    pub last_deploy: Option<i64>,
    /// Requests that got no answer after they may have reached the server.
    pub in_doubt: usize,
    /// Complete error answers: status, body, and how long the request took.
    pub errors: Vec<(StatusCode, Value, Duration)>,
    /// Answers that broke off after the status line (never acceptable).
    pub broken: Vec<String>,
}

/// Shared counters of a group of writers.
#[derive(Default)]
pub struct Progress {
    pub stop: AtomicBool,
    /// Acknowledged writes (versions and deploys).
    pub acked: AtomicUsize,
}

/// Publishes versions of `name` (deploying some) until `progress.stop`, recording every answer.
pub async fn write(api: Api, name: String, progress: Arc<Progress>) -> Ledger {
    let mut ledger = Ledger {
        name: name.clone(),
        ..Ledger::default()
    };
    let mut item = 0;
    while !progress.stop.load(Ordering::SeqCst) {
        item += 1;
        let template = format!("{name} item {item}");
        let started = Instant::now();
        let version = match api.publish(&name, &template).await {
            Answer::Done(StatusCode::CREATED, body) => {
                let version = body["version"].as_i64().unwrap();
                let digest = body["digest"].as_str().unwrap().to_owned();
                ledger.versions.push(Acked {
                    version,
                    digest,
                    template,
                });
                progress.acked.fetch_add(1, Ordering::SeqCst);
                version
            }
            other => {
                note(&mut ledger, other, started).await;
                continue;
            }
        };
        if version % DEPLOY_EVERY != 0 {
            continue;
        }
        let started = Instant::now();
        match api.deploy(&name, version).await {
            Answer::Done(StatusCode::OK, body) => {
                assert_eq!(body["to_version"], version, "{body}");
                ledger.last_deploy = Some(version);
                progress.acked.fetch_add(1, Ordering::SeqCst);
            }
            other => note(&mut ledger, other, started).await,
        }
    }
    ledger
}

/// Records a failed write; waits a little after one, so a writer does not spin while the
/// server (or its database) is away.
async fn note(ledger: &mut Ledger, answer: Answer, started: Instant) {
    match answer {
        Answer::Done(status, body) => ledger.errors.push((status, body, started.elapsed())),
        Answer::Nothing { reached, .. } => ledger.in_doubt += usize::from(reached),
        Answer::Broken(what) => ledger.broken.push(what),
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Waits until `progress` counts `n` acknowledged writes (panics after a minute, or when a
/// writer stopped early).
pub async fn wait_acked(
    progress: &Progress,
    n: usize,
    writers: &[tokio::task::JoinHandle<Ledger>],
) {
    let limit = Duration::from_secs(60);
    let start = Instant::now();
    while progress.acked.load(Ordering::SeqCst) < n {
        assert!(
            start.elapsed() < limit,
            "only {} writes acknowledged within {limit:?}",
            progress.acked.load(Ordering::SeqCst)
        );
        assert!(
            writers.iter().all(|w| !w.is_finished()),
            "a writer stopped early"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Stops the writers and returns their ledgers.
pub async fn finish(
    progress: &Progress,
    writers: Vec<tokio::task::JoinHandle<Ledger>>,
) -> Vec<Ledger> {
    progress.stop.store(true, Ordering::SeqCst);
    let mut ledgers = Vec::new();
    for w in writers {
        ledgers.push(w.await.unwrap());
    }
    ledgers
}

/// Asserts that everything `ledger` saw acknowledged is stored, unchanged: versions numbered
/// 1..=n without gaps, every acknowledged one with its digest and template, no more than the
/// acknowledged and in-doubt ones, every deployment record naming a stored version, and the
/// live version no older than the last acknowledged deploy. Returns the number of versions.
pub async fn check(api: &Api, ledger: &Ledger) -> i64 {
    let name = &ledger.name;
    let path = name.replace('/', "%2F");
    let stored = api.versions(name).await;
    let n = stored.len() as i64;
    assert_eq!(stored, (1..=n).collect::<Vec<_>>(), "{name}: gaps");
    let last_acked = ledger.versions.last().map_or(0, |a| a.version);
    assert!(
        n >= last_acked,
        "{name}: v{last_acked} acknowledged, {n} stored"
    );
    let possible = ledger.versions.len() + ledger.in_doubt + ledger.errors.len();
    assert!(
        n <= possible as i64,
        "{name}: {n} stored, {} acknowledged, {} in doubt, {} errors",
        ledger.versions.len(),
        ledger.in_doubt,
        ledger.errors.len()
    );
    for a in &ledger.versions {
        let (status, got) = api
            .get(&format!("/v1/prompts/{path}/versions/{}", a.version))
            .await
            .done("get version");
        assert_eq!(status, StatusCode::OK, "{name} v{}: {got}", a.version);
        assert_eq!(got["digest"], a.digest.as_str(), "{name} v{}", a.version);
        assert_eq!(
            got["template"],
            a.template.as_str(),
            "{name} v{}",
            a.version
        );
    }
    let (status, history) = api
        .get(&format!(
            "/v1/environments/production/prompts/{path}/history?limit=500"
        ))
        .await
        .done("history");
    if let Some(deployed) = ledger.last_deploy {
        assert_eq!(status, StatusCode::OK, "{name}: {history}");
        for record in history["items"].as_array().unwrap() {
            let v = record["to_version"].as_i64().unwrap();
            assert!(
                (1..=n).contains(&v),
                "{name}: a record of v{v}, {n} stored: {record}"
            );
        }
        let (status, live) = api.resolve(name).await.done("resolve");
        assert_eq!(status, StatusCode::OK, "{name}: {live}");
        let live = live["version"].as_i64().unwrap();
        assert!(
            live >= deployed && live <= n,
            "{name}: v{deployed} deployed, v{live} live"
        );
    }
    n
}
