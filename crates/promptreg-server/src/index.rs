//! The resolve index: every live pointer with its version content and a pre-serialised answer.
//!
//! Resolve is the agents' hot path, so it does not touch the database (but for a cold pointer's
//! first answer, below): the index is built from the store at start-up and updated by
//! `Registry::apply` after every committed change (this process's, or another replica's
//! through the store's change feed).
//! Entries are immutable and shared (`Arc`); a pointer move swaps one entry.
//!
//! A large registry starts *cold*: its pointers are indexed with only what the start-up audit
//! checked (version, record seq, the ledger's digest), and each one's version is read, opened
//! and checked where it is first needed (`Registry::live_entry`) or by the background audit,
//! which then makes the slot *warm*. A cold slot is never answered from: only warm entries are.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;
use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use promptreg_api::Resolved;
use promptreg_core::{Digest, EnvName, ProjectId, PromptName, Version};
use promptreg_store::{LivePointer, VersionRecord};

use crate::metrics::{Metrics, ResolveLabels};

/// One live pointer.
pub struct Entry {
    /// The live version.
    pub version: VersionRecord,
    /// The seq of the pointer record that made it live: an entry is only ever replaced by one
    /// with a higher seq, so an event applied late (a replica's feed racing a local write)
    /// can never put an older version back.
    pub seq: i64,
    /// The `GET /v1/resolve` body, serialised once.
    pub body: Bytes,
    /// `"<digest>"`, the ETag.
    pub etag: HeaderValue,
    /// This pointer's resolve counter.
    pub resolves: Counter,
}

/// A live pointer whose content has not been read yet (a large registry's start-up).
pub struct ColdEntry {
    /// Tenant.
    pub project: ProjectId,
    /// Environment.
    pub env: EnvName,
    /// Prompt.
    pub name: PromptName,
    /// The live version.
    pub version: Version,
    /// Its digest, as the ledger's last move of the pointer recorded it: the stored version
    /// must have it, and its content recompute to it, before it is served.
    pub digest: Digest,
    /// The seq of the pointer record that made it live.
    pub seq: i64,
    /// The outcome of warming it, shared: callers that need it at once wait for one read
    /// (`None`: it did not verify, or the pointer moved meanwhile). A failed read is not
    /// kept: the next caller tries again.
    pub warmed: tokio::sync::OnceCell<Option<Arc<Entry>>>,
}

/// One pointer in the index.
#[derive(Clone)]
pub enum Slot {
    /// Ready to answer.
    Warm(Arc<Entry>),
    /// Its content still to be read.
    Cold(Arc<ColdEntry>),
}

impl Slot {
    /// The seq of the pointer record it stands for.
    pub fn seq(&self) -> i64 {
        match self {
            Slot::Warm(e) => e.seq,
            Slot::Cold(c) => c.seq,
        }
    }

    /// The prompt's name.
    pub fn name(&self) -> &str {
        match self {
            Slot::Warm(e) => e.version.name.as_str(),
            Slot::Cold(c) => c.name.as_str(),
        }
    }
}

type EnvMap = HashMap<String, HashMap<String, Slot>>;
type RolloutMap = HashMap<String, HashMap<String, HashMap<String, Arc<RolloutEntry>>>>;

/// What resolve needs to know of a pointer's rollout (from its latest event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutOverlay {
    /// The rollout id (the bucketing group).
    pub id: String,
    /// The revision this reflects; older revisions of the same rollout never replace it.
    pub revision: i64,
    /// Share of subjects on the candidate, in 1/10,000.
    pub weight: u32,
    /// The current step.
    pub step: u32,
    /// Blue-green before its switch: the candidate is served on `track=preview`.
    pub preview: bool,
    /// The pointer is on the candidate already (blue-green watching after its switch).
    pub switched: bool,
}

/// A pointer's rollout: its overlay and the candidate's pre-serialised answer. An ended
/// rollout stays as a tombstone so a late event of it cannot bring it back.
pub struct RolloutEntry {
    /// What resolve needs.
    pub overlay: RolloutOverlay,
    /// The candidate, answered like a live version.
    pub candidate: Option<Arc<Entry>>,
    /// Over: serve the pointer only.
    pub ended: bool,
}

impl RolloutEntry {
    /// Whether `(id, revision)` is newer than this entry (ids are UUID v7: later rollouts sort
    /// higher).
    fn is_older_than(&self, id: &str, revision: i64) -> bool {
        match self.overlay.id.as_str().cmp(id) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => self.overlay.revision < revision,
            std::cmp::Ordering::Greater => false,
        }
    }
}

/// Project → environment → prompt → entry.
pub struct ResolveIndex {
    map: RwLock<HashMap<String, EnvMap>>,
    rollouts: RwLock<RolloutMap>,
    /// Rollouts not ended: while 0, resolve skips the rollout map.
    active_rollouts: std::sync::atomic::AtomicUsize,
    metrics: Arc<Metrics>,
}

