//! HTTPS: `--tls-cert` and `--tls-key` name PEM files, loaded at start-up (a missing or
//! malformed file stops it, naming the file) and reloaded without a restart when either
//! changes, so a renewed certificate is served from the next handshake on.
//!
//! The certificate in use sits in a [`CertResolver`] that rustls asks on every handshake; a
//! supervised task polls the files' size, modification time (and inode, on Unix) every
//! [`POLL_INTERVAL`] and swaps in a new pair only once both files parse and the key belongs
//! to the certificate. A failed reload (a half-written file, the certificate replaced before
//! its key) logs a warning and keeps the previous pair; the next change of either file is
//! tried again. Polling, not file-system notifications: it needs no extra crate and works
//! the same on every file system, Kubernetes' symlink-swapped secret volumes included.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::supervisor::Supervisor;

/// How often the certificate and key files are checked for a change.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The PEM files HTTPS is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a certificate and key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Only one of `--tls-cert` and `--tls-key` was given.
    #[error(
        "{given} is set but {missing} is not: give both to serve HTTPS, or neither for plain HTTP"
    )]
    Incomplete {
        /// The flag that was given.
        given: &'static str,
        /// The flag that is missing.
        missing: &'static str,
    },
    /// A file could not be read.
    // The cause is part of the message, not a `source`: the reload warning logs the
    // message alone, and a chain would print it twice.
    #[error("reading {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("{}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The key is not the certificate's.
    #[error("the private key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration (not expected with the built-in provider).
    #[error("setting up TLS: {0}")]
    Config(rustls::Error),
}

/// Answers every handshake with the pair loaded last.
#[derive(Debug)]
pub struct CertResolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

/// Size, modification time and inode of a file, or `None` while it cannot be read.
type FileStamp = Option<(u64, Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> FileStamp {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok(), inode))
}

/// The server's TLS set-up: the acceptor for connections and the files it reloads from.
pub struct Tls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Arc<CertResolver>,
    acceptor: TlsAcceptor,
    /// The files' stamps at the last load attempt: a reload is tried only when they change.
    seen: Mutex<(FileStamp, FileStamp)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the pair, or fails naming the file at fault.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        // ring, explicitly: the process-wide default provider may be unset or another one.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Stamped before reading: a change while reading is seen by the next poll.
        let seen = (stamp(&files.cert), stamp(&files.key));
        let current = Arc::new(CertResolver(RwLock::new(Arc::new(load_pair(
            &files, &provider,
        )?))));
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // The server speaks HTTP/1.1 only; a client offering h2 falls back to it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            files,
            provider,
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            seen: Mutex::new(seen),
        })
    }

    /// The acceptor for incoming connections (it always presents the current pair).
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// The files it serves from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Loads the pair again; on failure the previous pair stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = load_pair(&self.files, &self.provider)?;
        *self.current.0.write() = Arc::new(loaded);
        Ok(())
    }

    /// Reloads if either file changed since the last attempt: `None` when neither did.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = (stamp(&self.files.cert), stamp(&self.files.key));
        {
            let mut seen = self.seen.lock();
            if *seen == now {
                return None;
            }
            // Remembered even if the attempt fails: one warning per change, not per poll.
            *seen = now;
        }
        Some(self.reload())
    }

    /// Polls the files every [`POLL_INTERVAL`] under `supervisor` until its shutdown,
    /// counting reloads in `promptreg_tls_reloads_total`.
    pub fn spawn_reloader(self: &Arc<Self>, supervisor: &Supervisor, metrics: Arc<Metrics>) {
        let tls = self.clone();
        supervisor.spawn("tls reloader", move |stop| {
            tls.clone().poll(metrics.clone(), stop)
        });
    }

    async fn poll(
        self: Arc<Self>,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            // File reads can block (a slow network file system): off the runtime's threads.
            let tls = self.clone();
            let outcome = tokio::task::spawn_blocking(move || tls.reload_if_changed()).await?;
            match outcome {
                None => {}
                Some(Ok(())) => {
                    metrics.tls_reloaded(true);
                    tracing::info!(cert = %self.files.cert.display(), "reloaded the TLS certificate");
                }
                Some(Err(e)) => {
                    metrics.tls_reloaded(false);
                    tracing::warn!(error = %e, "reloading the TLS certificate failed; still serving the previous one");
                }
            }
        }
    }
}

/// Reads and checks a certificate chain and its key.
fn load_pair(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let malformed = |path: &Path, message: String| TlsError::Malformed {
        path: path.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(&files.cert, pem_message(e)))?;
    if chain.is_empty() {
        return Err(malformed(
            &files.cert,
            "no certificate in it (expected a PEM \"BEGIN CERTIFICATE\" block)".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => malformed(
            &files.key,
            "no private key in it (expected a PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block)".into(),
        ),
        other => malformed(&files.key, pem_message(other)),
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| malformed(&files.key, format!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key type cannot tell its public key; the handshake will show.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            })
        }
        Err(e) => Err(malformed(&files.cert, format!("unusable certificate: {e}"))),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.to_owned(),
        error,
    })
}

/// What is wrong with a PEM file, with its markers as text (rustls prints them as bytes).
fn pem_message(e: pem::Error) -> String {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "not valid PEM: a block has no \"-----END {}-----\" line (is the file cut off?)",
            text(&end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => {
            format!("not valid PEM: malformed BEGIN line {:?}", text(&line))
        }
        other => format!("not valid PEM: {other}"),
    }
}
