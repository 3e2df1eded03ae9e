//! The agent SDK: [`Agent`], a prompt cache that the server's change stream keeps current.
//!
//! An agent starts from the environment's signed snapshot (`GET
//! /v1/environments/{env}/snapshot`), verified whole: the envelope's signature under the
//! trusted keys, every version's digest recomputed from its content, every version's DSSE
//! signature. It then watches `GET /v1/watch` from the snapshot's `seq` in a background task,
//! and [`Agent::resolve`] answers from memory (a map lookup: well under a microsecond), with the
//! same sticky rollout assignment the server computes. When no server answers at start-up it
//! starts from a snapshot file (`promptreg snapshot -o FILE`), refusing one that fails
//! verification. `docs/sdk.md` describes the behaviour in full.
//!
//! - `builder`: [`AgentBuilder`], every setting and `start()`.
//! - `verify`: what is checked before anything is cached.
//! - `snapshot`: loading a snapshot from the server or a file.
//! - `cache`: the in-memory entries and the rules for applying a change (newer only).
//! - `sync`: the background task (stream, reconnects, resync, revalidation).
//! - `prompt`: [`Prompt`], the answer: assignment, local rendering, outcome, span.
//! - `reporter`: the outcome reporter's queue and batches.
//! - `status`: [`AgentStatus`], staleness and counters.

mod builder;
mod cache;
mod error;
mod prompt;
mod reporter;
mod snapshot;
mod status;
mod sync;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use promptreg_core::integrity::{KeyRing, PublicKey};
use promptreg_core::EnvName;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use builder::AgentBuilder;
pub use error::AgentError;
pub use prompt::{Arm, Prompt};
/// What [`Agent::report`] takes ([`Prompt::outcome`] fills in the prompt's fields).
pub use promptreg_api::OutcomeEvent;
/// What [`Prompt::render`] produces (text, or chat messages).
pub use promptreg_core::render::Rendered;
pub use status::{AgentStatus, OutcomeCounts, Source};

use crate::Client;
use cache::Cache;
use reporter::{Reporter, ReporterSettings};
use status::Health;

/// The settings the tasks read (from [`AgentBuilder`]).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub env: EnvName,
    pub prefix: Option<String>,
    pub snapshot_path: Option<PathBuf>,
    pub ttl: Duration,
    pub allow_unsigned: bool,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Assumed until the stream's `ready` frame says the server's.
    pub heartbeat: Duration,
    pub outcomes: ReporterSettings,
    pub shutdown_timeout: Duration,
}

/// The keys versions are checked with.
pub(crate) struct Keys {
    /// What envelopes of later snapshots must be signed by.
    pub trusted: Vec<PublicKey>,
    /// The trusted keys plus those a verified snapshot vouches for.
    pub ring: KeyRing,
    /// The project signatures must name.
    pub project: Option<String>,
}

/// What the agent and its tasks share.
pub(crate) struct Shared {
    pub client: Arc<Client>,
    pub settings: Settings,
    pub cache: Cache,
    pub health: Arc<Health>,
    pub keys: RwLock<Keys>,
}

/// A prompt cache kept current by the server's change stream; see the module documentation.
/// Create one with [`Agent::builder`]; share it with an `Arc`. Dropping it stops its tasks;
/// [`Agent::shutdown`] also flushes the outcomes still queued.
pub struct Agent {
    shared: Arc<Shared>,
    reporter: Reporter,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("env", &self.shared.settings.env.as_str())
            .field("client", &self.shared.client)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// A builder for an agent of the server at `base_url`.
    pub fn builder(base_url: impl Into<String>) -> AgentBuilder {
        AgentBuilder::new(base_url.into())
    }

    /// The version of `name` this agent serves `subject` (an agent, session or tenant id), from
    /// memory. During a rollout the subject gets its arm exactly as the server's resolve would
    /// assign it; without a subject, the live version. Never waits on the network.
    #[inline]
    pub fn resolve(&self, name: &str, subject: Option<&str>) -> Result<Prompt, AgentError> {
        match self.shared.cache.get(name) {
            Some(entry) => Ok(Prompt::serve(&entry, subject, false)),
            None => Err(self.not_live(name)),
        }
    }

    /// A blue-green rollout's candidate before its switch (`track=preview`), else the live
    /// version.
    pub fn preview(&self, name: &str) -> Result<Prompt, AgentError> {
        match self.shared.cache.get(name) {
            Some(entry) => Ok(Prompt::serve(&entry, None, true)),
            None => Err(self.not_live(name)),
        }
    }

    fn not_live(&self, name: &str) -> AgentError {
        AgentError::NotLive {
            name: name.to_owned(),
            env: self.shared.settings.env.to_string(),
        }
    }

    /// Queues an outcome for `POST /v1/outcomes` and returns at once; `false` when the queue
    /// was full and the event was dropped (counted in [`AgentStatus::outcomes`]). An empty `id`
    /// is replaced with a unique one. Start from [`Prompt::outcome`].
    pub fn report(&self, outcome: OutcomeEvent) -> bool {
        self.reporter.report(outcome, &self.shared.health)
    }

    /// How current the cache is, and the counters.
    pub fn status(&self) -> AgentStatus {
        self.shared.health.snapshot(self.shared.cache.len())
    }

    /// The environment served.
    pub fn env(&self) -> &str {
        self.shared.settings.env.as_str()
    }

    /// Stops the background tasks after a last flush of the queued outcomes (waiting at most
    /// the builder's `shutdown_timeout`), and returns the final status (what the last flush
    /// delivered is in its `outcomes`).
    pub async fn shutdown(self) -> AgentStatus {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock());
        let all = futures::future::join_all(tasks);
        let _ = tokio::time::timeout(self.shared.settings.shutdown_timeout, all).await;
        self.status()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
