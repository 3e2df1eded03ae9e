//! The ledger (checkpoint, entries, inclusion and consistency proofs) and the public signing
//! keys: what an auditor reads to verify the registry without trusting its database.

use axum::extract::State;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use promptreg_api::{
    CheckpointView, ConsistencyProofView, ConsistencyQuery, InclusionProofView, InclusionQuery,
    KeysView, LedgerEntries, LedgerEntriesQuery, LedgerEntryView, SigningKeyView,
};
use promptreg_store::SigningKeyRecord;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::AppQuery;

/// A query number that must not be negative (the document declares `minimum: 0`).
fn count(name: &str, value: i64) -> Result<u64, ApiError> {
    u64::try_from(value).map_err(|_| ApiError::bad_request(format!("{name} must not be negative")))
}

fn b64(hash: &[u8; 32]) -> String {
    B64.encode(hash)
}

pub(super) fn key_view(k: SigningKeyRecord) -> SigningKeyView {
    SigningKeyView {
        key_id: k.key_id,
        algorithm: k.algorithm,
        public_key: k.public_key,
        created_at: k.created_at,
        retired_at: k.retired_at,
    }
}

/// The caller's project's current checkpoint, signed as a C2SP note.
#[utoipa::path(get, path = "/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, body = CheckpointView), crate::responses::Auth))]
pub async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CheckpointView>, ApiError> {
    let signed = state.registry.checkpoint(&caller)?;
    Ok(Json(CheckpointView {
        origin: signed.checkpoint.origin,
        tree_size: signed.checkpoint.size,
        root_hash: b64(&signed.checkpoint.root),
        note: signed.note,
        key_id: signed.key_id,
        verifier_key: signed.verifier_key,
    }))
}

/// Leaves of the ledger from `start`: each change record (whose RFC 8785 canonical JSON is
/// the leaf) with its leaf hash.
#[utoipa::path(get, path = "/v1/ledger/entries", tag = "ledger", params(LedgerEntriesQuery),
    responses((status = 200, body = LedgerEntries), crate::responses::Auth, crate::responses::BadRequest))]
pub async fn entries(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<LedgerEntriesQuery>,
) -> Result<Json<LedgerEntries>, ApiError> {
    let start = count("start", q.start.unwrap_or(0))?;
    let limit = match q.limit.unwrap_or(100) {
        n @ 1..=1000 => n as u32,
        n => {
            return Err(ApiError::bad_request(format!(
                "limit must be 1 to 1000, not {n}"
            )))
        }
    };
    let (entries, tree_size) = state.registry.ledger_entries(&caller, start, limit).await?;
    let entries = entries
        .into_iter()
        .map(|e| LedgerEntryView {
            index: e.index,
            leaf: serde_json::from_str(&e.leaf).unwrap_or(serde_json::Value::String(e.leaf)),
            leaf_hash: b64(&e.leaf_hash),
        })
        .collect();
    Ok(Json(LedgerEntries { entries, tree_size }))
}

/// The inclusion proof of a leaf in a tree size (default: the current one).
#[utoipa::path(get, path = "/v1/ledger/proofs/inclusion", tag = "ledger", params(InclusionQuery),
    responses((status = 200, body = InclusionProofView), crate::responses::Auth, crate::responses::BadRequest))]
pub async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<InclusionQuery>,
) -> Result<Json<InclusionProofView>, ApiError> {
    let index = count("index", q.index)?;
    let tree_size = match q.tree_size {
        Some(size) => count("tree_size", size)?,
        None => state.registry.checkpoint(&caller)?.checkpoint.size,
    };
    let (leaf, hashes, root) = state.registry.inclusion_proof(&caller, index, tree_size)?;
    Ok(Json(InclusionProofView {
        index,
        tree_size,
        leaf_hash: b64(&leaf),
        hashes: hashes.iter().map(b64).collect(),
        root_hash: b64(&root),
    }))
}

/// The consistency proof between two tree sizes (`to` default: the current one).
#[utoipa::path(get, path = "/v1/ledger/proofs/consistency", tag = "ledger", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProofView), crate::responses::Auth, crate::responses::BadRequest))]
pub async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProofView>, ApiError> {
    let from = count("from", q.from)?;
    let to = match q.to {
        Some(size) => count("to", size)?,
        None => state.registry.checkpoint(&caller)?.checkpoint.size,
    };
    let (hashes, from_root, to_root) = state.registry.consistency_proof(&caller, from, to)?;
    Ok(Json(ConsistencyProofView {
        from,
        to,
        hashes: hashes.iter().map(b64).collect(),
        from_root: b64(&from_root),
        to_root: b64(&to_root),
    }))
}

/// Every public signing key, oldest first; retired keys stay (what they signed is valid).
#[utoipa::path(get, path = "/v1/keys", tag = "ledger",
    responses((status = 200, body = KeysView), crate::responses::Auth))]
pub async fn keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<KeysView>, ApiError> {
    let keys = state.registry.signing_keys(&caller).await?;
    Ok(Json(KeysView {
        keys: keys.into_iter().map(key_view).collect(),
    }))
}

/// Replaces the signing key with a new one and retires the old one (admin).
#[utoipa::path(post, path = "/v1/keys/signing/rotate", tag = "ledger",
    responses((status = 201, body = SigningKeyView), crate::responses::Auth))]
pub async fn rotate_signing(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(axum::http::StatusCode, Json<SigningKeyView>), ApiError> {
    let record = state.registry.rotate_signing_key(&caller).await?;
    Ok((axum::http::StatusCode::CREATED, Json(key_view(record))))
}
