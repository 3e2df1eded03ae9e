//! `promptreg versions <NAME> [--tag T] [--agent-type A]`: a prompt's versions, newest first
//! (a pruned one marked `(pruned)`).

use anyhow::Context as _;
use promptreg_client::VersionFilter;
use promptreg_core::PromptName;

use super::{print_page, Ctx, PageArgs};
use crate::output::{short_digest, time};

/// Arguments of `versions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name.
    name: PromptName,
    /// Only versions with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Only versions compatible with this agent type.
    #[arg(long)]
    agent_type: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

/// Runs `versions`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let filter = VersionFilter {
        tag: args.tag,
        agent_type: args.agent_type,
    };
    let page = args
        .page
        .fetch(|p| ctx.client.list_versions(&args.name, &filter, p))
        .await
        .with_context(|| format!("listing the versions of {}", args.name))?;
    print_page(
        ctx,
        &page,
        &["VERSION", "DIGEST", "CREATED", "BY", "MESSAGE"],
        |v| {
            vec![
                match v.pruned_at {
                    // A tombstone: the content is gone, the row stays.
                    Some(_) => format!("v{} (pruned)", v.version),
                    None => format!("v{}", v.version),
                },
                short_digest(&v.digest),
                time(&v.created_at),
                v.created_by.clone(),
                v.commit_message.clone().unwrap_or_default(),
            ]
        },
        "no versions",
    )
}
