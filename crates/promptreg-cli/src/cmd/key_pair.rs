//! `promptreg key-pair create NAME --role R`: a Langfuse-style key pair (admin), the Basic-auth
//! credentials the Langfuse SDKs send (`LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY`). Key pairs
//! are listed and revoked with `token list` and `token revoke`, like tokens.

use anyhow::Context as _;
use promptreg_api::CreateToken;
use promptreg_core::Role;

use super::Ctx;
use crate::output::{fields, print_json, time};

/// Arguments of `key-pair`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeyPairCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeyPairCommand {
    /// Create a key pair; its secret key is printed once.
    Create(CreateArgs),
}

/// Arguments of `key-pair create`.
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// A label, e.g. langfuse-sdk.
    name: String,
    /// reader, author, reviewer, deployer or admin.
    #[arg(long)]
    role: Role,
    #[command(flatten)]
    grants: super::token::GrantArgs,
}

/// Runs `key-pair`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        KeyPairCommand::Create(args) => create(args.grants.body(args.name, args.role), ctx).await,
    }
}

/// Creates a key pair and prints it (also `token create --key-pair`).
pub async fn create(body: CreateToken, ctx: &Ctx) -> anyhow::Result<()> {
    let pair = ctx
        .client
        .create_key_pair(&body)
        .await
        .with_context(|| format!("creating key pair {}", body.name))?;
    if ctx.json() {
        return print_json(&pair);
    }
    out!(
        "{}",
        fields(&[
            ("id", pair.id.clone()),
            ("name", pair.name.clone()),
            ("role", pair.role.as_str().to_owned()),
            ("project", pair.grants.project.clone()),
            ("created_at", time(&pair.created_at)),
            ("public_key", pair.public_key.clone()),
            ("secret_key", pair.secret_key.clone()),
        ])
    )?;
    errln!("Store the secret key now: it is not shown again.");
    Ok(())
}
