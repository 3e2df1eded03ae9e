//! `promptreg verify`: checks the registry without trusting its database: every digest, every
//! signature, the ledger against its signed checkpoint, versions, history and live pointers
//! against the ledger, and (against a server) its inclusion and consistency proofs. Exit 0
//! only when everything holds; otherwise one line per failure, naming the table row.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use promptreg_api::CheckpointView;
use promptreg_client::verify::{verify, verify_online, Report, Snapshot, Trust};

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
    /// Verify a snapshot file (`promptreg-snapshot/v1` JSON) instead of the server.
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
}

/// The registry did not verify: exit 1 after the report.
#[derive(Debug)]
pub struct Failed(pub usize);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "the registry does not verify: {} failure{s}", self.0)
    }
}

impl std::error::Error for Failed {}

fn read(path: &Path, flag: &str) -> anyhow::Result<String> {
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

/// Runs `verify`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let mut trust = match &args.trusted_keys {
        Some(path) => Trust::pinned_json(&read(path, "--trusted-keys")?)
            .map_err(|e| UsageError(format!("--trusted-keys {}: {e}", path.display())))?,
        None => Trust::served(),
    };
    if let Some(path) = &args.since_checkpoint {
        trust = trust.since(checkpoint_note(path)?);
    }
    let (snapshot, report) = match &args.bundle {
        Some(path) => {
            let snapshot = Snapshot::from_json(&read(path, "--bundle")?)
                .map_err(|e| UsageError(format!("--bundle {}: {e}", path.display())))?;
            let report = verify(&snapshot, &trust);
            (snapshot, report)
        }
        None => {
            let snapshot = Snapshot::fetch(&ctx.client)
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
        return Err(Failed(report.failures.len()).into());
    }
    if let Some(path) = &args.save_checkpoint {
        std::fs::write(path, &snapshot.checkpoint.note)
            .with_context(|| format!("writing the checkpoint to {}", path.display()))?;
    }
    Ok(())
}

fn print(ctx: &Ctx, report: &Report) -> anyhow::Result<()> {
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
