//! The webhook dispatcher: every pass, for each webhook with events after its cursor, take
//! its lease and post those events in log order, signed (core's [`webhook`] module).
//!
//! Delivery is at least once, in order, per webhook: the cursor moves past an event only once
//! its delivery is settled (2xx, or given up after [`webhook::MAX_ATTEMPTS`]), and a failed
//! attempt holds the events behind it until its retry is due. The cursor, the attempts and
//! the next retry time are stored, so a restart or another replica resumes where it was. On a
//! shared database each webhook is delivered by the replica holding its lease
//! (`claim_webhook`, [`LEASE`] long, renewed every pass it has work).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use promptreg_core::webhook;
use promptreg_core::{EventRecord, ProjectId};
use promptreg_store::{DeliveryRecord, DeliveryStatus, PageRequest, WebhookRecord};
use tokio_util::sync::CancellationToken;

use super::{Registry, ServiceError, ServiceResult};

/// How long a replica's claim on a webhook lasts without renewal. Longer than `BUDGET` plus
/// [`TIMEOUT`], so a claim cannot lapse while its holder is still posting.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the dispatcher looks for work.
pub const PASS: Duration = Duration::from_millis(250);
/// The longest one attempt may take (connect and answer).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// After this long in one pass, a webhook starts no new attempt until the next pass.
const BUDGET: Duration = Duration::from_secs(10);
/// Events read per webhook per pass.
const BATCH: u32 = 100;

/// Runs the dispatcher until `stop` (supervised: an error restarts it).
pub async fn run(
    registry: Arc<Registry>,
    owner: String,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        // A redirect is a failed attempt: following it would post signed events to a place
        // the admin never named.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("promptreg-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let dispatcher = Dispatcher {
        registry,
        client,
        owner,
    };
    loop {
        dispatcher.pass().await;
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(PASS) => {}
        }
    }
}

struct Dispatcher {
    registry: Arc<Registry>,
    client: reqwest::Client,
    owner: String,
}

