//! Start-up and serving: open the store named by the configuration, load the index, bind,
//! serve until shutdown. [`serve`] takes a bound listener so tests bind port 0 and never sleep.

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use promptreg_store::Store;
use tokio::net::TcpListener;

use crate::config::{redact_url, Config, MetricsAuth};
pub use crate::connections::{serve_tls, serve_with, ServeOptions};
use crate::integrity::{Keyring, Signer};
use crate::metrics::Metrics;
use crate::outcomes::Outcomes;
use crate::registry::{Registry, RegistryOptions};
use crate::supervisor::Supervisor;
use crate::tls::Tls;
use promptreg_core::ProjectId;

/// Shared state handed to every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The service layer.
    pub registry: Arc<Registry>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Request id generator (shared by the traced routes and the resolve fast path).
    pub request_ids: crate::request_id::RequestIds,
    /// Background work (the change feed, the rollout controller, the outcome flusher),
    /// stopped at shutdown.
    pub supervisor: Supervisor,
    /// The outcome aggregator (flushed once more at shutdown).
    pub outcomes: Arc<Outcomes>,
    /// Failed authentication attempts per client address.
    pub auth_throttle: Arc<crate::throttle::AuthThrottle>,
}

impl AppState {
    /// Stops the background work, then writes the outcomes still only in memory.
    pub async fn shutdown(&self) {
        self.registry.stop_watchers();
        self.supervisor.shutdown().await;
        if let Err(e) = self.outcomes.flush(self.registry.now()).await {
            tracing::error!(error = %e, "the last flush of outcome windows failed");
        }
        if let Err(e) = self.registry.flush_token_use().await {
            tracing::error!(error = %e, "the last flush of token use times failed");
        }
    }
}

/// Opens the store a URL names: `sqlite:…` or `postgres://…` (the only backend switch).
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = promptreg_store_sqlite::SqliteStore::open(url)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = promptreg_store_postgres::PgStore::connect(url)
            .await
            .with_context(|| format!("connecting to {}", redact_url(url)))?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!(
            "unsupported database URL {:?}: use sqlite:<path> or postgres://...",
            redact_url(url)
        )
    }
}

/// Builds the state for a configuration: data directory, store, admin token, loaded index.
pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    // The policy file first of all: one that does not validate stops start-up with Cedar's
    // message, before anything is created.
    let policies = match &config.service.policy_file {
        Some(path) => {
            let prepared = crate::registry::CedarPolicy::builtin().prepare_file(path)?;
            tracing::info!(file = %path.display(), "authorizing with the policies of the policy file");
            Some(prepared)
        }
        None => None,
    };
    let url = config.effective_database_url();
    crate::files::prepare_data_dir(&config.data_dir, &url)?;
    // The key files first: one that is missing or malformed stops start-up before the
    // database is touched.
    let mut signer = match &config.signing_key_file {
        Some(path) => Signer::open(path, false)?,
        None => Signer::open(
            &config
                .data_dir
                .join(crate::integrity::keys::DEFAULT_KEY_FILE),
            true,
        )?,
    };
    if config.bench_integrity_off {
        tracing::warn!(
            "--bench-integrity-off: versions and moves are stored WITHOUT signatures or encryption"
        );
        signer = signer.unsigned();
    }
    let keyring = match &config.kek_file {
        Some(path) => Keyring::open(path, false)?,
        None => Keyring::open(
            &config
                .data_dir
                .join(crate::integrity::kek::DEFAULT_KEK_FILE),
            true,
        )?,
    };
    let keys = Keys {
        signer: Arc::new(signer),
        keyring: Arc::new(keyring),
    };
    let store = open_store(&url).await?;
    let admin = match &config.admin_token {
        Some(t) if !t.trim().is_empty() => t.clone(),
        _ => admin_token_file(&config.data_dir)?,
    };
    let instance = config
        .service
        .instance
        .clone()
        .unwrap_or_else(|| format!("{}:{}", hostname(), config.listen.port()));
    let mut options = config.service.registry_options();
    options.policies = policies;
    options.render = config.render_limits();
    options.seal_content = !config.bench_integrity_off;
    options.start.ledger_snapshot = Some(config.data_dir.join(LEDGER_SNAPSHOT_FILE));
    // A stream whose heartbeats are further apart than the idle timeout would be closed as
    // idle between two of them.
    let idle = std::time::Duration::from_secs(config.idle_timeout_secs);
    if options.watch.heartbeat * 2 > idle {
        let heartbeat = idle / 2;
        tracing::warn!(configured = ?options.watch.heartbeat, heartbeat = ?heartbeat,
            "--watch-heartbeat must be under half the idle timeout; lowering it");
        options.watch.heartbeat = heartbeat;
    }
    let metrics = Metrics::with_max_resolve_series(config.metrics_max_prompt_series);
    state_with_keys(store, &admin, &instance, options, metrics, keys).await
}

/// The ledger snapshot's file in the data directory.
pub const LEDGER_SNAPSHOT_FILE: &str = "ledger.snapshot";

