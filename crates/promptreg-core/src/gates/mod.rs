//! Promotion gates: what an environment demands of a version before its pointer may move to it.
//!
//! An environment's [`GateSpec`] names an optional required predecessor (the version must have
//! been live there, optionally for a minimum time) and CEL expressions over the version's
//! [`Facts`]. [`GateSpec::compile`] checks a spec when it is saved (each expression compiles
//! and uses only the documented variables); [`evaluate`] is the pure decision the deploy runs
//! inside its transaction. [`predecessor_facts`] derives the time-in-predecessor figures from
//! the predecessor's pointer history, and [`find_cycle`] refuses a path that loops.
//!
//! - `facts`: the facts an expression sees and their CEL form.
//! - `eval`: the evaluation and the failures it reports.

mod eval;
mod facts;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::name::EnvName;

pub use eval::{evaluate, GateFailure};
pub use facts::{predecessor_facts, Facts, PredecessorFacts, ValidationFact, VersionFacts};

/// The variables a gate expression may use.
pub const VARIABLES: [&str; 5] = ["version", "validations", "approvals", "predecessor", "now"];
/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 2048;
/// Most gates one environment may have.
pub const MAX_GATES: usize = 20;
/// Longest gate name.
const MAX_GATE_NAME_LEN: usize = 64;

/// One named CEL expression that must evaluate to `true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// A short name shown when it fails (`[a-z0-9][a-z0-9._-]*`, up to 64 characters).
    pub name: String,
    /// The CEL expression.
    pub expression: String,
}

/// An environment's promotion rules. The default (no predecessor, no gates) lets every
/// version in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// The environment a version must have been live in before it may enter this one.
    #[serde(default)]
    pub required_predecessor: Option<EnvName>,
    /// How long it must have been live there (`"1h"`, see [`crate::parse_duration`]); needs
    /// `required_predecessor`.
    #[serde(default)]
    pub min_time_in_predecessor: Option<String>,
    /// The expressions, all of which must hold.
    #[serde(default)]
    pub gates: Vec<Gate>,
}

/// Why a spec was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl GateSpec {
    /// Whether the spec demands nothing.
    pub fn is_empty(&self) -> bool {
        self.required_predecessor.is_none() && self.gates.is_empty()
    }

    /// The minimum time in the predecessor, parsed.
    pub fn min_time(&self) -> Option<Duration> {
        self.min_time_in_predecessor
            .as_deref()
            .and_then(|t| crate::parse_duration(t).ok())
    }

    /// Checks the spec for environment `env` (which other environments exist, and whether the
    /// path loops, the caller checks with the store): names, bounds, the duration, and that
    /// every expression compiles and uses only [`VARIABLES`].
    pub fn compile(&self, env: &EnvName) -> Result<(), SpecError> {
        if self.required_predecessor.as_ref() == Some(env) {
            return Err(SpecError(format!(
                "required_predecessor: environment '{env}' cannot be its own predecessor"
            )));
        }
        if let Some(min) = &self.min_time_in_predecessor {
            if self.required_predecessor.is_none() {
                return Err(SpecError(
                    "min_time_in_predecessor: needs required_predecessor".into(),
                ));
            }
            crate::parse_duration(min)
                .map_err(|e| SpecError(format!("min_time_in_predecessor: {e}")))?;
        }
        if self.gates.len() > MAX_GATES {
            return Err(SpecError(format!(
                "gates: at most {MAX_GATES} gates per environment, got {}",
                self.gates.len()
            )));
        }
        let mut seen = HashSet::new();
        for (i, gate) in self.gates.iter().enumerate() {
            check_gate_name(&gate.name).map_err(|m| SpecError(format!("gates[{i}].name: {m}")))?;
            if !seen.insert(gate.name.as_str()) {
                return Err(SpecError(format!(
                    "gates[{i}].name: '{}' is used twice",
                    gate.name
                )));
            }
            compile_expression(&gate.expression)
                .map_err(|m| SpecError(format!("gates[{i}] ('{}'): {m}", gate.name)))?;
        }
        Ok(())
    }
}

fn check_gate_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !first_ok || !rest_ok || name.len() > MAX_GATE_NAME_LEN {
        return Err(format!(
            "'{name}' is not a gate name: 1-{MAX_GATE_NAME_LEN} characters of [a-z0-9._-], starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Compiles an expression and checks the variables it names. The `cel` crate resolves names
/// only while running, and `&&`/`||` may skip a part, so the names are read from the syntax
/// tree instead: every identifier that is not bound by a macro (`exists(t, ...)`) must be one
/// of [`VARIABLES`].
pub(crate) fn compile_expression(expr: &str) -> Result<cel::Program, String> {
    if expr.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    if expr.len() > MAX_EXPRESSION_LEN {
        return Err(format!(
            "the expression is {} bytes; at most {MAX_EXPRESSION_LEN}",
            expr.len()
        ));
    }
    let program = cel::Program::compile(expr).map_err(|e| format!("CEL does not compile: {e}"))?;
    let mut bound = BTreeSet::new();
    binders(program.expression(), &mut bound);
    let references = program.references();
    let mut unknown: Vec<&str> = references
        .variables()
        .into_iter()
        .filter(|v| !VARIABLES.contains(v) && !bound.contains(*v))
        .collect();
    unknown.sort_unstable();
    if let Some(name) = unknown.first() {
        return Err(format!(
            "unknown variable `{name}` (variables: {})",
            VARIABLES.join(", ")
        ));
    }
    Ok(program)
}

/// Collects the names macros bind (comprehension variables).
fn binders(e: &cel::IdedExpr, out: &mut BTreeSet<String>) {
    use cel::common::ast::{EntryExpr, Expr};
    let entry = |entry: &EntryExpr, out: &mut BTreeSet<String>| match entry {
        EntryExpr::StructField(f) => binders(&f.value, out),
        EntryExpr::MapEntry(m) => {
            binders(&m.key, out);
            binders(&m.value, out);
        }
    };
    match &e.expr {
        Expr::Call(call) => {
            if let Some(t) = &call.target {
                binders(t, out);
            }
            call.args.iter().for_each(|a| binders(a, out));
        }
        Expr::Comprehension(c) => {
            out.insert(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                out.insert(v.clone());
            }
            out.insert(c.accu_var.clone());
            for part in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                binders(part, out);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|x| binders(x, out)),
        Expr::Map(m) => m.entries.iter().for_each(|x| entry(&x.expr, out)),
        Expr::Struct(s) => s.entries.iter().for_each(|x| entry(&x.expr, out)),
        Expr::Select(s) => binders(&s.operand, out),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Follows `required_predecessor` links from `env` (whose new predecessor is `predecessor`)
/// through `predecessor_of` (the saved specs of the other environments) and returns the loop
/// it closes, if any, as the environments in order (`[production, staging, production]`).
pub fn find_cycle(
    env: &EnvName,
    predecessor: &EnvName,
    predecessor_of: impl Fn(&EnvName) -> Option<EnvName>,
) -> Option<Vec<EnvName>> {
    let mut path = vec![env.clone(), predecessor.clone()];
    let mut current = predecessor.clone();
    // Each step visits a new environment or stops, so the walk ends.
    loop {
        if &current == env {
            return Some(path);
        }
        let next = predecessor_of(&current)?;
        if path[1..].contains(&next) && &next != env {
            // A loop that does not pass through `env` was refused when it was saved; stop.
            return None;
        }
        path.push(next.clone());
        current = next;
    }
}
