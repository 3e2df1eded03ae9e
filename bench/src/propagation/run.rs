//! One benchmark run: seed a prompt, open the watchers, move the pointer back and forth, and
//! time every move.
//!
//! The prompt gets two versions with v2 live over v1. Then, `rollbacks` times (after
//! `warmup` untimed pairs), the run rolls the prompt back (`POST .../rollback`, to v1) and
//! deploys v2 again (`PUT`), each through `api_url`, and waits until every watcher has the
//! move's `pointer_moved` frame ([`Collector::wait_move`]); a miss fails the run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};

use super::collect::{Collector, Expected};
use super::stats::{Round, Summary};
use super::watcher::{self, Target};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Servers the watchers connect to (round-robin).
    pub urls: Vec<String>,
    /// Server the moves are sent to.
    pub api_url: String,
    /// Admin (or deployer) token.
    pub token: String,
    /// Watchers in all.
    pub watchers: usize,
    /// Timed rollbacks (each followed by a timed deploy).
    pub rollbacks: usize,
    /// Untimed rollback/deploy pairs first.
    pub warmup: usize,
    /// Environment.
    pub env: String,
    /// The prompt (created by the run; must not exist yet).
    pub prompt: String,
    /// Pause before each move.
    pub pause: Duration,
    /// How long every watcher has to receive a move.
    pub timeout: Duration,
    /// Watchers connecting at once.
    pub connect_concurrency: usize,
    /// Server process ids to sample (RSS, CPU time), in any order.
    pub server_pids: Vec<u32>,
}

/// A server's resident memory with the watchers connected and its CPU time over the moves.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    /// The process.
    pub pid: u32,
    /// `VmRSS` after the moves, watchers still connected.
    pub rss_kb_with_watchers: u64,
    /// User + system CPU seconds it spent during the moves.
    pub cpu_s_during_moves: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    /// Watchers in all.
    pub watchers: usize,
    /// Servers watched.
    pub urls: Vec<String>,
    /// Server the moves went to.
    pub api_url: String,
    /// Watchers per server, in `urls` order.
    pub watchers_per_server: Vec<usize>,
    /// The prompt moved.
    pub prompt: String,
    /// Milliseconds from the first connect to the last `ready` frame.
    pub connect_ms: f64,
    /// The timed rollbacks.
    pub rollback: Summary,
    /// The timed deploys (v1 -> v2 after each rollback).
    pub deploy: Summary,
    /// Server resource use (for the `server_pids` given).
    pub servers: Vec<ServerUsage>,
    /// Every timed move, in order.
    pub moves: Vec<Round>,
}

/// Runs the benchmark; the watchers are spawned on `watchers_rt`, everything else runs on
/// the caller's runtime (a different thread, so that taking the time of an answer does not
/// wait behind a thousand frames being read).
pub async fn run(config: &Config, watchers_rt: &tokio::runtime::Handle) -> anyhow::Result<Output> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()?;
    let api = config.api_url.trim_end_matches('/');
    let token = config.token.as_str();
    let prompt = config.prompt.as_str();
    let pointer = format!(
        "{api}/v1/environments/{}/prompts/{}",
        config.env,
        encode(prompt)
    );
    let seeded = seed(&http, api, token, prompt, &pointer).await?;

    let mut targets = Vec::new();
    for (i, url) in config.urls.iter().enumerate() {
        targets.push(Arc::new(target(i, url, config, seeded).await?));
    }
    let server_of: Vec<usize> = (0..config.watchers).map(|c| c % targets.len()).collect();
    let (tx, rx) = mpsc::unbounded_channel();
    let connecting = Arc::new(Semaphore::new(config.connect_concurrency.max(1)));
    let connect_start = Instant::now();
    for (client, &server) in server_of.iter().enumerate() {
        watchers_rt.spawn(watcher::watch(
            client,
            targets[server].clone(),
            connecting.clone(),
            tx.clone(),
        ));
    }
    drop(tx);
    let mut collector = Collector::new(server_of.clone(), rx);
    collector.wait_ready(Duration::from_secs(120)).await?;
    let connect_ms = connect_start.elapsed().as_secs_f64() * 1000.0;

    let before = sample_all(&config.server_pids)?;
    let rollback_url = format!("{pointer}/rollback");
    let total = config.warmup + config.rollbacks;
    let mut rounds: Vec<Round> = Vec::new();
    for i in 0..total {
        let reason = format!("propagation bench {i}");
        let moves = [
            (
                reqwest::Method::POST,
                &rollback_url,
                json!({"reason": reason}),
            ),
            (
                reqwest::Method::PUT,
                &pointer,
                json!({"version": 2, "reason": reason}),
            ),
        ];
        for (method, url, body) in moves {
            tokio::time::sleep(config.pause).await;
            let sent = Instant::now();
            let answer = call(&http, method, url, token, &body).await?;
            let answered = Instant::now();
            let want = expected(prompt, &answer)?;
            let receipts = collector
                .wait_move(&want, config.timeout)
                .await
                .with_context(|| format!("pair {} of {total}, the {}", i + 1, want.kind))?;
            if i >= config.warmup {
                rounds.push(Round::measure(
                    &want.kind,
                    want.to_version,
                    sent,
                    answered,
                    &receipts,
                    &server_of,
                    targets.len(),
                ));
            }
        }
    }
    // A frame for a move nobody made, or a stream that broke, shows up within this.
    tokio::time::sleep(Duration::from_millis(200)).await;
    collector.finish()?;
    let after = sample_all(&config.server_pids)?;

    let of_kind = |k: &str| -> Vec<&Round> { rounds.iter().filter(|r| r.kind == k).collect() };
    let rollback = Summary::of(&of_kind("rollback"), targets.len());
    let deploy = Summary::of(&of_kind("deploy"), targets.len());
    if rollback.moves != config.rollbacks || deploy.moves != config.rollbacks {
        bail!(
            "{} rollbacks and {} deploys timed, {} of each asked for",
            rollback.moves,
            deploy.moves,
            config.rollbacks
        );
    }
    let servers = config
        .server_pids
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(&pid, (b, a))| ServerUsage {
            pid,
            rss_kb_with_watchers: a.rss_kb,
            cpu_s_during_moves: ((a.cpu_s - b.cpu_s) * 100.0).round() / 100.0,
        })
        .collect();
    Ok(Output {
        watchers: config.watchers,
        urls: config.urls.clone(),
        api_url: api.to_owned(),
        watchers_per_server: (0..targets.len())
            .map(|s| server_of.iter().filter(|&&x| x == s).count())
            .collect(),
        prompt: prompt.to_owned(),
        connect_ms: connect_ms.round(),
        rollback,
        deploy,
        servers,
        moves: rounds,
    })
}

