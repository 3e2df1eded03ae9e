//! The sample-ratio-mismatch check on the step's arm counts.

use promptreg_core::analysis::{MetricKind, Phase, SRM_NAME};
use serde_json::json;

use super::{arm, metric, observed, once, spec};

#[test]
fn a_60_40_split_where_50_50_was_expected_fails() {
    let s = spec(json!({}));
    let r = once(
        &s,
        &observed(arm(6_000, 6_000, 0, 0), arm(4_000, 4_000, 0, 0), 0.5),
    );
    let m = metric(&r, MetricKind::Srm, SRM_NAME);
    assert_eq!(m.phase, Phase::Failed, "{}", m.message);
    assert!(m.message.contains("sample ratio mismatch"));
    assert!(m.p_value.unwrap() < 1e-10);
    assert_eq!(r.phase, Phase::Failed);
}

#[test]
fn an_exact_split_passes_and_small_samples_cannot_fire() {
    let s = spec(json!({}));
    let r = once(
        &s,
        &observed(arm(5_000, 5_000, 0, 0), arm(5_000, 5_000, 0, 0), 0.5),
    );
    let m = metric(&r, MetricKind::Srm, SRM_NAME);
    assert_eq!(m.phase, Phase::Successful);
    assert_eq!(m.p_value, Some(1.0));
    // 95% at a 5% step: fine.
    let r = once(
        &s,
        &observed(arm(9_500, 9_500, 0, 0), arm(500, 500, 0, 0), 0.05),
    );
    assert_eq!(
        metric(&r, MetricKind::Srm, SRM_NAME).phase,
        Phase::Successful
    );
    // 60 to 30 is 2:1 against 1:1, but 90 samples are too few to fire.
    let r = once(&s, &observed(arm(60, 60, 0, 0), arm(30, 30, 0, 0), 0.5));
    assert_eq!(
        metric(&r, MetricKind::Srm, SRM_NAME).phase,
        Phase::Successful
    );
}

#[test]
fn a_slightly_off_split_fails_only_with_a_looser_level() {
    // 5,300 / 4,700 (chi-square 36, p ≈ 2e-9) fails; 5,200 / 4,800 (chi-square 16,
    // p ≈ 6e-5) would fail a single chi-square test at 0.001, but not the always-valid one
    // (which holds over every look), and does at 0.05.
    let clear = observed(arm(5_300, 5_300, 0, 0), arm(4_700, 4_700, 0, 0), 0.5);
    assert_eq!(once(&spec(json!({})), &clear).phase, Phase::Failed);
    let slight = observed(arm(5_200, 5_200, 0, 0), arm(4_800, 4_800, 0, 0), 0.5);
    let r = once(&spec(json!({})), &slight);
    assert_eq!(r.phase, Phase::Successful, "{}", r.summary);
    assert!(metric(&r, MetricKind::Srm, SRM_NAME).p_value.unwrap() < 0.001);
    assert_eq!(
        once(&spec(json!({"srm_p_value": 0.05})), &slight).phase,
        Phase::Failed
    );
}
