//! `promptreg export --bundle FILE` (admin): reads the project as a snapshot (what `verify`
//! reads), checks it, has the server sign its digest, and writes one signed bundle
//! (`promptreg-bundle/v1`) for `promptreg import` to restore. `docs/recovery.md` is the runbook.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use promptreg_api::{snapshot_digest, Bundle, ExportSignRequest, BUNDLE_FORMAT};
use promptreg_client::verify::{fetch_snapshot, verify, Trust};
use serde_json::json;

use super::verify::{print, Failed};
use super::Ctx;
use crate::output::print_json;

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the bundle; the file appears only once it is complete.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
}

/// Runs `export`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let snapshot = fetch_snapshot(&ctx.client)
        .await
        .context("reading the registry")?;
    // A bundle that does not verify could not be imported: say so now, not on the day of the
    // restore.
    let report = verify(&snapshot, &Trust::served());
    if !report.ok {
        print(ctx, &report)?;
        return Err(Failed::new(
            "the registry",
            report.failures.len(),
            "; nothing was exported",
        )
        .into());
    }
    let value = serde_json::to_value(&snapshot).context("encoding the snapshot")?;
    let digest = snapshot_digest(&value);
    let request = ExportSignRequest {
        digest: digest.to_string(),
        tree_size: snapshot.checkpoint.tree_size,
    };
    let signed = ctx
        .client
        .sign_export(&request)
        .await
        .context("having the server sign the export")?;
    let bundle = Bundle {
        format: BUNDLE_FORMAT.to_owned(),
        snapshot: value,
        signature: signed.signature,
    };
    let bytes = serde_json::to_vec(&bundle).context("encoding the bundle")?;
    write_whole(&args.bundle, &bytes)?;

    let moves: usize = snapshot.history.iter().map(|h| h.moves.len()).sum();
    let cp = &snapshot.checkpoint;
    if ctx.json() {
        return print_json(&json!({
            "bundle": args.bundle,
            "digest": digest.to_string(),
            "origin": cp.origin,
            "tree_size": cp.tree_size,
            "root_hash": cp.root_hash,
            "versions": snapshot.versions.len(),
            "deployments": moves,
            "environments": snapshot.environments.len(),
            "keys": snapshot.keys.len(),
            "key_id": signed.key_id,
        }));
    }
    outln!(
        "exported {} at tree size {} (root {}): {} versions, {} deployment records, {} \
         environments, {} signing keys; signed by key {}; wrote {} ({digest})",
        cp.origin,
        cp.tree_size,
        cp.root_hash,
        snapshot.versions.len(),
        moves,
        snapshot.environments.len(),
        snapshot.keys.len(),
        signed.key_id,
        args.bundle.display()
    )
}

/// Writes `bytes` beside `path` and renames it into place, so a bundle is never half there.
pub(super) fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .with_context(|| format!("writing the bundle to {}", path.display()))
}
