//! The typed change events that every write produces.
//!
//! One write path: each store transaction that changes state records one of these, and the
//! server feeds the same value to its in-memory resolve index, to other replicas (PostgreSQL
//! `NOTIFY`) and, later, to the change stream and the ledger.

use serde::{Deserialize, Serialize};

use crate::analysis::Phase;
use crate::change::{Approval, ChangeStatus, Verdict};
use crate::content::Digest;
use crate::deploy::DeployKind;
use crate::name::{EnvName, ProjectId, PromptName, Version};
use crate::rollout::{AnalysisKind, RolloutAction, Status};

/// A change to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChangeEvent {
    /// A new version of a prompt was created.
    VersionCreated {
        /// The tenant.
        project: ProjectId,
        /// The prompt.
        name: PromptName,
        /// The new version.
        version: Version,
        /// Its content digest.
        digest: Digest,
        /// SHA-256 of the DSSE envelope that signs the version (absent before signing
        /// existed), so the ledger leaf commits to the signature too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Digest>,
    },
    /// An environment's pointer for a prompt moved (deploy or rollback).
    PointerMoved {
        /// The tenant.
        project: ProjectId,
        /// The environment.
        env: EnvName,
        /// The prompt.
        name: PromptName,
        /// Per-(env, prompt) record number.
        seq: i64,
        /// Live before.
        from_version: Option<Version>,
        /// Live after.
        to_version: Version,
        /// Digest of `to_version`.
        digest: Digest,
        /// Deploy or rollback.
        kind: DeployKind,
        /// SHA-256 of the DSSE envelope that signs the move (absent before signing existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Digest>,
        /// Under which authority a move into a protected environment was made (an applied
        /// change request, break-glass, or a rollback); absent otherwise, and in events
        /// written before approvals existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<Approval>,
    },
    /// An environment was created.
    EnvironmentCreated {
        /// The tenant.
        project: ProjectId,
        /// The new environment.
        env: EnvName,
    },
    /// A rollout was started or changed (step, pause, promotion, abort, automatic rollback).
    /// A pointer move that goes with it (promotion, blue-green switch) is its own
    /// `PointerMoved` event in the same transaction.
    RolloutChanged {
        /// The tenant.
        project: ProjectId,
        /// The environment.
        env: EnvName,
        /// The prompt.
        name: PromptName,
        /// The rollout id.
        rollout: String,
        /// The rollout's revision after the change (replicas apply rollout events in order).
        revision: i64,
        /// What happened.
        action: RolloutAction,
        /// Where the rollout is now.
        status: Status,
        /// Its current step.
        step: u32,
        /// Share of subjects on the candidate, in 1/10,000.
        weight: u32,
        /// `canary`, `blue_green` or `immediate`.
        strategy: String,
        /// Whether the pointer is on the candidate (promoted, or blue-green after its switch).
        switched: bool,
        /// The version live when it started.
        stable_version: Version,
        /// The version rolled out.
        candidate_version: Version,
        /// Digest of the candidate.
        candidate_digest: Digest,
    },
    /// A rollout's analysis reached a new verdict.
    AnalysisResult {
        /// The tenant.
        project: ProjectId,
        /// The environment.
        env: EnvName,
        /// The prompt.
        name: PromptName,
        /// The rollout id.
        rollout: String,
        /// Which analysis (background, step, post-promotion).
        analysis: AnalysisKind,
        /// The verdict.
        phase: Phase,
        /// One line on the figures behind it.
        summary: String,
    },
    /// A token or key pair was created.
    TokenCreated {
        /// The tenant.
        project: ProjectId,
        /// The token id.
        id: String,
    },
    /// A token or key pair was revoked.
    TokenRevoked {
        /// The tenant.
        project: ProjectId,
        /// The token id.
        id: String,
    },
    /// A webhook subscription was created (its secret is never part of an event).
    WebhookCreated {
        /// The tenant.
        project: ProjectId,
        /// The webhook id.
        id: String,
        /// Where deliveries go.
        url: String,
        /// The event names it receives (empty: all).
        events: Vec<String>,
    },
    /// A webhook subscription was deleted.
    WebhookDeleted {
        /// The tenant.
        project: ProjectId,
        /// The webhook id.
        id: String,
    },
    /// A version's content was pruned by the project's lifecycle rules: its ciphertext and
    /// wrapped data key were dropped (crypto-shredding); its name, digest, signature and
    /// ledger leaf stay, as a tombstone.
    VersionPruned {
        /// The tenant.
        project: ProjectId,
        /// The prompt.
        name: PromptName,
        /// The version.
        version: Version,
        /// Its content digest (which can no longer be recomputed).
        digest: Digest,
    },
    /// A project's lifecycle rules were set (both absent: no rules, nothing is pruned).
    LifecycleSet {
        /// The tenant.
        project: ProjectId,
        /// The newest versions of each prompt that always stay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keep_last: Option<u32>,
        /// The age (`30d`) within which a version created or live stays.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prune_unused_after: Option<String>,
    },
    /// A validation result was attached to a version (immutable; the newest result of a
    /// suite is the one gates read).
    ValidationAttached {
        /// The tenant.
        project: ProjectId,
        /// The prompt.
        name: PromptName,
        /// The version.
        version: Version,
        /// Its content digest.
        digest: Digest,
        /// The result's id.
        id: i64,
        /// The suite.
        suite: String,
        /// Whether it passed.
        passed: bool,
    },
    /// An environment's promotion path and gates were set (the spec itself is read with
    /// `GET /v1/environments/{env}/gates`; expressions are not copied into the log).
    EnvironmentGatesSet {
        /// The tenant.
        project: ProjectId,
        /// The environment.
        env: EnvName,
        /// The required predecessor, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        required_predecessor: Option<EnvName>,
        /// The gates' names.
        gates: Vec<String>,
    },
    // --- Change requests and approvals (protected environments).
    /// A change request was opened (a deploy into a protected environment, to be approved).
    ChangeRequested {
        /// The tenant.
        project: ProjectId,
        /// The request's id.
        id: String,
        /// The environment.
        env: EnvName,
        /// The prompt.
        name: PromptName,
        /// The version to deploy.
        version: Version,
        /// Its digest.
        digest: Digest,
    },
    /// A change request was approved or rejected by a reviewer.
    ChangeReviewed {
        /// The tenant.
        project: ProjectId,
        /// The request's id.
        id: String,
        /// What the reviewer said.
        verdict: Verdict,
        /// The request's status after the review.
        status: ChangeStatus,
    },
    /// A change request was applied (its `PointerMoved`, or its rollout's start, is in the
    /// same transaction).
    ChangeApplied {
        /// The tenant.
        project: ProjectId,
        /// The request's id.
        id: String,
        /// The rollout that applies it, when it was applied by starting one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rollout: Option<String>,
    },
    /// An environment's protection or approval count was changed.
    EnvironmentUpdated {
        /// The tenant.
        project: ProjectId,
        /// The environment.
        env: EnvName,
        /// Whether it is protected now.
        protected: bool,
        /// How many approvals a change request needs now.
        approvals_required: u32,
    },
    /// A project was created: the first event of its log (its first environments follow).
    ProjectCreated {
        /// The new tenant.
        project: ProjectId,
        /// What it is for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

impl ChangeEvent {
    /// The event's tenant.
    pub fn project(&self) -> &ProjectId {
        match self {
            ChangeEvent::VersionCreated { project, .. }
            | ChangeEvent::PointerMoved { project, .. }
            | ChangeEvent::EnvironmentCreated { project, .. }
            | ChangeEvent::RolloutChanged { project, .. }
            | ChangeEvent::AnalysisResult { project, .. }
            | ChangeEvent::TokenCreated { project, .. }
            | ChangeEvent::TokenRevoked { project, .. }
            | ChangeEvent::WebhookCreated { project, .. }
            | ChangeEvent::WebhookDeleted { project, .. }
            | ChangeEvent::VersionPruned { project, .. }
            | ChangeEvent::LifecycleSet { project, .. }
            | ChangeEvent::ValidationAttached { project, .. }
            | ChangeEvent::EnvironmentGatesSet { project, .. } => project,
            ChangeEvent::ChangeRequested { project, .. }
            | ChangeEvent::ChangeReviewed { project, .. }
            | ChangeEvent::ChangeApplied { project, .. }
            | ChangeEvent::EnvironmentUpdated { project, .. }
            | ChangeEvent::ProjectCreated { project, .. } => project,
        }
    }

    /// The short name stored with the event (`version_created`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            ChangeEvent::VersionCreated { .. } => "version_created",
            ChangeEvent::PointerMoved { .. } => "pointer_moved",
            ChangeEvent::EnvironmentCreated { .. } => "environment_created",
            ChangeEvent::RolloutChanged { .. } => "rollout_changed",
            ChangeEvent::AnalysisResult { .. } => "analysis_result",
            ChangeEvent::TokenCreated { .. } => "token_created",
            ChangeEvent::TokenRevoked { .. } => "token_revoked",
            ChangeEvent::WebhookCreated { .. } => "webhook_created",
            ChangeEvent::WebhookDeleted { .. } => "webhook_deleted",
            ChangeEvent::VersionPruned { .. } => "version_pruned",
            ChangeEvent::LifecycleSet { .. } => "lifecycle_set",
            ChangeEvent::ValidationAttached { .. } => "validation_attached",
            ChangeEvent::EnvironmentGatesSet { .. } => "environment_gates_set",
            ChangeEvent::ChangeRequested { .. } => "change_requested",
            ChangeEvent::ChangeReviewed { .. } => "change_reviewed",
            ChangeEvent::ChangeApplied { .. } => "change_applied",
            ChangeEvent::EnvironmentUpdated { .. } => "environment_updated",
            ChangeEvent::ProjectCreated { .. } => "project_created",
        }
    }
}

