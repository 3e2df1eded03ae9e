//! `promptreg rollback <NAME> --env ENV [--to VERSION] [--reason R]`: back to an earlier live
//! version, recorded as a new move.

use anyhow::Context as _;
use promptreg_api::RollbackRequest;
use promptreg_core::{EnvName, PromptName, Version};

use super::Ctx;
use crate::output::print_json;

/// Arguments of `rollback`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name.
    name: PromptName,
    /// Environment.
    #[arg(long)]
    env: EnvName,
    /// A version that was live earlier here (default: the one before the current).
    #[arg(long)]
    to: Option<Version>,
    /// Why (kept in the deployment history).
    #[arg(long)]
    reason: Option<String>,
}

/// Runs `rollback`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let body = RollbackRequest {
        to_version: args.to,
        reason: args.reason,
    };
    let record = ctx
        .client
        .rollback(&args.env, &args.name, &body)
        .await
        .with_context(|| format!("rolling back {} in {}", args.name, args.env))?;
    if ctx.json() {
        return print_json(&record);
    }
    let from = record
        .from_version
        .map_or_else(|| "-".to_owned(), |v| format!("v{v}"));
    outln!(
        "rolled back {} in {}: {from} → v{}, record #{}",
        record.name,
        record.env,
        record.to_version,
        record.seq
    )?;
    Ok(())
}
