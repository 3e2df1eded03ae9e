//! Outcomes agents report (`POST /v1/outcomes`) and the per-version figures read back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ErrorDetail;

/// Most events one `POST /v1/outcomes` may carry.
pub const MAX_OUTCOME_EVENTS: usize = 10_000;

/// `{"events": [...]}`. Events are kept as JSON values so that one malformed event is refused
/// alone, with its index, instead of failing the whole batch.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeBatch {
    /// At most 10,000 events ([`OutcomeEvent`]). Any JSON value is taken here: an item that
    /// is not a valid event is refused on its own, in `results`, and the others are counted.
    #[schema(value_type = Vec<serde_json::Value>)]
    pub events: Vec<serde_json::Value>,
}

/// One agent outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeEvent {
    /// The reporter's id of the event, for de-duplication (a repeated id is refused).
    pub id: String,
    /// Prompt name.
    pub prompt: String,
    /// Environment (default `production`).
    #[serde(default)]
    pub env: Option<String>,
    /// The version the agent ran (this or `digest` is required).
    #[serde(default)]
    pub version: Option<i64>,
    /// The digest of the version the agent ran.
    #[serde(default)]
    pub digest: Option<String>,
    /// The subject (agent or session id) it resolved with.
    #[serde(default)]
    pub subject: Option<String>,
    /// The rollout of the `assignment` the agent was served, if any.
    #[serde(default)]
    pub rollout: Option<String>,
    /// `stable`, `candidate` or `preview`, from the assignment.
    #[serde(default)]
    pub arm: Option<String>,
    /// Whether the agent's task succeeded.
    #[serde(default)]
    pub success: Option<bool>,
    /// The agent did something unsafe (default false).
    #[serde(default)]
    pub unsafe_action: Option<bool>,
    /// The agent broke a policy (default false).
    #[serde(default)]
    pub policy_violation: Option<bool>,
    /// End-to-end latency, ms (≥ 0).
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Cost (≥ 0).
    #[serde(default)]
    pub cost: Option<f64>,
    /// Quality score (finite).
    #[serde(default)]
    pub score: Option<f64>,
    /// Free-form id tying the event to a trace.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// When it happened (RFC 3339; default now).
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
}

/// The answer to a batch: every event accepted or refused, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeReport {
    /// Events accepted.
    pub accepted: usize,
    /// Events refused.
    pub rejected: usize,
    /// One entry per event, in the order sent.
    pub results: Vec<OutcomeResult>,
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeResult {
    /// Position in `events`.
    pub index: usize,
    /// The event's id, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Whether it was counted.
    pub accepted: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// Query of `GET /v1/prompts/{name}/versions/{version}/outcomes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutcomesQuery {
    /// Environment (default `production`).
    pub env: Option<String>,
    /// RFC 3339 start (default one hour ago); windows are whole minutes.
    pub since: Option<String>,
}

/// Quantiles of a distribution (within 1%).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quantiles {
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// A version's outcomes in one environment since a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionOutcomes {
    /// Prompt.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Environment.
    pub env: String,
    /// Start of the first minute counted.
    pub since: DateTime<Utc>,
    /// Events counted.
    pub samples: u64,
    /// Events with `success: true`.
    pub successes: u64,
    /// Events with `success: false`.
    pub failures: u64,
    /// successes / (successes + failures).
    pub success_rate: Option<f64>,
    /// Events with `unsafe_action`.
    pub unsafe_actions: u64,
    /// unsafe_actions / samples.
    pub unsafe_action_rate: Option<f64>,
    /// Events with `policy_violation`.
    pub policy_violations: u64,
    /// policy_violations / samples.
    pub policy_violation_rate: Option<f64>,
    /// Latency quantiles, ms.
    pub latency_ms: Quantiles,
    /// Cost quantiles (p50, p99).
    pub cost: Quantiles,
    /// Mean score.
    pub score_mean: Option<f64>,
}
