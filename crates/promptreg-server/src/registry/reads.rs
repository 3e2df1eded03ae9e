//! Reads. [`Registry::reads`] checks the caller's right to read the project once and hands out
//! a [`Reads`] view; it is the only way a handler reaches stored data, so no read can skip the
//! policy.

use std::sync::Arc;

use promptreg_core::{EnvName, ProjectId, PromptName, Version};
use promptreg_store::{
    CatalogRecord, DeploymentRecord, Environment, OffsetPage, PageRequest, PromptFilter,
    PromptPage, PromptQuery, PromptRecord, RolloutFilter, RolloutRecord, Store, StoredContent,
    StoredVersion, TokenRecord, VersionFilter, VersionRecord,
};

use super::{Action, Caller, Registry, Resource, ServiceResult};
use crate::index::Entry;

/// What a caller who may read a project can read in it.
pub struct Reads<'a> {
    registry: &'a Registry,
    store: &'a dyn Store,
    project: &'a ProjectId,
}

impl Registry {
    /// A read view of the caller's project, after checking that the caller may read it.
    pub fn reads<'a>(&'a self, caller: &'a Caller) -> ServiceResult<Reads<'a>> {
        self.check(caller, Action::Read, Resource::Project(&caller.project))?;
        Ok(Reads {
            registry: self,
            store: &*self.store,
            project: &caller.project,
        })
    }

    /// Tokens of the caller's project that are not revoked (no secrets).
    pub async fn list_tokens(&self, caller: &Caller) -> ServiceResult<Vec<TokenRecord>> {
        self.check(
            caller,
            Action::ManageTokens,
            Resource::Project(&caller.project),
        )?;
        let mut tokens = self.store.list_tokens(&caller.project).await?;
        // The store has the uses flushed so far (by every replica); memory has this
        // replica's since: show the later of the two.
        let seen = self.tokens.last_used();
        for t in &mut tokens {
            if let Some(at) = seen.get(&t.id) {
                t.last_used_at = t.last_used_at.max(Some(*at));
            }
        }
        Ok(tokens)
    }
}

/// A listed version (`Reads::versions`) as one whose content is needed: opened, or 410
/// `pruned`.
pub fn listed_content(v: StoredVersion) -> ServiceResult<VersionRecord> {
    match v.content.clone() {
        StoredContent::Plain(c) => Ok(v.with_content(c)),
        StoredContent::Pruned { pruned_at, .. } => {
            Err(super::sealing::pruned(&v.name, v.version, pruned_at))
        }
        StoredContent::Sealed { .. } => Err(super::ServiceError::Internal(
            format!(
                "prompt '{}' version {} was listed unopened",
                v.name, v.version
            )
            .into(),
        )),
    }
}

impl Reads<'_> {
    /// One version.
    pub async fn version(
        &self,
        name: &PromptName,
        version: Version,
    ) -> ServiceResult<VersionRecord> {
        let v = self.store.get_version(self.project, name, version).await?;
        self.registry.open_or_report(self.project, None, v)
    }

    /// The newest version of a prompt.
    pub async fn latest(&self, name: &PromptName) -> ServiceResult<VersionRecord> {
        let v = self.store.latest_version(self.project, name).await?;
        self.registry.open_or_report(self.project, None, v)
    }

    /// Versions newest first, each opened ([`StoredContent::Plain`]) or, when pruned, as a
    /// tombstone ([`StoredContent::Pruned`]). A version that does not open fails the list
    /// (409 `integrity_error` naming it).
    pub async fn versions(
        &self,
        name: &PromptName,
        filter: &VersionFilter,
        page: &PageRequest<Version>,
    ) -> ServiceResult<Vec<StoredVersion>> {
        self.store
            .list_versions(self.project, name, filter, page)
            .await?
            .into_iter()
            .map(|v| self.registry.open_listed(self.project, v))
            .collect()
    }

    /// Prompts by name. A summary needs no content (the type is a plaintext column), so
    /// the latest versions stay sealed.
    pub async fn prompts(
        &self,
        filter: &PromptFilter,
        page: &PageRequest<PromptName>,
    ) -> ServiceResult<Vec<PromptRecord<StoredContent>>> {
        Ok(self.store.list_prompts(self.project, filter, page).await?)
    }

    /// One page of the prompts matching `query`, by name, with the number that match. The
    /// latest versions are opened (their model configuration is listed): each comes back as
    /// [`StoredContent::Plain`], or stays sealed when it does not open (reported, so that
    /// one unreadable version does not take the list of every prompt down with it).
    pub async fn prompt_page(
        &self,
        query: &PromptQuery,
        page: OffsetPage,
    ) -> ServiceResult<PromptPage<StoredContent>> {
        let mut page = self.store.prompt_page(self.project, query, page).await?;
        for p in &mut page.prompts {
            if let StoredContent::Sealed { .. } = &p.latest.content {
                if let Ok(v) = self
                    .registry
                    .open_or_report(self.project, None, p.latest.clone())
                {
                    p.latest.content = StoredContent::Plain(v.content);
                }
            }
        }
        Ok(page)
    }

    /// One environment.
    pub async fn environment(&self, env: &EnvName) -> ServiceResult<Environment> {
        Ok(self.store.get_environment(self.project, env).await?)
    }

    /// All environments.
    pub async fn environments(&self) -> ServiceResult<Vec<Environment>> {
        Ok(self.store.list_environments(self.project).await?)
    }

    /// A pointer's records, newest first (404 for an unknown environment).
    pub async fn history(
        &self,
        env: &EnvName,
        name: &PromptName,
        page: &PageRequest<i64>,
    ) -> ServiceResult<Vec<DeploymentRecord>> {
        self.environment(env).await?;
        Ok(self.store.history(self.project, env, name, page).await?)
    }

    /// What is deployed in an environment (404 for an unknown environment).
    pub async fn catalog(
        &self,
        env: &EnvName,
        page: &PageRequest<PromptName>,
    ) -> ServiceResult<Vec<CatalogRecord>> {
        self.environment(env).await?;
        Ok(self.store.catalog(self.project, env, page).await?)
    }

    /// One rollout.
    pub async fn rollout(&self, id: &str) -> ServiceResult<RolloutRecord> {
        Ok(self.store.get_rollout(self.project, id).await?)
    }

    /// Rollouts newest first (404 for an unknown environment when one is named).
    pub async fn rollouts(
        &self,
        filter: &RolloutFilter,
        page: &PageRequest<String>,
    ) -> ServiceResult<Vec<RolloutRecord>> {
        if let Some(env) = &filter.env {
            self.environment(env).await?;
        }
        Ok(self.store.list_rollouts(self.project, filter, page).await?)
    }

    /// The live entry of a pointer, from memory (its content read first when the start-up
    /// left it cold).
    pub async fn live(&self, env: &str, name: &str) -> ServiceResult<Option<Arc<Entry>>> {
        self.registry
            .live_entry(self.project.as_str(), env, name)
            .await
    }

    /// The live version of a pointer, from memory.
    pub fn live_version(&self, env: &str, name: &str) -> Option<promptreg_core::Version> {
        Some(
            match self.registry.index.slot(self.project.as_str(), env, name)? {
                crate::index::Slot::Warm(entry) => entry.version.version,
                crate::index::Slot::Cold(cold) => cold.version,
            },
        )
    }
}