/// One entry of a project's event log: the change with who made it, why, when and in which
/// request. `seq` is dense per project (1, 2, 3… with no gaps), assigned by the store inside
/// the write's transaction, so a reader that has applied `seq` knows exactly what it missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The tenant whose log this belongs to.
    pub project: ProjectId,
    /// Position in the project's log, from 1, without gaps.
    pub seq: i64,
    /// When the change was committed (the writer's clock).
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who made it (`<token id>:<token name>`).
    pub actor: String,
    /// Why, when the caller said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request that made it, for correlating logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The ids of the authorization policies that allowed it (absent in events written
    /// before policies were recorded, and in changes the server makes on its own). The key
    /// sorts before `seq`, which the PostgreSQL store relies on (see its `events.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<String>>,
    /// What changed.
    pub change: ChangeEvent,
}

impl EventRecord {
    /// The stored form: RFC 8785 canonical JSON, so the same event always has the same bytes
    /// (what a ledger hashes, and what replicas receive).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json_canonicalizer::to_vec(self).unwrap_or_default()
    }

    /// Parses the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// An event before the store has placed it in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
    /// Which request.
    pub request_id: Option<String>,
    /// Under which policies.
    pub policies: Option<Vec<String>>,
    /// What.
    pub change: ChangeEvent,
}

