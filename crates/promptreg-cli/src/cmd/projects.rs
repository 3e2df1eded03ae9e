//! `promptreg projects create|list`: projects (tenants). Creating one takes a server
//! administrator's token (the bootstrap admin token is one); anyone lists what they may see.

use anyhow::Context as _;
use promptreg_api::CreateProject;

use super::Ctx;
use crate::output::{print_json, time};

/// Arguments of `projects`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ProjectCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProjectCommand {
    /// Create a project; it starts with development, staging and production.
    Create(CreateArgs),
    /// List projects (a server administrator sees all; anyone else their own).
    List,
}

/// Arguments of `projects create`.
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// The project id: 1-63 characters of a-z, 0-9, `.`, `_`, `-` (starting with a letter or
    /// digit), e.g. payments.
    id: String,
    /// What it is for.
    #[arg(long)]
    description: Option<String>,
}

/// Runs `projects`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        ProjectCommand::Create(args) => {
            let project = ctx
                .client
                .create_project(&CreateProject {
                    id: args.id.clone(),
                    description: args.description,
                })
                .await
                .with_context(|| format!("creating project {}", args.id))?;
            if ctx.json() {
                return print_json(&project);
            }
            outln!(
                "created project {} (environments development, staging, production)",
                project.id
            )?;
            Ok(())
        }
        ProjectCommand::List => {
            let page = ctx
                .client
                .list_projects()
                .await
                .context("listing projects")?;
            super::print_page(
                ctx,
                &page,
                &["ID", "DESCRIPTION", "CREATED", "BY"],
                |p| {
                    vec![
                        p.id.clone(),
                        p.description.clone().unwrap_or_default(),
                        time(&p.created_at),
                        p.created_by.clone(),
                    ]
                },
                "no projects",
            )
        }
    }
}
