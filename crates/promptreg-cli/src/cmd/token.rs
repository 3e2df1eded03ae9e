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
    /// reader, author, reviewer, deployer or admin.
    #[arg(long)]
    role: Role,
    #[command(flatten)]
    grants: GrantArgs,
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
                &[
                    "ID",
                    "NAME",
                    "ROLE",
                    "KIND",
                    "ENVIRONMENTS",
                    "PREFIXES",
                    "EXPIRES",
                    "LAST USED",
                    "CREATED",
                    "BY",
                ],
                |t| {
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        t.role.as_str().to_owned(),
                        t.kind.clone(),
                        limits(t.grants.environments.as_deref()),
                        limits(t.grants.prompt_prefixes.as_deref()),
                        t.grants
                            .expires_at
                            .as_ref()
                            .map_or_else(|| "never".into(), time),
                        t.last_used_at.as_ref().map_or_else(|| "never".into(), time),
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
    let body = args.grants.body(args.name, args.role);
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
            ("project", token.grants.project.clone()),
            ("environments", limits(token.grants.environments.as_deref())),
            (
                "prompt_prefixes",
                limits(token.grants.prompt_prefixes.as_deref())
            ),
            (
                "expires_at",
                token
                    .grants
                    .expires_at
                    .as_ref()
                    .map_or_else(|| "never".into(), time)
            ),
            ("created_at", time(&token.created_at)),
            ("token", token.token.clone()),
        ])
    )?;
    errln!("Store the secret now: it is not shown again.");
    Ok(())
}

/// What a new token or key pair may reach besides its role (`token create`, `key-pair create`).
#[derive(Debug, Clone, clap::Args)]
pub(super) struct GrantArgs {
    /// The project it acts in (a server administrator's token may name any project);
    /// default: the caller's.
    #[arg(long)]
    project: Option<String>,
    /// Limit its deploy and rollback grants to this environment (repeat for several).
    #[arg(long = "environment", value_name = "ENV")]
    environments: Vec<String>,
    /// Limit its grants to prompts whose name starts with this (repeat for several).
    #[arg(long = "prompt-prefix", value_name = "PREFIX")]
    prompt_prefixes: Vec<String>,
    /// When it stops working (RFC 3339, e.g. 2027-01-31T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl GrantArgs {
    /// The request body for a token named `name` with `role`.
    pub(super) fn body(self, name: String, role: Role) -> CreateToken {
        CreateToken {
            project: self.project,
            environments: (!self.environments.is_empty()).then_some(self.environments),
            prompt_prefixes: (!self.prompt_prefixes.is_empty()).then_some(self.prompt_prefixes),
            expires_at: self.expires_at,
            ..CreateToken::new(name, role)
        }
    }
}

/// A grant's limits as shown: `all` when there are none.
pub(super) fn limits(values: Option<&[String]>) -> String {
    values.map_or_else(|| "all".into(), |v| v.join(","))
}
