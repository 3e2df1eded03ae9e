//! `promptreg rollout start|status|list|promote|pause|resume|abort|skip-analysis`: progressive
//! delivery of a prompt version (`docs/api.md`, "Rollouts").
//!
//! - `steps`: the `--canary` step syntax and the JSON files `start` reads.
//! - `show`: how a rollout reads on a terminal (steps drawn, weight, arms, analysis).
//! - `watch`: `status --watch`, redrawn on a terminal, one line per change otherwise.

mod show;
mod steps;
mod watch;

use std::path::PathBuf;

use anyhow::Context as _;
use promptreg_api::{RolloutView, StartRollout};
use promptreg_client::ClientError;
use promptreg_core::analysis::parse_duration;
use promptreg_core::{EnvName, PromptName, Version};
use serde_json::{json, Map, Value};

use super::{print_page, Ctx, PageArgs, UsageError};
use crate::output::{print_json, time};

/// Arguments of `rollout`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RolloutCommand {
    /// Start rolling a version out from the one live in an environment.
    Start(StartArgs),
    /// Show a rollout: status, steps, weight, per-arm figures, analysis results.
    Status(StatusArgs),
    /// List rollouts, newest first: a prompt's in one environment, or the project's.
    List(ListArgs),
    /// Complete the current step (`--full`: make the candidate live now).
    Promote(PromoteArgs),
    /// Pause where it is (the current weight keeps being served).
    Pause(CommandArgs),
    /// Resume a paused rollout (at a pause step or an approval, completes it).
    Resume(CommandArgs),
    /// Abort: the stable version serves everyone again.
    Abort(CommandArgs),
    /// Stop analysing this rollout (admin; recorded).
    SkipAnalysis(CommandArgs),
}

/// Arguments of `rollout start`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("strategy").required(true).args(["canary", "steps_file", "blue_green", "immediate"]))]
struct StartArgs {
    /// Prompt name.
    name: PromptName,
    /// Environment whose live version is the stable one.
    #[arg(long)]
    env: EnvName,
    /// The version to roll out.
    #[arg(long)]
    candidate: Version,
    /// An approved change request for this environment, prompt and candidate: required in a
    /// protected environment (starting the rollout applies it).
    #[arg(long)]
    change_request: Option<String>,
    /// Canary steps, comma-separated: `500` or `5%` sets the weight (in 1/10,000 or percent),
    /// `60s`/`5m` pauses that long, `pause` waits for `resume`, `approval` for `promote`.
    /// E.g. "5%,60s,25%,pause,100%".
    #[arg(long, value_name = "STEPS")]
    canary: Option<String>,
    /// Canary steps from a JSON file: an array of the API's step objects (analysis steps too),
    /// or {"steps": [...]}.
    #[arg(long, value_name = "FILE")]
    steps_file: Option<PathBuf>,
    /// Blue-green: the candidate is served on the preview track, then switched to at once.
    #[arg(long)]
    blue_green: bool,
    /// Blue-green: switch without a person this long after the start (or after the
    /// pre-promotion analysis passes), e.g. 30s.
    #[arg(long, value_name = "DURATION", requires = "blue_green", value_parser = duration)]
    auto_promote_after: Option<String>,
    /// Blue-green: how long after the switch the rollout can still switch back (default 60s).
    #[arg(long, value_name = "DURATION", requires = "blue_green", value_parser = duration)]
    window: Option<String>,
    /// Blue-green: analysis of the preview before the switch, from a JSON file.
    #[arg(long, value_name = "FILE", requires = "blue_green")]
    pre_analysis_file: Option<PathBuf>,
    /// Blue-green: analysis after the switch (failing switches back), from a JSON file.
    #[arg(long, value_name = "FILE", requires = "blue_green")]
    post_analysis_file: Option<PathBuf>,
    /// Deploy at once, recorded as a rollout.
    #[arg(long)]
    immediate: bool,
    /// Background analysis through the whole rollout, from a JSON file (`docs/api.md`).
    #[arg(long, value_name = "FILE")]
    analysis_file: Option<PathBuf>,
    /// Why (recorded with the rollout).
    #[arg(long)]
    reason: Option<String>,
}

