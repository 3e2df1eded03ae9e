//! `promptreg snapshot --env E [--prefix P] -o FILE`: writes the server's signed snapshot of an
//! environment (`GET /v1/environments/{env}/snapshot`, a DSSE envelope) to a file, verbatim:
//! what an SDK starts from when no server answers. The file appears only once complete.

use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use promptreg_api::{EnvSnapshot, ENV_SNAPSHOT_PAYLOAD_TYPE};
use promptreg_core::EnvName;
use serde_json::json;

use super::export::write_whole;
use super::Ctx;
use crate::output::print_json;

/// Arguments of `snapshot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    #[arg(long)]
    env: EnvName,
    /// Only prompts whose name starts with this.
    #[arg(long)]
    prefix: Option<String>,
    /// Where to write the signed snapshot (`-o`: this command has no `--output` short form).
    #[arg(long = "file", short = 'o', value_name = "FILE")]
    file: PathBuf,
}

/// Runs `snapshot`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let envelope = ctx
        .client
        .env_snapshot(&args.env, args.prefix.as_deref())
        .await
        .with_context(|| format!("reading the snapshot of {}", args.env))?;
    if envelope.payload_type != ENV_SNAPSHOT_PAYLOAD_TYPE {
        anyhow::bail!(
            "the server answered a {:?} document, not an environment snapshot",
            envelope.payload_type
        );
    }
    let bytes = serde_json::to_vec(&envelope).context("encoding the snapshot")?;
    // Only to say what was written: the SDK checks the signature when it loads the file.
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&envelope.payload)
        .context("the snapshot's payload is not base64")?;
    let snapshot: EnvSnapshot =
        serde_json::from_slice(&payload).context("the snapshot's payload does not decode")?;
    write_whole(&args.file, &bytes)?;
    if ctx.json() {
        return print_json(&json!({
            "file": args.file,
            "env": snapshot.env,
            "prefix": snapshot.prefix,
            "seq": snapshot.seq,
            "prompts": snapshot.prompts.len(),
            "rollouts": snapshot.prompts.iter().filter(|p| p.rollout.is_some()).count(),
            "key_ids": envelope.signatures.iter().map(|s| s.keyid.clone()).collect::<Vec<_>>(),
        }));
    }
    outln!(
        "wrote {}: {} prompts live in {} at seq {}, signed by key {}",
        args.file.display(),
        snapshot.prompts.len(),
        snapshot.env,
        snapshot.seq,
        envelope
            .signatures
            .iter()
            .map(|s| s.keyid.clone())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
