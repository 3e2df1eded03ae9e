//! Versions, prompts and diffs.

use chrono::{DateTime, Utc};
use promptreg_core::content::ContentError;
use promptreg_core::{
    ChatEntry, Metadata, PromptBody, PromptContent, PromptName, PromptType, Version,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/prompts/{name}/versions` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    /// `text` or `chat`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "text")]
    pub prompt_type: PromptType,
    /// Template of a text prompt (minijinja syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Messages of a chat prompt: `{role, content}` or `{"type": "placeholder", "name"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Vec<ChatEntry>>,
    /// JSON Schema of the variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Value>,
    /// Model configuration `{provider, name, params}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub model: Option<Value>,
    /// Why this version exists, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    /// Provenance and compatibility metadata (not content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

/// Longest commit message accepted.
pub const MAX_COMMIT_MESSAGE: usize = 4096;

impl CreateVersion {
    /// A body from validated content (the CLI and SDK build requests this way).
    pub fn from_content(content: &PromptContent) -> Self {
        CreateVersion {
            prompt_type: content.prompt_type(),
            template: content.body().template().map(str::to_owned),
            messages: content.body().messages().map(<[ChatEntry]>::to_vec),
            variables: content.variables().map(|v| v.as_value().clone()),
            model: content.model().map(|m| Value::Object(m.clone())),
            commit_message: None,
            metadata: None,
        }
    }

    /// Checks the body and builds the content; errors name the field.
    pub fn content(&self) -> Result<PromptContent, ContentError> {
        let body = match (self.prompt_type, &self.template, &self.messages) {
            (PromptType::Text, Some(t), None) => PromptBody::Text(t.clone()),
            (PromptType::Chat, None, Some(m)) => PromptBody::Chat(m.clone()),
            (PromptType::Text, _, _) => {
                return Err(ContentError::new(
                    "template",
                    "a text prompt needs `template` and no `messages`",
                ))
            }
            (PromptType::Chat, _, _) => {
                return Err(ContentError::new(
                    "messages",
                    "a chat prompt needs `messages` and no `template`",
                ))
            }
        };
        if self
            .commit_message
            .as_ref()
            .is_some_and(|m| m.len() > MAX_COMMIT_MESSAGE)
        {
            return Err(ContentError::new(
                "commit_message",
                format!("at most {MAX_COMMIT_MESSAGE} bytes"),
            ));
        }
        if let Some(m) = &self.metadata {
            m.validate()?;
        }
        PromptContent::new(body, self.variables.clone(), self.model.clone())
    }
}

/// A stored version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionView {
    /// Prompt name.
    #[schema(value_type = String)]
    pub name: PromptName,
    /// Version number.
    #[schema(value_type = i64)]
    pub version: Version,
    /// `sha256:<hex>` of the canonical content.
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
    /// Commit message.
    pub commit_message: Option<String>,
    /// Metadata.
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    /// The version this one follows (lineage).
    #[schema(value_type = Option<i64>)]
    pub parent: Option<Version>,
    /// The principal that created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// On create: whether a new version was made (false: same content as the latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// The DSSE envelope signing the version's in-toto statement (absent for versions older
    /// than signing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub signature: Option<Value>,
    /// The version's leaf in the project's ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
    /// When the lifecycle rules pruned its content (lists only: the version is then a
    /// tombstone without content; `GET` of it answers 410 `pruned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned_at: Option<DateTime<Utc>>,
    /// The newest validation result of each suite, by suite (`GET` of one version only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validations: Option<Vec<crate::ValidationView>>,
}

impl VersionView {
    /// The version's content, rebuilt from the wire (for offline digest checks).
    pub fn content(&self) -> Result<PromptContent, ContentError> {
        CreateVersion {
            prompt_type: self.prompt_type,
            template: self.template.clone(),
            messages: self.messages.clone(),
            variables: self.variables.clone(),
            model: self.model.clone(),
            commit_message: None,
            metadata: None,
        }
        .content()
    }
}

/// A prompt in `GET /v1/prompts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromptSummary {
    /// Prompt name.
    #[schema(value_type = String)]
    pub name: PromptName,
    /// Its newest version number.
    #[schema(value_type = i64)]
    pub latest_version: Version,
    /// Digest of the newest version.
    pub latest_digest: String,
    /// `text` or `chat` (of the newest version).
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub prompt_type: PromptType,
    /// Tags of the newest version.
    pub tags: Vec<String>,
    /// When the newest version was created.
    pub updated_at: DateTime<Utc>,
    /// Where it is deployed.
    pub environments: Vec<DeployedIn>,
    /// With `?validated=<suite>`: the validated version (and what `env` serves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated: Option<crate::ValidatedIn>,
}

/// An environment a prompt is deployed to, and which version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeployedIn {
    /// Environment name.
    pub env: String,
    /// Live version there.
    #[schema(value_type = i64)]
    pub version: Version,
}

/// `GET /v1/prompts/{name}/diff`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiffView {
    /// Prompt name.
    pub name: String,
    /// Older version.
    #[schema(value_type = i64)]
    pub from: Version,
    /// Newer version.
    #[schema(value_type = i64)]
    pub to: Version,
    /// Digest of `from`.
    pub from_digest: String,
    /// Digest of `to`.
    pub to_digest: String,
    /// Unified diff of the content (empty when identical).
    pub diff: String,
    /// Changed metadata fields `{field, from, to}`.
    #[schema(value_type = Vec<Object>)]
    pub changed_fields: Vec<Value>,
    /// The diff hit its time bound: correct, but it may mark more lines as changed than a
    /// minimal diff would.
    #[serde(default)]
    pub approximate: bool,
    /// The diff text is incomplete (content too large to diff line by line, or cut at the
    /// output bound); its last line says which.
    #[serde(default)]
    pub truncated: bool,
}