/// Checks a duration where it is typed, so the error names the flag.
fn duration(text: &str) -> Result<String, String> {
    parse_duration(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

/// Arguments of `rollout status`.
#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// A rollout id; with `--env`, a prompt name (its rollout in progress there).
    target: String,
    /// Read the rollout in progress for the prompt TARGET in this environment.
    #[arg(long)]
    env: Option<EnvName>,
    /// Redraw every second until the rollout ends (one line per change when stdout is not a
    /// terminal); Ctrl-C stops watching.
    #[arg(long)]
    watch: bool,
}

/// Arguments of `rollout list`.
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only this prompt's rollouts (with `--env`).
    #[arg(requires = "env")]
    name: Option<PromptName>,
    /// The environment of NAME.
    #[arg(long, requires = "name")]
    env: Option<EnvName>,
    /// Only rollouts in this state (progressing, paused, promoted, aborted, rolled_back); not
    /// with NAME.
    #[arg(long, conflicts_with = "name")]
    status: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

/// Arguments of `rollout promote`.
#[derive(Debug, clap::Args)]
struct PromoteArgs {
    /// Rollout id.
    id: String,
    /// Make the candidate live now, skipping every remaining step.
    #[arg(long)]
    full: bool,
    /// Why (recorded with the actor).
    #[arg(long)]
    reason: Option<String>,
}

/// Arguments of `rollout pause|resume|abort|skip-analysis`.
#[derive(Debug, clap::Args)]
struct CommandArgs {
    /// Rollout id.
    id: String,
    /// Why (recorded with the actor).
    #[arg(long)]
    reason: Option<String>,
}

/// Runs `rollout`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let client = &ctx.client;
    match args.command {
        RolloutCommand::Start(args) => start(args, ctx).await,
        RolloutCommand::Status(args) => status(args, ctx).await,
        RolloutCommand::List(args) => list(args, ctx).await,
        RolloutCommand::Promote(a) => {
            let view = client.promote(&a.id, a.full, a.reason.as_deref()).await;
            acted(
                ctx,
                view.with_context(|| format!("promoting rollout {}", a.id))?,
            )
        }
        RolloutCommand::Pause(a) => {
            let view = client.pause(&a.id, a.reason.as_deref()).await;
            acted(
                ctx,
                view.with_context(|| format!("pausing rollout {}", a.id))?,
            )
        }
        RolloutCommand::Resume(a) => {
            let view = client.resume(&a.id, a.reason.as_deref()).await;
            acted(
                ctx,
                view.with_context(|| format!("resuming rollout {}", a.id))?,
            )
        }
        RolloutCommand::Abort(a) => {
            let view = client.abort(&a.id, a.reason.as_deref()).await;
            acted(
                ctx,
                view.with_context(|| format!("aborting rollout {}", a.id))?,
            )
        }
        RolloutCommand::SkipAnalysis(a) => {
            let view = client.skip_analysis(&a.id, a.reason.as_deref()).await;
            acted(
                ctx,
                view.with_context(|| format!("skipping analysis of rollout {}", a.id))?,
            )
        }
    }
}

/// What a command prints after the server acted: the rollout (JSON) or its summary line.
fn acted(ctx: &Ctx, view: RolloutView) -> anyhow::Result<()> {
    if ctx.json() {
        return print_json(&view);
    }
    outln!("{}", show::summary_line(&view))
}

