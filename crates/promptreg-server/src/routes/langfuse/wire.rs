//! Langfuse's JSON shapes (prompt rows, the prompt list, projects, requests) and the mapping
//! between them and promptreg's content: `prompt` ↔ `template`/`messages`, `config` ↔ `model`.

use chrono::{DateTime, SecondsFormat, Utc};
use promptreg_core::{ChatEntry, PromptBody, PromptContent, PromptType};
use promptreg_store::VersionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::LangfuseError;

/// One prompt version as Langfuse returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptRow {
    /// `<name>@<version>`.
    pub id: String,
    /// Creation time, RFC 3339 with milliseconds.
    pub created_at: String,
    /// Same as `createdAt`: versions never change.
    pub updated_at: String,
    /// The promptreg project.
    pub project_id: String,
    /// The principal that created the version.
    pub created_by: String,
    /// Prompt name.
    pub name: String,
    /// Version number.
    pub version: i64,
    /// `text` or `chat`.
    #[serde(rename = "type")]
    pub prompt_type: &'static str,
    /// The template string, or the list of chat messages and placeholders.
    #[schema(schema_with = text_or_messages)]
    pub prompt: Value,
    /// The promptreg `model` object, `{}` when there is none.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Environments where this version is live, plus `latest` for the newest version.
    pub labels: Vec<String>,
    /// `metadata.tags` of the version.
    pub tags: Vec<String>,
    /// The commit message.
    pub commit_message: Option<String>,
    /// Whether `labels` contains `production`.
    pub is_active: bool,
    /// Always null: promptreg has no prompt composition.
    #[schema(value_type = Option<Object>)]
    pub resolution_graph: Option<Value>,
}

/// Langfuse's timestamp format.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The `config` of a version: its model object, or `{}`.
pub fn config(content: &PromptContent) -> Value {
    Value::Object(content.model().cloned().unwrap_or_default())
}

/// The row of a version carrying `labels`.
pub fn row(project: &str, v: VersionRecord, labels: Vec<String>) -> PromptRow {
    let prompt = match v.content.body() {
        PromptBody::Text(t) => Value::String(t.clone()),
        PromptBody::Chat(m) => serde_json::to_value(m).unwrap_or(Value::Null),
    };
    PromptRow {
        id: format!("{}@{}", v.name, v.version),
        created_at: timestamp(v.created_at),
        updated_at: timestamp(v.created_at),
        project_id: project.to_owned(),
        created_by: v.created_by,
        name: v.name.to_string(),
        version: v.version.get(),
        prompt_type: v.content.prompt_type().as_str(),
        prompt,
        config: config(&v.content),
        is_active: labels.iter().any(|l| l == "production"),
        labels,
        tags: v.metadata.tags,
        commit_message: v.commit_message,
        resolution_graph: None,
    }
}

/// `POST /api/public/v2/prompts` body, as the SDKs send it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePrompt {
    /// Prompt name.
    pub name: String,
    /// `text` (the default) or `chat`.
    #[serde(default, rename = "type")]
    pub prompt_type: Option<String>,
    /// A template string (text) or a list of messages and placeholders (chat).
    #[schema(schema_with = text_or_messages)]
    pub prompt: Value,
    /// Becomes the promptreg `model` object; `{}` or absent means none.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Environments to deploy the new version to.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Tags; null keeps the previous version's tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Commit message.
    #[serde(default)]
    pub commit_message: Option<String>,
}

impl CreatePrompt {
    /// The requested type.
    pub fn prompt_type(&self) -> Result<PromptType, LangfuseError> {
        match self.prompt_type.as_deref() {
            None | Some("text") => Ok(PromptType::Text),
            Some("chat") => Ok(PromptType::Chat),
            Some(other) => Err(LangfuseError::invalid(format!(
                "type: must be \"text\" or \"chat\", not {other:?}"
            ))),
        }
    }

