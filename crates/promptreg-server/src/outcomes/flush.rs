//! Persistence: the flusher writes this replica's dirty windows (full replacements of its own
//! rows) and the ids accepted since the last flush; start-up reads back the ids still inside
//! the de-duplication window. Windows need no loading: this process writes under a new
//! replica id, and readers add the rows of every other replica id.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use promptreg_store::{OutcomeIdBatch, RolloutWindowRow, VersionWindowRow};

use super::{delta, minute_of, minute_start, Outcomes, RolloutKey, VersionKey};
use crate::registry::ServiceResult;

/// What one flush writes: rows with the key and change count they were taken at, and id
/// batches with how many pending ids they hold.
struct Taken {
    versions: Vec<(VersionWindowRow, (VersionKey, u64))>,
    rollouts: Vec<(RolloutWindowRow, (RolloutKey, u64))>,
    ids: Vec<(OutcomeIdBatch, usize)>,
}

/// How often memory is swept of old windows and the store of old ids.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Outcomes {
    /// How long an accepted id is remembered: a duplicate can still pass the time check for
    /// the accept window after the latest time the first copy could carry.
    fn id_retention(&self) -> chrono::TimeDelta {
        delta(self.options.accept_window) + delta(self.options.max_future)
    }

    /// Reads back the ids accepted within the de-duplication window (start-up).
    pub async fn load(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let batches = self
            .store
            .outcome_ids_since(now - self.id_retention())
            .await?;
        let mut memory = self.memory.lock();
        let mut n = 0;
        for batch in batches {
            let ids = memory.ids.entry(batch.project).or_default();
            for h in batch.hashes {
                ids.insert(h, batch.at, false);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Writes what changed since the last flush. Nothing is marked written before the store
    /// has it, so a failed or cancelled flush is simply retried by the next one.
    pub async fn flush(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let taken = self.take_dirty(now);
        let written = taken.versions.len() + taken.rollouts.len();
        if written > 0 {
            let versions: Vec<_> = taken.versions.iter().map(|(row, _)| row.clone()).collect();
            let rollouts: Vec<_> = taken.rollouts.iter().map(|(row, _)| row.clone()).collect();
            self.store
                .save_outcome_windows(&versions, &rollouts)
                .await?;
            self.mark_written(&taken);
        }
        for (batch, n) in &taken.ids {
            self.store.insert_outcome_ids(batch).await?;
            // Only this task removes pending ids, and ingest only appends: the first `n` are
            // the ones just written.
            if let Some(ids) = self.memory.lock().ids.get_mut(&batch.project) {
                ids.pending.drain(..(*n).min(ids.pending.len()));
            }
        }
        Ok(written)
    }

    fn take_dirty(&self, now: DateTime<Utc>) -> Taken {
        let memory = self.memory.lock();
        let versions = memory
            .versions
            .iter()
            .filter(|(_, s)| s.dirty())
            .map(|(k, slot)| {
                let row = VersionWindowRow {
                    project: k.project.clone(),
                    env: k.env.clone(),
                    name: k.name.clone(),
                    version: k.version,
                    minute: minute_start(k.minute),
                    replica: self.replica.clone(),
                    window: slot.window.clone(),
                };
                (row, (k.clone(), slot.changes))
            })
            .collect();
        let rollouts = memory
            .rollouts
            .iter()
            .filter(|(_, s)| s.dirty())
            .map(|(k, slot)| {
                let row = RolloutWindowRow {
                    project: k.project.clone(),
                    rollout: k.rollout.clone(),
                    step: k.step,
                    arm: k.arm.as_str().to_owned(),
                    replica: self.replica.clone(),
                    window: slot.window.clone(),
                };
                (row, (k.clone(), slot.changes))
            })
            .collect();
        let ids = memory
            .ids
            .iter()
            .filter(|(_, ids)| !ids.pending.is_empty())
            .map(|(project, ids)| {
                let batch = OutcomeIdBatch {
                    project: project.clone(),
                    replica: self.replica.clone(),
                    at: now,
                    hashes: ids.pending.clone(),
                };
                (batch, ids.pending.len())
            })
            .collect();
        Taken {
            versions,
            rollouts,
            ids,
        }
    }

    fn mark_written(&self, taken: &Taken) {
        let mut memory = self.memory.lock();
        for (_, (key, changes)) in &taken.versions {
            if let Some(slot) = memory.versions.get_mut(key) {
                slot.written = slot.written.max(*changes);
            }
        }
        for (_, (key, changes)) in &taken.rollouts {
            if let Some(slot) = memory.rollouts.get_mut(key) {
                slot.written = slot.written.max(*changes);
            }
        }
    }

    /// Drops from memory the version minutes no event can change any more (before the accept
    /// window; the store holds them), forgets old ids and deletes old id batches. Rollout
    /// windows stay: a late event of a rollout must add to its full window, never start a
    /// new one that would replace the stored row (a few per rollout step).
    pub async fn sweep(&self, now: DateTime<Utc>) -> ServiceResult<()> {
        let accept = delta(self.options.accept_window);
        // One extra minute: an event at the window's edge lands in the minute before it.
        let oldest_minute = minute_of(now - accept) - 1;
        let forget_ids = now - self.id_retention();
        {
            let mut memory = self.memory.lock();
            memory
                .versions
                .retain(|k, s| s.dirty() || k.minute >= oldest_minute);
            for ids in memory.ids.values_mut() {
                ids.expire(forget_ids);
            }
        }
        self.store.prune_outcome_ids(forget_ids).await?;
        Ok(())
    }
}

impl Outcomes {
    /// Shared database only: takes in the ids other replicas accepted since `since` (their
    /// flushed batches), so that a duplicate sent to another replica is refused there too,
    /// within about one flush interval of the first copy. Returns the newest batch time seen.
    pub async fn take_in_other_ids(&self, since: DateTime<Utc>) -> ServiceResult<DateTime<Utc>> {
        let batches = self.store.outcome_ids_since(since).await?;
        let mut newest = since;
        let mut memory = self.memory.lock();
        for batch in batches.into_iter().filter(|b| b.replica != self.replica) {
            newest = newest.max(batch.at);
            let ids = memory.ids.entry(batch.project).or_default();
            for h in batch.hashes {
                if !ids.contains(h) {
                    ids.insert(h, batch.at, false);
                }
            }
        }
        Ok(newest)
    }
}

/// The flusher task: a flush every `flush_every`, a sweep every minute. (The supervisor
/// drops it at shutdown; `AppState::shutdown` flushes once more after that.)
pub async fn run(
    outcomes: Arc<Outcomes>,
    clock: crate::registry::Clock,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(outcomes.options.flush_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep = std::time::Instant::now();
    // Batches are stamped with their writer's clock: read back with a margin for skew (taking
    // in an id twice changes nothing).
    let skew = chrono::TimeDelta::seconds(5);
    let mut others_since = clock() - skew;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        if let Err(e) = outcomes.flush(clock()).await {
            tracing::warn!(error = %e, "flushing outcome windows failed; retrying");
        }
        if outcomes.store.shares_database() {
            match outcomes.take_in_other_ids(others_since).await {
                Ok(newest) => others_since = others_since.max(newest - skew),
                Err(e) => tracing::warn!(error = %e, "reading other replicas' outcome ids failed"),
            }
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = std::time::Instant::now();
            if let Err(e) = outcomes.sweep(clock()).await {
                tracing::warn!(error = %e, "sweeping outcome memory failed");
            }
        }
    }
}
