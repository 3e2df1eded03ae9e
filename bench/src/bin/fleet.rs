//! `fleet`: a simulated agent fleet against a running promptreg server (see
//! `promptreg_bench::fleet`). Runs the release-control scenarios of `docs/delivery.md` and prints
//! their figures as a Markdown table and JSON lines.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use promptreg_bench::fleet::{run_scenario, Rates, Scenario, ScenarioResult};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "fleet",
    about = "Simulated agent fleet: canary detection and rollback"
)]
struct Args {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:8700")]
    url: String,
    /// A bearer token (admin or deployer).
    #[arg(long, env = "PROMPTREG_TOKEN")]
    token: String,
    /// Scenarios to run: unsafe, success-drop, srm, aa (comma-separated), or all.
    #[arg(long, default_value = "all")]
    scenarios: String,
    /// Agents in the fleet.
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Outcomes per second from the whole fleet.
    #[arg(long, default_value_t = 5_000.0)]
    rate: f64,
    /// Canary share in 1/10,000 (500 = 5 %).
    #[arg(long, default_value_t = 500)]
    weight: u32,
    /// A/A rollouts to run.
    #[arg(long, default_value_t = 100)]
    aa_runs: u32,
    /// Candidate outcomes each A/A rollout must collect without a false alarm.
    #[arg(long, default_value_t = 1_000)]
    aa_candidate_outcomes: u64,
    /// Give up on one rollout after this many seconds.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
    /// Seed of the first scenario.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The analysis every scenario runs: absolute breakers for rare, severe events and
/// always-valid comparisons against the stable arm for rates.
fn analysis() -> serde_json::Value {
    json!({"interval": "1s", "min_sample": 200,
           "breakers": [{"metric": "unsafe_action_rate", "max": 0.02},
                        {"metric": "policy_violations", "max": 0}],
           "compare": [{"metric": "success_rate", "max_drop": 0.0},
                       {"metric": "unsafe_action_rate", "max_increase": 0.0}]})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(10))
        .build()
        .context("HTTP client")?;
    let base = Rates {
        unsafe_action: 0.005,
        ..Rates::default()
    };
    let wanted: Vec<&str> = if args.scenarios == "all" {
        vec!["unsafe", "success-drop", "srm", "aa"]
    } else {
        args.scenarios.split(',').collect()
    };
    let scenario = |name: &str, candidate: Rates, seed: u64| Scenario {
        name: name.to_owned(),
        base_url: args.url.clone(),
        token: args.token.clone(),
        agents: args.agents,
        rate_per_s: args.rate,
        weight: args.weight,
        analysis: analysis(),
        stable: base,
        candidate,
        enough_candidate_outcomes: None,
        max_duration: Duration::from_secs(args.max_seconds),
        seed,
    };
    let mut results: Vec<ScenarioResult> = Vec::new();
    for name in wanted {
        match name {
            "unsafe" => {
                let candidate = Rates {
                    unsafe_action: base.unsafe_action * 10.0,
                    ..base
                };
                results.push(
                    run_scenario(&client, &scenario("unsafe-x10", candidate, args.seed)).await?,
                );
            }
            "success-drop" => {
                let candidate = Rates {
                    success: base.success - 0.05,
                    ..base
                };
                results.push(
                    run_scenario(
                        &client,
                        &scenario("success-drop-5pt", candidate, args.seed + 1),
                    )
                    .await?,
                );
            }
            "srm" => {
                // The candidate is as good as stable, but its agents lose 40 % of their
                // outcomes: only the sample-ratio check can see it.
                let candidate = Rates {
                    reported: 0.6,
                    ..base
                };
                results
                    .push(run_scenario(&client, &scenario("srm", candidate, args.seed + 2)).await?);
            }
            "aa" => {
                let mut false_rollbacks = 0;
                for i in 0..args.aa_runs {
                    let mut s = scenario(&format!("aa{i}"), base, args.seed + 100 + u64::from(i));
                    s.enough_candidate_outcomes = Some(args.aa_candidate_outcomes);
                    let r = run_scenario(&client, &s).await?;
                    false_rollbacks += u32::from(r.rolled_back);
                    eprintln!(
                        "A/A {i}: {} ({} candidate outcomes)",
                        r.status, r.candidate_outcomes
                    );
                    println!("{}", serde_json::to_string(&r)?);
                }
                println!(
                    "{}",
                    json!({"name": "aa-summary", "runs": args.aa_runs, "false_rollbacks": false_rollbacks,
                           "false_rollback_rate": f64::from(false_rollbacks) / f64::from(args.aa_runs.max(1))})
                );
                eprintln!(
                    "A/A: {false_rollbacks} false rollbacks in {} rollouts",
                    args.aa_runs
                );
            }
            other => {
                anyhow::bail!("unknown scenario '{other}' (unsafe, success-drop, srm, aa or all)")
            }
        }
    }
    println!("| scenario | status | min sample at | rolled back seen at | fleet on stable at | min sample → fleet stable | outcomes (candidate) | why |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in &results {
        let t = |v: Option<u64>| {
            v.map_or("—".to_owned(), |ms| {
                format!("{:.1} s", ms as f64 / 1000.0)
            })
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {} |",
            r.name,
            r.status,
            t(r.min_sample_at_ms),
            t(r.rolled_back_at_ms),
            t(r.fleet_stable_at_ms),
            t(r.min_sample_to_fleet_stable_ms),
            r.outcomes_accepted,
            r.candidate_outcomes,
            r.reason.clone().unwrap_or_default().replace('|', "/")
        );
        println!("{}", serde_json::to_string(r)?);
    }
    Ok(())
}
