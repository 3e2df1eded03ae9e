//! The change stream (`GET /v1/watch`, Server-Sent Events) and signed environment snapshots
//! (`GET /v1/environments/{env}/snapshot`): the two calls an agent's cache is built on.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use promptreg_api::{SignedEnvSnapshot, WatchKind, WatchReady, WatchResync};
use promptreg_core::{EnvName, EventRecord};
use reqwest::header::ACCEPT;
use reqwest::Method;

use crate::{decode, encode_segment, Client, ClientError};

/// A stream has no end to wait for: the client's whole-request timeout must not cut it. How
/// long a silent stream may stay open is the reader's decision (see [`WatchReady`]'s
/// heartbeat).
const STREAM_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// What to watch: `GET /v1/watch?env=&prefix=&after=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchOptions {
    /// Only changes in this environment (and version creations); every environment if `None`.
    pub env: Option<EnvName>,
    /// Only prompts whose name starts with this.
    pub prefix: Option<String>,
    /// Replay every change after this log position first (what `Last-Event-ID` carries).
    pub after: Option<i64>,
}

/// One frame of the change stream.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// A committed change (`version_created`, `pointer_moved`, `rollout_changed`).
    Change(Box<EventRecord>),
    /// The replay is done; the stream is live from `seq`.
    Ready(WatchReady),
    /// The server stops keeping this stream current: reload, then watch again.
    Resync(WatchResync),
}

impl WatchEvent {
    /// The log position this frame carries.
    pub fn seq(&self) -> i64 {
        match self {
            WatchEvent::Change(record) => record.seq,
            WatchEvent::Ready(ready) => ready.seq,
            WatchEvent::Resync(resync) => resync.seq,
        }
    }
}

/// The frames of one open stream; it ends when the server closes it.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, ClientError>> + Send>>;

impl Client {
    /// Opens `GET /v1/watch`. An error status (unknown environment, bad token) is returned
    /// here, before any frame; frames of kinds this client does not know are skipped. Once
    /// the `ready` frame has said how often the server sends heartbeats, a stream on which
    /// nothing (not even a heartbeat) arrives for twice that ends with an error: the
    /// connection is dead even if no socket error says so.
    pub async fn watch(&self, options: &WatchOptions) -> Result<WatchStream, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(env) = &options.env {
            query.push(("env", env.as_str().to_owned()));
        }
        if let Some(prefix) = &options.prefix {
            query.push(("prefix", prefix.clone()));
        }
        let mut rb = self
            .request(Method::GET, "/v1/watch")
            .query(&query)
            .header(ACCEPT, "text/event-stream")
            .timeout(STREAM_TIMEOUT);
        if let Some(after) = options.after {
            rb = rb.header("Last-Event-ID", after.to_string());
        }
        let response = rb.send().await.map_err(ClientError::Transport)?;
        if !response.status().is_success() {
            return Err(crate::api_error(response).await);
        }
        // Heartbeats are SSE comments, which the parser drops: the bytes themselves are
        // watched (milliseconds since `opened`).
        let opened = Instant::now();
        let touched = Arc::new(AtomicU64::new(0));
        let touch = touched.clone();
        let bytes = response.bytes_stream().inspect(move |_| {
            touch.store(elapsed_ms(opened), Ordering::Relaxed);
        });
        let frames = bytes.eventsource().filter_map(|frame| {
            let parsed = match frame {
                Err(e) => Some(Err(ClientError::Decode {
                    status: 200,
                    message: format!("change stream: {e}"),
                })),
                Ok(frame) => parse_frame(&frame.event, &frame.data),
            };
            std::future::ready(parsed)
        });
        Ok(Box::pin(alive(Box::pin(frames), opened, touched)))
    }

    /// `GET /v1/environments/{env}/snapshot?prefix=`: the signed snapshot, as received (check
    /// it before trusting it).
    pub async fn env_snapshot(
        &self,
        env: &EnvName,
        prefix: Option<&str>,
    ) -> Result<SignedEnvSnapshot, ClientError> {
        let path = format!("/v1/environments/{}/snapshot", encode_segment(env.as_str()));
        let mut rb = self.request(Method::GET, &path);
        if let Some(prefix) = prefix {
            rb = rb.query(&[("prefix", prefix)]);
        }
        let response = rb.send().await.map_err(ClientError::Transport)?;
        decode(response).await
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `frames`, ended with an error once nothing has arrived for twice the heartbeat interval
/// announced by `ready` (no limit before it).
fn alive(
    frames: WatchStream,
    opened: Instant,
    touched: Arc<AtomicU64>,
) -> impl Stream<Item = Result<WatchEvent, ClientError>> + Send {
    struct State {
        frames: WatchStream,
        /// Twice the heartbeat, once known.
        limit: Option<Duration>,
        dead: bool,
    }
    let state = State {
        frames,
        limit: None,
        dead: false,
    };
    futures::stream::unfold(state, move |mut st| {
        let touched = touched.clone();
        async move {
            if st.dead {
                return None;
            }
            loop {
                let next = match st.limit {
                    None => st.frames.next().await,
                    Some(limit) => match tokio::time::timeout(limit, st.frames.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            let quiet =
                                elapsed_ms(opened).saturating_sub(touched.load(Ordering::Relaxed));
                            if u128::from(quiet) < limit.as_millis() {
                                continue; // a heartbeat came meanwhile
                            }
                            st.dead = true;
                            let message = format!(
                                "change stream: nothing received for {} ms (twice the heartbeat); the connection is dead",
                                limit.as_millis()
                            );
                            return Some((
                                Err(ClientError::Decode {
                                    status: 200,
                                    message,
                                }),
                                st,
                            ));
                        }
                    },
                };
                let next = next?;
                if let Ok(WatchEvent::Ready(ready)) = &next {
                    st.limit = Some(Duration::from_millis(
                        ready.heartbeat_ms.max(1).saturating_mul(2),
                    ));
                }
                return Some((next, st));
            }
        }
    })
}

/// One SSE frame as a [`WatchEvent`]; `None` for kinds this client does not know.
fn parse_frame(event: &str, data: &str) -> Option<Result<WatchEvent, ClientError>> {
    let undecodable = |e: serde_json::Error| ClientError::Decode {
        status: 200,
        message: format!("change stream frame `{event}`: {e}"),
    };
    let parsed = match WatchKind::parse(event)? {
        WatchKind::VersionCreated | WatchKind::PointerMoved | WatchKind::RolloutChanged => {
            serde_json::from_str::<EventRecord>(data)
                .map(|record| WatchEvent::Change(Box::new(record)))
        }
        WatchKind::Ready => serde_json::from_str(data).map(WatchEvent::Ready),
        WatchKind::Resync => serde_json::from_str(data).map(WatchEvent::Resync),
    };
    Some(parsed.map_err(undecodable))
}