/// The `strategy` object of `start`, from whichever flag chose it.
fn strategy(args: &StartArgs) -> anyhow::Result<Value> {
    if let Some(text) = &args.canary {
        return Ok(json!({"canary": {"steps": steps::parse_canary(text)?}}));
    }
    if let Some(path) = &args.steps_file {
        return Ok(json!({"canary": {"steps": steps::steps_from_file(path)?}}));
    }
    if args.blue_green {
        let mut bg = Map::new();
        if let Some(d) = &args.auto_promote_after {
            bg.insert("auto_promote_after".into(), d.clone().into());
        }
        if let Some(d) = &args.window {
            bg.insert("post_promotion_window".into(), d.clone().into());
        }
        if let Some(path) = &args.pre_analysis_file {
            bg.insert(
                "pre_promotion_analysis".into(),
                steps::read_json(path, "analysis")?,
            );
        }
        if let Some(path) = &args.post_analysis_file {
            bg.insert(
                "post_promotion_analysis".into(),
                steps::read_json(path, "analysis")?,
            );
        }
        return Ok(json!({ "blue_green": bg }));
    }
    if args.immediate {
        return Ok(json!({"immediate": {}}));
    }
    // clap's required group makes this unreachable; say so rather than panic.
    Err(
        UsageError("choose a strategy: --canary, --steps-file, --blue-green or --immediate".into())
            .into(),
    )
}

async fn start(args: StartArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let body = StartRollout {
        candidate: args.candidate,
        reason: args.reason.clone(),
        strategy: strategy(&args)?,
        analysis: args
            .analysis_file
            .as_deref()
            .map(|p| steps::read_json(p, "analysis"))
            .transpose()?,
        change_request: args.change_request.clone(),
    };
    let view = ctx
        .client
        .start_rollout(&args.env, &args.name, &body)
        .await
        .with_context(|| {
            format!(
                "starting a rollout of {} v{} in {}",
                args.name, args.candidate, args.env
            )
        })?;
    if ctx.json() {
        return print_json(&view);
    }
    outln!(
        "started rollout {}: {} v{} → v{} in {} ({}{})",
        view.id,
        view.name,
        view.stable_version,
        view.candidate_version,
        view.env,
        view.strategy_name,
        if view.steps_total > 0 {
            format!(", {} steps", view.steps_total)
        } else {
            String::new()
        }
    )?;
    outln!("watch it: promptreg rollout status {} --watch", view.id)
}

/// Finds the rollout `status` is about: by id, or the pointer's rollout in progress.
async fn target(args: &StatusArgs, ctx: &Ctx) -> anyhow::Result<RolloutView> {
    match &args.env {
        None => ctx
            .client
            .rollout(&args.target)
            .await
            .with_context(|| format!("reading rollout {}", args.target)),
        Some(env) => {
            let name = PromptName::parse(&args.target)
                .map_err(|e| UsageError(format!("NAME `{}`: {e}", args.target)))?;
            let current = ctx.client.current_rollout(env, &name).await;
            // None is the server's 404 `no_active_rollout`: reported as that refusal.
            let current = current.and_then(|view| {
                view.ok_or_else(|| ClientError::Api {
                    status: 404,
                    code: "no_active_rollout".into(),
                    message: format!(
                        "prompt '{name}' has no rollout in progress in environment '{env}'"
                    ),
                })
            });
            current.with_context(|| format!("reading the rollout of {name} in {env}"))
        }
    }
}

async fn status(args: StatusArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let view = target(&args, ctx).await?;
    if args.watch {
        return watch::watch(ctx, view).await;
    }
    if ctx.json() {
        return print_json(&view);
    }
    out!("{}", show::render(&view))
}

async fn list(args: ListArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let page = match (&args.name, &args.env) {
        (Some(name), Some(env)) => args
            .page
            .fetch(|p| ctx.client.rollouts(env, name, p))
            .await
            .with_context(|| format!("listing the rollouts of {name} in {env}"))?,
        _ => args
            .page
            .fetch(|p| ctx.client.all_rollouts(args.status.as_deref(), p))
            .await
            .context("listing rollouts")?,
    };
    print_page(
        ctx,
        &page,
        &[
            "ID", "PROMPT", "ENV", "VERSIONS", "STRATEGY", "STATUS", "WEIGHT", "STARTED",
        ],
        |r| {
            vec![
                r.id.clone(),
                r.name.clone(),
                r.env.clone(),
                format!("v{}→v{}", r.stable_version, r.candidate_version),
                r.strategy_name.clone(),
                show::status(r),
                show::percent(r.weight),
                time(&r.created_at),
            ]
        },
        "no rollouts",
    )
}
