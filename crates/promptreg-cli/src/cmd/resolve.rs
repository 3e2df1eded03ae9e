//! `promptreg resolve <NAME> [--env ENV] [--subject S | --preview]`: what an agent gets, and
//! during a rollout which arm it is (`assignment`).

use anyhow::Context as _;
use promptreg_api::Assignment;
use promptreg_client::{ResolveOptions, Track};
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
    /// The rollout arm this id gets is printed as `assignment`.
    #[arg(long)]
    subject: Option<String>,
    /// The preview track: a blue-green rollout's candidate before the switch.
    #[arg(long, conflicts_with = "subject")]
    preview: bool,
}

/// Runs `resolve`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let resolved = ctx
        .client
        .resolve_with(
            &args.name,
            &ResolveOptions {
                env: Some(&args.env),
                subject: args.subject.as_deref(),
                track: args.preview.then_some(Track::Preview),
            },
        )
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
            ("assignment", assignment(resolved.assignment.as_ref())),
        ])
    )?;
    outln!()?;
    outln!(
        "{}",
        body_text(resolved.template.as_deref(), resolved.messages.as_deref())
    )?;
    Ok(())
}

/// `candidate arm of rollout <id> (bucket 1234, step 2)`; empty outside a rollout.
fn assignment(a: Option<&Assignment>) -> String {
    let Some(a) = a else {
        return String::new();
    };
    let bucket = a
        .bucket
        .map_or_else(String::new, |b| format!("bucket {b}, "));
    format!(
        "{} arm of rollout {} ({bucket}step {})",
        a.arm,
        a.rollout,
        a.step + 1
    )
}
