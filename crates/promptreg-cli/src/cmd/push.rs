//! `promptreg push <PATH>`: validates prompt files locally, then creates a version for each
//! whose content differs from the latest (the server compares digests; so does the output).

use std::path::PathBuf;

use anyhow::Context as _;
use promptreg_core::Version;
use serde::Serialize;

use super::Ctx;
use crate::files::{self, PromptFile};

/// Arguments of `push`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A prompt file, or a directory searched recursively for *.yaml, *.yml and *.prompt files
    /// (hidden entries skipped). Without a `name` field, a file's prompt name is its path
    /// relative to the directory, without extension.
    path: PathBuf,
    /// Commit message of the versions this push creates; it replaces a file's own
    /// `commit_message` (with a warning when they differ).
    #[arg(long, short)]
    message: Option<String>,
    /// Validate and print the digests without sending anything.
    #[arg(long)]
    dry_run: bool,
}

/// What happened to one prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    /// Dry run: the file is valid.
    Valid,
    /// A new version was created.
    Created,
    /// The latest version has the same content; nothing was created.
    Unchanged,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Created => "created",
            Status::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Serialize)]
struct Outcome {
    name: String,
    path: String,
    status: Status,
    version: Option<Version>,
    digest: String,
}

#[derive(Debug, Serialize)]
struct Summary {
    dry_run: bool,
    created: usize,
    unchanged: usize,
    prompts: Vec<Outcome>,
}

/// Runs `push`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let files = files::load_path(&args.path).map_err(|errors| match errors.as_slice() {
        [one] => anyhow::anyhow!(one.clone()),
        many => anyhow::anyhow!(
            "{} invalid prompt files:\n  {}",
            many.len(),
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    })?;
    if files.is_empty() {
        anyhow::bail!(
            "no prompt files (*.yaml, *.yml, *.prompt) under {}",
            args.path.display()
        );
    }
    let width = files
        .iter()
        .map(|f| f.name.as_str().len())
        .max()
        .unwrap_or(0);
    let mut outcomes = Vec::with_capacity(files.len());
    let mut mismatches = Vec::new();
    for file in &files {
        if let Some(overridden) = overridden_message(file, args.message.as_deref()) {
            errln!(
                "warning: {}: --message replaces the file's commit_message {overridden:?}",
                file.path.display()
            );
        }
    }
    for file in files {
        let outcome = push_one(&file, &args, ctx).await?;
        if !args.dry_run && outcome.digest != file.digest.as_str() {
            mismatches.push(format!(
                "{}: local {} but server {}",
                file.name, file.digest, outcome.digest
            ));
        }
        if !ctx.json() {
            let version = outcome
                .version
                .map_or_else(|| "-".to_owned(), |v| format!("v{v}"));
            outln!(
                "{:<9}  {:<width$}  {version:<5}  {}",
                outcome.status.as_str(),
                outcome.name,
                outcome.digest
            )?;
        }
        outcomes.push(outcome);
    }
    let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    let summary = Summary {
        dry_run: args.dry_run,
        created: count(Status::Created),
        unchanged: count(Status::Unchanged),
        prompts: outcomes,
    };
    if ctx.json() {
        crate::output::print_json(&summary)?;
    } else if args.dry_run {
        outln!(
            "{} valid prompt file(s); dry run, nothing sent",
            summary.prompts.len()
        )?;
    } else {
        outln!(
            "{} created, {} unchanged",
            summary.created,
            summary.unchanged
        )?;
    }
    if !mismatches.is_empty() {
        anyhow::bail!(
            "the server computed a different digest than this client (canonical JSON disagreement):\n  {}",
            mismatches.join("\n  ")
        );
    }
    Ok(())
}

/// The file's own commit message when `--message` replaces it with a different one.
///
/// The flag wins: it is typed for this push, while a file's `commit_message` is usually left over
/// from the change that wrote it (the README's walk-through edits a file that says "first triage
/// prompt" and pushes it with `--message "ask for urgency"`). A warning names what is replaced.
fn overridden_message<'a>(file: &'a PromptFile, flag: Option<&str>) -> Option<&'a str> {
    let own = file.body.commit_message.as_deref()?;
    (flag? != own).then_some(own)
}

async fn push_one(file: &PromptFile, args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let path = file.path.display().to_string();
    if args.dry_run {
        return Ok(Outcome {
            name: file.name.to_string(),
            path,
            status: Status::Valid,
            version: None,
            digest: file.digest.to_string(),
        });
    }
    let mut body = file.body.clone();
    if let Some(message) = &args.message {
        body.commit_message = Some(message.clone());
    }
    let view = ctx
        .client
        .create_version(&file.name, &body)
        .await
        .with_context(|| format!("pushing {} from {path}", file.name))?;
    Ok(Outcome {
        name: file.name.to_string(),
        path,
        status: if view.created == Some(false) {
            Status::Unchanged
        } else {
            Status::Created
        },
        version: Some(view.version),
        digest: view.digest,
    })
}