/// The server's keys: what signs, and what seals content at rest.
pub struct Keys {
    /// Signs versions, pointer moves and checkpoints.
    pub signer: Arc<Signer>,
    /// Seals and opens version content.
    pub keyring: Arc<Keyring>,
}

impl Keys {
    /// A throw-away signing key and this process's throw-away KEK (tests, benches): every
    /// state built in one process shares the KEK, so a server restarted over the same
    /// database in a test still reads it.
    pub fn ephemeral() -> Self {
        static KEYRING: std::sync::OnceLock<Arc<Keyring>> = std::sync::OnceLock::new();
        Self {
            signer: Arc::new(Signer::ephemeral()),
            keyring: KEYRING
                .get_or_init(|| Arc::new(Keyring::ephemeral()))
                .clone(),
        }
    }
}

/// The machine's name, for the default instance name.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Builds the state over an open store with default options (tests, benches).
pub async fn state_for_store(store: Arc<dyn Store>, admin_token: &str) -> anyhow::Result<AppState> {
    state_with_metrics(store, admin_token, Metrics::default()).await
}

/// [`state_for_store`] reporting to `metrics`.
pub async fn state_with_metrics(
    store: Arc<dyn Store>,
    admin_token: &str,
    metrics: Metrics,
) -> anyhow::Result<AppState> {
    state_with_options(
        store,
        admin_token,
        "test",
        RegistryOptions::default(),
        metrics,
    )
    .await
}

/// [`state_with_keys`] with throw-away keys ([`Keys::ephemeral`]; tests, benches).
pub async fn state_with_options(
    store: Arc<dyn Store>,
    admin_token: &str,
    instance: &str,
    options: RegistryOptions,
    metrics: Metrics,
) -> anyhow::Result<AppState> {
    state_with_keys(
        store,
        admin_token,
        instance,
        options,
        metrics,
        Keys::ephemeral(),
    )
    .await
}

/// Builds the state over an open store: registry, admin token, keys, loaded (and audited)
/// index, the project's first environments, and the supervised background work.
pub async fn state_with_keys(
    store: Arc<dyn Store>,
    admin_token: &str,
    instance: &str,
    options: RegistryOptions,
    metrics: Metrics,
    keys: Keys,
) -> anyhow::Result<AppState> {
    let Keys { signer, keyring } = keys;
    let auth_failure_limit = options.auth_failure_limit;
    let metrics = Arc::new(metrics);
    let outcome_options = options.outcomes.clone();
    let aggregator = Arc::new(Outcomes::new(
        store.clone(),
        metrics.clone(),
        outcome_options,
    ));
    let registry = Arc::new(
        Registry::new(store, metrics.clone())
            .with_options(options)
            .with_signer(signer)
            .with_keyring(keyring)
            .with_aggregator(aggregator.clone()),
    );
    registry.tokens().add_bootstrap(admin_token, instance);
    registry.check_keyring().await.map_err(anyhow::Error::msg)?;
    registry
        .register_signing_key()
        .await
        .context("registering the signing key")?;
    registry.load().await.context("loading the resolve index")?;
    aggregator
        .load(registry.now())
        .await
        .context("loading the ids of accepted outcome events")?;
    registry
        .start_project(&ProjectId::default())
        .await
        .context("creating the project's first environments")?;
    let supervisor = Supervisor::default();
    let follower = registry.clone();
    supervisor.spawn("change feed", move |stop| {
        let registry = follower.clone();
        async move { registry.follow(stop).await.map_err(anyhow::Error::from) }
    });
    let indexer = registry.clone();
    supervisor.spawn("audit backlog", move |stop| {
        let registry = indexer.clone();
        async move { registry.index_audit_backlog(stop).await }
    });
    let auditor = registry.clone();
    supervisor.spawn("background audit", move |stop| {
        auditor.clone().run_start_audits(stop)
    });
    let driver = registry.clone();
    let owner = format!("{instance}/{}", uuid::Uuid::new_v4());
    let dispatcher_owner = owner.clone();
    supervisor.spawn("rollout controller", move |stop| {
        crate::registry::controller::run(driver.clone(), owner.clone(), stop)
    });
    let clock_of = registry.clone();
    let clock: crate::registry::Clock = Arc::new(move || clock_of.now());
    let flushed = aggregator.clone();
    supervisor.spawn("outcome flusher", move |stop| {
        crate::outcomes::flush::run(flushed.clone(), clock.clone(), stop)
    });
    let dispatcher = registry.clone();
    supervisor.spawn("webhook dispatcher", move |stop| {
        crate::registry::dispatch::run(dispatcher.clone(), dispatcher_owner.clone(), stop)
    });
    let repairer = registry.clone();
    supervisor.spawn("change stream gap repair", move |stop| {
        repairer.clone().repair_watch_gaps(stop)
    });
    let flusher = registry.clone();
    supervisor.spawn("token use flusher", move |stop| {
        crate::registry::run_token_use_flusher(flusher.clone(), stop)
    });
    Ok(AppState {
        registry,
        metrics,
        request_ids: Default::default(),
        supervisor,
        outcomes: aggregator,
        auth_throttle: Arc::new(crate::throttle::AuthThrottle::new(
            auth_failure_limit,
            std::time::Duration::from_secs(60),
        )),
    })
}

