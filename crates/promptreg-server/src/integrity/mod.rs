//! Integrity: what the server signs with, the per-project ledger over the event log, and the
//! audit that keeps content which does not verify away from agents.
//!
//! - [`keys`]: the Ed25519 signing key (a PKCS#8 file generated 0600 in the data directory on
//!   first start, or the operator's file), its registration in the store and its rotation.
//! - [`ledger`]: one RFC 6962 tree per project whose leaves are the canonical event records,
//!   fed in `seq` order by `Registry::apply`; signed checkpoints and proofs.
//! - [`kek`]: the key-encryption key that wraps every version's data key (encryption at
//!   rest): a file generated 0600 in the data directory, or the operator's; its rotation.
//! - [`audit`]: the start-up (and resynchronisation) check of every live pointer against its
//!   content digest and the last pointer move in the ledger.
//! - [`snapshot`]: the ledger's leaves and last moves saved at a log head, so that a large
//!   registry's start-up replays only the log after it.
//!
//! Signing happens inside the service layer's write path (`registry/publish.rs`,
//! `registry/pointers.rs`): the envelope is stored with the row, and its digest goes into the
//! event, so the ledger leaf commits to the signature.

pub mod audit;
pub mod kek;
pub mod keys;
pub mod ledger;
pub mod snapshot;

use parking_lot::Mutex;
use promptreg_core::{EnvName, ProjectId, PromptName};

pub use kek::Keyring;
pub use keys::Signer;
pub use ledger::Ledger;

/// Something that did not verify: a row edited behind the server's back, or a log that does
/// not add up. Named precisely enough for an operator to find the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The project.
    pub project: ProjectId,
    /// The environment, when the finding is about a pointer.
    pub env: Option<EnvName>,
    /// The prompt, when there is one.
    pub name: Option<PromptName>,
    /// What does not hold.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "project '{}'", self.project)?;
        if let Some(env) = &self.env {
            write!(f, ", environment '{env}'")?;
        }
        if let Some(name) = &self.name {
            write!(f, ", prompt '{name}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The integrity errors this process has seen since its last full load; while there are any,
/// `/readyz` fails and names them.
#[derive(Default)]
pub struct Findings {
    current: Mutex<Vec<Finding>>,
}

impl Findings {
    /// Replaces every finding (a full load re-checks everything).
    pub fn replace(&self, findings: Vec<Finding>) {
        for f in &findings {
            tracing::error!(finding = %f, "integrity error: left out of the resolve index");
        }
        *self.current.lock() = findings;
    }

    /// Adds one (a change from the feed that did not verify).
    pub fn add(&self, finding: Finding) {
        tracing::error!(finding = %finding, "integrity error: left out of the resolve index");
        let mut current = self.current.lock();
        if !current.contains(&finding) {
            current.push(finding);
        }
    }

    /// The findings, oldest first.
    pub fn list(&self) -> Vec<Finding> {
        self.current.lock().clone()
    }

    /// How many there are.
    pub fn count(&self) -> usize {
        self.current.lock().len()
    }
}
