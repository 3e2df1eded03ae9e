//! The sync task: keeps the cache current from the change stream, in the background.
//!
//! - Watches with `Last-Event-ID` = the last change applied, so a reconnect misses nothing.
//! - A stream silent for more than twice its heartbeat is dead ([`crate::Client::watch`] ends
//!   it; heartbeats are SSE comments, so it watches the bytes, not the frames).
//! - Reconnects with exponential backoff (with jitter) between `reconnect_min` and
//!   `reconnect_max`; while the stream is down the cache keeps being served (stale-on-error),
//!   and once it has gone unconfirmed for longer than the TTL every attempt also tries to
//!   reload a snapshot (stale-while-revalidate, for a server that answers plain requests but
//!   not the stream).
//! - A `resync` frame reloads a snapshot and watches from its `seq`.
//! - A change that cannot be applied because the server stopped answering ends the stream
//!   without advancing the position, so it is applied after the reconnect; a version that
//!   fails verification is refused (counted, the previous value kept) and the position moves on.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use promptreg_core::{ChangeEvent, EventRecord, PromptName, Version};
use tokio::sync::watch;

use super::cache::Rollout;
use super::verify::{self, CachedVersion, Checks};
use super::{snapshot, Shared};
use crate::{ClientError, WatchEvent, WatchOptions};

/// Why one stream ended.
enum Ended {
    /// The agent is shutting down.
    Stopped,
    /// The server asked for a resync.
    Resync(String),
    /// It failed or went silent; `live` says whether it had become current first.
    Failed { error: String, live: bool },
}

/// A change that could not be applied for now (the server did not answer).
struct Retry(String);

/// Runs until `stop` turns true.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let settings = &shared.settings;
    let mut backoff = settings.reconnect_min;
    loop {
        let ended = stream_once(&shared, &mut stop).await;
        shared.health.set_connected(false);
        match ended {
            Ended::Stopped => return,
            Ended::Resync(reason) => {
                shared
                    .health
                    .error(format!("change stream: resync ({reason})"));
                if reload(&shared).await {
                    backoff = settings.reconnect_min;
                    continue;
                }
            }
            Ended::Failed { error, live } => {
                shared.health.error(format!("change stream: {error}"));
                if live {
                    backoff = settings.reconnect_min;
                }
            }
        }
        shared.health.reconnects.fetch_add(1, Ordering::Relaxed);
        if shared.health.stale_for() > settings.ttl {
            // Stale-while-revalidate: the stream is down for longer than the TTL.
            reload(&shared).await;
        }
        let pause = jitter(backoff);
        backoff = (backoff * 2).min(settings.reconnect_max);
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Between half and all of `d`, so that a fleet does not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d / 2 + d.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// Reloads the snapshot (verified) and replaces the cache. Returns whether it did.
async fn reload(shared: &Shared) -> bool {
    let trusted = shared.keys.read().trusted.clone();
    match snapshot::fetch(&shared.client, &trusted, &shared.settings).await {
        Ok(loaded) => {
            shared.cache.replace_all(loaded.prompts);
            {
                let mut keys = shared.keys.write();
                keys.ring = loaded.ring;
                keys.project = Some(loaded.project);
            }
            shared.health.seq.store(loaded.seq, Ordering::Relaxed);
            shared.health.reloads.fetch_add(1, Ordering::Relaxed);
            *shared.health.source.lock() = super::Source::Server;
            shared.health.confirm();
            true
        }
        Err(e) => {
            shared.health.error(format!("snapshot reload: {e}"));
            false
        }
    }
}

/// Opens the stream after the last applied change and applies its frames until it ends.
async fn stream_once(shared: &Shared, stop: &mut watch::Receiver<bool>) -> Ended {
    let settings = &shared.settings;
    let options = WatchOptions {
        env: Some(settings.env.clone()),
        prefix: settings.prefix.clone(),
        after: Some(shared.health.seq.load(Ordering::Relaxed)),
    };
    let stream = tokio::select! {
        _ = stop.changed() => return Ended::Stopped,
        r = shared.client.watch(&options) => r,
    };
    let mut stream = match stream {
        Ok(s) => s,
        Err(e) => return failed(&e, false),
    };
    // After `ready` the client ends a stream silent for twice the server's heartbeat; before
    // it, twice the configured heartbeat between frames bounds a replay that stalls.
    let silence = settings.heartbeat * 2;
    let mut live = false;
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => return Ended::Stopped,
            () = tokio::time::sleep(silence), if !live => {
                return Ended::Failed {
                    error: format!("nothing received for {silence:?} before the stream was ready: dead"),
                    live,
                };
            }
            frame = stream.next() => frame,
        };
        match frame {
            None => {
                return Ended::Failed {
                    error: "the server closed the stream".into(),
                    live,
                }
            }
            Some(Err(e)) => return failed(&e, live),
            Some(Ok(WatchEvent::Ready(ready))) => {
                advance(shared, ready.seq);
                live = true;
                shared.health.set_connected(true);
                shared.health.confirm();
            }
            Some(Ok(WatchEvent::Resync(resync))) => return Ended::Resync(resync.reason),
            Some(Ok(WatchEvent::Change(record))) => {
                if let Err(Retry(error)) = apply(shared, &record).await {
                    return Ended::Failed { error, live };
                }
                advance(shared, record.seq);
            }
        }
    }
}