/// Reads `<data-dir>/admin-token`, generating it (mode 0600) on first start.
fn admin_token_file(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().to_owned());
    }
    let token = crate::auth::new_secret("prt_admin_");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())?;
    file.sync_all()?;
    // Printed once, on the first start, so the operator can copy it. Not `println!`, which
    // would panic if stdout were a closed pipe: the token is in the file anyway.
    let _ = writeln!(
        std::io::stdout(),
        "promptreg: generated admin token (stored in {}):\n{token}",
        path.display()
    );
    Ok(token)
}

/// The router with every route and layer.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    crate::routes::router(state, max_body_bytes)
}

/// The router as a configuration asks: body limit, and a token on `/metrics` when
/// `--metrics-auth token` (the check is only layered in then, so the default costs nothing).
pub fn router_for(state: AppState, config: &Config) -> Router {
    let app = router(state.clone(), config.max_body_bytes);
    match config.metrics_auth {
        MetricsAuth::None => app,
        MetricsAuth::Token => app.layer(axum::middleware::from_fn_with_state(
            state,
            crate::metrics::require_token,
        )),
    }
}

/// Serves on a bound listener with the default connection limits until `shutdown` completes,
/// then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, app, ServeOptions::default(), shutdown).await
}

/// `promptreg serve`: logging, store, bind, serve until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    crate::telemetry::init(config.log_format);
    // Prompts and token hashes must not be readable by other users, whatever creates a file.
    crate::files::private_umask();
    tracing::info!(config = ?config, "starting promptreg");
    // Before the store opens: a bad certificate or key fails start-up at once.
    let tls = match config.tls_files()? {
        Some(files) => Some(Arc::new(Tls::load(files)?)),
        None => None,
    };
    let options = connection_limits(&config);
    let state = build_state(&config).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %listener.local_addr()?, scheme, database = %redact_url(&config.effective_database_url()), "listening");
    let stopping = state.clone();
    spawn_policy_reloader(&state, config.service.policy_file.clone());
    let app = router_for(state.clone(), &config);
    let served = match tls {
        Some(tls) => {
            tls.spawn_reloader(&state.supervisor, state.metrics.clone());
            serve_tls(listener, app, options, tls.acceptor(), shutdown_signal()).await
        }
        None => serve_with(listener, app, options, shutdown_signal()).await,
    };
    stopping.shutdown().await;
    served
}

/// The configured connection limits, with the soft open-files limit raised to the hard one
/// and the connection cap lowered below it: past the descriptor limit `accept` fails and
/// clients wait in the backlog unanswered, while past the cap they get a 503 at once.
fn connection_limits(config: &Config) -> ServeOptions {
    let mut options = config.serve_options();
    // Descriptors the process needs besides client connections: database, log files, the
    // listener, a margin for the runtime.
    const RESERVED: u64 = 256;
    if let Some(files) = crate::connections::raise_fd_limit() {
        let room = u32::try_from(files.saturating_sub(RESERVED).max(16)).unwrap_or(u32::MAX);
        if options.max_connections > room {
            tracing::warn!(
                configured = options.max_connections,
                open_files_limit = files,
                max_connections = room,
                "the open-files limit is too low for the connection cap; lowering the cap"
            );
            options.max_connections = room;
        }
    }
    options
}

/// Re-reads the policy file on SIGHUP: a file that does not validate is refused (logged with
/// Cedar's message, counted in `promptreg_policy_reloads{outcome="failed"}`) and the policies
/// in force stay. Without `--policy-file`, SIGHUP is logged and ignored rather than ending
/// the process (its default action).
fn spawn_policy_reloader(state: &AppState, file: Option<PathBuf>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; the policy file will not be reloaded");
                return;
            }
        };
        let registry = state.registry.clone();
        let metrics = state.metrics.clone();
        let hangups = Arc::new(tokio::sync::Mutex::new(hangups));
        state.supervisor.spawn("policy reloader", move |stop| {
            let (registry, metrics, hangups, file) =
                (registry.clone(), metrics.clone(), hangups.clone(), file.clone());
            async move {
                let mut hangups = hangups.lock().await;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return anyhow::Ok(()),
                        got = hangups.recv() => if got.is_none() { return anyhow::Ok(()) },
                    }
                    let Some(path) = file.clone() else {
                        tracing::info!("SIGHUP: no --policy-file, nothing to reload");
                        continue;
                    };
                    let engine = registry.cedar().clone();
                    // File reads can block: off the runtime's threads.
                    let outcome =
                        tokio::task::spawn_blocking(move || engine.reload(&path)).await?;
                    match outcome {
                        Ok(count) => {
                            metrics.policy_reloaded(true);
                            tracing::info!(policies = count, "SIGHUP: reloaded the policy file");
                        }
                        Err(e) => {
                            metrics.policy_reloaded(false);
                            tracing::error!(error = %e, "SIGHUP: the policy file was refused; the policies in force stay");
                        }
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (state, file);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
