//! `promptreg list [--prefix P] [--tag T]`: prompts with their latest version and where they
//! are deployed; `promptreg list --validated S [--env E]`: the prompts validated by suite S
//! (and not yet served in E), each with its validated version.

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
    /// Only prompts with a version whose newest result for this suite passed.
    #[arg(long, conflicts_with_all = ["prefix", "tag"])]
    validated: Option<String>,
    /// With --validated: only prompts whose validated version this environment does not
    /// serve (the candidates to promote there).
    #[arg(long, requires = "validated")]
    env: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

/// Runs `list`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let filter = PromptFilter {
        prefix: args.prefix,
        tag: args.tag,
        validated: args.validated,
        env: args.env,
    };
    if filter.validated.is_some() {
        let page = args
            .page
            .fetch(|p| ctx.client.list_prompts(&filter, p))
            .await
            .context("listing validated prompts")?;
        return print_page(
            ctx,
            &page,
            &[
                "NAME",
                "VALIDATED",
                "DIGEST",
                "ATTACHED",
                "SERVES",
                "LATEST",
            ],
            |p| {
                let v = p.validated.as_ref();
                vec![
                    p.name.to_string(),
                    v.map(|v| format!("v{}", v.version)).unwrap_or_default(),
                    v.map(|v| v.digest.clone()).unwrap_or_default(),
                    v.map(|v| time(&v.attached_at)).unwrap_or_default(),
                    v.and_then(|v| {
                        v.env.as_ref().map(|e| match v.env_version {
                            Some(n) => format!("{e}=v{n}"),
                            None => format!("{e}=-"),
                        })
                    })
                    .unwrap_or_default(),
                    format!("v{}", p.latest_version),
                ]
            },
            "no validated prompts",
        );
    }
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
