//! The ledger and the signing keys as an auditor reads them. Hashes are standard base64,
//! proofs are in RFC 6962 order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /v1/ledger/checkpoint`: the caller's project's current tree head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointView {
    /// The log's origin line (`<ledger name>/<project>`).
    pub origin: String,
    /// Leaves in the tree.
    pub tree_size: u64,
    /// Base64 RFC 6962 root hash.
    pub root_hash: String,
    /// The checkpoint as a C2SP signed note (origin, size, root, then the signature line).
    pub note: String,
    /// The signing key's id (as in `GET /v1/keys`).
    pub key_id: String,
    /// The note verifier key (`<name>+<hex key id>+<base64 key>`), for C2SP tooling.
    pub verifier_key: String,
}

/// Query of `GET /v1/ledger/entries`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerEntriesQuery {
    /// First leaf index (default 0).
    #[param(minimum = 0)]
    pub start: Option<i64>,
    /// Leaves to return (default 100, 1 to 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One leaf: the canonical change record and its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntryView {
    /// Leaf index (the event's `seq - 1`).
    pub index: u64,
    /// The change record; its RFC 8785 canonical JSON is the leaf.
    #[schema(value_type = Object)]
    pub leaf: Value,
    /// Base64 `SHA-256(0x00 || canonical JSON)`.
    pub leaf_hash: String,
}

/// `GET /v1/ledger/entries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntries {
    /// Leaves from `start`, in order.
    pub entries: Vec<LedgerEntryView>,
    /// The tree's size when read.
    pub tree_size: u64,
}

/// Query of `GET /v1/ledger/proofs/inclusion`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// Leaf index.
    #[param(minimum = 0)]
    pub index: i64,
    /// Tree size to prove against (default: the current size).
    #[param(minimum = 0)]
    pub tree_size: Option<i64>,
}

/// An inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionProofView {
    /// Leaf index.
    pub index: u64,
    /// Tree size.
    pub tree_size: u64,
    /// Base64 leaf hash.
    pub leaf_hash: String,
    /// Base64 sibling hashes, leaf to root.
    pub hashes: Vec<String>,
    /// Base64 root hash of the tree of `tree_size` leaves.
    pub root_hash: String,
}

/// Query of `GET /v1/ledger/proofs/consistency`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size.
    #[param(minimum = 0)]
    pub from: i64,
    /// The newer tree size (default: the current size).
    #[param(minimum = 0)]
    pub to: Option<i64>,
}

/// A consistency proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProofView {
    /// Older size.
    pub from: u64,
    /// Newer size.
    pub to: u64,
    /// Base64 proof hashes (RFC 6962 order).
    pub hashes: Vec<String>,
    /// Base64 root of the older tree.
    pub from_root: String,
    /// Base64 root of the newer tree.
    pub to_root: String,
}

/// A public signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SigningKeyView {
    /// What signatures name (`keyid` in DSSE envelopes).
    pub key_id: String,
    /// `ed25519`.
    pub algorithm: String,
    /// Base64 of the raw 32-byte public key.
    pub public_key: String,
    /// When it was first used.
    pub created_at: DateTime<Utc>,
    /// When a newer key replaced it (what it signed stays valid).
    pub retired_at: Option<DateTime<Utc>>,
}

/// `GET /v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeysView {
    /// Every key, oldest first.
    pub keys: Vec<SigningKeyView>,
}

/// `POST /v1/keys/kek/rotate`: what a key-encryption key rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KekRotationView {
    /// The new KEK's id (what wraps every data key now).
    pub kek_id: String,
    /// Data keys rewrapped by the new KEK (no ciphertext changed).
    pub rewrapped: u64,
    /// Versions stored in plaintext (written before encryption at rest) that were sealed.
    pub sealed: u64,
    /// KEKs retired: their files renamed `<file>.<id>.retired`, no longer loaded, safe to
    /// delete. Empty when some version could not be rewrapped (then the old KEKs stay).
    pub retired: Vec<String>,
    /// Versions that could not be opened (integrity errors), one line each.
    pub unreadable: Vec<String>,
}
