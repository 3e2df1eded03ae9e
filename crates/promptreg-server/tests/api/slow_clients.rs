//! Slow clients (issue 11, defect 4), over real sockets on loopback: connections that send
//! their headers slowly are closed after the header timeout while well-behaved clients are
//! served; at the connection cap a slow connection is evicted for a new client, and when every
//! connection is busy a new one gets a 503 envelope; a shutdown lets the request in flight
//! finish.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use promptreg_server::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::helpers::{Backend, TestApp, ADMIN};

/// A server on port 0 with the given limits, serving a deployed text prompt `greet`.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
    _app: TestApp,
}

async fn start(options: ServeOptions) -> Running {
    let app = TestApp::new(Backend::Sqlite).await.unwrap();
    app.env("production").await;
    app.push("greet", "Hello {{ name }}").await;
    app.deploy("production", "greet", 1).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let router = app.router.clone();
    let done = tokio::spawn(promptreg_server::serve_with(
        listener,
        router,
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    Running {
        addr,
        stop,
        done,
        _app: app,
    }
}

/// Reads until the server closes the connection (EOF or reset), returning what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    out
}

const SLOW_CONNECTIONS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_while_others_are_served() {
    promptreg_server::connections::raise_fd_limit();
    let header_timeout = Duration::from_secs(4);
    let server = start(ServeOptions {
        header_read_timeout: header_timeout,
        idle_timeout: Duration::from_secs(60),
        max_connections: 5_000,
    })
    .await;

    // An attacker's connections: a request line and part of a header block, never finished.
    let mut slow = Vec::with_capacity(SLOW_CONNECTIONS);
    for _ in 0..SLOW_CONNECTIONS {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /v1/resolve/greet HTTP/1.1\r\nhost: x\r\nx-slow: 1")
            .await
            .unwrap();
        slow.push((s, Instant::now()));
    }
    let first_opened = slow[0].1;

    // Meanwhile a well-behaved client gets its answers promptly, each on a new connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("http://{}/v1/resolve/greet?env=production", server.addr);
    for _ in 0..20 {
        let started = Instant::now();
        let r = client.get(&url).bearer_auth(ADMIN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a resolve took {:?} under attack",
            started.elapsed()
        );
    }
    assert!(
        first_opened.elapsed() < header_timeout,
        "the well-behaved client must be served while every slow connection is still open"
    );

    // Every slow connection is closed by the server, not before the header timeout and not
    // long after it.
    let closings = slow.into_iter().map(|(mut s, opened)| async move {
        let limit = header_timeout + Duration::from_secs(15);
        let answer = tokio::time::timeout(limit, read_until_closed(&mut s))
            .await
            .expect("a slow connection stayed open past the header timeout");
        (opened.elapsed(), answer)
    });
    for (open_for, answer) in futures::future::join_all(closings).await {
        assert!(
            open_for >= header_timeout - Duration::from_millis(100),
            "closed after {open_for:?}, before the header timeout"
        );
        assert!(
            !answer.starts_with(b"HTTP/1.1 200"),
            "an unfinished request was answered"
        );
    }
    let _ = server.stop.send(());
    server.done.await.unwrap().unwrap();
}

/// Opens a connection whose request is in flight: the handler is waiting for its body.
async fn busy_connection(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/resolve/greet/render?env=production HTTP/1.1\r\nhost: x\r\n\
         authorization: Bearer {ADMIN}\r\ncontent-length: 10\r\nexpect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The server asks for the body only once the handler reads it.
    let mut continue_line = [0u8; 25];
    s.read_exact(&mut continue_line).await.unwrap();
    assert_eq!(&continue_line, b"HTTP/1.1 100 Continue\r\n\r\n");
    s
}

#[tokio::test]
async fn at_the_cap_a_slow_connection_makes_room_for_a_new_client() {
    let server = start(ServeOptions {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        max_connections: 20,
    })
    .await;
    // Every slot held by a connection that never finishes its head.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nx-slow: 1").await.unwrap();
        slow.push(s);
    }
    // A client that sends its request at once is served, within the header timeout of the
    // slow ones.
    let started = Instant::now();
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/resolve/greet?env=production", server.addr);
    let r = client.get(&url).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The oldest slow connection was the one closed to make room.
    let closed =
        tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut slow[0])).await;
    assert!(closed.is_ok(), "the oldest slow connection must be evicted");
    let _ = server.stop.send(());
    drop(slow);
    server.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn past_the_cap_of_busy_connections_a_client_gets_a_503_envelope() {
    let server = start(ServeOptions {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        max_connections: 20,
    })
    .await;
    // Every slot answering a request: nothing to evict.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(busy_connection(server.addr).await);
    }
    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut refused))
        .await
        .expect("a connection past the cap must be answered and closed at once");
    let text = String::from_utf8(answer).unwrap();
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let envelope: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(envelope["error"]["code"], "too_many_connections");
    drop(held);
    let _ = server.stop.send(());
    server.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let server = start(ServeOptions::default()).await;
    let body = br#"{"variables": {"name": "Ada"}}"#;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/resolve/greet/render?env=production HTTP/1.1\r\nhost: x\r\n\
         authorization: Bearer {ADMIN}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The server asks for the body only once the handler reads it: the request is in flight.
    let mut continue_line = [0u8; 25];
    s.read_exact(&mut continue_line).await.unwrap();
    assert_eq!(&continue_line, b"HTTP/1.1 100 Continue\r\n\r\n");

    let _ = server.stop.send(());
    // Stopped servers accept nothing new: the listener is closed while the request is served.
    s.write_all(body).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut s))
        .await
        .expect("the in-flight request must be answered and the connection closed");
    let text = String::from_utf8(answer).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("Hello Ada"), "{text}");
    tokio::time::timeout(Duration::from_secs(10), server.done)
        .await
        .expect("serve returns once the last connection closed")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "a stopped server accepts no connection"
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let server = start(ServeOptions {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_millis(300),
        max_connections: 100,
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // Half a request head, then silence: the idle timeout (shorter than the header timeout
    // here) closes it.
    s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let opened = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut s))
        .await
        .expect("an idle connection must be closed");
    assert!(opened.elapsed() >= Duration::from_millis(250));
    let _ = server.stop.send(());
    server.done.await.unwrap().unwrap();
}
