//! Validation results attached to versions, environments' promotion gates, and the
//! validated-prompts query.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use promptreg_core::gates::GateSpec;
use promptreg_core::{Digest, EnvName, PromptName, Version};

/// One validation result (immutable once stored).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationRecord {
    /// Assigned by the store on insert (increasing: a later result has a larger id); ignored
    /// on write.
    pub id: i64,
    /// The prompt.
    pub name: PromptName,
    /// The version.
    pub version: Version,
    /// The version's digest when the result was attached.
    pub digest: Digest,
    /// The suite.
    pub suite: String,
    /// Whether it passed.
    pub passed: bool,
    /// Metric name to value.
    pub metrics: BTreeMap<String, f64>,
    /// Free details (a string or JSON), bounded by the service.
    pub details: Option<serde_json::Value>,
    /// The tool that produced the result.
    pub tool_name: String,
    /// Its version.
    pub tool_version: String,
    /// Who attached it.
    pub attached_by: String,
    /// When.
    pub attached_at: DateTime<Utc>,
}

/// An environment's promotion path and gates.
#[derive(Debug, Clone, PartialEq)]
pub struct GatesRecord {
    /// The environment.
    pub env: EnvName,
    /// The rules.
    pub spec: GateSpec,
    /// Who set them.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// What the validated-prompts query asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedQuery {
    /// The suite.
    pub suite: String,
    /// With an environment: only prompts whose validated version is not what it serves.
    pub env: Option<EnvName>,
}

/// A prompt with a version whose newest result for the suite passed.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedPrompt {
    /// The prompt.
    pub name: PromptName,
    /// Its newest version whose newest result for the suite passed.
    pub version: Version,
    /// That version's digest.
    pub digest: Digest,
    /// That result's id.
    pub validation_id: i64,
    /// When it was attached.
    pub attached_at: DateTime<Utc>,
    /// What the queried environment serves now (absent: nothing, or no environment asked).
    pub env_version: Option<Version>,
}
