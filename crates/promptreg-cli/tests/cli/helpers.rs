//! Running the built binary, test prompt files, and a server per backend (`both_backends!`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use promptreg_server::testing::{spawn_sqlite, spawn_with_store, TestServer};
use serde_json::Value;

/// Which backend the server of a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A server on a fresh store, and how to clean that store up.
pub struct Started {
    pub server: TestServer,
    cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Started {
    /// Starts a server on a fresh SQLite data directory or a fresh PostgreSQL schema; `None`
    /// when PostgreSQL is asked for but `PROMPTREG_TEST_PG_URL` is not set.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self {
                server: spawn_sqlite().await.expect("test server starts"),
                cleanup: None,
            }),
            Backend::Postgres => {
                let url = std::env::var("PROMPTREG_TEST_PG_URL").ok()?;
                let (store, cleanup) = promptreg_store_postgres::testing::fresh(&url)
                    .await
                    .expect("a fresh PostgreSQL test schema");
                let server = spawn_with_store(Arc::new(store))
                    .await
                    .expect("test server starts");
                Some(Self {
                    server,
                    cleanup: Some(Box::pin(cleanup)),
                })
            }
        }
    }

    /// Stops the server, then drops the PostgreSQL schema, if any.
    pub async fn finish(self) {
        self.server.stop().await;
        if let Some(cleanup) = self.cleanup {
            cleanup.await;
        }
    }
}

/// Declares a test per backend for `async fn name(server: &TestServer)`; the PostgreSQL
/// schema is dropped even when the test panics.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{Backend, Started};

                async fn run(backend: Backend) {
                    let Some(started) = Started::new(backend).await else {
                        eprintln!("SKIPPED {} on PostgreSQL: PROMPTREG_TEST_PG_URL is not set", stringify!($name));
                        return;
                    };
                    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(super::$name(&started.server))).await;
                    started.finish().await;
                    if let Err(panic) = outcome {
                        std::panic::resume_unwind(panic);
                    }
                }

                #[tokio::test]
                async fn sqlite() {
                    run(Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    run(Backend::Postgres).await;
                }
            }
        )*
    };
}

/// One finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    pub fn json(self) -> Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
    }

    /// Asserts failure with `code` and returns stderr.
    pub fn fails(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stderr
    }
}

/// Runs `promptreg <args>` against `server` as `token`.
pub async fn promptreg(server: &TestServer, token: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(args)
        .env("PROMPTREG_URL", server.url())
        .env("PROMPTREG_TOKEN", token)
        .output()
        .await
        .expect("the promptreg binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `promptreg <args>` as the admin.
pub async fn admin(server: &TestServer, args: &[&str]) -> Run {
    promptreg(server, server.admin_token(), args).await
}

/// Writes `text` to `dir/rel`, creating parent directories.
pub fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A directory with one YAML text prompt and one Dotprompt chat prompt.
pub fn prompts_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "greeting.yaml",
        "template: Hello {{ name }}!\nvariables:\n  type: object\n  required: [name]\n",
    );
    write(
        dir.path(),
        "support/triage.prompt",
        "---\nmodel: openai/gpt-4o\nconfig: {temperature: 0.2}\ntags: [support]\n---\n\
         {{role \"system\"}}\nYou triage tickets for {{ team }}.\n{{history}}\n\
         {{role \"user\"}}\n{{ ticket }}\n",
    );
    dir
}

/// The directory's path as an argument.
pub fn path(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().unwrap()
}
