//! The server configuration: every field is a flag and a `PROMPTREG_*` variable, defaults in code.

use std::net::SocketAddr;
use std::path::PathBuf;

use promptreg_core::render::RenderLimits;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Options of the service layer (`registry`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceConfig {
    /// This server's name in the actor of what its admin token does (default `<host>:<port>`),
    /// so that the bootstrap admins of several replicas are told apart in history.
    #[arg(long, env = "PROMPTREG_INSTANCE")]
    pub instance: Option<String>,
    /// Refuse Langfuse labels that name no environment, instead of creating the environment.
    #[arg(long, env = "PROMPTREG_NO_LABELS_CREATE_ENVIRONMENTS")]
    pub no_labels_create_environments: bool,
    /// With a shared database: how long (ms) a replica that cannot confirm it is current goes
    /// on trusting its in-memory credentials; past it, credentials are checked against the
    /// database (503 if it does not answer). The bound on a revoked token still passing.
    #[arg(long, env = "PROMPTREG_STALE_AFTER_MS", default_value_t = 2000)]
    pub stale_after_ms: u64,
    /// Outcome events whose `time` is more than this many seconds ahead of the server's clock
    /// are refused (`time_in_future`).
    #[arg(
        long,
        env = "PROMPTREG_OUTCOMES_MAX_FUTURE_SECS",
        default_value_t = 300
    )]
    pub outcomes_max_future_secs: u64,
    /// Outcome events older than this many seconds are refused (`time_too_old`); accepted
    /// ids are remembered this long (plus the future skew) to refuse duplicates.
    #[arg(
        long,
        env = "PROMPTREG_OUTCOMES_ACCEPT_WINDOW_SECS",
        default_value_t = 3600
    )]
    pub outcomes_accept_window_secs: u64,
    /// The ledger's name: the key name on signed checkpoints and the prefix of each
    /// project's log origin (`<name>/<project>`). Give each deployment its own.
    #[arg(long, env = "PROMPTREG_LEDGER_NAME", default_value = "promptreg")]
    pub ledger_name: String,
    /// Cedar policies to authorize with instead of the built-in ones (docs/permissions.md):
    /// validated against promptreg's schema at start-up (one that does not validate stops
    /// it) and re-read on SIGHUP (one that does not validate is refused and logged, and the
    /// policies in force stay).
    #[arg(long, env = "PROMPTREG_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// How long a change request (approval for a protected environment) stays applicable
    /// after it is opened: `30m`, `72h`…
    #[arg(long, env = "PROMPTREG_CHANGE_REQUEST_TTL", default_value = "72h",
        value_parser = promptreg_core::parse_duration)]
    pub change_request_ttl: std::time::Duration,
    /// Failed authentication attempts one client address (the TCP peer) may make within a
    /// minute; past it, the address gets 429 with `Retry-After` until the minute ends, even
    /// with a correct credential. 0 turns the limit off.
    #[arg(long, env = "PROMPTREG_AUTH_FAILURE_LIMIT", default_value_t = crate::throttle::DEFAULT_LIMIT)]
    pub auth_failure_limit: u32,
    /// How often an open change stream (`GET /v1/watch`) gets a heartbeat comment: `15s`,
    /// `500ms`… A client treats a stream silent for twice this as dead. Kept under half the
    /// idle timeout.
    #[arg(long, env = "PROMPTREG_WATCH_HEARTBEAT", default_value = "15s",
        value_parser = parse_heartbeat)]
    pub watch_heartbeat: std::time::Duration,
    /// How many changes a change-stream client may fall behind by before it is sent
    /// `resync` (`lagged`) and disconnected (the server never buffers more for it).
    #[arg(long, env = "PROMPTREG_WATCH_BUFFER", default_value_t = crate::registry::watch::DEFAULT_BUFFER)]
    pub watch_buffer: usize,
    /// The most flags one OpenFeature bulk evaluation (`POST /ofrep/v1/evaluate/flags`)
    /// answers: the first by prompt name; its metadata says when more matched.
    #[arg(long, env = "PROMPTREG_OFREP_MAX_FLAGS", default_value_t = 1_000,
        value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ofrep_max_flags: u32,
    /// Live pointers up to which a start checks every live version's content before the
    /// server is ready; past it, pointers are served after a check against the ledger, and
    /// each version's content is checked where it is first needed and by a background audit
    /// that starts right away (a large registry is then ready in about a second).
    #[arg(long, env = "PROMPTREG_START_EAGER_MAX", default_value_t = crate::registry::DEFAULT_START_EAGER_MAX)]
    pub start_eager_max: usize,
    /// Log entries (over every project) from which the ledger is snapshotted in
    /// `<data-dir>/ledger.snapshot`, so that a start replays only the log after it (the
    /// whole log is still compared in the background right after).
    #[arg(long, env = "PROMPTREG_LEDGER_SNAPSHOT_MIN", default_value_t = crate::registry::DEFAULT_SNAPSHOT_MIN_ENTRIES)]
    pub ledger_snapshot_min: u64,
}

