//! Integrity primitives: signatures, signed attestations and the verifiable ledger's math.
//!
//! Pure like the rest of the crate: no files, no clock, no randomness of its own (a key comes
//! from a seed or a PEM text the caller read). The formats are standard ones, so that a third
//! party can check promptreg's claims with ordinary tools:
//!
//! - [`keys`]: Ed25519 signing and public keys, their short key id, a [`KeyRing`] of trusted
//!   keys. Verification is strict (`verify_strict`: no small-order keys, no malleable signatures).
//! - [`dsse`]: DSSE v1.0.2 envelopes (what cosign and in-toto sign): the signature covers
//!   `PAE(payloadType, payload)`, and verification hands back the exact bytes it verified.
//! - [`statement`]: in-toto Statement v1 with promptreg's predicates: a published version, a
//!   pointer move and an export.
//! - [`merkle`]: RFC 6962 / RFC 9162 hashing, an append-only hash tree with inclusion and
//!   consistency proofs, and the verifiers a client runs.
//! - [`note`]: C2SP signed notes and tlog checkpoints (the text format of Go's sumdb, Sigstore's
//!   Rekor v2 and the transparency-log witnesses), Ed25519 only.
//! - [`seal`]: envelope encryption of version content at rest (AES-256-GCM under a per-version
//!   data key, wrapped by a key-encryption key), bound to its row by associated data.

pub mod dsse;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod seal;
pub mod statement;

pub use dsse::{pae, Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE};
pub use keys::{KeyRing, PublicKey, SigningKey};
pub use merkle::{Hash, ProofError, Tree};
pub use note::{Checkpoint, NoteError, NoteSigner, NoteVerifier};
pub use seal::{Binding, DataKey, KeyEncryptionKey, SealError, SealedContent};
pub use statement::{DeploymentPredicate, ExportPredicate, Statement, Subject, VersionPredicate};

/// What can be wrong with a key, an envelope or a statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// A private key text that is not a PKCS#8 Ed25519 key.
    #[error(
        "not an Ed25519 private key in PKCS#8 PEM ({0}); create one with `openssl genpkey -algorithm ed25519`"
    )]
    PrivateKey(String),
    /// A public key that is not 32 bytes of a usable Ed25519 point.
    #[error("not a usable Ed25519 public key: {0}")]
    PublicKey(String),
    /// A field that should be standard base64 is not.
    #[error("{0} is not valid standard base64")]
    Base64(&'static str),
    /// A signature made by a trusted key that does not match the signed bytes.
    #[error("the signature by key {keyid} does not verify: the payload was changed after signing, or the key id is wrong")]
    BadSignature {
        /// The key the signature claims.
        keyid: String,
    },
    /// None of the signatures is by a key the verifier trusts.
    #[error("no signature by a trusted key (signed by: {}); add the signer's public key to the trusted keys if it is yours", .keyids.join(", "))]
    Untrusted {
        /// The key ids named by the signatures, possibly none.
        keyids: Vec<String>,
    },
    /// An envelope carrying something other than what the caller expects.
    #[error("the envelope's payloadType is {found:?}, expected {expected:?}")]
    PayloadType {
        /// What the caller asked for.
        expected: String,
        /// What the envelope says.
        found: String,
    },
    /// A statement of another kind than the caller expects.
    #[error("the statement's {field} is {found:?}, expected {expected:?}")]
    StatementType {
        /// `_type` or `predicateType`.
        field: &'static str,
        /// What the caller asked for.
        expected: String,
        /// What the statement says.
        found: String,
    },
    /// A payload that is not the JSON of a statement or of its predicate.
    #[error("the signed statement cannot be read: {0}")]
    Statement(String),
    /// A statement whose subject is not the thing it describes.
    #[error("the statement's subject {found:?} does not match {expected:?}")]
    Subject {
        /// The name or digest the predicate (or the caller) implies.
        expected: String,
        /// What the statement's subject says.
        found: String,
    },
}

#[cfg(test)]
mod tests;
