//! Loading a snapshot, from the server or from a file, and verifying it whole before anything
//! of it is cached.

use std::path::Path;

use promptreg_api::SignedEnvSnapshot;
use promptreg_core::integrity::{KeyRing, PublicKey};

use super::verify::{self, Checks, VerifiedPrompt};
use super::{AgentError, Settings};
use crate::Client;

/// A verified snapshot.
pub(crate) struct Loaded {
    /// The log position it reflects: watch after this.
    pub seq: i64,
    /// The project it is of.
    pub project: String,
    /// The trusted keys plus the keys the snapshot vouches for (checks version signatures).
    pub ring: KeyRing,
    /// The keys that verified the envelope (pinned for later snapshots).
    pub trusted: Vec<PublicKey>,
    /// Its prompts within the agent's prefix.
    pub prompts: Vec<VerifiedPrompt>,
}

/// Verifies `envelope` (from `origin`: `server` or a path). `trusted`: the keys the envelope
/// must be signed by; `None` uses the snapshot's own keys (an offline file without configured
/// keys: protects against corruption, not against a forger).
pub(crate) fn check(
    envelope: &SignedEnvSnapshot,
    trusted: Option<&[PublicKey]>,
    settings: &Settings,
    origin: &str,
) -> Result<Loaded, AgentError> {
    let refused = |reason: String| AgentError::SnapshotRefused {
        origin: origin.to_owned(),
        reason,
    };
    let (snapshot, ring) =
        verify::open_snapshot(envelope, trusted, settings.env.as_str()).map_err(refused)?;
    let checks = Checks {
        ring: &ring,
        project: Some(&snapshot.project),
        env: settings.env.as_str(),
        allow_unsigned: settings.allow_unsigned,
    };
    let mut prompts = verify::snapshot_versions(&snapshot, &checks).map_err(refused)?;
    if let Some(prefix) = &settings.prefix {
        prompts.retain(|p| p.name.starts_with(prefix.as_str()));
    }
    let trusted = match trusted {
        Some(keys) => keys.to_vec(),
        None => verify::ring_of(&snapshot.keys).map_err(refused)?,
    };
    Ok(Loaded {
        seq: snapshot.seq,
        project: snapshot.project,
        ring,
        trusted,
        prompts,
    })
}

/// Fetches the environment's snapshot and verifies it.
pub(crate) async fn fetch(
    client: &Client,
    trusted: &[PublicKey],
    settings: &Settings,
) -> Result<Loaded, AgentError> {
    let envelope = client
        .env_snapshot(&settings.env, settings.prefix.as_deref())
        .await?;
    check(&envelope, Some(trusted), settings, "server")
}

/// Reads a file written by `promptreg snapshot -o FILE` and verifies it.
pub(crate) fn read_file(
    path: &Path,
    trusted: Option<&[PublicKey]>,
    settings: &Settings,
) -> Result<Loaded, AgentError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| AgentError::SnapshotFile {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let envelope: SignedEnvSnapshot =
        serde_json::from_slice(&bytes).map_err(|e| AgentError::SnapshotRefused {
            origin: shown.clone(),
            reason: format!("not a signed snapshot (a DSSE envelope in JSON): {e}"),
        })?;
    check(&envelope, trusted, settings, &shown)
}
