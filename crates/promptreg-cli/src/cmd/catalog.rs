//! `promptreg catalog --env ENV`: every prompt live in an environment.

use anyhow::Context as _;
use promptreg_core::EnvName;

use super::{print_page, Ctx, PageArgs};
use crate::output::time;

/// Arguments of `catalog`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment.
    #[arg(long, default_value = "production")]
    env: EnvName,
    #[command(flatten)]
    page: PageArgs,
}

/// Runs `catalog`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let page = args
        .page
        .fetch(|p| ctx.client.catalog(&args.env, p))
        .await
        .with_context(|| format!("reading the catalog of {}", args.env))?;
    print_page(
        ctx,
        &page,
        &["NAME", "VERSION", "DIGEST", "DEPLOYED"],
        |e| {
            vec![
                e.name.clone(),
                format!("v{}", e.version),
                e.digest.clone(),
                time(&e.deployed_at),
            ]
        },
        "nothing deployed",
    )
}
