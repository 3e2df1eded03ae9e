//! `promptreg import --bundle FILE` (admin): verifies an export bundle here first (its
//! signature by a key it lists, or by `--trusted-keys`, then everything `verify` checks),
//! and only then sends it to the server, which checks it again and restores it into its
//! empty project in one transaction. A bundle that does not verify changes nothing.

use std::path::PathBuf;

use anyhow::Context as _;
use promptreg_client::verify::{verify_bundle, BundleFile};
use serde_json::json;

use super::verify::{print, read, trust, Failed};
use super::Ctx;
use crate::output::print_json;

/// What a refused bundle's message ends with.
const UNCHANGED: &str = "; nothing was imported";

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle `promptreg export` wrote.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// Trust only these signing keys (the JSON of `GET /v1/keys` of the exported registry,
    /// saved beforehand) for the bundle's and the rows' signatures, instead of the keys the
    /// bundle lists.
    #[arg(long, value_name = "FILE")]
    trusted_keys: Option<PathBuf>,
}

/// Runs `import`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let trust = trust(args.trusted_keys.as_deref())?;
    let text = read(&args.bundle, "--bundle")?;
    let path = args.bundle.display();
    let file = BundleFile::from_json(&text)
        .map_err(|e| Failed(format!("bundle {path}: {e} (a truncated file?){UNCHANGED}")))?;
    if let BundleFile::Bare(_) = file {
        return Err(Failed(format!(
            "bundle {path}: a bare snapshot, without the server's export signature; write a \
             bundle with `promptreg export`{UNCHANGED}"
        ))
        .into());
    }
    let report = verify_bundle(&file, &trust);
    if !report.ok {
        print(ctx, &report)?;
        return Err(Failed::new("the bundle", report.failures.len(), UNCHANGED).into());
    }
    let done = ctx
        .client
        .import_bundle(text)
        .await
        .context("importing the bundle")?;
    if ctx.json() {
        return print_json(&json!(done));
    }
    outln!(
        "imported {} at tree size {} (root {}): {} versions, {} deployment records, {} \
         environments, {} signing keys listed",
        done.origin,
        done.tree_size,
        done.root_hash,
        done.versions,
        done.deployments,
        done.environments,
        done.keys
    )
}
