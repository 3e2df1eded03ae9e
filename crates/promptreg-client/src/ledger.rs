//! Signing keys and the ledger: what an auditor reads (`docs/api.md`, "Signatures and the
//! ledger"). [`crate::verify`] checks what these calls return.

use promptreg_api::{
    CheckpointView, ConsistencyProofView, InclusionProofView, KeysView, LedgerEntries,
    SigningKeyView,
};
use reqwest::Method;

use crate::{Client, ClientError};

/// The most leaves one `GET /v1/ledger/entries` returns.
pub const MAX_ENTRIES: u32 = 1_000;

impl Client {
    /// `GET /v1/keys`: every public signing key, retired ones included, oldest first.
    pub async fn keys(&self) -> Result<KeysView, ClientError> {
        self.call(self.request(Method::GET, "/v1/keys")).await
    }

    /// `POST /v1/keys/signing/rotate` (admin): a new signing key; the old one is retired and
    /// stays listed, so what it signed still verifies.
    pub async fn rotate_signing_key(&self) -> Result<SigningKeyView, ClientError> {
        self.call(self.request(Method::POST, "/v1/keys/signing/rotate"))
            .await
    }

    /// `GET /v1/ledger/checkpoint`: the project's ledger head, signed as a C2SP note.
    pub async fn checkpoint(&self) -> Result<CheckpointView, ClientError> {
        self.call(self.request(Method::GET, "/v1/ledger/checkpoint"))
            .await
    }

    /// `GET /v1/ledger/entries`: up to `limit` leaves (at most [`MAX_ENTRIES`]) from `start`.
    pub async fn ledger_entries(
        &self,
        start: u64,
        limit: u32,
    ) -> Result<LedgerEntries, ClientError> {
        let query = [("start", start.to_string()), ("limit", limit.to_string())];
        self.call(
            self.request(Method::GET, "/v1/ledger/entries")
                .query(&query),
        )
        .await
    }

    /// `GET /v1/ledger/proofs/inclusion`: the audit path of leaf `index` in the tree of
    /// `tree_size` leaves (default: the current size).
    pub async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProofView, ClientError> {
        let mut query = vec![("index", index.to_string())];
        if let Some(size) = tree_size {
            query.push(("tree_size", size.to_string()));
        }
        self.call(
            self.request(Method::GET, "/v1/ledger/proofs/inclusion")
                .query(&query),
        )
        .await
    }

    /// `GET /v1/ledger/proofs/consistency`: the proof that the tree of `from` leaves is a
    /// prefix of the tree of `to` leaves (default: the current size).
    pub async fn consistency_proof(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<ConsistencyProofView, ClientError> {
        let mut query = vec![("from", from.to_string())];
        if let Some(to) = to {
            query.push(("to", to.to_string()));
        }
        self.call(
            self.request(Method::GET, "/v1/ledger/proofs/consistency")
                .query(&query),
        )
        .await
    }
}
