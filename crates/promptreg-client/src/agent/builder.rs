//! [`AgentBuilder`]: the agent's settings, and start-up (server first, then the snapshot file).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use promptreg_api::KeysView;
use promptreg_core::integrity::PublicKey;
use promptreg_core::EnvName;
use tokio::sync::watch;

use super::reporter::{Reporter, ReporterSettings};
use super::snapshot::{self, Loaded};
use super::status::{Health, Source};
use super::{verify, Agent, AgentError, Keys, Settings, Shared};
use crate::{Client, ClientError};

/// Settings of an [`Agent`]; `Agent::builder(url).token(t).env("production").start().await`.
pub struct AgentBuilder {
    url: String,
    token: Option<String>,
    client: Option<Client>,
    env: String,
    prefix: Option<String>,
    keys: Vec<String>,
    keys_file: Option<PathBuf>,
    snapshot_path: Option<PathBuf>,
    ttl: Duration,
    allow_unsigned: bool,
    reconnect_min: Duration,
    reconnect_max: Duration,
    heartbeat: Duration,
    outcomes: ReporterSettings,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("AgentBuilder")
            .field("url", &self.url)
            .field("authenticated", &self.token.is_some())
            .field("env", &self.env)
            .field("prefix", &self.prefix)
            .field("snapshot_path", &self.snapshot_path)
            .finish_non_exhaustive()
    }
}

impl AgentBuilder {
    pub(crate) fn new(url: String) -> Self {
        Self {
            url,
            token: None,
            client: None,
            env: "production".into(),
            prefix: None,
            keys: Vec::new(),
            keys_file: None,
            snapshot_path: None,
            ttl: Duration::from_secs(60),
            allow_unsigned: false,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
            heartbeat: Duration::from_secs(15),
            outcomes: ReporterSettings {
                batch_size: 500,
                interval: Duration::from_secs(1),
                queue_bound: 10_000,
            },
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// The bearer token (a reader's is enough).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// A configured client (a private CA, proxies) instead of one built from the URL and token.
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The environment served (default `production`).
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = env.into();
        self
    }

    /// Only prompts whose name starts with this.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Trusts this Ed25519 public key (base64 of its 32 bytes, as `GET /v1/keys` shows it).
    /// Without any configured key, an online start pins the keys `GET /v1/keys` answers, and
    /// an offline start trusts the snapshot file's own keys.
    pub fn trusted_key(mut self, base64: impl Into<String>) -> Self {
        self.keys.push(base64.into());
        self
    }

    /// Trusts the keys of a file in `GET /v1/keys`'s JSON format (`promptreg keys --output json`).
    pub fn trusted_keys_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keys_file = Some(path.into());
        self
    }

    /// The snapshot file to start from when no server answers.
    pub fn snapshot_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.snapshot_path = Some(path.into());
        self
    }

    /// How long the cache may go unconfirmed while the stream is down before each reconnect
    /// attempt also reloads a snapshot (default 60 s). Stale values are served meanwhile.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Accepts versions without a signature (written before the server signed versions);
    /// off by default: an unsigned version is refused.
    pub fn allow_unsigned(mut self, allow: bool) -> Self {
        self.allow_unsigned = allow;
        self
    }

    /// The reconnect backoff: first pause and cap (default 100 ms and 10 s), doubling.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// The heartbeat assumed until the server's `ready` frame gives its own (default 15 s): a
    /// stream silent for twice the heartbeat is dead.
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Outcome batches: sent at `batch_size` events (default 500, at most 10,000) or every
    /// `interval` (default 1 s); at most `queue_bound` events wait (default 10,000), more are
    /// dropped and counted.
    pub fn outcomes(mut self, batch_size: usize, interval: Duration, queue_bound: usize) -> Self {
        self.outcomes = ReporterSettings {
            batch_size,
            interval,
            queue_bound,
        };
        self
    }

    /// How long [`Agent::shutdown`] waits for the last outcome flush (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Starts the agent: from the server's snapshot, or, when no server answers, from the
    /// snapshot file. Fails on a snapshot that does not verify (never a warning), on an API
    /// error (a bad token, an unknown environment), or when there is no source at all.
    pub async fn start(self) -> Result<Agent, AgentError> {
        let env = EnvName::parse(&self.env)
            .map_err(|e| AgentError::Config(format!("environment {:?}: {e}", self.env)))?;
        let configured = self.configured_keys()?;
        let client = match self.client {
            Some(c) => c,
            None => {
                let mut b = Client::builder(&self.url);
                if let Some(t) = &self.token {
                    b = b.token(t);
                }
                b.build()?
            }
        };
        let settings = Settings {
            env,
            prefix: self.prefix,
            snapshot_path: self.snapshot_path,
            ttl: self.ttl,
            allow_unsigned: self.allow_unsigned,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
            heartbeat: self.heartbeat,
            outcomes: self.outcomes,
            shutdown_timeout: self.shutdown_timeout,
        };
        let (loaded, source) = match online(&client, configured.as_deref(), &settings).await {
            Ok(loaded) => (loaded, Source::Server),
            Err(e) if unanswered(&e) => offline(e, configured.as_deref(), &settings)?,
            Err(e) => return Err(e),
        };
        Ok(launch(client, settings, loaded, source))
    }

    /// The configured trusted keys, if any.
    fn configured_keys(&self) -> Result<Option<Vec<PublicKey>>, AgentError> {
        let mut keys = Vec::new();
        for k in &self.keys {
            keys.push(
                PublicKey::from_base64(k)
                    .map_err(|e| AgentError::Config(format!("trusted key {k:?}: {e}")))?,
            );
        }
        if let Some(path) = &self.keys_file {
            let shown = path.display();
            let text = std::fs::read(path)
                .map_err(|e| AgentError::Config(format!("trusted keys file {shown}: {e}")))?;
            let view: KeysView = serde_json::from_slice(&text).map_err(|e| {
                AgentError::Config(format!(
                    "trusted keys file {shown}: not GET /v1/keys's JSON ({e})"
                ))
            })?;
            keys.extend(
                verify::ring_of(&view.keys)
                    .map_err(|e| AgentError::Config(format!("trusted keys file {shown}: {e}")))?,
            );
        }
        Ok((!keys.is_empty()).then_some(keys))
    }
}

