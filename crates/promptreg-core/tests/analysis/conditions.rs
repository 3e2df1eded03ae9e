//! CEL conditions: true passes, false fails, an evaluation error is an Error; they wait for
//! `min_sample`.

use promptreg_core::analysis::{MetricKind, Phase};
use serde_json::json;

use super::{arm, metric, observed, once, spec};

fn with(expr: &str) -> promptreg_core::analysis::AnalysisSpec {
    spec(json!({"min_sample": 100, "conditions": [{"name": "c", "expr": expr}]}))
}

#[test]
fn true_false_and_error() {
    let o = observed(arm(1_000, 950, 1, 0), arm(1_000, 940, 2, 0), 0.5);
    let cases = [
        (
            "candidate.samples >= 100 && candidate.unsafe_action_rate <= 0.01",
            Phase::Successful,
        ),
        (
            "candidate.success_rate >= stable.success_rate",
            Phase::Failed,
        ),
        (
            "candidate.samples / (candidate.policy_violations) > 1",
            Phase::Error,
        ),
        ("candidate.latency_p50_ms < 1000.0", Phase::Error),
    ];
    for (expr, expected) in cases {
        let r = once(&with(expr), &o);
        let m = metric(&r, MetricKind::Condition, "c");
        assert_eq!(m.measurement, expected, "{expr}: {}", m.message);
    }
    // The error names the interpreter's reason: a division by zero, a missing figure.
    let r = once(
        &with("candidate.samples / candidate.policy_violations > 1"),
        &o,
    );
    assert!(metric(&r, MetricKind::Condition, "c")
        .message
        .contains("ivision by zero"));
    let r = once(&with("candidate.latency_p50_ms < 1000.0"), &o);
    assert!(metric(&r, MetricKind::Condition, "c")
        .message
        .contains("latency_p50_ms"));
}

#[test]
fn a_false_condition_fails_the_analysis_and_an_error_is_tolerated_at_first() {
    let o = observed(arm(1_000, 950, 1, 0), arm(1_000, 940, 2, 0), 0.5);
    assert_eq!(once(&with("false"), &o).phase, Phase::Failed);
    // consecutive_error_limit defaults to 4: one error keeps the analysis running.
    let r = once(
        &with("candidate.samples / candidate.policy_violations > 1"),
        &o,
    );
    assert_eq!(r.phase, Phase::Running, "{}", r.summary);
}

#[test]
fn conditions_wait_for_min_sample() {
    let o = observed(arm(1_000, 950, 1, 0), arm(20, 19, 0, 0), 0.02);
    let r = once(&with("false"), &o);
    assert_eq!(metric(&r, MetricKind::Condition, "c").phase, Phase::Pending);
}

#[test]
fn conditions_see_step_windows_and_the_share() {
    let o = observed(arm(1_000, 950, 1, 0), arm(1_000, 940, 2, 0), 0.5);
    let r = once(&with("step_candidate.samples == 1000 && expected_candidate_share == 0.5 && has(candidate.success_rate) && !has(candidate.cost_p50)"), &o);
    assert_eq!(r.phase, Phase::Successful, "{}", r.summary);
}

#[test]
fn numbers_mix_in_comparisons_and_type_errors_are_refused_when_saved() {
    let o = observed(arm(1_000, 950, 1, 0), arm(1_000, 940, 2, 0), 0.5);
    for (expr, expected) in [
        ("candidate.samples >= 100.0", Phase::Successful),
        ("candidate.success_rate >= 1", Phase::Failed),
        (
            "double(candidate.samples) * 0.5 == 500.0",
            Phase::Successful,
        ),
    ] {
        let r = once(&with(expr), &o);
        assert_eq!(
            metric(&r, MetricKind::Condition, "c").phase,
            expected,
            "{expr}"
        );
    }
    let err = promptreg_core::analysis::AnalysisSpec::parse(
        &json!({"conditions": [{"name": "c", "expr": "candidate.success_rate * 2 > 1"}]}),
    )
    .unwrap_err();
    assert_eq!(err.field, "conditions[0].expr");
    assert!(err.message.contains("whatever the figures"), "{err}");
}
