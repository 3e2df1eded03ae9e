//! How current the agent is, and what went wrong: [`AgentStatus`], read with
//! [`super::Agent::status`]. The counters are atomics the sync task and the reporter bump;
//! nothing here is on the resolve path.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Where the cache's contents last came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The server's signed snapshot (then its change stream).
    Server,
    /// A snapshot file, because no server answered at start-up.
    File(String),
}

/// A point-in-time view of the agent's health.
#[derive(Debug, Clone)]
pub struct AgentStatus {
    /// Where the cache started from (or was last reloaded from).
    pub source: Source,
    /// The change stream is open and its replay is done: the cache is current.
    pub connected: bool,
    /// Not connected: the values served may be out of date (stale-on-error). They are still
    /// served.
    pub stale: bool,
    /// How long since the cache was last known to be current (zero while connected).
    pub stale_for: Duration,
    /// The log position the cache reflects.
    pub seq: i64,
    /// Prompts cached.
    pub prompts: usize,
    /// Changes applied from the stream.
    pub changes_applied: u64,
    /// Versions refused because their digest or signature did not verify (the previous good
    /// value was kept).
    pub refused: u64,
    /// Other errors: the stream failing, a fetch failing, a snapshot reload failing.
    pub errors: u64,
    /// Times the stream was reopened.
    pub reconnects: u64,
    /// Snapshots reloaded after start-up (a `resync` frame, or TTL revalidation).
    pub reloads: u64,
    /// The last refusal or error, with what it concerned.
    pub last_error: Option<String>,
    /// The outcome reporter's counters.
    pub outcomes: OutcomeCounts,
}

/// What the outcome reporter did with the events it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// Events taken into the queue.
    pub queued: u64,
    /// Events the server accepted.
    pub accepted: u64,
    /// Events the server refused (its per-event `results`).
    pub rejected: u64,
    /// Events dropped: the queue was full, or the server could not be reached and the retry
    /// buffer was full.
    pub dropped: u64,
    /// Batches sent (successfully or not).
    pub batches: u64,
}

/// The shared, mutable side of [`AgentStatus`].
pub(crate) struct Health {
    pub source: Mutex<Source>,
    pub connected: AtomicBool,
    pub seq: AtomicI64,
    pub changes_applied: AtomicU64,
    pub refused: AtomicU64,
    pub errors: AtomicU64,
    pub reconnects: AtomicU64,
    pub reloads: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// When the cache was last known current.
    pub confirmed: Mutex<Instant>,
    pub outcomes_queued: AtomicU64,
    pub outcomes_accepted: AtomicU64,
    pub outcomes_rejected: AtomicU64,
    pub outcomes_dropped: AtomicU64,
    pub outcome_batches: AtomicU64,
}

impl Health {
    pub fn new(source: Source, seq: i64) -> Self {
        Self {
            source: Mutex::new(source),
            connected: AtomicBool::new(false),
            seq: AtomicI64::new(seq),
            changes_applied: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            last_error: Mutex::new(None),
            confirmed: Mutex::new(Instant::now()),
            outcomes_queued: AtomicU64::new(0),
            outcomes_accepted: AtomicU64::new(0),
            outcomes_rejected: AtomicU64::new(0),
            outcomes_dropped: AtomicU64::new(0),
            outcome_batches: AtomicU64::new(0),
        }
    }

    /// Records a refused version (kept the previous value).
    pub fn refuse(&self, reason: String) {
        tracing::warn!(reason = %reason, "promptreg agent: refused a version");
        self.refused.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(reason);
    }

    /// Records an error that is not a refusal.
    pub fn error(&self, message: String) {
        tracing::debug!(error = %message, "promptreg agent");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(message);
    }

    /// The stream went live (or the cache was just reloaded): current as of now.
    pub fn confirm(&self) {
        *self.confirmed.lock() = Instant::now();
    }

    pub fn set_connected(&self, connected: bool) {
        if !connected && self.connected.load(Ordering::Relaxed) {
            // Current up to the moment the stream was lost.
            self.confirm();
        }
        self.connected.store(connected, Ordering::Relaxed);
    }

    /// How long the cache has gone unconfirmed (zero while connected).
    pub fn stale_for(&self) -> Duration {
        match self.connected.load(Ordering::Relaxed) {
            true => Duration::ZERO,
            false => self.confirmed.lock().elapsed(),
        }
    }

    pub fn snapshot(&self, prompts: usize) -> AgentStatus {
        let connected = self.connected.load(Ordering::Relaxed);
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AgentStatus {
            source: self.source.lock().clone(),
            connected,
            stale: !connected,
            stale_for: self.stale_for(),
            seq: self.seq.load(Ordering::Relaxed),
            prompts,
            changes_applied: n(&self.changes_applied),
            refused: n(&self.refused),
            errors: n(&self.errors),
            reconnects: n(&self.reconnects),
            reloads: n(&self.reloads),
            last_error: self.last_error.lock().clone(),
            outcomes: OutcomeCounts {
                queued: n(&self.outcomes_queued),
                accepted: n(&self.outcomes_accepted),
                rejected: n(&self.outcomes_rejected),
                dropped: n(&self.outcomes_dropped),
                batches: n(&self.outcome_batches),
            },
        }
    }
}
