//! The HTTP/1 accept loop behind [`crate::serve`]: a cap on open connections, a deadline for
//! each request head, an idle timeout, and a graceful shutdown that lets requests in flight
//! finish.
//!
//! axum's own `serve` has none of these knobs: with it, 20,000 clients sending their headers
//! slowly held 20,000 descriptors and 900 MB until new clients could not connect at all.
//! Here each connection holds one permit of a semaphore, so descriptors and memory stay
//! bounded. At the cap, the oldest connection that is waiting for a request head (a slow
//! client, or an idle keep-alive one) is closed to make room: a well-behaved client sends its
//! head at once and is served, while an attacker's connections, always waiting for a head,
//! are what gets evicted. Only when none of the oldest few connections is idle does a new
//! connection get a 503 with the error envelope.
//!
//! With TLS ([`serve_tls`]) the same limits hold: the handshake runs under the header-read
//! timeout (a client that never finishes one is closed like one that never sends its head),
//! a connection in its handshake can be evicted, and idleness counts the encrypted bytes.
//! Past the cap a TLS connection is closed without an answer: a plain-text 503 would be
//! noise to a TLS client, and a handshake only to refuse would spend the CPU the cap saves.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Handed to change-stream requests (`GET /v1/watch`, found by path so that no other
/// request pays for it): cancelled when the server starts shutting down, so that a stream,
/// which never ends on its own, sends its last frame and ends instead of holding the
/// graceful shutdown open.
#[derive(Clone, Debug)]
pub struct StreamStop(pub tokio_util::sync::CancellationToken);

/// The path of the only never-ending response.
const STREAM_PATH: &str = "/v1/watch";

/// Connection limits of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long a client has to send a complete request head, counted from the moment the
    /// server waits for one: after connecting, and between requests on a kept-alive
    /// connection (so it also bounds how long an idle keep-alive connection stays open).
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves in either direction for this long is closed: at
    /// once when it is between requests, after its response when one is being computed, and
    /// unconditionally after a second such period (a client that stopped reading, or a body
    /// that stopped arriving). Checked once per period, so the close comes between one and
    /// two periods after the last byte.
    pub idle_timeout: Duration,
    /// Most connections open at once. Past it the oldest connection waiting for a request
    /// head is closed to make room; when none is, the new connection gets 503 and is closed.
    pub max_connections: u32,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets every
/// request in flight finish and returns once all connections are closed.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    accept_loop(listener, app, options, None, shutdown).await
}

/// [`serve_with`] over TLS: every connection is accepted by `tls` (see [`crate::tls`] for
/// the certificate it presents) within the header-read timeout.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    tls: TlsAcceptor,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    accept_loop(listener, app, options, Some(tls), shutdown).await
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    tls: Option<TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let max = options.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max as usize));
    let open = Arc::new(Open::new(max as usize));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: keep serving
                    // the connections already open, and do not spin on the error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        let served = Served {
            app: app.clone(),
            options,
            tls: tls.clone(),
            stopping: stopping.clone(),
            open: open.clone(),
        };
        let plain = tls.is_none();
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(connection(stream, served, permit));
            }
            Err(_) if open.evict_one() => {
                // The evicted connection gives its permit back within EVICTION_GRACE; the
                // semaphore is fair, so this waiter gets it before any later connection.
                let permits = permits.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(EVICTION_WAIT, permits.acquire_owned()).await {
                        Ok(Ok(permit)) => connection(stream, served, permit).await,
                        _ => refuse(&stream, plain),
                    }
                });
            }
            Err(_) => refuse(&stream, plain),
        }
    }
    // New clients now get "connection refused" at once instead of waiting in the backlog.
    drop(listener);
    // Sending fails only when no connection is left to tell.
    let _ = stop.send(true);
    // Each open connection holds a permit until it closes: all permits back means all closed.
    let _all = permits.acquire_many(max).await;
    Ok(())
}

