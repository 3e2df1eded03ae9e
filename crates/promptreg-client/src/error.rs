//! [`ClientError`]: everything a call can fail with.

use promptreg_core::content::ContentError;
use promptreg_core::render::RenderError;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-2xx status; `code` and `message` come from its error
    /// envelope `{"error": {"code", "message"}}`.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// snake_case code, e.g. `not_found`, `forbidden`, `nothing_to_roll_back`.
        code: String,
        /// The server's human message.
        message: String,
    },
    /// The request could not be sent or the answer could not be read (connection refused,
    /// timeout, TLS, interrupted body). The cause is the error's `source()`.
    #[error("HTTP request failed")]
    Transport(#[source] reqwest::Error),
    /// A 2xx answer whose body is not what the route promises.
    #[error("undecodable response body (HTTP {status}): {message}")]
    Decode {
        /// HTTP status of the answer.
        status: u16,
        /// What did not decode.
        message: String,
    },
    /// A CA certificate to trust ([`crate::ClientBuilder::ca_cert_file`]) could not be read
    /// or holds no PEM certificate.
    #[error("CA certificate {origin}: {message}")]
    CaCert {
        /// The file, or `(PEM bytes)`.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The base URL is not an absolute http(s) URL.
    #[error("invalid base URL {0}")]
    InvalidUrl(String),
    /// Resolved content whose digest is not the one the answer claims: it was altered after
    /// the server hashed it, so it is refused.
    #[error("digest mismatch for {name}: the answer claims {claimed} but the content hashes to {actual}; refusing tampered content")]
    DigestMismatch {
        /// Prompt name.
        name: String,
        /// The `digest` field of the answer.
        claimed: String,
        /// The digest computed locally.
        actual: String,
    },
    /// Content that does not validate locally (a template that does not parse, a bad schema).
    #[error("invalid prompt content: {0}")]
    InvalidContent(#[from] ContentError),
    /// Local rendering failed (variables against the schema, or the template itself).
    #[error("render failed: {0}")]
    Render(#[from] RenderError),
    /// Writing what the server sent (an export) to the caller's writer failed.
    #[error("writing the output failed")]
    Io(#[source] std::io::Error),
}

impl ClientError {
    /// Whether the server could not be reached at all (connection refused, unknown host,
    /// unreachable network): the request was never delivered.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Transport(e) if e.is_connect())
    }

    /// Whether the server's TLS certificate was refused (signed by a CA the client does not
    /// trust, expired, or for another name): see [`crate::ClientBuilder::ca_cert_file`].
    pub fn is_untrusted_certificate(&self) -> bool {
        let ClientError::Transport(e) = self else {
            return false;
        };
        // rustls' error is deep in reqwest's chain, behind types this crate does not name;
        // its text is stable ("invalid peer certificate: UnknownIssuer").
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if c.to_string().contains("invalid peer certificate") {
                return true;
            }
            cause = c.source();
        }
        false
    }

    /// Whether the request or the answer took longer than the client's timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Transport(e) if e.is_timeout())
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The envelope's code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the server answered 404 (unknown prompt, version or environment, or nothing
    /// deployed).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}
