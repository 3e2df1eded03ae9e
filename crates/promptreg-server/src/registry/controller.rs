//! The rollout controller's work, one pass at a time: for every active rollout this replica
//! leads, judge the outcomes reported so far (core's analysis, at each analysis's interval),
//! then let the state machine act on time and verdicts through `drive_rollout`.
//!
//! On a shared database several replicas run this; each rollout is driven by the one holding
//! its lease (`claim_rollout`, renewed every pass, [`LEASE`] long), so a replica that dies hands
//! its rollouts over within one lease. Everything the controller remembers between passes
//! (analysis counters, last results, per-arm figures) is stored with the rollout, so a restart
//! or a hand-over resumes where it was.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use promptreg_core::analysis::{
    self, AnalysisResult, AnalysisSpec, AnalysisState, Observed, Phase,
};
use promptreg_core::rollout::{self, AnalysisKind, RolloutAction, Step, Strategy, Verdicts};
use promptreg_core::ChangeEvent;
use promptreg_store::RolloutRecord;
use serde::{Deserialize, Serialize};

use super::{Registry, ServiceResult};

/// How long a replica's claim on a rollout lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the controller looks at every rollout.
pub const PASS: Duration = Duration::from_millis(250);

/// Where the outcomes of a rollout's arms come from (the outcome aggregator).
#[async_trait::async_trait]
pub trait OutcomeSource: Send + Sync + 'static {
    /// The outcomes of both arms, over the whole rollout and over its current step.
    async fn observed(&self, rollout: &RolloutRecord) -> ServiceResult<Observed>;
}

/// No outcomes at all (a registry that takes none).
pub struct NoOutcomes;

#[async_trait::async_trait]
impl OutcomeSource for NoOutcomes {
    async fn observed(&self, rollout: &RolloutRecord) -> ServiceResult<Observed> {
        Ok(empty_observed(rollout))
    }
}

/// Empty windows with the share the current step expects.
pub fn empty_observed(rollout: &RolloutRecord) -> Observed {
    Observed {
        stable: Default::default(),
        candidate: Default::default(),
        step_stable: Default::default(),
        step_candidate: Default::default(),
        expected_candidate_share: expected_share(rollout),
    }
}

/// The candidate's expected share of outcomes: the weight for a canary; not defined (NaN) for
/// a blue-green preview, whose traffic is separate.
pub fn expected_share(rollout: &RolloutRecord) -> f64 {
    match rollout.spec.strategy {
        Strategy::Canary { .. } => f64::from(rollout.state.weight) / f64::from(rollout::BUCKETS),
        _ => f64::NAN,
    }
}

/// What the controller keeps with a rollout between passes (`RolloutRecord::analysis`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Memory {
    #[serde(default)]
    background: Judged,
    #[serde(default)]
    step: Judged,
    /// The step (and switch) the step analysis belongs to; a new step starts it afresh.
    #[serde(default)]
    step_key: Option<(u32, bool)>,
    /// Per-arm figures, for `GET /v1/rollouts/{id}`.
    #[serde(default)]
    arms: serde_json::Value,
}

/// One analysis's counters and last result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Judged {
    #[serde(default)]
    state: AnalysisState,
    #[serde(default)]
    result: Option<AnalysisResult>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

impl Judged {
    /// Evaluates when the interval has passed; returns the new result when its phase changed.
    fn judge(
        &mut self,
        spec: &AnalysisSpec,
        observed: &Observed,
        now: DateTime<Utc>,
    ) -> Option<AnalysisResult> {
        let due = self
            .at
            .is_none_or(|at| (now - at).to_std().unwrap_or_default() >= spec.interval);
        if !due {
            return None;
        }
        let result = analysis::evaluate(spec, observed, &mut self.state);
        let changed = self.result.as_ref().map(|r| r.phase) != Some(result.phase);
        self.result = Some(result.clone());
        self.at = Some(now);
        changed.then_some(result)
    }

    fn phase(&self) -> Option<Phase> {
        self.result.as_ref().map(|r| r.phase)
    }
}

/// The analysis that gates the current step, if any.
fn step_analysis(r: &RolloutRecord) -> Option<&AnalysisSpec> {
    match &r.spec.strategy {
        Strategy::Canary { steps } => match steps.get(r.state.step as usize) {
            Some(Step::Analysis(a)) => Some(a),
            _ => None,
        },
        Strategy::BlueGreen(bg) if r.state.switched => bg.post_promotion_analysis.as_ref(),
        Strategy::BlueGreen(bg) => bg.pre_promotion_analysis.as_ref(),
        Strategy::Immediate => None,
    }
}

