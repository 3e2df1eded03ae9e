//! The change subscription: `LISTEN` on the store's channel, as a stream of notices.
//!
//! The listener has a pool of its own (one connection, no idle or lifetime limit), so a
//! subscription neither takes a connection from the store's pool nor keeps that pool from
//! closing. A notification carries the whole [`EventRecord`], or only where to read it when
//! the event is too long for `NOTIFY` (then it is read with the store's pool).
//!
//! Notifications are missed only while the connection is down, so the stream says
//! [`StoreNotice::Lost`] as soon as it finds the connection dead (the consumer can no longer
//! know it is current), and [`StoreNotice::Resync`] once it listens again (and first of all):
//! the consumer catches up with `events_after`. `Resync` always comes after `LISTEN` succeeded,
//! so nothing committed after the catch-up starts can be missed.

use std::time::Duration;

use futures::StreamExt;
use promptreg_core::EventRecord;
use promptreg_store::{EventStream, StoreNotice};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

use crate::error::Result;
use crate::events::{self, Announced};

/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`] until a notification gets
/// through, so a database that is down (or drops connections at once) is not hammered.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A live subscription.
struct Subscription {
    /// The listener's own pool.
    pool: PgPool,
    /// The store's pool, to read events announced by key only.
    store: PgPool,
    channel: String,
    listener: Option<PgListener>,
    resync: bool,
    backoff: Duration,
}

/// Starts listening on `channel` (so nothing committed after this returns is missed) and
/// returns the stream of notices, starting with `Resync`.
pub(crate) async fn subscribe(
    options: PgConnectOptions,
    store: PgPool,
    channel: String,
) -> Result<EventStream> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let listener = listen(&pool, &channel).await?;
    let subscription = Subscription {
        pool,
        store,
        channel,
        listener: Some(listener),
        resync: true,
        backoff: MIN_BACKOFF,
    };
    Ok(futures::stream::unfold(subscription, |mut s| async move {
        let notice = s.next().await;
        Some((notice, s))
    })
    .boxed())
}

async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

impl Subscription {
    /// The next notice; reconnects (with backoff) for as long as the database is unreachable.
    async fn next(&mut self) -> StoreNotice {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                self.back_off().await;
                match listen(&self.pool, &self.channel).await {
                    Ok(listener) => {
                        tracing::info!(channel = %self.channel, "change subscription listens again");
                        self.listener = Some(listener);
                        self.resync = true;
                    }
                    Err(e) => tracing::warn!(
                        error = ?e,
                        channel = %self.channel,
                        "change subscription cannot reconnect"
                    ),
                }
                continue;
            };
            if self.resync {
                self.resync = false;
                return StoreNotice::Resync;
            }
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    self.backoff = MIN_BACKOFF;
                    return self.notice(notification.payload()).await;
                }
                // `Ok(None)`: the connection is gone (PgListener would reconnect silently on the
                // next call; reconnecting ourselves is what lets us say `Resync` after it).
                Ok(None) => {
                    tracing::warn!(channel = %self.channel, "change subscription lost");
                    return self.lose();
                }
                Err(e) => {
                    tracing::warn!(error = %e, channel = %self.channel, "change subscription lost");
                    return self.lose();
                }
            }
        }
    }

    /// The notice for a notification's payload: the event it carries, or the one it names.
    async fn notice(&mut self, payload: &str) -> StoreNotice {
        if let Ok(event) = EventRecord::from_bytes(payload.as_bytes()) {
            return StoreNotice::Event(event);
        }
        if serde_json::from_str::<crate::import::Reload>(payload).is_ok() {
            return StoreNotice::Reload;
        }
        let Ok(Announced { project, seq }) = serde_json::from_str::<Announced>(payload) else {
            // Not ours (or from another version): something may have been missed.
            tracing::warn!(
                payload,
                "a change notification that does not parse; resyncing"
            );
            return StoreNotice::Resync;
        };
        match events::one(&self.store, &project, seq).await {
            Ok(Some(event)) => StoreNotice::Event(event),
            Ok(None) => {
                tracing::warn!(
                    project,
                    seq,
                    "an announced event is not in the log; resyncing"
                );
                StoreNotice::Resync
            }
            Err(e) => {
                tracing::warn!(error = ?e, project, seq, "cannot read an announced event");
                self.lose()
            }
        }
    }

    /// Drops the connection: the next call reconnects and says `Resync`.
    fn lose(&mut self) -> StoreNotice {
        self.listener = None;
        StoreNotice::Lost
    }

    /// Waits before the next attempt, longer each time until a notification gets through.
    async fn back_off(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}
