//! Limits as failures tolerated, consecutive errors, Inconclusive at the end, dry-run, and the
//! worst-phase aggregation, over several evaluations with one carried state.

use promptreg_core::analysis::{conclude, evaluate, AnalysisState, MetricKind, Phase};
use serde_json::json;

use super::{arm, metric, observed, spec, with_latency};

#[test]
fn failure_limit_counts_failures_tolerated() {
    let s =
        spec(json!({"failure_limit": 2, "breakers": [{"metric": "policy_violations", "max": 0}]}));
    let o = observed(arm(100, 100, 0, 0), arm(100, 100, 0, 1), 0.5);
    let mut state = AnalysisState::default();
    let phases: Vec<Phase> = (0..4).map(|_| evaluate(&s, &o, &mut state).phase).collect();
    assert_eq!(
        phases,
        [Phase::Running, Phase::Running, Phase::Failed, Phase::Failed]
    );
    let r = evaluate(&s, &o, &mut state);
    let m = metric(&r, MetricKind::Breaker, "policy_violations");
    assert_eq!((m.measurement, m.phase), (Phase::Failed, Phase::Failed));
    assert_eq!(state.metrics["breaker:policy_violations"].failures, 5);
}

#[test]
fn the_default_failure_limit_fails_on_the_first_failure() {
    let s = spec(json!({"breakers": [{"metric": "policy_violations", "max": 0}]}));
    let o = observed(arm(100, 100, 0, 0), arm(100, 100, 0, 1), 0.5);
    assert_eq!(
        evaluate(&s, &o, &mut AnalysisState::default()).phase,
        Phase::Failed
    );
}

#[test]
fn consecutive_errors_beyond_the_limit_are_an_error_and_a_good_result_resets_them() {
    let s = spec(json!({"min_sample": 10, "consecutive_error_limit": 2,
        "conditions": [{"name": "ratio", "expr": "candidate.samples / candidate.policy_violations > 1"}]}));
    let errs = observed(arm(100, 100, 0, 0), arm(100, 100, 0, 0), 0.5);
    let fine = observed(arm(100, 100, 0, 0), arm(100, 100, 0, 1), 0.5);
    let mut state = AnalysisState::default();
    let mut run = |o| evaluate(&s, o, &mut state).phase;
    assert_eq!(run(&errs), Phase::Running);
    assert_eq!(run(&errs), Phase::Running);
    assert_eq!(run(&fine), Phase::Successful);
    assert_eq!(run(&errs), Phase::Running);
    assert_eq!(run(&errs), Phase::Running);
    assert_eq!(run(&errs), Phase::Error);
}

#[test]
fn an_undecided_comparison_is_inconclusive_when_time_runs_out() {
    let s =
        spec(json!({"min_sample": 200, "compare": [{"metric": "success_rate", "max_drop": 0.05}]}));
    // A 5-point drop against a 5-point margin never decides.
    let o = observed(arm(2_000, 1_900, 0, 0), arm(2_000, 1_800, 0, 0), 0.5);
    let mut state = AnalysisState::default();
    assert_eq!(evaluate(&s, &o, &mut state).phase, Phase::Running);
    let r = conclude(&s, &o, &mut state);
    assert_eq!(r.phase, Phase::Inconclusive, "{}", r.summary);
    // Pending (too few samples) is inconclusive at the end too.
    let short = observed(arm(50, 50, 0, 0), arm(50, 50, 0, 0), 0.5);
    assert_eq!(
        conclude(&s, &short, &mut AnalysisState::default()).phase,
        Phase::Inconclusive
    );
}

#[test]
fn inconclusive_limit_tolerates_undecided_ends() {
    let s = spec(json!({"min_sample": 200, "inconclusive_limit": 1,
        "compare": [{"metric": "success_rate", "max_drop": 0.05}]}));
    let o = observed(arm(2_000, 1_900, 0, 0), arm(2_000, 1_800, 0, 0), 0.5);
    let mut state = AnalysisState::default();
    assert_eq!(conclude(&s, &o, &mut state).phase, Phase::Successful);
    assert_eq!(conclude(&s, &o, &mut state).phase, Phase::Inconclusive);
}

