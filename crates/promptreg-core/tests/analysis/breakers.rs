//! Breakers: each fires alone, before `min_sample`, on the candidate's current step only.

use promptreg_core::analysis::{ArmWindow, MetricKind, Observed, Phase};
use serde_json::json;

use super::{arm, full_example, metric, observed, once, spec, with_latency};

/// A healthy step: 50 samples per arm (far below min_sample 200), all fine.
fn healthy() -> ArmWindow {
    with_latency(arm(50, 48, 0, 0), 50, 300.0)
}

#[test]
fn each_breaker_fires_alone_and_before_min_sample() {
    let s = spec(full_example());
    let breaches: [(&str, ArmWindow); 4] = [
        ("unsafe_action_rate", arm(50, 48, 15, 0)),
        ("policy_violations", arm(50, 48, 0, 1)),
        (
            "latency_p99_ms",
            with_latency(arm(50, 48, 0, 0), 50, 6_000.0),
        ),
        ("success_rate", arm(50, 10, 0, 0)),
    ];
    let fine = once(&s, &observed(healthy(), healthy(), 0.5));
    assert_eq!(fine.phase, Phase::Pending, "{}", fine.summary);
    for (tripped, candidate) in breaches {
        let candidate = if candidate.latency_ms.count() == 0 {
            with_latency(candidate, 50, 300.0)
        } else {
            candidate
        };
        let r = once(&s, &observed(healthy(), candidate, 0.5));
        assert_eq!(r.phase, Phase::Failed, "{tripped}: {}", r.summary);
        for m in r.metrics.iter().filter(|m| m.kind == MetricKind::Breaker) {
            let expected = if m.name == tripped {
                Phase::Failed
            } else {
                Phase::Successful
            };
            assert_eq!(
                m.phase, expected,
                "{tripped}: {} says {}",
                m.name, m.message
            );
        }
        assert!(r.summary.contains(tripped), "{}", r.summary);
    }
}

#[test]
fn one_policy_violation_fails_at_once() {
    let s =
        spec(json!({"min_sample": 1000, "breakers": [{"metric": "policy_violations", "max": 0}]}));
    let r = once(&s, &observed(ArmWindow::default(), arm(1, 1, 0, 1), 0.05));
    assert_eq!(r.phase, Phase::Failed, "{}", r.summary);
}

#[test]
fn rate_breakers_wait_for_evidence_not_for_min_sample() {
    let s = spec(
        json!({"min_sample": 500, "breakers": [{"metric": "unsafe_action_rate", "max": 0.02}]}),
    );
    // One unsafe action in three outcomes is a 33% rate, but not yet evidence of > 2%.
    let early = once(&s, &observed(healthy(), arm(3, 3, 1, 0), 0.5));
    assert_ne!(early.phase, Phase::Failed, "{}", early.summary);
    // 10% unsafe over 200 outcomes is: it trips well before min_sample.
    let later = once(&s, &observed(healthy(), arm(200, 200, 20, 0), 0.5));
    assert_eq!(later.phase, Phase::Failed, "{}", later.summary);
    let m = metric(&later, MetricKind::Breaker, "unsafe_action_rate");
    let (lo, _) = m.interval.unwrap();
    assert!(lo > 0.02 && m.candidate == Some(0.1), "{m:?}");
}

#[test]
fn breakers_read_the_current_step_only() {
    let s = spec(json!({"breakers": [{"metric": "policy_violations", "max": 0}]}));
    // A violation earlier in the rollout, none in this step.
    let o = Observed {
        candidate: arm(300, 300, 0, 1),
        stable: arm(300, 300, 0, 0),
        step_candidate: arm(100, 100, 0, 0),
        step_stable: arm(100, 100, 0, 0),
        expected_candidate_share: 0.5,
    };
    assert_eq!(once(&s, &o).phase, Phase::Successful);
}

#[test]
fn a_min_breaker_trips_below_and_a_max_breaker_on_cost() {
    let s = spec(
        json!({"breakers": [{"metric": "cost_p50", "max": 0.05}, {"metric": "success_rate", "min": 0.9, "max": 1}]}),
    );
    let mut costly = arm(80, 80, 0, 0);
    for _ in 0..80 {
        costly.cost.record(0.2);
    }
    let r = once(&s, &observed(healthy(), costly, 0.5));
    assert_eq!(
        metric(&r, MetricKind::Breaker, "cost_p50").phase,
        Phase::Failed
    );
    assert_eq!(
        metric(&r, MetricKind::Breaker, "success_rate").phase,
        Phase::Successful
    );
}

#[test]
fn a_large_min_sample_does_not_slow_breakers_down() {
    // Breakers are tuned to act by ~100 samples whatever min_sample is.
    let s = spec(
        json!({"min_sample": 5000, "breakers": [{"metric": "unsafe_action_rate", "max": 0.02}]}),
    );
    let r = once(&s, &observed(healthy(), arm(200, 200, 20, 0), 0.5));
    assert_eq!(r.phase, Phase::Failed, "{}", r.summary);
}
