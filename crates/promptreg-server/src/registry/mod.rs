//! The service layer: every workflow is written once, here, over the store's unit of work.
//!
//! A workflow asks the [`Policy`] with the resource it acts on, opens one store transaction
//! ([`promptreg_store::Store::begin`]), applies a pure rule from `promptreg-core` (numbering,
//! the deploy rules, the type rule), writes through small store steps, appends its event to
//! the project's log and commits. The committed [`EventRecord`] then goes through
//! `Registry::apply`, the one place that keeps this process's memory (resolve index, token
//! cache) current; other replicas apply the same records from the change feed ([`follow`]).
//! Handlers only adapt HTTP to these methods: the store is not reachable from them.
//!
//! - `publish`: versions (native and Langfuse create-with-labels).
//! - `pointers`: environments, deploy, rollback, Langfuse labels.
//! - `reads`: every read, each behind the policy.
//! - `serve`: authentication, resolve and render (the agents' hot path).
//! - `flags`: prompts evaluated as OpenFeature flags (OFREP), through resolve.
//! - `rollouts`: starting rollouts, people's commands and the controller's steps.
//! - `changes`: change requests (open, review, apply) and environment settings: the
//!   two-person rule for protected environments.
//! - `outcomes`: reporting agent outcomes and reading a version's figures.
//! - `tokens`: tokens and key pairs (grants, expiry, last use).
//! - `projects`: projects (tenants): created by server administrators with their first
//!   environments.
//! - `webhooks`: webhook subscriptions and the inbound abort hook.
//! - [`dispatch`]: the webhook dispatcher (signed deliveries in log order, retries, leases).
//! - [`follow`]: the change feed, catch-up by `seq`, and whether this replica is current.
//! - [`controller`]: the rollout controller's passes (analysis, then the state machine).
//! - `sealing`: encryption at rest (content sealed before the store, opened once when read
//!   back) and the KEK rotation.
//! - `retention`: lifecycle rules and the prune (crypto-shredding, a `version_pruned` ledger
//!   leaf per version; the rules themselves are the pure `promptreg_core::retention`).
//! - `integrity`: signing in the write path; the ledger, its proofs and the keys as an
//!   auditor reads them (the trees and the audit live in [`crate::integrity`]).
//! - `recovery`: the export's signature and the import of a bundle into an empty project.
//! - `audit`: the audit log (changes with the state before and after each).
//! - `gates`: validation results, environments' promotion gates, and the gate check every
//!   non-rollback pointer move runs in its transaction.
//! - [`watch`]: the change stream's hub and watchers, and environment snapshots.
//! - [`policy`]: who may do what. [`error`]: the service's own error type.

mod audit;
pub mod cedar;
mod changes;
pub mod controller;
pub mod dispatch;
pub mod error;
mod flags;
pub mod follow;
mod gates;
mod integrity;
mod newest;
mod outcomes;
mod pointers;
pub mod policy;
mod projects;
mod publish;
mod reads;
mod recovery;
mod retention;
mod rollouts;
mod sealing;
mod serve;
mod tokens;
mod warm;
pub mod watch;
mod webhooks;

use std::sync::Arc;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use promptreg_core::{ChangeEvent, EventDraft, EventRecord};
use promptreg_store::{Store, StoreTx, TokenRecord, VersionRecord};

pub use audit::AuditedChange;
pub use cedar::{CedarPolicy, PolicyError, PreparedPolicies};
pub use changes::MAX_APPROVALS;
pub use error::{ServiceError, ServiceResult};
pub use flags::{Evaluation, FlagSet};
pub use gates::NewValidation;
pub use integrity::{LedgerEntry, SignedCheckpoint, MAX_ENTRIES};
pub use pointers::Moved;
pub use policy::{Action, Decision, Policy, Resource};
pub use publish::Published;
pub use reads::listed_content;
pub use recovery::{ExportSigned, Imported};
pub use retention::{Pruned, PrunedVersion};
pub use rollouts::{RolloutCommand, RolloutStart};
pub use sealing::KekRotation;
pub use serve::{not_deployed, Served, Target};
pub use tokens::{run_token_use_flusher, IssuedToken, TokenRequest};
pub use watch::{EnvState, LivePrompt, WatchFilter, WatchOptions};
pub use webhooks::AbortTarget;

