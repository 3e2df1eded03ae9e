//! The resolve index: every live pointer with its version content and a pre-serialised answer.
//!
//! Resolve is the agents' hot path, so it never touches the database: the index is built from
//! the store at start-up and updated by `Registry::apply` after every
//! committed change (this process's, or another replica's through the store's change feed).
//! Entries are immutable and shared (`Arc`); a pointer move swaps one entry.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;
use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use promptreg_api::Resolved;
use promptreg_core::{EnvName, ProjectId};
use promptreg_store::VersionRecord;

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

type EnvMap = HashMap<String, HashMap<String, Arc<Entry>>>;

/// Project → environment → prompt → entry.
pub struct ResolveIndex {
    map: RwLock<HashMap<String, EnvMap>>,
    metrics: Arc<Metrics>,
}

impl ResolveIndex {
    /// An empty index reporting to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            metrics,
        }
    }

    /// The live entry for a pointer.
    pub fn get(&self, project: &str, env: &str, name: &str) -> Option<Arc<Entry>> {
        self.map.read().get(project)?.get(env)?.get(name).cloned()
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
        let current = self.get(project.as_str(), env.as_str(), &name);
        if current.is_some_and(|c| c.seq >= seq) {
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
                if o.get().seq >= seq {
                    false
                } else {
                    o.insert(entry);
                    true
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(entry);
                true
            }
        };
        self.metrics.index_entries.set(count(&map));
        changed
    }

    /// Replaces the whole index (start-up and resynchronisation).
    pub fn replace_all(&self, live: Vec<promptreg_store::DeployedVersion>) {
        let mut fresh: HashMap<String, EnvMap> = HashMap::new();
        for d in live {
            let name = d.version.name.to_string();
            let entry = self.entry(&d.project, &d.env, d.version, d.seq);
            fresh
                .entry(d.project.to_string())
                .or_default()
                .entry(d.env.to_string())
                .or_default()
                .insert(name, entry);
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
