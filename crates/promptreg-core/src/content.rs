//! The immutable content of a version and its content digest.
//!
//! Only `type`, `template`/`messages`, `variables` and `model` are content. The digest is
//! `sha256:` + hex SHA-256 of the RFC 8785 (JCS) serialisation of exactly those members, in that
//! order of meaning (JCS sorts keys), with absent or `null` members left out, so any client can
//! compute it offline and get the same answer as the server.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::render::check_template;
use crate::schema::VariablesSchema;

/// Whether a prompt is a single text template or a list of chat messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptType {
    /// A single template string.
    Text,
    /// A list of role-tagged messages and history placeholders.
    Chat,
}

impl PromptType {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptType::Text => "text",
            PromptType::Chat => "chat",
        }
    }
}

/// One entry of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEntry {
    /// A message whose `content` is a template.
    Message {
        /// `system`, `developer`, `user`, `assistant`, `tool`, ...
        role: String,
        /// The message template.
        content: String,
    },
    /// `{"type": "placeholder", "name": ...}`: where injected history goes at render time.
    Placeholder {
        /// The variable that carries the injected messages.
        name: String,
    },
}

impl Serialize for ChatEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = Map::new();
        match self {
            ChatEntry::Message { role, content } => {
                map.insert("role".into(), Value::String(role.clone()));
                map.insert("content".into(), Value::String(content.clone()));
            }
            ChatEntry::Placeholder { name } => {
                map.insert("type".into(), Value::String("placeholder".into()));
                map.insert("name".into(), Value::String(name.clone()));
            }
        }
        map.serialize(s)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChatEntry {
    #[serde(rename = "type")]
    kind: Option<String>,
    role: Option<String>,
    content: Option<String>,
    name: Option<String>,
}

impl<'de> Deserialize<'de> for ChatEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawChatEntry::deserialize(d)?;
        match (raw.kind.as_deref(), raw.role, raw.content, raw.name) {
            (Some("placeholder"), None, None, Some(name)) => Ok(ChatEntry::Placeholder { name }),
            (Some("placeholder"), ..) => Err(D::Error::custom(
                "a placeholder has exactly `type` and `name`",
            )),
            (None | Some("message"), Some(role), Some(content), None) => {
                Ok(ChatEntry::Message { role, content })
            }
            (Some(other), ..) if other != "message" => Err(D::Error::custom(format!(
                "unknown chat entry type {other:?} (expected \"message\" or \"placeholder\")"
            ))),
            _ => Err(D::Error::custom(
                "a chat message needs `role` and `content`",
            )),
        }
    }
}

/// The template part of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptBody {
    /// A text prompt's template.
    Text(String),
    /// A chat prompt's messages.
    Chat(Vec<ChatEntry>),
}

impl PromptBody {
    /// Text or chat.
    pub fn prompt_type(&self) -> PromptType {
        match self {
            PromptBody::Text(_) => PromptType::Text,
            PromptBody::Chat(_) => PromptType::Chat,
        }
    }

    /// The template of a text prompt.
    pub fn template(&self) -> Option<&str> {
        match self {
            PromptBody::Text(t) => Some(t),
            PromptBody::Chat(_) => None,
        }
    }

    /// The messages of a chat prompt.
    pub fn messages(&self) -> Option<&[ChatEntry]> {
        match self {
            PromptBody::Text(_) => None,
            PromptBody::Chat(m) => Some(m),
        }
    }
}

/// A refused piece of content; `field` names where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ContentError {
    /// The offending field, e.g. `template`, `messages[2].content`, `variables`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ContentError {
    /// A problem with one field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The immutable, digest-identified content of a version.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptContent {
    body: PromptBody,
    variables: Option<VariablesSchema>,
    model: Option<Map<String, Value>>,
}

/// Longest role name accepted in a chat message.
const MAX_ROLE_LEN: usize = 64;