#[test]
fn a_failure_still_wins_when_concluding() {
    let s = spec(
        json!({"min_sample": 200, "breakers": [{"metric": "policy_violations", "max": 0}],
        "compare": [{"metric": "success_rate", "max_drop": 0.05}]}),
    );
    let o = observed(arm(2_000, 1_900, 0, 0), arm(2_000, 1_800, 0, 3), 0.5);
    assert_eq!(
        conclude(&s, &o, &mut AnalysisState::default()).phase,
        Phase::Failed
    );
}

#[test]
fn the_worst_phase_wins() {
    // An erroring condition (limit 0), a comparison pending on latency data, and optionally
    // a tripped breaker.
    let s = spec(json!({"min_sample": 10, "consecutive_error_limit": 0,
        "breakers": [{"metric": "policy_violations", "max": 0}],
        "compare": [{"metric": "latency_p50_ms", "max_increase_ratio": 0.1}],
        "conditions": [{"name": "c", "expr": "candidate.samples / candidate.unsafe_actions > 1"}]}));
    let erroring = observed(arm(100, 100, 0, 0), arm(100, 100, 0, 0), 0.5);
    let r = evaluate(&s, &erroring, &mut AnalysisState::default());
    assert_eq!(
        metric(&r, MetricKind::Compare, "latency_p50_ms").phase,
        Phase::Pending
    );
    assert_eq!(r.phase, Phase::Error, "{}", r.summary);
    let failing = observed(arm(100, 100, 0, 0), arm(100, 100, 0, 1), 0.5);
    assert_eq!(
        evaluate(&s, &failing, &mut AnalysisState::default()).phase,
        Phase::Failed
    );

    // Pending beats Running and Successful.
    let s = spec(json!({"min_sample": 200,
        "compare": [{"metric": "success_rate", "max_drop": 0.05}, {"metric": "latency_p50_ms", "max_increase_ratio": 0.1}]}));
    let o = observed(arm(2_000, 1_900, 0, 0), arm(2_000, 1_800, 0, 0), 0.5);
    let r = evaluate(&s, &o, &mut AnalysisState::default());
    assert_eq!(
        metric(&r, MetricKind::Compare, "success_rate").phase,
        Phase::Running
    );
    assert_eq!(r.phase, Phase::Pending);
}

#[test]
fn dry_run_metrics_never_change_the_phase() {
    let s = spec(json!({"min_sample": 100,
        "breakers": [{"metric": "policy_violations", "max": 0}],
        "compare": [{"metric": "latency_p50_ms", "max_increase_ratio": 0.1}],
        "dry_run": ["policy_violations", "latency_p50_ms"]}));
    let stable = with_latency(arm(1_000, 1_000, 0, 0), 1_000, 100.0);
    let candidate = with_latency(arm(1_000, 1_000, 0, 9), 1_000, 300.0);
    let o = observed(stable, candidate, 0.5);
    let mut state = AnalysisState::default();
    for _ in 0..10 {
        let r = evaluate(&s, &o, &mut state);
        assert_eq!(r.phase, Phase::Successful, "{}", r.summary);
        for name in ["policy_violations", "latency_p50_ms"] {
            let m = r.metrics.iter().find(|m| m.name == name).unwrap();
            assert!(m.dry_run);
            assert_eq!(m.phase, Phase::Failed, "{name} is computed and shown");
        }
    }
}

#[test]
fn state_and_results_round_trip_through_json() {
    let s = spec(super::full_example());
    let o = observed(arm(1_000, 950, 1, 0), arm(300, 280, 1, 0), 0.25);
    let mut state = AnalysisState::default();
    let r = evaluate(&s, &o, &mut state);
    let back: AnalysisState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(back, state);
    let r2: promptreg_core::analysis::AnalysisResult =
        serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(r2, r);
    assert_eq!(serde_json::to_value(r.phase).unwrap(), "pending");
}
