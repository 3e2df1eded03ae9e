//! Change requests: asking for, reviewing and applying a deploy into a protected environment.

use chrono::{DateTime, Utc};
use promptreg_core::Version;
use serde::{Deserialize, Serialize};

/// `POST /v1/change-requests` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChangeRequest {
    /// The protected environment.
    pub env: String,
    /// The prompt.
    pub prompt: String,
    /// The version to deploy there.
    #[schema(value_type = i64)]
    pub version: Version,
    /// Why (required, non-empty).
    pub reason: String,
}

/// `POST /v1/change-requests/{id}/approve` and `/reject` body (`comment` is required to
/// reject).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewChangeRequest {
    /// What the reviewer says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One review of a change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeReviewView {
    /// The reviewer (`<token id>:<token name>`).
    pub reviewer: String,
    /// `approve` or `reject`.
    pub verdict: String,
    /// What they said.
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A change request as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeRequestView {
    /// Id.
    pub id: String,
    /// The protected environment.
    pub env: String,
    /// The prompt.
    pub prompt: String,
    /// The version to deploy.
    #[schema(value_type = i64)]
    pub version: Version,
    /// Its digest.
    pub digest: String,
    /// Why.
    pub reason: String,
    /// `pending`, `approved`, `rejected`, `applied` or `expired`.
    pub status: String,
    /// Who asked.
    pub requested_by: String,
    /// Who created the version.
    pub version_author: String,
    /// How many approvals the environment requires now.
    pub approvals_required: u32,
    /// The approvals, oldest first.
    pub approvals: Vec<ChangeReviewView>,
    /// The rejections, oldest first.
    pub rejections: Vec<ChangeReviewView>,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// When it stops being applicable.
    pub expires_at: DateTime<Utc>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// Who applied it.
    pub applied_by: Option<String>,
    /// The rollout that applied it, when it was applied by starting one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
}

/// `POST /v1/change-requests/{id}/apply` answer: the request, now applied, and the deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppliedChange {
    /// The request.
    pub change_request: ChangeRequestView,
    /// The deployment record.
    pub deployment: crate::DeploymentView,
}
