//! The key-encryption key through the real binary: generated 0600 in the data directory,
//! rotated with `promptreg keys rotate-kek`, and a KEK file that is missing, malformed or
//! wrong stops `promptreg serve` with a message naming it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const TOKEN: &str = "kek-test-admin-token";

/// `promptreg serve` on `data` (SQLite), extra arguments, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_command(data: &Path, extra: &[&str], port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promptreg"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(data)
    .args(extra)
    .env("PROMPTREG_ADMIN_TOKEN", TOKEN)
    .env_remove("PROMPTREG_DATABASE_URL")
    .env_remove("PROMPTREG_KEK_FILE")
    .stdin(Stdio::null());
    cmd
}

async fn start(data: &Path, extra: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = serve_command(data, extra, port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let began = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("the server exited ({status}) before it was ready");
        }
        let ready = client.get(format!("{}/readyz", server.url)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        assert!(began.elapsed() < Duration::from_secs(60), "not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `promptreg serve` that must fail at start-up: its exit code and stderr.
fn refused(data: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = serve_command(data, extra, 0).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn cli(server: &Server, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"))
        .args(args)
        .env("PROMPTREG_URL", &server.url)
        .env("PROMPTREG_TOKEN", TOKEN)
        .output()
        .await
        .unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn the_kek_file_is_generated_rotated_and_checked_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[]).await;
    let kek = data.join("kek");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kek).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the generated KEK is private");
    }
    let client = reqwest::Client::new();
    let pushed = client
        .post(format!("{}/v1/prompts/kek%2Fa/versions", server.url))
        .bearer_auth(TOKEN)
        .json(&json!({"type": "text", "template": "Sealed {{ x }}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status().as_u16(), 201);

    // Rotation through the CLI: the old KEK file is retired beside the new one.
    let out = cli(&server, &["keys", "rotate-kek", "--output", "json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["rewrapped"], 1, "{done}");
    let old = done["retired"][0].as_str().unwrap();
    assert!(data.join(format!("kek.{old}.retired")).exists());
    let text = cli(&server, &["keys", "rotate-kek"]).await;
    assert_eq!(text.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("rotated the key-encryption key: now "),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    drop(server);

    // Missing, malformed and wrong KEK files: exit 1, naming the file.
    let missing = dir.path().join("no-such-kek");
    let (code, err) = refused(&data, &["--kek-file", path_str(&missing)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(path_str(&missing)), "{err}");
    let malformed = dir.path().join("malformed-kek");
    std::fs::write(&malformed, "not base64 at all\n").unwrap();
    let (code, err) = refused(&data, &["--kek-file", path_str(&malformed)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(path_str(&malformed)) && err.contains("base64"),
        "{err}"
    );
    let wrong = dir.path().join("wrong-kek");
    std::fs::write(&wrong, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
    let (code, err) = refused(&data, &["--kek-file", path_str(&wrong)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(path_str(&wrong)) && err.contains("wrong key file"),
        "{err}"
    );
    // The right one, given explicitly, serves what was sealed.
    let server = start(&data, &["--kek-file", path_str(&kek)]).await;
    let got = client
        .get(format!("{}/v1/prompts/kek%2Fa/versions/1", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let got: serde_json::Value = got.json().await.unwrap();
    assert_eq!(got["template"], "Sealed {{ x }}");
}
