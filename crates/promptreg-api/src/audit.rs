//! The audit log: every change of a project, who made it, why, under which request, and the
//! state before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Filters of `GET /v1/audit` and `GET /v1/audit/export` (all optional, combined with AND).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Changes made by this actor: a token id, or a full `<token id>:<name>` actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Changes concerning this prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Changes concerning this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// An action (`deploy`, `rollback`, `version_created`, `rollout_aborted`, ...) or an event
    /// kind (`pointer_moved`, `rollout_changed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Changes at or after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Changes before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// 1-500, default 50 (ignored by the export, which returns every match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// An opaque cursor from a previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One change, as the audit log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Its position in the project's log (and ledger leaf `seq - 1`).
    pub seq: i64,
    /// When it was committed.
    pub at: DateTime<Utc>,
    /// Who made it (`<token id>:<token name>`).
    pub actor: String,
    /// What was done (`deploy`, `rollback`, `version_created`, `rollout_started`, ...).
    pub action: String,
    /// The event kind (`pointer_moved`, `rollout_changed`, ...).
    pub kind: String,
    /// The prompt it concerns, if one.
    pub prompt: Option<String>,
    /// The environment it concerns, if one.
    pub env: Option<String>,
    /// What it changed (`pointer:production/support/triage`, `rollout:<id>`, `token:<id>`).
    pub subject: String,
    /// The subject's state before the change (null: it did not exist).
    #[schema(value_type = Option<Object>)]
    pub before: serde_json::Value,
    /// The subject's state after the change (null: it is gone).
    #[schema(value_type = Option<Object>)]
    pub after: serde_json::Value,
    /// Why, as the caller said.
    pub reason: Option<String>,
    /// The request that made it (`x-request-id`).
    pub request_id: Option<String>,
    /// The ids of the policies that allowed it (`docs/permissions.md`); null for changes
    /// recorded before decisions were (and for the server's own, such as first start-up).
    pub policies: Option<Vec<String>>,
    /// The change event exactly as the ledger records it.
    #[schema(value_type = Object)]
    pub change: serde_json::Value,
}
