//! The server's signing key: loaded from a PKCS#8 PEM file (what `openssl genpkey -algorithm
//! ed25519` writes), generated into the data directory with mode 0600 on first start, and
//! rotated by writing a new file and retiring the old key (which stays listed, so what it
//! signed still verifies).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use promptreg_core::integrity::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use promptreg_core::integrity::keys::SigningKey;
use promptreg_core::integrity::statement::Statement;
use promptreg_core::Digest;
use promptreg_store::SigningKeyRecord;
use rand::RngCore;

/// The file name of the generated key in the data directory.
pub const DEFAULT_KEY_FILE: &str = "signing-key.pem";

/// Why the signing key could not be loaded (the server does not start).
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file is missing or unreadable.
    #[error("signing key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold an Ed25519 PKCS#8 private key.
    #[error("signing key file {path}: not an Ed25519 private key in PKCS#8 PEM form ({message})")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The new key could not be written.
    #[error("signing key file {path}: cannot write it: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Signs statements with the current key. Cheap to share; rotation swaps the key in place.
pub struct Signer {
    current: RwLock<Arc<SigningKey>>,
    /// Where the key lives (`None`: an ephemeral key, for tests).
    path: Option<PathBuf>,
    /// Whether versions and moves are signed (off only to measure what signing costs).
    enabled: bool,
}

impl Signer {
    /// A signer over a key that lives in `path` (or nowhere, for an ephemeral key).
    pub fn new(key: SigningKey, path: Option<PathBuf>) -> Self {
        Self {
            current: RwLock::new(Arc::new(key)),
            path,
            enabled: true,
        }
    }

    /// The same signer, but versions and moves are stored unsigned (benchmarks measure the
    /// cost of signing against this; checkpoints are still signed).
    pub fn unsigned(mut self) -> Self {
        self.enabled = false;
        self
    }

    /// A fresh random key kept only in memory (tests and throw-away servers).
    pub fn ephemeral() -> Self {
        Self::new(generate(), None)
    }

    /// Loads the key at `path`; when `generate_if_missing` (the data directory's default
    /// file), a missing file is created with a new key, mode 0600.
    pub fn open(path: &Path, generate_if_missing: bool) -> Result<Self, KeyFileError> {
        let key = match std::fs::read_to_string(path) {
            Ok(pem) => parse(path, &pem)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate_if_missing => {
                let key = generate();
                write_new(path, &key)?;
                tracing::info!(key_id = key.key_id(), path = %path.display(), "generated a signing key");
                key
            }
            Err(source) => {
                return Err(KeyFileError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Ok(Self::new(key, Some(path.to_owned())))
    }

    /// The key signing now.
    pub fn current(&self) -> Arc<SigningKey> {
        self.current.read().clone()
    }

    /// Signs an in-toto statement: the DSSE envelope as stored (RFC 8785 JSON) and its digest
    /// (what the ledger leaf records).
    pub fn sign(&self, statement: &Statement) -> Option<(String, Digest)> {
        if !self.enabled {
            return None;
        }
        let envelope = Envelope::sign(
            IN_TOTO_PAYLOAD_TYPE,
            &statement.canonical_bytes(),
            &self.current(),
        );
        // Compact serde JSON of the envelope is its RFC 8785 form (sorted keys, strings only).
        let text = serde_json::to_string(&envelope).unwrap_or_default();
        let digest = Digest::of_bytes(text.as_bytes());
        Some((text, digest))
    }

    /// The store record of the current key, first used at `at`.
    pub fn record(&self, at: DateTime<Utc>) -> SigningKeyRecord {
        record(&self.current(), at)
    }

    /// Replaces the key with a new one: the new file is written first (the old one is kept
    /// beside it as `<file>.<old key id>.retired`), then the key is swapped in. Returns the
    /// new key and the retired one's id.
    pub fn rotate(&self) -> Result<(Arc<SigningKey>, String), KeyFileError> {
        let new = generate();
        let old = self.current();
        if let Some(path) = &self.path {
            let retired = path.with_extension(format!("{}.retired", old.key_id()));
            std::fs::rename(path, &retired).map_err(|source| KeyFileError::Write {
                path: retired.clone(),
                source,
            })?;
            write_new(path, &new)?;
        }
        let new = Arc::new(new);
        *self.current.write() = new.clone();
        Ok((new, old.key_id().to_owned()))
    }
}

/// The store record of a key.
pub fn record(key: &SigningKey, at: DateTime<Utc>) -> SigningKeyRecord {
    SigningKeyRecord {
        key_id: key.key_id().to_owned(),
        algorithm: "ed25519".into(),
        public_key: key.public().to_base64(),
        created_at: at,
        retired_at: None,
    }
}

fn generate() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    SigningKey::from_seed(seed)
}

fn parse(path: &Path, pem: &str) -> Result<SigningKey, KeyFileError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyFileError::Malformed {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Writes a key to a file that must not exist yet, readable by the owner only, durably.
fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    use std::io::Write;
    let err = |source| KeyFileError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(err)?;
    file.write_all(key.to_pkcs8_pem().as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}
