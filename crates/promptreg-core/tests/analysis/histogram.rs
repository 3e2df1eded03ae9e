//! Windows and histograms: merge is associative and commutative (replicas' deltas can be
//! summed in any grouping), quantiles are within the stated relative error, and JSON
//! round-trips.

use promptreg_core::analysis::{ArmWindow, Histogram, Observation, HISTOGRAM_RELATIVE_ERROR};
use proptest::prelude::*;

fn histogram_of(values: &[f64]) -> Histogram {
    let mut h = Histogram::default();
    for v in values {
        h.record(*v);
    }
    h
}

fn merged(a: &Histogram, b: &Histogram) -> Histogram {
    let mut out = a.clone();
    out.merge(b);
    out
}

/// Equal up to floating-point rounding of the sums (counts, min and max exactly).
fn same(a: &Histogram, b: &Histogram) -> bool {
    a.zero == b.zero
        && a.buckets == b.buckets
        && a.min == b.min
        && a.max == b.max
        && (a.sum - b.sum).abs() <= 1e-9 * a.sum.abs().max(1.0)
}

fn values() -> impl Strategy<Value = Vec<f64>> {
    // Latency-like values over six orders of magnitude, some zeros.
    prop::collection::vec(
        prop_oneof![Just(0.0), (1e-3f64..1e4), (0.5f64..2_000.0)],
        0..300,
    )
}

fn observation() -> impl Strategy<Value = Observation> {
    (
        prop::option::of(any::<bool>()),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0.0f64..10_000.0),
        prop::option::of(0.0f64..5.0),
        prop::option::of(0.0f64..1.0),
    )
        .prop_map(
            |(success, unsafe_action, policy_violation, latency_ms, cost, score)| Observation {
                success,
                unsafe_action,
                policy_violation,
                latency_ms,
                cost,
                score,
            },
        )
}

proptest! {
    #[test]
    fn histogram_merge_is_associative_and_commutative(a in values(), b in values(), c in values()) {
        let (ha, hb, hc) = (histogram_of(&a), histogram_of(&b), histogram_of(&c));
        let left = merged(&merged(&ha, &hb), &hc);
        let right = merged(&ha, &merged(&hb, &hc));
        prop_assert!(same(&left, &right));
        prop_assert!(same(&merged(&ha, &hb), &merged(&hb, &ha)));
        // Merging equals recording everything in one histogram.
        let all: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        prop_assert!(same(&left, &histogram_of(&all)));
    }

    #[test]
    fn quantiles_are_within_the_relative_error(v in values().prop_filter("non-empty", |v| !v.is_empty()), q in 0.0f64..=1.0) {
        let h = histogram_of(&v);
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
        let estimate = h.quantile(q).unwrap();
        // Values below 1e-6 are recorded as zero.
        let tolerance = HISTOGRAM_RELATIVE_ERROR * exact + 1e-6 + 1e-9;
        prop_assert!((estimate - exact).abs() <= tolerance, "q {q}: {estimate} vs {exact}");
    }

    #[test]
    fn windows_merge_like_recording_everything(a in prop::collection::vec(observation(), 0..50), b in prop::collection::vec(observation(), 0..50)) {
        let window = |obs: &[Observation]| {
            let mut w = ArmWindow::default();
            obs.iter().for_each(|o| w.record(o));
            w
        };
        let (wa, wb) = (window(&a), window(&b));
        let mut ab = wa.clone();
        ab.merge(&wb);
        let mut ba = wb.clone();
        ba.merge(&wa);
        let all: Vec<Observation> = a.iter().chain(&b).cloned().collect();
        let whole = window(&all);
        for w in [&ab, &ba] {
            prop_assert_eq!((w.samples, w.successes, w.failures, w.unsafe_actions, w.policy_violations, w.scored),
                (whole.samples, whole.successes, whole.failures, whole.unsafe_actions, whole.policy_violations, whole.scored));
            prop_assert!(same(&w.latency_ms, &whole.latency_ms) && same(&w.cost, &whole.cost));
        }
        let json = serde_json::to_string(&ab).unwrap();
        let back: ArmWindow = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, ab);
    }
}

#[test]
fn an_empty_window_has_no_rates_and_a_histogram_serializes_sparsely() {
    let w = ArmWindow::default();
    assert_eq!(
        (
            w.success_rate(),
            w.unsafe_action_rate(),
            w.policy_violation_rate()
        ),
        (None, None, None)
    );
    assert_eq!(w.latency_ms.quantile(0.5), None);
    let h = histogram_of(&[100.0, 100.0, 0.0]);
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["zero"], 1);
    assert_eq!(json["buckets"].as_object().unwrap().len(), 1);
    assert_eq!(h.count(), 3);
    assert!((h.mean().unwrap() - 200.0 / 3.0).abs() < 1e-9);
    // NaN and infinities are not recorded.
    let mut h = Histogram::default();
    h.record(f64::NAN);
    h.record(f64::INFINITY);
    assert_eq!(h.count(), 0);
}
