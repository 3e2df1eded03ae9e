//! The outcome aggregator: agents' outcome events, checked, de-duplicated and summed in
//! memory per (version, minute) and per (rollout, step, arm) into core's mergeable
//! [`ArmWindow`]s; flushed to the store every half second ([`flush`]); read back merged over
//! every replica's rows for the rollout controller ([`OutcomeSource`]) and for
//! `GET …/versions/{n}/outcomes`.
//!
//! - [`event`]: one event's own checks (fields, time). [`catalog`]: what it names, cached.
//! - [`ids`]: accepted ids per project, remembered and persisted for de-duplication.
//! - [`counters`]: the `/metrics` counters. [`flush`]: persistence and start-up.
//!
//! Each replica (process) writes rows under its own random replica id, replacing its rows
//! whole at each flush, so memory holds this process's complete windows and a reader adds
//! the rows of every *other* replica id (other replicas, earlier runs of this one).

pub mod catalog;
pub mod counters;
pub mod event;
pub mod flush;
pub mod ids;
mod ingest;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use promptreg_core::analysis::{ArmWindow, Observed};
use promptreg_core::{EnvName, ProjectId, PromptName, Version};
use promptreg_store::{RolloutRecord, RolloutWindowRow, Store};

use crate::metrics::Metrics;
use crate::registry::controller::{expected_share, OutcomeSource};
use crate::registry::ServiceResult;

pub use event::Arm;

/// What an operator sets about outcome ingestion.
#[derive(Debug, Clone)]
pub struct OutcomeOptions {
    /// Events further ahead of the server's clock are refused.
    pub max_future: Duration,
    /// Events older than this are refused (their minutes may have left memory).
    pub accept_window: Duration,
    /// How often dirty windows are written to the store.
    pub flush_every: Duration,
}

impl Default for OutcomeOptions {
    fn default() -> Self {
        Self {
            max_future: Duration::from_secs(300),
            accept_window: Duration::from_secs(3600),
            flush_every: Duration::from_millis(500),
        }
    }
}

/// A window, how many outcomes it took and how many of them the store has: the flusher only
/// raises `written` after a write succeeded, so a flush cancelled half-way (at shutdown)
/// loses nothing.
#[derive(Default, Clone)]
pub(crate) struct Slot {
    pub(crate) window: ArmWindow,
    pub(crate) changes: u64,
    pub(crate) written: u64,
}

impl Slot {
    /// Adds one outcome.
    pub(crate) fn record(&mut self, o: &promptreg_core::analysis::Observation) {
        self.window.record(o);
        self.changes += 1;
    }

    /// Whether the store lacks some of it.
    pub(crate) fn dirty(&self) -> bool {
        self.changes != self.written
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct VersionKey {
    pub(crate) project: ProjectId,
    pub(crate) env: EnvName,
    pub(crate) name: PromptName,
    pub(crate) version: Version,
    /// Minutes since the epoch.
    pub(crate) minute: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RolloutKey {
    pub(crate) project: ProjectId,
    pub(crate) rollout: String,
    pub(crate) step: u32,
    pub(crate) arm: Arm,
}

/// This process's windows and remembered ids.
#[derive(Default)]
pub(crate) struct Memory {
    pub(crate) versions: HashMap<VersionKey, Slot>,
    pub(crate) rollouts: HashMap<RolloutKey, Slot>,
    pub(crate) ids: HashMap<ProjectId, ids::ProjectIds>,
}

/// Rows of other replica ids, shared by reads.
type OtherRows = Arc<Vec<RolloutWindowRow>>;

/// The aggregator (one per process).
pub struct Outcomes {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) options: OutcomeOptions,
    /// This process's replica id in the rows it writes.
    pub(crate) replica: String,
    pub(crate) catalog: catalog::Catalog,
    pub(crate) memory: Mutex<Memory>,
    /// Embedded store only: other replica ids' rows of a rollout, read once (nobody else
    /// writes them any more).
    others: Mutex<HashMap<(ProjectId, String), OtherRows>>,
}

pub(crate) fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

pub(crate) fn minute_start(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(minute.saturating_mul(60), 0).unwrap_or_default()
}

pub(crate) fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Outcomes {
    /// An aggregator over a store, with a fresh replica id.
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>, options: OutcomeOptions) -> Self {
        Self {
            catalog: catalog::Catalog::new(store.clone()),
            store,
            metrics,
            options,
            replica: uuid::Uuid::new_v4().to_string(),
            memory: Mutex::default(),
            others: Mutex::default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &OutcomeOptions {
        &self.options
    }

    /// Other replica ids' rows of a rollout.
    async fn other_rows(&self, r: &RolloutRecord) -> ServiceResult<OtherRows> {
        let key = (r.project.clone(), r.id.clone());
        if !self.store.shares_database() {
            if let Some(rows) = self.others.lock().get(&key) {
                return Ok(rows.clone());
            }
        }
        let rows: Vec<_> = self
            .store
            .rollout_windows(&r.project, &r.id)
            .await?
            .into_iter()
            .filter(|row| row.replica != self.replica)
            .collect();
        let rows = Arc::new(rows);
        if !self.store.shares_database() {
            self.others.lock().insert(key, rows.clone());
        }
        Ok(rows)
    }

    /// A version's outcomes in an environment from the minute of `since` on, over every
    /// replica.
    pub async fn version_window(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
        version: Version,
        since: DateTime<Utc>,
    ) -> ServiceResult<ArmWindow> {
        let first = minute_of(since);
        let mut total = ArmWindow::default();
        for row in self
            .store
            .version_windows(project, env, name, version, minute_start(first))
            .await?
        {
            if row.replica != self.replica {
                total.merge(&row.window);
            }
        }
        let memory = self.memory.lock();
        for (key, slot) in &memory.versions {
            if key.minute >= first
                && key.version == version
                && key.name == *name
                && key.env == *env
                && key.project == *project
            {
                total.merge(&slot.window);
            }
        }
        Ok(total)
    }
}

#[async_trait::async_trait]
impl OutcomeSource for Outcomes {
    async fn observed(&self, r: &RolloutRecord) -> ServiceResult<Observed> {
        let mut observed = Observed {
            stable: ArmWindow::default(),
            candidate: ArmWindow::default(),
            step_stable: ArmWindow::default(),
            step_candidate: ArmWindow::default(),
            expected_candidate_share: expected_share(r),
        };
        let mut add = |step: u32, arm: Arm, window: &ArmWindow| {
            let current = step == r.state.step;
            // A blue-green preview is the candidate's traffic.
            let (whole, in_step) = match arm {
                Arm::Stable => (&mut observed.stable, &mut observed.step_stable),
                Arm::Candidate | Arm::Preview => {
                    (&mut observed.candidate, &mut observed.step_candidate)
                }
            };
            whole.merge(window);
            if current {
                in_step.merge(window);
            }
        };
        let others = self.other_rows(r).await?;
        for row in others.iter() {
            let Some(arm) = Arm::from_row(&row.arm) else {
                continue;
            };
            add(row.step, arm, &row.window);
        }
        let memory = self.memory.lock();
        for (key, slot) in &memory.rollouts {
            if key.rollout == r.id && key.project == r.project {
                add(key.step, key.arm, &slot.window);
            }
        }
        Ok(observed)
    }
}