use crate::auth::{Caller, TokenCache};
use crate::index::ResolveIndex;
use crate::metrics::{Metrics, MoveLabels};
use follow::FeedState;

/// A source of the current time (tests pass a fixed clock).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How long a change request stays applicable by default (72 hours).
pub const DEFAULT_CHANGE_REQUEST_TTL: std::time::Duration =
    std::time::Duration::from_secs(72 * 3600);

/// The most flags one OFREP bulk evaluation answers by default.
pub const DEFAULT_MAX_BULK_FLAGS: usize = 1_000;

/// Choices an operator makes about the service's behaviour.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Whether a Langfuse label that names no environment creates one (for a caller who may
    /// deploy), as Langfuse's free-form labels do; otherwise such a label is refused.
    pub create_environments_from_labels: bool,
    /// How long this replica trusts its in-memory tokens without confirming it is current
    /// (shared databases only): the bound on how long a credential revoked on another replica
    /// can still pass here.
    pub stale_after: std::time::Duration,
    /// Bounds on what one render may cost (output bytes, steps, size arguments); templates
    /// are checked against them at publish too.
    pub render: promptreg_core::render::RenderLimits,
    /// Outcome ingestion: accept window, allowed clock skew, flush interval.
    pub outcomes: crate::outcomes::OutcomeOptions,
    /// The ledger's name: the signed-note key name of checkpoints, and the prefix of each
    /// project's log origin (`<name>/<project>`).
    pub ledger_name: String,
    /// Whether version content is encrypted at rest (off only to measure what it costs).
    pub seal_content: bool,
    /// An operator's Cedar policies (`--policy-file`), validated; `None`: the built-in ones.
    pub policies: Option<PreparedPolicies>,
    /// How long a change request stays applicable after it is opened.
    pub change_request_ttl: std::time::Duration,
    /// Failed authentication attempts a client address may make per minute before it gets
    /// 429 (0: no limit).
    pub auth_failure_limit: u32,
    /// The change stream: heartbeat, per-watcher buffer, replay limit.
    pub watch: WatchOptions,
    /// The most flags one OFREP bulk evaluation answers (the first by name; the answer's
    /// metadata says when more matched).
    pub max_bulk_flags: usize,
    /// How a start-up scales with the registry's size.
    pub start: StartOptions,
}

/// How a start-up scales: what a large registry leaves to the background audit.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Up to this many live pointers, every live version's content is read, opened and
    /// checked before the replica is ready; past it, pointers are indexed cold (checked
    /// against the ledger, their content checked where first needed and by the background
    /// audit right after).
    pub eager_max: usize,
    /// Where the ledger snapshot is kept (`None`: the whole log is replayed on every start).
    pub ledger_snapshot: Option<std::path::PathBuf>,
    /// Log entries (over every project) from which a snapshot is saved.
    pub snapshot_min_entries: u64,
}

/// Live pointers up to which a start-up checks every version's content before it is ready.
pub const DEFAULT_START_EAGER_MAX: usize = 10_000;
/// Log entries from which a ledger snapshot is saved.
pub const DEFAULT_SNAPSHOT_MIN_ENTRIES: u64 = 100_000;

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            eager_max: DEFAULT_START_EAGER_MAX,
            ledger_snapshot: None,
            snapshot_min_entries: DEFAULT_SNAPSHOT_MIN_ENTRIES,
        }
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            create_environments_from_labels: true,
            stale_after: std::time::Duration::from_secs(2),
            render: promptreg_core::render::RenderLimits::default(),
            outcomes: crate::outcomes::OutcomeOptions::default(),
            ledger_name: "promptreg".into(),
            seal_content: true,
            policies: None,
            change_request_ttl: DEFAULT_CHANGE_REQUEST_TTL,
            auth_failure_limit: crate::throttle::DEFAULT_LIMIT,
            watch: WatchOptions::default(),
            max_bulk_flags: DEFAULT_MAX_BULK_FLAGS,
            start: StartOptions::default(),
        }
    }
}

