//! The change stream and environment snapshots: what agents keep their caches with.
//!
//! - [`hub`]: one per process, fed by `Registry::apply` (the funnel of local commits and
//!   other replicas' events); frames go out per project in `seq` order, serialised once.
//! - [`stream`]: one watcher: replay from the log after `Last-Event-ID`, `ready`, then live
//!   frames and heartbeats; `resync` when it cannot be kept current.
//! - Here: opening a stream (policy, the 404 for an unknown environment, the replay limit),
//!   reading an environment's state for a snapshot and signing it, and the gap repair.

pub mod hub;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use promptreg_core::integrity::dsse::Envelope;
use promptreg_core::{EnvName, ProjectId};
use promptreg_store::{RolloutRecord, SigningKeyRecord, VersionRecord};
use tokio_util::sync::CancellationToken;

pub use stream::WatchFilter;

use super::{Action, Caller, Registry, Resource, ServiceResult};

/// The change stream's knobs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How often an open stream gets a heartbeat comment.
    pub heartbeat: Duration,
    /// Frames a watcher may fall behind by before it gets `resync` (`lagged`) and is closed.
    pub buffer: usize,
    /// The longest replay served, in log events; a longer one gets `resync`
    /// (`too_far_behind`): reload a snapshot instead.
    pub replay_limit: i64,
}

/// Default heartbeat interval.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// Default per-watcher buffer, in frames.
pub const DEFAULT_BUFFER: usize = 1024;
/// Default replay limit, in log events.
pub const DEFAULT_REPLAY_LIMIT: i64 = 10_000;

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            heartbeat: DEFAULT_HEARTBEAT,
            buffer: DEFAULT_BUFFER,
            replay_limit: DEFAULT_REPLAY_LIMIT,
        }
    }
}

/// How long a gap in a project's events may hold the stream back before the missing events
/// are read from the log.
const GAP_GRACE: Duration = Duration::from_millis(500);

/// An environment as of a log position, for a snapshot.
pub struct EnvState {
    /// The project.
    pub project: ProjectId,
    /// The environment.
    pub env: EnvName,
    /// The name prefix it is limited to.
    pub prefix: Option<String>,
    /// Every change up to here is reflected (taken before the state was read).
    pub seq: i64,
    /// When.
    pub taken_at: DateTime<Utc>,
    /// Every public signing key.
    pub keys: Vec<SigningKeyRecord>,
    /// The live prompts by name.
    pub prompts: Vec<LivePrompt>,
}

/// One live pointer of an [`EnvState`].
pub struct LivePrompt {
    /// The pointer record that made `live` live.
    pub pointer_seq: i64,
    /// The live version (opened, verified when it was indexed).
    pub live: VersionRecord,
    /// Its active rollout and candidate, if any.
    pub rollout: Option<(RolloutRecord, VersionRecord)>,
}

impl Registry {
    /// Opens a change stream for `caller`'s project: 404 for an unknown environment before
    /// anything is streamed. Subscribes to the hub first, then replays the log from
    /// `after` up to where the subscription starts, so that nothing falls between the two
    /// and nothing comes twice. `stop` ends the stream with `resync` (`shutdown`).
    pub async fn watch(
        &self,
        caller: &Caller,
        filter: WatchFilter,
        after: Option<i64>,
        stop: Option<CancellationToken>,
    ) -> ServiceResult<impl Stream<Item = Bytes> + Send + 'static> {
        self.check(caller, Action::Resolve, Resource::Project(&caller.project))?;
        if let Some(env) = &filter.env {
            self.store.get_environment(&caller.project, env).await?;
        }
        let (rx, head) = self.hub.subscribe(&caller.project);
        let options = &self.options.watch;
        let (last, until, too_far) = match after {
            // Nothing to replay: live from what the hub sent last.
            None => (head, None, false),
            Some(after) if after >= head => (after, None, false),
            Some(after) => (after, Some(head), head - after > options.replay_limit),
        };
        let stop = match stop {
            Some(conn) => {
                // Either the connection's server stopping or this registry shutting down.
                let both = self.watch_stop.child_token();
                let linked = both.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = conn.cancelled() => linked.cancel(),
                        () = linked.cancelled() => {}
                    }
                });
                both
            }
            None => self.watch_stop.child_token(),
        };
        let watcher = stream::Watcher {
            store: self.store.clone(),
            project: caller.project.clone(),
            filter,
            rx,
            last,
            phase_until: until,
            heartbeat: options.heartbeat,
            stop,
            too_far,
        };
        Ok(watcher.into_stream())
    }

    /// Ends every open change stream with `resync` (`shutdown`).
    pub fn stop_watchers(&self) {
        self.watch_stop.cancel();
    }

    /// The state of an environment for a snapshot: the log position first, then every live
    /// pointer (from memory, as resolve serves it) and active rollout, so the state is at
    /// least as new as `seq`.
    pub async fn env_state(
        &self,
        caller: &Caller,
        env: EnvName,
        prefix: Option<String>,
    ) -> ServiceResult<EnvState> {
        self.check(caller, Action::Resolve, Resource::Project(&caller.project))?;
        let project = &caller.project;
        self.store.get_environment(project, &env).await?;
        let seq = self.hub.head(project);
        let taken_at = self.now();
        let mut slots = self.index.live_in(project.as_str(), env.as_str());
        slots.retain(|slot| prefix.as_deref().is_none_or(|p| slot.name().starts_with(p)));
        let mut prompts = Vec::with_capacity(slots.len());
        for slot in slots {
            // Moved, left or refused since the listing: not part of this state.
            let Some(entry) = self.warm_slot(slot).await? else {
                continue;
            };
            let name = entry.version.name.as_str();
            let rollout = match self.index.rollout(project.as_str(), env.as_str(), name) {
                Some(r) => match &r.candidate {
                    Some(candidate) => {
                        let record = self.store.get_rollout(project, &r.overlay.id).await?;
                        (record.is_active()
                            && record.candidate_version == candidate.version.version)
                            .then(|| (record, candidate.version.clone()))
                    }
                    None => None,
                },
                None => None,
            };
            prompts.push(LivePrompt {
                pointer_seq: entry.seq,
                live: entry.version.clone(),
                rollout,
            });
        }
        let keys = self.store.list_signing_keys().await?;
        Ok(EnvState {
            project: project.clone(),
            env,
            prefix,
            seq,
            taken_at,
            keys,
            prompts,
        })
    }

    /// Signs a snapshot's payload (RFC 8785 canonical JSON) with the current signing key.
    pub fn sign_env_snapshot(&self, snapshot: &promptreg_api::EnvSnapshot) -> Envelope {
        let value = serde_json::to_value(snapshot).unwrap_or_default();
        let payload = promptreg_core::content::canonical_json(&value);
        Envelope::sign(
            promptreg_api::ENV_SNAPSHOT_PAYLOAD_TYPE,
            payload.as_bytes(),
            &self.signer.current(),
        )
    }

    /// Fills gaps that hold the change stream back: a change committed here whose writer
    /// never applied it (its request was cancelled between commit and apply) is read from
    /// the log. Runs until `stop`.
    pub async fn repair_watch_gaps(self: Arc<Self>, stop: CancellationToken) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(GAP_GRACE);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            for project in self.hub.stalled(GAP_GRACE) {
                if let Err(e) = self.catch_up(&project).await {
                    tracing::warn!(error = %e, project = %project, "change stream: filling a gap failed");
                }
            }
        }
    }
}
