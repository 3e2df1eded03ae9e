//! `promptreg watch [--env E] [--prefix P] [--after SEQ]`: prints each change of the project
//! as it is committed (`GET /v1/watch`), one line per change; `--output json` prints each
//! event record as one JSON line. A dropped connection is resumed from the last change seen
//! (`Last-Event-ID`), so nothing is skipped or printed twice; Ctrl-C or a closed stdout ends
//! it with status 0.

use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use promptreg_client::ClientError;
use promptreg_client::{WatchEvent, WatchOptions};
use promptreg_core::{ChangeEvent, EnvName, EventRecord};

use super::{Ctx, UsageError};
use crate::output::time;

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only changes in this environment (version creations, in no environment, are shown
    /// too).
    #[arg(long)]
    env: Option<EnvName>,
    /// Only prompts whose name starts with this.
    #[arg(long)]
    prefix: Option<String>,
    /// First replay every change after this log position (the `seq` of a change already
    /// seen, or of a snapshot).
    #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(i64).range(0..))]
    after: Option<i64>,
}

/// The longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How a stream ended.
enum Ended {
    /// The reader is gone (stdout closed): stop.
    Stop,
    /// The connection dropped or the server asked to reconnect.
    Reconnect,
}

/// Runs `watch` until Ctrl-C or a closed stdout.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let mut options = WatchOptions {
        env: args.env,
        prefix: args.prefix,
        after: args.after,
    };
    tokio::select! {
        done = watch_loop(ctx, &mut options) => done,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Watches, reconnecting after the last change seen, until the reader is gone or the
/// server refuses for good.
async fn watch_loop(ctx: &Ctx, options: &mut WatchOptions) -> anyhow::Result<()> {
    // The first connection's refusal (unknown environment, bad token, no server) is the
    // command's error; later ones are retried.
    let mut stream = ctx
        .client
        .watch(options)
        .await
        .context("opening the change stream")?;
    let mut backoff = Duration::from_millis(250);
    loop {
        match follow(ctx, &mut stream, options).await? {
            Ended::Stop => return Ok(()),
            Ended::Reconnect => {}
        }
        loop {
            tokio::time::sleep(backoff).await;
            match ctx.client.watch(options).await {
                Ok(s) => {
                    stream = s;
                    backoff = Duration::from_millis(250);
                    break;
                }
                // Refused for good (the environment was deleted, the token revoked).
                Err(e @ ClientError::Api { status, .. }) if status < 500 && status != 429 => {
                    return Err(anyhow::Error::from(e).context("reopening the change stream"));
                }
                Err(e) => {
                    errln!("promptreg: change stream: cannot reconnect ({e}); retrying");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Prints the frames of one connection; `options.after` follows what was seen.
async fn follow(
    ctx: &Ctx,
    stream: &mut promptreg_client::WatchStream,
    options: &mut WatchOptions,
) -> anyhow::Result<Ended> {
    while let Some(frame) = stream.next().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                errln!("promptreg: change stream interrupted ({e}); reconnecting");
                return Ok(Ended::Reconnect);
            }
        };
        match frame {
            WatchEvent::Change(record) => {
                options.after = Some(record.seq);
                if ctx.json() {
                    outln!("{}", serde_json::to_string(&*record)?)?;
                } else {
                    outln!("{}", line(&record))?;
                }
                if crate::output::stdout_closed() {
                    return Ok(Ended::Stop);
                }
            }
            WatchEvent::Ready(ready) => {
                options.after = Some(ready.seq);
            }
            WatchEvent::Resync(resync) => {
                if resync.reason == "too_far_behind" {
                    return Err(UsageError(format!(
                        "--after {}: the server no longer replays that far back; watch without \
                         --after (or from a snapshot's seq)",
                        resync.seq
                    ))
                    .into());
                }
                // `lagged`: the replay from our last position fills what was dropped;
                // `shutdown` and others: reconnect (to another replica, or when it is back).
                options.after = Some(resync.seq.max(options.after.unwrap_or(0)));
                errln!(
                    "promptreg: change stream: server asked to resync ({}); reconnecting",
                    resync.reason
                );
                return Ok(Ended::Reconnect);
            }
        }
    }
    errln!("promptreg: change stream closed by the server; reconnecting");
    Ok(Ended::Reconnect)
}

/// `time  kind  name  env  from->to  actor` for one change.
fn line(record: &EventRecord) -> String {
    let at = time(&record.at);
    let actor = &record.actor;
    match &record.change {
        ChangeEvent::VersionCreated { name, version, .. } => {
            format!("{at}  version_created  {name}  -  v{version}  {actor}")
        }
        ChangeEvent::PointerMoved {
            env,
            name,
            from_version,
            to_version,
            kind,
            ..
        } => {
            let from = from_version.map_or("-".to_owned(), |v| format!("v{v}"));
            format!(
                "{at}  pointer_moved ({})  {name}  {env}  {from}->v{to_version}  {actor}",
                kind.as_str()
            )
        }
        ChangeEvent::RolloutChanged {
            env,
            name,
            action,
            status,
            weight,
            stable_version,
            candidate_version,
            ..
        } => format!(
            "{at}  rollout_changed ({} -> {}, {}.{:02}%)  {name}  {env}  v{stable_version}->v{candidate_version}  {actor}",
            action.as_str(),
            status.as_str(),
            weight / 100,
            weight % 100
        ),
        other => format!("{at}  {}  {actor}", other.kind()),
    }
}