/// The answer to a connection past the cap, written without reading the request.
static REFUSAL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = serde_json::json!({"error": {
        "code": "too_many_connections",
        "message": "the server has too many open connections; retry later",
    }})
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Refuses a connection past the cap: one non-blocking write (a fresh socket's send buffer
/// holds it) and close, so refusing costs no task, no timer and no memory. A TLS connection
/// (`plain` false) is closed without the write.
fn refuse(stream: &TcpStream, plain: bool) {
    tracing::warn!("connection refused: too many open connections");
    if plain {
        // A client that already reset the connection needs no answer.
        let _ = stream.try_write(&REFUSAL);
    }
}

/// How long an evicted connection may take to finish writing before it is dropped.
const EVICTION_GRACE: Duration = Duration::from_millis(50);
/// How long a connection that evicted another waits for the freed permit.
const EVICTION_WAIT: Duration = Duration::from_millis(500);
/// How many busy connections eviction skips before giving up (keeps it O(1)).
const EVICTION_SCAN: usize = 16;

/// What one connection is served with.
struct Served {
    app: Router,
    options: ServeOptions,
    tls: Option<TlsAcceptor>,
    stopping: watch::Receiver<bool>,
    open: Arc<Open>,
}

/// What the accept loop knows of an open connection, to evict it at the cap.
#[derive(Default)]
struct Ctl {
    /// Requests being answered on it; none means it is waiting for a request head.
    busy: AtomicUsize,
    /// Asks the connection to close.
    evict: Notify,
}

/// Counts a request as in flight on its connection while alive.
struct Busy(Arc<Ctl>);

impl Busy {
    fn new(ctl: &Arc<Ctl>) -> Self {
        ctl.busy.fetch_add(1, Ordering::Relaxed);
        Busy(ctl.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Open connections, oldest first; entries of closed ones are dropped lazily.
struct Open {
    queue: parking_lot::Mutex<VecDeque<Weak<Ctl>>>,
    max: usize,
}

impl Open {
    fn new(max: usize) -> Self {
        Self {
            queue: parking_lot::Mutex::new(VecDeque::new()),
            max,
        }
    }

    fn push(&self, ctl: &Arc<Ctl>) {
        let mut queue = self.queue.lock();
        // Without evictions nothing pops: sweep closed entries so the queue stays bounded.
        if queue.len() >= 2 * self.max {
            queue.retain(|w| w.strong_count() > 0);
        }
        queue.push_back(Arc::downgrade(ctl));
    }

    /// Asks the oldest connection that waits for a request head to close; `false` when the
    /// oldest [`EVICTION_SCAN`] open connections are all answering requests.
    fn evict_one(&self) -> bool {
        let mut queue = self.queue.lock();
        let mut skipped = 0;
        while skipped < EVICTION_SCAN {
            let Some(weak) = queue.pop_front() else {
                return false;
            };
            let Some(ctl) = weak.upgrade() else {
                continue;
            };
            if ctl.busy.load(Ordering::Relaxed) == 0 {
                ctl.evict.notify_one();
                return true;
            }
            queue.push_back(weak);
            skipped += 1;
        }
        false
    }
}

/// Serves one connection until it closes, times out, is evicted or the server shuts down.
async fn connection(stream: TcpStream, mut served: Served, _permit: OwnedSemaphorePermit) {
    let ctl = Arc::new(Ctl::default());
    served.open.push(&ctl);
    // Small answers (resolve) must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    // The TCP peer, handed to every request as `ConnectInfo` (what the authentication
    // throttle counts failures by).
    let peer = stream.peer_addr().ok();
    let active = Arc::new(AtomicBool::new(true));
    // Under TLS, `Tracked` sits below the encryption: idleness counts the bytes on the wire.
    let tracked = Tracked {
        inner: stream,
        active: active.clone(),
    };
    let Some(tls) = served.tls.take() else {
        return http(tracked, served, ctl, active, peer).await;
    };
    let handshake = tokio::time::timeout(served.options.header_read_timeout, tls.accept(tracked));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                // A client that does not trust the certificate, or speaks plain HTTP.
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
        // Nothing was asked yet, so nothing is cut off.
        () = ctl.evict.notified() => return,
        _ = served.stopping.changed() => return,
    };
    http(stream, served, ctl, active, peer).await
}

/// Serves HTTP/1 on an accepted (and, with TLS, handshaken) connection.
async fn http<I>(
    io: I,
    served: Served,
    ctl: Arc<Ctl>,
    active: Arc<AtomicBool>,
    peer: Option<std::net::SocketAddr>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Served {
        app,
        options,
        mut stopping,
        ..
    } = served;
    let io = TokioIo::new(io);
    let service_ctl = ctl.clone();
    let streams = tokio_util::sync::CancellationToken::new();
    let stop_streams = streams.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let app = app.clone();
        let busy = Busy::new(&service_ctl);
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let stream = req.uri().path() == STREAM_PATH;
        if stream {
            req.extensions_mut().insert(StreamStop(streams.clone()));
        }
        async move {
            let res: Result<_, Infallible> = app.oneshot(req.map(axum::body::Body::new)).await;
            if stream {
                // A stream is in flight until its body ends, not when its head is sent: it is
                // never evicted as a connection waiting for a request.
                return res.map(|r| {
                    r.map(|body| {
                        axum::body::Body::from_stream(futures::StreamExt::map(
                            body.into_data_stream(),
                            move |chunk| {
                                let _held = &busy;
                                chunk
                            },
                        ))
                    })
                });
            }
            drop(busy);
            res
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let period = options.idle_timeout.max(Duration::from_millis(10));
    let mut idle_check = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut closing = false;
    let evicted = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
    tokio::pin!(evicted);
    let mut evicting = false;
    let mut stopped = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    // Timeouts, resets and malformed requests: the client's business.
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = idle_check.tick() => {
                if active.swap(false, Ordering::Relaxed) {
                    continue;
                }
                if closing {
                    break;
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = stopping.changed(), if !stopped => {
                stopped = true;
                stop_streams.cancel();
                if !closing {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = ctl.evict.notified(), if !evicting => {
                // Closes at once when idle; a response still being written gets a moment.
                evicting = true;
                closing = true;
                conn.as_mut().graceful_shutdown();
                evicted.as_mut().reset(tokio::time::Instant::now() + EVICTION_GRACE);
            }
            () = &mut evicted, if evicting => break,
        }
    }
}

/// A stream that notes when bytes move, for the idle timeout (one relaxed store per read or
/// write, nothing on the hot path beyond that).
struct Tracked {
    inner: TcpStream,
    active: Arc<AtomicBool>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.active.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.active.store(true, Ordering::Relaxed);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.active.store(true, Ordering::Relaxed);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Raises this process's soft limit on open files to its hard limit, so the connection cap,
/// not the descriptor limit, is what refuses clients. Returns the soft limit in effect
/// (`None`: unlimited or unknown).
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return limit.maximum,
            // macOS refuses "unlimited" for files; the old limit stays.
            Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
        }
    }
    limit.current
}

/// Raises this process's soft limit on open files (nothing to do here).
#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}
