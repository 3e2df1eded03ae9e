//! `slowloris` — a slow-header attack on loopback, measuring what a well-behaved client sees.
//!
//! Holds `--connections` connections to `--addr` that send a request line and then one
//! header byte every `--trickle-ms` and never finish the head; a slot whose connection the
//! server closes (header timeout, or 503 past the connection cap) reconnects after
//! `--reconnect-ms`. Meanwhile a well-behaved client resolves `--path` sequentially, each on
//! a new connection (new clients are what an exhausted server fails first), for `--duration`
//! seconds, with a 5 s limit per request. Reports the client's latencies and failures, how
//! the server treated the attackers, and the server's memory (`--pid`, from `/proc`).
//!
//! Loopback only: `--addr` must be a loopback address. Every loop is bounded by the duration.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "slowloris", about = "Slow-header attack on loopback, measured")]
struct Args {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8780")]
    addr: SocketAddr,
    /// Path the well-behaved client GETs.
    #[arg(long, default_value = "/v1/resolve/bench%2Fp?env=production")]
    path: String,
    /// Bearer token of the well-behaved client.
    #[arg(long, default_value = "bench-admin-token")]
    token: String,
    /// Slow connections held at once (at most 50,000).
    #[arg(long, default_value_t = 15_000)]
    connections: u32,
    /// Milliseconds between two header bytes of a slow connection.
    #[arg(long, default_value_t = 2_000)]
    trickle_ms: u64,
    /// Milliseconds before a closed slot reconnects.
    #[arg(long, default_value_t = 200)]
    reconnect_ms: u64,
    /// Seconds to hold the attack while the client measures (at most 600).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seconds of attack before the client starts measuring.
    #[arg(long, default_value_t = 10)]
    ramp: u64,
    /// Server process id, for its memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Default)]
struct AttackStats {
    open: AtomicU64,
    opened: AtomicU64,
    connect_failed: AtomicU64,
    refused_503: AtomicU64,
    closed_by_server: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("slowloris only attacks loopback addresses");
    }
    if args.connections > 50_000 || args.duration > 600 || args.ramp > 600 {
        bail!("at most 50,000 connections and 600 s");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let stats = Arc::new(AttackStats::default());
    let end = Instant::now() + Duration::from_secs(args.ramp + args.duration);
    let mut attackers = Vec::with_capacity(args.connections as usize);
    for _ in 0..args.connections {
        attackers.push(tokio::spawn(slot(
            args.addr,
            stats.clone(),
            Duration::from_millis(args.trickle_ms),
            Duration::from_millis(args.reconnect_ms),
            end,
        )));
    }
    tokio::time::sleep(Duration::from_secs(args.ramp)).await;
    let rss_start = args.pid.and_then(|p| proc_status_kib(p, "VmRSS"));
    let open_at_start = stats.open.load(Ordering::Relaxed);

    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut rss_peak = rss_start.unwrap_or(0);
    let mut open_min = u64::MAX;
    let mut open_max = 0;
    while Instant::now() < end {
        let started = Instant::now();
        match tokio::time::timeout(Duration::from_secs(5), good_request(&args)).await {
            Ok(Ok(())) => {
                ok += 1;
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.saturating_record(us.max(1));
            }
            _ => failed += 1,
        }
        if (ok + failed) % 50 == 0 {
            if let Some(rss) = args.pid.and_then(|p| proc_status_kib(p, "VmRSS")) {
                rss_peak = rss_peak.max(rss);
            }
            let open = stats.open.load(Ordering::Relaxed);
            open_min = open_min.min(open);
            open_max = open_max.max(open);
        }
    }
    for a in attackers {
        a.abort();
    }
    let hwm = args.pid.and_then(|p| proc_status_kib(p, "VmHWM"));
    let q = |p: f64| latency.value_at_quantile(p) as f64 / 1000.0;
    let report = serde_json::json!({
        "attack_connections": args.connections,
        "attack_open_at_start": open_at_start,
        "attack_open_min": if open_min == u64::MAX { 0 } else { open_min },
        "attack_open_max": open_max,
        "attack_connects": stats.opened.load(Ordering::Relaxed),
        "attack_connect_failed": stats.connect_failed.load(Ordering::Relaxed),
        "attack_refused_503": stats.refused_503.load(Ordering::Relaxed),
        "attack_closed_by_server": stats.closed_by_server.load(Ordering::Relaxed),
        "client_ok": ok,
        "client_failed": failed,
        "client_p50_ms": q(0.50),
        "client_p99_ms": q(0.99),
        "client_max_ms": latency.max() as f64 / 1000.0,
        "server_rss_kib_at_start": rss_start,
        "server_rss_kib_peak": rss_peak,
        "server_rss_kib_hwm": hwm,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// One attacker slot: connect, send a request line, trickle header bytes, reconnect when the
/// server closes, until `end`.
async fn slot(
    addr: SocketAddr,
    stats: Arc<AttackStats>,
    trickle: Duration,
    reconnect: Duration,
    end: Instant,
) {
    while Instant::now() < end {
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
        else {
            stats.connect_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(reconnect).await;
            continue;
        };
        stats.opened.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 512];
        let mut sent = stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-a: ")
            .await
            .is_ok();
        while sent && Instant::now() < end {
            tokio::select! {
                read = stream.read(&mut buf) => {
                    match read {
                        Ok(n) if n > 0 && buf[..n].starts_with(b"HTTP/1.1 503") => {
                            stats.refused_503.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    break;
                }
                () = tokio::time::sleep(trickle) => {
                    sent = stream.write_all(b"a").await.is_ok();
                }
            }
        }
        stats.open.fetch_sub(1, Ordering::Relaxed);
        tokio::time::sleep(reconnect).await;
    }
}

/// One resolve on a new connection, answered 200.
async fn good_request(args: &Args) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(args.addr).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
        args.path, args.addr, args.token
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    if !response.starts_with(b"HTTP/1.1 200") {
        bail!(
            "answer: {}",
            String::from_utf8_lossy(&response[..response.len().min(80)])
        );
    }
    Ok(())
}

/// A `kB` field of `/proc/<pid>/status`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
