//! `promptreg get <NAME> [--version N]`: one version, with its content.

use anyhow::Context as _;
use promptreg_core::{PromptName, Version};

use super::{body_text, Ctx};
use crate::output::{compact, fields, model, print_json, time};

/// Arguments of `get`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name, e.g. support/triage.
    name: PromptName,
    /// Version number (default: the latest).
    #[arg(long)]
    version: Option<Version>,
}

/// Runs `get`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let view = match args.version {
        Some(v) => ctx.client.get_version(&args.name, v).await,
        None => ctx.client.latest_version(&args.name).await,
    }
    .with_context(|| format!("getting {}", args.name))?;
    if ctx.json() {
        return print_json(&view);
    }
    let metadata = serde_json::to_value(&view.metadata)?;
    let metadata = metadata
        .as_object()
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::Value::Object(m.clone()));
    out!(
        "{}",
        fields(&[
            ("name", view.name.to_string()),
            ("version", view.version.to_string()),
            ("digest", view.digest.clone()),
            ("type", view.prompt_type.as_str().to_owned()),
            ("model", model(view.model.as_ref())),
            ("variables", compact(view.variables.as_ref())),
            ("message", view.commit_message.clone().unwrap_or_default()),
            ("metadata", compact(metadata.as_ref())),
            (
                "parent",
                view.parent.map(|p| p.to_string()).unwrap_or_default()
            ),
            ("created_by", view.created_by.clone()),
            ("created_at", time(&view.created_at)),
        ])
    )?;
    outln!()?;
    outln!(
        "{}",
        body_text(view.template.as_deref(), view.messages.as_deref())
    )?;
    Ok(())
}