impl ResolveIndex {
    /// An empty index reporting to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            rollouts: RwLock::new(HashMap::new()),
            active_rollouts: std::sync::atomic::AtomicUsize::new(0),
            metrics,
        }
    }

    /// The active rollout of a pointer, if any.
    pub fn rollout(&self, project: &str, env: &str, name: &str) -> Option<Arc<RolloutEntry>> {
        if self
            .active_rollouts
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            return None;
        }
        let map = self.rollouts.read();
        let entry = map.get(project)?.get(env)?.get(name)?;
        (!entry.ended).then(|| entry.clone())
    }

    /// Sets a pointer's rollout to `overlay` serving `candidate`, unless the index holds a newer
    /// state of it (or of a later rollout).
    pub fn set_rollout(
        &self,
        project: &ProjectId,
        env: &EnvName,
        overlay: RolloutOverlay,
        candidate: VersionRecord,
    ) {
        let name = candidate.name.to_string();
        let entry = self.entry(project, env, candidate, 0);
        self.put_rollout(
            project,
            env,
            name,
            RolloutEntry {
                overlay,
                candidate: Some(entry),
                ended: false,
            },
        );
    }

    /// Marks a pointer's rollout ended at `revision` (stable, or the promoted candidate, is the
    /// pointer's live version from now on).
    pub fn end_rollout(
        &self,
        project: &ProjectId,
        env: &EnvName,
        name: &PromptName,
        id: &str,
        revision: i64,
    ) {
        let overlay = RolloutOverlay {
            id: id.to_owned(),
            revision,
            weight: 0,
            step: 0,
            preview: false,
            switched: false,
        };
        self.put_rollout(
            project,
            env,
            name.to_string(),
            RolloutEntry {
                overlay,
                candidate: None,
                ended: true,
            },
        );
    }

    fn put_rollout(&self, project: &ProjectId, env: &EnvName, name: String, entry: RolloutEntry) {
        let mut map = self.rollouts.write();
        let slot = map
            .entry(project.to_string())
            .or_default()
            .entry(env.to_string())
            .or_default()
            .entry(name);
        // The count of active rollouts changes by what this put replaces; kept under the
        // write lock, so it never needs a scan.
        let active = !entry.ended;
        let (was_active, replaced) = match slot {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if o.get()
                    .is_older_than(&entry.overlay.id, entry.overlay.revision)
                {
                    let was = !o.get().ended;
                    o.insert(Arc::new(entry));
                    (was, true)
                } else {
                    (false, false)
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Arc::new(entry));
                (false, true)
            }
        };
        if replaced && active != was_active {
            let counter = &self.active_rollouts;
            if active {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else {
                counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Replaces every rollout (start-up and resynchronisation).
    pub fn replace_rollouts(&self, active: Vec<(promptreg_store::RolloutRecord, VersionRecord)>) {
        {
            // Cleared and counted under one lock, so no put falls between the two.
            let mut map = self.rollouts.write();
            map.clear();
            self.active_rollouts
                .store(0, std::sync::atomic::Ordering::Relaxed);
        }
        for (r, candidate) in active {
            let overlay = RolloutOverlay {
                id: r.id.clone(),
                revision: r.revision,
                weight: r.state.weight,
                step: r.state.step,
                preview: r.spec.strategy_name() == "blue_green" && !r.state.switched,
                switched: r.state.switched,
            };
            self.set_rollout(&r.project, &r.env, overlay, candidate);
        }
    }

    /// A pointer's slot, warm or cold.
    pub fn slot(&self, project: &str, env: &str, name: &str) -> Option<Slot> {
        self.map.read().get(project)?.get(env)?.get(name).cloned()
    }

    /// The live slots of an environment, ordered by prompt name (snapshots and OFREP bulk
    /// evaluation; not the resolve path).
    pub fn live_in(&self, project: &str, env: &str) -> Vec<Slot> {
        let map = self.map.read();
        let mut slots: Vec<Slot> = map
            .get(project)
            .and_then(|envs| envs.get(env))
            .map(|prompts| prompts.values().cloned().collect())
            .unwrap_or_default();
        drop(map);
        slots.sort_by(|a, b| a.name().cmp(b.name()));
        slots
    }

    /// How many cold slots are left.
    pub fn cold_count(&self) -> usize {
        let map = self.map.read();
        map.values()
            .flat_map(|envs| envs.values())
            .flat_map(HashMap::values)
            .filter(|slot| matches!(slot, Slot::Cold(_)))
            .count()
    }

    fn entry(
        &self,
        project: &ProjectId,
        env: &EnvName,
        version: VersionRecord,
        seq: i64,
    ) -> Arc<Entry> {
        let resolved = Resolved {
            name: version.name.to_string(),
            version: version.version,
            digest: version.digest.to_string(),
            prompt_type: version.content.prompt_type(),
            template: version.content.body().template().map(str::to_owned),
            messages: version.content.body().messages().map(<[_]>::to_vec),
            variables: version.content.variables().map(|v| v.as_value().clone()),
            model: version
                .content
                .model()
                .map(|m| serde_json::Value::Object(m.clone())),
            env: env.to_string(),
            assignment: None,
        };
        let body = Bytes::from(serde_json::to_vec(&resolved).unwrap_or_default());
        let etag = HeaderValue::from_str(&format!("\"{}\"", version.digest))
            .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        let resolves = self
            .metrics
            .resolves
            .get_or_create(&ResolveLabels {
                project: project.to_string(),
                env: env.to_string(),
                prompt: version.name.to_string(),
                version: version.version.to_string(),
            })
            .clone();
        Arc::new(Entry {
            version,
            seq,
            body,
            etag,
            resolves,
        })
    }

    /// Makes `version` (made live by the pointer record `seq`) the live one for its pointer,
    /// unless the index already holds a record at least as new. Returns whether it did.
    pub fn set_if_newer(
        &self,
        project: &ProjectId,
        env: &EnvName,
        version: VersionRecord,
        seq: i64,
    ) -> bool {
        let name = version.name.to_string();
        let current = self.slot(project.as_str(), env.as_str(), &name);
        if current.is_some_and(|c| c.seq() >= seq) {
            return false;
        }
        // Built outside the write lock (serialising the answer is the costly part), then
        // checked again under it.
        let entry = self.entry(project, env, version, seq);
        let mut map = self.map.write();
        let slot = map
            .entry(project.to_string())
            .or_default()
            .entry(env.to_string())
            .or_default()
            .entry(name);
        let changed = match slot {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if o.get().seq() >= seq {
                    false
                } else {
                    o.insert(Slot::Warm(entry));
                    true
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Slot::Warm(entry));
                true
            }
        };
        self.metrics.index_entries.set(count(&map));
        changed
    }

    /// Warms a cold slot with its content, opened and checked by the caller: only when the
    /// slot is still the cold one of record `cold.seq`. Returns the pointer's warm entry of
    /// that record (this one, or the one another caller put first); `None` when the pointer
    /// moved or left meanwhile (look it up again).
    pub fn warm(&self, cold: &ColdEntry, version: VersionRecord) -> Option<Arc<Entry>> {
        let entry = self.entry(&cold.project, &cold.env, version, cold.seq);
        let mut map = self.map.write();
        let slot = map
            .get_mut(cold.project.as_str())?
            .get_mut(cold.env.as_str())?
            .get_mut(cold.name.as_str())?;
        match slot {
            Slot::Cold(c) if c.seq == cold.seq => {
                *slot = Slot::Warm(entry.clone());
                Some(entry)
            }
            Slot::Warm(e) if e.seq == cold.seq => Some(e.clone()),
            _ => None,
        }
    }

    /// Takes a cold slot out of the index (its content did not verify), when it is still
    /// the cold one of record `cold.seq`.
    pub fn remove_cold(&self, cold: &ColdEntry) {
        let mut map = self.map.write();
        let Some(prompts) = map
            .get_mut(cold.project.as_str())
            .and_then(|envs| envs.get_mut(cold.env.as_str()))
        else {
            return;
        };
        if matches!(prompts.get(cold.name.as_str()), Some(Slot::Cold(c)) if c.seq == cold.seq) {
            prompts.remove(cold.name.as_str());
        }
        self.metrics.index_entries.set(count(&map));
    }

    /// Replaces the whole index (start-up and resynchronisation): `warm` pointers with their
    /// content, `cold` ones without.
    pub fn replace_all(
        &self,
        warm: Vec<promptreg_store::DeployedVersion>,
        cold: Vec<(LivePointer, Digest)>,
    ) {
        let mut fresh: HashMap<String, EnvMap> = HashMap::new();
        let mut put = |project: &ProjectId, env: &EnvName, name: &PromptName, slot: Slot| {
            fresh
                .entry(project.to_string())
                .or_default()
                .entry(env.to_string())
                .or_default()
                .insert(name.to_string(), slot);
        };
        for d in warm {
            let (project, env, name) = (d.project.clone(), d.env.clone(), d.version.name.clone());
            put(
                &project,
                &env,
                &name,
                Slot::Warm(self.entry(&d.project, &d.env, d.version, d.seq)),
            );
        }
        for (p, digest) in cold {
            let cold = Slot::Cold(Arc::new(ColdEntry {
                project: p.project.clone(),
                env: p.env.clone(),
                name: p.name.clone(),
                version: p.version,
                digest,
                seq: p.seq,
                warmed: tokio::sync::OnceCell::new(),
            }));
            put(&p.project, &p.env, &p.name, cold);
        }
        let mut map = self.map.write();
        *map = fresh;
        self.metrics.index_entries.set(count(&map));
    }
}

fn count(map: &HashMap<String, EnvMap>) -> i64 {
    let n: usize = map
        .values()
        .flat_map(|envs| envs.values())
        .map(HashMap::len)
        .sum();
    i64::try_from(n).unwrap_or(i64::MAX)
}
