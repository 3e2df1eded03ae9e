//! Deterministic scenarios of the rollout state machine: every trigger and command.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::machine::{self, *};
use super::spec::RolloutSpec;
use crate::analysis::Phase;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

fn spec(strategy: serde_json::Value, analysis: Option<serde_json::Value>) -> RolloutSpec {
    RolloutSpec::parse(&strategy, analysis.as_ref()).unwrap_or_else(|e| panic!("{e}"))
}

/// The issue's example request.
fn example() -> RolloutSpec {
    spec(
        json!({"canary": {"steps": [{"set_weight": 500}, {"pause": {"duration": "60s"}},
                                    {"set_weight": 5000}, {"pause": {}}]}}),
        Some(json!({"interval": "1s", "min_sample": 200,
                    "breakers": [{"metric": "unsafe_action_rate", "max": 0.02},
                                 {"metric": "policy_violations", "max": 0}],
                    "compare": [{"metric": "success_rate", "max_drop": 0.05}]})),
    )
}

const FINE: Verdicts = Verdicts {
    background: Some(Phase::Running),
    step: None,
    step_sample_reached: true,
};

/// Applies ticks until nothing changes; returns the actions.
fn settle(
    spec: &RolloutSpec,
    state: &mut RolloutState,
    now: DateTime<Utc>,
    v: &Verdicts,
) -> Vec<RolloutAction> {
    let mut actions = Vec::new();
    while let Some(t) = tick(spec, state, now, v) {
        actions.push(t.action);
        *state = t.state;
        assert!(actions.len() < 100, "tick does not settle");
    }
    actions
}

#[test]
fn the_issue_example_walks_its_steps_and_promotes() {
    let spec = example();
    let (mut s, promoted) = machine::start(&spec, t0());
    assert!(promoted.is_none());
    assert_eq!(
        settle(&spec, &mut s, t0(), &FINE),
        vec![RolloutAction::StepCompleted { step: 0 }]
    );
    assert_eq!((s.step, s.weight), (1, 500));
    // The 60 s pause holds until 60 s have passed.
    assert!(settle(&spec, &mut s, at(59), &FINE).is_empty());
    // ... and until the step's minimum sample is there.
    let short = Verdicts {
        step_sample_reached: false,
        ..FINE
    };
    assert!(settle(&spec, &mut s, at(61), &short).is_empty());
    let actions = settle(&spec, &mut s, at(62), &FINE);
    assert_eq!(actions.len(), 3, "{actions:?}"); // pause done, weight set, indefinite pause
    assert_eq!((s.status, s.step, s.weight), (Status::Paused, 3, 5000));
    assert_eq!(s.paused, Some(PauseReason::PauseStep));
    let t = machine::resume(&spec, &s, at(100)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.action, RolloutAction::Resumed);
    s = t.state;
    let mut last = None;
    while let Some(t) = tick(&spec, &s, at(100), &FINE) {
        s = t.state.clone();
        last = Some(t);
    }
    let last = last.unwrap_or_else(|| panic!("no promotion"));
    assert_eq!(last.action, RolloutAction::Promoted);
    assert_eq!(last.pointer, Some(PointerTarget::Candidate));
    assert_eq!(
        (s.status, s.weight, s.switched),
        (Status::Promoted, 10_000, true)
    );
    assert!(tick(&spec, &s, at(1000), &FINE).is_none());
}

#[test]
fn failed_or_error_analysis_rolls_back_inconclusive_pauses() {
    let spec = example();
    for phase in [Phase::Failed, Phase::Error] {
        let (mut s, _) = machine::start(&spec, t0());
        settle(&spec, &mut s, t0(), &FINE);
        let v = Verdicts {
            background: Some(phase),
            ..FINE
        };
        let t = tick(&spec, &s, at(5), &v).unwrap_or_else(|| panic!("no rollback"));
        assert_eq!(
            t.action,
            RolloutAction::RolledBack {
                analysis: AnalysisKind::Background,
                phase
            }
        );
        assert_eq!((t.state.status, t.state.weight), (Status::RolledBack, 0));
        assert_eq!(t.pointer, None, "a canary never moved the pointer");
    }
    let (mut s, _) = machine::start(&spec, t0());
    settle(&spec, &mut s, t0(), &FINE);
    let v = Verdicts {
        background: Some(Phase::Inconclusive),
        ..FINE
    };
    settle(&spec, &mut s, at(5), &v);
    assert_eq!(
        (s.status, s.paused),
        (Status::Paused, Some(PauseReason::Inconclusive))
    );
    // A paused canary is still served to its share, so a failure still rolls it back.
    let v = Verdicts {
        background: Some(Phase::Failed),
        ..FINE
    };
    settle(&spec, &mut s, at(6), &v);
    assert_eq!(s.status, Status::RolledBack);
}

