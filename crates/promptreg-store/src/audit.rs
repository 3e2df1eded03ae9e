//! What the audit log asks of the event log: changes filtered by who, what, where and when.
//!
//! Each event is stored with the audit keys `promptreg_core::audit::keys` derives from it
//! (actor, action, prompt, environment, subject), indexed, so a filtered page is one query.

use chrono::{DateTime, Utc};

/// Which changes of a project's log to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Made by this actor: a full `<token id>:<name>` actor, or a token id.
    pub actor: Option<String>,
    /// Concerning this prompt.
    pub prompt: Option<String>,
    /// Concerning this environment.
    pub env: Option<String>,
    /// This action (`deploy`, `rollout_aborted`, ...) or event kind (`pointer_moved`,
    /// `rollout_changed`, ...).
    pub action: Option<String>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only changes with `seq` below this (the page cursor).
    pub before_seq: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// The `LIKE` pattern that matches every actor of token `id` (`<id>:<name>`).
pub fn actor_id_pattern(id: &str) -> String {
    let escaped = id
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("{escaped}:%")
}