/// Whether an error means the server did not answer (unreachable, a timeout, a 5xx from it or
/// a proxy): the cases where the snapshot file is used.
fn unanswered(e: &AgentError) -> bool {
    match e {
        AgentError::Client(ClientError::Transport(_)) => true,
        AgentError::Client(c) => c.status().is_some_and(|s| s >= 500),
        _ => false,
    }
}

/// The server's keys (unless configured) and snapshot, verified.
async fn online(
    client: &Client,
    configured: Option<&[PublicKey]>,
    settings: &Settings,
) -> Result<Loaded, AgentError> {
    let trusted = match configured {
        Some(keys) => keys.to_vec(),
        None => {
            let view = client.keys().await?;
            verify::ring_of(&view.keys).map_err(|reason| AgentError::SnapshotRefused {
                origin: "server".into(),
                reason: format!("GET /v1/keys: {reason}"),
            })?
        }
    };
    snapshot::fetch(client, &trusted, settings).await
}

/// The snapshot file, when the server did not answer.
fn offline(
    server: AgentError,
    configured: Option<&[PublicKey]>,
    settings: &Settings,
) -> Result<(Loaded, Source), AgentError> {
    let Some(path) = &settings.snapshot_path else {
        return Err(AgentError::NoSource {
            server: server.to_string_with_causes(),
            file: "no snapshot file is configured (snapshot_path)".into(),
        });
    };
    let loaded = snapshot::read_file(path, configured, settings)?;
    Ok((loaded, Source::File(path.display().to_string())))
}

impl AgentError {
    /// The message and its causes (a transport error's cause says what failed).
    fn to_string_with_causes(&self) -> String {
        crate::builder::error_chain(self)
    }
}

/// Fills the cache and starts the sync and reporter tasks.
fn launch(client: Client, settings: Settings, loaded: Loaded, source: Source) -> Agent {
    let client = Arc::new(client);
    let health = Arc::new(Health::new(source, loaded.seq));
    let (stop, stopped) = watch::channel(false);
    let (reporter, reporting) = Reporter::start(
        client.clone(),
        health.clone(),
        settings.outcomes,
        stopped.clone(),
    );
    let shared = Arc::new(Shared {
        client,
        settings,
        cache: super::cache::Cache::default(),
        health,
        keys: RwLock::new(Keys {
            trusted: loaded.trusted,
            ring: loaded.ring,
            project: Some(loaded.project),
        }),
    });
    shared.cache.replace_all(loaded.prompts);
    let syncing = tokio::spawn(super::sync::run(shared.clone(), stopped));
    Agent {
        shared,
        reporter,
        stop,
        tasks: Mutex::new(vec![syncing, reporting]),
    }
}
