//! DSSE v1.0.2 envelopes (Dead Simple Signing Envelope, the format of in-toto and cosign).
//!
//! A signature covers `PAE(payloadType, payload)`, never the JSON of the envelope, so the
//! envelope may be re-serialised freely. [`Envelope::verify`] returns the payload bytes it
//! verified: callers parse those bytes, never the envelope again, so what they act on is what
//! was signed. `keyid` is only a hint for choosing the key; trust comes from the [`KeyRing`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::keys::{KeyRing, SigningKey};
use super::IntegrityError;
use crate::Digest;

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`, lengths in decimal ASCII. Binding
/// the type into the signed bytes stops a signature over one kind of document from being
/// replayed as another.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope, serialised as `{"payload", "payloadType", "signatures"}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The signed bytes, standard base64.
    pub payload: String,
    /// What the payload is, e.g. [`IN_TOTO_PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// One or more signatures over `PAE(payloadType, payload)`.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an [`Envelope`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signer's key id (a hint, not authenticated).
    #[serde(default)]
    pub keyid: String,
    /// The Ed25519 signature, standard base64.
    pub sig: String,
}

impl Envelope {
    /// Signs `payload` as a `payload_type` document with `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Self {
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature {
                keyid: key.key_id().to_owned(),
                sig: STANDARD.encode(sig),
            }],
        }
    }

    /// Checks that at least one signature is by a key of `ring` over
    /// `PAE(payloadType, payload)`, and returns the verified payload bytes.
    ///
    /// A signature naming an unknown key is skipped (another signer may be trusted); one naming
    /// a trusted key that does not verify fails only if no other signature verifies. A
    /// signature without a key id is tried against every trusted key.
    pub fn verify(&self, ring: &KeyRing) -> Result<Vec<u8>, IntegrityError> {
        let payload = STANDARD
            .decode(&self.payload)
            .map_err(|_| IntegrityError::Base64("the envelope's payload"))?;
        let message = pae(&self.payload_type, &payload);
        let mut first_failure = None;
        for signature in &self.signatures {
            let candidates: Vec<_> = if signature.keyid.is_empty() {
                ring.iter().collect()
            } else {
                ring.get(&signature.keyid).into_iter().collect()
            };
            if candidates.is_empty() {
                continue;
            }
            let Ok(sig) = STANDARD.decode(&signature.sig) else {
                first_failure.get_or_insert(IntegrityError::Base64("a signature"));
                continue;
            };
            for key in candidates {
                match key.verify(&message, &sig) {
                    Ok(()) => return Ok(payload),
                    Err(e) => {
                        first_failure.get_or_insert(e);
                    }
                }
            }
        }
        Err(first_failure.unwrap_or_else(|| IntegrityError::Untrusted {
            keyids: self.signatures.iter().map(|s| s.keyid.clone()).collect(),
        }))
    }

    /// SHA-256 over the RFC 8785 canonical JSON of the envelope: the envelope's name in the
    /// ledger, the same whichever way the JSON was laid out.
    pub fn digest(&self) -> Digest {
        // An envelope is strings only: canonical serialisation cannot fail.
        Digest::of_bytes(&serde_json_canonicalizer::to_vec(self).unwrap_or_default())
    }
}
