//! Naming the variable behind an "undefined value" error.
//!
//! minijinja reports only *that* an undefined value was printed and on which line. The template
//! knows which names it reads from outside ([`minijinja::Template::undeclared_variables`]); the
//! ones the request did not supply, and that appear on the failing line, are the culprits.

use std::collections::BTreeSet;

use serde_json::Value;

/// Names the engine provides itself; never "missing variables".
const GLOBALS: [&str; 5] = ["range", "dict", "namespace", "debug", "loop"];

/// The message for an undefined-value error: `undefined variable 'customer' (line 1)`, or
/// `None` when no candidate is found (the engine's own message is used then).
pub(crate) fn describe(
    template: &minijinja::Template<'_, '_>,
    source: &str,
    variables: &Value,
    error: &minijinja::Error,
) -> Option<String> {
    let missing: BTreeSet<String> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|name| {
            let root = name.split('.').next().unwrap_or(name);
            !GLOBALS.contains(&root) && !resolves(variables, name)
        })
        .collect();
    // Where it failed: the expression's span when the engine knows it, else the line.
    let line = error.line();
    let place = error
        .range()
        .and_then(|r| source.get(r))
        .or_else(|| line.and_then(|l| source.lines().nth(l.saturating_sub(1))));
    let culprits: Vec<&String> = match place {
        Some(text) => missing
            .iter()
            .filter(|name| printed(text, name.split('.').next().unwrap_or(name)))
            .collect(),
        None => missing.iter().collect(),
    };
    let names = match culprits.as_slice() {
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

/// Whether `ident` occurs in `text` as a whole identifier in a place that can fail: not only
/// under a test or a default (`if x`, `x is defined`, `x | default(..)`), which accept an
/// undefined value.
fn printed(text: &str, ident: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(ident).any(|(i, _)| {
        let (before, after) = (&text[..i], &text[i + ident.len()..]);
        if before.chars().next_back().is_some_and(is_ident)
            || after.chars().next().is_some_and(is_ident)
        {
            return false;
        }
        let after = after.trim_start();
        let before = before.trim_end();
        let guarded_after = after.starts_with("is ")
            || after
                .strip_prefix('|')
                .map(str::trim_start)
                .is_some_and(|f| {
                    f.starts_with("default") || f.starts_with("d(") || f.starts_with("d ")
                });
        let guarded_before = ["if", "elif", "and", "or", "not"]
            .iter()
            .any(|k| before.ends_with(k) && !before[..before.len() - k.len()].ends_with(is_ident));
        !(guarded_after || guarded_before)
    })
}
