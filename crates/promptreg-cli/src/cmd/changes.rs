//! Change requests, the two-person rule for protected environments:
//! `promptreg request --env E <NAME> <VERSION> --reason R`, `promptreg approve <ID> [--comment]`,
//! `promptreg reject <ID> --comment C`, `promptreg apply <ID>`, `promptreg requests [--status]`.

use anyhow::Context as _;
use promptreg_api::{ChangeRequestView, CreateChangeRequest};
use promptreg_client::ChangeRequestFilter;
use promptreg_core::{EnvName, PromptName, Version};

use super::{print_page, Ctx, PageArgs};
use crate::output::{fields, print_json, time};

/// Arguments of `request`.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// Prompt name.
    name: PromptName,
    /// The version to deploy.
    version: Version,
    /// The protected environment.
    #[arg(long)]
    env: EnvName,
    /// Why (required; reviewers read it).
    #[arg(long)]
    reason: String,
}

/// Arguments of `approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The change request's id.
    id: String,
    /// What you say about it.
    #[arg(long)]
    comment: Option<String>,
}

/// Arguments of `reject`.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    /// The change request's id.
    id: String,
    /// Why (required).
    #[arg(long)]
    comment: String,
}

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The change request's id.
    id: String,
}

/// Arguments of `requests`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only requests in this status.
    #[arg(long, value_parser = ["pending", "approved", "rejected", "applied", "expired"])]
    status: Option<String>,
    /// Only this environment.
    #[arg(long)]
    env: Option<EnvName>,
    /// Only this prompt.
    #[arg(long)]
    prompt: Option<PromptName>,
    #[command(flatten)]
    page: PageArgs,
}

/// A request's fields, as `request`, `approve`, `reject` and `apply` print them.
fn show(ctx: &Ctx, r: &ChangeRequestView) -> anyhow::Result<()> {
    if ctx.json() {
        return print_json(r);
    }
    let reviews = |list: &[promptreg_api::ChangeReviewView]| {
        list.iter()
            .map(|v| match &v.comment {
                Some(c) => format!("{} ({c})", v.reviewer),
                None => v.reviewer.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    out!(
        "{}",
        fields(&[
            ("id", r.id.clone()),
            ("status", r.status.clone()),
            (
                "change",
                format!("{} v{} -> {}", r.prompt, r.version, r.env)
            ),
            ("reason", r.reason.clone()),
            ("requested_by", r.requested_by.clone()),
            ("version_author", r.version_author.clone()),
            (
                "approvals",
                format!(
                    "{}/{} {}",
                    r.approvals.len(),
                    r.approvals_required,
                    reviews(&r.approvals)
                )
            ),
            ("rejections", reviews(&r.rejections)),
            ("expires_at", time(&r.expires_at)),
        ])
    )?;
    Ok(())
}

/// Runs `request`.
pub async fn request(args: RequestArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let body = CreateChangeRequest {
        env: args.env.to_string(),
        prompt: args.name.to_string(),
        version: args.version,
        reason: args.reason,
    };
    let r =
        ctx.client.request_change(&body).await.with_context(|| {
            format!("requesting {} v{} in {}", args.name, args.version, args.env)
        })?;
    if !ctx.json() {
        outln!(
            "requested change {}: another person approves it with `promptreg approve {}`",
            r.id,
            r.id
        )?;
    }
    show(ctx, &r)
}

/// Runs `approve`.
pub async fn approve(args: ApproveArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let r = ctx
        .client
        .approve_change(&args.id, args.comment)
        .await
        .with_context(|| format!("approving change request {}", args.id))?;
    if !ctx.json() {
        outln!("approved change request {} (now {})", r.id, r.status)?;
    }
    show(ctx, &r)
}

/// Runs `reject`.
pub async fn reject(args: RejectArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let r = ctx
        .client
        .reject_change(&args.id, args.comment)
        .await
        .with_context(|| format!("rejecting change request {}", args.id))?;
    if !ctx.json() {
        outln!("rejected change request {}", r.id)?;
    }
    show(ctx, &r)
}

/// Runs `apply`.
pub async fn apply(args: ApplyArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let applied = ctx
        .client
        .apply_change(&args.id)
        .await
        .with_context(|| format!("applying change request {}", args.id))?;
    if ctx.json() {
        return print_json(&applied);
    }
    let d = &applied.deployment;
    outln!(
        "applied change request {}: deployed {} v{} to {}, record #{}",
        applied.change_request.id,
        d.name,
        d.to_version,
        d.env,
        d.seq
    )
}

/// Runs `requests`.
pub async fn list(args: ListArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let filter = ChangeRequestFilter {
        status: args.status,
        env: args.env.map(|e| e.to_string()),
        prompt: args.prompt.map(|p| p.to_string()),
    };
    let page = args
        .page
        .fetch(|p| ctx.client.change_requests(&filter, p))
        .await
        .context("listing change requests")?;
    print_page(
        ctx,
        &page,
        &[
            "ID",
            "STATUS",
            "ENV",
            "PROMPT",
            "VERSION",
            "APPROVALS",
            "REQUESTED_BY",
        ],
        |r| {
            vec![
                r.id.clone(),
                r.status.clone(),
                r.env.clone(),
                r.prompt.clone(),
                r.version.to_string(),
                format!("{}/{}", r.approvals.len(), r.approvals_required),
                r.requested_by.clone(),
            ]
        },
        "no change requests",
    )
}
