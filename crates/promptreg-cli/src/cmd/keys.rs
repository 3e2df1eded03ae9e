//! `promptreg keys list|rotate-signing`: the server's public signing keys, and a new signing
//! key (admin). `keys list --output json` is the file `verify --trusted-keys` reads.

use anyhow::Context as _;
use promptreg_api::SigningKeyView;

use super::Ctx;
use crate::output::{fields, print_json, table, time};

/// Arguments of `keys`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// List the public signing keys, retired ones included (what they signed stays valid).
    List,
    /// Make a new signing key and retire the current one (admin).
    RotateSigning,
}

/// Runs `keys`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::List => {
            let keys = ctx.client.keys().await.context("listing signing keys")?;
            if ctx.json() {
                return print_json(&keys);
            }
            let rows: Vec<Vec<String>> = keys
                .keys
                .iter()
                .map(|k| {
                    vec![
                        k.key_id.clone(),
                        k.algorithm.clone(),
                        time(&k.created_at),
                        k.retired_at.as_ref().map_or_else(|| "-".to_owned(), time),
                        k.public_key.clone(),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &["KEY ID", "ALGORITHM", "CREATED", "RETIRED", "PUBLIC KEY"],
                    &rows
                )
            )
        }
        KeysCommand::RotateSigning => {
            let key = ctx
                .client
                .rotate_signing_key()
                .await
                .context("rotating the signing key")?;
            if ctx.json() {
                return print_json(&key);
            }
            show(&key)
        }
    }
}

fn show(key: &SigningKeyView) -> anyhow::Result<()> {
    out!(
        "{}",
        fields(&[
            ("key_id", key.key_id.clone()),
            ("algorithm", key.algorithm.clone()),
            ("created_at", time(&key.created_at)),
            ("public_key", key.public_key.clone()),
        ])
    )?;
    errln!("The previous key is retired; what it signed still verifies.");
    Ok(())
}
