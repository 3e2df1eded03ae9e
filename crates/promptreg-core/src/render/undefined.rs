//! Naming the variable behind an "undefined value" error.
//!
//! minijinja reports only *that* an undefined value was printed and on which line. The template
//! knows which names it reads from outside ([`minijinja::Template::undeclared_variables`]); the
//! ones the request did not supply, and that appear on the failing line, are the culprits.

use std::collections::BTreeSet;

use serde_json::Value;

/// Names the engine provides itself; never "missing variables".
const GLOBALS: [&str; 5] = ["range", "dict", "namespace", "debug", "loop"];

/// The message for an undefined-value error: `undefined variable 'customer' (line 1)`, or the
/// engine's own message when no candidate is found.
pub(crate) fn describe(
    template: &minijinja::Template<'_, '_>,
    source: &str,
    variables: &Value,
    line: Option<usize>,
) -> Option<String> {
    let missing: BTreeSet<String> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|name| {
            let root = name.split('.').next().unwrap_or(name);
            !GLOBALS.contains(&root) && !resolves(variables, name)
        })
        .collect();
    let on_line: Vec<&String> = match line.and_then(|l| source.lines().nth(l.saturating_sub(1))) {
        Some(text) => missing
            .iter()
            .filter(|name| mentions(text, name.split('.').next().unwrap_or(name)))
            .collect(),
        None => missing.iter().collect(),
    };
    let names = match on_line.as_slice() {
        [] => return None,
        [one] => format!("undefined variable '{one}'"),
        many => format!(
            "undefined variable, one of {}",
            many.iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Some(match line {
        Some(l) => format!("{names} (line {l})"),
        None => names,
    })
}

/// Whether the dotted path `name` exists in the variables.
fn resolves(variables: &Value, name: &str) -> bool {
    let mut v = variables;
    for part in name.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return false,
        }
    }
    true
}

/// Whether `ident` occurs in `text` as a whole identifier.
fn mentions(text: &str, ident: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(ident).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + ident.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}
