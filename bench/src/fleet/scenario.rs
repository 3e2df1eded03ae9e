//! One rollout under a simulated fleet: set up, run, watch, measure.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::{json, Value};

use super::agents::{Fleet, FleetConfig, Rates};

/// One rollout to run under the fleet.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name, also part of the prompt's name.
    pub name: String,
    /// `http://host:port`.
    pub base_url: String,
    /// A bearer token that may publish, deploy and start rollouts (deployer or admin).
    pub token: String,
    /// Agents in the fleet.
    pub agents: usize,
    /// Outcomes per second from the whole fleet.
    pub rate_per_s: f64,
    /// The canary's share, in 1/10,000.
    pub weight: u32,
    /// The rollout's background analysis (JSON as the API takes it).
    pub analysis: Value,
    /// How the stable version behaves.
    pub stable: Rates,
    /// How the candidate behaves.
    pub candidate: Rates,
    /// Stop (and abort the rollout) once the candidate arm has this many accepted outcomes
    /// without a rollback: an A/A run that ended without a false alarm.
    pub enough_candidate_outcomes: Option<u64>,
    /// Give up after this long.
    pub max_duration: Duration,
    /// Seed of the agents' draws.
    pub seed: u64,
}

/// What happened, with the times that matter (ms from the fleet's start).
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub name: String,
    /// The rollout id.
    pub rollout: String,
    /// Its final status.
    pub status: String,
    /// Whether analysis rolled it back.
    pub rolled_back: bool,
    /// The reason recorded with the last change.
    pub reason: Option<String>,
    /// When the candidate arm reached the analysis's minimum sample (accepted outcomes).
    pub min_sample_at_ms: Option<u64>,
    /// When the rollback was first seen through the API.
    pub rolled_back_at_ms: Option<u64>,
    /// When the last agent that had been on the candidate resolved the stable version.
    pub fleet_stable_at_ms: Option<u64>,
    /// `fleet_stable_at_ms - min_sample_at_ms`: the figure the target is about.
    pub min_sample_to_fleet_stable_ms: Option<u64>,
    /// Outcomes the server accepted.
    pub outcomes_accepted: u64,
    /// Of which on the candidate arm.
    pub candidate_outcomes: u64,
    /// Outcomes refused.
    pub outcomes_rejected: u64,
    /// Resolves that failed.
    pub resolve_errors: u64,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

async fn api(
    client: &reqwest::Client,
    s: &Scenario,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = client
        .request(method.clone(), format!("{}{path}", s.base_url))
        .bearer_auth(&s.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req
        .send()
        .await
        .with_context(|| format!("{method} {path}"))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{method} {path} answered {status}: {body}");
    }
    Ok(body)
}

