//! Envelope encryption of version content at rest.
//!
//! Each version's content (the RFC 8785 JSON of its template or messages, variables schema and
//! model configuration: exactly the bytes its digest is taken over) is encrypted with AES-256-GCM
//! under a fresh 256-bit data key, and the data key is wrapped by a key-encryption key (KEK)
//! behind [`KeyEncryptionKey`], so that a KMS can hold the KEK later and rotating it only
//! rewraps data keys ([`rewrap`]), never ciphertexts.
//!
//! Both the ciphertext and the wrapped key carry associated data that binds them to their row
//! ([`Binding`]: project, prompt, version, digest), so neither can be moved to another version,
//! prompt or project without failing to open.
//!
//! Pure: the data key and the nonces are parameters (the server draws them from the OS), and
//! the local AES-GCM key wrap is offered as functions ([`wrap_key`], [`unwrap_key`]) for the
//! server's KEK file provider.

use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm::{Aes256Gcm, Key};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::content::{Digest, PromptContent};
use crate::name::{ProjectId, PromptName, Version};

/// The content cipher recorded with every sealed row.
pub const CONTENT_ALG: &str = "aes-256-gcm";
/// Bytes of a data key and of a KEK.
pub const KEY_LEN: usize = 32;
/// Bytes of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;

/// Why content could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The row names a cipher this build does not know.
    #[error("sealed with an unknown algorithm {0:?}")]
    Algorithm(String),
    /// No key-encryption key with the row's KEK id is loaded.
    #[error("its data key is wrapped by key-encryption key {0}, which this server does not hold")]
    UnknownKek(String),
    /// The wrapped data key does not open with the KEK and this row's binding.
    #[error("its data key does not unwrap with key-encryption key {kek_id}: a wrong key file, or the wrapped key was changed or moved from another version")]
    Unwrap {
        /// The KEK tried.
        kek_id: String,
    },
    /// The ciphertext does not open with the data key and this row's binding.
    #[error(
        "its content does not decrypt: the ciphertext was changed or moved from another version"
    )]
    Decrypt,
    /// The content opened but is not the content the row's digest names.
    #[error("its decrypted content does not hash to the stored digest")]
    Digest,
    /// The content opened but does not decode.
    #[error("its decrypted content does not decode: {0}")]
    Content(String),
    /// A field of the row has the wrong length.
    #[error("its sealed {0} has the wrong length")]
    Malformed(&'static str),
    /// Encryption itself failed (input too long for AES-GCM).
    #[error("encryption failed")]
    Encrypt,
}

/// A version's data key: 256 random bits, wiped from memory when dropped.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A data key from random bytes the caller drew.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A key-encryption key: wraps and unwraps data keys. A local key file today, a KMS later.
pub trait KeyEncryptionKey: Send + Sync {
    /// Its id, stored with every key it wraps (so opening never has to guess).
    fn id(&self) -> &str;
    /// Wraps a data key; `aad` must be given again to unwrap it.
    fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<Vec<u8>, SealError>;
    /// Unwraps a data key this KEK wrapped with the same `aad`.
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, SealError>;
}

/// What a sealed row stores besides its plaintext columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedContent {
    /// The content cipher ([`CONTENT_ALG`]).
    pub alg: String,
    /// The KEK that wrapped the data key.
    pub kek_id: String,
    /// The wrapped data key.
    pub wrapped_key: Vec<u8>,
    /// The content nonce.
    pub nonce: Vec<u8>,
    /// The content ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

/// The row a sealed content belongs to: bound into both AEADs as associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The project.
    pub project: &'a ProjectId,
    /// The prompt.
    pub name: &'a PromptName,
    /// The version.
    pub version: Version,
    /// The content digest.
    pub digest: &'a Digest,
}

impl Binding<'_> {
    /// The associated data for one use (`content` or `key`): a domain tag, then each field
    /// length-prefixed, so no two rows (and no two uses) share associated data.
    pub fn aad(&self, purpose: &str) -> Vec<u8> {
        let version = self.version.get().to_string();
        let fields: [&[u8]; 5] = [
            purpose.as_bytes(),
            self.project.as_str().as_bytes(),
            self.name.as_str().as_bytes(),
            version.as_bytes(),
            self.digest.as_str().as_bytes(),
        ];
        let mut out = b"promptreg-seal-v1".to_vec();
        for f in fields {
            // Every field is far below 4 GiB (names, a decimal number, a digest).
            out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(f);
        }
        out
    }
}

