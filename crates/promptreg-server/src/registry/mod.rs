//! The service layer: every workflow is one method that runs one store transaction, then feeds
//! the committed [`ChangeEvent`] to [`Registry::apply`], the single place that keeps this
//! process's in-memory state (resolve index, token cache, metrics) current. Changes committed by
//! other replicas arrive as the same events through [`Registry::follow`].
//!
//! Tests call these methods directly, without HTTP.

mod tokens;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::StreamExt;
use promptreg_api::CreateVersion;
use promptreg_core::deploy::MoveRequest;
use promptreg_core::render::{render, Rendered};
use promptreg_core::{ChangeEvent, EnvName, ProjectId, PromptName, Version};
use promptreg_store::{
    Created, DeploymentRecord, Environment, MoveOutcome, NewEnvironment, NewVersion, PointerChange,
    Store, StoreError, StoreNotice, TokenRecord, VersionRecord,
};

use crate::auth::{Principal, TokenCache};
use crate::error::ApiError;
use crate::index::{Entry, ResolveIndex};
use crate::metrics::{Metrics, MoveLabels};

/// A source of the current time (tests pass a fixed clock).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The registry: store, resolve index, token cache.
pub struct Registry {
    store: Arc<dyn Store>,
    index: ResolveIndex,
    tokens: TokenCache,
    metrics: Arc<Metrics>,
    clock: Clock,
    loaded: AtomicBool,
}

/// What the writer of a change already knows about its result.
#[derive(Debug, Clone)]
pub enum Known {
    /// Nothing: read it back from the store.
    Nothing,
    /// The version now live (a pointer move).
    Live(VersionRecord),
    /// The token just created.
    Token(TokenRecord),
}

/// Result of a deploy or rollback.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The new record, or the one that made the version live when nothing changed.
    pub record: DeploymentRecord,
    /// Whether the pointer moved.
    pub changed: bool,
}

