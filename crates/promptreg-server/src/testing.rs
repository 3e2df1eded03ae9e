//! A real server on `127.0.0.1:0` for end-to-end tests (CLI, SDK, replicas).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::tls::{Tls, TlsFiles};

/// The admin token of test servers.
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token";

/// A running server; stopped when dropped.
pub struct TestServer {
    url: String,
    _dir: Option<tempfile_dir::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

mod tempfile_dir {
    //! A temporary directory removed on drop, without a dependency outside tests.
    use std::path::{Path, PathBuf};

    /// A directory under the system temp dir, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        /// Creates a fresh directory.
        pub fn new() -> std::io::Result<Self> {
            let mut bytes = [0u8; 8];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            let path = std::env::temp_dir().join(format!("promptreg-test-{}", hex::encode(bytes)));
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }

        /// Its path.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl TestServer {
    /// `http://127.0.0.1:<port>` (`https://` when started with TLS).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &str {
        TEST_ADMIN_TOKEN
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a server on a fresh SQLite data directory.
pub async fn spawn_sqlite() -> anyhow::Result<TestServer> {
    let dir = tempfile_dir::TempDir::new()?;
    let path = dir.path().to_path_buf();
    spawn(path, None, Some(dir)).await
}

/// Starts a server on a fresh SQLite data directory with a configuration `configure`
/// adjusts (as `promptreg serve` flags would).
pub async fn spawn_sqlite_with(configure: impl FnOnce(&mut Config)) -> anyhow::Result<TestServer> {
    let dir = tempfile_dir::TempDir::new()?;
    let mut config = Config::for_data_dir(dir.path().to_path_buf());
    config.admin_token = Some(TEST_ADMIN_TOKEN.into());
    configure(&mut config);
    let state = crate::app::build_state(&config).await?;
    listen(state, config.max_body_bytes, Some(dir), None).await
}

/// Starts an HTTPS server on a fresh SQLite data directory, serving `cert` and `key` (PEM
/// files) and reloading them when they change, like `promptreg serve --tls-cert --tls-key`.
/// Its URL is `https://127.0.0.1:<port>`, so the certificate must name that IP address.
pub async fn spawn_sqlite_tls(cert: &Path, key: &Path) -> anyhow::Result<TestServer> {
    let tls = Arc::new(Tls::load(TlsFiles {
        cert: cert.to_owned(),
        key: key.to_owned(),
    })?);
    let dir = tempfile_dir::TempDir::new()?;
    let mut config = Config::for_data_dir(dir.path().to_path_buf());
    config.admin_token = Some(TEST_ADMIN_TOKEN.into());
    let state = crate::app::build_state(&config).await?;
    tls.spawn_reloader(&state.supervisor, state.metrics.clone());
    listen(state, config.max_body_bytes, Some(dir), Some(tls)).await
}

/// Starts a server on a database URL (e.g. a PostgreSQL test schema).
pub async fn spawn_with_database(database_url: &str) -> anyhow::Result<TestServer> {
    let dir = tempfile_dir::TempDir::new()?;
    let path = dir.path().to_path_buf();
    spawn(path, Some(database_url.to_owned()), Some(dir)).await
}

/// Starts a server over an already open store (e.g. a second replica on one database).
pub async fn spawn_with_store(
    store: std::sync::Arc<dyn promptreg_store::Store>,
) -> anyhow::Result<TestServer> {
    let state = crate::app::state_for_store(store, TEST_ADMIN_TOKEN).await?;
    listen(state, 1024 * 1024, None, None).await
}

async fn spawn(
    data_dir: PathBuf,
    database_url: Option<String>,
    dir: Option<tempfile_dir::TempDir>,
) -> anyhow::Result<TestServer> {
    let mut config = Config::for_data_dir(data_dir);
    config.database_url = database_url;
    config.admin_token = Some(TEST_ADMIN_TOKEN.into());
    let state = crate::app::build_state(&config).await?;
    listen(state, config.max_body_bytes, dir, None).await
}

async fn listen(
    state: crate::AppState,
    max_body_bytes: usize,
    dir: Option<tempfile_dir::TempDir>,
    tls: Option<Arc<Tls>>,
) -> anyhow::Result<TestServer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let stopping = state.clone();
    let app = crate::app::router(state, max_body_bytes);
    let handle = tokio::spawn(async move {
        let stopped = async move {
            let _ = stopped.await;
        };
        let options = crate::ServeOptions::default();
        let _ = match tls {
            Some(tls) => crate::serve_tls(listener, app, options, tls.acceptor(), stopped).await,
            None => crate::serve_with(listener, app, options, stopped).await,
        };
        // Like `promptreg serve`: background work (change feed, rollout controller) stops with
        // the server, so a stopped test server no longer writes, after the last flushes
        // (outcomes, token use).
        stopping.shutdown().await;
    });
    Ok(TestServer {
        url,
        _dir: dir,
        stop: Some(stop),
        handle: Some(handle),
    })
}

/// Two servers on one fresh PostgreSQL schema, each with its own pool, as two replicas (two
/// processes) share one database. Stop them with [`Replicas::stop`], which also drops the
/// schema.
pub struct Replicas {
    /// The first replica.
    pub a: TestServer,
    /// The second replica.
    pub b: TestServer,
    cleanup: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl Replicas {
    /// Starts two replicas on a fresh schema of the database at `PROMPTREG_TEST_PG_URL`, or
    /// answers `None` after printing that `test` was skipped when that variable is not set.
    ///
    /// # Panics
    /// When the database cannot be reached or a server cannot start (a test fails loudly).
    #[allow(clippy::expect_used)]
    pub async fn start(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("PROMPTREG_TEST_PG_URL") else {
            eprintln!("SKIPPED {test}: PROMPTREG_TEST_PG_URL is not set");
            return None;
        };
        let (pg_a, cleanup) = promptreg_store_postgres::testing::fresh(&url)
            .await
            .expect("a fresh PostgreSQL schema");
        // A second pool on the same schema stands for another server process.
        let pg_b = promptreg_store_postgres::PgStore::connect_with(pg_a.connect_options())
            .await
            .expect("a second pool on the schema");
        let a = spawn_with_store(Arc::new(pg_a))
            .await
            .expect("replica a starts");
        let b = spawn_with_store(Arc::new(pg_b))
            .await
            .expect("replica b starts");
        Some(Self {
            a,
            b,
            cleanup: Box::pin(cleanup),
        })
    }

    /// Stops both servers and drops the schema.
    pub async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
        self.cleanup.await;
    }
}