fn failed(e: &ClientError, live: bool) -> Ended {
    Ended::Failed {
        error: crate::builder::error_chain(e),
        live,
    }
}

/// The cache reflects the log up to `seq`.
fn advance(shared: &Shared, seq: i64) {
    shared.health.seq.fetch_max(seq, Ordering::Relaxed);
}

/// Applies one change; `Err` when it must be retried after a reconnect.
async fn apply(shared: &Shared, record: &EventRecord) -> Result<(), Retry> {
    let settings = &shared.settings;
    let ours = |env: &promptreg_core::EnvName, name: &PromptName| {
        env == &settings.env
            && settings
                .prefix
                .as_deref()
                .is_none_or(|p| name.as_str().starts_with(p))
    };
    match &record.change {
        ChangeEvent::PointerMoved {
            env,
            name,
            seq,
            to_version,
            digest,
            ..
        } if ours(env, name) => {
            let entry = shared.cache.get(name.as_str());
            if entry.as_ref().is_some_and(|e| e.pointer_seq >= *seq) {
                return Ok(());
            }
            let cached = entry.and_then(|e| e.find(to_version.get(), digest.as_str()));
            let version = match cached {
                Some(v) => v,
                None => match fetch(shared, name, *to_version, digest.as_str()).await? {
                    Some(v) => v,
                    None => return Ok(()),
                },
            };
            if shared.cache.set_pointer(name.as_str(), *seq, version) {
                shared
                    .health
                    .changes_applied
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        ChangeEvent::RolloutChanged {
            env,
            name,
            rollout,
            revision,
            status,
            step,
            weight,
            strategy,
            switched,
            candidate_version,
            candidate_digest,
            ..
        } if ours(env, name) => {
            let Some(entry) = shared.cache.get(name.as_str()) else {
                return Ok(());
            };
            if !entry.rollout_is_newer(rollout, *revision) {
                return Ok(());
            }
            let state = if status.is_terminal() {
                None
            } else {
                let cached = entry.find(candidate_version.get(), candidate_digest.as_str());
                let candidate = match cached {
                    Some(v) => v,
                    None => {
                        match fetch(shared, name, *candidate_version, candidate_digest.as_str())
                            .await?
                        {
                            Some(v) => v,
                            None => return Ok(()),
                        }
                    }
                };
                Some(Rollout {
                    id: rollout.clone(),
                    weight: *weight,
                    step: *step,
                    preview: strategy == "blue_green" && !switched,
                    switched: *switched,
                    candidate,
                })
            };
            if shared
                .cache
                .set_rollout(name.as_str(), rollout, *revision, state)
            {
                shared
                    .health
                    .changes_applied
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Fetches and verifies a version a change announced. `Ok(None)`: refused (counted, the
/// previous value stays); `Err`: the server did not answer, retry after reconnecting.
async fn fetch(
    shared: &Shared,
    name: &PromptName,
    version: Version,
    digest: &str,
) -> Result<Option<Arc<CachedVersion>>, Retry> {
    let view = match shared.client.get_version(name, version).await {
        Ok(view) => view,
        Err(e) if e.status().is_none_or(|s| s >= 500) => {
            return Err(Retry(format!(
                "fetching version {version} of {name}: {}",
                crate::builder::error_chain(&e)
            )))
        }
        Err(e) => {
            shared.health.refuse(format!(
                "version {version} of {name}: the server answered {e}"
            ));
            return Ok(None);
        }
    };
    let keys = shared.keys.read();
    let checks = Checks {
        ring: &keys.ring,
        project: keys.project.as_deref(),
        env: shared.settings.env.as_str(),
        allow_unsigned: shared.settings.allow_unsigned,
    };
    match verify::version(&view, Some(digest), &checks) {
        Ok(v) if v.resolved.version == version => Ok(Some(v)),
        Ok(v) => {
            shared.health.refuse(format!(
                "asked for version {version} of {name}, received version {}",
                v.resolved.version
            ));
            Ok(None)
        }
        Err(reason) => {
            shared.health.refuse(reason);
            Ok(None)
        }
    }
}
