//! Rollout records: a rollout's spec, its state and the controller's analysis memory.

use chrono::{DateTime, Utc};
use promptreg_core::rollout::{RolloutSpec, RolloutState, Status};
use promptreg_core::{ChangeEvent, Digest, EnvName, ProjectId, PromptName, Version};

/// One rollout of a candidate version in one environment's pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRecord {
    /// Id (a UUID v7, so ids sort by creation); also the bucketing group.
    pub id: String,
    /// Tenant.
    pub project: ProjectId,
    /// Environment.
    pub env: EnvName,
    /// Prompt.
    pub name: PromptName,
    /// The version live when the rollout started.
    pub stable_version: Version,
    /// Digest of the stable version.
    pub stable_digest: Digest,
    /// The version rolled out.
    pub candidate_version: Version,
    /// Digest of the candidate.
    pub candidate_digest: Digest,
    /// Strategy and analysis, as parsed.
    pub spec: RolloutSpec,
    /// Where it is.
    pub state: RolloutState,
    /// Bumped by every recorded change, so replicas apply rollout events in order.
    pub revision: i64,
    /// Why it was started.
    pub reason: Option<String>,
    /// Who started it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last recorded change.
    pub updated_at: DateTime<Utc>,
    /// The last analysis results and the analysis counters (the controller's memory), JSON.
    pub analysis: serde_json::Value,
}

impl RolloutRecord {
    /// Whether the rollout still serves a candidate share or a preview.
    pub fn is_active(&self) -> bool {
        !self.state.status.is_terminal()
    }

    /// The event announcing this record's current revision.
    pub fn event(&self, action: promptreg_core::rollout::RolloutAction) -> ChangeEvent {
        ChangeEvent::RolloutChanged {
            project: self.project.clone(),
            env: self.env.clone(),
            name: self.name.clone(),
            rollout: self.id.clone(),
            revision: self.revision,
            action,
            status: self.state.status,
            step: self.state.step,
            weight: self.state.weight,
            strategy: self.spec.strategy_name().to_owned(),
            switched: self.state.switched,
            stable_version: self.stable_version,
            candidate_version: self.candidate_version,
            candidate_digest: self.candidate_digest.clone(),
        }
    }
}

/// Rollout list filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutFilter {
    /// Only this environment.
    pub env: Option<EnvName>,
    /// Only this prompt.
    pub name: Option<PromptName>,
    /// Only rollouts in this state.
    pub status: Option<Status>,
}
