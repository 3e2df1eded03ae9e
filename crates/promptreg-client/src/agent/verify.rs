//! Verification of everything the agent receives, before it is cached: a snapshot's envelope
//! signature, and for each version its digest (recomputed from the content) and its DSSE
//! signature (an in-toto statement whose subject is that digest). The primitives are
//! `promptreg_core::integrity`'s; this module only decides what must match what.
//!
//! Failures are `String` reasons that name the version and the check, so that the refusal the
//! user sees ([`super::AgentError::SnapshotRefused`], [`super::AgentStatus::last_error`]) says
//! precisely what was wrong.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use promptreg_api::{
    EnvSnapshot, Resolved, SigningKeyView, VersionView, ENV_SNAPSHOT_FORMAT,
    ENV_SNAPSHOT_PAYLOAD_TYPE,
};
use promptreg_core::integrity::statement::open_version;
use promptreg_core::integrity::{Envelope, KeyRing, PublicKey};
use promptreg_core::{Digest, PromptContent};

/// A version that passed every check: its resolve answer (built exactly like the server's
/// index entry) and its content, ready to render.
#[derive(Debug)]
pub(crate) struct CachedVersion {
    /// What `GET /v1/resolve` answers for it, without `assignment`.
    pub resolved: Resolved,
    /// The verified content.
    pub content: PromptContent,
}

/// What checking needs besides the version itself.
pub(crate) struct Checks<'a> {
    /// Keys whose signatures are trusted.
    pub ring: &'a KeyRing,
    /// The project the signatures must name, when known.
    pub project: Option<&'a str>,
    /// The environment the agent serves (goes into the resolve answer).
    pub env: &'a str,
    /// Accept versions without a signature (written before signing existed).
    pub allow_unsigned: bool,
}

/// Checks one version and builds its cache entry. `announced` is the digest a change event
/// promised for it, if any.
pub(crate) fn version(
    view: &VersionView,
    announced: Option<&str>,
    checks: &Checks<'_>,
) -> Result<Arc<CachedVersion>, String> {
    let what = format!("version {} of {}", view.version, view.name);
    let content = view
        .content()
        .map_err(|e| format!("{what}: content does not validate: {e}"))?;
    let digest = content.digest();
    if digest.as_str() != view.digest {
        return Err(format!(
            "{what}: content hashes to {digest}, but it claims {} (altered content)",
            view.digest
        ));
    }
    if let Some(announced) = announced {
        if announced != digest.as_str() {
            return Err(format!(
                "{what}: the change announced digest {announced}, but the version received hashes to {digest}"
            ));
        }
    }
    signature(view, &digest, checks).map_err(|e| format!("{what}: {e}"))?;
    let resolved = Resolved {
        name: view.name.to_string(),
        version: view.version,
        digest: digest.to_string(),
        prompt_type: content.prompt_type(),
        template: content.body().template().map(str::to_owned),
        messages: content.body().messages().map(<[_]>::to_vec),
        variables: content.variables().map(|v| v.as_value().clone()),
        model: content
            .model()
            .map(|m| serde_json::Value::Object(m.clone())),
        env: checks.env.to_owned(),
        assignment: None,
    };
    Ok(Arc::new(CachedVersion { resolved, content }))
}

/// The version's signature: by a trusted key, over a statement about this digest, naming this
/// prompt, version (and project).
fn signature(view: &VersionView, digest: &Digest, checks: &Checks<'_>) -> Result<(), String> {
    let Some(value) = &view.signature else {
        return match checks.allow_unsigned {
            true => Ok(()),
            false => Err("unsigned (refused: allow_unsigned is off)".into()),
        };
    };
    let envelope: Envelope = serde_json::from_value(value.clone())
        .map_err(|e| format!("signature is not a DSSE envelope ({e})"))?;
    let (statement, p) = open_version(&envelope, checks.ring)
        .map_err(|e| format!("signature does not verify: {e}"))?;
    if statement.verify_subject(digest).is_err() {
        return Err(format!(
            "the signature is for {}, not for {digest}",
            statement
                .subject_digest()
                .map_or_else(|| "no digest".to_owned(), |d| d.to_string())
        ));
    }
    if p.name != view.name || p.version != view.version {
        return Err(format!(
            "the signature is for version {} of {}",
            p.version, p.name
        ));
    }
    if let Some(project) = checks.project {
        if p.project.as_str() != project {
            return Err(format!(
                "the signature is for project {}, not {project}",
                p.project
            ));
        }
    }
    Ok(())
}

