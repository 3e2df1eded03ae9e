//! [`ClientBuilder`]: a client with more than a URL and a token, such as a private CA to
//! trust for a server started with `--tls-cert` (`promptreg --ca-cert`).

use std::path::PathBuf;

use crate::{http_builder, Client, ClientError};

/// Where a CA certificate comes from.
#[derive(Debug)]
enum CaSource {
    File(PathBuf),
    Pem(Vec<u8>),
}

/// Builds a [`Client`]: `Client::builder(url).token(t).ca_cert_file(path).build()`.
#[derive(Debug)]
pub struct ClientBuilder {
    base: String,
    token: Option<String>,
    ca_certs: Vec<CaSource>,
}

impl Client {
    /// A builder for a client of the server at `base_url`.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            token: None,
            ca_certs: Vec::new(),
        }
    }
}

impl ClientBuilder {
    /// Sends `Authorization: Bearer <token>` on every call (none by default; an empty token
    /// counts as none).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Also trusts the CA certificates in this PEM file (one or several), for a server whose
    /// certificate a private CA signed. The file is read by [`ClientBuilder::build`].
    pub fn ca_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certs.push(CaSource::File(path.into()));
        self
    }

    /// Also trusts the CA certificates in these PEM bytes.
    pub fn ca_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certs.push(CaSource::Pem(pem.into()));
        self
    }

    /// The client; fails on an invalid URL, or a CA file that cannot be read or holds no
    /// PEM certificate ([`ClientError::CaCert`], naming the file).
    pub fn build(self) -> Result<Client, ClientError> {
        let mut http = http_builder();
        for source in &self.ca_certs {
            for cert in ca_certs(source)? {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(|e| match self.ca_certs.is_empty() {
            true => ClientError::Transport(e),
            // The one thing added that can fail: a PEM block that is not an X.509 certificate.
            false => ClientError::CaCert {
                origin: self
                    .ca_certs
                    .iter()
                    .map(CaSource::name)
                    .collect::<Vec<_>>()
                    .join(", "),
                message: error_chain(&e),
            },
        })?;
        Client::with_http_client(&self.base, self.token, http)
    }
}

impl CaSource {
    /// The file, or `(PEM bytes)`.
    fn name(&self) -> String {
        match self {
            CaSource::File(path) => path.display().to_string(),
            CaSource::Pem(_) => "(PEM bytes)".to_owned(),
        }
    }
}

/// An error and its causes, `outer: inner: …`.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// The certificates of one source, at least one.
fn ca_certs(source: &CaSource) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let origin = source.name();
    let pem = match source {
        CaSource::File(path) => std::fs::read(path).map_err(|e| ClientError::CaCert {
            origin: origin.clone(),
            message: e.to_string(),
        })?,
        CaSource::Pem(pem) => pem.clone(),
    };
    let invalid = |message: String| ClientError::CaCert {
        origin: origin.clone(),
        message,
    };
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(
            "no certificate in it (expected a PEM \"BEGIN CERTIFICATE\" block)".into(),
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_ca_file_is_an_error_naming_it() {
        let missing = std::env::temp_dir().join("promptreg-no-such-ca.pem");
        let err = Client::builder("https://127.0.0.1:1")
            .ca_cert_file(&missing)
            .build()
            .unwrap_err();
        assert!(matches!(err, ClientError::CaCert { .. }), "{err:?}");
        assert!(
            err.to_string().contains("promptreg-no-such-ca.pem"),
            "{err}"
        );

        let err = Client::builder("https://127.0.0.1:1")
            .ca_cert_pem("not a certificate")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    #[test]
    fn the_builder_takes_the_token_and_checks_the_url() {
        let c = Client::builder("https://example.com/")
            .token("t")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "https://example.com");
        assert!(format!("{c:?}").contains("authenticated: true"));
        assert!(Client::builder("example.com").build().is_err());
    }
}
