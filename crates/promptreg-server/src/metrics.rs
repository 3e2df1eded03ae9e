//! Prometheus metrics: requests and latency per route, resolves per prompt and version,
//! deploys and rollbacks, versions created, agent outcomes (`outcomes::counters`).
//!
//! Resolve counters are looked up once, when a pointer enters the resolve index, and the
//! handle is kept in the index entry, so counting a resolve is one atomic increment.
//!
//! Per-prompt series are capped ([`ResolveCounters`]): with 100,000 prompts in two
//! environments one series per pointer and version would make `/metrics` tens of megabytes
//! and every scrape a memory spike. Past the cap, a pointer's resolves are counted in one
//! series per project and environment with `prompt="_other", version="_other"`, so sums
//! over prompts stay right.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::app::AppState;

/// Labels of HTTP metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// HTTP method.
    pub method: &'static str,
    /// Route template, e.g. `/v1/resolve/{name}`.
    pub route: &'static str,
    /// Status code.
    pub status: u16,
}

/// Labels of resolve counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResolveLabels {
    /// Tenant.
    pub project: String,
    /// Environment.
    pub env: String,
    /// Prompt.
    pub prompt: String,
    /// Version.
    pub version: String,
}

/// Label value of the series that counts resolves of pointers past the cap.
pub const OTHER: &str = "_other";

/// Default cap on per-prompt resolve series.
pub const DEFAULT_MAX_RESOLVE_SERIES: usize = 1_000;

/// Resolve counters by project, environment, prompt and version, with at most `max` distinct
/// per-prompt series; pointers past the cap share their environment's `_other` series.
pub struct ResolveCounters {
    family: Family<ResolveLabels, Counter>,
    max: usize,
    /// Per-prompt series created so far (creation is rare: once per pointer move).
    created: Mutex<usize>,
}

impl ResolveCounters {
    /// Counters with at most `max` per-prompt series.
    pub fn new(max: usize) -> Self {
        Self {
            family: Family::default(),
            max,
            created: Mutex::new(0),
        }
    }

    /// The counter for a pointer's resolves: its own series while under the cap, else the
    /// `_other` series of its project and environment.
    pub fn get_or_create(&self, labels: &ResolveLabels) -> Counter {
        if let Some(counter) = self.family.get(labels) {
            return counter.clone();
        }
        let mut created = self.created.lock();
        if *created < self.max {
            *created += 1;
            return self.family.get_or_create(labels).clone();
        }
        let other = ResolveLabels {
            project: labels.project.clone(),
            env: labels.env.clone(),
            prompt: OTHER.to_owned(),
            version: OTHER.to_owned(),
        };
        self.family.get_or_create(&other).clone()
    }
}

/// Labels of pointer-move counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MoveLabels {
    /// Tenant (environment names repeat across projects).
    pub project: String,
    /// Environment.
    pub env: String,
    /// `deploy` or `rollback`.
    pub kind: String,
}

/// Labels of certificate reload counters.
/// Labels of a pointer move into a protected environment.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApprovalLabels {
    /// Environment.
    pub env: String,
    /// `change_request`, `break_glass` or `protected_rollback`.
    pub approval: String,
}

/// Labels of a TLS reload.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TlsReloadLabels {
    /// `loaded` or `failed`.
    pub outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
        1.0, 2.5,
    ])
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Request latency by method, route and status; its `_count` is the number of requests.
    pub http_latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
    /// Resolves by project, environment, prompt and version (capped, see [`ResolveCounters`]).
    pub resolves: ResolveCounters,
    /// Pointer moves by environment and kind.
    pub pointer_moves: Family<MoveLabels, Counter>,
    /// Versions created.
    pub versions_created: Counter,
    /// Live pointers held in the resolve index.
    pub index_entries: Gauge,
    /// Agent outcomes by environment, prompt, version, arm and result (capped like resolves).
    pub outcomes: crate::outcomes::counters::OutcomeCounters,
    /// Integrity errors now standing: stored content or pointers that did not verify and are
    /// left out of the resolve index.
    pub integrity_errors: Gauge,
    /// Reloads of the TLS certificate after its files changed, by outcome (a failed one
    /// keeps the previous certificate: alert on it before that one expires).
    pub tls_reloads: Family<TlsReloadLabels, Counter>,
    /// Reloads of the policy file on SIGHUP, by outcome (a failed one keeps the policies in
    /// force: alert on it, the file on disk is not what is enforced).
    pub policy_reloads: Family<TlsReloadLabels, Counter>,
    /// Pointer moves into protected environments by the authority they were made under
    /// (an applied change request, break-glass, a rollback without approval).
    pub protected_moves: Family<ApprovalLabels, Counter>,
    /// Requests whose credential did not authenticate (unknown, expired, revoked).
    pub auth_failures: Counter,
    /// Requests refused with 429 because their address failed too often.
    pub auth_throttled: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::with_max_resolve_series(DEFAULT_MAX_RESOLVE_SERIES)
    }
}

