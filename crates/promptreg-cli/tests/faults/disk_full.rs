//! The embedded default on a full disk: the data directory lives on a 4 MiB tmpfs, which the
//! test fills with large prompts. Writes must be refused with 507 `storage_full` (not an
//! opaque 500), reads and resolves must go on, and once space returns (the test deletes a
//! filler file it put there first) writes work again, `PRAGMA integrity_check` is `ok` and every
//! acknowledged write is there. Needs root for `mount`; skipped, saying so, otherwise.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use crate::server::{envelope, Answer, ServerProcess};
use crate::writers::{self, Acked, Ledger};

/// Size of the tmpfs.
const DISK: &str = "size=4m";
/// Space held by the filler file, given back to recover.
const FILLER_BYTES: usize = 1024 * 1024;
/// Template size of each filling write (under the 1 MiB body limit).
const TEMPLATE_BYTES: usize = 200 * 1024;
/// Writes it may take to fill the disk (4 MiB / 200 KiB is about 20).
const MAX_FILLING_WRITES: usize = 60;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs at `dir`, or says why it cannot.
    fn mount(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", DISK, "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so that a failing test whose server still holds files does not leave it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A template of `TEMPLATE_BYTES` that differs from every other (so each is a new version).
fn big_template(i: usize) -> String {
    let line = format!("filler {i}: the quick brown fox jumps over the lazy dog\n");
    line.repeat(TEMPLATE_BYTES / line.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused_clearly_and_recover_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    let disk = match Tmpfs::mount(&mnt) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("SKIPPED disk_full: cannot mount a tmpfs (needs root): {why}");
            return;
        }
    };
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![7u8; FILLER_BYTES]).unwrap();
    let data = mnt.join("data");
    let args: Vec<OsString> = vec!["--data-dir".into(), data.clone().into()];
    let mut server = ServerProcess::start(&args, dir.path().join("server.log")).await;
    let api = server.api(Duration::from_secs(30));

    // A deployed prompt, to be read and resolved while the disk is full.
    let (status, base) = api
        .publish("full/base", "Hello {{ name }}")
        .await
        .done("publish");
    assert_eq!(status, StatusCode::CREATED, "{base}");
    let (status, body) = api.deploy("full/base", 1).await.done("deploy");
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut ledger = Ledger {
        name: "full/fill".into(),
        ..Ledger::default()
    };
    let mut refusal = None;
    for i in 0..MAX_FILLING_WRITES {
        let template = big_template(i);
        match api
            .publish("full/fill", &template)
            .await
            .done("filling write")
        {
            (StatusCode::CREATED, body) => ledger.versions.push(Acked {
                version: body["version"].as_i64().unwrap(),
                digest: body["digest"].as_str().unwrap().to_owned(),
                template,
            }),
            (status, body) => {
                refusal = Some((status, body));
                break;
            }
        }
    }
    let (status, body) = refusal.unwrap_or_else(|| {
        panic!("{MAX_FILLING_WRITES} writes of {TEMPLATE_BYTES} bytes fit on a 4 MiB disk")
    });
    assert_eq!(
        status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{body}\n{}",
        server.logs()
    );
    let message = envelope(&body, "storage_full");
    assert!(message.contains("storage is full"), "{message}");
    assert!(
        !ledger.versions.is_empty(),
        "the disk was full before the first write"
    );
    ledger.errors.push((status, body, Duration::ZERO));

    // Still full: refused again, the same way; reads and resolves go on.
    let (status, body) = api
        .publish("full/fill", &big_template(10_000))
        .await
        .done("write");
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    ledger.errors.push((status, body, Duration::ZERO));
    let (status, live) = api.resolve("full/base").await.done("resolve");
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(live["digest"], base["digest"]);
    let (status, page) = api.get("/v1/prompts?limit=10").await.done("list");
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    let last = ledger.versions.last().unwrap();
    let (status, got) = api
        .get(&format!(
            "/v1/prompts/full%2Ffill/versions/{}",
            last.version
        ))
        .await
        .done("read a version");
    assert_eq!(status, StatusCode::OK, "{got}");

    // Space returns: writes work again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let (status, body) = api
        .publish("full/base", "Hello again {{ name }}")
        .await
        .done("write");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "after space returned: {body}\n{}",
        server.logs()
    );
    assert_eq!(body["version"], 2);
    let (status, body) = api.deploy("full/base", 2).await.done("deploy");
    assert_eq!(status, StatusCode::OK, "{body}");
    match api.resolve("full/base").await {
        Answer::Done(StatusCode::OK, live) => assert_eq!(live["version"], 2, "{live}"),
        other => panic!("resolve after recovery: {other:?}"),
    }

    // Nothing lost or corrupt, also across a restart.
    server.sigterm();
    let exit = server
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the server exits");
    assert!(exit.success(), "exit status {exit}:\n{}", server.logs());
    crate::sqlite::assert_intact(&data.join("promptreg.db")).await;
    let mut server = ServerProcess::start(&args, dir.path().join("second.log")).await;
    let api = server.api(Duration::from_secs(30));
    let stored = writers::check(&api, &ledger).await;
    assert_eq!(
        stored,
        ledger.versions.len() as i64,
        "a refused write was stored"
    );
    eprintln!(
        "disk full after {} writes of {TEMPLATE_BYTES} bytes; {stored} versions checked",
        ledger.versions.len()
    );
    server.sigterm();
    server
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the server exits");
    drop(disk);
}
