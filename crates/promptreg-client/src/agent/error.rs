//! [`AgentError`]: why an agent could not start, or could not serve a prompt.

use crate::ClientError;

/// Why an [`Agent`](super::Agent) call failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The builder's settings cannot work (no environment name, an unreadable key).
    #[error("agent configuration: {0}")]
    Config(String),
    /// A snapshot (from the server or a file) failed verification and was refused whole.
    /// `origin` is `server` or the file's path; `reason` names the part that failed.
    #[error("snapshot from {origin} refused: {reason}")]
    SnapshotRefused {
        /// `server`, or the snapshot file's path.
        origin: String,
        /// What failed: the envelope's signature, a version's digest or signature, the format.
        reason: String,
    },
    /// A snapshot file could not be read.
    #[error("snapshot file {path}: {message}")]
    SnapshotFile {
        /// The file.
        path: String,
        /// The I/O or JSON error.
        message: String,
    },
    /// No server answered and no snapshot file was configured (or it was unreadable).
    #[error("no server answered ({server}) and {file}")]
    NoSource {
        /// Why the server could not be used.
        server: String,
        /// Why no snapshot file could be used.
        file: String,
    },
    /// The prompt is not live in the agent's environment (or outside its prefix).
    #[error("prompt '{name}' is not live in environment '{env}' (as far as this agent knows)")]
    NotLive {
        /// The prompt.
        name: String,
        /// The environment.
        env: String,
    },
    /// A call to the server failed.
    #[error(transparent)]
    Client(#[from] ClientError),
}
