//! Comparisons of the candidate with the stable arm: rates through the always-valid
//! interval of the difference, latency and cost through quantile ratios; Pending below
//! `min_sample`.

use promptreg_core::analysis::{MetricKind, Phase};
use serde_json::json;

use super::{arm, metric, observed, once, spec, with_latency};

#[test]
fn a_five_point_success_drop_at_2000_per_arm_fails() {
    let s =
        spec(json!({"min_sample": 200, "compare": [{"metric": "success_rate", "max_drop": 0.02}]}));
    // 95% on stable, 90% on the candidate.
    let r = once(
        &s,
        &observed(arm(2_000, 1_900, 0, 0), arm(2_000, 1_800, 0, 0), 0.5),
    );
    let m = metric(&r, MetricKind::Compare, "success_rate");
    assert_eq!(m.phase, Phase::Failed, "{}", m.message);
    assert_eq!(r.phase, Phase::Failed);
    let (lo, hi) = m.interval.unwrap();
    assert!(lo < -0.05 && hi < -0.02, "{lo} {hi}");
}

#[test]
fn the_margin_is_tolerated() {
    // max_drop 0.05 tolerates a drop of 5 points: the interval straddles -0.05.
    let s =
        spec(json!({"min_sample": 200, "compare": [{"metric": "success_rate", "max_drop": 0.05}]}));
    let r = once(
        &s,
        &observed(arm(2_000, 1_900, 0, 0), arm(2_000, 1_800, 0, 0), 0.5),
    );
    assert_eq!(
        metric(&r, MetricKind::Compare, "success_rate").phase,
        Phase::Running
    );
    // A 10-point drop is beyond it.
    let r = once(
        &s,
        &observed(arm(2_000, 1_900, 0, 0), arm(2_000, 1_700, 0, 0), 0.5),
    );
    assert_eq!(
        metric(&r, MetricKind::Compare, "success_rate").phase,
        Phase::Failed
    );
}

#[test]
fn no_regression_passes_once_the_interval_excludes_the_margin() {
    let s =
        spec(json!({"min_sample": 200, "compare": [{"metric": "success_rate", "max_drop": 0.02}]}));
    let r = once(
        &s,
        &observed(arm(20_000, 19_000, 0, 0), arm(5_000, 4_750, 0, 0), 0.2),
    );
    assert_eq!(
        metric(&r, MetricKind::Compare, "success_rate").phase,
        Phase::Successful
    );
    assert_eq!(r.phase, Phase::Successful, "{}", r.summary);
}

#[test]
fn a_tenfold_unsafe_action_rate_fails() {
    let s = spec(
        json!({"min_sample": 200, "compare": [{"metric": "unsafe_action_rate", "max_increase": 0.005}]}),
    );
    // 0.2% on stable, 2% on the candidate.
    let r = once(
        &s,
        &observed(arm(2_000, 2_000, 4, 0), arm(2_000, 2_000, 40, 0), 0.5),
    );
    let m = metric(&r, MetricKind::Compare, "unsafe_action_rate");
    assert_eq!(m.phase, Phase::Failed, "{}", m.message);
    // The same rates on both arms do not.
    let r = once(
        &s,
        &observed(arm(2_000, 2_000, 4, 0), arm(2_000, 2_000, 4, 0), 0.5),
    );
    assert_ne!(
        metric(&r, MetricKind::Compare, "unsafe_action_rate").phase,
        Phase::Failed
    );
}

#[test]
fn comparisons_wait_for_min_sample_on_both_arms() {
    let s =
        spec(json!({"min_sample": 200, "compare": [{"metric": "success_rate", "max_drop": 0.0}]}));
    // A dreadful candidate, but only 150 outcomes: Pending, not Failed.
    let r = once(
        &s,
        &observed(arm(5_000, 4_750, 0, 0), arm(150, 10, 0, 0), 0.03),
    );
    let m = metric(&r, MetricKind::Compare, "success_rate");
    assert_eq!(m.phase, Phase::Pending, "{}", m.message);
    assert_eq!(r.phase, Phase::Pending);
    assert_eq!(m.samples, (5_000, 150));
}

#[test]
fn latency_is_compared_by_quantile_ratio() {
    let s = spec(
        json!({"min_sample": 200, "compare": [{"metric": "latency_p50_ms", "max_increase_ratio": 0.2}]}),
    );
    let base = || with_latency(arm(1_000, 1_000, 0, 0), 1_000, 100.0);
    let slow = with_latency(arm(1_000, 1_000, 0, 0), 1_000, 150.0);
    let r = once(&s, &observed(base(), slow, 0.5));
    let m = metric(&r, MetricKind::Compare, "latency_p50_ms");
    assert_eq!(m.phase, Phase::Failed, "{}", m.message);
    let (lo, hi) = m.interval.unwrap();
    assert!(lo > 1.2 && lo <= 1.5 && hi >= 1.5, "{lo} {hi}");

    let same = with_latency(arm(1_000, 1_000, 0, 0), 1_000, 102.0);
    let r = once(&s, &observed(base(), same, 0.5));
    assert_eq!(
        metric(&r, MetricKind::Compare, "latency_p50_ms").phase,
        Phase::Successful
    );

    // Too few latencies on the candidate: Pending.
    let few = with_latency(arm(1_000, 1_000, 0, 0), 50, 500.0);
    let r = once(&s, &observed(base(), few, 0.5));
    assert_eq!(
        metric(&r, MetricKind::Compare, "latency_p50_ms").phase,
        Phase::Pending
    );
}

#[test]
fn a_high_quantile_with_few_values_cannot_pass() {
    // p99 of 200 values: the upper rank bound leaves the data, so the ratio has no upper
    // bound and the metric keeps running instead of passing.
    let s = spec(
        json!({"min_sample": 200, "compare": [{"metric": "latency_p99_ms", "max_increase_ratio": 0.5}]}),
    );
    let a = with_latency(arm(200, 200, 0, 0), 200, 100.0);
    let r = once(&s, &observed(a.clone(), a, 0.5));
    let m = metric(&r, MetricKind::Compare, "latency_p99_ms");
    assert_eq!(m.phase, Phase::Running, "{}", m.message);
}
