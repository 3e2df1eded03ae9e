//! Validation results, environments' promotion gates, and the validated-prompts query.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use promptreg_core::{PromptName, Version};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The tool (and its version) that produced a validation result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolRef {
    /// Tool name, e.g. `promptfoo`.
    pub name: String,
    /// Tool version, e.g. `0.90.1`.
    pub version: String,
}

/// `POST /v1/prompts/{name}/versions/{version}/validations` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachValidation {
    /// The suite (1-64 printable characters without spaces).
    pub suite: String,
    /// Whether the suite passed.
    pub passed: bool,
    /// Metric name to number (at most 64).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Free details: a string or any JSON, at most 16 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// The tool that produced the result.
    pub tool: ToolRef,
}

/// A stored validation result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationView {
    /// Its id (later results have larger ids).
    pub id: i64,
    /// Prompt name.
    #[schema(value_type = String)]
    pub name: PromptName,
    /// Version number.
    #[schema(value_type = i64)]
    pub version: Version,
    /// The digest of the version it applies to.
    pub digest: String,
    /// The suite.
    pub suite: String,
    /// Whether it passed.
    pub passed: bool,
    /// Metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Details as attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// The tool that produced it.
    pub tool: ToolRef,
    /// Who attached it.
    pub attached_by: String,
    /// When.
    pub attached_at: DateTime<Utc>,
}

/// A version's validation results, oldest first (all of them: not paged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationList {
    /// The results.
    pub items: Vec<ValidationView>,
}

/// One gate: a named CEL expression that must be true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GateView {
    /// Name (`[a-z0-9][a-z0-9._-]*`, up to 64 characters).
    pub name: String,
    /// The CEL expression (at most 2048 bytes).
    pub expression: String,
}

/// `PUT /v1/environments/{env}/gates` body (replaces the environment's rules).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGates {
    /// The environment a version must have been live in first.
    #[serde(default)]
    pub required_predecessor: Option<String>,
    /// How long (`"1h"`, `"30m"`), in total, it must have been live there.
    #[serde(default)]
    pub min_time_in_predecessor: Option<String>,
    /// The gates, all of which must hold.
    #[serde(default)]
    pub gates: Vec<GateView>,
}

/// An environment's promotion rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GatesView {
    /// The environment.
    pub env: String,
    /// Its required predecessor.
    pub required_predecessor: Option<String>,
    /// Minimum total time in the predecessor.
    pub min_time_in_predecessor: Option<String>,
    /// The gates.
    pub gates: Vec<GateView>,
    /// Who set them (the environment's creator when never set).
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// On a prompt listed with `?validated=<suite>`: its newest version whose newest result for
/// the suite passed, and what the `env` asked about serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidatedIn {
    /// The suite.
    pub suite: String,
    /// The validated version.
    #[schema(value_type = i64)]
    pub version: Version,
    /// Its digest.
    pub digest: String,
    /// The passing result's id.
    pub validation_id: i64,
    /// When it was attached.
    pub attached_at: DateTime<Utc>,
    /// The environment asked about (`&env=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// What that environment serves now (absent: nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub env_version: Option<Version>,
}
