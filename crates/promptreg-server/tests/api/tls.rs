//! HTTPS (`--tls-cert`, `--tls-key`) over real sockets, with certificates made here by a
//! private CA: the SDK trusts the server only through its CA option; a replaced pair is
//! served from the next handshake without a restart, a broken one never is; a client that
//! never finishes its handshake holds its connection slot no longer than the header timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promptreg_client::{Client, ClientError};
use promptreg_core::{EnvName, PromptName};
use promptreg_server::testing::{spawn_sqlite_tls, TEST_ADMIN_TOKEN};
use promptreg_server::tls::{Tls, TlsFiles};
use promptreg_server::ServeOptions;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Backend, TestApp, ADMIN};

/// A private certificate authority.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost and its key, both PEM.
    pub fn server_pair(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Replaces a file at once (write aside, rename), as a careful deployment tool does, so the
/// server never reads it half-written unless a test means it to.
pub fn replace(path: &Path, text: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

/// `cert.pem` and `key.pem` in a fresh directory, holding a pair of `ca`.
fn pair_files(ca: &Ca) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.server_pair();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    replace(&cert_path, &cert);
    replace(&key_path, &key);
    (dir, cert_path, key_path)
}

/// An HTTP client that trusts `ca` only (no public roots) and makes a full handshake for
/// every request: a new connection each time, and no session resumption (a resumed session
/// skips the certificate, so it would not show which one the server presents now).
fn trusting(ca: &Ca) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.resumption = rustls::client::Resumption::disabled();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Whether a new handshake with `client` succeeds and `/healthz` answers 200.
async fn healthy(client: &reqwest::Client, base: &str) -> bool {
    match client.get(format!("{base}/healthz")).send().await {
        Ok(r) => r.status() == 200,
        Err(_) => false,
    }
}

/// `promptreg_tls_reloads_total{outcome}` as `client` reads it.
async fn reloads(client: &reqwest::Client, base: &str, outcome: &str) -> u64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("promptreg_tls_reloads_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.parse().unwrap())
}

/// Waits up to 15 s (several reload polls) for `done`.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The innermost cause of an error, where TLS says what it refused.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[tokio::test]
async fn the_sdk_reaches_an_https_server_through_its_private_ca() {
    let ca = Ca::new("promptreg test CA");
    let (_dir, cert, key) = pair_files(&ca);
    let server = spawn_sqlite_tls(&cert, &key).await.unwrap();
    assert!(server.url().starts_with("https://127.0.0.1:"));
    assert!(healthy(&trusting(&ca), server.url()).await);

    let client = Client::builder(server.url())
        .token(TEST_ADMIN_TOKEN)
        .ca_cert_pem(ca.pem())
        .build()
        .unwrap();
    let name = PromptName::parse("greet").unwrap();
    let body =
        serde_json::from_value(serde_json::json!({"type": "text", "template": "Hi {{ who }}"}));
    client.create_version(&name, &body.unwrap()).await.unwrap();
    let production = EnvName::parse("production").unwrap();
    let deploy = serde_json::from_value(serde_json::json!({"version": 1})).unwrap();
    client.deploy(&production, &name, &deploy).await.unwrap();
    let live = client.resolve(&name, None, None).await.unwrap();
    assert_eq!(live.template.as_deref(), Some("Hi {{ who }}"));

    // Without the CA the certificate is not trusted: the request never reaches the server.
    let stranger = Client::new(server.url(), TEST_ADMIN_TOKEN).unwrap();
    let err = stranger.resolve(&name, None, None).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    let cause = root_cause(&err);
    assert!(
        cause.contains("UnknownIssuer") || cause.contains("certificate"),
        "{cause}"
    );
    // Nor does plain HTTP get an answer on the HTTPS port.
    let plain = server.url().replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn a_replaced_certificate_is_served_without_a_restart() {
    let old_ca = Ca::new("old CA");
    let (_dir, cert, key) = pair_files(&old_ca);
    let server = spawn_sqlite_tls(&cert, &key).await.unwrap();
    let (old, new_ca) = (trusting(&old_ca), Ca::new("new CA"));
    let new = trusting(&new_ca);
    assert!(healthy(&old, server.url()).await);
    assert!(!healthy(&new, server.url()).await);

    let (new_cert, new_key) = new_ca.server_pair();
    replace(&key, &new_key);
    replace(&cert, &new_cert);
    eventually("the new certificate", || healthy(&new, server.url())).await;
    // New handshakes no longer present the old one.
    assert!(!healthy(&old, server.url()).await);
    assert!(reloads(&new, server.url(), "loaded").await >= 1);
    server.stop().await;
}

#[tokio::test]
async fn a_broken_replacement_keeps_the_old_certificate() {
    let old_ca = Ca::new("old CA");
    let (_dir, cert, key) = pair_files(&old_ca);
    let server = spawn_sqlite_tls(&cert, &key).await.unwrap();
    let old = trusting(&old_ca);
    let new_ca = Ca::new("new CA");
    let new = trusting(&new_ca);
    let (new_cert, new_key) = new_ca.server_pair();
    let url = server.url().to_owned();

    // A certificate file cut off half-way: refused, the old pair stays.
    replace(&cert, &new_cert[..new_cert.len() / 2]);
    eventually("a failed reload", || async {
        reloads(&old, &url, "failed").await >= 1
    })
    .await;
    assert!(healthy(&old, &url).await);

    // The whole new certificate, but the old key still beside it: refused too.
    replace(&cert, &new_cert);
    eventually("a second failed reload", || async {
        reloads(&old, &url, "failed").await >= 2
    })
    .await;
    assert!(healthy(&old, &url).await);
    assert!(!healthy(&new, &url).await);
    assert_eq!(reloads(&old, &url, "loaded").await, 0);

    // Its key arrives: the next poll serves the new pair.
    replace(&key, &new_key);
    eventually("the new certificate", || healthy(&new, &url)).await;
    assert!(!healthy(&old, &url).await);
    server.stop().await;
}

/// A server over TLS with `options`, serving the router of a fresh app.
async fn start(
    options: ServeOptions,
    cert: &Path,
    key: &Path,
) -> (String, tokio::sync::oneshot::Sender<()>, TestApp) {
    let app = TestApp::new(Backend::Sqlite).await.unwrap();
    let tls = Tls::load(TlsFiles {
        cert: cert.to_owned(),
        key: key.to_owned(),
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(promptreg_server::serve_tls(
        listener,
        app.router.clone(),
        options,
        tls.acceptor(),
        async move {
            let _ = stopped.await;
        },
    ));
    (format!("https://{addr}"), stop, app)
}

/// Reads until the server closes the connection (within `limit`).
async fn until_closed(stream: &mut TcpStream, limit: Duration) {
    let mut sink = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(stream, &mut sink);
    let closed = tokio::time::timeout(limit, read).await;
    assert!(closed.is_ok(), "the server must close a stalled handshake");
}

#[tokio::test]
async fn a_handshake_that_never_finishes_is_cut_off_at_the_header_timeout() {
    let ca = Ca::new("test CA");
    let (_dir, cert, key) = pair_files(&ca);
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(2),
        ..ServeOptions::default()
    };
    let (url, stop, _app) = start(options, &cert, &key).await;
    let addr = url.trim_start_matches("https://").to_owned();
    // Silent after connecting, and the first bytes of a ClientHello never completed.
    let opened = Instant::now();
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut partial = TcpStream::connect(&addr).await.unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    assert!(healthy(&trusting(&ca), &url).await);
    for (what, stream) in [("silent", &mut silent), ("partial", &mut partial)] {
        until_closed(stream, Duration::from_secs(10)).await;
        let open_for = opened.elapsed();
        assert!(
            open_for > Duration::from_millis(1900),
            "{what}: closed after {open_for:?}"
        );
    }
    let _ = stop.send(());
}

#[tokio::test]
async fn at_the_cap_a_stalled_handshake_makes_room_for_a_new_client() {
    let ca = Ca::new("test CA");
    let (_dir, cert, key) = pair_files(&ca);
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_connections: 3,
    };
    let (url, stop, _app) = start(options, &cert, &key).await;
    let addr = url.trim_start_matches("https://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(TcpStream::connect(&addr).await.unwrap());
    }
    let started = Instant::now();
    let client = trusting(&ca);
    let r = client
        .get(format!("{url}/v1/prompts"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The oldest stalled handshake was closed to make room, long before its timeout.
    until_closed(&mut stalled[0], Duration::from_secs(5)).await;
    let _ = stop.send(());
}
