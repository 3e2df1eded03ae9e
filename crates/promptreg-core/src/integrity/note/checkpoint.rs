//! The tlog checkpoint: a log's origin, tree size and root hash, as the text of a signed note.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{open_note, NoteError, NoteSigner, NoteVerifier};
use crate::integrity::merkle::Hash;

/// A log's signed state: `<origin>\n<size>\n<base64 root>\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log (e.g. `registry.example.com/acme`); a verifier only accepts its own.
    pub origin: String,
    /// How many entries the tree has.
    pub size: u64,
    /// The RFC 6962 root of those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text. Extension lines are never written.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Reads a checkpoint text: origin, decimal size without leading zeros, 32-byte base64
    /// root, each on its own line. Extension lines are refused, since promptreg never signs
    /// any and a checkpoint verifier must not silently drop signed content.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::Checkpoint(why.to_owned());
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text must end with a newline"))?
            .split('\n')
            .collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err(bad(
                "expected exactly three lines (origin, size, root hash); extension lines are not supported",
            ));
        };
        check_origin(origin)?;
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (*size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| bad("the size is not a decimal number without leading zeros"))?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root hash is not the base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root,
        })
    }
}

fn check_origin(origin: &str) -> Result<(), NoteError> {
    if origin.is_empty() || origin.chars().any(char::is_control) {
        return Err(NoteError::Checkpoint(
            "the origin must be a non-empty line without control characters".into(),
        ));
    }
    Ok(())
}

/// The signed note of `cp`.
pub fn sign_checkpoint(cp: &Checkpoint, signer: &NoteSigner) -> Result<String, NoteError> {
    check_origin(&cp.origin)?;
    signer.sign(&cp.body())
}

/// Opens a signed checkpoint (see [`open_note`]) and parses its text.
pub fn open_checkpoint(note: &str, verifiers: &[NoteVerifier]) -> Result<Checkpoint, NoteError> {
    Checkpoint::parse_body(&open_note(note, verifiers)?)
}
