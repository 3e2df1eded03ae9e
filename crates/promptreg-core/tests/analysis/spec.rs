//! Spec parsing: the documented examples, defaults, round trips, and every refusal names its
//! field.

use std::time::Duration;

use promptreg_core::analysis::{AnalysisSpec, Margin, Metric};
use serde_json::json;

use super::{full_example, spec};

#[test]
fn the_interface_example_parses_as_written() {
    let s = spec(full_example());
    assert_eq!(s.interval, Duration::from_secs(1));
    assert_eq!(s.min_sample, 200);
    assert_eq!(s.breakers.len(), 4);
    assert_eq!(s.breakers[1].metric, Metric::PolicyViolations);
    assert_eq!(s.breakers[1].max, Some(0.0));
    assert_eq!(s.breakers[3].min, Some(0.5));
    assert_eq!(s.compare[0].margin, Margin::MaxDrop(0.05));
    assert_eq!(s.compare[3].metric, Metric::CostP50);
    assert_eq!(s.compare[3].margin, Margin::MaxIncreaseRatio(0.2));
    assert_eq!(s.conditions[0].name, "enough_and_safe");
    assert_eq!(s.dry_run, vec!["latency_p50_ms"]);
    assert_eq!(s.consecutive_error_limit, 4);
    assert_eq!(s.max_wait, Some(Duration::from_secs(600)));
}

#[test]
fn the_issue_example_parses_with_defaults() {
    let s = spec(json!({"interval": "1s", "min_sample": 200,
        "breakers": [{"metric": "unsafe_action_rate", "max": 0.02}, {"metric": "policy_violations", "max": 0}],
        "compare": [{"metric": "success_rate", "max_drop": 0.05}]}));
    assert_eq!(s.breakers.len(), 2);
    assert_eq!(s.compare.len(), 1);
    assert_eq!(
        (
            s.failure_limit,
            s.inconclusive_limit,
            s.consecutive_error_limit
        ),
        (0, 0, 4)
    );
    assert_eq!(
        (s.confidence, s.srm_p_value, s.max_wait),
        (0.95, 0.001, None)
    );

    let empty = spec(json!({}));
    assert_eq!(empty.interval, Duration::from_secs(5));
    assert_eq!(empty.min_sample, 100);
}

#[test]
fn the_normalized_form_round_trips() {
    let s = spec(full_example());
    let stored = serde_json::to_value(&s).unwrap();
    assert_eq!(stored["interval"], "1s");
    assert_eq!(stored["max_wait"], "10m");
    assert_eq!(
        stored["compare"][2],
        json!({"metric": "latency_p50_ms", "max_increase_ratio": 0.2})
    );
    assert_eq!(AnalysisSpec::parse(&stored).unwrap(), s);
    // Deserialize goes through parse (and recompiles the CEL).
    let back: AnalysisSpec = serde_json::from_value(stored).unwrap();
    assert_eq!(back, s);
    assert!(serde_json::from_value::<AnalysisSpec>(json!({"interval": "soon"})).is_err());
}

#[test]
fn a_spec_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<AnalysisSpec>();
}

