//! One watching client: `GET /v1/watch` on its own HTTP/1.1 connection, read frame by frame.
//!
//! Each watcher is one tokio task over a hyper client connection (plus hyper's connection
//! task). It stamps the time as soon as a body chunk arrives, before parsing, and reports
//! every `ready` and `pointer_moved` frame to the coordinator over a channel; anything that
//! ends the stream (an error status, a `resync` frame, the server closing it, a transport
//! error, a frame that breaks the wire format) is reported as a failure, which fails the run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::header::{ACCEPT, AUTHORIZATION, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use super::sse::{Frame, SseParser};

/// Where a watcher connects and what it asks for.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index of the server in the run's server list.
    pub server: usize,
    /// Its socket address.
    pub addr: SocketAddr,
    /// `Host` header value.
    pub authority: String,
    /// Origin-form request target: `/v1/watch?env=..&prefix=..`.
    pub path: String,
    /// `Authorization` header value.
    pub authorization: String,
}

/// What a watcher tells the coordinator.
#[derive(Debug)]
pub enum Report {
    /// The stream is live from log position `seq`.
    Ready {
        /// The watcher.
        client: usize,
    },
    /// A `pointer_moved` frame arrived.
    Moved(Receipt),
    /// The stream ended or broke the wire format: the run fails.
    Failed {
        /// The watcher.
        client: usize,
        /// What happened.
        reason: String,
    },
}

/// One `pointer_moved` frame as received by one watcher.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The watcher.
    pub client: usize,
    /// When the body chunk that completed the frame was read.
    pub at: Instant,
    /// The frame's `id:`, the project's log seq.
    pub id: i64,
    /// The prompt.
    pub name: String,
    /// The deployment record number (per environment and prompt): what the deploy or
    /// rollback answer calls `seq`.
    pub record_seq: i64,
    /// The version live after the move.
    pub to_version: i64,
    /// `deploy` or `rollback`.
    pub kind: String,
}

/// The parts of a `pointer_moved` frame's `data:` (an `EventRecord`) the benchmark checks.
#[derive(Debug, Deserialize)]
struct Record {
    seq: i64,
    change: Change,
}

#[derive(Debug, Deserialize)]
struct Change {
    event: String,
    name: String,
    seq: i64,
    to_version: i64,
    kind: String,
}

/// Runs watcher `client` until its stream ends; never returns an error, it reports it.
/// `connecting` bounds how many watchers are between connect and response head at once (a
/// thousand SYNs at once would overflow the server's accept backlog and measure retries).
pub async fn watch(
    client: usize,
    target: Arc<Target>,
    connecting: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Report>,
) {
    if let Err(e) = run(client, &target, &connecting, &tx).await {
        let _ = tx.send(Report::Failed {
            client,
            reason: format!("{e:#}"),
        });
    }
}

async fn run(
    client: usize,
    target: &Target,
    connecting: &Semaphore,
    tx: &mpsc::UnboundedSender<Report>,
) -> anyhow::Result<()> {
    let permit = connecting.acquire().await.context("connect semaphore")?;
    let stream = TcpStream::connect(target.addr)
        .await
        .with_context(|| format!("connecting to {}", target.addr))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        // Its errors surface as a body error below.
        let _ = conn.await;
    });
    let request = Request::get(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .header(AUTHORIZATION, target.authorization.as_str())
        .header(ACCEPT, "text/event-stream")
        .body(Empty::<Bytes>::new())
        .context("building the watch request")?;
    let response = sender
        .send_request(request)
        .await
        .context("sending GET /v1/watch")?;
    drop(permit);
    let status = response.status();
    if status != hyper::StatusCode::OK {
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        let body = body.map_or_else(|e| e.to_string(), |b| String::from_utf8_lossy(&b).into());
        bail!("GET {} answered {status}: {body}", target.path);
    }
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("text/event-stream") {
        bail!("GET /v1/watch answered Content-Type {content_type:?}, not text/event-stream");
    }

    let mut body = response.into_body();
    let mut parser = SseParser::new();
    let mut frames = Vec::new();
    // Ids increase along a stream: a repeated or older id is a server bug worth failing on.
    let mut last_id = i64::MIN;
    while let Some(chunk) = body.frame().await {
        let chunk = chunk.context("reading the stream")?;
        let at = Instant::now();
        let Ok(data) = chunk.into_data() else {
            continue;
        };
        parser.push(&data, &mut frames);
        for frame in frames.drain(..) {
            handle(client, at, &frame, &mut last_id, tx)?;
        }
    }
    bail!("the server closed the stream")
}

/// Checks one frame and reports it.
fn handle(
    client: usize,
    at: Instant,
    frame: &Frame,
    last_id: &mut i64,
    tx: &mpsc::UnboundedSender<Report>,
) -> anyhow::Result<()> {
    let id = match frame.id.as_deref().map(str::parse::<i64>) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => bail!("frame with a non-numeric id: {frame:?}"),
        None => None,
    };
    match frame.event.as_deref() {
        Some("ready") => {
            let id = id.with_context(|| format!("ready frame without an id: {frame:?}"))?;
            if id < *last_id {
                bail!("ready at {id} after frame {last_id}");
            }
            *last_id = id;
            let _ = tx.send(Report::Ready { client });
        }
        Some("pointer_moved") => {
            let id = id.with_context(|| format!("change frame without an id: {frame:?}"))?;
            if id <= *last_id {
                bail!("frame id {id} after {last_id}: ids must increase");
            }
            *last_id = id;
            let record: Record = serde_json::from_str(&frame.data)
                .with_context(|| format!("pointer_moved data is not an event record: {frame:?}"))?;
            if record.seq != id || record.change.event != "pointer_moved" {
                bail!(
                    "frame id {id} carries record {} of kind {}",
                    record.seq,
                    record.change.event
                );
            }
            let _ = tx.send(Report::Moved(Receipt {
                client,
                at,
                id,
                name: record.change.name,
                record_seq: record.change.seq,
                to_version: record.change.to_version,
                kind: record.change.kind,
            }));
        }
        Some("resync") => bail!("resync frame: {}", frame.data),
        // Version creations and rollout changes are not what this benchmark times.
        Some("version_created" | "rollout_changed") => {
            if let Some(id) = id {
                if id <= *last_id {
                    bail!("frame id {id} after {last_id}: ids must increase");
                }
                *last_id = id;
            }
        }
        other => bail!("unexpected frame type {other:?}: {frame:?}"),
    }
    Ok(())
}
