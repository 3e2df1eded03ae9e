//! Rendering with minijinja: sandboxed, semi-strict about undefined variables, and bounded.
//!
//! The server's render endpoint and the agent SDK call the same [`render`], so a prompt renders
//! identically wherever it is rendered. Templates are Jinja (`{{ var }}`, `{% if %}`, filters);
//! there is no file loader, no include from disk and no access to host objects.
//!
//! - `limits`: [`RenderLimits`] and the per-render budget that every bound charges;
//! - `sandbox`: the environment, with the allocating builtins replaced by checked versions;
//! - `undefined`: names the variable behind an "undefined value" error;
//! - `static_check`: refuses, at publish time, constant arguments that exceed the limits.
//!
//! Optional variables work the Jinja way: `{% if vip %}`, `vip is defined` and
//! `vip | default(..)` accept an absent `vip`, while printing it is an error naming it.

mod limits;
mod sandbox;
mod static_check;
mod undefined;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

pub use self::limits::RenderLimits;
use self::limits::{BoundedWriter, Budget};
use crate::content::{ChatEntry, PromptBody, PromptContent};
use crate::schema::VariableError;

/// A rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Rendered {
    /// The text of a text prompt.
    Text(String),
    /// The messages of a chat prompt, placeholders replaced by the injected messages.
    Chat(Vec<RenderedMessage>),
}

/// One rendered chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RenderedMessage {
    /// The message role.
    pub role: String,
    /// The rendered content.
    pub content: String,
}

/// Why a render failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Variables do not satisfy the version's schema.
    #[error("variables do not match the schema: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<VariableError>),
    /// The template referenced something missing or failed while running.
    #[error("{field}: {message}")]
    Template {
        /// `template`, `messages[i].content` or `variables.<placeholder>`.
        field: String,
        /// What went wrong.
        message: String,
    },
    /// The render would exceed one of the [`RenderLimits`].
    #[error("{field}: render limit {limit} exceeded: {message}")]
    Limit {
        /// `template` or `messages[i].content`.
        field: String,
        /// The limit's name: `max_output_bytes`, `max_fuel` or `max_size_argument`.
        limit: &'static str,
        /// What asked for too much, with the line.
        message: String,
    },
}

/// Checks that a template parses in the render environment; the error carries the line.
pub fn check_template(source: &str) -> Result<(), String> {
    check_template_with(source, &RenderLimits::default())
}

/// [`check_template`] under explicit limits: the template parses, and none of its constant
/// arguments already exceeds a limit (`indent(10**13)`, `'x' * 10**10`).
pub fn check_template_with(source: &str, limits: &RenderLimits) -> Result<(), String> {
    // First: the engine folds constant expressions while compiling, so `1 in [0] * 10**12`
    // would run (for hours) inside `template_from_str` itself.
    static_check::check(source, limits).map_err(|r| r.message)?;
    let budget = Arc::new(Budget::new(*limits));
    sandbox::environment(&budget)
        .template_from_str(source)
        .map(|_| ())
        .map_err(describe)
}

fn describe(e: minijinja::Error) -> String {
    let mut msg = e.to_string();
    if let Some(line) = e.line() {
        if !msg.contains("line") {
            msg.push_str(&format!(" (line {line})"));
        }
    }
    msg
}

/// Validates `variables` against the content's schema, then renders it under the default
/// [`RenderLimits`].
pub fn render(content: &PromptContent, variables: &Value) -> Result<Rendered, RenderError> {
    render_with(content, variables, &RenderLimits::default())
}

/// Renders one template into the shared budget.
fn run(
    env: &minijinja::Environment<'_>,
    budget: &Budget,
    field: String,
    source: &str,
    variables: &Value,
) -> Result<String, RenderError> {
    let template = |message| RenderError::Template {
        field: field.clone(),
        message,
    };
    // Versions published before a limit was lowered (or before the check existed) are checked
    // again: compiling folds constants, which must not run `1 in [0] * 10**12`.
    static_check::check(source, &budget.limits).map_err(|r| RenderError::Limit {
        field: field.clone(),
        limit: r.limit,
        message: r.message,
    })?;
    let tmpl = env
        .template_from_str(source)
        .map_err(|e| template(describe(e)))?;
    let mut out = BoundedWriter {
        buf: Vec::new(),
        budget,
    };
    let ctx = minijinja::Value::from_serialize(variables);
    match tmpl.render_captured_to(ctx, &mut out) {
        Ok(_) => String::from_utf8(out.buf).map_err(|e| template(e.to_string())),
        Err(e) => {
            if let Some(limit) = budget.tripped() {
                return Err(RenderError::Limit {
                    field,
                    limit,
                    message: describe(e),
                });
            }
            match e.kind() {
                minijinja::ErrorKind::OutOfFuel => Err(RenderError::Limit {
                    field,
                    limit: "max_fuel",
                    message: format!(
                        "the template ran more than {} steps{}",
                        budget.limits.max_fuel,
                        e.line().map(|l| format!(" (line {l})")).unwrap_or_default()
                    ),
                }),
                minijinja::ErrorKind::UndefinedError => {
                    let named = undefined::describe(&tmpl, source, variables, &e);
                    Err(template(named.unwrap_or_else(|| describe(e))))
                }
                // The engine's own cap on `"x" * n` (100 MB): far past any output bound.
                minijinja::ErrorKind::InvalidOperation
                    if e.to_string().contains("repeated string is too large") =>
                {
                    Err(RenderError::Limit {
                        field,
                        limit: "max_output_bytes",
                        message: describe(e),
                    })
                }
                _ => Err(template(describe(e))),
            }
        }
    }
}

/// Validates `variables` against the content's schema, then renders it within `limits`; the
/// output bound covers all messages of a chat prompt together.
pub fn render_with(
    content: &PromptContent,
    variables: &Value,
    limits: &RenderLimits,
) -> Result<Rendered, RenderError> {
    if !variables.is_object() {
        return Err(RenderError::Template {
            field: "variables".into(),
            message: "must be an object".into(),
        });
    }
    if let Some(schema) = content.variables() {
        schema.validate(variables).map_err(RenderError::Invalid)?;
    }
    let budget = Arc::new(Budget::new(*limits));
    let env = sandbox::environment(&budget);
    match content.body() {
        PromptBody::Text(t) => Ok(Rendered::Text(run(
            &env,
            &budget,
            "template".into(),
            t,
            variables,
        )?)),
        PromptBody::Chat(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                match entry {
                    ChatEntry::Message { role, content } => out.push(RenderedMessage {
                        role: role.clone(),
                        content: run(
                            &env,
                            &budget,
                            format!("messages[{i}].content"),
                            content,
                            variables,
                        )?,
                    }),
                    ChatEntry::Placeholder { name } => out.extend(injected(name, variables)?),
                }
            }
            Ok(Rendered::Chat(out))
        }
    }
}

/// The messages a placeholder is replaced with: `variables[name]`, a list of `{role, content}`.
fn injected(name: &str, variables: &Value) -> Result<Vec<RenderedMessage>, RenderError> {
    let field = format!("variables.{name}");
    let value = variables.get(name).ok_or_else(|| RenderError::Template {
        field: field.clone(),
        message: format!("placeholder {name:?} needs a list of messages (use [] for none)"),
    })?;
    serde_json::from_value(value.clone()).map_err(|e| RenderError::Template {
        field,
        message: format!("must be a list of {{\"role\", \"content\"}} messages: {e}"),
    })
}

#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod tests;
