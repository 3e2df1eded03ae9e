//! Policy text in, a validated [`PolicySet`] out, or Cedar's own message for what is wrong,
//! with the line and column it points at.

use std::str::FromStr;

use cedar_policy::{PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;

/// A policy file that cannot be used: names the file and carries Cedar's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy file {origin}: {message}")]
pub struct PolicyError {
    /// The file (or `the built-in policies`).
    pub origin: String,
    /// What is wrong, in Cedar's words.
    pub message: String,
}

impl PolicyError {
    pub(crate) fn new(origin: impl std::fmt::Display, message: String) -> Self {
        Self {
            origin: origin.to_string(),
            message,
        }
    }
}

/// Parses the schema.
pub(super) fn schema(text: &str) -> Result<Schema, PolicyError> {
    Schema::from_cedarschema_str(text)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| PolicyError::new("schema", describe(text, &e)))
}

/// Parses `text`, names each policy by its `@id` annotation, and validates the set against
/// `schema` in strict mode.
pub(super) fn policies(
    schema: &Schema,
    text: &str,
    origin: &str,
) -> Result<PolicySet, PolicyError> {
    let parsed = PolicySet::from_str(text)
        .map_err(|e| PolicyError::new(origin, format!("does not parse: {}", describe(text, &e))))?;
    if let Some(template) = parsed.templates().next() {
        return Err(PolicyError::new(
            origin,
            format!(
                "policy {} is a template (it has a ?principal or ?resource slot); \
                 promptreg links no templates: write the policy out",
                template.id()
            ),
        ));
    }
    let mut named = PolicySet::new();
    for policy in parsed.policies() {
        let policy = match policy.annotation("id") {
            Some(id) => policy.new_id(PolicyId::new(id)),
            None => policy.clone(),
        };
        named
            .add(policy)
            .map_err(|e| PolicyError::new(origin, format!("two policies share an @id: {e}")))?;
    }
    if named.policies().next().is_none() {
        return Err(PolicyError::new(
            origin,
            "holds no policy: every action would be refused".into(),
        ));
    }
    let result = Validator::new(schema.clone()).validate(&named, ValidationMode::Strict);
    if !result.validation_passed() {
        let errors: Vec<String> = result
            .validation_errors()
            .map(|e| describe(text, e))
            .collect();
        return Err(PolicyError::new(
            origin,
            format!(
                "does not validate against promptreg's schema: {}",
                errors.join("; ")
            ),
        ));
    }
    for warning in result.validation_warnings() {
        tracing::warn!(origin, warning = %describe(text, warning), "a Cedar policy validated with a warning");
    }
    Ok(named)
}

/// Cedar's message for `error` with every related error, each with the line and column of
/// what it points at in `text`, and its help.
fn describe(text: &str, error: &dyn Diagnostic) -> String {
    let mut parts = vec![one(text, error)];
    if let Some(related) = error.related() {
        parts.extend(related.map(|r| one(text, r)));
    }
    parts.dedup();
    parts.join("; ")
}

fn one(text: &str, error: &dyn Diagnostic) -> String {
    let mut out = error.to_string();
    if let Some(labels) = error.labels() {
        for label in labels {
            let (line, column) = position(text, label.offset());
            out.push_str(&format!(" (at line {line}, column {column}"));
            if let Some(what) = label.label() {
                out.push_str(&format!(": {what}"));
            }
            out.push(')');
        }
    }
    if let Some(help) = error.help() {
        out.push_str(&format!("; help: {help}"));
    }
    out
}

/// 1-based line and column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    // Bytes, not `str` slicing: Cedar's offsets need not fall on a character boundary.
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}
