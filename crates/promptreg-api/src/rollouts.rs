//! Rollouts: start one, command it, read it.

use chrono::{DateTime, Utc};
use promptreg_core::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/environments/{env}/prompts/{name}/rollouts` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRollout {
    /// The version to roll out (the version live now is the stable one).
    #[schema(value_type = i64)]
    pub candidate: Version,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `{"canary": {"steps": [...]}}`, `{"blue_green": {...}}` or `{"immediate": {}}`.
    #[schema(value_type = Object)]
    pub strategy: Value,
    /// Background analysis through the whole rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub analysis: Option<Value>,
    /// An approved change request for this environment, prompt and candidate: required to
    /// start a rollout in a protected environment; starting the rollout applies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_request: Option<String>,
}

/// Body of `POST /v1/rollouts/{id}/promote|pause|resume|abort|skip-analysis` (may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutCommandRequest {
    /// Why (recorded with the actor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `promote` only: make the candidate live now, skipping every remaining step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<bool>,
}

/// A rollout as `GET /v1/rollouts/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RolloutView {
    /// Id (UUID v7); also the bucketing group.
    pub id: String,
    /// Environment.
    pub env: String,
    /// Prompt.
    pub name: String,
    /// The version live when it started.
    #[schema(value_type = i64)]
    pub stable_version: Version,
    /// Its digest.
    pub stable_digest: String,
    /// The version rolled out.
    #[schema(value_type = i64)]
    pub candidate_version: Version,
    /// Its digest.
    pub candidate_digest: String,
    /// `canary`, `blue_green` or `immediate`.
    pub strategy_name: String,
    /// The strategy as parsed (durations normalised).
    #[schema(value_type = Object)]
    pub strategy: Value,
    /// The background analysis as parsed.
    #[schema(value_type = Option<Object>)]
    pub analysis: Option<Value>,
    /// `progressing`, `paused`, `promoted`, `aborted` or `rolled_back`.
    pub status: String,
    /// Why it is paused: `manual`, `pause_step`, `approval`, `inconclusive`, `min_sample`.
    pub paused_reason: Option<String>,
    /// The current step (canary: index into the steps; blue-green: 0 before the switch, 1 after).
    pub step: u32,
    /// Number of canary steps.
    pub steps_total: u32,
    /// Share of subjects served the candidate, in 1/10,000.
    pub weight: u32,
    /// When the current step began.
    pub step_started_at: DateTime<Utc>,
    /// Whether the pointer is on the candidate.
    pub switched: bool,
    /// Whether a person skipped analysis.
    pub analysis_skipped: bool,
    /// Why it was started.
    pub reason: Option<String>,
    /// Who started it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last recorded change.
    pub updated_at: DateTime<Utc>,
    /// Bumped by every recorded change.
    pub revision: i64,
    /// Outcome counts per arm (`stable`, `candidate`), whole rollout and current step.
    #[schema(value_type = Object)]
    pub arms: Value,
    /// The last analysis results, with the figures behind each.
    #[schema(value_type = Object)]
    pub analysis_results: Value,
}