    /// The template or messages of `prompt`, checked against the type.
    pub fn body(&self, kind: PromptType) -> Result<PromptBody, LangfuseError> {
        match (kind, &self.prompt) {
            (PromptType::Text, Value::String(t)) => Ok(PromptBody::Text(t.clone())),
            (PromptType::Chat, Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    chat_entry(m).map_err(|e| LangfuseError::invalid(format!("prompt[{i}]: {e}")))
                })
                .collect::<Result<_, _>>()
                .map(PromptBody::Chat),
            (PromptType::Text, _) => {
                Err(LangfuseError::invalid("prompt: a text prompt is a string"))
            }
            (PromptType::Chat, _) => Err(LangfuseError::invalid(
                "prompt: a chat prompt is a list of messages",
            )),
        }
    }

    /// The promptreg model: the config object, none when it is empty.
    pub fn model(&self) -> Result<Option<Value>, LangfuseError> {
        match &self.config {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) if m.is_empty() => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(_) => Err(LangfuseError::invalid("config: must be a JSON object")),
        }
    }
}

/// One Langfuse chat entry: `{role, content}` (optionally `"type": "chatmessage"`) or
/// `{"type": "placeholder", "name"}`.
fn chat_entry(v: &Value) -> Result<ChatEntry, &'static str> {
    let m = v.as_object().ok_or("a message is an object")?;
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    match m.get("type").and_then(Value::as_str) {
        Some("placeholder") => Ok(ChatEntry::Placeholder {
            name: text("name").ok_or("a placeholder needs a string `name`")?,
        }),
        None | Some("chatmessage" | "message") => Ok(ChatEntry::Message {
            role: text("role").ok_or("a message needs a string `role`")?,
            content: text("content").ok_or("a message needs a string `content`")?,
        }),
        Some(_) => Err("`type` is \"chatmessage\" or \"placeholder\""),
    }
}

/// Renames a promptreg content field to the Langfuse request field it came from.
pub fn langfuse_field(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("messages") {
        format!("prompt{rest}")
    } else if let Some(rest) = field.strip_prefix("model") {
        format!("config{rest}")
    } else if let Some(rest) = field.strip_prefix("metadata.") {
        rest.to_owned()
    } else {
        match field {
            "template" => "prompt".into(),
            "commit_message" => "commitMessage".into(),
            other => other.into(),
        }
    }
}

/// `PATCH /api/public/v2/prompts/{name}/versions/{version}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateLabels {
    /// Environments to deploy this version to.
    pub new_labels: Vec<String>,
}

/// One prompt in the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptMeta {
    /// Name.
    pub name: String,
    /// Type of the newest version.
    #[serde(rename = "type")]
    pub prompt_type: &'static str,
    /// Every version number, ascending.
    pub versions: Vec<i64>,
    /// Environments where some version is live, plus `latest`.
    pub labels: Vec<String>,
    /// Tags of the newest version.
    pub tags: Vec<String>,
    /// When the newest version was created.
    pub last_updated_at: String,
    /// Config of the newest version.
    #[schema(value_type = Object)]
    pub last_config: Value,
}

/// Page-number paging of the list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageMeta {
    /// Page, from 1.
    pub page: u64,
    /// Page size.
    pub limit: u64,
    /// Prompts matching the filters.
    pub total_items: u64,
    /// Pages of `limit`.
    pub total_pages: u64,
}

/// `GET /api/public/v2/prompts` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PromptMetaList {
    /// The page's prompts.
    pub data: Vec<PromptMeta>,
    /// Paging.
    pub meta: PageMeta,
    /// The same as `meta` (Langfuse keeps both).
    pub pagination: PageMeta,
}

/// `GET /api/public/projects` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Projects {
    /// The caller's project.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
}

impl Projects {
    /// The one project a key pair belongs to.
    pub fn of(project: &str) -> Self {
        let mut p = Map::new();
        p.insert("id".into(), project.into());
        p.insert("name".into(), project.into());
        p.insert(
            "organization".into(),
            serde_json::json!({"id": "promptreg", "name": "promptreg"}),
        );
        p.insert("metadata".into(), Value::Object(Map::new()));
        Projects {
            data: vec![Value::Object(p)],
        }
    }
}

/// The schema of Langfuse's `prompt`: a template string or a list of message objects.
fn text_or_messages() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)))
        .description(Some(
            "A template string (text) or a list of messages and placeholders (chat)",
        ))
        .build();
    Schema::OneOf(one_of)
}
