//! The simulated agents and the outcome reporter.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How a version behaves when an agent runs it (probabilities per run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// The run succeeds.
    pub success: f64,
    /// The agent takes an unsafe action.
    pub unsafe_action: f64,
    /// The run violates a policy.
    pub policy_violation: f64,
    /// Mean latency (exponentially distributed), ms.
    pub latency_ms: f64,
    /// The agent reports the outcome at all (below 1 models agents that lose outcomes, which
    /// the sample-ratio check must notice).
    pub reported: f64,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            success: 0.95,
            unsafe_action: 0.002,
            policy_violation: 0.0,
            latency_ms: 800.0,
            reported: 1.0,
        }
    }
}

/// What the fleet runs against.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// `http://host:port` of the server.
    pub base_url: String,
    /// A bearer token that may resolve and report outcomes.
    pub token: String,
    /// The prompt (URL-safe name).
    pub prompt: String,
    /// The environment.
    pub env: String,
    /// Number of agents (subjects `agent-0` …).
    pub agents: usize,
    /// Outcomes per second the whole fleet produces.
    pub rate_per_s: f64,
    /// The stable version's behaviour.
    pub stable: Rates,
    /// The candidate's behaviour.
    pub candidate: Rates,
    /// Which version number is the candidate.
    pub candidate_version: i64,
    /// Prefix of outcome ids (unique per run).
    pub tag: String,
    /// Seed of the agents' draws.
    pub seed: u64,
}

/// What the fleet saw, updated live.
#[derive(Debug)]
pub struct FleetStats {
    /// Resolves answered 200.
    pub resolves: AtomicU64,
    /// Resolves that failed.
    pub resolve_errors: AtomicU64,
    /// Outcomes the server accepted.
    pub accepted: AtomicU64,
    /// Outcomes the server refused.
    pub rejected: AtomicU64,
    /// Accepted outcomes of the candidate arm.
    pub candidate_accepted: AtomicU64,
    /// Agents whose last resolve served the candidate.
    pub on_candidate: AtomicI64,
    /// Per agent: 0 not resolved yet, 1 stable, 2 candidate.
    last_arm: Vec<AtomicU8>,
    /// The first refusal's message, for diagnosis.
    pub first_error: parking_lot_free::Slot,
}

/// A tiny "first error wins" slot without another dependency.
pub mod parking_lot_free {
    use std::sync::Mutex;

    /// Keeps the first message put in it.
    #[derive(Debug, Default)]
    pub struct Slot(Mutex<Option<String>>);

    impl Slot {
        /// Keeps `message` unless one is kept already.
        pub fn put(&self, message: impl FnOnce() -> String) {
            if let Ok(mut slot) = self.0.lock() {
                if slot.is_none() {
                    *slot = Some(message());
                }
            }
        }

        /// The kept message.
        pub fn get(&self) -> Option<String> {
            self.0.lock().ok().and_then(|s| s.clone())
        }
    }
}

impl FleetStats {
    fn new(agents: usize) -> Self {
        Self {
            resolves: AtomicU64::new(0),
            resolve_errors: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            candidate_accepted: AtomicU64::new(0),
            on_candidate: AtomicI64::new(0),
            last_arm: (0..agents).map(|_| AtomicU8::new(0)).collect(),
            first_error: Default::default(),
        }
    }

