//! False alarms and power under continuous monitoring: simulated rollouts checked at every
//! interval, as the controller does. A candidate exactly as good as stable must fail (roll
//! back) in at most 5% of rollouts although every rollout is looked at 50 times; a real
//! 5-point success drop must be caught in nearly all.

use promptreg_core::analysis::{evaluate, AnalysisState, ArmWindow, Observation, Observed, Phase};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::spec;

const ROLLOUTS: usize = 200;
const LOOKS: usize = 50;
const PER_LOOK: usize = 100;
const SHARE: f64 = 0.2;

/// One arm's behaviour.
#[derive(Clone, Copy)]
struct Agent {
    success: f64,
    unsafe_action: f64,
    latency_median_ms: f64,
}

const STABLE: Agent = Agent {
    success: 0.95,
    unsafe_action: 0.005,
    latency_median_ms: 800.0,
};

fn normal(rng: &mut StdRng) -> f64 {
    // Box-Muller.
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn outcome(rng: &mut StdRng, a: Agent) -> Observation {
    Observation {
        success: Some(rng.random_bool(a.success)),
        unsafe_action: rng.random_bool(a.unsafe_action),
        policy_violation: false,
        latency_ms: Some(a.latency_median_ms * (0.5 * normal(rng)).exp()),
        cost: Some(0.01 * (0.3 * normal(rng)).exp()),
        score: None,
    }
}

/// Whether a naive fixed-sample test (one-sided z at 5%) would call the success rate worse:
/// what the always-valid interval replaces.
fn naive_drop(stable: &ArmWindow, candidate: &ArmWindow) -> bool {
    let rate = |w: &ArmWindow| w.successes as f64 / w.samples as f64;
    let (ps, pc) = (rate(stable), rate(candidate));
    let se = (ps * (1.0 - ps) / stable.samples as f64 + pc * (1.0 - pc) / candidate.samples as f64)
        .sqrt();
    candidate.samples >= 200 && se > 0.0 && (pc - ps) / se < -1.645
}

/// Runs one rollout, evaluating after every look; returns the first failing phase's summary,
/// and whether the naive test ever fired.
fn rollout_with_naive(
    rng: &mut StdRng,
    s: &promptreg_core::analysis::AnalysisSpec,
    candidate: Agent,
) -> (Option<String>, bool) {
    let (mut stable_w, mut candidate_w) = (ArmWindow::default(), ArmWindow::default());
    let mut state = AnalysisState::default();
    let (mut failed, mut naive) = (None, false);
    for _ in 0..LOOKS {
        for _ in 0..PER_LOOK {
            if rng.random_bool(SHARE) {
                candidate_w.record(&outcome(rng, candidate));
            } else {
                stable_w.record(&outcome(rng, STABLE));
            }
        }
        let o = Observed {
            stable: stable_w.clone(),
            candidate: candidate_w.clone(),
            step_stable: stable_w.clone(),
            step_candidate: candidate_w.clone(),
            expected_candidate_share: SHARE,
        };
        naive |= naive_drop(&stable_w, &candidate_w);
        let r = evaluate(s, &o, &mut state);
        if failed.is_none() && matches!(r.phase, Phase::Failed | Phase::Error) {
            failed = Some(r.summary);
        }
    }
    (failed, naive)
}

fn rollout(
    rng: &mut StdRng,
    s: &promptreg_core::analysis::AnalysisSpec,
    candidate: Agent,
) -> Option<String> {
    rollout_with_naive(rng, s, candidate).0
}

/// The interface's example spec with the strictest margins (0: any regression).
fn strict() -> promptreg_core::analysis::AnalysisSpec {
    spec(json!({"interval": "1s", "min_sample": 200,
        "breakers": [{"metric": "unsafe_action_rate", "max": 0.02}, {"metric": "policy_violations", "max": 0},
                     {"metric": "latency_p99_ms", "max": 4000}, {"metric": "success_rate", "min": 0.5}],
        "compare": [{"metric": "success_rate", "max_drop": 0.0}, {"metric": "unsafe_action_rate", "max_increase": 0.0},
                    {"metric": "latency_p50_ms", "max_increase_ratio": 0.0}, {"metric": "cost_p50", "max_increase_ratio": 0.0}],
        "conditions": [{"name": "safe", "expr": "candidate.unsafe_action_rate <= 0.05"}]}))
}

#[test]
fn aa_rollouts_checked_every_interval_rarely_fail() {
    let s = strict();
    let mut rng = StdRng::seed_from_u64(0x5eed_a11a);
    let runs: Vec<(Option<String>, bool)> = (0..ROLLOUTS)
        .map(|_| rollout_with_naive(&mut rng, &s, STABLE))
        .collect();
    let failures: Vec<&String> = runs.iter().filter_map(|(f, _)| f.as_ref()).collect();
    let naive = runs.iter().filter(|(_, n)| *n).count();
    let rate = failures.len() as f64 / ROLLOUTS as f64;
    // Shown with --nocapture, for docs/delivery.md.
    eprintln!(
        "A/A: {} of {ROLLOUTS} rollouts failed; a naive 5% test of success rate at every look \
         fired in {naive}: {failures:#?}",
        failures.len()
    );
    // The simulation is sharp enough to show the peeking problem that the analysis avoids.
    assert!(
        naive * 10 > ROLLOUTS,
        "the naive test fired in only {naive}"
    );
    assert!(
        rate <= 0.05,
        "{} of {ROLLOUTS} A/A rollouts failed (checked {LOOKS} times each): {failures:#?}",
        failures.len()
    );
}

#[test]
fn a_five_point_success_drop_is_caught_in_nearly_every_rollout() {
    let s = strict();
    let mut rng = StdRng::seed_from_u64(0xbad_cafe);
    let worse = Agent {
        success: 0.90,
        ..STABLE
    };
    let caught = (0..40)
        .filter(|_| rollout(&mut rng, &s, worse).is_some_and(|why| why.contains("success_rate")))
        .count();
    eprintln!("5-point drop: caught in {caught} of 40 rollouts");
    assert!(caught >= 38, "caught {caught} of 40");
}

#[test]
fn an_aa_rollout_under_the_interface_example_passes() {
    // Tolerant margins: once both arms have their sample, an equal candidate is shown to be
    // within every margin, so a blocking analysis step completes.
    let s = spec(super::full_example());
    let mut rng = StdRng::seed_from_u64(42);
    let (mut stable_w, mut candidate_w) = (ArmWindow::default(), ArmWindow::default());
    let mut state = AnalysisState::default();
    let mut phases = Vec::new();
    for _ in 0..LOOKS {
        for _ in 0..PER_LOOK {
            let (w, agent) = if rng.random_bool(SHARE) {
                (&mut candidate_w, STABLE)
            } else {
                (&mut stable_w, STABLE)
            };
            w.record(&outcome(&mut rng, agent));
        }
        let o = Observed {
            stable: stable_w.clone(),
            candidate: candidate_w.clone(),
            step_stable: stable_w.clone(),
            step_candidate: candidate_w.clone(),
            expected_candidate_share: SHARE,
        };
        phases.push(evaluate(&s, &o, &mut state));
    }
    assert!(phases
        .iter()
        .all(|r| !matches!(r.phase, Phase::Failed | Phase::Error)));
    assert_eq!(phases[0].phase, Phase::Pending, "{}", phases[0].summary);
    let last = phases.last().unwrap();
    assert_eq!(last.phase, Phase::Successful, "{}", last.summary);
}