/// Sets up a prompt with a stable (v1, live) and a candidate (v2), starts a canary at
/// `weight`, runs the fleet and watches until the fleet is back on stable, enough A/A outcomes
/// passed, or time is up.
pub async fn run_scenario(
    client: &reqwest::Client,
    s: &Scenario,
) -> anyhow::Result<ScenarioResult> {
    let prompt = format!("sim-{}-{}", s.name, s.seed);
    for template in [
        "Help the customer, {{ name }}.",
        "Help {{ name }}, briefly.",
    ] {
        api(
            client,
            s,
            reqwest::Method::POST,
            &format!("/v1/prompts/{prompt}/versions"),
            Some(json!({"type": "text", "template": template})),
        )
        .await?;
    }
    api(
        client,
        s,
        reqwest::Method::PUT,
        &format!("/v1/environments/production/prompts/{prompt}"),
        Some(json!({"version": 1})),
    )
    .await?;
    let rollout = api(
        client,
        s,
        reqwest::Method::POST,
        &format!("/v1/environments/production/prompts/{prompt}/rollouts"),
        Some(json!({
            "candidate": 2,
            "reason": format!("fleet simulation: {}", s.name),
            "strategy": {"canary": {"steps": [{"set_weight": s.weight}, {"pause": {}}]}},
            "analysis": s.analysis,
        })),
    )
    .await?;
    let id = rollout["id"].as_str().context("rollout id")?.to_owned();
    let path = format!("/v1/rollouts/{id}");
    // The controller's first pass sets the weight.
    let deadline = Instant::now() + Duration::from_secs(10);
    while api(client, s, reqwest::Method::GET, &path, None).await?["weight"] != s.weight {
        if Instant::now() > deadline {
            bail!("rollout {id} never reached weight {}", s.weight);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let min_sample = s.analysis["min_sample"].as_u64().unwrap_or(100);
    let fleet = Fleet::start(
        FleetConfig {
            base_url: s.base_url.clone(),
            token: s.token.clone(),
            prompt: prompt.clone(),
            env: "production".into(),
            agents: s.agents,
            rate_per_s: s.rate_per_s,
            stable: s.stable,
            candidate: s.candidate,
            candidate_version: 2,
            tag: format!("{prompt}-{id}"),
            seed: s.seed,
        },
        client.clone(),
    );
    let started = Instant::now();
    let ms = |t: Instant| u64::try_from(t.duration_since(started).as_millis()).unwrap_or(u64::MAX);
    let (mut min_sample_at, mut rolled_back_at, mut fleet_stable_at) = (None, None, None);
    let mut last = Value::Null;
    let mut polled = Instant::now() - Duration::from_secs(1);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = Instant::now();
        let stats = &fleet.stats;
        if min_sample_at.is_none() && stats.candidate_accepted.load(Ordering::Relaxed) >= min_sample
        {
            min_sample_at = Some(now);
        }
        if now.duration_since(polled) >= Duration::from_millis(100) {
            polled = now;
            last = api(client, s, reqwest::Method::GET, &path, None).await?;
            if rolled_back_at.is_none() && last["status"] == "rolled_back" {
                rolled_back_at = Some(now);
            }
        }
        if rolled_back_at.is_some() && stats.on_candidate.load(Ordering::Relaxed) <= 0 {
            fleet_stable_at = Some(now);
            break;
        }
        let enough = s
            .enough_candidate_outcomes
            .is_some_and(|n| stats.candidate_accepted.load(Ordering::Relaxed) >= n);
        if rolled_back_at.is_none() && (enough || now.duration_since(started) > s.max_duration) {
            break;
        }
        if now.duration_since(started) > s.max_duration + Duration::from_secs(30) {
            break;
        }
    }
    let stats = fleet.stats.clone();
    fleet.stop().await;
    if last["status"] == "progressing" || last["status"] == "paused" {
        let aborted = api(
            client,
            s,
            reqwest::Method::POST,
            &format!("{path}/abort"),
            Some(json!({"reason": "fleet simulation ended"})),
        )
        .await;
        last = match aborted {
            Ok(answer) => answer,
            // The analysis ended it between the last poll and the abort: read how it ended.
            Err(e) if e.to_string().contains("rollout_finished") => {
                api(client, s, reqwest::Method::GET, &path, None).await?
            }
            Err(e) => return Err(e),
        };
    }
    let history = api(
        client,
        s,
        reqwest::Method::GET,
        &format!("/v1/rollouts/{id}"),
        None,
    )
    .await?;
    let reason = history["analysis_results"]["background"]["result"]["summary"]
        .as_str()
        .map(str::to_owned);
    Ok(ScenarioResult {
        name: s.name.clone(),
        rollout: id,
        status: last["status"].as_str().unwrap_or_default().to_owned(),
        rolled_back: rolled_back_at.is_some(),
        reason,
        min_sample_at_ms: min_sample_at.map(ms),
        rolled_back_at_ms: rolled_back_at.map(ms),
        fleet_stable_at_ms: fleet_stable_at.map(ms),
        min_sample_to_fleet_stable_ms: match (min_sample_at, fleet_stable_at) {
            (Some(a), Some(b)) => Some(ms(b).saturating_sub(ms(a))),
            _ => None,
        },
        outcomes_accepted: stats.accepted.load(Ordering::Relaxed),
        candidate_outcomes: stats.candidate_accepted.load(Ordering::Relaxed),
        outcomes_rejected: stats.rejected.load(Ordering::Relaxed),
        resolve_errors: stats.resolve_errors.load(Ordering::Relaxed),
        first_error: stats.first_error.get(),
    })
}
