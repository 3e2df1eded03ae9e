//! Resolve and render: what agents call.

use promptreg_core::render::RenderedMessage;
use promptreg_core::{ChatEntry, PromptType, Version};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /v1/resolve/{name}?env=` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resolved {
    /// Prompt.
    pub name: String,
    /// Live version.
    #[schema(value_type = i64)]
    pub version: Version,
    /// Its digest (also the ETag).
    pub digest: String,
    /// `text` or `chat`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub prompt_type: PromptType,
    /// Text template.
    pub template: Option<String>,
    /// Chat messages.
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Vec<ChatEntry>>,
    /// Variables JSON Schema.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Value>,
    /// Model configuration.
    #[schema(value_type = Option<Object>)]
    pub model: Option<Value>,
    /// The environment resolved in.
    pub env: String,
    /// Which arm of a rollout this answer is (only with `subject` or `track`, while a rollout
    /// of this prompt is active in the environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Assignment>,
}

/// A subject's place in a rollout: report it with outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Assignment {
    /// The rollout id.
    pub rollout: String,
    /// `stable`, `candidate` or `preview`.
    pub arm: String,
    /// `murmur3_x86_32("<rollout>:<subject>") % 10000` (absent for `track=preview`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u32>,
    /// The rollout's current step.
    pub step: u32,
}

/// `POST /v1/resolve/{name}/render` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    /// Variables, checked against the version's schema.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub variables: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A rendered prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RenderedView {
    /// Prompt.
    pub name: String,
    /// Rendered version.
    #[schema(value_type = i64)]
    pub version: Version,
    /// Its digest.
    pub digest: String,
    /// Environment.
    pub env: String,
    /// `text` or `chat`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub prompt_type: PromptType,
    /// Rendered text (text prompts).
    pub text: Option<String>,
    /// Rendered messages (chat prompts).
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Vec<RenderedMessage>>,
    /// The rollout arm rendered (with `subject` or `track`, while a rollout is active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Assignment>,
}
