//! `promptreg deploy <NAME> <VERSION> --env ENV [--reason R] [--break-glass]`: moves an
//! environment's pointer (into a protected environment only as an admin's break-glass; the
//! normal way there is `promptreg request` and `promptreg apply`).

use anyhow::Context as _;
use promptreg_api::DeployRequest;
use promptreg_core::{EnvName, PromptName, Version};

use super::Ctx;
use crate::output::print_json;

/// Arguments of `deploy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name.
    name: PromptName,
    /// The version to make live.
    version: Version,
    /// Target environment.
    #[arg(long)]
    env: EnvName,
    /// Why (kept in the deployment history; required with --break-glass).
    #[arg(long)]
    reason: Option<String>,
    /// Admins only: deploy into a protected environment without an approved change request
    /// (flagged in the history, the event log and metrics). Needs --reason.
    #[arg(long, requires = "reason")]
    break_glass: bool,
}

/// Runs `deploy`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let body = DeployRequest {
        version: args.version,
        reason: args.reason,
        break_glass: args.break_glass,
    };
    let record = ctx
        .client
        .deploy(&args.env, &args.name, &body)
        .await
        .with_context(|| format!("deploying {} v{} to {}", args.name, args.version, args.env))?;
    if ctx.json() {
        return print_json(&record);
    }
    if record.changed == Some(false) {
        outln!(
            "{} v{} is already live in {}; nothing recorded",
            record.name,
            record.to_version,
            record.env
        )?;
    } else {
        if record.approval.as_deref() == Some("break_glass") {
            outln!("BREAK-GLASS deploy into a protected environment (recorded and flagged)")?;
        }
        let was = record
            .from_version
            .map_or_else(|| "first deploy".to_owned(), |v| format!("was v{v}"));
        outln!(
            "deployed {} v{} to {} ({was}), record #{}",
            record.name,
            record.to_version,
            record.env,
            record.seq
        )?;
    }
    Ok(())
}
