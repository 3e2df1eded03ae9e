//! Staying current: the start-up load, the change feed of other replicas, catch-up by `seq`,
//! and whether this replica can vouch that what it serves is current.
//!
//! Each project's log is a dense sequence, so a replica knows exactly what it has applied: the
//! highest `seq` up to which it has applied *every* event. A notification with the next `seq`
//! is applied; one further ahead means some were missed, and the replica reads them from the
//! log (`events_after`) instead of reloading everything. Besides the notifications, a poll of
//! the log heads every [`POLL_INTERVAL`] catches anything a silent connection lost and proves
//! the database still answers. A shared-database replica is *current* while its feed is up
//! and its last confirmation is younger than `stale_after`; when it is not, `/readyz` says
//! 503 and credentials are checked against the database (see `serve`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use parking_lot::Mutex;
use promptreg_core::{EventRecord, ProjectId};
use promptreg_store::StoreNotice;
use tokio_util::sync::CancellationToken;

use super::{Known, Registry, ServiceResult};
use crate::integrity::audit::{self, Replayed};

/// How often a follower confirms it is current by reading the log heads.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long one confirmation may take before the replica counts as not current.
const POLL_TIMEOUT: Duration = Duration::from_secs(2);
/// Events read per catch-up query.
const CATCH_UP_BATCH: u32 = 500;

/// What this process has applied and whether it is current.
#[derive(Default)]
pub(crate) struct FeedState {
    /// Per project, the seq up to which every event has been applied.
    applied: Mutex<HashMap<ProjectId, i64>>,
    loaded: AtomicBool,
    /// Whether other processes write to the same database (then currency must be confirmed).
    shared: AtomicBool,
    /// Whether the change subscription is up.
    listening: AtomicBool,
    /// When this replica last confirmed it had applied everything in the log.
    confirmed: Mutex<Option<Instant>>,
}

impl FeedState {
    /// Advances the applied mark past a local change when it is the next one.
    pub(crate) fn applied_locally(&self, event: &EventRecord) {
        let mut applied = self.applied.lock();
        let mark = applied.entry(event.project.clone()).or_insert(0);
        if event.seq == *mark + 1 {
            *mark = event.seq;
        }
    }

    fn mark(&self, project: &ProjectId) -> i64 {
        self.applied.lock().get(project).copied().unwrap_or(0)
    }

    fn confirm(&self) {
        *self.confirmed.lock() = Some(Instant::now());
    }
}

