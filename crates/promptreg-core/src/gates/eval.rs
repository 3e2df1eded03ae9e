//! The decision: the predecessor rule first, then each gate in order; the first failure is
//! reported with what it looked at.

use serde::Serialize;

use super::{compile_expression, Facts, GateSpec};
use crate::name::EnvName;

/// Why a version may not enter the environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GateFailure {
    /// The version was not (long enough) live in the required predecessor.
    PredecessorRequired {
        /// The predecessor.
        predecessor: EnvName,
        /// Whether it was ever live there.
        ever_live: bool,
        /// Whether it is live there now.
        live: bool,
        /// Seconds it has been live there in all.
        live_for_seconds: i64,
        /// Seconds required (absent: only having been live there is required).
        #[serde(skip_serializing_if = "Option::is_none")]
        required_seconds: Option<i64>,
        /// Human text.
        message: String,
    },
    /// A gate expression was false or could not be evaluated.
    GateFailed {
        /// The gate's name.
        gate: String,
        /// Its expression.
        expression: String,
        /// `false`, or the evaluation error.
        result: String,
        /// The value of every variable the expression names.
        values: serde_json::Map<String, serde_json::Value>,
        /// Human text.
        message: String,
    },
}

impl GateFailure {
    /// The error code (`predecessor_required` or `gate_failed`).
    pub fn code(&self) -> &'static str {
        match self {
            GateFailure::PredecessorRequired { .. } => "predecessor_required",
            GateFailure::GateFailed { .. } => "gate_failed",
        }
    }

    /// The human text.
    pub fn message(&self) -> &str {
        match self {
            GateFailure::PredecessorRequired { message, .. }
            | GateFailure::GateFailed { message, .. } => message,
        }
    }
}

/// Writes seconds the way people read them (`10m`, `1h 5m`, `42s`).
fn human(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Decides whether the version described by `facts` may enter an environment with `spec`
/// (into `env`, named in messages). `facts.predecessor` must be filled when the spec requires
/// one.
/// The failure is boxed: it carries the values an expression looked at, and the `Ok` path is
/// the common one.
pub fn evaluate(env: &EnvName, spec: &GateSpec, facts: &Facts) -> Result<(), Box<GateFailure>> {
    if let Some(pred) = &spec.required_predecessor {
        let required = spec
            .min_time()
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let (ever_live, live, live_for) =
            facts.predecessor.as_ref().map_or((false, false, 0), |p| {
                (p.ever_live, p.live, p.live_for_seconds)
            });
        let v = facts.version.number;
        let message = if !ever_live {
            Some(format!(
                "version {v} was never live in '{pred}', which '{env}' requires before it; deploy it to '{pred}' first"
            ))
        } else {
            required.filter(|r| live_for < *r).map(|r| {
                format!(
                    "version {v} has been live in '{pred}' for {} of the {} that '{env}' requires",
                    human(live_for),
                    human(r)
                )
            })
        };
        if let Some(message) = message {
            return Err(Box::new(GateFailure::PredecessorRequired {
                predecessor: pred.clone(),
                ever_live,
                live,
                live_for_seconds: live_for,
                required_seconds: required,
                message,
            }));
        }
    }
    if spec.gates.is_empty() {
        return Ok(());
    }
    let mut context = cel::Context::default();
    for (name, value) in facts.variables() {
        context.add_variable_from_value(name, value);
    }
    for gate in &spec.gates {
        let outcome = compile_expression(&gate.expression).and_then(|program| {
            match program.execute(&context) {
                Ok(cel::Value::Bool(b)) => Ok(b),
                Ok(other) => Err(format!("gave a {}, not a bool", other.type_of())),
                Err(e) => Err(e.to_string()),
            }
        });
        let result = match outcome {
            Ok(true) => continue,
            Ok(false) => "false".to_owned(),
            Err(e) => format!("error: {e}"),
        };
        let mut values = serde_json::Map::new();
        if let Ok(program) = cel::Program::compile(&gate.expression) {
            let references = program.references();
            let mut names = references.variables();
            names.sort_unstable();
            for name in names.into_iter().filter(|n| super::VARIABLES.contains(n)) {
                values.insert(name.to_owned(), facts.variable_json(name));
            }
        }
        let message = format!(
            "version {} may not enter '{env}': gate '{}' ({}) gave {result}",
            facts.version.number, gate.name, gate.expression
        );
        return Err(Box::new(GateFailure::GateFailed {
            gate: gate.name.clone(),
            expression: gate.expression.clone(),
            result,
            values,
            message,
        }));
    }
    Ok(())
}
