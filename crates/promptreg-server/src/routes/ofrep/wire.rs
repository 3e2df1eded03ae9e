//! OFREP's JSON shapes (OpenAPI 0.3.0 of open-feature/protocol), and the reading of its
//! request body.
//!
//! The body is read by hand rather than by serde so that each problem gets OFREP's own error
//! code: a body that is not a JSON object is a `PARSE_ERROR`, a context (or a field of it
//! promptreg reads) of the wrong type is an `INVALID_CONTEXT`. Other context attributes are
//! accepted and ignored, as OFREP's free-form context allows.

use serde::Serialize;
use serde_json::{Map, Value};

/// The request body of both evaluation routes (for the OpenAPI document; parsed by
/// [`Context::parse`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only describes the body in the OpenAPI document: never built or read.
pub struct EvaluationRequest {
    /// The evaluation context: `targetingKey` (the rollout subject), `env` (default
    /// `production`), for the bulk route `prefix`; other attributes are ignored.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
}

/// What promptreg reads from an evaluation context.
#[derive(Debug, Default)]
pub struct Context {
    /// `targetingKey`: the subject a rollout's sticky assignment is computed for.
    pub subject: Option<String>,
    /// `env`: the environment (default `production`).
    pub env: Option<String>,
    /// `prefix` (bulk only): only prompts whose name starts with it.
    pub prefix: Option<String>,
}

/// Why a request body was refused: `(errorCode, errorDetails)`.
pub type BodyError = (&'static str, String);

impl Context {
    /// Reads a request body. An absent `context` (`{}`, what an OFREP provider sends without
    /// any context) is an empty one.
    pub fn parse(body: &[u8]) -> Result<Context, BodyError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(parse_error(
                "a JSON body is required: {\"context\": {\"targetingKey\": ..., \"env\": ...}}",
            ));
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| parse_error(&format!("invalid JSON body: {e}")))?;
        let Value::Object(mut body) = value else {
            return Err(parse_error(
                "the body must be a JSON object with a `context` object",
            ));
        };
        let context = match body.remove("context") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(c)) => c,
            Some(other) => {
                return Err(invalid(format!(
                    "context: must be an object, got {}",
                    kind(&other)
                )))
            }
        };
        let subject = text(&context, "targetingKey", 512)?.filter(|s| !s.is_empty());
        Ok(Context {
            subject,
            env: text(&context, "env", 256)?,
            prefix: text(&context, "prefix", 256)?,
        })
    }
}

/// A string attribute of the context, at most `max` bytes, without NUL (which PostgreSQL
/// cannot store and no name holds).
fn text(
    context: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, BodyError> {
    match context.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > max => Err(invalid(format!(
            "context.{field}: must be at most {max} bytes"
        ))),
        Some(Value::String(s)) if s.contains('\0') => Err(invalid(format!(
            "context.{field}: must not contain the NUL character"
        ))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(format!(
            "context.{field}: must be a string, got {}",
            kind(other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_error(details: &str) -> BodyError {
    ("PARSE_ERROR", details.to_owned())
}

fn invalid(details: String) -> BodyError {
    ("INVALID_CONTEXT", details)
}

/// What an evaluation says about the prompt version (all flat, as OFREP's metadata must be).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct FlagMetadata {
    /// The environment evaluated.
    pub env: String,
    /// The version served (absent when `DISABLED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The active rollout (`SPLIT`, `TARGETING_KEY_MISSING`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    /// The subject's arm: `stable` or `candidate` (`SPLIT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// The subject's bucket, 0-9999 (`SPLIT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u32>,
    /// The rollout's current step (`SPLIT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
}

/// A successful evaluation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlagEvaluation {
    /// The flag key: the prompt name.
    pub key: String,
    /// The resolved prompt, exactly `GET /v1/resolve`'s answer (with `assignment` when
    /// `SPLIT`); absent when `DISABLED` (the caller's default applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    /// `STATIC`, `SPLIT` or `DISABLED`.
    pub reason: &'static str,
    /// `v<version>`, or `disabled`.
    pub variant: String,
    /// Version, digest, environment and rollout.
    pub metadata: FlagMetadata,
}

/// A failed evaluation (OFREP's `evaluationFailure`, `flagNotFound` and error bodies).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlagFailure {
    /// The flag key (absent for a bulk request's own failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `PARSE_ERROR`, `INVALID_CONTEXT`, `TARGETING_KEY_MISSING`, `FLAG_NOT_FOUND` or
    /// `GENERAL`.
    #[serde(rename = "errorCode")]
    pub error_code: &'static str,
    /// Human text naming the problem.
    #[serde(rename = "errorDetails")]
    pub error_details: String,
    /// With `TARGETING_KEY_MISSING` only: the live (stable) prompt a subject-less resolve
    /// answers, for plain HTTP clients (OpenFeature SDKs return the caller's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    /// With `TARGETING_KEY_MISSING`: `v<version>` of that value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// With `TARGETING_KEY_MISSING`: the value's version and the rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<FlagMetadata>,
}

/// One item of a bulk answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BulkItem {
    /// Evaluated.
    Success(FlagEvaluation),
    /// Not evaluated (`TARGETING_KEY_MISSING`).
    Failure(FlagFailure),
}

/// What a bulk answer says about the set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkMetadata {
    /// The environment evaluated.
    pub env: String,
    /// How many live prompts matched (more than `flags` holds when `truncated`).
    pub total: usize,
    /// Whether the server's limit (`--ofrep-max-flags`) cut the list: narrow it with
    /// `context.prefix`.
    pub truncated: bool,
}

/// The bulk answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkEvaluation {
    /// Every prompt live in the environment (matching `prefix`), by name.
    pub flags: Vec<BulkItem>,
    /// About the set.
    pub metadata: BulkMetadata,
}
