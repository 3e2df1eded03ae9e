//! The audit log: the project's event log read by who, what, where and when, each change with
//! the state before it (what the previous change of the same subject left) and after it.

use futures::future::try_join_all;
use promptreg_core::audit::{keys, state_after, state_before, state_before_in_event};
use promptreg_core::EventRecord;
use promptreg_store::AuditFilter;
use tokio_util::sync::CancellationToken;

use super::{Action, Registry, Resource, ServiceResult};
use crate::auth::Caller;

/// One change as the audit log shows it.
#[derive(Debug, Clone)]
pub struct AuditedChange {
    /// The change.
    pub record: EventRecord,
    /// What it did (`deploy`, `rollout_aborted`, ...).
    pub action: String,
    /// The prompt it concerns.
    pub prompt: Option<String>,
    /// The environment it concerns.
    pub env: Option<String>,
    /// What it changed.
    pub subject: String,
    /// Its subject's state before.
    pub before: serde_json::Value,
    /// Its subject's state after.
    pub after: serde_json::Value,
}

/// How many legacy events one pass of the backlog indexer handles.
const BACKLOG_BATCH: u32 = 2_000;

impl Registry {
    /// Changes of the caller's project matching `filter`, newest first.
    pub async fn audit(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
    ) -> ServiceResult<Vec<AuditedChange>> {
        let project = &caller.project;
        self.check(caller, Action::ReadAudit, Resource::Project(project))?;
        let records = self.store.audit_events(project, filter).await?;
        try_join_all(records.into_iter().map(|record| self.audited(record))).await
    }

    async fn audited(&self, record: EventRecord) -> ServiceResult<AuditedChange> {
        let keys = keys(&record.change);
        let previous = match state_before_in_event(&record.change) {
            Some(_) => None,
            None => {
                self.store
                    .previous_of_subject(&record.project, &keys.subject, record.seq)
                    .await?
            }
        };
        Ok(AuditedChange {
            before: state_before(&record, previous.as_ref()),
            after: state_after(&record.change),
            action: keys.action,
            prompt: keys.prompt,
            env: keys.env,
            subject: keys.subject,
            record,
        })
    }

    /// Indexes, in the background, the events written before the audit log existed (a
    /// database upgraded from an earlier release), then waits for shutdown.
    pub async fn index_audit_backlog(&self, stop: CancellationToken) -> anyhow::Result<()> {
        let mut total = 0u64;
        loop {
            let done = self.store.index_audit_backlog(BACKLOG_BATCH).await?;
            total += done;
            if done == 0 || stop.is_cancelled() {
                break;
            }
        }
        if total > 0 {
            tracing::info!(events = total, "indexed earlier events for the audit log");
        }
        stop.cancelled().await;
        Ok(())
    }
}
