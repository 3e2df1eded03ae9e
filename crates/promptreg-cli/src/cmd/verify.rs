//! `promptreg verify`: checks the registry without trusting its database: every digest, every
//! signature, the ledger against its signed checkpoint, versions, history and live pointers
//! against the ledger, and (against a server) its inclusion and consistency proofs. Exit 0
//! only when everything holds; otherwise one line per failure, naming the table row.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use promptreg_api::CheckpointView;
use promptreg_client::verify::{
    fetch_snapshot, verify_bundle, verify_online, BundleFile, Report, Trust,
};

use super::{Ctx, UsageError};
use crate::output::print_json;

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Trust only these signing keys (a file with the JSON of `GET /v1/keys`, as `promptreg
    /// keys list --output json` prints it) instead of the keys the server lists.
    #[arg(long, value_name = "FILE")]
    trusted_keys: Option<PathBuf>,
    /// A checkpoint saved earlier (`--save-checkpoint`): the ledger must extend it (no leaf
    /// removed or changed since).
    #[arg(long, value_name = "FILE")]
    since_checkpoint: Option<PathBuf>,
    /// Write the verified checkpoint (its signed note) to this file, for the next
    /// `--since-checkpoint`; written only when everything verifies.
    #[arg(long, value_name = "FILE")]
    save_checkpoint: Option<PathBuf>,
    /// Verify an export bundle (`promptreg export`: its own signature, then the snapshot in
    /// it) or a bare snapshot file (`promptreg-snapshot/v1` JSON) instead of the server.
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
}

/// Something did not verify: exit 1 after the report. The text says what and how many.
#[derive(Debug)]
pub struct Failed(pub String);

impl Failed {
    /// `<what> does not verify: <n> failure(s)<tail>`.
    pub fn new(what: &str, failures: usize, tail: &str) -> Self {
        let s = if failures == 1 { "" } else { "s" };
        Failed(format!(
            "{what} does not verify: {failures} failure{s}{tail}"
        ))
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

/// Reads a file named by a flag (unreadable: a usage error).
pub(super) fn read(path: &Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{flag} {}: {e}", path.display())).into())
}

/// The note of a checkpoint file: the note text itself, or the JSON of
/// `GET /v1/ledger/checkpoint`.
fn checkpoint_note(path: &Path) -> anyhow::Result<String> {
    let text = read(path, "--since-checkpoint")?;
    if !text.trim_start().starts_with('{') {
        return Ok(text);
    }
    let view: CheckpointView = serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "--since-checkpoint {}: neither a signed note nor the JSON of GET \
             /v1/ledger/checkpoint ({e})",
            path.display()
        ))
    })?;
    Ok(view.note)
}

/// The keys of `--trusted-keys FILE`, or the served (listed) ones.
pub(super) fn trust(trusted_keys: Option<&Path>) -> anyhow::Result<Trust> {
    Ok(match trusted_keys {
        Some(path) => Trust::pinned_json(&read(path, "--trusted-keys")?)
            .map_err(|e| UsageError(format!("--trusted-keys {}: {e}", path.display())))?,
        None => Trust::served(),
    })
}

/// Runs `verify`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let mut trust = trust(args.trusted_keys.as_deref())?;
    if let Some(path) = &args.since_checkpoint {
        trust = trust.since(checkpoint_note(path)?);
    }
    let (snapshot, report) = match &args.bundle {
        Some(path) => {
            let file = BundleFile::from_json(&read(path, "--bundle")?)
                .map_err(|e| UsageError(format!("--bundle {}: {e}", path.display())))?;
            let report = verify_bundle(&file, &trust);
            (file.snapshot().clone(), report)
        }
        None => {
            let snapshot = fetch_snapshot(&ctx.client)
                .await
                .context("reading the registry")?;
            let report = verify_online(&ctx.client, &snapshot, &trust)
                .await
                .context("checking the server's proofs")?;
            (snapshot, report)
        }
    };
    print(ctx, &report)?;
    if !report.ok {
        if args.save_checkpoint.is_some() {
            errln!("warning: the checkpoint was not saved: it did not verify");
        }
        return Err(Failed::new("the registry", report.failures.len(), "").into());
    }
    if let Some(path) = &args.save_checkpoint {
        std::fs::write(path, &snapshot.checkpoint.note)
            .with_context(|| format!("writing the checkpoint to {}", path.display()))?;
    }
    Ok(())
}

/// Prints a report: warnings on stderr, then the failures and a summary (or the JSON).
pub(super) fn print(ctx: &Ctx, report: &Report) -> anyhow::Result<()> {
    for warning in &report.warnings {
        errln!("warning: {warning}");
    }
    if ctx.json() {
        return print_json(report);
    }
    for failure in &report.failures {
        outln!("{failure}")?;
    }
    let c = &report.checked;
    let mut summary = format!(
        "{} at tree size {} (root {}): {} leaves, {} versions ({} signed, {} pruned), {} moves \
         ({} signed), {} live pointers, {} inclusion proofs, {} trusted keys",
        report.origin,
        report.tree_size,
        report.root_hash,
        c.leaves,
        c.versions,
        c.version_signatures,
        c.pruned_versions,
        c.moves,
        c.move_signatures,
        c.pointers,
        c.inclusion_proofs,
        c.keys
    );
    if let Some(size) = c.since_tree_size {
        summary.push_str(&format!("; extends the checkpoint of size {size}"));
        if c.consistency_proof {
            summary.push_str(" (consistency proof verified)");
        }
    }
    if report.ok {
        outln!("verified {summary}")
    } else {
        outln!("FAILED {summary}")
    }
}
