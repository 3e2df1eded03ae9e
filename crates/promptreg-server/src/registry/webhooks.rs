//! Webhook workflows: create (secret shown once) and delete subscriptions, each a recorded
//! change; the admin's reads of them and their deliveries; and the inbound abort hook, which
//! turns an external alert into a recorded rollout abort.

use promptreg_core::rollout::Status;
use promptreg_core::webhook::{self, EVENT_NAMES};
use promptreg_core::{ChangeEvent, EnvName, PromptName};
use promptreg_store::{DeliveryRecord, PageRequest, RolloutFilter, RolloutRecord, WebhookRecord};

use super::{
    Action, Caller, Known, Registry, Resource, RolloutCommand, ServiceError, ServiceResult,
};
use crate::auth::new_secret;

/// Longest accepted URL and description.
const MAX_URL: usize = 2048;
const MAX_DESCRIPTION: usize = 500;

/// Which rollout an inbound abort names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortTarget {
    /// By id.
    Rollout(String),
    /// The active rollout of a pointer.
    Pointer {
        /// The environment.
        env: EnvName,
        /// The prompt.
        name: PromptName,
    },
}

/// Checks a webhook URL: absolute, `http` or `https`, with a host. The message names the field.
fn check_url(url: &str) -> ServiceResult<String> {
    let bad = || {
        ServiceError::invalid(format!(
            "url: must be an absolute http or https URL of at most {MAX_URL} characters, got {url:?}"
        ))
    };
    if url.len() > MAX_URL {
        return Err(bad());
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(parsed.to_string())
}

impl Registry {
    /// Creates a webhook of the caller's project. Its cursor starts at the log's head (its own
    /// creation event), so it receives changes from now on, not the project's history.
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        url: &str,
        events: &[String],
        description: Option<String>,
    ) -> ServiceResult<WebhookRecord> {
        self.check(
            caller,
            Action::ManageWebhooks,
            Resource::Project(&caller.project),
        )?;
        let url = check_url(url)?;
        let events = webhook::parse_events(events).map_err(|name| {
            ServiceError::invalid(format!(
                "events: unknown event name {name:?} (known: {})",
                EVENT_NAMES.join(", ")
            ))
        })?;
        if let Some(d) = &description {
            if d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
                return Err(ServiceError::invalid(format!(
                    "description: at most {MAX_DESCRIPTION} printable characters"
                )));
            }
        }
        let mut record = WebhookRecord {
            id: format!("wh_{}", uuid::Uuid::now_v7().simple()),
            project: caller.project.clone(),
            url,
            events,
            description,
            secret: new_secret("whsec_"),
            created_by: caller.principal.actor(),
            created_at: self.now(),
            cursor: 0,
        };
        let change = ChangeEvent::WebhookCreated {
            project: caller.project.clone(),
            id: record.id.clone(),
            url: record.url.clone(),
            events: record.events.clone(),
        };
        let mut tx = self.store.begin(&caller.project).await?;
        let event = tx.append_event(self.draft(caller, None, change)).await?;
        record.cursor = event.seq;
        tx.insert_webhook(&record).await?;
        tx.commit().await?;
        self.applied(&event, Known::Nothing).await;
        Ok(record)
    }

    /// Deletes a webhook and its delivery history; deliveries stop at the next pass.
    pub async fn delete_webhook(&self, caller: &Caller, id: &str) -> ServiceResult<()> {
        self.check(
            caller,
            Action::ManageWebhooks,
            Resource::Project(&caller.project),
        )?;
        let mut tx = self.store.begin(&caller.project).await?;
        tx.delete_webhook(id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("webhook '{id}' not found")))?;
        let change = ChangeEvent::WebhookDeleted {
            project: caller.project.clone(),
            id: id.to_owned(),
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Nothing).await;
        Ok(())
    }

    /// The project's webhooks (admin: they name where the project's changes go).
    pub async fn webhooks(&self, caller: &Caller) -> ServiceResult<Vec<WebhookRecord>> {
        self.check(
            caller,
            Action::ManageWebhooks,
            Resource::Project(&caller.project),
        )?;
        Ok(self.store.list_webhooks(&caller.project).await?)
    }

    /// One webhook.
    pub async fn webhook(&self, caller: &Caller, id: &str) -> ServiceResult<WebhookRecord> {
        self.check(
            caller,
            Action::ManageWebhooks,
            Resource::Project(&caller.project),
        )?;
        Ok(self.store.get_webhook(&caller.project, id).await?)
    }

    /// A webhook's deliveries, newest first.
    pub async fn deliveries(
        &self,
        caller: &Caller,
        id: &str,
        page: &PageRequest<i64>,
    ) -> ServiceResult<Vec<DeliveryRecord>> {
        let hook = self.webhook(caller, id).await?;
        Ok(self
            .store
            .list_deliveries(&caller.project, &hook.id, page)
            .await?)
    }

    /// May the caller use the inbound abort hook at all? Asked before a payload is looked at,
    /// so a reader is refused even when the payload names nothing to abort.
    pub fn check_abort_hook(&self, caller: &Caller) -> ServiceResult<()> {
        self.check(
            caller,
            Action::AbortRollout,
            Resource::Project(&caller.project),
        )
        .map(drop)
    }

    /// Aborts the rollout an external alert names (by id, or the pointer's active one),
    /// recorded with the caller and `reason` like any abort.
    pub async fn abort_target(
        &self,
        caller: &Caller,
        target: &AbortTarget,
        reason: String,
    ) -> ServiceResult<RolloutRecord> {
        self.check_abort_hook(caller)?;
        let id = match target {
            AbortTarget::Rollout(id) => id.clone(),
            AbortTarget::Pointer { env, name } => self.active_rollout_id(caller, env, name).await?,
        };
        self.command_rollout(caller, &id, RolloutCommand::Abort, Some(reason))
            .await
    }

    async fn active_rollout_id(
        &self,
        caller: &Caller,
        env: &EnvName,
        name: &PromptName,
    ) -> ServiceResult<String> {
        for status in [Status::Progressing, Status::Paused] {
            let filter = RolloutFilter {
                env: Some(env.clone()),
                name: Some(name.clone()),
                status: Some(status),
            };
            let found = self
                .store
                .list_rollouts(&caller.project, &filter, &PageRequest::first(1))
                .await?;
            if let Some(r) = found.into_iter().next() {
                return Ok(r.id);
            }
        }
        Err(ServiceError::NotFound {
            code: "no_active_rollout",
            message: format!("prompt '{name}' has no rollout in progress in environment '{env}'"),
        })
    }
}
