//! The hub of the change stream: one per process, fed by `Registry::apply` with every
//! committed event (this process's and, through the change feed, other replicas'), in any
//! order. Per project it puts events back in `seq` order (like the ledger's `offer`), turns
//! each watched change into its SSE frame once, and broadcasts the shared bytes to every
//! watcher of the project: a thousand watchers cost one serialisation and a thousand
//! reference counts per change.
//!
//! Each watcher reads the broadcast ring at its own pace; the ring holds `capacity` frames,
//! so a watcher that falls further behind than that is told so (`Lagged`) instead of the
//! server buffering for it without limit: memory is bounded by the ring, not by the slowest
//! client.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use promptreg_api::WatchKind;
use promptreg_core::{ChangeEvent, EnvName, EventRecord, ProjectId, PromptName};
use tokio::sync::broadcast;

/// How many out-of-order events a project may hold back before the oldest gap is given up
/// on (the gap repair and the follower's catch-up fill gaps; this only bounds memory).
const MAX_PENDING: usize = 10_000;

/// One committed change as the change stream sends it.
#[derive(Debug)]
pub struct Frame {
    /// The project's log position.
    pub seq: i64,
    /// The environment (`None` for a version creation, sent to every environment's watcher).
    pub env: Option<EnvName>,
    /// The prompt.
    pub name: PromptName,
    /// `id: …\nevent: …\ndata: …\n\n`, serialised once.
    pub bytes: Bytes,
}

impl Frame {
    /// The frame of a change the stream carries; `None` for every other kind (tokens,
    /// webhooks, change requests…: watchers neither see them nor need them).
    pub fn of(event: &EventRecord) -> Option<Frame> {
        let (kind, env, name) = match &event.change {
            ChangeEvent::VersionCreated { name, .. } => (WatchKind::VersionCreated, None, name),
            ChangeEvent::PointerMoved { env, name, .. } => {
                (WatchKind::PointerMoved, Some(env.clone()), name)
            }
            ChangeEvent::RolloutChanged { env, name, .. } => {
                (WatchKind::RolloutChanged, Some(env.clone()), name)
            }
            _ => return None,
        };
        // Compact serde JSON has no line breaks: the record fits on one `data:` line.
        let data = serde_json::to_string(event).ok()?;
        let text = format!(
            "id: {}\nevent: {}\ndata: {data}\n\n",
            event.seq,
            kind.as_str()
        );
        Some(Frame {
            seq: event.seq,
            env,
            name: name.clone(),
            bytes: Bytes::from(text),
        })
    }
}

/// What a watcher receives from the hub (`None`: an event of a kind the stream does not carry;
/// it still moves the watcher's position).
pub type Shared = (i64, Option<Arc<Frame>>);

struct ProjectFeed {
    /// Every event up to this `seq` has been broadcast.
    head: i64,
    /// Events that arrived ahead of a missing `seq`, and when the first of them did.
    pending: BTreeMap<i64, Option<Arc<Frame>>>,
    held_since: Option<Instant>,
    tx: broadcast::Sender<Shared>,
}

impl ProjectFeed {
    fn new(head: i64, capacity: usize) -> Self {
        Self {
            head,
            pending: BTreeMap::new(),
            held_since: None,
            tx: broadcast::channel(capacity).0,
        }
    }

    fn send(&mut self, seq: i64, frame: Option<Arc<Frame>>) {
        self.head = seq;
        // No receiver is not an error: nobody watches this project now.
        let _ = self.tx.send((seq, frame));
    }

    fn offer(&mut self, seq: i64, frame: Option<Arc<Frame>>, capacity: usize) {
        if seq <= self.head {
            return;
        }
        if seq > self.head + 1 {
            if self.pending.len() >= MAX_PENDING {
                // Give up on the gap: whoever watches cannot be kept gap-free, so their
                // streams end (with `resync`) and the feed restarts past the gap.
                tracing::warn!(
                    head = self.head,
                    "change stream: a gap was not filled; watchers must resync"
                );
                let first = self.pending.keys().next().copied().unwrap_or(seq);
                *self = ProjectFeed {
                    pending: std::mem::take(&mut self.pending),
                    ..ProjectFeed::new(first - 1, capacity)
                };
            } else {
                self.pending.insert(seq, frame);
                self.held_since.get_or_insert_with(Instant::now);
                return;
            }
        }
        if seq == self.head + 1 {
            self.send(seq, frame);
        } else {
            self.pending.insert(seq, frame);
        }
        while let Some(entry) = self.pending.first_entry() {
            let key = *entry.key();
            if key <= self.head {
                entry.remove();
            } else if key == self.head + 1 {
                let frame = entry.remove();
                self.send(key, frame);
            } else {
                break;
            }
        }
        if self.pending.is_empty() {
            self.held_since = None;
        }
    }
}