#[test]
fn each_bad_input_names_its_field() {
    let cases = [
        (
            json!({"breakers": [{"metric": "happiness", "max": 1}]}),
            "breakers[0].metric",
            "unknown metric",
        ),
        (
            json!({"breakers": [{"metric": "unsafe_action_rate", "max": -0.1}]}),
            "breakers[0].max",
            "negative",
        ),
        (
            json!({"breakers": [{"metric": "unsafe_action_rate", "max": 2}]}),
            "breakers[0].max",
            "between 0 and 1",
        ),
        (
            json!({"breakers": [{"metric": "success_rate"}]}),
            "breakers[0]",
            "max",
        ),
        (
            json!({"breakers": [{"metric": "policy_violations", "min": 1}]}),
            "breakers[0].min",
            "count",
        ),
        (
            json!({"breakers": [{"metric": "success_rate", "min": 0.9, "max": 0.5}]}),
            "breakers[0].min",
            "above",
        ),
        (
            json!({"breakers": [{"metric": "success_rate", "min": 0.5}, {"metric": "success_rate", "max": 1}]}),
            "breakers[1]",
            "already",
        ),
        (
            json!({"breakers": [{"metric": "success_rate", "min": 0.5, "typo": 1}]}),
            "breakers[0].typo",
            "unknown field `typo`",
        ),
        (
            json!({"compare": [{"metric": "success_rate", "max_increase": 0.1}]}),
            "compare[0].max_increase",
            "max_drop",
        ),
        (
            json!({"compare": [{"metric": "latency_p50_ms"}]}),
            "compare[0]",
            "max_increase_ratio",
        ),
        (
            json!({"compare": [{"metric": "policy_violations", "max_increase": 1}]}),
            "compare[0].metric",
            "count",
        ),
        (
            json!({"compare": [{"metric": "success_rate", "max_drop": -0.05}]}),
            "compare[0].max_drop",
            "negative",
        ),
        (
            json!({"conditions": [{"name": "c", "expr": "candidate.samples >="}]}),
            "conditions[0].expr",
            "CEL does not compile",
        ),
        (
            json!({"conditions": [{"name": "c", "expr": "canddate.samples > 1"}]}),
            "conditions[0].expr",
            "unknown name `canddate`",
        ),
        (
            json!({"conditions": [{"name": "c", "expr": "candidate.sucess_rate > 0.9"}]}),
            "conditions[0].expr",
            "unknown key",
        ),
        (
            json!({"conditions": [{"name": "c", "expr": "candidate.samples + 1"}]}),
            "conditions[0].expr",
            "bool",
        ),
        (
            json!({"conditions": [{"name": "", "expr": "true"}]}),
            "conditions[0].name",
            "characters",
        ),
        (json!({"interval": "5 minutes"}), "interval", "unit"),
        (json!({"interval": "0s"}), "interval", "longer than 0"),
        (json!({"interval": 5}), "interval", "invalid type"),
        (json!({"max_wait": "1d"}), "max_wait", "unit"),
        (json!({"min_sample": 0}), "min_sample", "at least 1"),
        (json!({"min_sample": -5}), "min_sample", "invalid value"),
        (
            json!({"failure_limit": -1}),
            "failure_limit",
            "invalid value",
        ),
        (
            json!({"confidence": 1.0}),
            "confidence",
            "between 0.5 and 1",
        ),
        (
            json!({"confidence": 0.5}),
            "confidence",
            "between 0.5 and 1",
        ),
        (json!({"srm_p_value": 0}), "srm_p_value", "above 0"),
        (
            json!({"dry_run": ["latency_p50_ms"]}),
            "dry_run[0]",
            "names no metric",
        ),
        (
            json!({"min_samples": 10}),
            "min_samples",
            "unknown field `min_samples`",
        ),
        (json!([1, 2]), "", "object"),
    ];
    for (input, field, needle) in cases {
        let err = AnalysisSpec::parse(&input).expect_err(&input.to_string());
        assert_eq!(err.field, field, "{input}: {err}");
        assert!(
            err.message.contains(needle),
            "{input}: `{}` lacks `{needle}`",
            err.message
        );
    }
}

#[test]
fn errors_can_be_placed_under_a_larger_document() {
    let err = AnalysisSpec::parse(&json!({"breakers": [{"metric": "x", "max": 1}]})).unwrap_err();
    let err = err.under("strategy.canary.steps[2].analysis");
    assert_eq!(
        err.field,
        "strategy.canary.steps[2].analysis.breakers[0].metric"
    );
    assert!(err
        .to_string()
        .starts_with("strategy.canary.steps[2].analysis.breakers[0].metric: unknown metric"));
}