impl Dispatcher {
    /// One pass over every webhook, concurrently (one slow receiver delays only its own).
    async fn pass(&self) {
        let hooks = match self.registry.store.load_webhooks().await {
            Ok(hooks) => hooks,
            Err(e) => {
                tracing::warn!(error = %e, "webhook dispatcher cannot list webhooks");
                return;
            }
        };
        // One read of every log's head spares the webhooks with nothing new a query each.
        let heads: HashMap<ProjectId, i64> = match self.registry.store.event_heads().await {
            Ok(heads) => heads.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "webhook dispatcher cannot read the log heads");
                return;
            }
        };
        let behind = hooks
            .iter()
            .filter(|h| heads.get(&h.project).is_some_and(|head| *head > h.cursor));
        let passes = behind.map(|hook| async move {
            if let Err(e) = self.drive(hook).await {
                tracing::warn!(webhook = %hook.id, error = %e, "webhook delivery pass failed");
            }
        });
        futures::future::join_all(passes).await;
    }

    /// Delivers what is due for one webhook.
    async fn drive(&self, hook: &WebhookRecord) -> ServiceResult<()> {
        let store = &self.registry.store;
        let events = store
            .events_after(&hook.project, hook.cursor, BATCH)
            .await?;
        if events.is_empty() {
            return Ok(());
        }
        let now = self.registry.now();
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        if !store
            .claim_webhook(&hook.project, &hook.id, &self.owner, now, until)
            .await?
        {
            return Ok(());
        }
        // The list was read before the claim: another replica may have moved the cursor
        // since (it held the lease then), so start from the stored one.
        let hook = &store.get_webhook(&hook.project, &hook.id).await?;
        let events: Vec<_> = events.into_iter().filter(|e| e.seq > hook.cursor).collect();
        // A delivery still being retried is the first wanted event after the cursor.
        let mut pending = store
            .list_deliveries(&hook.project, &hook.id, &PageRequest::first(1))
            .await?
            .into_iter()
            .next()
            .filter(|d| d.status == DeliveryStatus::Pending && d.seq > hook.cursor);
        let started = Instant::now();
        // The last unwanted event passed since the cursor last moved.
        let mut skipped_to = None;
        for event in &events {
            let Some(name) =
                webhook::event_name(&event.change).filter(|n| webhook::wants(&hook.events, n))
            else {
                skipped_to = Some(event.seq);
                continue;
            };
            let previous = pending.take().filter(|d| d.seq == event.seq);
            let due = previous
                .as_ref()
                .and_then(|p| p.next_attempt_at)
                .is_none_or(|at| at <= self.registry.now());
            if !due || started.elapsed() > BUDGET {
                break;
            }
            let delivery = self.attempt(hook, event, name, previous).await?;
            let settled = delivery.status != DeliveryStatus::Pending;
            store.save_delivery(&delivery).await?;
            if !settled {
                break;
            }
            // Saving a settled delivery moved the cursor past everything before it.
            skipped_to = None;
        }
        if let Some(seq) = skipped_to {
            store.advance_webhook(&hook.project, &hook.id, seq).await?;
        }
        Ok(())
    }

    /// Posts one event once and says where its delivery stands afterwards.
    async fn attempt(
        &self,
        hook: &WebhookRecord,
        event: &EventRecord,
        name: &str,
        previous: Option<DeliveryRecord>,
    ) -> ServiceResult<DeliveryRecord> {
        let body = payload(event, name)?;
        let now = self.registry.now();
        let signature = webhook::signature(&hook.secret, now.timestamp(), &body);
        let began = Instant::now();
        let answer = self
            .client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Promptreg-Event", name)
            .header("Promptreg-Delivery", format!("{}:{}", hook.id, event.seq))
            .header("Promptreg-Signature", signature)
            .body(body)
            .send()
            .await;
        let duration_ms = i64::try_from(began.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (response_code, error) = match answer {
            Ok(response) => {
                let status = response.status();
                let error = (!status.is_success()).then(|| {
                    if status.is_redirection() {
                        format!("HTTP {status} (redirects are not followed)")
                    } else {
                        format!("HTTP {status}")
                    }
                });
                (Some(status.as_u16()), error)
            }
            Err(e) => (None, Some(describe(&e))),
        };
        let attempts = previous.as_ref().map_or(0, |p| p.attempts) + 1;
        let (status, next_attempt_at) = match (&error, webhook::retry_after(attempts)) {
            (None, _) => (DeliveryStatus::Delivered, None),
            (Some(_), Some(wait)) => (
                DeliveryStatus::Pending,
                Some(now + chrono::Duration::from_std(wait).unwrap_or_default()),
            ),
            (Some(_), None) => (DeliveryStatus::Failed, None),
        };
        if let Some(e) = &error {
            tracing::info!(webhook = %hook.id, seq = event.seq, attempts, error = %e, "webhook delivery failed");
        }
        Ok(DeliveryRecord {
            project: hook.project.clone(),
            webhook: hook.id.clone(),
            seq: event.seq,
            event: name.to_owned(),
            status,
            attempts,
            response_code,
            error,
            first_attempt_at: previous.map_or(now, |p| p.first_attempt_at),
            last_attempt_at: now,
            next_attempt_at,
            duration_ms,
        })
    }
}

/// The body posted: the event record's JSON with `"event": "<name>"` added at the top.
pub fn payload(event: &EventRecord, name: &str) -> ServiceResult<Vec<u8>> {
    let mut value = serde_json::to_value(event).map_err(|e| ServiceError::Internal(Box::new(e)))?;
    if let Some(object) = value.as_object_mut() {
        object.insert("event".into(), name.into());
    }
    serde_json::to_vec(&value).map_err(|e| ServiceError::Internal(Box::new(e)))
}

/// A failed attempt in a few words (the URL is the admin's own, so it may be shown).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("timed out after {} s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        format!("connection failed: {e}")
    } else {
        e.to_string()
    }
}
