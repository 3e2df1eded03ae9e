//! CEL conditions over both arms (the `cel` crate: a tree-walking interpreter of Google's
//! Common Expression Language, which is side-effect free and bounded by its input).
//!
//! An expression sees `stable` and `candidate` (whole rollout), `step_stable` and
//! `step_candidate` (current step) and `expected_candidate_share`. Each arm is a map with
//! integer counts (`samples`, `successes`, `failures`, `unsafe_actions`, `policy_violations`,
//! `scored`) and float figures (`success_rate`, `unsafe_action_rate`, `policy_violation_rate`,
//! `latency_p50_ms` … `latency_p99_ms`, `latency_mean_ms`, `cost_p50` … `cost_p99`,
//! `cost_mean`, `score_mean`). A figure without data is *absent* (use `has(candidate.cost_p50)`),
//! so reading it is an evaluation error rather than a silent zero.
//!
//! The `cel` crate checks types only while running, so compiling also runs the program once
//! over a context where every figure is present: an unknown variable or key, or a result that
//! is not a bool, or a type error such as `candidate.success_rate * 2` (a double times an int),
//! is then refused when the spec is saved instead of failing every evaluation. (A part that
//! `&&` or `||` skips on those figures is not checked.)

use std::collections::HashMap;

use cel::{Context, ExecutionError, Value};

use super::evaluate::Observed;
use super::window::ArmWindow;

pub(crate) use cel::Program;

/// The variables an expression may use.
pub const VARIABLES: [&str; 5] = [
    "stable",
    "candidate",
    "step_stable",
    "step_candidate",
    "expected_candidate_share",
];

const INT_KEYS: [&str; 6] = [
    "samples",
    "successes",
    "failures",
    "unsafe_actions",
    "policy_violations",
    "scored",
];

/// Compiles `expr` and checks it against a context with every figure present.
pub(crate) fn compile(expr: &str) -> Result<Program, String> {
    let program = Program::compile(expr).map_err(|e| format!("CEL does not compile: {e}"))?;
    let sample = sample_window();
    let observed = Observed {
        stable: sample.clone(),
        candidate: sample.clone(),
        step_stable: sample.clone(),
        step_candidate: sample,
        expected_candidate_share: 0.5,
    };
    match run(&program, &observed) {
        Ok(Value::Bool(_)) => Ok(program),
        Ok(other) => Err(format!(
            "must evaluate to a bool, but gives a {:?}",
            other.type_of()
        )),
        Err(ExecutionError::UndeclaredReference(name)) => Err(format!(
            "unknown name `{name}` (variables: {})",
            VARIABLES.join(", ")
        )),
        Err(ExecutionError::NoSuchKey(key)) => Err(format!(
            "unknown key `{key}` (each arm has: {})",
            keys(&sample_window()).join(", ")
        )),
        // Arithmetic errors depend on the figures: at run time they are evaluation errors,
        // counted against `consecutive_error_limit`.
        Err(
            ExecutionError::DivisionByZero(_)
            | ExecutionError::RemainderByZero(_)
            | ExecutionError::Overflow(..)
            | ExecutionError::IndexOutOfBounds(_),
        ) => Ok(program),
        // Every other error is one of types, which are the same whatever the figures (counts
        // are ints, the rest doubles): it would fail every evaluation.
        Err(e) => Err(format!(
            "fails whatever the figures: {e} (counts are ints and figures doubles: write 2.0, or double(x))"
        )),
    }
}

/// Evaluates a compiled condition: `Ok(true)` passes, `Ok(false)` fails, `Err` is an
/// evaluation error (including a non-bool result), with the interpreter's message.
pub(crate) fn evaluate(program: &Program, observed: &Observed) -> Result<bool, String> {
    match run(program, observed) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("gave a {:?}, not a bool", other.type_of())),
        Err(e) => Err(e.to_string()),
    }
}

fn run(program: &Program, observed: &Observed) -> Result<Value, ExecutionError> {
    let mut context = Context::default();
    context.add_variable_from_value("stable", arm(&observed.stable));
    context.add_variable_from_value("candidate", arm(&observed.candidate));
    context.add_variable_from_value("step_stable", arm(&observed.step_stable));
    context.add_variable_from_value("step_candidate", arm(&observed.step_candidate));
    context.add_variable_from_value(
        "expected_candidate_share",
        Value::Float(observed.expected_candidate_share),
    );
    program.execute(&context)
}

/// The figures of one arm, as CEL sees them.
fn figures(w: &ArmWindow) -> Vec<(&'static str, Value)> {
    let ints = [
        w.samples,
        w.successes,
        w.failures,
        w.unsafe_actions,
        w.policy_violations,
        w.scored,
    ];
    let mut out: Vec<(&'static str, Value)> = INT_KEYS
        .iter()
        .zip(ints)
        .map(|(k, v)| (*k, Value::Int(i64::try_from(v).unwrap_or(i64::MAX))))
        .collect();
    let floats = [
        ("success_rate", w.success_rate()),
        ("unsafe_action_rate", w.unsafe_action_rate()),
        ("policy_violation_rate", w.policy_violation_rate()),
        ("latency_p50_ms", w.latency_ms.quantile(0.5)),
        ("latency_p90_ms", w.latency_ms.quantile(0.9)),
        ("latency_p95_ms", w.latency_ms.quantile(0.95)),
        ("latency_p99_ms", w.latency_ms.quantile(0.99)),
        ("latency_mean_ms", w.latency_ms.mean()),
        ("cost_p50", w.cost.quantile(0.5)),
        ("cost_p90", w.cost.quantile(0.9)),
        ("cost_p95", w.cost.quantile(0.95)),
        ("cost_p99", w.cost.quantile(0.99)),
        ("cost_mean", w.cost.mean()),
        ("score_mean", w.score_mean()),
    ];
    out.extend(
        floats
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, Value::Float(v)))),
    );
    out
}

fn arm(w: &ArmWindow) -> Value {
    let map: HashMap<String, Value> = figures(w)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    Value::from(map)
}

fn keys(w: &ArmWindow) -> Vec<&'static str> {
    figures(w).into_iter().map(|(k, _)| k).collect()
}

/// A window where every figure is defined and no count is zero, for the save-time check.
fn sample_window() -> ArmWindow {
    let mut w = ArmWindow::default();
    for i in 0..10 {
        w.record(&super::window::Observation {
            success: Some(i != 0),
            unsafe_action: i == 1,
            policy_violation: i == 2,
            latency_ms: Some(100.0 + f64::from(i)),
            cost: Some(0.01),
            score: Some(0.5),
        });
    }
    w
}