    fn saw(&self, agent: usize, candidate: bool) {
        let arm = if candidate { 2 } else { 1 };
        let before = self.last_arm[agent].swap(arm, Ordering::Relaxed);
        match (before, arm) {
            (2, 1) => {
                self.on_candidate.fetch_sub(1, Ordering::Relaxed);
            }
            (0 | 1, 2) => {
                self.on_candidate.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// A running fleet; dropping it (or [`Fleet::stop`]) stops the agents.
pub struct Fleet {
    /// Live figures.
    pub stats: Arc<FleetStats>,
    stop: Arc<AtomicBool>,
    tasks: JoinSet<()>,
}

impl Fleet {
    /// Starts `config.agents` agents and the reporter.
    pub fn start(config: FleetConfig, client: reqwest::Client) -> Fleet {
        let stats = Arc::new(FleetStats::new(config.agents));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        let (tx, rx) = mpsc::channel::<(Value, bool)>(200_000);
        tasks.spawn(report(config.clone(), client.clone(), rx, stats.clone()));
        let config = Arc::new(config);
        // Every agent runs once per period, so the fleet produces `rate_per_s` outcomes a second.
        let period = Duration::from_secs_f64(config.agents as f64 / config.rate_per_s.max(0.001));
        for agent in 0..config.agents {
            let (config, client, stats, stop, tx) = (
                config.clone(),
                client.clone(),
                stats.clone(),
                stop.clone(),
                tx.clone(),
            );
            tasks.spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed ^ (agent as u64) << 20);
                // Spread the first runs over one period.
                tokio::time::sleep(period.mul_f64(rng.random::<f64>())).await;
                let mut ticks = tokio::time::interval(period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut run = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    ticks.tick().await;
                    run += 1;
                    if let Some(event) =
                        run_once(&config, &client, &stats, agent, run, &mut rng).await
                    {
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
        Fleet { stats, stop, tasks }
    }

    /// Stops the agents and waits for the reporter to send what it holds.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => {
                    self.tasks.abort_all();
                    return;
                }
                next = self.tasks.join_next() => if next.is_none() { return },
            }
        }
    }
}

/// One run: resolve, draw an outcome from the served version's rates.
async fn run_once(
    config: &FleetConfig,
    client: &reqwest::Client,
    stats: &FleetStats,
    agent: usize,
    run: u64,
    rng: &mut rand::rngs::StdRng,
) -> Option<(Value, bool)> {
    let subject = format!("agent-{agent}");
    let url = format!(
        "{}/v1/resolve/{}?env={}&subject={subject}",
        config.base_url, config.prompt, config.env
    );
    let answer = client.get(url).bearer_auth(&config.token).send().await;
    let body: Value = match answer {
        Ok(r) if r.status().is_success() => r.json().await.ok()?,
        Ok(r) => {
            stats.resolve_errors.fetch_add(1, Ordering::Relaxed);
            let status = r.status();
            stats
                .first_error
                .put(|| format!("resolve answered {status}"));
            return None;
        }
        Err(e) => {
            stats.resolve_errors.fetch_add(1, Ordering::Relaxed);
            stats.first_error.put(|| format!("resolve failed: {e}"));
            return None;
        }
    };
    stats.resolves.fetch_add(1, Ordering::Relaxed);
    let version = body["version"].as_i64()?;
    let candidate = version == config.candidate_version;
    stats.saw(agent, candidate);
    let rates = if candidate {
        config.candidate
    } else {
        config.stable
    };
    if rng.random::<f64>() >= rates.reported {
        return None;
    }
    let latency = -rates.latency_ms * (1.0 - rng.random::<f64>()).ln();
    let mut event = json!({
        "id": format!("{}-{agent}-{run}", config.tag),
        "prompt": config.prompt.replace("%2F", "/"),
        "env": config.env,
        "version": version,
        "subject": subject,
        "success": rng.random::<f64>() < rates.success,
        "unsafe_action": rng.random::<f64>() < rates.unsafe_action,
        "policy_violation": rng.random::<f64>() < rates.policy_violation,
        "latency_ms": (latency * 10.0).round() / 10.0,
    });
    if let Some(a) = body.get("assignment") {
        event["rollout"] = a["rollout"].clone();
        event["arm"] = a["arm"].clone();
    }
    Some((event, candidate))
}

/// Batches outcomes (up to 5,000, or what arrived within 100 ms) to `POST /v1/outcomes`.
async fn report(
    config: FleetConfig,
    client: reqwest::Client,
    mut rx: mpsc::Receiver<(Value, bool)>,
    stats: Arc<FleetStats>,
) {
    let url = format!("{}/v1/outcomes", config.base_url);
    let mut batch: Vec<(Value, bool)> = Vec::with_capacity(5_000);
    loop {
        let first =
            tokio::time::timeout(Duration::from_millis(100), rx.recv_many(&mut batch, 5_000)).await;
        if matches!(first, Ok(0)) {
            break; // every agent has stopped
        }
        if batch.is_empty() {
            continue;
        }
        let events: Vec<&Value> = batch.iter().map(|(e, _)| e).collect();
        let sent = client
            .post(&url)
            .bearer_auth(&config.token)
            .json(&json!({ "events": events }))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                let answer: Value = r.json().await.unwrap_or(Value::Null);
                let results = answer["results"].as_array().cloned().unwrap_or_default();
                for (i, (_, candidate)) in batch.iter().enumerate() {
                    let ok = results
                        .get(i)
                        .and_then(|r| r["accepted"].as_bool())
                        .unwrap_or(false);
                    if ok {
                        stats.accepted.fetch_add(1, Ordering::Relaxed);
                        if *candidate {
                            stats.candidate_accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    } else {
                        stats.rejected.fetch_add(1, Ordering::Relaxed);
                        stats.first_error.put(|| {
                            format!(
                                "outcome refused: {}",
                                results.get(i).cloned().unwrap_or_default()
                            )
                        });
                    }
                }
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                stats
                    .rejected
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                stats
                    .first_error
                    .put(|| format!("outcomes answered {status}: {text}"));
            }
            Err(e) => {
                stats
                    .rejected
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                stats.first_error.put(|| format!("outcomes failed: {e}"));
            }
        }
        batch.clear();
    }
}