/// Creates v1 and v2 of `prompt` and deploys v1, then v2, so a rollback goes to v1.
/// Returns the log position (event `seq`) of the last deploy: watchers start after it, so
/// that a replica whose feed has not yet delivered the seed's events does not stream them
/// as if they were the benchmark's moves.
async fn seed(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    prompt: &str,
    pointer: &str,
) -> anyhow::Result<i64> {
    let versions = format!("{api}/v1/prompts/{}/versions", encode(prompt));
    for (v, text) in [(1, "answer briefly."), (2, "answer briefly and politely.")] {
        let body = json!({"type": "text", "template": format!("{prompt} v{v}: {text}"),
                          "commit_message": format!("propagation bench v{v}")});
        let created = call(http, reqwest::Method::POST, &versions, token, &body).await?;
        if created.get("version").and_then(serde_json::Value::as_i64) != Some(v) {
            bail!("{prompt} already existed: publishing gave {created}");
        }
    }
    let mut seq = 0;
    for v in [1, 2] {
        let answer = call(
            http,
            reqwest::Method::PUT,
            pointer,
            token,
            &json!({"version": v}),
        )
        .await?;
        let index = answer
            .get("ledger_index")
            .and_then(serde_json::Value::as_i64)
            .with_context(|| format!("no ledger_index in the deploy's answer {answer}"))?;
        // Leaf `i` of the ledger is the event with `seq` i + 1.
        seq = index + 1;
    }
    Ok(seq)
}

/// The watch target of server `index` at `base`, streaming what comes after log position
/// `after`.
async fn target(index: usize, base: &str, config: &Config, after: i64) -> anyhow::Result<Target> {
    let url = reqwest::Url::parse(base).with_context(|| format!("bad URL {base}"))?;
    if url.scheme() != "http" {
        bail!("{base}: only http:// (the watchers speak plain HTTP/1.1)");
    }
    let host = url.host_str().context("URL without host")?;
    let port = url.port_or_known_default().context("URL without port")?;
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .with_context(|| format!("{host} does not resolve"))?;
    Ok(Target {
        server: index,
        addr,
        authority: format!("{host}:{port}"),
        path: format!(
            "/v1/watch?env={}&prefix={}&after={after}",
            config.env,
            encode(&config.prompt)
        ),
        authorization: format!("Bearer {}", config.token),
    })
}

/// Percent-encodes a prompt name for a path segment or query value (names hold only
/// `[a-z0-9._-]` and `/`).
fn encode(name: &str) -> String {
    name.replace('/', "%2F")
}

/// Sends one admin request; returns the JSON answer or fails with the status and body.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let response = http
        .request(method.clone(), url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{method} {url} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{method} {url}: not JSON: {text}"))
}

/// The deployment record of a deploy or rollback answer, as what to wait for.
fn expected(prompt: &str, answer: &serde_json::Value) -> anyhow::Result<Expected> {
    if answer.get("changed").and_then(serde_json::Value::as_bool) == Some(false) {
        bail!("the move changed nothing: {answer}");
    }
    let field = |k: &str| answer.get(k).with_context(|| format!("no {k} in {answer}"));
    Ok(Expected {
        name: prompt.to_owned(),
        record_seq: field("seq")?.as_i64().context("seq")?,
        to_version: field("to_version")?.as_i64().context("to_version")?,
        kind: field("kind")?.as_str().context("kind")?.to_owned(),
    })
}

/// A server's resident memory and total CPU time, from `/proc`.
#[derive(Debug, Clone, Copy)]
struct ProcSample {
    rss_kb: u64,
    cpu_s: f64,
}

fn sample_all(pids: &[u32]) -> anyhow::Result<Vec<ProcSample>> {
    pids.iter().map(|&p| proc_sample(p)).collect()
}

fn proc_sample(pid: u32) -> anyhow::Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces and parentheses): utime and
    // stime are the 12th and 13th, in USER_HZ ticks (100 a second on Linux).
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> u64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    Ok(ProcSample {
        rss_kb,
        cpu_s: (tick(11) + tick(12)) as f64 / 100.0,
    })
}
