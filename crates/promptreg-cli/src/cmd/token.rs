//! `promptreg token create|list|revoke`: API tokens (admin).

use anyhow::Context as _;
use promptreg_api::CreateToken;
use promptreg_core::Role;

use super::{print_page, Ctx, PageArgs};
use crate::output::{fields, print_json, time};

/// Arguments of `token`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Create a token; its secret is printed once.
    Create(CreateArgs),
    /// List tokens (never their secrets).
    List(ListArgs),
    /// Revoke a token or key pair at once.
    Revoke(RevokeArgs),
}

/// Arguments of `token create`.
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// A label, e.g. ci.
    name: String,
    /// reader, author, deployer or admin.
    #[arg(long)]
    role: Role,
    /// Create a Langfuse-style key pair (pk-…/sk-…, Basic auth) instead of a bearer token;
    /// the same as `promptreg key-pair create`.
    #[arg(long)]
    key_pair: bool,
}

/// Arguments of `token list`.
#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    page: PageArgs,
}

/// Arguments of `token revoke`.
#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// Token id (from `token list`).
    id: String,
}

/// Runs `token`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        TokenCommand::Create(args) => create(args, ctx).await,
        TokenCommand::List(args) => {
            let page = args
                .page
                .fetch(|p| ctx.client.list_tokens(p))
                .await
                .context("listing tokens")?;
            print_page(
                ctx,
                &page,
                &["ID", "NAME", "ROLE", "KIND", "CREATED", "BY"],
                |t| {
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        t.role.as_str().to_owned(),
                        t.kind.clone(),
                        time(&t.created_at),
                        t.created_by.clone(),
                    ]
                },
                "no tokens",
            )
        }
        TokenCommand::Revoke(args) => {
            ctx.client
                .revoke_token(&args.id)
                .await
                .with_context(|| format!("revoking token {}", args.id))?;
            if ctx.json() {
                print_json(&serde_json::json!({"id": args.id, "revoked": true}))
            } else {
                outln!("revoked token {}", args.id)?;
                Ok(())
            }
        }
    }
}

async fn create(args: CreateArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let body = CreateToken {
        name: args.name,
        role: args.role,
    };
    if args.key_pair {
        return super::key_pair::create(body, ctx).await;
    }
    let token = ctx
        .client
        .create_token(&body)
        .await
        .with_context(|| format!("creating token {}", body.name))?;
    if ctx.json() {
        return print_json(&token);
    }
    out!(
        "{}",
        fields(&[
            ("id", token.id.clone()),
            ("name", token.name.clone()),
            ("role", token.role.as_str().to_owned()),
            ("created_at", time(&token.created_at)),
            ("token", token.token.clone()),
        ])
    )?;
    errln!("Store the secret now: it is not shown again.");
    Ok(())
}