/// Seals content for its row with a fresh data key and nonce (random, drawn by the caller).
pub fn seal(
    kek: &dyn KeyEncryptionKey,
    binding: &Binding<'_>,
    content: &PromptContent,
    key: DataKey,
    nonce: [u8; NONCE_LEN],
) -> Result<SealedContent, SealError> {
    let plaintext = Zeroizing::new(content.canonical_json().into_bytes());
    let ciphertext = aead(key.as_bytes())
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &binding.aad("content"),
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    Ok(SealedContent {
        alg: CONTENT_ALG.into(),
        kek_id: kek.id().to_owned(),
        wrapped_key: kek.wrap(&key, &binding.aad("key"))?,
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

/// Opens sealed content of its row with the KEK that wrapped its data key, and checks that
/// it is the content the row's digest names.
pub fn open(
    kek: &dyn KeyEncryptionKey,
    binding: &Binding<'_>,
    sealed: &SealedContent,
) -> Result<PromptContent, SealError> {
    if sealed.alg != CONTENT_ALG {
        return Err(SealError::Algorithm(sealed.alg.clone()));
    }
    let nonce: [u8; NONCE_LEN] = sealed
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| SealError::Malformed("nonce"))?;
    let key = unwrap_with(kek, binding, sealed)?;
    let plaintext = Zeroizing::new(
        aead(key.as_bytes())
            .decrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &binding.aad("content"),
                },
            )
            .map_err(|_| SealError::Decrypt)?,
    );
    if Digest::of_bytes(&plaintext) != *binding.digest {
        return Err(SealError::Digest);
    }
    let value: serde_json::Value =
        serde_json::from_slice(&plaintext).map_err(|e| SealError::Content(e.to_string()))?;
    PromptContent::from_stored(&value).map_err(|e| SealError::Content(e.to_string()))
}

/// The same sealed content with its data key wrapped by `to` instead: the nonce and the
/// ciphertext are not touched.
pub fn rewrap(
    from: &dyn KeyEncryptionKey,
    to: &dyn KeyEncryptionKey,
    binding: &Binding<'_>,
    sealed: &SealedContent,
) -> Result<SealedContent, SealError> {
    let key = unwrap_with(from, binding, sealed)?;
    Ok(SealedContent {
        kek_id: to.id().to_owned(),
        wrapped_key: to.wrap(&key, &binding.aad("key"))?,
        ..sealed.clone()
    })
}

fn unwrap_with(
    kek: &dyn KeyEncryptionKey,
    binding: &Binding<'_>,
    sealed: &SealedContent,
) -> Result<DataKey, SealError> {
    if kek.id() != sealed.kek_id {
        return Err(SealError::UnknownKek(sealed.kek_id.clone()));
    }
    kek.unwrap(&sealed.wrapped_key, &binding.aad("key"))
}

fn aead(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

/// The id of a local KEK: the first 8 bytes of a domain-separated SHA-256 of the key, in hex
/// (names the key without revealing it, and cannot disagree with it).
pub fn kek_id(kek: &[u8; KEY_LEN]) -> String {
    let mut h = Sha256::new();
    h.update(b"promptreg-kek-id-v1\0");
    h.update(kek);
    hex::encode(&h.finalize()[..8])
}

/// AES-256-GCM key wrap with a local KEK: `nonce || ciphertext || tag` (60 bytes).
pub fn wrap_key(
    kek: &[u8; KEY_LEN],
    nonce: [u8; NONCE_LEN],
    key: &DataKey,
    aad: &[u8],
) -> Result<Vec<u8>, SealError> {
    let sealed = aead(kek)
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: key.as_bytes(),
                aad,
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Unwraps what [`wrap_key`] made with the same KEK and `aad`.
pub fn unwrap_key(
    kek: &[u8; KEY_LEN],
    kek_id: &str,
    wrapped: &[u8],
    aad: &[u8],
) -> Result<DataKey, SealError> {
    let fail = || SealError::Unwrap {
        kek_id: kek_id.to_owned(),
    };
    if wrapped.len() != NONCE_LEN + KEY_LEN + 16 {
        return Err(SealError::Malformed("data key"));
    }
    let (nonce, body) = wrapped.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| fail())?;
    let key = Zeroizing::new(
        aead(kek)
            .decrypt(&Nonce::<Aes256Gcm>::from(nonce), Payload { msg: body, aad })
            .map_err(|_| fail())?,
    );
    let bytes: [u8; KEY_LEN] = key.as_slice().try_into().map_err(|_| fail())?;
    Ok(DataKey::from_bytes(bytes))
}
