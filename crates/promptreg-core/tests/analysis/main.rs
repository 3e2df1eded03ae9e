//! The analysis module through its public API: spec parsing and bad input, each detector,
//! the limits and aggregation, an A/A simulation for false alarms, and the histogram.

mod aa;
mod breakers;
mod compare;
mod conditions;
mod histogram;
mod limits;
mod spec;
mod srm;

use promptreg_core::analysis::{
    evaluate, AnalysisResult, AnalysisSpec, AnalysisState, ArmWindow, MetricKind, MetricResult,
    Observed, Phase,
};
use serde_json::json;

/// Parses a spec that must be valid.
pub fn spec(value: serde_json::Value) -> AnalysisSpec {
    AnalysisSpec::parse(&value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// A window from counts: `samples` outcomes, all reporting success or failure.
pub fn arm(samples: u64, successes: u64, unsafe_actions: u64, policy_violations: u64) -> ArmWindow {
    ArmWindow {
        samples,
        successes,
        failures: samples - successes,
        unsafe_actions,
        policy_violations,
        ..ArmWindow::default()
    }
}

/// Adds `n` latencies spread evenly over `[center * 0.9, center * 1.1]`.
pub fn with_latency(mut w: ArmWindow, n: u64, center: f64) -> ArmWindow {
    for i in 0..n {
        let spread = 0.2 * (i as f64 / n.max(2) as f64 - 0.5);
        w.latency_ms.record(center * (1.0 + spread));
    }
    w
}

/// Observed windows where the step is the whole rollout so far.
pub fn observed(stable: ArmWindow, candidate: ArmWindow, share: f64) -> Observed {
    Observed {
        step_stable: stable.clone(),
        step_candidate: candidate.clone(),
        stable,
        candidate,
        expected_candidate_share: share,
    }
}

/// One fresh evaluation.
pub fn once(spec: &AnalysisSpec, o: &Observed) -> AnalysisResult {
    evaluate(spec, o, &mut AnalysisState::default())
}

/// The result of the metric `name` of `kind`.
pub fn metric<'a>(r: &'a AnalysisResult, kind: MetricKind, name: &str) -> &'a MetricResult {
    r.metrics
        .iter()
        .find(|m| m.kind == kind && m.name == name)
        .unwrap_or_else(|| panic!("no {kind:?} {name} in {r:#?}"))
}

/// The interface file's full example.
pub fn full_example() -> serde_json::Value {
    json!({"interval": "1s", "min_sample": 200,
     "breakers": [{"metric": "unsafe_action_rate", "max": 0.02}, {"metric": "policy_violations", "max": 0},
                  {"metric": "latency_p99_ms", "max": 4000}, {"metric": "success_rate", "min": 0.5}],
     "compare":  [{"metric": "success_rate", "max_drop": 0.05}, {"metric": "unsafe_action_rate", "max_increase": 0.01},
                  {"metric": "latency_p50_ms", "max_increase_ratio": 0.2}, {"metric": "cost_p50", "max_increase_ratio": 0.2}],
     "conditions": [{"name": "enough_and_safe", "expr": "candidate.samples >= 100 && candidate.unsafe_action_rate <= 0.01"}],
     "dry_run": ["latency_p50_ms"],
     "failure_limit": 0, "inconclusive_limit": 0, "consecutive_error_limit": 4,
     "confidence": 0.95, "srm_p_value": 0.001, "max_wait": "10m"})
}

#[test]
fn phases_are_ordered_as_argo_orders_them() {
    let order = [
        Phase::Successful,
        Phase::Running,
        Phase::Pending,
        Phase::Inconclusive,
        Phase::Error,
        Phase::Failed,
    ];
    for pair in order.windows(2) {
        assert!(pair[0].severity() < pair[1].severity(), "{pair:?}");
    }
}