impl Registry {
    /// A registry over a store, with the system clock.
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self::with_clock(store, metrics, Arc::new(Utc::now))
    }

    /// A registry with a given clock.
    pub fn with_clock(store: Arc<dyn Store>, metrics: Arc<Metrics>, clock: Clock) -> Self {
        Self {
            store,
            index: ResolveIndex::new(metrics.clone()),
            tokens: TokenCache::default(),
            metrics,
            clock,
            loaded: AtomicBool::new(false),
        }
    }

    /// The store, for reads that need no workflow.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The token cache.
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// Whether the index has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Now, at the microsecond precision every backend stores.
    pub fn now(&self) -> DateTime<Utc> {
        let t = (self.clock)();
        t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
    }

    /// (Re)builds the resolve index and token cache from the store.
    pub async fn load(&self) -> Result<(), StoreError> {
        let live = self.store.load_deployed().await?;
        let tokens = self.store.load_tokens().await?;
        self.index.replace_all(live);
        self.tokens.replace_all(&tokens);
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// Keeps this process current with changes committed by other processes, for as long as
    /// the store's change feed lasts (PostgreSQL `LISTEN`; nothing to follow for SQLite).
    pub async fn follow(self: Arc<Self>) -> Result<(), StoreError> {
        let Some(mut feed) = self.store.subscribe().await? else {
            return Ok(());
        };
        while let Some(notice) = feed.next().await {
            match notice {
                StoreNotice::Event(event) => {
                    if let Err(e) = self.apply(&event, Known::Nothing).await {
                        tracing::warn!(error = %e, event = event.kind(), "could not apply a replicated change; reloading");
                        self.load().await.ok();
                    }
                }
                StoreNotice::Resync => {
                    if let Err(e) = self.load().await {
                        tracing::warn!(error = %e, "reload after change-feed reconnect failed");
                    }
                }
            }
        }
        Ok(())
    }

    /// Feeds one committed change to the in-memory state. `known` is what the writer already
    /// holds (the version now live, the new token), so a local change needs no read back; a
    /// change from another replica is read back from the store.
    pub async fn apply(&self, event: &ChangeEvent, known: Known) -> Result<(), StoreError> {
        match event {
            ChangeEvent::PointerMoved {
                project, env, name, ..
            } => {
                let live = match known {
                    Known::Live(v) => Some(v),
                    _ => self.store.deployed_version(project, env, name).await?,
                };
                match live {
                    Some(v) => self.index.set(project, env, v),
                    None => self.index.remove(project, env, name),
                }
            }
            ChangeEvent::VersionCreated { .. } | ChangeEvent::EnvironmentCreated { .. } => {}
            ChangeEvent::TokenCreated { id, .. } => {
                let token = match known {
                    Known::Token(t) => t,
                    _ => self.store.get_token(id).await?,
                };
                if token.revoked_at.is_none() {
                    self.tokens.insert(&token);
                }
            }
            ChangeEvent::TokenRevoked { id, .. } => self.tokens.remove(id),
        }
        Ok(())
    }

    /// Applies a change this process committed, and counts it (only here, so that a change
    /// echoed back by the change feed is not counted twice).
    async fn applied<T>(&self, event: Option<ChangeEvent>, known: Known, value: T) -> T {
        if let Some(event) = event {
            match &event {
                ChangeEvent::PointerMoved { env, kind, .. } => {
                    let labels = MoveLabels {
                        env: env.to_string(),
                        kind: kind.as_str().into(),
                    };
                    self.metrics.pointer_moves.get_or_create(&labels).inc();
                }
                ChangeEvent::VersionCreated { .. } => {
                    self.metrics.versions_created.inc();
                }
                _ => {}
            }
            if let Err(e) = self.apply(&event, known).await {
                // The change is committed; the index catches up on the next reload.
                tracing::error!(error = %e, event = event.kind(), "committed change not applied to the index");
            }
        }
        value
    }

    /// Publishes a version: validate, digest, store (idempotent on the latest digest).
    pub async fn publish(
        &self,
        caller: &Principal,
        name: PromptName,
        body: CreateVersion,
    ) -> Result<Created, ApiError> {
        let content = body.content()?;
        let new = NewVersion {
            name,
            content,
            commit_message: body.commit_message,
            metadata: body.metadata.unwrap_or_default(),
            created_by: caller.actor(),
            created_at: self.now(),
        };
        let committed = self.store.create_version(&caller.project, new).await?;
        Ok(self
            .applied(committed.event, Known::Nothing, committed.value)
            .await)
    }

    /// Deploys a version to an environment.
    pub async fn deploy(
        &self,
        caller: &Principal,
        env: EnvName,
        name: PromptName,
        version: Version,
        reason: Option<String>,
    ) -> Result<Moved, ApiError> {
        self.move_pointer(caller, env, name, MoveRequest::Deploy(version), reason)
            .await
    }

    /// Rolls an environment's pointer back.
    pub async fn rollback(
        &self,
        caller: &Principal,
        env: EnvName,
        name: PromptName,
        to: Option<Version>,
        reason: Option<String>,
    ) -> Result<Moved, ApiError> {
        self.move_pointer(caller, env, name, MoveRequest::Rollback(to), reason)
            .await
    }

    async fn move_pointer(
        &self,
        caller: &Principal,
        env: EnvName,
        name: PromptName,
        request: MoveRequest,
        reason: Option<String>,
    ) -> Result<Moved, ApiError> {
        let change = PointerChange {
            env,
            name,
            request,
            actor: caller.actor(),
            reason,
            at: self.now(),
        };
        match self.store.move_pointer(&caller.project, change).await? {
            MoveOutcome::Moved {
                record,
                version,
                event,
            } => {
                tracing::info!(env = %record.env, prompt.name = %record.name, prompt.version = %record.to_version,
                    prompt.digest = %record.digest, kind = record.kind.as_str(), "pointer moved");
                Ok(self
                    .applied(
                        Some(event),
                        Known::Live(*version),
                        Moved {
                            record,
                            changed: true,
                        },
                    )
                    .await)
            }
            MoveOutcome::Unchanged(record) => Ok(Moved {
                record,
                changed: false,
            }),
        }
    }

    /// Creates an environment.
    pub async fn create_environment(
        &self,
        caller: &Principal,
        name: EnvName,
        protected: bool,
        description: Option<String>,
    ) -> Result<Environment, ApiError> {
        let env = NewEnvironment {
            name,
            protected,
            description,
            created_by: caller.actor(),
            created_at: self.now(),
        };
        let committed = self.store.create_environment(&caller.project, env).await?;
        Ok(self
            .applied(committed.event, Known::Nothing, committed.value)
            .await)
    }

    /// The live entry of a pointer, from memory.
    pub fn resolve(&self, project: &ProjectId, env: &str, name: &str) -> Option<Arc<Entry>> {
        self.index.get(project.as_str(), env, name)
    }

    /// Renders the live version of a pointer with variables checked against its schema.
    pub fn render(
        &self,
        project: &ProjectId,
        env: &str,
        name: &str,
        variables: &serde_json::Value,
    ) -> Result<(Arc<Entry>, Rendered), ApiError> {
        let entry = self
            .resolve(project, env, name)
            .ok_or_else(|| not_deployed(name, env))?;
        let rendered = render(&entry.version.content, variables)?;
        Ok((entry, rendered))
    }
}

/// 404 `not_deployed`.
pub fn not_deployed(name: &str, env: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_deployed",
        format!("prompt '{name}' has no version deployed in environment '{env}'"),
    )
}
