//! The real `promptreg serve` as a child process, and the few HTTP calls the fault cases make.

use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// The bootstrap admin token of every server started here.
pub const TOKEN: &str = "faults-test-admin-token";

/// A `promptreg serve` child process; killed when dropped, so a failing test leaves none behind.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts the binary with `args` after `serve --listen 127.0.0.1:<free port>` and returns
    /// once `/readyz` answers 200. Without a `--database-url` in `args` it is the embedded
    /// default, whatever the test's environment says.
    pub async fn start(args: &[OsString], log: PathBuf) -> Self {
        let port = free_port();
        let out = File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_promptreg"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("PROMPTREG_ADMIN_TOKEN", TOKEN)
            .env("PROMPTREG_LOG_FORMAT", "text")
            .env_remove("PROMPTREG_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("promptreg serve starts");
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let api = Api::new(&self.url, Duration::from_secs(2));
        let limit = Duration::from_secs(60);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.logs()
                );
            }
            if api.readyz().await == Some(StatusCode::OK) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "the server was not ready within {limit:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM (what `docker stop` and systemd send).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// The exit status, waiting at most `limit`; `None` when it is still running then.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client of this server whose requests give up after `timeout`.
    pub fn api(&self, timeout: Duration) -> Api {
        Api::new(&self.url, timeout)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// What one request got.
#[derive(Debug)]
pub enum Answer {
    /// A complete response with a JSON body (or an empty one, as `Null`).
    Done(StatusCode, Value),
    /// No response at all; `reached` when the request may have reached the server (the
    /// connection was made), so a write may or may not have been carried out.
    Nothing {
        reached: bool,
        #[allow(dead_code)] // Shown by `Debug` in a failing assertion.
        error: String,
    },
    /// A status line and headers, then a body that broke off or is not JSON: a response was
    /// promised and not delivered. Never acceptable.
    Broken(String),
}

impl Answer {
    /// The status and body, panicking on anything else.
    pub fn done(self, what: &str) -> (StatusCode, Value) {
        match self {
            Answer::Done(status, body) => (status, body),
            other => panic!("{what}: no complete answer: {other:?}"),
        }
    }
}

/// Asserts `body` is the error envelope with `code`, and returns its message.
pub fn envelope(body: &Value, code: &str) -> String {
    assert_eq!(
        body["error"]["code"], code,
        "not the `{code}` envelope: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error without a message: {body}");
    message.to_owned()
}

/// The calls the fault cases make, as the bootstrap admin unless [`Api::as_token`] says.
#[derive(Clone)]
pub struct Api {
    client: Client,
    pub url: String,
    token: String,
}

impl Api {
    /// A client without connection reuse: each request has a connection of its own, so a
    /// failure is that request's, not a stale pooled connection's.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let client = Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Self {
            client,
            url: url.to_owned(),
            token: TOKEN.to_owned(),
        }
    }

    /// The same client calling with another bearer token.
    pub fn as_token(&self, token: &str) -> Api {
        Api {
            token: token.to_owned(),
            ..self.clone()
        }
    }

    /// Creates a bearer token with `role` and returns its secret.
    pub async fn create_token(&self, role: &str) -> String {
        let (status, body) = self
            .send(
                self.client
                    .post(format!("{}/v1/tokens", self.url))
                    .json(&json!({"name": format!("faults {role}"), "role": role})),
            )
            .await
            .done("create a token");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let res = match request.bearer_auth(&self.token).send().await {
            Ok(res) => res,
            Err(e) => {
                return Answer::Nothing {
                    reached: !e.is_connect(),
                    error: format!("{e:?}"),
                }
            }
        };
        let status = res.status();
        match res.bytes().await {
            Ok(bytes) if bytes.is_empty() => Answer::Done(status, Value::Null),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(body) => Answer::Done(status, body),
                Err(e) => Answer::Broken(format!("{status}: not JSON ({e}): {bytes:?}")),
            },
            Err(e) => Answer::Broken(format!("{status}: the body broke off: {e:?}")),
        }
    }

    /// `POST /v1/prompts/{name}/versions` with a text template.
    pub async fn publish(&self, name: &str, template: &str) -> Answer {
        let path = name.replace('/', "%2F");
        self.send(
            self.client
                .post(format!("{}/v1/prompts/{path}/versions", self.url))
                .json(&json!({"type": "text", "template": template})),
        )
        .await
    }

    /// `PUT /v1/environments/production/prompts/{name}`.
    pub async fn deploy(&self, name: &str, version: i64) -> Answer {
        let path = name.replace('/', "%2F");
        self.send(
            self.client
                .put(format!(
                    "{}/v1/environments/production/prompts/{path}",
                    self.url
                ))
                .json(&json!({"version": version})),
        )
        .await
    }

    /// `GET /v1/resolve/{name}?env=production`.
    pub async fn resolve(&self, name: &str) -> Answer {
        let path = name.replace('/', "%2F");
        self.get(&format!("/v1/resolve/{path}?env=production"))
            .await
    }

    /// Any GET.
    pub async fn get(&self, path_and_query: &str) -> Answer {
        self.send(self.client.get(format!("{}{path_and_query}", self.url)))
            .await
    }

    /// Every version number of a prompt (one page: the cases stay below 500).
    pub async fn versions(&self, name: &str) -> Vec<i64> {
        let path = name.replace('/', "%2F");
        let (status, page) = self
            .get(&format!("/v1/prompts/{path}/versions?limit=500"))
            .await
            .done("list versions");
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page["next_cursor"].is_null(), "{name}: more than a page");
        let mut versions: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        versions.sort_unstable();
        versions
    }

    /// `/readyz`'s status, `None` without an answer.
    pub async fn readyz(&self) -> Option<StatusCode> {
        match self.client.get(format!("{}/readyz", self.url)).send().await {
            Ok(res) => Some(res.status()),
            Err(_) => None,
        }
    }
}

/// Polls `check` every 50 ms until it is true; panics with `what` after `limit`. Returns how
/// long it took.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