impl PromptContent {
    /// Checks every template against `limits` (what a server configured with limits other
    /// than the defaults refuses at publish time), naming the field.
    pub fn check_templates(
        &self,
        limits: &crate::render::RenderLimits,
    ) -> Result<(), ContentError> {
        match &self.body {
            PromptBody::Text(t) => crate::render::check_template_with(t, limits)
                .map_err(|e| ContentError::new("template", e)),
            PromptBody::Chat(messages) => {
                for (i, m) in messages.iter().enumerate() {
                    if let ChatEntry::Message { content, .. } = m {
                        crate::render::check_template_with(content, limits)
                            .map_err(|e| ContentError::new(format!("messages[{i}].content"), e))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Checks every part of the content: templates parse, roles are sane, the variables schema
    /// is a valid JSON Schema and the model configuration is an object.
    pub fn new(
        body: PromptBody,
        variables: Option<Value>,
        model: Option<Value>,
    ) -> Result<Self, ContentError> {
        match &body {
            PromptBody::Text(t) => {
                check_template(t).map_err(|e| ContentError::new("template", e))?
            }
            PromptBody::Chat(messages) => {
                if messages.is_empty() {
                    return Err(ContentError::new(
                        "messages",
                        "a chat prompt needs at least one message",
                    ));
                }
                for (i, m) in messages.iter().enumerate() {
                    match m {
                        ChatEntry::Message { role, content } => {
                            if role.is_empty() || role.len() > MAX_ROLE_LEN {
                                return Err(ContentError::new(
                                    format!("messages[{i}].role"),
                                    format!("must be 1-{MAX_ROLE_LEN} characters"),
                                ));
                            }
                            check_template(content).map_err(|e| {
                                ContentError::new(format!("messages[{i}].content"), e)
                            })?;
                        }
                        ChatEntry::Placeholder { name } => {
                            if !is_identifier(name) {
                                return Err(ContentError::new(
                                    format!("messages[{i}].name"),
                                    "a placeholder name must be an identifier ([A-Za-z_][A-Za-z0-9_]*)",
                                ));
                            }
                        }
                    }
                }
            }
        }
        let variables = match variables {
            None | Some(Value::Null) => None,
            Some(v) => {
                Some(VariablesSchema::parse(v).map_err(|e| ContentError::new("variables", e))?)
            }
        };
        let model = match model {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                for key in ["provider", "name"] {
                    if m.get(key).is_some_and(|v| !v.is_string()) {
                        return Err(ContentError::new(
                            format!("model.{key}"),
                            "must be a string",
                        ));
                    }
                }
                if m.get("params").is_some_and(|v| !v.is_object()) {
                    return Err(ContentError::new("model.params", "must be an object"));
                }
                Some(m)
            }
            Some(_) => return Err(ContentError::new("model", "must be an object")),
        };
        Ok(Self {
            body,
            variables,
            model,
        })
    }

    /// Rebuilds content from its content object (`{"type", "template" | "messages",
    /// "variables", "model"}`), as stored by a backend or sent by a client; errors name the field.
    pub fn from_value(value: &Value) -> Result<Self, ContentError> {
        let (body, variables, model) = Self::fields(value)?;
        Self::new(body, variables, model)
    }

    /// Rebuilds content read back from the store, which accepted it through
    /// [`Self::from_value`] or [`Self::new`] when it was published: the shape is decoded, but
    /// templates are not parsed again and the variables schema is compiled on first use
    /// ([`VariablesSchema::stored`]), so that loading a large catalogue stays fast and small.
    /// Whatever is wrong with a stored value (an edit behind the server's back) shows when it
    /// is rendered or validated, as an error, never as a pass.
    pub fn from_stored(value: &Value) -> Result<Self, ContentError> {
        let (body, variables, model) = Self::fields(value)?;
        let variables = match variables {
            None | Some(Value::Null) => None,
            Some(v) => Some(VariablesSchema::stored(v)),
        };
        let model = match model {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(ContentError::new("model", "must be an object")),
        };
        Ok(Self {
            body,
            variables,
            model,
        })
    }

    /// The body, variables and model of a content object, decoded but not checked.
    #[allow(clippy::type_complexity)]
    fn fields(value: &Value) -> Result<(PromptBody, Option<Value>, Option<Value>), ContentError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ContentError::new("content", "must be an object"))?;
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "type" | "template" | "messages" | "variables" | "model"
            ) {
                return Err(ContentError::new(key.clone(), "is not a content field"));
            }
        }
        let body = match (
            obj.get("type").and_then(Value::as_str),
            obj.get("template"),
            obj.get("messages"),
        ) {
            (Some("text"), Some(Value::String(t)), None | Some(Value::Null)) => {
                PromptBody::Text(t.clone())
            }
            (Some("chat"), None | Some(Value::Null), Some(m)) => PromptBody::Chat(
                serde_json::from_value(m.clone())
                    .map_err(|e| ContentError::new("messages", e.to_string()))?,
            ),
            (Some("text"), ..) => {
                return Err(ContentError::new(
                    "template",
                    "a text prompt needs a string `template` and no `messages`",
                ))
            }
            (Some("chat"), ..) => {
                return Err(ContentError::new(
                    "messages",
                    "a chat prompt needs `messages` and no `template`",
                ))
            }
            _ => return Err(ContentError::new("type", "must be \"text\" or \"chat\"")),
        };
        Ok((
            body,
            obj.get("variables").cloned(),
            obj.get("model").cloned(),
        ))
    }

    /// The template or messages.
    pub fn body(&self) -> &PromptBody {
        &self.body
    }

    /// Text or chat.
    pub fn prompt_type(&self) -> PromptType {
        self.body.prompt_type()
    }

    /// The variables JSON Schema, if any.
    pub fn variables(&self) -> Option<&VariablesSchema> {
        self.variables.as_ref()
    }

    /// The model configuration, if any.
    pub fn model(&self) -> Option<&Map<String, Value>> {
        self.model.as_ref()
    }

    /// The content object whose canonical form is digested.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert(
            "type".into(),
            Value::String(self.prompt_type().as_str().into()),
        );
        match &self.body {
            PromptBody::Text(t) => {
                map.insert("template".into(), Value::String(t.clone()));
            }
            PromptBody::Chat(m) => {
                map.insert(
                    "messages".into(),
                    serde_json::to_value(m).unwrap_or(Value::Null),
                );
            }
        }
        if let Some(v) = &self.variables {
            map.insert("variables".into(), v.as_value().clone());
        }
        if let Some(m) = &self.model {
            map.insert("model".into(), Value::Object(m.clone()));
        }
        Value::Object(map)
    }

    /// RFC 8785 canonical JSON of the content.
    pub fn canonical_json(&self) -> String {
        canonical_json(&self.to_value())
    }

    /// The content digest.
    pub fn digest(&self) -> Digest {
        Digest::of_bytes(self.canonical_json().as_bytes())
    }
}

/// RFC 8785 (JCS) serialisation of a JSON value.
pub fn canonical_json(value: &Value) -> String {
    // A `serde_json::Value` always serialises; JCS only refuses non-finite numbers, which a
    // `Value` cannot hold.
    serde_json_canonicalizer::to_string(value).unwrap_or_default()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

/// `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Digest(String);

impl Digest {
    /// The digest of some bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or("a digest starts with \"sha256:\"")?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("a digest is \"sha256:\" followed by 64 lowercase hex digits".into());
        }
        Ok(Digest(s.to_owned()))
    }

    /// The full `sha256:...` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Digest::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