/// A key ring from `GET /v1/keys` views (or a snapshot's `keys`).
pub(crate) fn ring_of(keys: &[SigningKeyView]) -> Result<Vec<PublicKey>, String> {
    keys.iter()
        .map(|k| {
            PublicKey::from_base64(&k.public_key).map_err(|e| format!("key {}: {e}", k.key_id))
        })
        .collect()
}

/// Opens a signed snapshot: payload type, envelope signature under `trusted` (or, when
/// `None`, under the snapshot's own keys: this protects against corruption, not a forger),
/// format and environment. Versions are checked by [`snapshot_versions`].
pub(crate) fn open_snapshot(
    envelope: &Envelope,
    trusted: Option<&[PublicKey]>,
    env: &str,
) -> Result<(EnvSnapshot, KeyRing), String> {
    if envelope.payload_type != ENV_SNAPSHOT_PAYLOAD_TYPE {
        return Err(format!(
            "payloadType is {:?}, expected {ENV_SNAPSHOT_PAYLOAD_TYPE:?} (not an environment snapshot)",
            envelope.payload_type
        ));
    }
    let own_keys = || -> Result<Vec<PublicKey>, String> {
        let payload = STANDARD
            .decode(&envelope.payload)
            .map_err(|_| "the payload is not valid base64".to_owned())?;
        let snapshot: EnvSnapshot = serde_json::from_slice(&payload)
            .map_err(|e| format!("the payload is not an environment snapshot: {e}"))?;
        ring_of(&snapshot.keys)
    };
    let keys = match trusted {
        Some(keys) => keys.to_vec(),
        None => own_keys()?,
    };
    let payload = envelope
        .verify(&KeyRing::new(keys.clone()))
        .map_err(|e| format!("the envelope's signature: {e}"))?;
    let snapshot: EnvSnapshot = serde_json::from_slice(&payload)
        .map_err(|e| format!("the payload is not an environment snapshot: {e}"))?;
    if snapshot.format != ENV_SNAPSHOT_FORMAT {
        return Err(format!(
            "format {:?}, expected {ENV_SNAPSHOT_FORMAT:?}",
            snapshot.format
        ));
    }
    if snapshot.env != env {
        return Err(format!(
            "it is of environment '{}', the agent serves '{env}'",
            snapshot.env
        ));
    }
    // Keys the (trusted) signer vouches for also check version signatures: versions signed
    // before a key rotation by a key the caller did not list.
    let mut all = keys;
    all.extend(ring_of(&snapshot.keys)?);
    Ok((snapshot, KeyRing::new(all)))
}

/// A verified prompt of a snapshot: its pointer, live version and rollout.
pub(crate) struct VerifiedPrompt {
    /// The prompt's name.
    pub name: String,
    /// The pointer's record number.
    pub pointer_seq: i64,
    /// The live version.
    pub live: Arc<CachedVersion>,
    /// The active rollout and its verified candidate.
    pub rollout: Option<(promptreg_api::SnapshotRollout, Arc<CachedVersion>)>,
}

/// Checks every version of a snapshot (live and rollout candidates); the first failure refuses
/// the whole snapshot.
pub(crate) fn snapshot_versions(
    snapshot: &EnvSnapshot,
    checks: &Checks<'_>,
) -> Result<Vec<VerifiedPrompt>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(snapshot.prompts.len());
    for p in &snapshot.prompts {
        if !seen.insert(p.name.as_str()) {
            return Err(format!("prompt {} is listed twice", p.name));
        }
        if p.live.name.as_str() != p.name {
            return Err(format!(
                "prompt {}'s live version is of {}",
                p.name, p.live.name
            ));
        }
        let live = version(&p.live, None, checks)?;
        let rollout = match &p.rollout {
            None => None,
            Some(r) => {
                if r.candidate.name.as_str() != p.name {
                    return Err(format!(
                        "prompt {}'s rollout candidate is of {}",
                        p.name, r.candidate.name
                    ));
                }
                let candidate = version(&r.candidate, None, checks)
                    .map_err(|e| format!("rollout {}'s candidate: {e}", r.id))?;
                Some((r.clone(), candidate))
            }
        };
        out.push(VerifiedPrompt {
            name: p.name.clone(),
            pointer_seq: p.pointer_seq,
            live,
            rollout,
        });
    }
    Ok(out)
}
