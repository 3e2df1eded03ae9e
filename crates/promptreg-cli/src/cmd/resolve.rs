//! `promptreg resolve <NAME> [--env ENV] [--subject S]`: what an agent gets.

use anyhow::Context as _;
use promptreg_core::{EnvName, PromptName};

use super::{body_text, Ctx};
use crate::output::{compact, fields, model, print_json};

/// Arguments of `resolve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name.
    name: PromptName,
    /// Environment.
    #[arg(long, default_value = "production")]
    env: EnvName,
    /// Stickiness key for progressive rollouts (agent, session or tenant id).
    #[arg(long)]
    subject: Option<String>,
}

/// Runs `resolve`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let resolved = ctx
        .client
        .resolve(&args.name, Some(&args.env), args.subject.as_deref())
        .await
        .with_context(|| format!("resolving {} in {}", args.name, args.env))?;
    if ctx.json() {
        return print_json(&resolved);
    }
    out!(
        "{}",
        fields(&[
            ("name", resolved.name.clone()),
            ("env", resolved.env.clone()),
            ("version", resolved.version.to_string()),
            ("digest", resolved.digest.clone()),
            ("type", resolved.prompt_type.as_str().to_owned()),
            ("model", model(resolved.model.as_ref())),
            ("variables", compact(resolved.variables.as_ref())),
        ])
    )?;
    outln!()?;
    outln!(
        "{}",
        body_text(resolved.template.as_deref(), resolved.messages.as_deref())
    )?;
    Ok(())
}
