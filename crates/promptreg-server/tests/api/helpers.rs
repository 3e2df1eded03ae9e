//! `TestApp`: an in-process router over a fresh store, driven with `oneshot`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use promptreg_server::testing::TEST_ADMIN_TOKEN;
use promptreg_store::Store;
use serde_json::Value;
use tower::ServiceExt;

pub const ADMIN: &str = TEST_ADMIN_TOKEN;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The concrete store under a test app, for edits behind the server's back.
#[derive(Clone)]
pub enum RawStore {
    Sqlite(Arc<promptreg_store_sqlite::SqliteStore>),
    Postgres(Arc<promptreg_store_postgres::PgStore>),
}

pub struct TestApp {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub raw: RawStore,
    _dir: Option<tempfile::TempDir>,
    cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// The answer to a request.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The error code of an envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error envelope: {}", self.body))
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error envelope: {}", self.body))
    }
}

type Cleanup = Option<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// A fresh store of the backend (concrete and shared), or `None` when PostgreSQL is not
/// configured.
async fn raw_store_for(
    backend: Backend,
) -> Option<(RawStore, Arc<dyn Store>, Option<tempfile::TempDir>, Cleanup)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite:{}", dir.path().join("t.db").display());
            let store = Arc::new(
                promptreg_store_sqlite::SqliteStore::open(&url)
                    .await
                    .unwrap(),
            );
            Some((RawStore::Sqlite(store.clone()), store, Some(dir), None))
        }
        Backend::Postgres => {
            let url = std::env::var("PROMPTREG_TEST_PG_URL").ok()?;
            let (store, cleanup) = promptreg_store_postgres::testing::fresh(&url)
                .await
                .unwrap();
            let store = Arc::new(store);
            Some((
                RawStore::Postgres(store.clone()),
                store,
                None,
                Some(Box::pin(cleanup)),
            ))
        }
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> Option<Self> {
        let (raw, store, dir, cleanup) = raw_store_for(backend).await?;
        let state = promptreg_server::state_for_store(store.clone(), ADMIN)
            .await
            .unwrap();
        Some(Self {
            router: promptreg_server::router(state, 64 * 1024),
            store,
            raw,
            _dir: dir,
            cleanup,
        })
    }

    /// The backend under this app.
    pub fn backend(&self) -> Backend {
        match self.raw {
            RawStore::Sqlite(_) => Backend::Sqlite,
            RawStore::Postgres(_) => Backend::Postgres,
        }
    }

    /// The same database behind a newly started server (which loads and audits it).
    pub async fn restarted(&self) -> TestApp {
        let state = promptreg_server::state_for_store(self.store.clone(), ADMIN)
            .await
            .unwrap();
        TestApp::with_router(self, promptreg_server::router(state, 64 * 1024))
    }

    /// The same database behind a newly started server with `options`.
    pub async fn restarted_with_options(
        &self,
        options: promptreg_server::registry::RegistryOptions,
    ) -> TestApp {
        let state = promptreg_server::state_with_options(
            self.store.clone(),
            ADMIN,
            "test",
            options,
            promptreg_server::metrics::Metrics::default(),
        )
        .await
        .unwrap();
        TestApp::with_router(self, promptreg_server::router(state, 64 * 1024))
    }

    /// The same database behind a newly started server with `start` options (a cold start,
    /// a ledger snapshot).
    pub async fn restarted_with_start(
        &self,
        start: promptreg_server::registry::StartOptions,
    ) -> TestApp {
        self.restarted_with_options(promptreg_server::registry::RegistryOptions {
            start,
            ..Default::default()
        })
        .await
    }

    /// The same database behind a newly started server that indexes every pointer cold
    /// (its content checked where first needed and by the background audit).
    pub async fn restarted_cold(&self) -> TestApp {
        self.restarted_with_start(promptreg_server::registry::StartOptions {
            eager_max: 0,
            ..Default::default()
        })
        .await
    }

    /// The same database behind a newly started server holding `keys` (a KEK file, say);
    /// the error is why it does not start.
    pub async fn restarted_with(&self, keys: promptreg_server::Keys) -> anyhow::Result<TestApp> {
        let state = promptreg_server::state_with_keys(
            self.store.clone(),
            ADMIN,
            "test",
            promptreg_server::registry::RegistryOptions::default(),
            promptreg_server::metrics::Metrics::default(),
            keys,
        )
        .await?;
        Ok(TestApp::with_router(
            self,
            promptreg_server::router(state, 64 * 1024),
        ))
    }

    /// Edits the database behind the server's back: `sqlite` on SQLite, `postgres` on
    /// PostgreSQL (foreign keys not enforced, as a person with write access could arrange).
    pub async fn tamper(&self, sqlite: &str, postgres: &str) -> u64 {
        match &self.raw {
            RawStore::Sqlite(s) => promptreg_store_sqlite::testing::tamper(s, sqlite)
                .await
                .unwrap(),
            RawStore::Postgres(s) => {
                let sql = format!(
                    "SET session_replication_role = replica; {postgres}; \
                     SET session_replication_role = DEFAULT"
                );
                promptreg_store_postgres::testing::tamper(s, &sql)
                    .await
                    .unwrap()
            }
        }
    }

    /// Reads one number from the database behind the server's back (`SELECT COUNT(*) …`):
    /// `sqlite` on SQLite, `postgres` on PostgreSQL.
    pub async fn count(&self, sqlite: &str, postgres: &str) -> i64 {
        match &self.raw {
            RawStore::Sqlite(s) => promptreg_store_sqlite::testing::count(s, sqlite)
                .await
                .unwrap(),
            RawStore::Postgres(s) => promptreg_store_postgres::testing::count(s, postgres)
                .await
                .unwrap(),
        }
    }

    /// The SQLite database's files (the database and its write-ahead log), on SQLite.
    pub fn sqlite_files(&self) -> Option<Vec<std::path::PathBuf>> {
        let dir = self._dir.as_ref()?.path();
        Some(vec![dir.join("t.db"), dir.join("t.db-wal")])
    }

    /// Another router (a restarted server) over this app's store; cleaned up with this app.
    pub fn with_router(app: &TestApp, router: Router) -> TestApp {
        TestApp {
            router,
            store: app.store.clone(),
            raw: app.raw.clone(),
            _dir: None,
            cleanup: None,
        }
    }

    pub async fn finish(mut self) {
        if let Some(c) = self.cleanup.take() {
            c.await;
        }
    }

    /// Sends a request with a raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.raw(
            method,
            path,
            Some(token),
            bytes,
            &[("content-type", "application/json")],
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, ADMIN, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, ADMIN, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, ADMIN, Some(body)).await
    }

    /// Pushes a text version and returns its answer.
    pub async fn push(&self, name: &str, template: &str) -> Answer {
        let path = format!("/v1/prompts/{}/versions", enc(name));
        self.post(
            &path,
            serde_json::json!({"type": "text", "template": template}),
        )
        .await
    }

    /// Makes sure an environment exists (a new project starts with development, staging and
    /// production).
    pub async fn env(&self, name: &str) {
        let a = self
            .post("/v1/environments", serde_json::json!({"name": name}))
            .await;
        let default = matches!(name, "development" | "staging" | "production");
        assert!(
            a.status == StatusCode::CREATED || (default && a.status == StatusCode::CONFLICT),
            "{}",
            a.body
        );
    }

    pub async fn deploy(&self, env: &str, name: &str, version: i64) -> Answer {
        self.put(
            &format!("/v1/environments/{env}/prompts/{}", enc(name)),
            serde_json::json!({"version": version}),
        )
        .await
    }

    /// Polls rollout `id` until `done` holds (the controller passes every 250 ms) and returns
    /// it. Tests that count events wait this way for the controller to rest first.
    pub async fn wait_for_rollout(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            let r = self.get(&format!("/v1/rollouts/{id}")).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            if done(&r.body) {
                return r.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("rollout {id} never reached the expected state");
    }

    /// Polls resolve of `name` in `env` until it serves `rollout` (as just read from
    /// `GET /v1/rollouts/{id}`) at the same step: the store answers for a step from its
    /// commit, the resolve index only once the controller has applied it.
    pub async fn wait_until_served(&self, env: &str, name: &str, rollout: &Value) {
        let path = format!("/v1/resolve/{}?env={env}&subject=probe", enc(name));
        for _ in 0..100 {
            let a = self.get(&path).await;
            let assignment = &a.body["assignment"];
            if assignment["rollout"] == rollout["id"] && assignment["step"] == rollout["step"] {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "resolve never served rollout {} at step {}",
            rollout["id"], rollout["step"]
        );
    }

    /// How many events the default project's log holds.
    pub async fn events(&self) -> usize {
        self.store
            .events_after(&promptreg_core::ProjectId::default(), 0, 10_000)
            .await
            .unwrap()
            .len()
    }

    /// Creates a token of a role and returns its secret.
    pub async fn token(&self, role: &str) -> String {
        let a = self
            .post(
                "/v1/tokens",
                serde_json::json!({"name": format!("{role} token"), "role": role}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body["token"].as_str().unwrap().to_owned()
    }
}

/// One admin request to a server on a real port (replica tests): status and JSON body.
pub async fn call_url(
    c: &reqwest::Client,
    m: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = c.request(m, url).bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// One admin request with a JSON body on a router (from a task that has no `TestApp`).
pub async fn send_json(router: &Router, method: &str, path: &str, body: Value) -> StatusCode {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    router.clone().oneshot(req).await.unwrap().status()
}

/// Percent-encodes a prompt name for a path.
pub fn enc(name: &str) -> String {
    name.replace('/', "%2F")
}

/// Declares a test per backend for `async fn name(app: &TestApp)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{Backend, TestApp};

                async fn run(backend: Backend) {
                    let Some(app) = TestApp::new(backend).await else {
                        eprintln!("SKIPPED {} on PostgreSQL: PROMPTREG_TEST_PG_URL is not set", stringify!($name));
                        return;
                    };
                    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(super::$name(&app))).await;
                    app.finish().await;
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
