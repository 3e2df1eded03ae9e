//! `promptreg serve --policy-file`: a file that does not validate stops start-up with Cedar's
//! message naming the file; SIGHUP re-reads the file, puts a valid one in force at once and
//! refuses an invalid one (logged, counted in `/metrics`) while the policies in force stay.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::json;

const TOKEN: &str = "policy-test-admin-token";
const DEFAULT_POLICIES: &str = include_str!("../../../promptreg-server/policy/default.cedar");
/// Only admins may do anything.
const ADMINS_ONLY: &str =
    "@id(\"admins-only\")\npermit (principal in Role::\"admin\", action, resource);\n";
/// Names an action the schema does not have.
const TYPO: &str = "@id(\"typo\")\npermit (principal, action == Action::\"depoy\", resource);\n";

fn serve(data_dir: &Path, policy: &Path, port: u16, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .arg("--policy-file")
        .arg(policy)
        .env("PROMPTREG_ADMIN_TOKEN", TOKEN)
        .env_remove("PROMPTREG_DATABASE_URL")
        .env_remove("PROMPTREG_POLICY_FILE")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("promptreg serve starts")
}

/// Kills the server when the test ends, passing or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `probe` every 10 ms until it holds (at most 30 s).
async fn eventually<F, Fut>(what: &str, log: &Path, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !probe().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not happen:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status(client: &Client, url: &str, token: &str) -> Option<StatusCode> {
    let res = client.get(url).bearer_auth(token).send().await.ok()?;
    Some(res.status())
}

fn hang_up(child: &Child) {
    let done = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(done.success());
}

#[tokio::test]
async fn a_policy_file_that_does_not_validate_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policies.cedar");
    std::fs::write(&policy, TYPO).unwrap();
    let log = dir.path().join("serve.log");
    let mut child = serve(&dir.path().join("data"), &policy, free_port(), &log);
    let status = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("promptreg serve exits");
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains(&format!("policy file {}", policy.display())),
        "{out}"
    );
    assert!(out.contains("does not validate"), "{out}");
    assert!(out.contains("depoy"), "{out}");
    // Refused before anything was created.
    assert!(!dir.path().join("data").join("promptreg.db").exists());
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_policy_file_and_refuses_one_that_does_not_validate() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policies.cedar");
    std::fs::write(&policy, DEFAULT_POLICIES).unwrap();
    let log = dir.path().join("serve.log");
    let port = free_port();
    let server = Killed(serve(&dir.path().join("data"), &policy, port, &log));
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let ready = format!("{base}/readyz");
    eventually("readiness", &log, || async {
        status(&client, &ready, TOKEN).await == Some(StatusCode::OK)
    })
    .await;
    let created = client
        .post(format!("{base}/v1/tokens"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "r", "role": "reader"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let reader = created.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let prompts = format!("{base}/v1/prompts");
    assert_eq!(
        status(&client, &prompts, &reader).await,
        Some(StatusCode::OK)
    );

    // A valid file: in force at once.
    std::fs::write(&policy, ADMINS_ONLY).unwrap();
    hang_up(&server.0);
    eventually("the reload", &log, || async {
        status(&client, &prompts, &reader).await == Some(StatusCode::FORBIDDEN)
    })
    .await;
    let metrics = format!("{base}/metrics");
    let count = |outcome: &'static str| {
        let (client, metrics) = (client.clone(), metrics.clone());
        async move {
            let text = client
                .get(&metrics)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.contains(&format!(
                "promptreg_policy_reloads_total{{outcome=\"{outcome}\"}} 1"
            ))
        }
    };
    assert!(count("loaded").await);

    // An invalid file: refused with Cedar's message, the admins-only set stays.
    std::fs::write(&policy, TYPO).unwrap();
    hang_up(&server.0);
    eventually("the refusal", &log, || count("failed")).await;
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(out.contains("the policy file was refused"), "{out}");
    assert!(out.contains("depoy"), "{out}");
    assert_eq!(
        status(&client, &prompts, &reader).await,
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(status(&client, &prompts, TOKEN).await, Some(StatusCode::OK));
}