/// The registry: store, policy, resolve index, token cache, feed state.
pub struct Registry {
    store: Arc<dyn Store>,
    policy: Arc<dyn Policy>,
    /// The Cedar engine (the policy unless `with_policy` replaced it), reloadable.
    cedar: Arc<CedarPolicy>,
    index: ResolveIndex,
    tokens: TokenCache,
    metrics: Arc<Metrics>,
    clock: Clock,
    feed: FeedState,
    options: RegistryOptions,
    outcomes: Arc<dyn controller::OutcomeSource>,
    /// The outcome aggregator, when this registry takes outcomes (`with_aggregator`).
    aggregator: Option<Arc<crate::outcomes::Outcomes>>,
    /// Signs versions, pointer moves and checkpoints.
    signer: Arc<crate::integrity::Signer>,
    /// The per-project trees over the event log.
    ledger: crate::integrity::Ledger,
    /// What did not verify.
    findings: crate::integrity::Findings,
    /// Set by a load that left work to the background audit (`warm.rs`).
    start_audit_due: tokio::sync::Notify,
    /// Set by a load from a ledger snapshot: the background audit replays the whole log (a
    /// load without one has just done so).
    start_replay_due: std::sync::atomic::AtomicBool,
    /// The key-encryption keys that seal and open version content.
    keyring: Arc<crate::integrity::Keyring>,
    /// Every public signing key, to check stored signatures with.
    keys: parking_lot::RwLock<promptreg_core::integrity::KeyRing>,
    /// The change stream's fan-out, fed by `apply`.
    hub: watch::hub::WatchHub,
    /// Cancelled at shutdown: every open change stream ends with `resync`.
    watch_stop: tokio_util::sync::CancellationToken,
    /// Each prompt's newest version as last seen, to plan a publish without reading it.
    newest: newest::NewestVersions,
}

/// What the writer of a change already knows about its result, so a local change needs no
/// read back; a change from another replica is read back from the store.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    /// Nothing.
    Nothing,
    /// The version now live (a pointer move).
    Live(VersionRecord),
    /// The token just created.
    Token(TokenRecord),
    /// A rollout's candidate version.
    Candidate(VersionRecord),
}

