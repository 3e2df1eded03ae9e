//! Ed25519 keys: the signing key a registry holds, the public keys verifiers trust, and the
//! short key id that names a key in envelopes (`keyid`) and configuration.
//!
//! The key id is the first 8 bytes of SHA-256 over the raw 32-byte public key, as 16 lowercase
//! hex digits: it depends on the key alone, so every tool computes the same one.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::Signer as _;
use sha2::{Digest as _, Sha256};

use super::IntegrityError;

/// PKCS#8 v1 (RFC 5208, RFC 8410) DER of an Ed25519 key, up to the 32-byte seed: the layout
/// `openssl genpkey -algorithm ed25519` writes, so an exported key reads back anywhere.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The key id of a raw public key: 16 lowercase hex digits.
fn key_id_of(public: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(public)[..8])
}

/// An Ed25519 private key with its key id. `Debug` never shows the secret.
#[derive(Clone)]
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    key_id: String,
}

impl SigningKey {
    /// The key whose 32-byte secret seed is `seed` (RFC 8032). The caller supplies the
    /// randomness, so that core stays deterministic.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let inner = ed25519_dalek::SigningKey::from_bytes(&seed);
        let key_id = key_id_of(&inner.verifying_key().to_bytes());
        SigningKey { inner, key_id }
    }

    /// Reads a `-----BEGIN PRIVATE KEY-----` PEM text holding a PKCS#8 Ed25519 key (v1 as
    /// OpenSSL writes it, or v2 with the public key, which must then match).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, IntegrityError> {
        let inner = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| IntegrityError::PrivateKey(e.to_string()))?;
        Ok(SigningKey::from_seed(inner.to_bytes()))
    }

    /// The key as PKCS#8 v1 PEM, byte for byte what `openssl genpkey -algorithm ed25519` writes.
    pub fn to_pkcs8_pem(&self) -> String {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&self.inner.to_bytes());
        // 48 bytes of DER are exactly one 64-character line of base64.
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        )
    }

    /// 16 lowercase hex digits naming the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half, to publish and to verify with.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.verifying_key(),
            key_id: self.key_id.clone(),
        }
    }

    /// The Ed25519 signature of `msg` (deterministic: the same key and message always give the
    /// same signature).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.inner.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key with its key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    inner: ed25519_dalek::VerifyingKey,
    key_id: String,
}

impl PublicKey {
    /// A key from its raw 32 bytes. Refuses bytes that are not a curve point and the
    /// small-order points, for which signatures prove nothing.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IntegrityError> {
        let raw: [u8; 32] = bytes.try_into().map_err(|_| {
            IntegrityError::PublicKey(format!("{} bytes, expected 32", bytes.len()))
        })?;
        let inner = ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map_err(|_| IntegrityError::PublicKey("not a point of the curve".into()))?;
        if inner.is_weak() {
            return Err(IntegrityError::PublicKey("a small-order (weak) key".into()));
        }
        Ok(PublicKey {
            inner,
            key_id: key_id_of(&raw),
        })
    }

    /// A key from the standard base64 of its raw 32 bytes (the form [`Self::to_base64`] writes).
    pub fn from_base64(text: &str) -> Result<Self, IntegrityError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| IntegrityError::Base64("the public key"))?;
        PublicKey::from_bytes(&bytes)
    }

    /// The standard base64 of the raw 32 bytes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes())
    }

    /// 16 lowercase hex digits naming the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The raw 32 bytes.
    pub fn bytes(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    /// Checks that `sig` (64 bytes) is this key's signature of `msg`, strictly (RFC 8032 plus
    /// no small-order components and a canonical `s`).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), IntegrityError> {
        let bad = || IntegrityError::BadSignature {
            keyid: self.key_id.clone(),
        };
        let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
        self.inner.verify_strict(msg, &sig).map_err(|_| bad())
    }
}

/// The public keys a verifier trusts, by key id.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: BTreeMap<String, PublicKey>,
}

impl KeyRing {
    /// A ring of `keys` (a key given twice counts once).
    pub fn new(keys: Vec<PublicKey>) -> Self {
        KeyRing {
            keys: keys.into_iter().map(|k| (k.key_id.clone(), k)).collect(),
        }
    }

    /// The trusted key with this key id.
    pub fn get(&self, key_id: &str) -> Option<&PublicKey> {
        self.keys.get(key_id)
    }

    /// The trusted keys, in key-id order.
    pub fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted (then nothing verifies).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
