//! `promptreg lifecycle show|set` and `promptreg prune [--dry-run]`: the project's retention
//! rules, and pruning the versions they let go (admin).

use anyhow::Context as _;
use promptreg_api::{LifecycleView, PruneView, SetLifecycle};

use super::{Ctx, UsageError};
use crate::output::{fields, print_json, short_digest, table, time};

/// Arguments of `lifecycle`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: LifecycleCommand,
}

#[derive(Debug, clap::Subcommand)]
enum LifecycleCommand {
    /// Show the project's lifecycle rules.
    Show,
    /// Set the project's lifecycle rules (admin); the options not given are unset.
    Set(SetArgs),
}

/// Arguments of `lifecycle set`.
#[derive(Debug, clap::Args)]
struct SetArgs {
    /// Keep the newest N versions of every prompt (at least 1; unset: 1).
    #[arg(long, value_name = "N")]
    keep_last: Option<u32>,
    /// Keep a version created or live within this age (`30d`, `12h`).
    #[arg(long, value_name = "AGE")]
    prune_unused_after: Option<String>,
    /// Remove every rule (nothing is pruned).
    #[arg(long, conflicts_with_all = ["keep_last", "prune_unused_after"])]
    clear: bool,
}

/// Arguments of `prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Only list what would be pruned (and what is held), with the reason; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `lifecycle`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let view = match args.command {
        LifecycleCommand::Show => ctx
            .client
            .lifecycle()
            .await
            .context("reading the lifecycle rules")?,
        LifecycleCommand::Set(set) => {
            if !set.clear && set.keep_last.is_none() && set.prune_unused_after.is_none() {
                return Err(UsageError(
                    "lifecycle set: give --keep-last, --prune-unused-after, or --clear".into(),
                )
                .into());
            }
            let body = SetLifecycle {
                keep_last: set.keep_last,
                prune_unused_after: set.prune_unused_after,
            };
            ctx.client
                .set_lifecycle(&body)
                .await
                .context("setting the lifecycle rules")?
        }
    };
    if ctx.json() {
        return print_json(&view);
    }
    show(&view)
}

fn show(view: &LifecycleView) -> anyhow::Result<()> {
    if view.keep_last.is_none() && view.prune_unused_after.is_none() {
        return outln!("no lifecycle rules: nothing is pruned");
    }
    let unset = || "-".to_owned();
    out!(
        "{}",
        fields(&[
            (
                "keep_last",
                view.keep_last.map_or_else(unset, |n| n.to_string())
            ),
            (
                "prune_unused_after",
                view.prune_unused_after.clone().unwrap_or_else(unset)
            ),
            ("updated_by", view.updated_by.clone().unwrap_or_else(unset)),
            (
                "updated_at",
                view.updated_at.as_ref().map_or_else(unset, time)
            ),
        ])
    )
}

/// Runs `prune`.
pub async fn prune(args: PruneArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let done = ctx.client.prune(args.dry_run).await.context("pruning")?;
    if ctx.json() {
        return print_json(&done);
    }
    print_prune(&done)
}

fn print_prune(done: &PruneView) -> anyhow::Result<()> {
    if done.keep_last.is_none() && done.prune_unused_after.is_none() {
        return outln!("no lifecycle rules: nothing to prune (see `promptreg lifecycle set`)");
    }
    let verb = if done.dry_run {
        "would prune"
    } else {
        "pruned"
    };
    if done.pruned.is_empty() {
        outln!("nothing to prune")?;
    } else {
        let rows: Vec<Vec<String>> = done
            .pruned
            .iter()
            .map(|p| {
                vec![
                    p.name.to_string(),
                    format!("v{}", p.version),
                    short_digest(&p.digest),
                    p.reason.clone(),
                ]
            })
            .collect();
        out!(
            "{}",
            table(&["PROMPT", "VERSION", "DIGEST", "REASON"], &rows)
        )?;
    }
    if !done.held.is_empty() {
        let rows: Vec<Vec<String>> = done
            .held
            .iter()
            .map(|h| {
                vec![
                    h.name.to_string(),
                    format!("v{}", h.version),
                    h.holds.join("; "),
                ]
            })
            .collect();
        outln!("held (the rules would let them go):")?;
        out!("{}", table(&["PROMPT", "VERSION", "HELD BECAUSE"], &rows))?;
    }
    errln!(
        "{verb} {} version(s), {} held",
        done.pruned.len(),
        done.held.len()
    );
    if done.dry_run && !done.pruned.is_empty() {
        errln!("nothing was changed: run `promptreg prune` without --dry-run to prune");
    }
    Ok(())
}