impl Registry {
    /// A registry over a store, with the system clock, the built-in policies and default
    /// options.
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self::with_clock(store, metrics, Arc::new(Utc::now))
    }

    /// A registry with a given clock.
    pub fn with_clock(store: Arc<dyn Store>, metrics: Arc<Metrics>, clock: Clock) -> Self {
        let cedar = Arc::new(CedarPolicy::builtin());
        Self {
            store,
            policy: cedar.clone(),
            cedar,
            index: ResolveIndex::new(metrics.clone()),
            tokens: TokenCache::default(),
            metrics,
            clock,
            feed: FeedState::default(),
            options: RegistryOptions::default(),
            outcomes: Arc::new(controller::NoOutcomes),
            aggregator: None,
            signer: Arc::new(crate::integrity::Signer::ephemeral()),
            ledger: crate::integrity::Ledger::default(),
            findings: crate::integrity::Findings::default(),
            start_audit_due: tokio::sync::Notify::new(),
            start_replay_due: std::sync::atomic::AtomicBool::new(false),
            keyring: Arc::new(crate::integrity::Keyring::ephemeral()),
            keys: Default::default(),
            hub: watch::hub::WatchHub::new(watch::DEFAULT_BUFFER),
            watch_stop: tokio_util::sync::CancellationToken::new(),
            newest: newest::NewestVersions::default(),
        }
    }

    /// Replaces the signing key (the default is an ephemeral one, for tests).
    pub fn with_signer(mut self, signer: Arc<crate::integrity::Signer>) -> Self {
        self.signer = signer;
        self
    }

    /// Replaces where rollout outcomes come from.
    pub fn with_outcomes(mut self, outcomes: Arc<dyn controller::OutcomeSource>) -> Self {
        self.outcomes = outcomes;
        self
    }

    /// Replaces the options (and puts their policies, if any, in force).
    pub fn with_options(mut self, mut options: RegistryOptions) -> Self {
        if let Some(policies) = options.policies.take() {
            self.cedar.install(policies);
        }
        self.hub = watch::hub::WatchHub::new(options.watch.buffer);
        self.options = options;
        self
    }

    /// Replaces the policy.
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = policy;
        self
    }

    /// The token cache (the bootstrap admin is added through it at start-up).
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// Now, at the microsecond precision every backend stores.
    pub fn now(&self) -> DateTime<Utc> {
        let t = (self.clock)();
        t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
    }

    /// The Cedar engine, to load an operator's policies into (start-up, SIGHUP).
    pub fn cedar(&self) -> &Arc<CedarPolicy> {
        &self.cedar
    }

    /// Asks the policy; an allowed decision is kept on the caller, so that the event the
    /// workflow appends next records the policies behind it.
    fn check(
        &self,
        caller: &Caller,
        action: Action,
        resource: Resource<'_>,
    ) -> ServiceResult<Decision> {
        let decision = self.policy.check(&caller.principal, action, resource)?;
        caller.decision.set(decision.clone());
        Ok(decision)
    }

    /// An event of `caller`'s, to append.
    fn draft(&self, caller: &Caller, reason: Option<String>, change: ChangeEvent) -> EventDraft {
        EventDraft {
            at: self.now(),
            actor: caller.principal.actor(),
            reason,
            request_id: caller.request_id.clone(),
            policies: caller
                .decision
                .get()
                .filter(|d| !d.policies.is_empty())
                .map(|d| d.policies.to_vec()),
            change,
        }
    }

    /// Appends one event and commits the unit of work.
    async fn commit(
        &self,
        mut tx: Box<dyn StoreTx>,
        draft: EventDraft,
    ) -> ServiceResult<EventRecord> {
        let record = tx.append_event(draft).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Feeds one committed event to the in-memory state, then to the change stream (after
    /// the resolve index, so a watcher told of a move finds it served; and even when the
    /// state could not take it, since the event is committed and the stream must not stall
    /// on it). Applying the same event twice, or an older one after a newer, changes
    /// nothing: pointer entries only move to a higher `seq`.
    pub(crate) async fn apply(&self, event: &EventRecord, known: Known) -> ServiceResult<()> {
        self.ledger.offer(event);
        let applied = self.apply_state(event, known).await;
        self.hub.offer(event);
        applied
    }

    async fn apply_state(&self, event: &EventRecord, known: Known) -> ServiceResult<()> {
        match &event.change {
            ChangeEvent::PointerMoved {
                project,
                env,
                name,
                seq,
                to_version,
                digest,
                ..
            } => {
                let live = match known {
                    Known::Live(v) => v,
                    _ => {
                        let read = self
                            .read_announced(project, env, name, *to_version, digest, "")
                            .await?;
                        let Some(v) = read else { return Ok(()) };
                        v
                    }
                };
                self.index.set_if_newer(project, env, live, *seq);
            }
            ChangeEvent::RolloutChanged {
                project,
                env,
                name,
                rollout,
                revision,
                status,
                weight,
                step,
                strategy,
                switched,
                candidate_version,
                candidate_digest,
                ..
            } => {
                if status.is_terminal() {
                    self.index
                        .end_rollout(project, env, name, rollout, *revision);
                } else {
                    let candidate = match known {
                        Known::Candidate(v) => v,
                        _ => {
                            let what = format!("rollout {rollout}'s candidate: ");
                            let read = self
                                .read_announced(
                                    project,
                                    env,
                                    name,
                                    *candidate_version,
                                    candidate_digest,
                                    &what,
                                )
                                .await?;
                            let Some(v) = read else { return Ok(()) };
                            v
                        }
                    };
                    self.index.set_rollout(
                        project,
                        env,
                        crate::index::RolloutOverlay {
                            id: rollout.clone(),
                            revision: *revision,
                            weight: *weight,
                            step: *step,
                            preview: strategy == "blue_green" && !switched,
                            switched: *switched,
                        },
                        candidate,
                    );
                }
            }
            ChangeEvent::VersionCreated { .. }
            | ChangeEvent::EnvironmentCreated { .. }
            | ChangeEvent::AnalysisResult { .. }
            // Webhooks live in the store only: the dispatcher reads them there every pass.
            | ChangeEvent::WebhookCreated { .. }
            | ChangeEvent::WebhookDeleted { .. }
            // Lifecycle rules are read from the store when a prune runs; a pruned version is
            // never live (the rules hold every version that is), so the index has nothing
            // to forget.
            | ChangeEvent::LifecycleSet { .. }
            | ChangeEvent::VersionPruned { .. }
            // Validation results and gates are read from the store inside each deploy's
            // transaction (under the writer lock), never from memory.
            | ChangeEvent::ValidationAttached { .. }
            | ChangeEvent::EnvironmentGatesSet { .. } => {}
            // Change requests and environment settings are read from the store when used.
            | ChangeEvent::ChangeRequested { .. }
            | ChangeEvent::ChangeReviewed { .. }
            | ChangeEvent::ChangeApplied { .. }
            | ChangeEvent::EnvironmentUpdated { .. } => {}
            // A project lives in the store; its log starting is what the feed follows.
            ChangeEvent::ProjectCreated { .. } => {}
            ChangeEvent::TokenCreated { id, project } => {
                let token = match known {
                    Known::Token(t) => t,
                    _ => self.store.get_token(id).await?,
                };
                // A token is only ever admitted into the project whose log announced it.
                if token.revoked_at.is_none() && &token.project == project {
                    self.tokens.insert(&token);
                }
            }
            ChangeEvent::TokenRevoked { id, .. } => self.tokens.remove(id),
        }
        Ok(())
    }

    /// Reads back the version a change from the log announced, opened; `None` (and an
    /// integrity finding prefixed with `what`) when it does not open or is not the version the
    /// event recorded: it is then not served.
    #[allow(clippy::too_many_arguments)]
    async fn read_announced(
        &self,
        project: &promptreg_core::ProjectId,
        env: &promptreg_core::EnvName,
        name: &promptreg_core::PromptName,
        version: promptreg_core::Version,
        digest: &promptreg_core::Digest,
        what: &str,
    ) -> ServiceResult<Option<VersionRecord>> {
        let read = self.store.get_version(project, name, version).await?;
        match self.opened_as_announced(project, read, digest) {
            Ok(v) => Ok(Some(v)),
            Err(message) => {
                self.report(crate::integrity::Finding {
                    project: project.clone(),
                    env: Some(env.clone()),
                    name: Some(name.clone()),
                    message: format!("{what}{message}"),
                });
                Ok(None)
            }
        }
    }

    /// Applies a change this process committed, and counts it (only here, so that a change
    /// echoed back by the change feed is not counted twice).
    async fn applied(&self, event: &EventRecord, known: Known) {
        match &event.change {
            ChangeEvent::PointerMoved {
                project,
                env,
                kind,
                approval,
                ..
            } => {
                let labels = MoveLabels {
                    project: project.to_string(),
                    env: env.to_string(),
                    kind: kind.as_str().into(),
                };
                self.metrics.pointer_moves.get_or_create(&labels).inc();
                if let Some(approval) = approval {
                    if *approval == promptreg_core::change::Approval::BreakGlass {
                        tracing::warn!(env = %env, actor = %event.actor,
                            "break-glass deploy into a protected environment");
                    }
                    let labels = crate::metrics::ApprovalLabels {
                        env: env.to_string(),
                        approval: approval.kind().into(),
                    };
                    self.metrics.protected_moves.get_or_create(&labels).inc();
                }
            }
            ChangeEvent::VersionCreated {
                project,
                name,
                version,
                digest,
                ..
            } => {
                self.newest.created(project, name, *version, digest);
                self.metrics.versions_created.inc();
            }
            _ => {}
        }
        if let Err(e) = self.apply(event, known).await {
            // The change is committed; the follower catches up from the log.
            tracing::error!(error = %e, event = event.change.kind(), "committed change not applied in memory");
            return;
        }
        self.feed.applied_locally(event);
    }
}

impl Registry {
    /// A version read back from the store, opened, if it is the one an event announced.
    pub(crate) fn opened_as_announced(
        &self,
        project: &promptreg_core::ProjectId,
        v: promptreg_store::StoredVersion,
        announced: &promptreg_core::Digest,
    ) -> Result<VersionRecord, String> {
        let v = self.open(project, v)?;
        verifies(&v, announced)?;
        Ok(v)
    }
}

/// Whether a version read back from the store is the one an event announced: its content
/// recomputes to its digest, and that digest is the event's.
pub(crate) fn verifies(
    v: &VersionRecord,
    announced: &promptreg_core::Digest,
) -> Result<(), String> {
    if let Some(problem) = crate::integrity::audit::content_problem(v) {
        return Err(problem);
    }
    if &v.digest != announced {
        return Err(format!(
            "version {} has digest {} but its change event recorded {announced}",
            v.version, v.digest
        ));
    }
    Ok(())
}