#[test]
fn a_blocking_analysis_step_waits_then_pauses_without_sample() {
    let spec = spec(
        json!({"canary": {"steps": [{"set_weight": 100},
                                    {"analysis": {"min_sample": 50, "max_wait": "30s"}}]}}),
        None,
    );
    let (mut s, _) = machine::start(&spec, t0());
    let pending = Verdicts {
        background: None,
        step: Some(Phase::Pending),
        step_sample_reached: true,
    };
    settle(&spec, &mut s, t0(), &pending);
    assert_eq!(s.step, 1);
    assert!(settle(&spec, &mut s, at(29), &pending).is_empty());
    settle(&spec, &mut s, at(30), &pending);
    assert_eq!(s.paused, Some(PauseReason::MinSample));
    // Resuming gives the step a fresh clock.
    s = machine::resume(&spec, &s, at(40))
        .unwrap_or_else(|e| panic!("{e}"))
        .state;
    assert_eq!((s.status, s.step_started_at), (Status::Progressing, at(40)));
    let ok = Verdicts {
        step: Some(Phase::Successful),
        ..pending
    };
    let actions = settle(&spec, &mut s, at(41), &ok);
    assert_eq!(
        actions,
        vec![
            RolloutAction::StepCompleted { step: 1 },
            RolloutAction::Promoted
        ]
    );
    let (mut s, _) = machine::start(&spec, t0());
    let failed = Verdicts {
        step: Some(Phase::Failed),
        ..pending
    };
    settle(&spec, &mut s, at(1), &failed);
    assert_eq!(s.status, Status::RolledBack);
}

#[test]
fn blue_green_previews_switches_and_switches_back() {
    let manual = spec(
        json!({"blue_green": {"post_promotion_window": "30s",
                              "post_promotion_analysis": {"min_sample": 10}}}),
        None,
    );
    let (mut s, _) = machine::start(&manual, t0());
    settle(&manual, &mut s, t0(), &Verdicts::default());
    assert_eq!(s.paused, Some(PauseReason::Approval));
    let t = machine::promote(&manual, &s, at(10), false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (t.action.clone(), t.pointer),
        (RolloutAction::Switched, Some(PointerTarget::Candidate))
    );
    s = t.state;
    let failed = Verdicts {
        step: Some(Phase::Failed),
        ..Verdicts::default()
    };
    let t = tick(&manual, &s, at(15), &failed).unwrap_or_else(|| panic!("no switch back"));
    assert_eq!(t.pointer, Some(PointerTarget::Stable));
    assert_eq!(t.state.status, Status::RolledBack);
    // Without a failure the watch ends after the window, and the pointer stays.
    let t = tick(&manual, &s, at(40), &Verdicts::default()).unwrap_or_else(|| panic!("no end"));
    assert_eq!((t.action, t.pointer), (RolloutAction::Promoted, None));

    let auto = spec(
        json!({"blue_green": {"auto_promote_after": "5s", "post_promotion_window": "10s"}}),
        None,
    );
    let (mut s, _) = machine::start(&auto, t0());
    assert!(settle(&auto, &mut s, at(4), &Verdicts::default()).is_empty());
    let actions = settle(&auto, &mut s, at(5), &Verdicts::default());
    assert_eq!(actions, vec![RolloutAction::Switched]);
    settle(&auto, &mut s, at(15), &Verdicts::default());
    assert_eq!(s.status, Status::Promoted);
}