impl Registry {
    /// Whether the index has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.feed.loaded.load(Ordering::Acquire)
    }

    /// Whether this replica knows it serves the current state: loaded and, on a shared
    /// database, listening with a recent confirmation.
    pub fn is_current(&self) -> bool {
        if !self.is_loaded() {
            return false;
        }
        if !self.feed.shared.load(Ordering::Acquire) {
            return true;
        }
        self.feed.listening.load(Ordering::Acquire)
            && self
                .feed
                .confirmed
                .lock()
                .is_some_and(|t| t.elapsed() <= self.options.stale_after)
    }

    /// (Re)builds the resolve index and token cache from the store. The log heads are read
    /// first, so anything committed during the load is applied again by the follower, which
    /// is harmless (applying is idempotent and pointer entries never go back). Only what the
    /// audit verifies is indexed: the rest is reported (`/readyz`, `/metrics`, the log).
    ///
    /// How much is checked before the replica is ready scales with the registry (see
    /// [`super::StartOptions`]): the ledger is replayed from its snapshot when one matches the
    /// log, and past `eager_max` live pointers their content is left cold. Whatever a start
    /// leaves out, the background audit (`warm.rs`) does right after.
    pub async fn load(&self) -> ServiceResult<()> {
        let started = Instant::now();
        let heads = self.store.event_heads().await?;
        // The log replay (the ledger's trees) and the pointers' read overlap: on a large
        // registry each takes a good part of the start-up. Each is timed for the log line.
        let timed = |what: Instant| what.elapsed().as_millis();
        let (pointers, replayed) = tokio::try_join!(
            async {
                let t = Instant::now();
                // A pointer row that does not decode is not fatal: the full read below
                // names it and leaves it out.
                let live = match self.store.load_live_pointers().await {
                    Ok(live) => Some(live),
                    Err(e) => {
                        tracing::warn!(error = %e, "live pointers: reading them with their content instead");
                        None
                    }
                };
                Ok::<_, promptreg_store::StoreError>((live, timed(t)))
            },
            async {
                let t = Instant::now();
                let snapshot = match self.options.start.ledger_snapshot.clone() {
                    Some(path) => tokio::task::spawn_blocking(move || {
                        crate::integrity::snapshot::Snapshot::load(&path)
                    })
                    .await
                    .ok()
                    .flatten(),
                    None => None,
                };
                let replayed = match snapshot {
                    Some(s) => (Replayed::resume(&*self.store, s).await?, true),
                    None => (Replayed::read(&*self.store).await?, false),
                };
                Ok((replayed, timed(t)))
            }
        )?;
        let ((pointers, live_ms), ((mut replayed, from_snapshot), replay_ms)) =
            (pointers, replayed);
        let live_rows = pointers.as_ref().map_or(0, Vec::len);
        let pointers = pointers.filter(|p| p.len() > self.options.start.eager_max);
        let audit_started = Instant::now();
        let head_map: HashMap<ProjectId, i64> = heads.iter().cloned().collect();
        let (warm, cold, pointer_findings) = match pointers {
            // Few enough (or unreadable without content): every version opened and checked.
            None => {
                let live = self.store.load_deployed().await?;
                let open = |project: &ProjectId, v| self.open(project, v);
                let audited =
                    audit::audit(&*self.store, &head_map, live, &mut replayed, &open).await?;
                (audited.live, Vec::new(), audited.findings)
            }
            Some(pointers) => {
                let audited =
                    audit::audit_pointers(&*self.store, &head_map, pointers, &mut replayed).await?;
                (Vec::new(), audited.live, audited.findings)
            }
        };
        let audit_ms = timed(audit_started);
        let tokens = self.store.load_tokens().await?;
        let rollouts = self.store.load_active_rollouts().await?;
        let mut findings = replayed.findings().to_vec();
        findings.extend(pointer_findings);
        let mut with_candidates = Vec::with_capacity(rollouts.len());
        for r in rollouts {
            let candidate = self
                .store
                .get_version(&r.project, &r.name, r.candidate_version)
                .await?;
            match self.opened_as_announced(&r.project, candidate, &r.candidate_digest) {
                Ok(candidate) => with_candidates.push((r, candidate)),
                Err(message) => findings.push(crate::integrity::Finding {
                    project: r.project.clone(),
                    env: Some(r.env.clone()),
                    name: Some(r.name.clone()),
                    message: format!("rollout {}'s candidate: {message}", r.id),
                }),
            }
        }
        if !from_snapshot {
            self.save_snapshot(&replayed);
        }
        self.ledger.replace_all(replayed.into_trees());
        self.findings.replace(findings);
        self.count_findings();
        let cold_count = cold.len();
        let index_started = Instant::now();
        self.index.replace_all(warm, cold);
        let index_ms = timed(index_started);
        // A reload may follow a restore: a hint could name a version that is gone.
        self.newest.clear();
        self.index.replace_rollouts(with_candidates);
        self.tokens.replace_all(&tokens);
        // The change stream restarts at the heads too; streams open across a reload are
        // told to resync.
        self.hub.reset(&heads);
        *self.feed.applied.lock() = heads.into_iter().collect();
        self.feed
            .shared
            .store(self.store.shares_database(), Ordering::Release);
        self.feed.confirm();
        self.feed.loaded.store(true, Ordering::Release);
        if from_snapshot {
            self.start_replay_due.store(true, Ordering::Release);
        }
        if from_snapshot || cold_count > 0 {
            self.start_audit_due.notify_one();
        }
        tracing::info!(
            live = live_rows,
            cold = cold_count,
            from_snapshot,
            live_read_ms = live_ms,
            log_replay_ms = replay_ms,
            audit_ms,
            index_ms,
            total_ms = timed(started),
            "index loaded"
        );
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> ServiceResult<()> {
        // Bounded like a confirmation: with the database down, the pool would wait its whole
        // acquire timeout (10 s) for a connection, and `/readyz` would hang instead of saying 503.
        match tokio::time::timeout(POLL_TIMEOUT, self.store.ping()).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(super::ServiceError::Unavailable(
                "the database did not answer in time".into(),
            )),
        }
    }

    /// Gives a project that has never changed anything its first environments, `development`,
    /// `staging` and `production` (as Langfuse does), recorded like any environment creation.
    pub async fn start_project(&self, project: &ProjectId) -> ServiceResult<()> {
        if self.feed.mark(project) > 0 {
            return Ok(());
        }
        let system = super::Caller::internal(crate::auth::Principal::system(
            "system",
            "first-start",
            project,
        ));
        let mut tx = self.store.begin(project).await?;
        let mut events = Vec::new();
        for name in ["development", "staging", "production"] {
            let env = promptreg_core::EnvName::parse(name)?;
            if tx.get_environment(&env).await?.is_some() {
                continue;
            }
            tx.insert_environment(&promptreg_store::Environment {
                name: env.clone(),
                protected: false,
                description: None,
                created_by: system.principal.actor(),
                created_at: self.now(),
                approvals_required: 1,
            })
            .await?;
            let change = promptreg_core::ChangeEvent::EnvironmentCreated {
                project: project.clone(),
                env,
            };
            events.push(tx.append_event(self.draft(&system, None, change)).await?);
        }
        tx.commit().await?;
        for event in &events {
            self.applied(event, Known::Nothing).await;
        }
        Ok(())
    }

    /// Applies every event of `project` after what was applied, in order.
    pub(crate) async fn catch_up(&self, project: &ProjectId) -> ServiceResult<()> {
        loop {
            let after = self.feed.mark(project);
            let events = self
                .store
                .events_after(project, after, CATCH_UP_BATCH)
                .await?;
            let done = events.len() < CATCH_UP_BATCH as usize;
            for event in &events {
                self.apply_next(event).await?;
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Applies an event if it is the next one of its project (skips older ones).
    async fn apply_next(&self, event: &EventRecord) -> ServiceResult<bool> {
        let mark = self.feed.mark(&event.project);
        if event.seq <= mark {
            return Ok(true);
        }
        if event.seq != mark + 1 {
            return Ok(false);
        }
        self.apply(event, Known::Nothing).await?;
        let mut applied = self.feed.applied.lock();
        let m = applied.entry(event.project.clone()).or_insert(0);
        if *m < event.seq {
            *m = event.seq;
        }
        Ok(true)
    }

    /// Reads the log heads and catches up every project that is behind.
    async fn catch_up_all(&self) -> ServiceResult<()> {
        let heads = tokio::time::timeout(POLL_TIMEOUT, self.store.event_heads())
            .await
            .map_err(|_| {
                super::ServiceError::Unavailable("the database did not answer in time".into())
            })??;
        for (project, head) in heads {
            if head > self.feed.mark(&project) {
                self.catch_up(&project).await?;
            }
        }
        self.feed.confirm();
        Ok(())
    }

    /// Keeps this process current with changes committed by other processes until `stop`
    /// (PostgreSQL `LISTEN` plus a heads poll; nothing to follow for an embedded database).
    pub async fn follow(self: Arc<Self>, stop: CancellationToken) -> ServiceResult<()> {
        let Some(mut feed) = self.store.subscribe().await? else {
            // An embedded database: every change passes through this process.
            stop.cancelled().await;
            return Ok(());
        };
        self.feed.shared.store(true, Ordering::Release);
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                notice = feed.next() => {
                    let Some(notice) = notice else {
                        self.feed.listening.store(false, Ordering::Release);
                        return Ok(());
                    };
                    self.on_notice(notice).await;
                }
                _ = poll.tick() => {
                    if let Err(e) = self.catch_up_all().await {
                        tracing::warn!(error = %e, "change feed: cannot confirm this replica is current");
                    }
                }
            }
        }
    }

    async fn on_notice(&self, notice: StoreNotice) {
        match notice {
            StoreNotice::Event(event) => match self.apply_next(&event).await {
                Ok(true) => {}
                Ok(false) => {
                    if let Err(e) = self.catch_up(&event.project).await {
                        tracing::warn!(error = %e, "change feed: catch-up failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, seq = event.seq, "change feed: could not apply an event")
                }
            },
            StoreNotice::Resync => {
                self.feed.listening.store(true, Ordering::Release);
                if let Err(e) = self.catch_up_all().await {
                    tracing::warn!(error = %e, "change feed: catch-up after reconnect failed");
                }
            }
            StoreNotice::Reload => {
                // A project's log was replaced (an import): start over from the store.
                tracing::info!("change feed: a project was restored; reloading");
                if let Err(e) = self.load().await {
                    tracing::warn!(error = %e, "change feed: reload after a restore failed");
                }
            }
            StoreNotice::Lost => {
                tracing::warn!(
                    "change feed lost: this replica is not ready until it resynchronises"
                );
                self.feed.listening.store(false, Ordering::Release);
            }
        }
    }
}
