//! Rendering with minijinja: sandboxed, strict about undefined variables, bounded by fuel.
//!
//! The server's render endpoint and the agent SDK call the same [`render`], so a prompt renders
//! identically wherever it is rendered. Templates are Jinja (`{{ var }}`, `{% if %}`, filters);
//! there is no file loader, no include from disk and no access to host objects, and a fuel limit
//! stops runaway loops.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

use crate::content::{ChatEntry, PromptBody, PromptContent};
use crate::schema::VariableError;

/// Upper bound on template execution steps: generous for prompts, fatal for runaway loops.
const FUEL: u64 = 200_000;

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
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Checks that a template parses; the error carries the line.
pub fn check_template(source: &str) -> Result<(), String> {
    environment()
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

/// Validates `variables` against the content's schema, then renders it.
pub fn render(content: &PromptContent, variables: &Value) -> Result<Rendered, RenderError> {
    if !variables.is_object() {
        return Err(RenderError::Template {
            field: "variables".into(),
            message: "must be an object".into(),
        });
    }
    if let Some(schema) = content.variables() {
        schema.validate(variables).map_err(RenderError::Invalid)?;
    }
    let env = environment();
    let ctx = minijinja::Value::from_serialize(variables);
    let run = |field: String, source: &str| {
        env.render_str(source, ctx.clone())
            .map_err(|e| RenderError::Template {
                field,
                message: describe(e),
            })
    };
    match content.body() {
        PromptBody::Text(t) => Ok(Rendered::Text(run("template".into(), t)?)),
        PromptBody::Chat(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                match entry {
                    ChatEntry::Message { role, content } => out.push(RenderedMessage {
                        role: role.clone(),
                        content: run(format!("messages[{i}].content"), content)?,
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
mod tests {
    use serde_json::json;

    use super::*;

    fn text(t: &str, schema: Option<Value>) -> PromptContent {
        PromptContent::new(PromptBody::Text(t.into()), schema, None).unwrap()
    }

    #[test]
    fn renders_variables_and_jinja_control_flow() {
        let c = text(
            "Hello {{ name }}{% if vip %}, welcome back{% endif %}!",
            None,
        );
        let out = render(&c, &json!({"name": "Ada", "vip": true})).unwrap();
        assert_eq!(out, Rendered::Text("Hello Ada, welcome back!".into()));
    }

    #[test]
    fn undefined_variables_are_errors() {
        let c = text("Hello {{ name }}", None);
        let err = render(&c, &json!({})).unwrap_err();
        assert!(
            matches!(err, RenderError::Template { ref field, .. } if field == "template"),
            "{err}"
        );
    }

    #[test]
    fn schema_is_checked_before_rendering() {
        let c = text(
            "{{ n }}",
            Some(
                json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
            ),
        );
        let err = render(&c, &json!({"n": "x"})).unwrap_err();
        assert!(err.to_string().contains("variables.n"), "{err}");
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let c = text(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            None,
        );
        assert!(render(&c, &json!({})).is_err());
    }

    #[test]
    fn chat_placeholders_inject_history() {
        let c = PromptContent::new(
            PromptBody::Chat(vec![
                ChatEntry::Message {
                    role: "system".into(),
                    content: "You help {{ team }}.".into(),
                },
                ChatEntry::Placeholder {
                    name: "history".into(),
                },
            ]),
            None,
            None,
        )
        .unwrap();
        let out = render(
            &c,
            &json!({"team": "support", "history": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap();
        let Rendered::Chat(m) = out else {
            panic!("chat expected")
        };
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].content, "You help support.");
        assert_eq!(m[1].role, "user");
        let err = render(&c, &json!({"team": "x"})).unwrap_err();
        assert!(err.to_string().contains("variables.history"));
    }
}
