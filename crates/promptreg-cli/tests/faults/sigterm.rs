//! SIGTERM during writes, on the embedded default: the server stops accepting, lets every
//! request in flight finish and exits 0; after a restart on the same data directory every
//! acknowledged write is there and nothing is half-written.
//!
//! "In flight" is made certain with a request whose body is held back: it sends
//! `Expect: 100-continue`, so the server's `100 Continue` proves it has read the head and
//! is waiting for the body when the signal arrives; the body follows the signal, and the
//! answer must still be a complete 201.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::server::{eventually, ServerProcess, TOKEN};
use crate::writers::{self, Progress};

const WRITERS: usize = 6;
/// Acknowledged writes before the signal.
const ACKED_BEFORE_SIGNAL: usize = 150;
/// How long the process may take to exit once the held-back request is answered.
const EXIT_BOUND: Duration = Duration::from_secs(10);

/// A request whose head the server has read and whose body it waits for.
struct HeldBack {
    stream: BufReader<TcpStream>,
    body: Vec<u8>,
}

impl HeldBack {
    /// Sends the head of a publish of `name` and waits for `100 Continue`.
    async fn start(url: &str, name: &str, template: &str) -> Self {
        let addr = url.trim_start_matches("http://");
        let body = serde_json::json!({"type": "text", "template": template})
            .to_string()
            .into_bytes();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1/prompts/{}/versions HTTP/1.1\r\nhost: {addr}\r\n\
             authorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nexpect: 100-continue\r\n\r\n",
            name.replace('/', "%2F"),
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut line))
            .await
            .expect("100 Continue within 10 s")
            .unwrap();
        assert!(
            line.starts_with("HTTP/1.1 100"),
            "expected 100 Continue, got {line:?}"
        );
        let mut blank = String::new();
        stream.read_line(&mut blank).await.unwrap();
        assert_eq!(blank, "\r\n");
        Self { stream, body }
    }

    /// Sends the body and reads the whole answer: status and JSON body.
    async fn finish(mut self) -> (u16, Value) {
        self.stream.get_mut().write_all(&self.body).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut raw))
            .await
            .expect("the held-back request is answered within 10 s")
            .expect("the held-back request is answered, not reset");
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{raw:?}"));
        let status = head[9..12].parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("no content-length: {head}"))
            .trim()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length, "a truncated answer: {raw:?}");
        (status, serde_json::from_str(body).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_and_nothing_is_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args: Vec<OsString> = vec!["--data-dir".into(), data.clone().into()];
    let mut server = ServerProcess::start(&args, dir.path().join("first.log")).await;
    let api = server.api(Duration::from_secs(30));

    let progress = Arc::new(Progress::default());
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writers::write(
                api.clone(),
                format!("term/{w}"),
                progress.clone(),
            ))
        })
        .collect();
    writers::wait_acked(&progress, ACKED_BEFORE_SIGNAL, &handles).await;

    let held = HeldBack::start(&server.url, "term/held", "held back over the signal").await;
    server.sigterm();
    // Shutting down: new connections are refused (the listener is closed first).
    let refused = eventually(
        Duration::from_secs(10),
        "new connections refused",
        || async {
            TcpStream::connect(server.url.trim_start_matches("http://"))
                .await
                .is_err()
        },
    )
    .await;
    assert!(
        handles.iter().all(|w| !w.is_finished()),
        "writers ran through the signal"
    );
    let (status, body) = held.finish().await;
    assert_eq!(status, 201, "the request in flight at SIGTERM: {body}");
    assert_eq!(body["version"], 1, "{body}");
    let ledgers = writers::finish(&progress, handles).await;

    let start = Instant::now();
    let exit = server.wait_exit(EXIT_BOUND).await.unwrap_or_else(|| {
        panic!(
            "still running {EXIT_BOUND:?} after its last request:\n{}",
            server.logs()
        )
    });
    assert!(exit.success(), "exit status {exit}:\n{}", server.logs());
    eprintln!(
        "SIGTERM: listener closed within {refused:?}, exited {:?} after the last request",
        start.elapsed()
    );

    let in_doubt: usize = ledgers.iter().map(|l| l.in_doubt).sum();
    for ledger in &ledgers {
        assert!(
            ledger.broken.is_empty(),
            "{}: {:?}",
            ledger.name,
            ledger.broken
        );
        assert!(
            ledger.errors.is_empty(),
            "{}: {:?}",
            ledger.name,
            ledger.errors
        );
    }

    let mut server = ServerProcess::start(&args, dir.path().join("second.log")).await;
    let api = server.api(Duration::from_secs(30));
    let mut versions = 0;
    for ledger in &ledgers {
        versions += writers::check(&api, ledger).await;
    }
    assert!(versions >= ACKED_BEFORE_SIGNAL as i64 / 2);
    let (status, got) = api
        .get("/v1/prompts/term%2Fheld/versions/1")
        .await
        .done("the held-back version");
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["template"], "held back over the signal");
    server.sigterm();
    let exit = server
        .wait_exit(EXIT_BOUND)
        .await
        .expect("the second server exits");
    assert!(exit.success(), "exit status {exit}");
    crate::sqlite::assert_intact(&data.join("promptreg.db")).await;
    eprintln!(
        "SIGTERM: {versions} versions checked, {in_doubt} requests unanswered (never acknowledged)"
    );
}
