//! `propagation`: how long a rollback takes to reach every agent watching the change stream
//! (issue 15; see `promptreg_bench::propagation`).
//!
//! Seeds a prompt with two versions (v2 live over v1), opens `--watchers` `GET /v1/watch`
//! streams spread round-robin over the `--url` servers, waits for every `ready` frame, then
//! `--rollbacks` times rolls the prompt back and deploys v2 again through `--api-url`,
//! timing each move from its HTTP answer to the last watcher receiving its `pointer_moved`
//! frame. A watcher that misses a move, receives it twice or loses its stream fails the run
//! (exit 1, naming the watchers).
//!
//! Prints a summary on stderr and one Markdown table row on stdout; `--json-out` writes
//! every figure and every move.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use clap::Parser;
use promptreg_bench::propagation::run::{run, Config, Output};
use promptreg_bench::propagation::stats::Dist;

#[derive(Debug, Parser)]
#[command(
    name = "propagation",
    about = "Time from a rollback's HTTP answer to the last of N change-stream watchers receiving it"
)]
struct Args {
    /// Server the watchers connect to; repeat for replicas (watchers are spread round-robin).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// Server the rollbacks and deploys are sent to (default: the first --url).
    #[arg(long)]
    api_url: Option<String>,
    /// An admin (or deployer) token.
    #[arg(long, env = "PROMPTREG_TOKEN", hide_env_values = true)]
    token: String,
    /// Watching clients in all.
    #[arg(long, default_value_t = 1_000)]
    watchers: usize,
    /// Rollbacks to time (each followed by a timed deploy back to v2).
    #[arg(long, default_value_t = 100)]
    rollbacks: usize,
    /// Untimed rollback/deploy pairs before the timed ones.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Environment.
    #[arg(long, default_value = "production")]
    env: String,
    /// Prompt to create and move (default `bench/propagation-<unix ms>`, new in every run).
    #[arg(long)]
    prompt: Option<String>,
    /// Milliseconds to wait before each move.
    #[arg(long, default_value_t = 50)]
    pause_ms: u64,
    /// Seconds every watcher has to receive a move before the run fails.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    /// Watchers connecting at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Tokio worker threads of the watchers.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Process id of a server, for its RSS and CPU time (repeatable).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Label of the Markdown row.
    #[arg(long, default_value = "")]
    label: String,
    /// Write every figure and every move as JSON here.
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
}

/// Raises the open-files soft limit to the hard limit; fails when that cannot hold `needed`
/// descriptors (a watcher is one socket).
fn raise_nofile(needed: u64) -> anyhow::Result<()> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).context("raising RLIMIT_NOFILE")?;
    }
    let now = getrlimit(Resource::Nofile).current;
    if now.is_some_and(|n| n < needed) {
        bail!("the open-files limit is {now:?}, {needed} are needed (raise `ulimit -Hn`)");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.watchers == 0 || args.threads == 0 || args.rollbacks == 0 {
        bail!("--watchers, --rollbacks and --threads must be at least 1");
    }
    raise_nofile(args.watchers as u64 + 64)?;
    let millis = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let config = Config {
        urls: args.urls.clone(),
        api_url: args.api_url.clone().unwrap_or_else(|| args.urls[0].clone()),
        token: args.token.clone(),
        watchers: args.watchers,
        rollbacks: args.rollbacks,
        warmup: args.warmup,
        env: args.env.clone(),
        prompt: args
            .prompt
            .clone()
            .unwrap_or_else(|| format!("bench/propagation-{millis}")),
        pause: Duration::from_millis(args.pause_ms),
        timeout: Duration::from_secs(args.timeout_secs),
        connect_concurrency: args.connect_concurrency,
        server_pids: args.server_pids.clone(),
    };
    let watchers_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .thread_name("watcher")
        .enable_all()
        .build()?;
    let coordinator = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = coordinator.block_on(run(&config, watchers_rt.handle()));
    watchers_rt.shutdown_background();
    let output = result?;
    if let Some(path) = &args.json_out {
        let mut value = serde_json::to_value(&output)?;
        value["label"] = args.label.clone().into();
        value["watcher_threads"] = args.threads.into();
        value["pause_ms"] = args.pause_ms.into();
        value["warmup_pairs"] = args.warmup.into();
        std::fs::write(path, serde_json::to_string_pretty(&value)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    report(&args, &output);
    Ok(())
}

fn report(args: &Args, out: &Output) {
    let line = |what: &str, d: &Dist| {
        eprintln!(
            "{what:<32} p50 {:7.2}  p90 {:7.2}  p99 {:7.2}  max {:7.2} ms",
            d.p50, d.p90, d.p99, d.max
        );
    };
    eprintln!(
        "{} watchers ({:?} per server) live in {} ms; {} rollbacks and {} deploys of {}",
        out.watchers,
        out.watchers_per_server,
        out.connect_ms,
        out.rollback.moves,
        out.deploy.moves,
        out.prompt
    );
    line("rollback: answer -> last", &out.rollback.last_ms);
    line("rollback: answer -> median", &out.rollback.median_ms);
    line(
        "rollback: request -> last",
        &out.rollback.last_from_request_ms,
    );
    line("rollback: request -> answer", &out.rollback.answer_ms);
    for (i, d) in out.rollback.last_by_server_ms.iter().enumerate() {
        line(&format!("rollback: answer -> last on {i}"), d);
    }
    line("deploy: answer -> last", &out.deploy.last_ms);
    for s in &out.servers {
        eprintln!(
            "server pid {}: RSS {} kB with the watchers, {} CPU s during the moves",
            s.pid, s.rss_kb_with_watchers, s.cpu_s_during_moves
        );
    }
    let r = &out.rollback;
    println!(
        "| {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
        args.label,
        out.watchers,
        r.moves,
        r.last_ms.p50,
        r.last_ms.p99,
        r.last_ms.max,
        r.median_ms.p50,
        r.last_from_request_ms.p99,
        out.deploy.last_ms.p99,
    );
}
