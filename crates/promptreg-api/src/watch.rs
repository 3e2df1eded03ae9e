//! The change stream and environment snapshots: what agents (the SDKs) keep their cache with.
//!
//! - `GET /v1/watch?env=&prefix=&after=` is a Server-Sent Events stream. Each change is one
//!   frame: `id:` the project's log `seq`, `event:` the change's kind ([`WatchKind`]), `data:`
//!   the [`promptreg_core::EventRecord`] as one line of JSON (the ledger leaf's content). On
//!   open, after any replay, the server sends a [`WatchReady`] frame; when the client cannot be
//!   kept current (it fell behind) it sends a [`WatchResync`] frame and closes.
//! - `GET /v1/environments/{env}/snapshot?prefix=` answers a DSSE envelope
//!   ([`SignedEnvSnapshot`]) whose payload is an [`EnvSnapshot`]: every live version of
//!   the environment with its signature, and every active rollout with its candidate, as of
//!   the log position `seq`. Watching with `after=seq` from then on misses nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{SigningKeyView, VersionView};

/// The `format` of a version-1 environment snapshot.
pub const ENV_SNAPSHOT_FORMAT: &str = "promptreg-env-snapshot/v1";
/// The DSSE `payloadType` of a signed environment snapshot.
pub const ENV_SNAPSHOT_PAYLOAD_TYPE: &str = "application/vnd.promptreg.env-snapshot+json";

/// The `event:` names of the change stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchKind {
    /// A version was created (no environment: sent to every watcher whose prefix matches).
    VersionCreated,
    /// A pointer moved (deploy, rollback, Langfuse label, promotion, blue-green switch).
    PointerMoved,
    /// A rollout started, stepped, paused, resumed, was promoted, aborted or rolled back.
    RolloutChanged,
    /// Sent once the replay (if any) is done and the stream is live.
    Ready,
    /// The server will not keep this stream current: reload a snapshot, then reconnect.
    Resync,
}

impl WatchKind {
    /// The `event:` field.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchKind::VersionCreated => "version_created",
            WatchKind::PointerMoved => "pointer_moved",
            WatchKind::RolloutChanged => "rollout_changed",
            WatchKind::Ready => "ready",
            WatchKind::Resync => "resync",
        }
    }

    /// The kind of an `event:` field, if it is one this version knows.
    pub fn parse(event: &str) -> Option<Self> {
        Some(match event {
            "version_created" => WatchKind::VersionCreated,
            "pointer_moved" => WatchKind::PointerMoved,
            "rollout_changed" => WatchKind::RolloutChanged,
            "ready" => WatchKind::Ready,
            "resync" => WatchKind::Resync,
            _ => return None,
        })
    }
}

/// `data:` of the `ready` frame (its `id:` is `seq` too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchReady {
    /// Every change up to this log position has been sent (or filtered out).
    pub seq: i64,
    /// How often the server sends a heartbeat comment: a stream silent for much longer
    /// (twice this) is dead.
    pub heartbeat_ms: u64,
}

/// `data:` of the `resync` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResync {
    /// `lagged` (the client read too slowly), `too_far_behind` (the replay asked for is
    /// longer than the server replays) or `shutdown`.
    pub reason: String,
    /// The last log position this stream delivered.
    pub seq: i64,
}

/// An environment as of one log position: what an SDK starts from (online or from a file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvSnapshot {
    /// [`ENV_SNAPSHOT_FORMAT`].
    pub format: String,
    /// The project.
    pub project: String,
    /// The environment.
    pub env: String,
    /// The name prefix it was limited to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The project's log position it reflects: every change up to `seq` is in it (later ones
    /// may be too; applying them again changes nothing).
    pub seq: i64,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// The signing keys, to check version signatures with (trust them only as far as the
    /// envelope's signature is trusted).
    pub keys: Vec<SigningKeyView>,
    /// Every prompt live in the environment, by name.
    pub prompts: Vec<SnapshotPrompt>,
}

/// One live pointer of an [`EnvSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotPrompt {
    /// The prompt.
    pub name: String,
    /// The pointer's per-(env, prompt) record number (a `pointer_moved` event with a higher
    /// `change.seq` replaces it).
    pub pointer_seq: i64,
    /// The live version, whole, with its signature.
    pub live: VersionView,
    /// The active rollout of this prompt in the environment, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<SnapshotRollout>,
}

/// An active rollout in an [`EnvSnapshot`]: enough to assign subjects exactly as the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRollout {
    /// The rollout id (the bucketing group).
    pub id: String,
    /// Its revision (a `rollout_changed` event with a higher one replaces it).
    pub revision: i64,
    /// `canary`, `blue_green` or `immediate`.
    pub strategy: String,
    /// `progressing` or `paused`.
    pub status: String,
    /// The current step.
    pub step: u32,
    /// Share of subjects on the candidate, in 1/10,000.
    pub weight: u32,
    /// Whether the pointer is on the candidate.
    pub switched: bool,
    /// The candidate version, whole, with its signature.
    pub candidate: VersionView,
}

/// `GET /v1/environments/{env}/snapshot` answers a DSSE envelope
/// ([`promptreg_core::integrity::dsse::Envelope`]: payload the base64 of an [`EnvSnapshot`]'s
/// RFC 8785 canonical JSON, payload type [`ENV_SNAPSHOT_PAYLOAD_TYPE`]) signed by the server's
/// current signing key. `promptreg snapshot -o FILE` writes it verbatim.
pub type SignedEnvSnapshot = promptreg_core::integrity::dsse::Envelope;
