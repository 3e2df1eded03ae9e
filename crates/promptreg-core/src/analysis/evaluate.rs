//! One evaluation: measure every metric, apply the per-metric limits carried in
//! [`AnalysisState`], and aggregate the phases the way Argo Rollouts does.
//!
//! Limits are *failures tolerated* (Argo tests `failed > failureLimit`, and so do we, but we
//! say so): with `failure_limit: 2` the third failed measurement fails the metric. Failures and
//! inconclusive results count over the whole analysis; errors count while consecutive (any
//! other result resets them). A failed measurement that is still tolerated shows as `Running`.
//!
//! The overall phase is the worst phase of the metrics that are not dry-run, in the order
//! Successful < Running < Pending < Inconclusive < Error < Failed: so it is `Successful` only
//! when every comparison and condition reached its sample and passed, and `Pending` or
//! `Running` while any still waits. Failed or Error → the controller rolls back;
//! Inconclusive → it pauses for a person.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::measure::{self, Level, Measurement};
use super::spec::AnalysisSpec;
use super::stats;
use super::window::ArmWindow;

/// The windows one evaluation reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Stable arm, whole rollout so far (comparisons, conditions).
    pub stable: ArmWindow,
    /// Candidate arm, whole rollout so far.
    pub candidate: ArmWindow,
    /// Stable arm, current step (breakers, sample-ratio check).
    pub step_stable: ArmWindow,
    /// Candidate arm, current step.
    pub step_candidate: ArmWindow,
    /// The candidate's share of the current step (its weight / 10,000).
    pub expected_candidate_share: f64,
}

/// The phase of a metric or of a whole analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Not enough sample yet: the step waits.
    Pending,
    /// Fine so far, keep going.
    Running,
    /// Passed.
    Successful,
    /// A regression: roll back.
    Failed,
    /// Could not decide in the time given: pause for a person.
    Inconclusive,
    /// The measurement itself failed too often: roll back.
    Error,
}

impl Phase {
    /// Position in Argo's order of severity (Successful lowest, Failed highest).
    pub fn severity(self) -> u8 {
        match self {
            Phase::Successful => 0,
            Phase::Running => 1,
            Phase::Pending => 2,
            Phase::Inconclusive => 3,
            Phase::Error => 4,
            Phase::Failed => 5,
        }
    }

    /// The snake_case spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::Successful => "successful",
            Phase::Failed => "failed",
            Phase::Inconclusive => "inconclusive",
            Phase::Error => "error",
        }
    }
}

/// Which detector produced a metric result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// An absolute limit on the candidate's step window.
    Breaker,
    /// Candidate versus stable.
    Compare,
    /// A CEL condition.
    Condition,
    /// The sample-ratio-mismatch check.
    Srm,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Breaker => "breaker",
            MetricKind::Compare => "compare",
            MetricKind::Condition => "condition",
            MetricKind::Srm => "srm",
        }
    }
}

/// The result of one metric in one evaluation, with the figures behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    /// The metric's name (a condition's name; `sample_ratio` for the SRM check).
    pub name: String,
    /// Which detector.
    pub kind: MetricKind,
    /// The metric's phase after its limits.
    pub phase: Phase,
    /// This evaluation's own result, before limits (a tolerated failure is `Failed` here and
    /// `Running` in `phase`).
    pub measurement: Phase,
    /// Shown, never acts.
    pub dry_run: bool,
    /// The stable arm's value.
    pub stable: Option<f64>,
    /// The candidate's value (for SRM: its observed share).
    pub candidate: Option<f64>,
    /// The limit or margin as written in the spec (for SRM: the p-value below which it
    /// fails).
    pub threshold: Option<f64>,
    /// Always-valid interval: of candidate − stable (rates), candidate / stable (quantiles),
    /// or of the candidate's own value (breakers).
    pub interval: Option<(f64, f64)>,
    /// The SRM check's p-value.
    pub p_value: Option<f64>,
    /// Samples (stable, candidate) in the windows this metric read.
    pub samples: (u64, u64),
    /// What happened, for a person.
    pub message: String,
}

/// The result of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisResult {
    /// The overall phase (dry-run metrics excluded).
    pub phase: Phase,
    /// Every metric, dry-run ones included, in spec order (breakers, compare, conditions, SRM).
    pub metrics: Vec<MetricResult>,
    /// One line for a person.
    pub summary: String,
}

/// Counters of one metric, carried between evaluations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricCounters {
    /// Failed measurements so far.
    pub failures: u32,
    /// Inconclusive measurements so far.
    pub inconclusives: u32,
    /// Errors since the last measurement that was not an error.
    pub consecutive_errors: u32,
    /// Successful measurements so far.
    pub successes: u32,
}

/// Carried between evaluations (stored as JSON by the controller).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalysisState {
    /// Evaluations so far.
    pub evaluations: u64,
    /// Counters per metric, keyed `"<kind>:<name>"`.
    pub metrics: BTreeMap<String, MetricCounters>,
}

