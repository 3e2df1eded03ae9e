//! C2SP signed notes (`c2sp.org/signed-note`) and tlog checkpoints (`c2sp.org/tlog-checkpoint`),
//! Ed25519 signatures only: the text format of Go's checksum database, Sigstore's Rekor v2 and
//! the transparency-log witnesses, so their tools can read promptreg's checkpoints.
//!
//! A note is a text ending in a newline, a blank line, then signature lines
//! `— <name> base64(key hash || signature)`. The key hash is the first 4 bytes of
//! `SHA-256(name || "\n" || 0x01 || public key)`, big-endian; a verifier key is written
//! `<name>+<key hash, 8 hex>+base64(0x01 || public key)`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::keys::{PublicKey, SigningKey};

mod checkpoint;

pub use checkpoint::{open_checkpoint, sign_checkpoint, Checkpoint};

/// The signature type byte of a plain Ed25519 signature.
const ALG_ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// How many signature lines a note may carry (as Go's verifier): bounds the work of opening.
const MAX_SIGNATURES: usize = 100;

/// Why a note or checkpoint cannot be signed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Text that is not a signed note.
    #[error("malformed note: {0}")]
    Malformed(String),
    /// A key name with whitespace or `+`, or an empty one.
    #[error("{0:?} is not a valid key name: it must be non-empty, without spaces or '+'")]
    Name(String),
    /// A verifier key text that cannot be used.
    #[error("bad verifier key (expected <name>+<8 hex digits>+<base64 of 0x01 and a 32-byte Ed25519 key>): {0}")]
    VerifierKey(String),
    /// A signature by a trusted key that does not match the text.
    #[error("the signature by {key} does not verify: the note was changed after it was signed")]
    BadSignature {
        /// `<name>+<key hash>` of the signer.
        key: String,
    },
    /// No signature is by a trusted key.
    #[error("no signature by a trusted key (signed by: {}); check the verifier key you were given", .keys.join(", "))]
    Unverified {
        /// `<name>+<key hash>` of every signature found.
        keys: Vec<String>,
    },
    /// A note whose text is not a tlog checkpoint.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(String),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.contains(char::is_whitespace)
}

/// The C2SP key hash of `name` and `0x01 || public key`.
fn key_hash(name: &str, public: &[u8; 32]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ALG_ED25519])
        .chain_update(public)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn verifier_key_text(name: &str, hash: u32, public: &[u8; 32]) -> String {
    let mut typed = vec![ALG_ED25519];
    typed.extend_from_slice(public);
    format!("{name}+{hash:08x}+{}", STANDARD.encode(typed))
}

/// A note's text must end in a newline and hold no control characters but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text must end with a newline".into(),
        ));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed(
            "control characters other than newline".into(),
        ));
    }
    Ok(())
}

/// Signs notes under a key name.
#[derive(Clone, Debug)]
pub struct NoteSigner {
    name: String,
    hash: u32,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer that signs as `name` (e.g. the log's origin) with `key`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Name(name.to_owned()));
        }
        let hash = key_hash(name, &key.public().bytes());
        Ok(NoteSigner {
            name: name.to_owned(),
            hash,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte C2SP key hash.
    pub fn key_hash(&self) -> u32 {
        self.hash
    }

    /// The verifier key text to hand to clients and witnesses.
    pub fn verifier_key(&self) -> String {
        verifier_key_text(&self.name, self.hash, &self.key.public().bytes())
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            hash: self.hash,
            key: self.key.public(),
        }
    }

    /// `body`, a blank line and this signer's signature line.
    pub fn sign(&self, body: &str) -> Result<String, NoteError> {
        check_text(body)?;
        let mut blob = self.hash.to_be_bytes().to_vec();
        blob.extend_from_slice(&self.key.sign(body.as_bytes()));
        Ok(format!(
            "{body}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// A trusted note key: a name, its key hash and an Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    hash: u32,
    key: PublicKey,
}

impl NoteVerifier {
    /// Reads a verifier key text `<name>+<hash>+<base64(0x01 || key)>`, checking the hash.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::VerifierKey(why.to_owned());
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(hash16), Some(key64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("three parts separated by '+' are needed"));
        };
        if !valid_name(name) {
            return Err(NoteError::Name(name.to_owned()));
        }
        if hash16.len() != 8 || !hash16.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key hash is not 8 hex digits"));
        }
        let hash = u32::from_str_radix(hash16, 16).map_err(|_| bad("bad key hash"))?;
        let typed = STANDARD
            .decode(key64)
            .map_err(|_| bad("the key is not standard base64"))?;
        let Some((&ALG_ED25519, raw)) = typed.split_first() else {
            return Err(bad("not an Ed25519 key (type byte 0x01)"));
        };
        let key = PublicKey::from_bytes(raw).map_err(|e| bad(&e.to_string()))?;
        if key_hash(name, &key.bytes()) != hash {
            return Err(bad("the key hash does not match the name and key"));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            hash,
            key,
        })
    }

    /// The verifier for `key` under `name`.
    pub fn from_public(name: &str, key: &PublicKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Name(name.to_owned()));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            hash: key_hash(name, &key.bytes()),
            key: key.clone(),
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key text (the form [`Self::parse`] reads).
    pub fn verifier_key(&self) -> String {
        verifier_key_text(&self.name, self.hash, &self.key.bytes())
    }
}

/// Opens a signed note: checks its syntax and that at least one signature is by one of
/// `verifiers`, and returns the signed text (ending in a newline).
///
/// Signatures by unknown keys are ignored (witnesses and other logs add their own); a
/// signature by a trusted key that does not verify fails the whole note.
pub fn open_note(note: &str, verifiers: &[NoteVerifier]) -> Result<String, NoteError> {
    let malformed = |why: &str| NoteError::Malformed(why.to_owned());
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("control characters other than newline"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(malformed("the signature lines must end with a newline"));
    }
    let mut unknown = Vec::new();
    let mut verified = false;
    for (i, line) in sigs.split_terminator('\n').enumerate() {
        if i == MAX_SIGNATURES {
            return Err(malformed("more than 100 signatures"));
        }
        let (name, b64) = line
            .strip_prefix(SIG_PREFIX)
            .and_then(|l| l.split_once(' '))
            .ok_or_else(|| malformed("a line after the blank line is not a signature"))?;
        let blob = STANDARD.decode(b64).unwrap_or_default();
        if !valid_name(name) || blob.len() < 5 {
            return Err(malformed("a signature line has a bad name or signature"));
        }
        let hash = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
        let key = format!("{name}+{hash:08x}");
        let mut trusted = verifiers
            .iter()
            .filter(|v| v.name == name && v.hash == hash)
            .peekable();
        if trusted.peek().is_none() {
            unknown.push(key);
            continue;
        }
        if !trusted.any(|v| v.key.verify(text.as_bytes(), &blob[4..]).is_ok()) {
            return Err(NoteError::BadSignature { key });
        }
        verified = true;
    }
    if !verified {
        return Err(NoteError::Unverified { keys: unknown });
    }
    Ok(text.to_owned())
}
