//! The typed change events that every write produces.
//!
//! One write path: each store transaction that changes state records one of these, and the
//! server feeds the same value to its in-memory resolve index, to other replicas (PostgreSQL
//! `NOTIFY`) and, later, to the change stream and the ledger.

use serde::{Deserialize, Serialize};

use crate::content::Digest;
use crate::deploy::DeployKind;
use crate::name::{EnvName, ProjectId, PromptName, Version};

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
    },
    /// An environment was created.
    EnvironmentCreated {
        /// The tenant.
        project: ProjectId,
        /// The new environment.
        env: EnvName,
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
}

impl ChangeEvent {
    /// The event's tenant.
    pub fn project(&self) -> &ProjectId {
        match self {
            ChangeEvent::VersionCreated { project, .. }
            | ChangeEvent::PointerMoved { project, .. }
            | ChangeEvent::EnvironmentCreated { project, .. }
            | ChangeEvent::TokenCreated { project, .. }
            | ChangeEvent::TokenRevoked { project, .. } => project,
        }
    }

    /// The short name stored with the event (`version_created`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            ChangeEvent::VersionCreated { .. } => "version_created",
            ChangeEvent::PointerMoved { .. } => "pointer_moved",
            ChangeEvent::EnvironmentCreated { .. } => "environment_created",
            ChangeEvent::TokenCreated { .. } => "token_created",
            ChangeEvent::TokenRevoked { .. } => "token_revoked",
        }
    }
}
