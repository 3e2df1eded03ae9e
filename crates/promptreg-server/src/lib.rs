//! The promptreg server as a library; the `promptreg serve` command is a thin shell around it.
//!
//! - [`config`]: the one typed configuration (flags and `PROMPTREG_*` variables).
//! - [`registry`]: the service layer. Every workflow (publish, deploy, rollback, tokens) is one
//!   method here, written once over the store's unit of work, asking the policy first; its
//!   committed [`promptreg_core::EventRecord`] keeps the in-memory state current (local writes
//!   and, with PostgreSQL, other replicas' through the change feed).
//! - [`outcomes`]: the outcome aggregator: agents' outcome events checked, de-duplicated,
//!   summed per version and per rollout arm, flushed to the store, judged by the controller.
//! - [`integrity`]: the signing key, the per-project ledger (RFC 6962 trees over the event
//!   log) and the audit that keeps content which does not verify out of the index.
//! - [`index`]: the resolve index: deployed pointers with pre-serialised answers, so a resolve
//!   never touches the database.
//! - [`auth`]: bearer tokens and key pairs, the token cache and the [`auth::Caller`] extractor
//!   (who is calling; whether they may is the registry's policy).
//! - [`throttle`]: failed authentication attempts counted per client address (429 past a
//!   limit).
//! - [`supervisor`]: background tasks restarted on failure, stopped by one shutdown token.
//! - [`routes`]: the route table, thin handlers and the OpenAPI document.
//! - [`error`] and [`extract`]: one error envelope for everything, extractor rejections included;
//!   [`responses`]: the error statuses each route declares in the OpenAPI document.
//! - [`metrics`], [`telemetry`], [`request_id`]: Prometheus metrics, `tracing` set-up and
//!   request ids.
//! - [`files`]: the data directory (0700) and the SQLite files in it (0600).
//! - [`app`]: start-up: open the store, build the router, serve on a listener until shutdown.
//! - [`connections`]: the accept loop: connection cap, header and idle timeouts, graceful
//!   shutdown, over plain TCP or TLS.
//! - [`tls`]: HTTPS certificates, loaded at start-up and reloaded when their files change.
//! - [`testing`]: start a real server on port 0 for end-to-end tests.

#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod config;
pub mod connections;
pub mod error;
pub mod extract;
pub mod files;
pub mod index;
pub mod integrity;
pub mod metrics;
pub mod outcomes;
pub mod paging;
pub mod registry;
pub mod request_id;
pub mod responses;
pub mod routes;
pub mod supervisor;
pub mod telemetry;
pub mod testing;
pub mod throttle;
pub mod tls;

pub use app::{
    build_state, router, router_for, run, serve, serve_tls, serve_with, state_for_store,
    state_with_keys, state_with_metrics, state_with_options, AppState, Keys, ServeOptions,
};
pub use config::Config;
