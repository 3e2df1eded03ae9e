//! Snapshots and export bundles: a project's registry as plain data (what `promptreg verify`
//! checks and `promptreg import` restores), and the bundle that carries one with the server's
//! signature (`POST /v1/export/sign`, `POST /v1/import`).

use chrono::{DateTime, Utc};
use promptreg_core::Digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    CatalogEntry, CheckpointView, DeploymentView, EnvironmentView, SigningKeyView, VersionView,
};

/// The `format` of a version-1 snapshot.
pub const SNAPSHOT_FORMAT: &str = "promptreg-snapshot/v1";
/// The `format` of a version-1 export bundle.
pub const BUNDLE_FORMAT: &str = "promptreg-bundle/v1";

/// One leaf of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerLeaf {
    /// The leaf index (event `seq - 1`).
    pub index: u64,
    /// The change record; its RFC 8785 canonical JSON is the leaf's bytes.
    pub leaf: Value,
}

/// Every move of one pointer, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointerHistory {
    /// The environment.
    pub env: String,
    /// The prompt.
    pub name: String,
    /// The deployment records, by `seq`.
    pub moves: Vec<DeploymentView>,
}

/// What is live in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentCatalog {
    /// The environment.
    pub env: String,
    /// Its live pointers, by prompt name.
    pub entries: Vec<CatalogEntry>,
}

/// A project's registry as an auditor reads it: keys, the signed checkpoint, every ledger
/// leaf, every version with its content, every environment, every pointer's history and the
/// live catalog. Serialised as `{"format": "promptreg-snapshot/v1", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_FORMAT`] for this layout.
    pub format: String,
    /// The public signing keys the registry lists (retired ones included).
    pub keys: Vec<SigningKeyView>,
    /// The signed checkpoint the leaves add up to.
    pub checkpoint: CheckpointView,
    /// Leaves `0..checkpoint.tree_size`, in order.
    pub leaves: Vec<LedgerLeaf>,
    /// Every environment.
    pub environments: Vec<EnvironmentView>,
    /// Every version of every prompt, by name then version.
    pub versions: Vec<VersionView>,
    /// Versions the server would not serve, by name then version (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldVersion>,
    /// Every pointer's deployment records.
    pub history: Vec<PointerHistory>,
    /// What is live, per environment.
    pub catalog: Vec<EnvironmentCatalog>,
}

/// A version the server would not serve (`GET` answered an error naming it, such as 409
/// `integrity_error` for content that no longer opens): the row exists, its fields are not
/// known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithheldVersion {
    /// The prompt.
    pub name: String,
    /// The version.
    pub version: promptreg_core::Version,
    /// The error code the server answered.
    pub code: String,
    /// The server's message.
    pub message: String,
}

/// Why a snapshot or bundle cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not JSON (a truncated file, say), or not the fields of a snapshot or bundle.
    #[error("not a promptreg snapshot or bundle: {0}")]
    Malformed(String),
    /// Another format (or version of it).
    #[error(
        "format {found:?} is not supported (expected {SNAPSHOT_FORMAT:?} or {BUNDLE_FORMAT:?})"
    )]
    Format {
        /// What the file says.
        found: String,
    },
}

impl Snapshot {
    /// Reads a snapshot's JSON, refusing other formats before reading any other field.
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        Self::from_value(parse(text)?)
    }

    /// [`Snapshot::from_json`] from parsed JSON.
    pub fn from_value(value: Value) -> Result<Self, SnapshotError> {
        expect_format(&value, SNAPSHOT_FORMAT)?;
        serde_json::from_value(value).map_err(|e| SnapshotError::Malformed(e.to_string()))
    }
}

/// An export bundle: a snapshot and the server's DSSE envelope over its digest
/// ([`snapshot_digest`]). The snapshot stays raw JSON here, so that its digest is computed over
/// exactly what the file holds (a field this build does not know still counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// The snapshot (`promptreg-snapshot/v1`).
    #[schema(value_type = Object)]
    pub snapshot: Value,
    /// A DSSE envelope over an in-toto statement whose subject is the snapshot's digest and
    /// whose predicate (`https://promptreg.dev/attestation/export/v1`) names the project, the
    /// tree size, the root and the time.
    #[schema(value_type = Object)]
    pub signature: Value,
}

impl Bundle {
    /// Reads a bundle's JSON, refusing other formats before reading any other field.
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        Self::from_value(parse(text)?)
    }

    /// [`Bundle::from_json`] from parsed JSON.
    pub fn from_value(value: Value) -> Result<Self, SnapshotError> {
        expect_format(&value, BUNDLE_FORMAT)?;
        serde_json::from_value(value).map_err(|e| SnapshotError::Malformed(e.to_string()))
    }

    /// The snapshot it carries.
    pub fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        Snapshot::from_value(self.snapshot.clone())
    }
}

/// SHA-256 of a snapshot's RFC 8785 canonical JSON: what a bundle's signature names.
pub fn snapshot_digest(snapshot: &Value) -> Digest {
    Digest::of_bytes(promptreg_core::content::canonical_json(snapshot).as_bytes())
}

fn parse(text: &str) -> Result<Value, SnapshotError> {
    serde_json::from_str(text).map_err(|e| SnapshotError::Malformed(e.to_string()))
}

fn expect_format(value: &Value, format: &str) -> Result<(), SnapshotError> {
    match value.get("format").and_then(Value::as_str) {
        Some(found) if found == format => Ok(()),
        found => Err(SnapshotError::Format {
            found: found.unwrap_or("(none)").to_owned(),
        }),
    }
}

/// `POST /v1/export/sign`: the digest of a snapshot the caller read, and the tree size its
/// checkpoint covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportSignRequest {
    /// `sha256:<hex>` of the snapshot's RFC 8785 canonical JSON.
    pub digest: String,
    /// The snapshot's `checkpoint.tree_size`; the server signs its own root at that size.
    pub tree_size: u64,
}

/// The answer of `POST /v1/export/sign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportSignature {
    /// The DSSE envelope (a bundle's `signature`).
    #[schema(value_type = Object)]
    pub signature: Value,
    /// The key that signed it.
    pub key_id: String,
}

/// The answer of `POST /v1/import`: what was restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportView {
    /// The ledger's origin in the bundle.
    pub origin: String,
    /// Ledger leaves (event log entries) restored.
    pub tree_size: u64,
    /// Base64 root of the restored ledger (the bundle's signed root).
    pub root_hash: String,
    /// Versions restored.
    pub versions: usize,
    /// Deployment records restored.
    pub deployments: usize,
    /// Environments restored.
    pub environments: usize,
    /// Signing keys listed (new ones are listed as retired).
    pub keys: usize,
    /// When the import committed.
    pub imported_at: DateTime<Utc>,
}
