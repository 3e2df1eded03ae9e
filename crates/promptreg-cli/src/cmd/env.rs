//! `promptreg env create|list`: environments.

use anyhow::Context as _;
use promptreg_api::CreateEnvironment;
use promptreg_core::EnvName;

use super::{print_page, Ctx, PageArgs};
use crate::output::{fields, print_json, time};

/// Arguments of `env`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: EnvCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EnvCommand {
    /// Create an environment (admin).
    Create(CreateArgs),
    /// List environments.
    List(ListArgs),
}

/// Arguments of `env create`.
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// Name, e.g. production.
    name: EnvName,
    /// Mark the environment as protected.
    #[arg(long)]
    protected: bool,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
}

/// Arguments of `env list`.
#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    page: PageArgs,
}

/// Runs `env`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        EnvCommand::Create(args) => {
            let body = CreateEnvironment {
                name: args.name.to_string(),
                protected: args.protected,
                description: args.description,
                approvals_required: None,
            };
            let env = ctx
                .client
                .create_environment(&body)
                .await
                .with_context(|| format!("creating environment {}", args.name))?;
            if ctx.json() {
                return print_json(&env);
            }
            outln!("created environment {}", env.name)?;
            out!(
                "{}",
                fields(&[
                    ("protected", env.protected.to_string()),
                    ("description", env.description.clone().unwrap_or_default()),
                    ("created_by", env.created_by.clone()),
                    ("created_at", time(&env.created_at)),
                ])
            )?;
            Ok(())
        }
        EnvCommand::List(args) => {
            let page = args
                .page
                .fetch(|p| ctx.client.list_environments(p))
                .await
                .context("listing environments")?;
            print_page(
                ctx,
                &page,
                &["NAME", "PROTECTED", "CREATED", "BY", "DESCRIPTION"],
                |e| {
                    vec![
                        e.name.clone(),
                        if e.protected { "yes" } else { "no" }.to_owned(),
                        time(&e.created_at),
                        e.created_by.clone(),
                        e.description.clone().unwrap_or_default(),
                    ]
                },
                "no environments",
            )
        }
    }
}
