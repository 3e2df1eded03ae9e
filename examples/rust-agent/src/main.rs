//! An agent loop on the promptreg Rust SDK (`promptreg_client::Agent`):
//!
//! 1. start an agent: the environment's signed snapshot, verified, then the change stream (or,
//!    with no server, the snapshot file given with `--snapshot`);
//! 2. for each task: `resolve` the prompt for this agent's subject (from memory, sticky during
//!    a rollout), `render` it locally, call the model inside the prompt's telemetry span,
//!    and `report` the outcome (queued, sent in batches in the background);
//! 3. shut down, which flushes the last outcomes, and print the agent's status.
//!
//! The model is a stand-in (it echoes a summary of the prompt), so the example runs anywhere:
//! replace `fake_model` with your provider's client.
//!
//! ```sh
//! cargo run -p promptreg-example-rust-agent -- --prompt support/triage \
//!     --var ticket="My order is late" --tasks 5
//! ```

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use promptreg_client::Agent;
use serde_json::{json, Map, Value};

#[derive(Parser)]
struct Args {
    /// Server URL.
    #[arg(long, env = "PROMPTREG_URL", default_value = "http://127.0.0.1:8700")]
    url: String,
    /// Bearer token (a reader's is enough).
    #[arg(long, env = "PROMPTREG_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Environment.
    #[arg(long, env = "PROMPTREG_ENV", default_value = "production")]
    env: String,
    /// Snapshot file to start from when no server answers (`promptreg snapshot -o FILE`).
    #[arg(long)]
    snapshot: Option<std::path::PathBuf>,
    /// The prompt to run.
    #[arg(long)]
    prompt: String,
    /// A template variable, `name=value` (repeatable).
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// How many tasks to run.
    #[arg(long, default_value_t = 10)]
    tasks: u32,
    /// This agent's id: the rollout subject.
    #[arg(long, default_value = "agent-1")]
    subject: String,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?}: expected name=value"))
}

/// A stand-in for a model call: answers with the prompt's length, fails on an empty prompt.
async fn fake_model(prompt: &str) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    match prompt.trim().is_empty() {
        true => Err("empty prompt".into()),
        false => Ok(format!("ok ({} chars)", prompt.len())),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut agent = Agent::builder(&args.url).env(&args.env);
    if let Some(token) = &args.token {
        agent = agent.token(token);
    }
    if let Some(path) = &args.snapshot {
        agent = agent.snapshot_path(path);
    }
    let agent = agent.start().await.context("starting the agent")?;
    let variables = Value::Object(
        args.vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    );

    for task in 0..args.tasks {
        // 1. Resolve from memory: the version this subject gets right now.
        let prompt = agent.resolve(&args.prompt, Some(&args.subject))?;
        // 2. Render locally with the server's own renderer (content verified when cached).
        let rendered = prompt.render(&variables)?;
        let text = match &rendered {
            promptreg_client::agent::Rendered::Text(t) => t.clone(),
            promptreg_client::agent::Rendered::Chat(messages) => serde_json::to_string(messages)?,
        };
        // 3. Call the model inside the prompt's span (prompt.name, .version, .digest, ...).
        let started = Instant::now();
        let answer = {
            let _span = prompt.span().entered();
            fake_model(&text).await
        };
        // 4. Report the outcome: never blocks, sent in batches.
        let mut outcome = prompt.outcome(Some(&args.subject));
        outcome.success = Some(answer.is_ok());
        outcome.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        agent.report(outcome);
        println!(
            "{}",
            json!({"task": task, "prompt": prompt.name(), "version": prompt.version().get(),
                   "arm": prompt.arm().map(|a| a.as_str()), "answer": answer.unwrap_or_else(|e| e)})
        );
    }

    let status = agent.shutdown().await;
    println!(
        "{}",
        json!({"status": {"connected": status.connected, "stale": status.stale, "seq": status.seq,
               "outcomes_accepted": status.outcomes.accepted,
               "outcomes_dropped": status.outcomes.dropped}})
    );
    Ok(())
}
