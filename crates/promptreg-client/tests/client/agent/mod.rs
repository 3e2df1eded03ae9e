//! The agent SDK against a real server on both backends (PostgreSQL when
//! `PROMPTREG_TEST_PG_URL` is set): propagation, sticky assignment, stale-on-error, offline
//! snapshots, refusal of tampered content, the outcome reporter and the telemetry span.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use promptreg_api::{CreateVersion, DeployRequest};
use promptreg_client::{Agent, AgentBuilder, Client};
use promptreg_core::{EnvName, PromptName, PromptType, Version};
use promptreg_server::testing::{spawn_sqlite, spawn_with_store, TestServer};

mod offline;
mod outcomes;
mod propagation;
mod proxy;
mod tamper;

/// Which backend a test's server runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A server on a fresh store, which a test may stop to see what agents do without it.
pub struct Ctx {
    url: String,
    server: Mutex<Option<TestServer>>,
    cleanup: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
}

impl Ctx {
    /// `None` when PostgreSQL is asked for but `PROMPTREG_TEST_PG_URL` is not set.
    pub async fn new(backend: Backend) -> Option<Self> {
        let (server, cleanup) = match backend {
            Backend::Sqlite => (spawn_sqlite().await.expect("test server starts"), None),
            Backend::Postgres => {
                let url = std::env::var("PROMPTREG_TEST_PG_URL").ok()?;
                let (store, cleanup) = promptreg_store_postgres::testing::fresh(&url)
                    .await
                    .expect("a fresh PostgreSQL test schema");
                let server = spawn_with_store(Arc::new(store))
                    .await
                    .expect("test server starts");
                let cleanup: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(cleanup);
                (server, Some(cleanup))
            }
        };
        Some(Self {
            url: server.url().to_owned(),
            server: Mutex::new(Some(server)),
            cleanup: Mutex::new(cleanup),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// An admin client.
    pub fn admin(&self) -> Client {
        Client::new(&self.url, promptreg_server::testing::TEST_ADMIN_TOKEN).unwrap()
    }

    /// An agent builder for this server with the admin token and quick reconnects.
    pub fn agent(&self) -> AgentBuilder {
        Agent::builder(&self.url)
            .token(promptreg_server::testing::TEST_ADMIN_TOKEN)
            .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
    }

    /// Stops the server (its port then refuses connections).
    pub async fn stop_server(&self) {
        let server = self.server.lock().take();
        if let Some(server) = server {
            server.stop().await;
        }
    }

    pub async fn finish(self) {
        self.stop_server().await;
        let cleanup = self.cleanup.lock().take();
        if let Some(cleanup) = cleanup {
            cleanup.await;
        }
    }
}

/// Declares a test per backend for `async fn name(ctx: &Ctx)`; the PostgreSQL schema is
/// dropped even when the test panics.
#[macro_export]
macro_rules! agent_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::agent::{Backend, Ctx};

                async fn run(backend: Backend) {
                    let Some(ctx) = Ctx::new(backend).await else {
                        eprintln!("SKIPPED {} on PostgreSQL: PROMPTREG_TEST_PG_URL is not set", stringify!($name));
                        return;
                    };
                    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(super::$name(&ctx))).await;
                    ctx.finish().await;
                    if let Err(panic) = outcome {
                        std::panic::resume_unwind(panic);
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run(Backend::Postgres).await;
                }
            }
        )*
    };
}

pub fn name(s: &str) -> PromptName {
    PromptName::parse(s).unwrap()
}

pub fn production() -> EnvName {
    EnvName::parse("production").unwrap()
}

/// Creates one version per template of `prompt` (v1, v2, …) and makes v1 live in production.
pub async fn seed(client: &Client, prompt: &str, templates: &[&str]) {
    for t in templates {
        let body = CreateVersion {
            prompt_type: PromptType::Text,
            template: Some((*t).to_owned()),
            messages: None,
            variables: None,
            model: None,
            commit_message: None,
            metadata: None,
        };
        client.create_version(&name(prompt), &body).await.unwrap();
    }
    deploy(client, prompt, 1).await;
}

pub async fn deploy(client: &Client, prompt: &str, version: i64) {
    let body = DeployRequest {
        version: Version::new(version).unwrap(),
        reason: None,
        break_glass: false,
    };
    client
        .deploy(&production(), &name(prompt), &body)
        .await
        .unwrap();
}

/// Waits (polling the agent's memory, not the server) until `done` holds; panics after 10 s.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    start.elapsed()
}