/// Evaluates the spec over the observed windows, updating the counters in `state`.
pub fn evaluate(
    spec: &AnalysisSpec,
    observed: &Observed,
    state: &mut AnalysisState,
) -> AnalysisResult {
    run(spec, observed, state, false)
}

/// The last evaluation of a blocking analysis whose time is up (`max_wait` passed, or its step
/// must end): a metric still `Pending` or `Running` measures `Inconclusive`, so the analysis ends
/// `Inconclusive` (pause for a person) unless `inconclusive_limit` tolerates it, in which case
/// that metric counts as passed. Failures and errors decide as in [`evaluate`].
pub fn conclude(
    spec: &AnalysisSpec,
    observed: &Observed,
    state: &mut AnalysisState,
) -> AnalysisResult {
    run(spec, observed, state, true)
}

fn run(
    spec: &AnalysisSpec,
    o: &Observed,
    state: &mut AnalysisState,
    concluding: bool,
) -> AnalysisResult {
    state.evaluations += 1;
    let alpha = 1.0 - spec.confidence;
    let level = Level {
        alpha,
        rho2: stats::mixture_rho2(spec.min_sample, alpha),
        breaker_rho2: stats::mixture_rho2(spec.min_sample.min(measure::BREAKER_TARGET), alpha),
        min_sample: spec.min_sample,
    };
    let mut measured: Vec<Measurement> = Vec::new();
    measured.extend(spec.breakers.iter().map(|b| measure::breaker(b, o, level)));
    measured.extend(spec.compare.iter().map(|c| measure::compare(c, o, level)));
    measured.extend(
        spec.conditions
            .iter()
            .map(|c| measure::condition(c, o, level)),
    );
    measured.push(measure::srm(o, spec.srm_p_value, level));

    let metrics: Vec<MetricResult> = measured
        .into_iter()
        .map(|mut m| {
            if concluding && matches!(m.phase, Phase::Pending | Phase::Running) {
                m.phase = Phase::Inconclusive;
                m.message = format!("undecided when time ran out: {}", m.message);
            }
            let key = format!("{}:{}", m.kind.as_str(), m.name);
            let counters = state.metrics.entry(key).or_default();
            let phase = apply_limits(spec, counters, m.phase);
            MetricResult {
                dry_run: spec.is_dry_run(&m.name),
                phase,
                measurement: m.phase,
                name: m.name,
                kind: m.kind,
                stable: m.stable,
                candidate: m.candidate,
                threshold: m.threshold,
                interval: m.interval,
                p_value: m.p_value,
                samples: m.samples,
                message: m.message,
            }
        })
        .collect();
    let phase = metrics
        .iter()
        .filter(|m| !m.dry_run)
        .map(|m| m.phase)
        .max_by_key(|p| p.severity())
        .unwrap_or(Phase::Successful);
    let summary = summarize(phase, &metrics);
    AnalysisResult {
        phase,
        metrics,
        summary,
    }
}

/// Counts the measurement and gives the metric's phase under the spec's limits.
fn apply_limits(spec: &AnalysisSpec, c: &mut MetricCounters, measurement: Phase) -> Phase {
    match measurement {
        Phase::Failed => c.failures += 1,
        Phase::Inconclusive => c.inconclusives += 1,
        Phase::Successful => c.successes += 1,
        Phase::Error | Phase::Pending | Phase::Running => {}
    }
    if measurement == Phase::Error {
        c.consecutive_errors += 1;
    } else {
        c.consecutive_errors = 0;
    }
    if c.failures > spec.failure_limit {
        Phase::Failed
    } else if c.consecutive_errors > spec.consecutive_error_limit {
        Phase::Error
    } else if c.inconclusives > spec.inconclusive_limit {
        Phase::Inconclusive
    } else {
        match measurement {
            // Tolerated: keep measuring.
            Phase::Failed | Phase::Error => Phase::Running,
            // Tolerated at the end: the metric did not fail, and the spec accepts undecided.
            Phase::Inconclusive => Phase::Successful,
            other => other,
        }
    }
}

fn summarize(phase: Phase, metrics: &[MetricResult]) -> String {
    let active: Vec<&MetricResult> = metrics.iter().filter(|m| !m.dry_run).collect();
    let decided = active
        .iter()
        .filter(|m| m.phase == Phase::Successful)
        .count();
    let worst = active
        .iter()
        .filter(|m| m.phase == phase && phase != Phase::Successful)
        .map(|m| format!("{} {}: {}", m.kind.as_str(), m.name, m.message))
        .next();
    match worst {
        Some(why) => format!(
            "{}: {why} ({decided} of {} metrics passed)",
            phase.as_str(),
            active.len()
        ),
        None => format!("{}: all {} metrics passed", phase.as_str(), active.len()),
    }
}