/// A heartbeat interval: a duration of at least 10 ms.
fn parse_heartbeat(text: &str) -> Result<std::time::Duration, String> {
    let d = promptreg_core::parse_duration(text).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_millis(10) {
        return Err("the heartbeat must be at least 10ms".into());
    }
    Ok(d)
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            instance: None,
            no_labels_create_environments: false,
            stale_after_ms: 2000,
            outcomes_max_future_secs: 300,
            outcomes_accept_window_secs: 3600,
            ledger_name: "promptreg".into(),
            policy_file: None,
            change_request_ttl: crate::registry::DEFAULT_CHANGE_REQUEST_TTL,
            auth_failure_limit: crate::throttle::DEFAULT_LIMIT,
            watch_heartbeat: crate::registry::watch::DEFAULT_HEARTBEAT,
            watch_buffer: crate::registry::watch::DEFAULT_BUFFER,
            ofrep_max_flags: 1_000,
            start_eager_max: crate::registry::DEFAULT_START_EAGER_MAX,
            ledger_snapshot_min: crate::registry::DEFAULT_SNAPSHOT_MIN_ENTRIES,
        }
    }
}

impl ServiceConfig {
    /// The registry's options (render limits are set from the `--render-*` flags by the caller).
    pub fn registry_options(&self) -> crate::registry::RegistryOptions {
        crate::registry::RegistryOptions {
            create_environments_from_labels: !self.no_labels_create_environments,
            stale_after: std::time::Duration::from_millis(self.stale_after_ms),
            render: RenderLimits::default(),
            outcomes: crate::outcomes::OutcomeOptions {
                max_future: std::time::Duration::from_secs(self.outcomes_max_future_secs),
                accept_window: std::time::Duration::from_secs(self.outcomes_accept_window_secs),
                ..Default::default()
            },
            ledger_name: self.ledger_name.clone(),
            seal_content: true,
            policies: None,
            change_request_ttl: self.change_request_ttl,
            auth_failure_limit: self.auth_failure_limit,
            watch: crate::registry::WatchOptions {
                heartbeat: self.watch_heartbeat,
                buffer: self.watch_buffer,
                ..Default::default()
            },
            max_bulk_flags: self.ofrep_max_flags as usize,
            start: crate::registry::StartOptions {
                eager_max: self.start_eager_max,
                // Set by the caller, who knows the data directory.
                ledger_snapshot: None,
                snapshot_min_entries: self.ledger_snapshot_min,
            },
        }
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsAuth {
    /// Anyone who can reach the port (the default, as Prometheus scrapers expect).
    None,
    /// Any valid token or key pair (`Authorization: Bearer …`), of any role.
    Token,
}

/// `promptreg serve` options.
#[derive(Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "PROMPTREG_LISTEN", default_value = "127.0.0.1:8700")]
    pub listen: SocketAddr,
    /// How the service layer behaves.
    #[command(flatten)]
    pub service: ServiceConfig,
    /// Directory for the embedded database and the generated admin token.
    #[arg(long, env = "PROMPTREG_DATA_DIR", default_value = "./promptreg-data")]
    pub data_dir: PathBuf,
    /// `sqlite:<path>` or `postgres://...`; default: an SQLite file in the data directory.
    #[arg(long, env = "PROMPTREG_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log format.
    #[arg(long, env = "PROMPTREG_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "PROMPTREG_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// The Ed25519 signing key, PKCS#8 PEM (`openssl genpkey -algorithm ed25519`); default:
    /// `<data-dir>/signing-key.pem`, generated (mode 0600) on first start.
    #[arg(long, env = "PROMPTREG_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// The key-encryption key that wraps every version's data key (encryption at rest): 32
    /// random bytes in base64 (`head -c 32 /dev/urandom | base64`); default: `<data-dir>/kek`,
    /// generated (mode 0600) on first start. Replicas sharing a database must share this file.
    #[arg(long, env = "PROMPTREG_KEK_FILE")]
    pub kek_file: Option<PathBuf>,
    /// Benchmarks only: store versions and moves unsigned and their content unencrypted, to
    /// measure what signing and encryption cost against the same build.
    #[arg(long, hide = true)]
    pub bench_integrity_off: bool,
    /// The admin token; generated into `<data-dir>/admin-token` on first start when unset.
    #[arg(long, env = "PROMPTREG_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Longest rendered text of one render, in bytes (all messages of a chat together).
    #[arg(long, env = "PROMPTREG_RENDER_MAX_OUTPUT_BYTES", default_value_t = RenderLimits::default().max_output_bytes)]
    pub render_max_output_bytes: usize,
    /// Template execution steps one render may take.
    #[arg(long, env = "PROMPTREG_RENDER_MAX_FUEL", default_value_t = RenderLimits::default().max_fuel)]
    pub render_max_fuel: u64,
    /// Largest count a template may ask for (range length, indent width, slice count, items a
    /// filter walks).
    #[arg(long, env = "PROMPTREG_RENDER_MAX_SIZE_ARGUMENT", default_value_t = RenderLimits::default().max_size_argument)]
    pub render_max_size_argument: usize,
    /// Seconds a client has to send a complete request head (also bounds how long a
    /// kept-alive connection may wait for its next request).
    #[arg(long, env = "PROMPTREG_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds without a byte moving either way after which a connection is closed.
    #[arg(long, env = "PROMPTREG_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Most connections open at once; more are answered 503 and closed. Lowered at start-up
    /// to what the open-files limit allows.
    #[arg(long, env = "PROMPTREG_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Who may read `/metrics`: `none` (anyone) or `token` (any valid token). The metrics
    /// name prompts and environments.
    #[arg(
        long,
        env = "PROMPTREG_METRICS_AUTH",
        value_enum,
        default_value = "none"
    )]
    pub metrics_auth: MetricsAuth,
    /// Most per-prompt resolve series in `/metrics`; past it, resolves are counted per
    /// environment under `prompt="_other"`, so the page stays small with many prompts.
    #[arg(long, env = "PROMPTREG_METRICS_MAX_PROMPT_SERIES", default_value_t = crate::metrics::DEFAULT_MAX_RESOLVE_SERIES)]
    pub metrics_max_prompt_series: usize,
    /// PEM certificate chain (leaf first) to serve HTTPS with, together with `--tls-key`;
    /// reloaded when the file changes. Without both, plain HTTP.
    #[arg(long, env = "PROMPTREG_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`'s leaf certificate; reloaded when the file changes.
    #[arg(long, env = "PROMPTREG_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("service", &self.service)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("log_format", &self.log_format)
            .field("max_body_bytes", &self.max_body_bytes)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("signing_key_file", &self.signing_key_file)
            .field("kek_file", &self.kek_file)
            .field("bench_integrity_off", &self.bench_integrity_off)
            .field("render_limits", &self.render_limits())
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("metrics_auth", &self.metrics_auth)
            .field("metrics_max_prompt_series", &self.metrics_max_prompt_series)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .finish()
    }
}

