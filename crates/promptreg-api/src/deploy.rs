//! Environments, deployment records and catalogs.

use chrono::{DateTime, Utc};
use promptreg_core::{DeployKind, Version};
use serde::{Deserialize, Serialize};

/// `POST /v1/environments` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// 1-63 characters, `[a-z0-9][a-z0-9._-]*`.
    pub name: String,
    /// A deploy into a protected environment needs an approved change request (or an
    /// admin's break-glass).
    #[serde(default)]
    pub protected: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How many approvals a change request into it needs (1-10, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals_required: Option<u32>,
}

/// `PATCH /v1/environments/{env}` body: what to change (at least one field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvironment {
    /// Whether deploys into it need an approved change request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
    /// How many approvals a change request into it needs (1-10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals_required: Option<u32>,
}

/// An environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentView {
    /// Name.
    pub name: String,
    /// Whether it is protected.
    pub protected: bool,
    /// Free text.
    pub description: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// How many approvals a change request into it needs (1 in exports older than it).
    #[serde(default = "one")]
    pub approvals_required: u32,
}

fn one() -> u32 {
    1
}

/// `PUT /v1/environments/{env}/prompts/{name}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The version to make live.
    #[schema(value_type = i64)]
    pub version: Version,
    /// Why (required with `break_glass`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An admin's deploy into a protected environment without an approved change request;
    /// flagged in the record, the history, the event log and a metric.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

/// `POST /v1/environments/{env}/prompts/{name}/rollback` body (may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// An earlier live version to go back to; default: the one live before the current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub to_version: Option<Version>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One move of an environment's pointer; never erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeploymentView {
    /// Environment.
    pub env: String,
    /// Prompt.
    pub name: String,
    /// Per-(env, prompt) counter from 1.
    pub seq: i64,
    /// Live before (null for the first deploy).
    #[schema(value_type = Option<i64>)]
    pub from_version: Option<Version>,
    /// Live after.
    #[schema(value_type = i64)]
    pub to_version: Version,
    /// Digest of `to_version`.
    pub digest: String,
    /// Who moved it.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// `deploy` or `rollback`.
    #[schema(value_type = String)]
    pub kind: DeployKind,
    /// On deploy: false when the version was already live and nothing was recorded (this is
    /// then the record that made it live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    /// The DSSE envelope signing the move's in-toto statement (absent for records older than
    /// signing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub signature: Option<serde_json::Value>,
    /// The move's leaf in the project's ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
    /// Under which authority a move into a protected environment was made:
    /// `change_request`, `break_glass` or `protected_rollback` (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// The change request it applied, when `approval` is `change_request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_request: Option<String>,
}

/// A prompt deployed in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CatalogEntry {
    /// Prompt.
    pub name: String,
    /// Live version.
    #[schema(value_type = i64)]
    pub version: Version,
    /// Its digest.
    pub digest: String,
    /// When it went live.
    pub deployed_at: DateTime<Utc>,
}
