//! What a verification found: a [`Report`] of counts, failures and warnings, each
//! [`Finding`] naming the table row it concerns, so an operator can go to that row.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One thing that does not hold (or, as a warning, cannot be checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The table (`versions`, `deployments`, `pointers`, `event_log`, `signing_keys`), or
    /// what else is concerned (`checkpoint`, `since checkpoint`, `trusted keys`).
    pub table: String,
    /// Which row, e.g. `prompt 'a/b', version 3`; absent when the finding is about the whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<String>,
    /// What does not hold.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.row {
            Some(row) => write!(f, "{} row ({row}): {}", self.table, self.message),
            None => write!(f, "{}: {}", self.table, self.message),
        }
    }
}

/// The row of a version.
pub(super) fn version_row(name: &str, version: impl fmt::Display) -> (&'static str, String) {
    ("versions", format!("prompt '{name}', version {version}"))
}

/// The row of a deployment record (one move of a pointer).
pub(super) fn deployment_row(env: &str, name: &str, seq: i64) -> (&'static str, String) {
    ("deployments", format!("{env}, '{name}', seq {seq}"))
}

/// The row of a live pointer.
pub(super) fn pointer_row(env: &str, name: &str) -> (&'static str, String) {
    ("pointers", format!("{env}, '{name}'"))
}

/// The row of a ledger leaf (`event_log` seq is the leaf index + 1).
pub(super) fn leaf_row(index: u64) -> (&'static str, String) {
    (
        "event_log",
        format!("seq {}, ledger leaf {index}", index + 1),
    )
}

/// How much was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// Signing keys trusted.
    pub keys: usize,
    /// Ledger leaves hashed into the tree.
    pub leaves: u64,
    /// Version rows checked (content digest, ledger leaf).
    pub versions: usize,
    /// Version signatures verified.
    pub version_signatures: usize,
    /// Pruned versions (tombstones: signature and ledger leaves checked, not the content).
    #[serde(default)]
    pub pruned_versions: usize,
    /// Deployment records (pointer moves) checked.
    pub moves: usize,
    /// Deployment signatures verified.
    pub move_signatures: usize,
    /// Live pointers compared with the ledger's last move.
    pub pointers: usize,
    /// Server inclusion proofs verified against the signed root (URL mode only).
    pub inclusion_proofs: usize,
    /// The tree size of the earlier checkpoint this one was shown to extend, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_tree_size: Option<u64>,
    /// Whether the server's consistency proof from that checkpoint verified (URL mode).
    pub consistency_proof: bool,
}

/// The outcome of [`super::verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True exactly when there are no failures.
    pub ok: bool,
    /// The ledger's origin line (`<ledger name>/<project>`).
    pub origin: String,
    /// The signed tree size.
    pub tree_size: u64,
    /// The signed root hash, base64.
    pub root_hash: String,
    /// What was checked.
    pub checked: Checked,
    /// What does not hold, one per row and problem.
    pub failures: Vec<Finding>,
    /// What could not be checked but is not wrong (versions written before signing).
    pub warnings: Vec<Finding>,
}

impl Report {
    /// Records a failure about `table`'s `row`.
    pub(super) fn fail(&mut self, (table, row): (&str, String), message: impl Into<String>) {
        self.failures.push(Finding {
            table: table.to_owned(),
            row: Some(row),
            message: message.into(),
        });
    }

    /// Records a failure about something that is not one row.
    pub(super) fn fail_whole(&mut self, table: &str, message: impl Into<String>) {
        self.failures.push(Finding {
            table: table.to_owned(),
            row: None,
            message: message.into(),
        });
    }

    /// Records a warning about `table`'s `row`.
    pub(super) fn warn(&mut self, (table, row): (&str, String), message: impl Into<String>) {
        self.warnings.push(Finding {
            table: table.to_owned(),
            row: Some(row),
            message: message.into(),
        });
    }

    /// Sets `ok` from the failures (call once every check has run).
    pub(super) fn finish(&mut self) {
        self.ok = self.failures.is_empty();
    }
}
