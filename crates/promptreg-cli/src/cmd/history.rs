//! `promptreg history <NAME> --env ENV`: every move of the pointer, newest first.

use anyhow::Context as _;
use promptreg_core::{EnvName, PromptName};

use super::{print_page, Ctx, PageArgs};
use crate::output::time;

/// Arguments of `history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name.
    name: PromptName,
    /// Environment.
    #[arg(long)]
    env: EnvName,
    #[command(flatten)]
    page: PageArgs,
}

/// Runs `history`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let page = args
        .page
        .fetch(|p| ctx.client.history(&args.env, &args.name, p))
        .await
        .with_context(|| format!("reading the history of {} in {}", args.name, args.env))?;
    print_page(
        ctx,
        &page,
        &["SEQ", "KIND", "FROM", "TO", "AT", "ACTOR", "REASON"],
        |d| {
            vec![
                d.seq.to_string(),
                d.kind.as_str().to_owned(),
                d.from_version
                    .map_or_else(|| "-".to_owned(), |v| format!("v{v}")),
                format!("v{}", d.to_version),
                time(&d.at),
                d.actor.clone(),
                d.reason.clone().unwrap_or_default(),
            ]
        },
        "no deployments",
    )
}
