//! The outcome reporter: [`super::Agent::report`] puts an event on a bounded queue and returns
//! at once; a background task sends batches to `POST /v1/outcomes` when `batch_size` events
//! are waiting or every `interval`, and once more on shutdown.
//!
//! Memory is bounded twice: the queue (`queue_bound` events; a full queue drops the event and
//! counts it) and the retry buffer (a batch the server did not take is kept for the next flush,
//! within `queue_bound` events; the oldest go first, counted). Every event carries an id, so a
//! batch sent twice after a lost answer is not counted twice (the server refuses repeated ids).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use promptreg_api::{OutcomeBatch, OutcomeEvent, MAX_OUTCOME_EVENTS};
use tokio::sync::{mpsc, watch};

use super::status::Health;
use crate::Client;

/// The reporter's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReporterSettings {
    pub batch_size: usize,
    pub interval: Duration,
    pub queue_bound: usize,
}

/// The sending side, held by the agent.
pub(crate) struct Reporter {
    queue: mpsc::Sender<OutcomeEvent>,
    /// `<instance>-<n>` ids for events without one.
    instance: String,
    next: std::sync::atomic::AtomicU64,
}

impl Reporter {
    /// Starts the flusher task.
    pub fn start(
        client: Arc<Client>,
        health: Arc<Health>,
        settings: ReporterSettings,
        stop: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(settings.queue_bound.max(1));
        let task = tokio::spawn(flusher(client, health, settings, rx, stop));
        let reporter = Reporter {
            queue,
            instance: uuid::Uuid::new_v4().simple().to_string(),
            next: std::sync::atomic::AtomicU64::new(0),
        };
        (reporter, task)
    }

    /// Queues an event without waiting; returns whether it was taken.
    pub fn report(&self, mut event: OutcomeEvent, health: &Health) -> bool {
        if event.id.is_empty() {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            event.id = format!("{}-{n}", self.instance);
        }
        match self.queue.try_send(event) {
            Ok(()) => {
                health.outcomes_queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                health.outcomes_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

async fn flusher(
    client: Arc<Client>,
    health: Arc<Health>,
    settings: ReporterSettings,
    mut rx: mpsc::Receiver<OutcomeEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let batch_size = settings.batch_size.clamp(1, MAX_OUTCOME_EVENTS);
    let mut pending: Vec<OutcomeEvent> = Vec::new();
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => {
                    pending.push(event);
                    if pending.len() >= batch_size {
                        flush(&client, &health, &mut pending, batch_size, settings.queue_bound).await;
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                flush(&client, &health, &mut pending, batch_size, settings.queue_bound).await;
            }
            _ = stop.changed() => break,
        }
    }
    // Shutdown: whatever is queued goes in a last flush (the agent bounds how long it waits).
    rx.close();
    while let Some(event) = rx.recv().await {
        pending.push(event);
    }
    flush(&client, &health, &mut pending, batch_size, usize::MAX).await;
    health
        .outcomes_dropped
        .fetch_add(pending.len() as u64, Ordering::Relaxed);
}

/// Sends `pending` in batches; what the server could not take stays, up to `keep` events.
async fn flush(
    client: &Client,
    health: &Health,
    pending: &mut Vec<OutcomeEvent>,
    batch_size: usize,
    keep: usize,
) {
    while !pending.is_empty() {
        let n = pending.len().min(batch_size);
        let events: Vec<serde_json::Value> = pending[..n]
            .iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .collect();
        health.outcome_batches.fetch_add(1, Ordering::Relaxed);
        match client.report_outcomes(&OutcomeBatch { events }).await {
            Ok(report) => {
                pending.drain(..n);
                health
                    .outcomes_accepted
                    .fetch_add(report.accepted as u64, Ordering::Relaxed);
                health
                    .outcomes_rejected
                    .fetch_add(report.rejected as u64, Ordering::Relaxed);
            }
            // Refused as a whole (4xx): sending it again would be refused again.
            Err(e)
                if e.status()
                    .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
            {
                pending.drain(..n);
                health
                    .outcomes_rejected
                    .fetch_add(n as u64, Ordering::Relaxed);
                health.error(format!("outcomes: {e}"));
            }
            Err(e) => {
                health.error(format!("outcomes: {}", crate::builder::error_chain(&e)));
                if pending.len() > keep {
                    let over = pending.len() - keep;
                    pending.drain(..over);
                    health
                        .outcomes_dropped
                        .fetch_add(over as u64, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}