impl Metrics {
    /// Metrics with at most `max` per-prompt resolve series.
    pub fn with_max_resolve_series(max: usize) -> Self {
        let mut registry = Registry::with_prefix("promptreg");
        let http_latency = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let resolves = ResolveCounters::new(max);
        let pointer_moves = Family::<MoveLabels, Counter>::default();
        let versions_created = Counter::default();
        let index_entries = Gauge::default();
        let integrity_errors = Gauge::default();
        let outcomes = crate::outcomes::counters::OutcomeCounters::new(max);
        let tls_reloads = Family::<TlsReloadLabels, Counter>::default();
        let policy_reloads = Family::<TlsReloadLabels, Counter>::default();
        let protected_moves = Family::<ApprovalLabels, Counter>::default();
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and status; _count counts requests",
            http_latency.clone(),
        );
        registry.register(
            "resolves",
            "Prompt resolves by environment, prompt and version (prompt=\"_other\" past the series cap)",
            resolves.family.clone(),
        );
        registry.register(
            "pointer_moves",
            "Deploys and rollbacks by project, environment and kind",
            pointer_moves.clone(),
        );
        registry.register(
            "versions_created",
            "Prompt versions created",
            versions_created.clone(),
        );
        registry.register(
            "resolve_index_entries",
            "Live pointers in the resolve index",
            index_entries.clone(),
        );
        registry.register(
            "outcomes",
            "Agent outcomes by environment, prompt, version, arm and result (success, failure, unreported, unsafe_action, policy_violation)",
            outcomes.family.clone(),
        );
        registry.register(
            "outcome_latency_ms",
            "Latency agents reported, by environment, prompt, version and arm (milliseconds)",
            outcomes.latency.clone(),
        );
        registry.register(
            "integrity_errors",
            "Stored content or pointers that did not verify (digest, ledger) and are not served; /readyz names them",
            integrity_errors.clone(),
        );
        registry.register(
            "tls_reloads",
            "Reloads of the TLS certificate after its files changed, by outcome (loaded, failed: the previous certificate stays)",
            tls_reloads.clone(),
        );
        registry.register(
            "policy_reloads",
            "Reloads of the Cedar policy file on SIGHUP, by outcome (loaded, failed: the policies in force stay)",
            policy_reloads.clone(),
        );
        registry.register(
            "protected_moves",
            "Pointer moves into protected environments by approval (change_request, break_glass, protected_rollback)",
            protected_moves.clone(),
        );
        let auth_failures = Counter::default();
        let auth_throttled = Counter::default();
        registry.register(
            "auth_failures",
            "Requests whose credential did not authenticate (unknown, expired or revoked)",
            auth_failures.clone(),
        );
        registry.register(
            "auth_throttled",
            "Requests refused with 429 because their client address failed authentication too often",
            auth_throttled.clone(),
        );
        Self {
            auth_failures,
            auth_throttled,
            registry: Mutex::new(registry),
            http_latency,
            resolves,
            pointer_moves,
            versions_created,
            index_entries,
            outcomes,
            integrity_errors,
            tls_reloads,
            policy_reloads,
            protected_moves,
        }
    }

    /// Counts a reload of the policy file.
    pub fn policy_reloaded(&self, loaded: bool) {
        let outcome = if loaded { "loaded" } else { "failed" };
        self.policy_reloads
            .get_or_create(&TlsReloadLabels { outcome })
            .inc();
    }

    /// Counts a reload of the TLS certificate.
    pub fn tls_reloaded(&self, loaded: bool) {
        let outcome = if loaded { "loaded" } else { "failed" };
        self.tls_reloads
            .get_or_create(&TlsReloadLabels { outcome })
            .inc();
    }

    /// Records one answered request.
    pub fn observe(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        elapsed: std::time::Duration,
    ) {
        let labels = HttpLabels {
            method,
            route,
            status,
        };
        self.http_latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry.lock());
        out
    }
}

/// The method as a static label (anything unusual is `other`).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("other")
}

/// Route templates as static labels, so counting a request allocates nothing. Templates come
/// from the route table, so the set is small and fixed; each is leaked once.
fn route_label(route: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashMap<String, &'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(r) = routes.read().get(route) {
        return r;
    }
    let mut w = routes.write();
    w.entry(route.to_owned())
        .or_insert_with(|| Box::leak(route.to_owned().into_boxed_str()))
}

/// Middleware recording count and latency per matched route.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| route_label(m.as_str()));
    let response = next.run(req).await;
    state
        .metrics
        .observe(method, route, response.status().as_u16(), start.elapsed());
    response
}

/// Middleware for `--metrics-auth token`: `/metrics` answers only a valid token or key pair
/// (401 with the envelope otherwise); every other path passes untouched.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/metrics" {
        if let Err(e) = crate::auth::Caller::from_headers(
            &state,
            req.headers(),
            crate::auth::peer(req.extensions()),
            true,
        )
        .await
        {
            return axum::response::IntoResponse::into_response(e);
        }
    }
    next.run(req).await
}
