//! `promptreg validate <NAME> <VERSION> --suite S --passed|--failed [--metric k=v ...]
//! [--details TEXT] [--tool name@version]`, or `--from-file result.json` (the API's body, as a
//! CI pipeline writes it): attaches a validation result to a version.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use promptreg_api::{AttachValidation, ToolRef, ValidationView};
use promptreg_core::{PromptName, Version};

use super::{Ctx, UsageError};
use crate::output::{fields, print_json, short_digest, time};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name.
    name: PromptName,
    /// The version the result is about.
    version: Version,
    /// The suite (e.g. `canary-evals`).
    #[arg(long, required_unless_present = "from_file")]
    suite: Option<String>,
    /// The suite passed.
    #[arg(long, conflicts_with = "failed")]
    passed: bool,
    /// The suite failed.
    #[arg(long)]
    failed: bool,
    /// A metric, `name=number` (repeatable).
    #[arg(long = "metric", value_name = "NAME=NUMBER")]
    metrics: Vec<String>,
    /// Free text about the run (a link, a summary).
    #[arg(long)]
    details: Option<String>,
    /// The tool that produced the result, `name@version`.
    #[arg(long, value_name = "NAME@VERSION", default_value = concat!("promptreg-cli@", env!("CARGO_PKG_VERSION")))]
    tool: String,
    /// Read the whole result from a JSON file (`-` for stdin) in the API's body shape
    /// (`{"suite", "passed", "metrics", "details", "tool": {"name", "version"}}`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["suite", "passed", "failed", "metrics", "details"])]
    from_file: Option<PathBuf>,
}

fn body(args: &Args) -> anyhow::Result<AttachValidation> {
    if let Some(path) = &args.from_file {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading the result from stdin")?
        } else {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        };
        return serde_json::from_str(&text).map_err(|e| {
            UsageError(format!("{}: not a validation result: {e}", path.display())).into()
        });
    }
    if args.passed == args.failed {
        return Err(UsageError("validate: give --passed or --failed".into()).into());
    }
    let mut metrics = BTreeMap::new();
    for m in &args.metrics {
        let (k, v) = m
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--metric {m:?}: write name=number")))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| UsageError(format!("--metric {m:?}: {v:?} is not a number")))?;
        metrics.insert(k.trim().to_owned(), v);
    }
    let (tool_name, tool_version) = args
        .tool
        .rsplit_once('@')
        .ok_or_else(|| UsageError(format!("--tool {:?}: write name@version", args.tool)))?;
    Ok(AttachValidation {
        suite: args.suite.clone().unwrap_or_default(),
        passed: args.passed,
        metrics,
        details: args.details.clone().map(serde_json::Value::String),
        tool: ToolRef {
            name: tool_name.to_owned(),
            version: tool_version.to_owned(),
        },
    })
}

/// Runs `validate`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let body = body(&args)?;
    let view = ctx
        .client
        .attach_validation(&args.name, args.version, &body)
        .await
        .with_context(|| format!("attaching a result to {} v{}", args.name, args.version))?;
    if ctx.json() {
        return print_json(&view);
    }
    show(&view)
}

fn show(v: &ValidationView) -> anyhow::Result<()> {
    let metrics: Vec<String> = v.metrics.iter().map(|(k, m)| format!("{k}={m}")).collect();
    out!(
        "{}",
        fields(&[
            ("id", v.id.to_string()),
            ("prompt", format!("{} v{}", v.name, v.version)),
            ("digest", short_digest(&v.digest)),
            ("suite", v.suite.clone()),
            (
                "result",
                if v.passed { "passed" } else { "failed" }.to_owned()
            ),
            ("metrics", metrics.join(" ")),
            ("tool", format!("{}@{}", v.tool.name, v.tool.version)),
            (
                "attached",
                format!("{} by {}", time(&v.attached_at), v.attached_by)
            ),
        ])
    )
}
