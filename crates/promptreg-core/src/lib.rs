//! The pure domain of promptreg: no I/O, no async, no database, no HTTP.
//!
//! Everything that decides *what is valid* and *what a change means* lives here, so that the
//! server, the storage backends, the CLI and the agent SDK all agree:
//!
//! - [`name`]: validated identifiers ([`PromptName`], [`EnvName`], [`ProjectId`]) and [`Version`].
//! - [`content`]: the immutable content of a version (text or chat, variables schema, model) and
//!   its [`Digest`], SHA-256 over the RFC 8785 canonical JSON of the content.
//! - [`metadata`]: provenance and compatibility metadata, which is *not* content.
//! - [`schema`]: the variables JSON Schema, checked with a real JSON-Schema implementation.
//! - [`render`]: sandboxed minijinja rendering with strict undefined variables.
//! - [`diff`]: a unified diff between two versions.
//! - [`deploy`]: the rules that turn a deploy or rollback request into a pointer move.
//! - [`publish`]: numbering, idempotent push and the type rule for new versions.
//! - [`event`]: the typed change events every write emits (index, change stream, ledger).
//! - [`rollout`]: progressive delivery: sticky buckets, rollout specs, the rollout state machine.
//! - [`analysis`]: automated canary analysis (breakers, always-valid comparisons, CEL
//!   conditions, sample-ratio check) over mergeable outcome windows, and [`parse_duration`].
//! - [`retention`]: lifecycle rules (`keep_last`, `prune_unused_after`) and the plan of which
//!   versions they let go (never one that is live, was deployed to a protected environment,
//!   may be rolled back to, or is part of an active rollout).
//! - [`webhook`]: which changes webhooks deliver under which names, their HMAC signature and
//!   the retry schedule.
//! - [`integrity`]: Ed25519 keys, DSSE envelopes and in-toto statements for signed versions and
//!   deployments, RFC 6962 Merkle proofs for the ledger, and C2SP signed checkpoints.
//! - [`gates`]: promotion gates (required predecessor, CEL expressions over a version's facts)
//!   and [`validation`]: the rules for validation results attached to versions.
//! - [`change`]: change requests for protected environments: statuses, the two-person rule,
//!   and the [`change::Approval`] a protected pointer move is made under.
//! - [`model`]: a pure model of the registry's rules (publish and pointer moves over plain maps),
//!   for differential tests against the real backends.

#![forbid(unsafe_code)]

pub mod analysis;
pub mod audit;
pub mod change;
pub mod content;
pub mod deploy;
pub mod diff;
pub mod event;
pub mod gates;
pub mod integrity;
pub mod metadata;
pub mod model;
pub mod name;
pub mod publish;
pub mod render;
pub mod retention;
pub mod rollout;
pub mod schema;
pub mod validation;
pub mod webhook;

pub use analysis::parse_duration;
pub use content::{ChatEntry, Digest, PromptBody, PromptContent, PromptType};
pub use deploy::{DeployKind, PointerMove, RollbackError};
pub use event::{ChangeEvent, EventDraft, EventRecord};
pub use metadata::{Compat, Metadata};
pub use name::{EnvName, GrantScope, NameError, ProjectId, PromptName, Role, Version};
pub use schema::VariablesSchema;
