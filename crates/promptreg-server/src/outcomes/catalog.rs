//! What an event names, looked up: environments, versions and digests, rollouts. Kept in
//! memory once seen (versions are immutable, environments are never deleted, a rollout's arms
//! never change), so a batch touches the store only for names it has not met before; a name
//! found missing is remembered for the rest of the batch only (it may be created next).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;
use promptreg_core::{Digest, EnvName, ProjectId, PromptName, Version};
use promptreg_store::{PageRequest, Store, StoreError, VersionFilter};

use super::event::{refuse, Refusal};
use crate::registry::ServiceResult;

/// A prompt's versions and their digests.
#[derive(Default)]
pub struct PromptVersions {
    by_version: HashMap<i64, Digest>,
    by_digest: HashMap<String, Version>,
}

/// What events need of a rollout.
#[derive(Debug, Clone)]
pub struct RolloutInfo {
    /// Environment.
    pub env: EnvName,
    /// Prompt.
    pub name: PromptName,
    /// The version served on the stable arm.
    pub stable: Version,
    /// The version served on the candidate (or preview) arm.
    pub candidate: Version,
    /// Its step when it was read (used once it is no longer in the resolve index).
    pub step: u32,
    /// Whether it was active when read.
    pub active: bool,
}

type Nested<T> = HashMap<String, HashMap<String, T>>;

/// The lookups, with their caches.
pub struct Catalog {
    store: Arc<dyn Store>,
    envs: RwLock<HashMap<String, HashSet<String>>>,
    versions: RwLock<Nested<Arc<PromptVersions>>>,
    rollouts: RwLock<Nested<Arc<RolloutInfo>>>,
}

/// Names found missing during one batch.
#[derive(Default)]
pub struct Misses {
    envs: HashSet<String>,
    prompts: HashSet<String>,
    rollouts: HashSet<String>,
}

impl Catalog {
    /// Empty caches over a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            envs: RwLock::default(),
            versions: RwLock::default(),
            rollouts: RwLock::default(),
        }
    }

    /// Refuses an environment that does not exist.
    pub async fn env(
        &self,
        project: &ProjectId,
        env: &EnvName,
        misses: &mut Misses,
    ) -> ServiceResult<Result<(), Refusal>> {
        let known = self
            .envs
            .read()
            .get(project.as_str())
            .is_some_and(|envs| envs.contains(env.as_str()));
        if known {
            return Ok(Ok(()));
        }
        let unknown = || refuse("unknown_env", format!("env: no environment '{env}'"));
        if misses.envs.contains(env.as_str()) {
            return Ok(Err(unknown()));
        }
        match self.store.get_environment(project, env).await {
            Ok(_) => {
                self.envs
                    .write()
                    .entry(project.to_string())
                    .or_default()
                    .insert(env.to_string());
                Ok(Ok(()))
            }
            Err(StoreError::NotFound(_)) => {
                misses.envs.insert(env.to_string());
                Ok(Err(unknown()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn cached_versions(
        &self,
        project: &ProjectId,
        name: &PromptName,
    ) -> Option<Arc<PromptVersions>> {
        self.versions
            .read()
            .get(project.as_str())?
            .get(name.as_str())
            .cloned()
    }

    async fn load_versions(
        &self,
        project: &ProjectId,
        name: &PromptName,
    ) -> ServiceResult<Arc<PromptVersions>> {
        let mut found = PromptVersions::default();
        let mut page = PageRequest::first(500);
        loop {
            let rows = match self
                .store
                .list_versions(project, name, &VersionFilter::default(), &page)
                .await
            {
                Ok(rows) => rows,
                Err(StoreError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            let last = rows.last().map(|v| v.version);
            for v in &rows {
                found.by_version.insert(v.version.get(), v.digest.clone());
                found.by_digest.insert(v.digest.to_string(), v.version);
            }
            match last {
                Some(last) if rows.len() >= 500 => {
                    page = PageRequest {
                        limit: 500,
                        after: Some(last),
                    }
                }
                _ => break,
            }
        }
        let found = Arc::new(found);
        self.versions
            .write()
            .entry(project.to_string())
            .or_default()
            .insert(name.to_string(), found.clone());
        Ok(found)
    }

    /// The version an event names by number, digest or both (which must agree).
    pub async fn version(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Option<Version>,
        digest: Option<&Digest>,
        misses: &mut Misses,
    ) -> ServiceResult<Result<Version, Refusal>> {
        let unknown_prompt = || refuse("unknown_prompt", format!("prompt: no prompt '{name}'"));
        if misses.prompts.contains(name.as_str()) {
            return Ok(Err(unknown_prompt()));
        }
        let mut reloaded = false;
        let mut versions = match self.cached_versions(project, name) {
            Some(v) => v,
            None => {
                reloaded = true;
                self.load_versions(project, name).await?
            }
        };
        loop {
            if versions.by_version.is_empty() {
                misses.prompts.insert(name.to_string());
                return Ok(Err(unknown_prompt()));
            }
            let by_number = version.map(|v| versions.by_version.get(&v.get()).map(|d| (v, d)));
            let by_digest = digest.map(|d| versions.by_digest.get(d.as_str()).copied());
            let answer = match (by_number, by_digest) {
                (Some(Some((v, d))), _) if digest.is_some_and(|given| given != d) => {
                    Some(Err(refuse(
                        "digest_mismatch",
                        format!("digest: version {v} of '{name}' has digest {d}"),
                    )))
                }
                (Some(Some((v, _))), _) => Some(Ok(v)),
                (None, Some(Some(v))) => Some(Ok(v)),
                _ => None,
            };
            match answer {
                Some(a) => return Ok(a),
                // A version published after the cache was filled: read the list again once.
                None if !reloaded => {
                    reloaded = true;
                    versions = self.load_versions(project, name).await?;
                }
                None => {
                    return Ok(Err(match version {
                        Some(v) => refuse(
                            "unknown_version",
                            format!("version: '{name}' has no version {v}"),
                        ),
                        None => refuse(
                            "unknown_version",
                            format!("digest: '{name}' has no version with this digest"),
                        ),
                    }))
                }
            }
        }
    }

    /// A rollout of the project; `fresh` reads it again (it may have ended since).
    pub async fn rollout(
        &self,
        project: &ProjectId,
        id: &str,
        fresh: bool,
        misses: &mut Misses,
    ) -> ServiceResult<Result<Arc<RolloutInfo>, Refusal>> {
        let unknown = || refuse("unknown_rollout", format!("rollout: no rollout '{id}'"));
        if !fresh {
            if let Some(info) = self
                .rollouts
                .read()
                .get(project.as_str())
                .and_then(|m| m.get(id))
            {
                return Ok(Ok(info.clone()));
            }
        }
        if misses.rollouts.contains(id) {
            return Ok(Err(unknown()));
        }
        match self.store.get_rollout(project, id).await {
            Ok(r) => {
                let info = Arc::new(RolloutInfo {
                    active: r.is_active(),
                    env: r.env,
                    name: r.name,
                    stable: r.stable_version,
                    candidate: r.candidate_version,
                    step: r.state.step,
                });
                self.rollouts
                    .write()
                    .entry(project.to_string())
                    .or_default()
                    .insert(id.to_owned(), info.clone());
                Ok(Ok(info))
            }
            Err(StoreError::NotFound(_)) => {
                misses.rollouts.insert(id.to_owned());
                Ok(Err(unknown()))
            }
            Err(e) => Err(e.into()),
        }
    }
}
