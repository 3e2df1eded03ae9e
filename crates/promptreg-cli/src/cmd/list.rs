//! `promptreg list [--prefix P] [--tag T]`: prompts with their latest version and where they
//! are deployed.

use anyhow::Context as _;
use promptreg_client::PromptFilter;

use super::{print_page, Ctx, PageArgs};
use crate::output::time;

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only names starting with this (e.g. a folder: support/).
    #[arg(long)]
    prefix: Option<String>,
    /// Only prompts whose latest version has this tag.
    #[arg(long)]
    tag: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

/// Runs `list`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let filter = PromptFilter {
        prefix: args.prefix,
        tag: args.tag,
    };
    let page = args
        .page
        .fetch(|p| ctx.client.list_prompts(&filter, p))
        .await
        .context("listing prompts")?;
    print_page(
        ctx,
        &page,
        &["NAME", "LATEST", "TYPE", "UPDATED", "TAGS", "DEPLOYED"],
        |p| {
            vec![
                p.name.to_string(),
                format!("v{}", p.latest_version),
                p.prompt_type.as_str().to_owned(),
                time(&p.updated_at),
                p.tags.join(","),
                p.environments
                    .iter()
                    .map(|d| format!("{}=v{}", d.env, d.version))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        },
        "no prompts",
    )
}