#[test]
fn immediate_promotes_at_start() {
    let spec = spec(json!({"immediate": {}}), None);
    let (_, promoted) = machine::start(&spec, t0());
    let t = promoted.unwrap_or_else(|| panic!("immediate must promote"));
    assert_eq!(
        (t.action, t.pointer, t.state.status),
        (
            RolloutAction::Promoted,
            Some(PointerTarget::Candidate),
            Status::Promoted
        )
    );
}

#[test]
fn commands_respect_the_state() {
    let spec = example();
    let (mut s, _) = machine::start(&spec, t0());
    settle(&spec, &mut s, t0(), &FINE);
    s = machine::pause(&s).unwrap_or_else(|e| panic!("{e}")).state;
    assert_eq!(
        machine::pause(&s).map_err(|e| e.code()),
        Err("invalid_rollout_state")
    );
    assert!(
        settle(&spec, &mut s, at(1000), &FINE).is_empty(),
        "paused holds"
    );
    s = machine::resume(&spec, &s, at(1000))
        .unwrap_or_else(|e| panic!("{e}"))
        .state;
    assert_eq!(
        machine::resume(&spec, &s, at(1000)).map_err(|e| e.code()),
        Err("invalid_rollout_state")
    );
    let skipped = machine::skip_analysis(&s).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(skipped.action, RolloutAction::AnalysisSkipped);
    let failing = Verdicts {
        background: Some(Phase::Failed),
        ..FINE
    };
    assert!(
        tick(&spec, &skipped.state, at(1001), &failing)
            .is_none_or(|t| t.state.status != Status::RolledBack),
        "skipped analysis never acts"
    );
    let aborted = machine::abort(&s).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (aborted.state.status, aborted.pointer),
        (Status::Aborted, None)
    );
    for cmd in [
        machine::abort(&aborted.state),
        machine::pause(&aborted.state),
        machine::promote(&spec, &aborted.state, at(1), true),
    ] {
        assert_eq!(cmd.map_err(|e| e.code()), Err("rollout_finished"));
    }
    // promote (not full) completes the current step; full goes live at once.
    let (mut s, _) = machine::start(&spec, t0());
    settle(&spec, &mut s, t0(), &FINE);
    let t = machine::promote(&spec, &s, at(1), false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.state.step, 2);
    let t = machine::promote(&spec, &s, at(1), true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (t.state.status, t.pointer),
        (Status::Promoted, Some(PointerTarget::Candidate))
    );
}

#[test]
fn bad_specs_name_the_field() {
    let cases = [
        (
            json!({"canary": {"steps": [{"set_weight": 10001}]}}),
            "strategy.canary.steps[0].set_weight",
        ),
        (
            json!({"canary": {"steps": [{"set_weight": -1}]}}),
            "strategy.canary.steps[0].set_weight",
        ),
        (
            json!({"canary": {"steps": [{"set_weight": 1, "pause": {}}]}}),
            "strategy.canary.steps[0]",
        ),
        (
            json!({"canary": {"steps": [{"jump": 1}]}}),
            "strategy.canary.steps[0]",
        ),
        (
            json!({"canary": {"steps": [{"pause": {"duration": "soon"}}]}}),
            "strategy.canary.steps[0].pause.duration",
        ),
        (json!({"canary": {"steps": []}}), "strategy.canary.steps"),
        (json!({"canary": {}}), "strategy.canary.steps"),
        (json!({"linear": {}}), "strategy"),
        (json!("canary"), "strategy"),
        (json!({"immediate": {"x": 1}}), "strategy.immediate.x"),
        (
            json!({"blue_green": {"post_promotion_window": 5}}),
            "strategy.blue_green.post_promotion_window",
        ),
    ];
    for (strategy, field) in cases {
        let err = RolloutSpec::parse(&strategy, None).err();
        assert_eq!(err.map(|e| e.field), Some(field.to_owned()), "{strategy}");
    }
}

#[test]
fn specs_round_trip_through_storage() {
    let spec = example();
    let stored = serde_json::to_string(&spec).unwrap_or_default();
    let back: RolloutSpec =
        serde_json::from_str(&stored).unwrap_or_else(|e| panic!("{e}: {stored}"));
    assert_eq!(back, spec);
    assert!(stored.contains("\"1m\""), "{stored}");
}
