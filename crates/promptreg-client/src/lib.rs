//! Typed async client for the promptreg HTTP API (`docs/api.md`): the first layer of the
//! agent SDK, used by the `promptreg` CLI and by agents on their hot path.
//!
//! - [`Client`]: one method per route, bodies and answers typed with `promptreg-api`;
//!   [`ClientBuilder`] for options such as a private CA to trust (HTTPS).
//! - [`error`]: [`ClientError`], one enum for API errors (the server's envelope), transport
//!   failures, undecodable bodies and tampered content.
//! - [`paging`]: [`PageRequest`] for list calls and [`all_pages`] to walk every page.
//! - `resolve` (the [`Client::resolve`] family): conditional `GET /v1/resolve` with an in-memory
//!   ETag cache, and [`render_local`], which renders offline after checking the digest.
//!
//! - `watch` ([`Client::watch`], [`Client::env_snapshot`]): the change stream and signed
//!   environment snapshots that an agent's cache starts from and stays current with.
//! - [`ledger`]: signing keys, the ledger's checkpoint, entries and proofs.
//! - `recovery`: the export signature and the import of a bundle.
//! - [`verify`]: `promptreg verify`'s checks, pure over a [`verify::Snapshot`] of the
//!   registry, plus the server's proofs when online.
//!
//! Route groups live in `versions`, `deploy`, `resolve`, `rollouts`, `tokens`, `ledger` and
//! `lifecycle`; each adds an `impl Client` block, so this file only holds construction and
//! the request plumbing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), promptreg_client::ClientError> {
//! use promptreg_client::{render_local, Client};
//! use promptreg_core::PromptName;
//!
//! let client = Client::new("http://127.0.0.1:8700", "my-token")?;
//! let name = PromptName::parse("support/triage").expect("valid name");
//! let live = client.resolve(&name, None, None).await?; // production, cached by ETag
//! let text = render_local(&live, &serde_json::json!({"customer": "Ada"}))?;
//! # let _ = text; Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod agent;
pub mod error;
pub mod ledger;
pub mod paging;
pub mod verify;

mod audit;
mod builder;
mod changes;
mod deploy;
mod gates;
mod kek;
mod lifecycle;
mod outcomes;
mod recovery;
mod resolve;
mod rollouts;
mod tokens;
mod versions;
mod watch;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use promptreg_api::{ErrorBody, Resolved};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

pub use agent::{Agent, AgentBuilder, AgentError, AgentStatus, Prompt};
pub use builder::ClientBuilder;
pub use changes::ChangeRequestFilter;
pub use error::ClientError;
pub use paging::{all_pages, PageRequest};
pub use resolve::{render_local, verified_content, ResolveOptions, Track};
pub use versions::{PromptFilter, VersionFilter};
pub use watch::{WatchEvent, WatchOptions, WatchStream};

/// Every byte except the RFC 3986 unreserved characters `A-Za-z0-9-._~` is percent-encoded in
/// path segments, so `support/triage` travels as `support%2Ftriage`.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (a prompt name, an environment, a token id).
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

/// Default time allowed to establish a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for a whole request, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The last answer to `GET /v1/resolve/{name}?env=&track=` per (name, env, track), with its
/// ETag.
type ResolveCache = HashMap<(String, String, &'static str), (String, Resolved)>;

/// A promptreg API client. Cheap to share: wrap it in an `Arc` or clone the inner
/// `reqwest::Client` through [`Client::with_http_client`].
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    resolved: Mutex<ResolveCache>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the token.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("authenticated", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8700`) that sends
    /// `Authorization: Bearer <token>` on every call.
    pub fn new(base_url: &str, token: impl Into<String>) -> Result<Self, ClientError> {
        Self::with_http_client(base_url, Some(token.into()), default_http()?)
    }

    /// A client that sends no token (the server answers 401 on `/v1` routes; useful to probe).
    pub fn unauthenticated(base_url: &str) -> Result<Self, ClientError> {
        Self::with_http_client(base_url, None, default_http()?)
    }

    /// A client on a caller-configured `reqwest::Client` (timeouts, proxies, TLS roots).
    pub fn with_http_client(
        base_url: &str,
        token: Option<String>,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        let url = reqwest::Url::parse(base_url)
            .map_err(|e| ClientError::InvalidUrl(format!("{base_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(ClientError::InvalidUrl(format!(
                "{base_url:?}: expected an http:// or https:// URL"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ClientError::InvalidUrl(format!(
                "{base_url:?}: a base URL has no query or fragment"
            )));
        }
        Ok(Self {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
            resolved: Mutex::new(HashMap::new()),
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A request to `{base}{path}`; `path` starts with `/` and has its segments encoded.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => rb.bearer_auth(token),
            None => rb,
        }
    }

    /// Sends a request and turns a non-2xx answer into [`ClientError::Api`].
    async fn send(&self, rb: RequestBuilder) -> Result<Response, ClientError> {
        let response = rb.send().await.map_err(ClientError::Transport)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(api_error(response).await)
        }
    }

    /// Sends a request and decodes the JSON answer.
    async fn call<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, ClientError> {
        decode(self.send(rb).await?).await
    }
}

/// The HTTP client's settings before any option of [`ClientBuilder`].
fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("promptreg-client/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
}

fn default_http() -> Result<reqwest::Client, ClientError> {
    http_builder().build().map_err(ClientError::Transport)
}

/// Decodes a success body as JSON.
async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(ClientError::Transport)?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
        status: status.as_u16(),
        message: e.to_string(),
    })
}

/// Builds the error for a non-2xx answer from its envelope; a body that is not the envelope
/// (a proxy page, an empty 400 from the HTTP layer) still yields the status.
async fn api_error(response: Response) -> ClientError {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(envelope) => ClientError::Api {
            status: status.as_u16(),
            code: envelope.error.code,
            message: envelope.error.message,
        },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            code: fallback_code(status).to_owned(),
            message: fallback_message(status, &body),
        },
    }
}

fn fallback_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        413 => "payload_too_large",
        414 => "uri_too_long",
        431 => "headers_too_large",
        500..=599 => "server_error",
        _ => "http_error",
    }
}

fn fallback_message(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("unexpected answer")
            .to_owned()
    } else {
        // Keep a proxy's HTML page from flooding a terminal.
        text.chars().take(200).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_encode_everything_but_unreserved() {
        assert_eq!(encode_segment("support/triage"), "support%2Ftriage");
        assert_eq!(encode_segment("a.b_c-d~e9"), "a.b_c-d~e9");
        assert_eq!(encode_segment("a b?#%"), "a%20b%3F%23%25");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    #[test]
    fn base_urls_are_checked_and_normalised() {
        let c = Client::new("http://127.0.0.1:8700/", "t").unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:8700");
        let c = Client::new("https://example.com/registry/", "t").unwrap();
        assert_eq!(c.base_url(), "https://example.com/registry");
        assert!(Client::new("127.0.0.1:8700", "t").is_err());
        assert!(Client::new("ftp://x", "t").is_err());
        assert!(Client::new("http://x/?a=b", "t").is_err());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = Client::new("http://x", "secret-token").unwrap();
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
