//! Cold pointers and the background audit of a fast start.
//!
//! A large registry starts without reading every live version's content (see `follow::load`):
//! its pointers are indexed cold, checked against the ledger but not yet opened. A cold
//! pointer is warmed where it is first needed ([`Registry::live_entry`]): its version is
//! read, opened and its content must recompute to the digest the audit checked, or it is
//! taken out of the index and reported like any start-up finding. Right after such a start,
//! the background audit ([`Registry::run_start_audits`]) does what the start-up left out:
//! after a start from a ledger snapshot, it replays the whole log and compares every leaf
//! with the ledger the replica started from (a snapshot may predate an entry edited behind
//! the server's back) and saves a fresh ledger snapshot; it warms every cold pointer that
//! is left, so that `/readyz` names any finding within seconds and resolve stops touching
//! the database.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{Registry, ServiceResult};
use crate::index::{ColdEntry, Entry, Slot};
use crate::integrity::audit::Replayed;
use crate::integrity::snapshot::Snapshot;
use crate::integrity::Finding;

impl Registry {
    /// The live entry of a pointer: from memory, or, when the start-up left it cold, read,
    /// opened and checked first. `None` when nothing is live there (or its content did not
    /// verify, which is then reported).
    pub(crate) async fn live_entry(
        &self,
        project: &str,
        env: &str,
        name: &str,
    ) -> ServiceResult<Option<Arc<Entry>>> {
        loop {
            match self.index.slot(project, env, name) {
                None => return Ok(None),
                Some(Slot::Warm(entry)) => return Ok(Some(entry)),
                Some(Slot::Cold(cold)) => {
                    if let Some(entry) = self.warm_cold(&cold).await? {
                        return Ok(Some(entry));
                    }
                    // Moved, left, or refused meanwhile: look again.
                }
            }
        }
    }

    /// A slot's entry, warmed when it is cold; `None` when the pointer moved, left or did
    /// not verify meanwhile.
    pub(crate) async fn warm_slot(&self, slot: Slot) -> ServiceResult<Option<Arc<Entry>>> {
        match slot {
            Slot::Warm(entry) => Ok(Some(entry)),
            Slot::Cold(cold) => self.warm_cold(&cold).await,
        }
    }

    /// Warms a cold pointer once however many callers ask at the same time.
    async fn warm_cold(&self, cold: &ColdEntry) -> ServiceResult<Option<Arc<Entry>>> {
        cold.warmed
            .get_or_try_init(|| self.read_cold(cold))
            .await
            .cloned()
    }

    async fn read_cold(&self, cold: &ColdEntry) -> ServiceResult<Option<Arc<Entry>>> {
        let stored = match self
            .store
            .get_version(&cold.project, &cold.name, cold.version)
            .await
        {
            Ok(stored) => stored,
            Err(promptreg_store::StoreError::NotFound(_)) => {
                self.refuse_cold(
                    cold,
                    format!(
                        "version {} is live (record {}) but is no longer stored",
                        cold.version, cold.seq
                    ),
                );
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        match self.opened_as_announced(&cold.project, stored, &cold.digest) {
            Ok(version) => Ok(self.index.warm(cold, version)),
            Err(message) => {
                self.refuse_cold(cold, message);
                Ok(None)
            }
        }
    }

    fn refuse_cold(&self, cold: &ColdEntry, message: String) {
        self.index.remove_cold(cold);
        self.findings.add(Finding {
            project: cold.project.clone(),
            env: Some(cold.env.clone()),
            name: Some(cold.name.clone()),
            message,
        });
        self.count_findings();
    }

    pub(crate) fn count_findings(&self) {
        self.metrics
            .integrity_errors
            .set(i64::try_from(self.findings.count()).unwrap_or(i64::MAX));
    }

    /// Runs the background audit after every load that left something to it, until `stop`.
    pub async fn run_start_audits(self: Arc<Self>, stop: CancellationToken) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = self.start_audit_due.notified() => {}
            }
            let started = Instant::now();
            let outcome = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                outcome = self.audit_in_background() => outcome,
            };
            let failed = match outcome {
                Ok(()) => {
                    tracing::info!(
                        ms = started.elapsed().as_millis(),
                        cold = self.index.cold_count(),
                        "background audit done"
                    );
                    false
                }
                Err(e) => {
                    tracing::warn!(error = %e, "background audit failed; retrying in 5 s");
                    true
                }
            };
            if failed {
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                }
                self.start_audit_due.notify_one();
            }
        }
    }

    /// What a fast start left out: the whole log against the ledger (after a start from a
    /// snapshot), then the content of every pointer still cold.
    async fn audit_in_background(&self) -> ServiceResult<()> {
        if self.start_replay_due.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.compare_with_log().await {
                // Not done: the retry replays again.
                self.start_replay_due.store(true, Ordering::Release);
                return Err(e);
            }
        }
        if self.index.cold_count() == 0 {
            return Ok(());
        }
        // One read of every live version (packed), rather than one query per cold pointer.
        for d in self.store.load_deployed().await? {
            let Some(Slot::Cold(c)) =
                self.index
                    .slot(d.project.as_str(), d.env.as_str(), d.version.name.as_str())
            else {
                continue;
            };
            if c.seq != d.seq || c.version != d.version.version {
                // The pointer moved between the two reads: warmed where first needed.
                continue;
            }
            match self.opened_as_announced(&c.project, d.version, &c.digest) {
                Ok(version) => {
                    self.index.warm(&c, version);
                }
                Err(message) => self.refuse_cold(&c, message),
            }
        }
        Ok(())
    }

    /// Compares the whole log, replayed again, with the ledger this replica started from
    /// (its snapshot may predate an entry edited behind the server's back), then saves a
    /// fresh snapshot.
    async fn compare_with_log(&self) -> ServiceResult<()> {
        let full = Replayed::read(&*self.store).await?;
        for finding in full.findings() {
            self.findings.add(finding.clone());
        }
        for (project, tree) in full.trees() {
            if let Some(seq) = self.ledger.first_difference(project, tree) {
                self.findings.add(Finding {
                    project: project.clone(),
                    env: None,
                    name: None,
                    message: format!(
                        "event_log row seq {seq} is not the entry this replica's ledger holds \
                         (changed behind the server's back since it was logged)"
                    ),
                });
            }
        }
        self.count_findings();
        self.save_snapshot(&full);
        Ok(())
    }

    /// Saves the ledger snapshot of `replayed` when snapshots are on and the log is large
    /// enough to need one (in a blocking thread: tens of megabytes).
    pub(crate) fn save_snapshot(&self, replayed: &Replayed) {
        let Some(path) = self.options.start.ledger_snapshot.clone() else {
            return;
        };
        if replayed.size() < self.options.start.snapshot_min_entries {
            return;
        }
        let snapshot = Snapshot::of(replayed, &replayed.troubled());
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            match snapshot.save(&path) {
                Ok(()) => tracing::info!(
                    path = %path.display(),
                    leaves = snapshot.size(),
                    ms = started.elapsed().as_millis(),
                    "ledger snapshot saved"
                ),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ledger snapshot not saved")
                }
            }
        });
    }
}
