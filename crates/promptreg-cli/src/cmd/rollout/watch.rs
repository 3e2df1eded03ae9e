//! `rollout status --watch`: follows a rollout until it ends.
//!
//! On a terminal the whole picture is redrawn every second (cursor home, clear screen). When
//! stdout is not a terminal (a pipe, a CI log) redrawing would fill the log with copies, so one
//! line is printed per change of status, step, weight or switch: the summary line as text, the
//! rollout as one line of JSON with `--output json`. Ctrl-C stops watching and exits 0 (the
//! rollout goes on without us). The exit code otherwise says how the rollout ended: 0 promoted,
//! 1 aborted or rolled back, so `promptreg rollout status ID --watch && next-step` works.

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Context as _;
use promptreg_api::RolloutView;

use super::show;
use crate::cmd::Ctx;

/// How often the rollout is read again.
const EVERY: Duration = Duration::from_secs(1);

/// What counts as a change worth a line.
fn key(view: &RolloutView) -> (String, Option<String>, u32, u32, bool) {
    (
        view.status.clone(),
        view.paused_reason.clone(),
        view.step,
        view.weight,
        view.switched,
    )
}

/// Watches `view`'s rollout until it ends or Ctrl-C.
pub async fn watch(ctx: &Ctx, mut view: RolloutView) -> anyhow::Result<()> {
    let redraw = std::io::stdout().is_terminal() && !ctx.json();
    let mut last = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if redraw {
            out!("\x1b[H\x1b[2J{}", show::render(&view))?;
            if !show::finished(&view) {
                outln!("\nwatching; Ctrl-C to stop")?;
            }
        } else if last.as_ref() != Some(&key(&view)) {
            if ctx.json() {
                outln!("{}", serde_json::to_string(&view)?)?;
            } else {
                outln!("{}", show::summary_line(&view))?;
            }
            last = Some(key(&view));
        }
        if show::finished(&view) {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = &mut ctrl_c => return Ok(()),
        }
        view = ctx
            .client
            .rollout(&view.id)
            .await
            .with_context(|| format!("watching rollout {}", view.id))?;
    }
    match view.status.as_str() {
        "promoted" => Ok(()),
        other => Err(anyhow::anyhow!("rollout {} ended {other}", view.id)),
    }
}