fn arm_figures(observed: &Observed) -> serde_json::Value {
    serde_json::json!({
        "stable": {"rollout": observed.stable, "step": observed.step_stable},
        "candidate": {"rollout": observed.candidate, "step": observed.step_candidate},
        "expected_candidate_share": observed.expected_candidate_share.is_finite()
            .then_some(observed.expected_candidate_share),
    })
}

impl Registry {
    /// One pass over every active rollout this replica may drive (`owner` names the replica).
    pub async fn drive_rollouts(&self, owner: &str) -> ServiceResult<()> {
        let rollouts = self.store.load_active_rollouts().await?;
        for r in rollouts {
            if self.store.shares_database() {
                let now = self.now();
                let until = now + chrono::TimeDelta::from_std(LEASE).unwrap_or_default();
                if !self
                    .store
                    .claim_rollout(&r.project, &r.id, owner, now, until)
                    .await?
                {
                    continue;
                }
            }
            let id = r.id.clone();
            if let Err(e) = self.drive_one(r).await {
                tracing::warn!(rollout = %id, error = %e, "rollout pass failed; retrying next pass");
            }
        }
        Ok(())
    }

    async fn drive_one(&self, r: RolloutRecord) -> ServiceResult<()> {
        let now = self.now();
        let mut memory: Memory = serde_json::from_value(r.analysis.clone()).unwrap_or_default();
        let observed = self.outcomes.observed(&r).await?;
        memory.arms = arm_figures(&observed);
        let mut decided = Vec::new();
        let skipped = r.state.analysis_skipped;
        if let (Some(spec), false) = (&r.spec.analysis, skipped) {
            if let Some(result) = memory.background.judge(spec, &observed, now) {
                decided.push((AnalysisKind::Background, result));
            }
        }
        let key = (r.state.step, r.state.switched);
        if memory.step_key != Some(key) {
            memory.step = Judged::default();
            memory.step_key = Some(key);
        }
        if let (Some(spec), false) = (step_analysis(&r), skipped) {
            let kind = if r.state.switched {
                AnalysisKind::PostPromotion
            } else {
                AnalysisKind::Step
            };
            if let Some(result) = memory.step.judge(spec, &observed, now) {
                decided.push((kind, result));
            }
        }
        let step_sample_reached = r
            .spec
            .analysis
            .as_ref()
            .is_none_or(|a| observed.step_candidate.samples >= a.min_sample);
        let verdicts = Verdicts {
            background: memory.background.phase(),
            step: memory.step.phase(),
            step_sample_reached,
        };
        let events: Vec<ChangeEvent> = decided
            .iter()
            .filter(|(_, result)| result.phase != Phase::Running && result.phase != Phase::Pending)
            .map(|(kind, result)| ChangeEvent::AnalysisResult {
                project: r.project.clone(),
                env: r.env.clone(),
                name: r.name.clone(),
                rollout: r.id.clone(),
                analysis: *kind,
                phase: result.phase,
                summary: result.summary.clone(),
            })
            .collect();
        let summary_of = |judged: &Judged| {
            judged
                .result
                .as_ref()
                .map(|r| r.summary.clone())
                .unwrap_or_default()
        };
        let why = |action: &RolloutAction| -> Option<String> {
            match action {
                RolloutAction::RolledBack { analysis, phase } => {
                    let judged = match analysis {
                        AnalysisKind::Background => &memory.background,
                        _ => &memory.step,
                    };
                    Some(format!(
                        "automatic rollback: {} analysis {}: {}",
                        kind_name(*analysis),
                        phase_name(*phase),
                        summary_of(judged)
                    ))
                }
                RolloutAction::Paused {
                    reason: rollout::PauseReason::Inconclusive,
                } => Some(format!(
                    "analysis inconclusive: {}",
                    if memory.background.phase() == Some(Phase::Inconclusive) {
                        summary_of(&memory.background)
                    } else {
                        summary_of(&memory.step)
                    }
                )),
                RolloutAction::Paused {
                    reason: rollout::PauseReason::MinSample,
                } => Some("the minimum sample was not reached within max_wait".into()),
                _ => None,
            }
        };
        let analysis = serde_json::to_value(&memory).unwrap_or_default();
        self.drive_rollout(&r, &verdicts, analysis, why, events)
            .await?;
        Ok(())
    }
}

fn kind_name(kind: AnalysisKind) -> &'static str {
    match kind {
        AnalysisKind::Background => "background",
        AnalysisKind::Step => "step",
        AnalysisKind::PostPromotion => "post-promotion",
    }
}

fn phase_name(phase: Phase) -> String {
    serde_json::to_value(phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The controller task: a pass every [`PASS`] until shutdown.
pub async fn run(
    registry: Arc<Registry>,
    owner: String,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(PASS);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        if let Err(e) = registry.drive_rollouts(&owner).await {
            tracing::warn!(error = %e, "rollout controller pass failed");
        }
    }
}
