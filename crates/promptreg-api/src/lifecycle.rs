//! Retention: a project's lifecycle rules and pruning by them.

use chrono::{DateTime, Utc};
use promptreg_core::{PromptName, Version};
use serde::{Deserialize, Serialize};

/// `PUT /v1/lifecycle` body: the rules to set (both absent or null: no rules, nothing is
/// pruned).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLifecycle {
    /// The newest versions of each prompt that always stay (1 to 1,000,000; unset: 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub keep_last: Option<u32>,
    /// An age, a whole number and `d`, `h`, `m` or `s` (`"30d"`): a version created, or live
    /// anywhere, more recently stays.
    #[serde(default)]
    pub prune_unused_after: Option<String>,
}

/// `GET /v1/lifecycle` and the answer of `PUT`: the project's rules and who set them last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LifecycleView {
    /// The newest versions of each prompt that always stay (null: unset, which keeps 1).
    pub keep_last: Option<u32>,
    /// The age within which a version created or live stays (null: unset).
    pub prune_unused_after: Option<String>,
    /// Who set them (null: never set).
    pub updated_by: Option<String>,
    /// When.
    pub updated_at: Option<DateTime<Utc>>,
}

/// `POST /v1/prune` body (optional: no body prunes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneRequest {
    /// Only say what would be pruned; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A version pruned (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrunedVersionView {
    /// Prompt name.
    #[schema(value_type = String)]
    pub name: PromptName,
    /// Version number.
    #[schema(value_type = i64)]
    pub version: Version,
    /// Its digest (kept in the tombstone).
    pub digest: String,
    /// Why the rules let it go.
    pub reason: String,
    /// The ledger leaf of its `version_pruned` event (absent in a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

/// A version the rules would let go but something holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeldVersionView {
    /// Prompt name.
    #[schema(value_type = String)]
    pub name: PromptName,
    /// Version number.
    #[schema(value_type = i64)]
    pub version: Version,
    /// What holds it: `live in production`, `was deployed to the protected environment
    /// production`, `a rollback target in staging`, `the candidate of active rollout … in …`.
    pub holds: Vec<String>,
}

/// The answer of `POST /v1/prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PruneView {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The rules applied.
    pub keep_last: Option<u32>,
    /// The age applied.
    pub prune_unused_after: Option<String>,
    /// The time ages count back from (and the tombstones' `pruned_at`).
    pub at: DateTime<Utc>,
    /// What was (or would be) pruned, by prompt then version.
    pub pruned: Vec<PrunedVersionView>,
    /// What the rules would let go but is held, by prompt then version.
    pub held: Vec<HeldVersionView>,
}
