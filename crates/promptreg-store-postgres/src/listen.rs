//! The change subscription: `LISTEN` on the store's channel, as a stream of notices.
//!
//! The listener has a pool of its own (one connection, no idle or lifetime limit), so a
//! subscription neither takes a connection from the store's pool nor keeps that pool from
//! closing. A notification can be missed only while the connection is down, so the stream
//! says [`StoreNotice::Resync`] first and after every reconnection: the consumer reloads.

use std::time::Duration;

use futures::StreamExt;
use promptreg_core::ChangeEvent;
use promptreg_store::{EventStream, StoreNotice};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

use crate::error::Result;

/// First wait before retrying a failed reconnection; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A live subscription.
struct Subscription {
    pool: PgPool,
    channel: String,
    listener: Option<PgListener>,
    resync: bool,
    backoff: Duration,
}

/// Starts listening on `channel` (so nothing committed after this returns is missed) and
/// returns the stream of notices.
pub(crate) async fn subscribe(options: PgConnectOptions, channel: String) -> Result<EventStream> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let listener = listen(&pool, &channel).await?;
    let subscription = Subscription {
        pool,
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
    /// The next notice; retries (with backoff) for as long as the database is unreachable.
    async fn next(&mut self) -> StoreNotice {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match listen(&self.pool, &self.channel).await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.resync = true;
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = ?e,
                            channel = %self.channel,
                            "change subscription cannot reconnect"
                        );
                        self.back_off().await;
                    }
                }
                continue;
            };
            if self.resync {
                self.resync = false;
                return StoreNotice::Resync;
            }
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    match serde_json::from_str::<ChangeEvent>(notification.payload()) {
                        Ok(event) => {
                            self.backoff = MIN_BACKOFF;
                            return StoreNotice::Event(event);
                        }
                        Err(e) => tracing::warn!(
                            error = %e,
                            payload = notification.payload(),
                            "ignoring a change notification that does not parse"
                        ),
                    }
                }
                // The connection was lost and has been re-established (and LISTENs again):
                // whatever was committed in between was not heard.
                Ok(None) => {
                    tracing::warn!(channel = %self.channel, "change subscription reconnected");
                    self.resync = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, channel = %self.channel, "change subscription lost");
                    self.listener = None;
                    self.back_off().await;
                }
            }
        }
    }

    /// Waits before the next attempt, longer each time until a notification gets through, so
    /// a database that is down (or a connection that fails at once) is not hammered.
    async fn back_off(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}