/// The change stream's fan-out.
pub struct WatchHub {
    projects: Mutex<HashMap<ProjectId, ProjectFeed>>,
    /// Frames a watcher may fall behind by before it is dropped.
    capacity: usize,
}

impl WatchHub {
    /// A hub whose watchers may each fall `capacity` frames behind.
    pub fn new(capacity: usize) -> Self {
        Self {
            projects: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Takes a committed event, in any order; each project's events go out in `seq` order,
    /// once, without gaps.
    pub fn offer(&self, event: &EventRecord) {
        // Serialised before the lock: the lock only orders and hands out.
        let frame = Frame::of(event).map(Arc::new);
        let mut projects = self.projects.lock();
        let feed = projects
            .entry(event.project.clone())
            .or_insert_with(|| ProjectFeed::new(0, self.capacity));
        feed.offer(event.seq, frame, self.capacity);
    }

    /// Starts watching a project: the receiver gets every event after the returned position
    /// (nothing before it, nothing twice).
    pub fn subscribe(&self, project: &ProjectId) -> (broadcast::Receiver<Shared>, i64) {
        let mut projects = self.projects.lock();
        let feed = projects
            .entry(project.clone())
            .or_insert_with(|| ProjectFeed::new(0, self.capacity));
        (feed.tx.subscribe(), feed.head)
    }

    /// The position up to which every event of a project has gone out.
    pub fn head(&self, project: &ProjectId) -> i64 {
        self.projects.lock().get(project).map_or(0, |f| f.head)
    }

    /// Restarts every project at the log heads (start-up and a full reload). Continuity
    /// with what was sent before cannot be vouched for (a restored project's log was
    /// replaced), so open streams end: their channel closes and they send `resync`.
    pub fn reset(&self, heads: &[(ProjectId, i64)]) {
        let mut projects = self.projects.lock();
        projects.clear();
        for (project, head) in heads {
            projects.insert(project.clone(), ProjectFeed::new(*head, self.capacity));
        }
    }

    /// Projects holding events back behind a gap for longer than `for_at_least`: their
    /// missing events are read from the log (a writer that committed but did not get to
    /// apply its change, e.g. its request was cancelled).
    pub fn stalled(&self, for_at_least: std::time::Duration) -> Vec<ProjectId> {
        self.projects
            .lock()
            .iter()
            .filter(|(_, f)| f.held_since.is_some_and(|t| t.elapsed() >= for_at_least))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64) -> EventRecord {
        EventRecord {
            project: ProjectId::default(),
            seq,
            at: chrono::Utc::now(),
            actor: "t".into(),
            reason: None,
            request_id: None,
            policies: None,
            change: ChangeEvent::VersionCreated {
                project: ProjectId::default(),
                name: PromptName::parse("p").unwrap(),
                version: promptreg_core::Version::new(seq).unwrap(),
                digest: promptreg_core::Digest::of_bytes(b"x"),
                signature: None,
            },
        }
    }

    #[test]
    fn out_of_order_events_go_out_in_order_once() {
        let hub = WatchHub::new(16);
        let (mut rx, head) = hub.subscribe(&ProjectId::default());
        assert_eq!(head, 0);
        for seq in [2, 3, 1, 2, 5, 4, 1] {
            hub.offer(&event(seq));
        }
        let got: Vec<i64> = std::iter::from_fn(|| rx.try_recv().ok().map(|(s, _)| s)).collect();
        assert_eq!(got, vec![1, 2, 3, 4, 5]);
        assert_eq!(hub.head(&ProjectId::default()), 5);
    }

    #[test]
    fn a_gap_is_reported_as_stalled_until_filled() {
        let hub = WatchHub::new(16);
        hub.offer(&event(2));
        assert_eq!(
            hub.stalled(std::time::Duration::ZERO),
            vec![ProjectId::default()]
        );
        hub.offer(&event(1));
        assert!(hub.stalled(std::time::Duration::ZERO).is_empty());
    }

    #[test]
    fn a_frame_is_one_sse_event_on_one_data_line() {
        let frame = Frame::of(&event(7)).unwrap();
        let text = std::str::from_utf8(&frame.bytes).unwrap();
        assert!(text.starts_with("id: 7\nevent: version_created\ndata: {"));
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 4);
    }
}