impl EventDraft {
    /// The record at position `seq` of its project's log.
    pub fn at_seq(self, seq: i64) -> EventRecord {
        EventRecord {
            project: self.change.project().clone(),
            seq,
            at: self.at,
            actor: self.actor,
            reason: self.reason,
            request_id: self.request_id,
            policies: self.policies,
            change: self.change,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Version;

    #[test]
    fn canonical_bytes_round_trip_and_are_stable() {
        let record = EventRecord {
            project: ProjectId::default(),
            seq: 7,
            at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            actor: "tok:ci".into(),
            reason: Some("why".into()),
            request_id: None,
            policies: None,
            change: ChangeEvent::VersionCreated {
                project: ProjectId::default(),
                name: PromptName::parse("a/b").unwrap_or_else(|_| unreachable!()),
                version: Version::FIRST,
                digest: crate::Digest::of_bytes(b"x"),
                signature: None,
            },
        };
        let bytes = record.canonical_bytes();
        assert_eq!(EventRecord::from_bytes(&bytes).ok(), Some(record.clone()));
        assert_eq!(bytes, record.canonical_bytes());
        let text = String::from_utf8(bytes).unwrap_or_default();
        assert!(text.starts_with("{\"actor\":\"tok:ci\""), "{text}");
        // No policies: the bytes of an event written before they were recorded.
        assert!(!text.contains("policies"), "{text}");
        let mut decided = record.clone();
        decided.policies = Some(vec!["deployer-may-deploy".into()]);
        let text = String::from_utf8(decided.canonical_bytes()).unwrap_or_default();
        assert!(
            text.contains(",\"policies\":[\"deployer-may-deploy\"],\"project\":"),
            "{text}"
        );
        assert!(text.ends_with(",\"seq\":7}"), "{text}");
        assert_eq!(EventRecord::from_bytes(text.as_bytes()).ok(), Some(decided));
    }
}
