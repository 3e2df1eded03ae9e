//! One watcher's stream: the replay of what it missed (read from the log in batches), the
//! `ready` frame, then the live frames of the hub, with heartbeats, until the server stops,
//! the watcher falls behind or the hub restarts. Each step yields the bytes of whole SSE
//! events; live frames are the hub's shared bytes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use promptreg_api::{WatchReady, WatchResync};
use promptreg_core::{EnvName, ProjectId};
use promptreg_store::Store;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::hub::{Frame, Shared};

/// Events read per replay query.
const REPLAY_BATCH: u32 = 500;
/// An SSE comment: keeps the connection (and every proxy on the way) from counting it idle,
/// and tells the client the server is alive.
const HEARTBEAT: &[u8] = b": heartbeat\n\n";

/// What a watcher asked for.
#[derive(Debug, Clone, Default)]
pub struct WatchFilter {
    /// Only changes in this environment (version creations are in every environment).
    pub env: Option<EnvName>,
    /// Only prompts whose name starts with this.
    pub prefix: Option<String>,
}

impl WatchFilter {
    fn matches(&self, frame: &Frame) -> bool {
        let env_ok = match (&self.env, &frame.env) {
            (Some(want), Some(env)) => want == env,
            _ => true,
        };
        env_ok
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| frame.name.as_str().starts_with(p))
    }
}

enum Phase {
    /// Reading the log from `last` up to `until` (what the hub had sent when this
    /// watcher subscribed: everything after it comes from the hub).
    Replay { until: i64 },
    /// Live from the hub.
    Live,
    /// A last frame sent; the stream ends.
    Done,
}

/// One open change stream.
pub(crate) struct Watcher {
    pub(super) store: Arc<dyn Store>,
    pub(super) project: ProjectId,
    pub(super) filter: WatchFilter,
    pub(super) rx: broadcast::Receiver<Shared>,
    /// Every event up to here has been sent or filtered out.
    pub(super) last: i64,
    pub(super) phase_until: Option<i64>,
    pub(super) heartbeat: Duration,
    /// The server is stopping (its connections close).
    pub(super) stop: CancellationToken,
    /// A replay longer than this many log events is refused (`too_far_behind`).
    pub(super) too_far: bool,
}

struct Running {
    w: Watcher,
    phase: Phase,
    queue: VecDeque<Bytes>,
    ticks: tokio::time::Interval,
}

fn resync(reason: &str, seq: i64) -> Bytes {
    let data = serde_json::to_string(&WatchResync {
        reason: reason.into(),
        seq,
    })
    .unwrap_or_default();
    Bytes::from(format!("id: {seq}\nevent: resync\ndata: {data}\n\n"))
}

impl Watcher {
    /// The stream of SSE bytes.
    pub(crate) fn into_stream(self) -> impl Stream<Item = Bytes> + Send + 'static {
        let period = self.heartbeat;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let phase = match self.phase_until {
            Some(until) => Phase::Replay { until },
            None => Phase::Live,
        };
        let mut queue = VecDeque::new();
        let phase = if self.too_far {
            queue.push_back(resync("too_far_behind", self.last));
            Phase::Done
        } else {
            if matches!(phase, Phase::Live) {
                queue.push_back(self.ready());
            }
            phase
        };
        let running = Running {
            w: self,
            phase,
            queue,
            ticks,
        };
        futures::stream::unfold(running, |mut r| async move {
            let next = r.next().await?;
            Some((next, r))
        })
    }

    fn ready(&self) -> Bytes {
        let data = serde_json::to_string(&WatchReady {
            seq: self.last,
            heartbeat_ms: u64::try_from(self.heartbeat.as_millis()).unwrap_or(u64::MAX),
        })
        .unwrap_or_default();
        Bytes::from(format!("id: {}\nevent: ready\ndata: {data}\n\n", self.last))
    }
}

impl Running {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.queue.pop_front() {
                return Some(bytes);
            }
            match self.phase {
                Phase::Done => return None,
                Phase::Replay { until } => self.replay(until).await,
                Phase::Live => {
                    let Running {
                        w, phase, ticks, ..
                    } = self;
                    tokio::select! {
                        biased;
                        () = w.stop.cancelled() => {
                            *phase = Phase::Done;
                            return Some(resync("shutdown", w.last));
                        }
                        got = w.rx.recv() => match got {
                            Ok((seq, frame)) => {
                                if seq <= w.last {
                                    continue;
                                }
                                w.last = seq;
                                if let Some(frame) = frame.filter(|f| w.filter.matches(f)) {
                                    ticks.reset();
                                    return Some(frame.bytes.clone());
                                }
                            }
                            Err(RecvError::Lagged(_)) => {
                                *phase = Phase::Done;
                                return Some(resync("lagged", w.last));
                            }
                            Err(RecvError::Closed) => {
                                // The hub restarted (a full reload): continuity is not
                                // guaranteed across it.
                                *phase = Phase::Done;
                                return Some(resync("reload", w.last));
                            }
                        },
                        _ = ticks.tick() => return Some(Bytes::from_static(HEARTBEAT)),
                    }
                }
            }
        }
    }

    /// Reads the next batch of the log into the queue; at `until`, queues `ready` and goes
    /// live. A log that cannot be read ends the stream (the client reconnects from its last
    /// id).
    async fn replay(&mut self, until: i64) {
        let w = &mut self.w;
        if w.last >= until {
            self.queue.push_back(w.ready());
            self.phase = Phase::Live;
            return;
        }
        let limit = u32::try_from(until - w.last).map_or(REPLAY_BATCH, |n| n.min(REPLAY_BATCH));
        let events = match w.store.events_after(&w.project, w.last, limit).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "change stream: the replay could not read the log");
                self.phase = Phase::Done;
                return;
            }
        };
        if events.is_empty() {
            // The log ends before what the hub announced (it cannot, short of a restore
            // racing this): go live from there rather than loop.
            w.last = until;
        }
        for event in events {
            if event.seq > until {
                w.last = until;
                break;
            }
            w.last = event.seq;
            if let Some(frame) = Frame::of(&event).filter(|f| w.filter.matches(f)) {
                self.queue.push_back(frame.bytes);
            }
        }
    }
}
