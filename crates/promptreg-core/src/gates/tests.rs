use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::metadata::Metadata;
use crate::name::Version;

fn env(s: &str) -> EnvName {
    EnvName::parse(s).unwrap()
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn facts() -> Facts {
    let metadata: Metadata = serde_json::from_value(serde_json::json!({
        "tags": ["support"], "compat": {"agent_types": ["triage"]}, "owner": "team-a"
    }))
    .unwrap();
    let mut validations = BTreeMap::new();
    validations.insert(
        "evals".to_owned(),
        ValidationFact {
            passed: true,
            metrics: BTreeMap::from([("accuracy".to_owned(), 0.93)]),
        },
    );
    Facts {
        version: VersionFacts {
            number: Version::new(3).unwrap(),
            digest: "sha256:ab".into(),
            metadata,
            created_by: "tok:ci".into(),
            created_at: t0(),
        },
        validations,
        approvals: 0,
        predecessor: None,
        now: t0() + TimeDelta::hours(2),
    }
}

fn spec(exprs: &[&str]) -> GateSpec {
    GateSpec {
        gates: exprs
            .iter()
            .enumerate()
            .map(|(i, e)| Gate {
                name: format!("g{i}"),
                expression: (*e).to_owned(),
            })
            .collect(),
        ..GateSpec::default()
    }
}

#[test]
fn expressions_over_every_fact_pass_or_fail() {
    let prod = env("production");
    let ok = [
        "validations.evals.passed",
        "validations['evals'].metrics.accuracy >= 0.9",
        "'support' in version.tags && version.number == 3",
        "version.compat.agent_types.exists(a, a == 'triage')",
        "version.metadata.owner == 'team-a'",
        "now - version.created_at >= 3600",
        "approvals == 0 && predecessor == null",
        "!has(validations.safety) || validations.safety.passed",
    ];
    for e in ok {
        spec(&[e]).compile(&prod).unwrap();
        assert_eq!(evaluate(&prod, &spec(&[e]), &facts()), Ok(()), "{e}");
    }
    let failed = evaluate(
        &prod,
        &spec(&["true", "validations.evals.metrics.accuracy > 0.95"]),
        &facts(),
    )
    .unwrap_err();
    let GateFailure::GateFailed {
        gate,
        result,
        values,
        ..
    } = &*failed
    else {
        panic!("{failed:?}")
    };
    assert_eq!(gate, "g1");
    assert_eq!(result, "false");
    assert_eq!(values["validations"]["evals"]["metrics"]["accuracy"], 0.93);
    assert_eq!(failed.code(), "gate_failed");
    // A missing suite is an evaluation error, which fails the gate with the interpreter's text.
    let missing = evaluate(&prod, &spec(&["validations.safety.passed"]), &facts()).unwrap_err();
    assert!(missing.message().contains("error"), "{missing:?}");
}

#[test]
fn bad_specs_are_refused_naming_the_problem() {
    let prod = env("production");
    let cases: Vec<(GateSpec, &str)> = vec![
        (spec(&["validations.evals.passed &&"]), "does not compile"),
        (spec(&["foo.passed"]), "unknown variable `foo`"),
        (spec(&["true || build.ok"]), "unknown variable `build`"),
        (spec(&[&"true && ".repeat(400)]), "at most"),
        (spec(&[""]), "empty"),
        (
            GateSpec {
                required_predecessor: Some(env("production")),
                ..GateSpec::default()
            },
            "its own predecessor",
        ),
        (
            GateSpec {
                min_time_in_predecessor: Some("1h".into()),
                ..GateSpec::default()
            },
            "needs required_predecessor",
        ),
        (
            GateSpec {
                required_predecessor: Some(env("staging")),
                min_time_in_predecessor: Some("1 hour".into()),
                ..GateSpec::default()
            },
            "min_time_in_predecessor",
        ),
    ];
    for (s, needle) in cases {
        let err = s.compile(&prod).unwrap_err().to_string();
        assert!(err.contains(needle), "{err} should contain {needle}");
    }
    let mut dup = spec(&["true", "true"]);
    dup.gates[1].name = "g0".into();
    assert!(dup.compile(&prod).unwrap_err().0.contains("twice"));
    let mut bad_name = spec(&["true"]);
    bad_name.gates[0].name = "Has Space".into();
    assert!(bad_name.compile(&prod).unwrap_err().0.contains("gate name"));
}

#[test]
fn predecessor_time_adds_up_stints_and_is_checked() {
    let staging = env("staging");
    let v3 = Version::new(3).unwrap();
    let v4 = Version::new(4).unwrap();
    let h = |n| t0() + TimeDelta::minutes(n);
    // v3 live 0-20m, v4 20-30m, v3 again from 30m; now = 50m: 20 + 20 minutes.
    let history = [(h(0), v3), (h(20), v4), (h(30), v3)];
    let p = predecessor_facts(staging.clone(), &history, v3, h(50));
    assert_eq!(
        (p.live, p.ever_live, p.live_for_seconds),
        (true, true, 2400)
    );
    let p4 = predecessor_facts(staging.clone(), &history, v4, h(50));
    assert_eq!(
        (p4.live, p4.ever_live, p4.live_for_seconds),
        (false, true, 600)
    );
    let never = predecessor_facts(staging.clone(), &history, Version::FIRST, h(50));
    assert!(!never.ever_live);

    let gated = GateSpec {
        required_predecessor: Some(staging.clone()),
        min_time_in_predecessor: Some("1h".into()),
        gates: vec![],
    };
    let prod = env("production");
    let mut f = facts();
    f.predecessor = Some(never);
    let err = evaluate(&prod, &gated, &f).unwrap_err();
    assert_eq!(err.code(), "predecessor_required");
    assert!(err.message().contains("never live in 'staging'"), "{err:?}");
    f.predecessor = Some(p4);
    let err = evaluate(&prod, &gated, &f).unwrap_err();
    assert!(err.message().contains("for 10m of the 1h"), "{err:?}");
    f.predecessor = Some(predecessor_facts(staging, &history, v3, h(120)));
    assert_eq!(evaluate(&prod, &gated, &f), Ok(()));
}

#[test]
fn cycles_are_found() {
    let (dev, stg, prod) = (env("dev"), env("staging"), env("production"));
    // staging <- dev already; setting dev <- production where production <- staging loops.
    let saved = |e: &EnvName| match e.as_str() {
        "staging" => Some(env("dev")),
        "production" => Some(env("staging")),
        _ => None,
    };
    let cycle = find_cycle(&dev, &prod, saved).unwrap();
    let names: Vec<&str> = cycle.iter().map(EnvName::as_str).collect();
    assert_eq!(names, ["dev", "production", "staging", "dev"]);
    assert_eq!(
        find_cycle(&prod, &stg, |e| saved(e)
            .filter(|_| e.as_str() != "staging")),
        None
    );
}
