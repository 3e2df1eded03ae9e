//! Crash durability of the embedded default: the real `promptreg serve` on SQLite is killed with
//! SIGKILL under concurrent writes; after a restart on the same data directory every write it
//! acknowledged is there, unchanged, and version numbers have no gaps.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const TOKEN: &str = "crash-test-admin-token";
const WRITERS: usize = 8;
/// Acknowledged versions before the kill.
const ACKNOWLEDGED_BEFORE_KILL: usize = 300;
/// Every `DEPLOY_EVERY`th acknowledged version of a prompt is also deployed.
const DEPLOY_EVERY: i64 = 3;
const SIGKILL: i32 = 9;

/// A `promptreg serve` child process; killed when dropped, so a failing test leaves none behind.
struct ServerProcess {
    child: Child,
    url: String,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts the binary on `data_dir` and returns once `/readyz` answers 200.
    async fn start(data_dir: &Path, log: PathBuf) -> Self {
        let port = free_port();
        let out = File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_promptreg"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .env("PROMPTREG_ADMIN_TOKEN", TOKEN)
            // The embedded default, whatever the test's environment says.
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
        let client = Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let limit = Duration::from_secs(60);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.logs()
                );
            }
            let ready = client.get(format!("{}/readyz", self.url)).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "the server was not ready within {limit:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `child.kill()` is SIGKILL on Unix; the exit status proves it.
    fn kill_9(&mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A version the server answered 201 for.
struct Acked {
    version: i64,
    digest: String,
    template: String,
}

/// What one writer saw.
#[derive(Default)]
struct Ledger {
    versions: Vec<Acked>,
    /// The last deploy to `production` answered 200.
    last_deploy: Option<i64>,
    deploys: usize,
    /// Creates that failed after the request may have reached the server: they may or may not
    /// have been committed.
    in_doubt: usize,
    /// Answers other than success (none are expected).
    refused: Vec<String>,
}

fn prompt_path(w: usize) -> String {
    format!("crash%2F{w}")
}

/// Status and JSON body; without a complete answer, whether the request may have reached the
/// server.
async fn answer(sent: reqwest::Result<reqwest::Response>) -> Result<(StatusCode, Value), bool> {
    match sent {
        Ok(res) => {
            let status = res.status();
            res.json::<Value>()
                .await
                .map(|b| (status, b))
                .map_err(|_| true)
        }
        // A refused connection never reached the server.
        Err(e) => Err(!e.is_connect()),
    }
}

/// Creates versions of `crash/<w>` (deploying some) until `stop`.
async fn writer(
    client: Client,
    url: String,
    w: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Ledger {
    let mut ledger = Ledger::default();
    let mut item = 0;
    while !stop.load(Ordering::SeqCst) {
        item += 1;
        let template = format!("writer {w} item {item}");
        let sent = client
            .post(format!("{url}/v1/prompts/{}/versions", prompt_path(w)))
            .bearer_auth(TOKEN)
            .json(&json!({"type": "text", "template": template}))
            .send()
            .await;
        let version = match answer(sent).await {
            Ok((StatusCode::CREATED, body)) => {
                let version = body["version"].as_i64().unwrap();
                let digest = body["digest"].as_str().unwrap().to_owned();
                ledger.versions.push(Acked {
                    version,
                    digest,
                    template,
                });
                acked.fetch_add(1, Ordering::SeqCst);
                version
            }
            Ok((status, body)) => {
                ledger.refused.push(format!("create: {status} {body}"));
                continue;
            }
            Err(reached) => {
                ledger.in_doubt += usize::from(reached);
                continue;
            }
        };
        if version % DEPLOY_EVERY != 0 {
            continue;
        }
        let sent = client
            .put(format!(
                "{url}/v1/environments/production/prompts/{}",
                prompt_path(w)
            ))
            .bearer_auth(TOKEN)
            .json(&json!({"version": version}))
            .send()
            .await;
        match answer(sent).await {
            Ok((StatusCode::OK, body)) => {
                assert_eq!(body["to_version"], version, "{body}");
                ledger.last_deploy = Some(version);
                ledger.deploys += 1;
            }
            Ok((status, body)) => ledger.refused.push(format!("deploy: {status} {body}")),
            // Unacknowledged: it may or may not have moved the pointer.
            Err(_) => {}
        }
    }
    ledger
}

async fn get(client: &Client, url: String) -> Value {
    let res = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "GET {url}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let mut server = ServerProcess::start(&data, dir.path().join("first.log")).await;
    // A new project starts with `production` (and development, staging).
    let production = client
        .get(format!("{}/v1/environments/production", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(production.status(), StatusCode::OK);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                client.clone(),
                server.url.clone(),
                w,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();

    let limit = Duration::from_secs(180);
    let start = Instant::now();
    while acked.load(Ordering::SeqCst) < ACKNOWLEDGED_BEFORE_KILL {
        assert!(
            start.elapsed() < limit,
            "only {} writes acknowledged within {limit:?}:\n{}",
            acked.load(Ordering::SeqCst),
            server.logs()
        );
        assert!(
            writers.iter().all(|w| !w.is_finished()),
            "a writer stopped early"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Killed mid-stream: every writer is still sending.
    assert!(writers.iter().all(|w| !w.is_finished()));
    let status = server.kill_9();
    assert_eq!(status.signal(), Some(SIGKILL), "{status}");
    stop.store(true, Ordering::SeqCst);
    let mut ledgers = Vec::new();
    for w in writers {
        ledgers.push(w.await.unwrap());
    }
    drop(server);

    let server = ServerProcess::start(&data, dir.path().join("second.log")).await;
    let url = &server.url;
    let catalog = get(
        &client,
        format!("{url}/v1/environments/production/catalog?limit=500"),
    )
    .await;
    let live: BTreeMap<&str, &Value> = catalog["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();

    let (mut versions, mut deploys, mut unacknowledged) = (0, 0, 0);
    for (w, ledger) in ledgers.iter().enumerate() {
        let name = format!("crash/{w}");
        assert!(ledger.refused.is_empty(), "{name}: {:?}", ledger.refused);

        // Gapless: exactly 1..=N, at least every acknowledged one, at most those in doubt more.
        let page = get(
            &client,
            format!("{url}/v1/prompts/{}/versions?limit=500", prompt_path(w)),
        )
        .await;
        assert!(page["next_cursor"].is_null(), "{name}: more than a page");
        let mut stored: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        stored.sort_unstable();
        let n = stored.len() as i64;
        assert_eq!(stored, (1..=n).collect::<Vec<_>>(), "{name}: gaps");
        let last_acked = ledger.versions.last().map_or(0, |a| a.version);
        assert!(
            n >= last_acked,
            "{name}: v{last_acked} acknowledged, {n} stored"
        );
        assert!(
            n <= (ledger.versions.len() + ledger.in_doubt) as i64,
            "{name}: {n} stored, {} acknowledged, {} in doubt",
            ledger.versions.len(),
            ledger.in_doubt
        );

        unacknowledged += n - last_acked;
        let mut digests = BTreeMap::new();
        for a in &ledger.versions {
            let got = get(
                &client,
                format!("{url}/v1/prompts/{}/versions/{}", prompt_path(w), a.version),
            )
            .await;
            assert_eq!(got["digest"], a.digest.as_str(), "{name} v{}", a.version);
            assert_eq!(
                got["template"],
                a.template.as_str(),
                "{name} v{}",
                a.version
            );
            digests.insert(a.version, a.digest.as_str());
            versions += 1;
        }

        // Live in production: the last acknowledged deploy or a later one.
        let Some(deployed) = ledger.last_deploy else {
            continue;
        };
        deploys += ledger.deploys;
        let entry = live
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} v{deployed} was deployed: {catalog}"));
        let version = entry["version"].as_i64().unwrap();
        assert!(
            version >= deployed && version <= n,
            "{name}: v{deployed} deployed, v{version} live"
        );
        if let Some(digest) = digests.get(&version) {
            assert_eq!(entry["digest"], *digest, "{name}");
        }
        let resolved = get(
            &client,
            format!("{url}/v1/resolve/{}?env=production", prompt_path(w)),
        )
        .await;
        assert_eq!(resolved["version"], version, "{name}");
        assert_eq!(resolved["digest"], entry["digest"], "{name}");
    }
    assert!(versions >= ACKNOWLEDGED_BEFORE_KILL);
    assert!(deploys > 0);
    eprintln!(
        "after kill -9: {versions} acknowledged versions and {deploys} acknowledged deploys \
         checked; {unacknowledged} unacknowledged versions were committed too"
    );
}
