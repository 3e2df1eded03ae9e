//! Webhook subscriptions, their delivery history, and the inbound abort hook.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /v1/webhooks` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are posted: an absolute `http` or `https` URL.
    pub url: String,
    /// Event names to deliver (see docs/api.md); absent or empty: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A webhook subscription (never with its secret, except in [`WebhookCreated`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// Id (`wh_…`).
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Event names delivered (empty: all).
    pub events: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The last event `seq` of the project's log it is done with.
    pub cursor: i64,
}

/// A created webhook: `secret` (for verifying signatures) is shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookCreated {
    /// The subscription.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The HMAC-SHA256 signing key; store it now, it cannot be shown again.
    pub secret: String,
}

/// One event's delivery to a webhook, across its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// The event's `seq` in the project's log (also in `Promptreg-Delivery`).
    pub seq: i64,
    /// The event name.
    pub event: String,
    /// `pending` (retrying), `delivered` (2xx) or `failed` (gave up).
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last answer's HTTP status, when there was one.
    pub response_code: Option<u16>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// First attempt.
    pub first_attempt_at: DateTime<Utc>,
    /// Last attempt.
    pub last_attempt_at: DateTime<Utc>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// How long the last attempt took, in milliseconds.
    pub duration_ms: i64,
}

/// `POST /v1/hooks/abort` body: `{"rollout", "reason"}`, `{"env", "prompt", "reason"}`, or an
/// Alertmanager webhook payload (`{"alerts": [...]}`, other Alertmanager fields ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboundAbort {
    /// A rollout id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    /// With `prompt`: abort that pointer's active rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// With `env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Why (recorded with the actor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Alertmanager's alerts: each firing one aborts the rollout its labels name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<Alert>>,
}

/// One Alertmanager alert (fields other than these are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// `firing` or `resolved`; only firing alerts abort.
    #[serde(default)]
    pub status: String,
    /// `rollout`, or `prompt` and `env`; `alertname` names the alert in the reason.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `summary` (or `description`) goes into the recorded reason.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// What `POST /v1/hooks/abort` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboundAbortResult {
    /// Rollouts aborted by this call.
    pub aborted: Vec<AbortedRollout>,
    /// Alerts that aborted nothing, and why (Alertmanager payloads only).
    pub skipped: Vec<SkippedAlert>,
}

/// A rollout aborted by the hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbortedRollout {
    /// The rollout id.
    pub rollout: String,
    /// Its environment.
    pub env: String,
    /// Its prompt.
    pub prompt: String,
    /// The reason recorded.
    pub reason: String,
}

/// An alert that did not abort a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkippedAlert {
    /// Its position in `alerts`.
    pub index: usize,
    /// Its `alertname` label, if any.
    pub alert: Option<String>,
    /// A snake_case code: `resolved`, `no_target`, `not_found`, `no_active_rollout`,
    /// `rollout_finished`, `forbidden`, ...
    pub code: String,
    /// Human text.
    pub message: String,
}
