//! `promptreg diff <NAME> [--from A] [--to B]`: a unified diff of the content and the changed
//! metadata fields.

use anyhow::Context as _;
use promptreg_core::{PromptName, Version};
use serde_json::Value;

use super::Ctx;
use crate::output::print_json;

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name.
    name: PromptName,
    /// Older version (default: the one before `--to`).
    #[arg(long)]
    from: Option<Version>,
    /// Newer version (default: the latest).
    #[arg(long)]
    to: Option<Version>,
}

/// Runs `diff`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let diff = ctx
        .client
        .diff(&args.name, args.from, args.to)
        .await
        .with_context(|| format!("diffing {}", args.name))?;
    if ctx.json() {
        return print_json(&diff);
    }
    outln!("{} v{} → v{}", diff.name, diff.from, diff.to)?;
    outln!("  from {}", diff.from_digest)?;
    outln!("  to   {}", diff.to_digest)?;
    outln!()?;
    if diff.diff.is_empty() {
        outln!("content: unchanged")?;
    } else {
        out!("{}", diff.diff)?;
        if !diff.diff.ends_with('\n') {
            outln!()?;
        }
    }
    if !diff.changed_fields.is_empty() {
        outln!()?;
        outln!("changed fields:")?;
        for change in &diff.changed_fields {
            outln!("  {}", describe_change(change))?;
        }
    }
    Ok(())
}

/// `{field, from, to}` as `field: from → to`; anything else as compact JSON.
fn describe_change(change: &Value) -> String {
    match (
        change.get("field").and_then(Value::as_str),
        change.get("from"),
        change.get("to"),
    ) {
        (Some(field), from, to) => format!(
            "{field}: {} → {}",
            from.map_or_else(|| "null".to_owned(), Value::to_string),
            to.map_or_else(|| "null".to_owned(), Value::to_string)
        ),
        _ => change.to_string(),
    }
}
