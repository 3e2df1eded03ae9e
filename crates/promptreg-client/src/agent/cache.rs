//! The agent's in-memory state: one immutable, shared entry per live prompt, swapped whole
//! when a change applies. Readers (resolve, the hot path) take a read lock for one map lookup
//! and an `Arc` clone; the sync task is the only writer, so an update's read-check-write
//! cannot race another update.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::verify::{CachedVersion, VerifiedPrompt};

/// A prompt's active rollout, as resolve needs it.
#[derive(Debug)]
pub(crate) struct Rollout {
    /// The rollout id (the bucketing group).
    pub id: String,
    /// Share of subjects on the candidate, in 1/10,000.
    pub weight: u32,
    /// The current step.
    pub step: u32,
    /// Blue-green before its switch: everyone gets stable, the candidate only as `preview`.
    pub preview: bool,
    /// The pointer is on the candidate already.
    pub switched: bool,
    /// The candidate, verified.
    pub candidate: Arc<CachedVersion>,
}

/// One live prompt.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The pointer record that made `live` live: only a higher one replaces it.
    pub pointer_seq: i64,
    /// The live version.
    pub live: Arc<CachedVersion>,
    /// The active rollout, if any.
    pub rollout: Option<Arc<Rollout>>,
    /// The newest (rollout id, revision) applied, ended or not: an event of an older one
    /// (UUID v7 ids sort by creation) or an older revision changes nothing.
    pub rollout_mark: Option<(String, i64)>,
}

impl Entry {
    /// A cached version of this prompt with this number and digest, if any (a promotion
    /// makes the candidate live: no need to fetch it again).
    pub fn find(&self, version: i64, digest: &str) -> Option<Arc<CachedVersion>> {
        let candidate = self.rollout.as_ref().map(|r| &r.candidate);
        [Some(&self.live), candidate]
            .into_iter()
            .flatten()
            .find(|v| v.resolved.version.get() == version && v.resolved.digest == digest)
            .cloned()
    }

    /// Whether `(id, revision)` is newer than the newest rollout state applied.
    pub fn rollout_is_newer(&self, id: &str, revision: i64) -> bool {
        match &self.rollout_mark {
            None => true,
            Some((mark, rev)) => match mark.as_str().cmp(id) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => *rev < revision,
                std::cmp::Ordering::Greater => false,
            },
        }
    }
}

/// Prompt name → entry.
#[derive(Default)]
pub(crate) struct Cache {
    map: RwLock<HashMap<String, Arc<Entry>>>,
}

impl Cache {
    /// The entry of a prompt (the hot path: one lookup, one reference-count increment).
    #[inline]
    pub fn get(&self, name: &str) -> Option<Arc<Entry>> {
        self.map.read().get(name).cloned()
    }

    /// How many prompts are cached.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Replaces everything with a verified snapshot's prompts.
    pub fn replace_all(&self, prompts: Vec<VerifiedPrompt>) {
        let fresh = prompts
            .into_iter()
            .map(|p| {
                let mark = p.rollout.as_ref().map(|(r, _)| (r.id.clone(), r.revision));
                let rollout = p.rollout.map(|(r, candidate)| {
                    Arc::new(Rollout {
                        preview: r.strategy == "blue_green" && !r.switched,
                        id: r.id,
                        weight: r.weight,
                        step: r.step,
                        switched: r.switched,
                        candidate,
                    })
                });
                let entry = Entry {
                    pointer_seq: p.pointer_seq,
                    live: p.live,
                    rollout,
                    rollout_mark: mark,
                };
                (p.name, Arc::new(entry))
            })
            .collect();
        *self.map.write() = fresh;
    }

    /// Makes `live` the prompt's live version at pointer record `seq`, unless the cache holds
    /// a record at least as new. Returns whether it did.
    pub fn set_pointer(&self, name: &str, seq: i64, live: Arc<CachedVersion>) -> bool {
        let mut map = self.map.write();
        let entry = match map.get(name) {
            Some(old) if old.pointer_seq >= seq => return false,
            Some(old) => Entry {
                pointer_seq: seq,
                live,
                rollout: old.rollout.clone(),
                rollout_mark: old.rollout_mark.clone(),
            },
            None => Entry {
                pointer_seq: seq,
                live,
                rollout: None,
                rollout_mark: None,
            },
        };
        map.insert(name.to_owned(), Arc::new(entry));
        true
    }

    /// Sets (`Some`) or ends (`None`) the prompt's rollout at `(id, revision)` if that is newer
    /// than what the cache holds. A prompt that is not live has no rollout to change.
    pub fn set_rollout(
        &self,
        name: &str,
        id: &str,
        revision: i64,
        rollout: Option<Rollout>,
    ) -> bool {
        let mut map = self.map.write();
        let Some(old) = map.get(name) else {
            return false;
        };
        if !old.rollout_is_newer(id, revision) {
            return false;
        }
        let entry = Entry {
            pointer_seq: old.pointer_seq,
            live: old.live.clone(),
            rollout: rollout.map(Arc::new),
            rollout_mark: Some((id.to_owned(), revision)),
        };
        map.insert(name.to_owned(), Arc::new(entry));
        true
    }
}
