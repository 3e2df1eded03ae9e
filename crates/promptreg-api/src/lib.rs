//! Wire types of the promptreg v1 HTTP API (see `docs/api.md`), shared by the server, the
//! agent SDK and the CLI so that all three agree on every field.
//!
//! - [`audit`]: the audit log's filters and entries.
//! - [`error`]: the error envelope `{"error": {"code", "message"}}`.
//! - [`versions`]: creating and reading immutable versions, listing prompts, diffs.
//! - [`deploy`]: environments, deployment records, catalog.
//! - [`resolve`]: what agents fetch on their hot path and the render call.
//! - [`rollouts`]: starting, commanding and reading rollouts.
//! - [`outcomes`]: outcome batches agents report and per-version figures.
//! - [`tokens`]: bearer tokens and Langfuse-style key pairs (grants, expiry, last use), and
//!   projects.
//! - [`webhooks`]: webhook subscriptions, their deliveries, the inbound abort hook.
//! - [`ledger`]: checkpoints, ledger entries, inclusion and consistency proofs, signing keys.
//! - [`snapshot`]: a project as plain data (what `verify` checks), export bundles, import.
//! - [`lifecycle`]: lifecycle rules and pruning.
//! - [`changes`]: change requests and their reviews (approvals for protected environments).
//! - [`watch`]: the change stream's frames and signed environment snapshots (what SDK caches
//!   start from and stay current with).
//!
//! Domain newtypes from `promptreg-core` are used in the types, so a name that deserialises is
//! a valid name.

#![forbid(unsafe_code)]

pub mod audit;
pub mod changes;
pub mod deploy;
pub mod error;
pub mod gates;
pub mod ledger;
pub mod lifecycle;
pub mod outcomes;
pub mod resolve;
pub mod rollouts;
pub mod snapshot;
pub mod tokens;
pub mod versions;
pub mod watch;
pub mod webhooks;

use serde::{Deserialize, Serialize};

pub use audit::*;
pub use changes::*;
pub use deploy::*;
pub use error::{ErrorBody, ErrorDetail};
pub use gates::*;
pub use ledger::*;
pub use lifecycle::*;
pub use outcomes::*;
pub use resolve::*;
pub use rollouts::*;
pub use snapshot::*;
pub use tokens::*;
pub use versions::*;
pub use watch::*;
pub use webhooks::*;

/// One page of a list: `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `?cursor=` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Paging query parameters accepted by every list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-500, default 50.
    pub limit: Option<String>,
    /// An opaque cursor from a previous page.
    pub cursor: Option<String>,
}
