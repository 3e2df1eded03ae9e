//! Outcome rows: the aggregated windows each replica persists and the ids of the events it
//! accepted (so that a restart still refuses a duplicate).
//!
//! Every row carries the `replica` that wrote it: a replica replaces only its own rows (full
//! replacement, an upsert), so replicas never race on a row, and readers merge rows across
//! replicas ([`ArmWindow::merge`]).

use chrono::{DateTime, Utc};
use promptreg_core::analysis::ArmWindow;
use promptreg_core::{EnvName, ProjectId, PromptName, Version};

/// One replica's outcomes of one version in one environment over one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionWindowRow {
    /// Tenant.
    pub project: ProjectId,
    /// Environment.
    pub env: EnvName,
    /// Prompt.
    pub name: PromptName,
    /// Version.
    pub version: Version,
    /// Start of the minute (the event's time, truncated).
    pub minute: DateTime<Utc>,
    /// Which replica (process) wrote it.
    pub replica: String,
    /// The outcomes.
    pub window: ArmWindow,
}

/// One replica's outcomes of one arm of one rollout during one of its steps.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutWindowRow {
    /// Tenant.
    pub project: ProjectId,
    /// Rollout id.
    pub rollout: String,
    /// The rollout's step when the outcomes arrived.
    pub step: u32,
    /// `stable`, `candidate` or `preview`.
    pub arm: String,
    /// Which replica (process) wrote it.
    pub replica: String,
    /// The outcomes.
    pub window: ArmWindow,
}

/// The 64-bit hashes of event ids one replica accepted in one flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeIdBatch {
    /// Tenant.
    pub project: ProjectId,
    /// Which replica accepted them.
    pub replica: String,
    /// When they were flushed (they are forgotten after the de-duplication window).
    pub at: DateTime<Utc>,
    /// The ids' hashes.
    pub hashes: Vec<u64>,
}

/// Hashes as stored: 8 little-endian bytes each.
pub fn hashes_to_bytes(hashes: &[u64]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
}

/// The inverse of [`hashes_to_bytes`] (a trailing partial hash is ignored).
pub fn hashes_from_bytes(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}