impl Config {
    /// Defaults for a data directory (used by tests and benches).
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            service: ServiceConfig::default(),
            data_dir,
            database_url: None,
            log_format: LogFormat::Text,
            max_body_bytes: 1024 * 1024,
            admin_token: None,
            signing_key_file: None,
            kek_file: None,
            bench_integrity_off: false,
            render_max_output_bytes: RenderLimits::default().max_output_bytes,
            render_max_fuel: RenderLimits::default().max_fuel,
            render_max_size_argument: RenderLimits::default().max_size_argument,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 10_000,
            metrics_auth: MetricsAuth::None,
            metrics_max_prompt_series: crate::metrics::DEFAULT_MAX_RESOLVE_SERIES,
            tls_cert: None,
            tls_key: None,
        }
    }

    /// The bounds every render runs under (`--render-max-*`).
    pub fn render_limits(&self) -> RenderLimits {
        RenderLimits {
            max_output_bytes: self.render_max_output_bytes,
            max_fuel: self.render_max_fuel,
            max_size_argument: self.render_max_size_argument,
        }
    }

    /// The connection limits of the HTTP server.
    pub fn serve_options(&self) -> crate::connections::ServeOptions {
        crate::connections::ServeOptions {
            header_read_timeout: std::time::Duration::from_secs(self.header_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        }
    }

    /// The certificate and key to serve HTTPS with: `None` for plain HTTP, an error naming
    /// the missing flag when only one of the two is set.
    pub fn tls_files(&self) -> Result<Option<crate::tls::TlsFiles>, crate::tls::TlsError> {
        use crate::tls::{TlsError, TlsFiles};
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(TlsError::Incomplete {
                given: "--tls-cert",
                missing: "--tls-key",
            }),
            (None, Some(_)) => Err(TlsError::Incomplete {
                given: "--tls-key",
                missing: "--tls-cert",
            }),
        }
    }

    /// The database URL in effect.
    pub fn effective_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("promptreg.db").display()))
    }
}

/// A URL with its password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:****{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:****@h/db"
        );
        assert_eq!(super::redact_url("sqlite:x.db"), "sqlite:x.db");
    }
}
