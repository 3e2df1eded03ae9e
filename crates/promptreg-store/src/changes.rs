//! Change requests and their reviews, as stored.

use chrono::{DateTime, Utc};
use promptreg_core::change::{ChangeStatus, Verdict};
use promptreg_core::{Digest, EnvName, PromptName, Version};

/// A request to deploy a version into a protected environment, with its reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequestRecord {
    /// Id (a UUIDv7: newer ids sort after older ones).
    pub id: String,
    /// Environment.
    pub env: EnvName,
    /// Prompt.
    pub name: PromptName,
    /// Version to deploy.
    pub version: Version,
    /// Its digest.
    pub digest: Digest,
    /// Why (required).
    pub reason: String,
    /// The stored status (never `expired`: expiry is read from `expires_at`).
    pub status: ChangeStatus,
    /// Who asked (`<token id>:<token name>`).
    pub requested_by: String,
    /// Who created the version (its `created_by`).
    pub author: String,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// When it stops being applicable.
    pub expires_at: DateTime<Utc>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// Who applied it.
    pub applied_by: Option<String>,
    /// The rollout that applied it, when it was applied by starting one.
    pub rollout: Option<String>,
    /// Its reviews, oldest first.
    pub reviews: Vec<ChangeReviewRecord>,
}

impl ChangeRequestRecord {
    /// How many approvals it has.
    pub fn approvals(&self) -> u32 {
        let n = self
            .reviews
            .iter()
            .filter(|r| r.verdict == Verdict::Approve)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// One reviewer's answer to a change request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeReviewRecord {
    /// The reviewer's principal (token) id: one review per principal.
    pub reviewer_id: String,
    /// The reviewer (`<token id>:<token name>`).
    pub reviewer: String,
    /// Approve or reject.
    pub verdict: Verdict,
    /// What they said.
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Which change requests a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeRequestFilter {
    /// Only this effective status (`expired` and `pending`/`approved` are told apart by
    /// `now`).
    pub status: Option<ChangeStatus>,
    /// Only this environment.
    pub env: Option<EnvName>,
    /// Only this prompt.
    pub name: Option<PromptName>,
    /// The time expiry is judged at.
    pub now: DateTime<Utc>,
}
