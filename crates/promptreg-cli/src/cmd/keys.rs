//! `promptreg keys list|rotate-signing|rotate-kek`: the server's public signing keys, a new
//! signing key, a new key-encryption key (admin). `keys list --output json` is the file
//! `verify --trusted-keys` reads.

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
    /// Rotate the key-encryption key: a new KEK rewraps every version's data key (no
    /// ciphertext changes; versions still stored in plaintext are sealed), then the old KEK
    /// file is renamed `<file>.<id>.retired` and may be deleted. Fails (exit 1) when some
    /// version could not be rewrapped: the old KEK then stays.
    RotateKek,
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
        KeysCommand::RotateKek => {
            let done = ctx
                .client
                .rotate_kek()
                .await
                .context("rotating the key-encryption key")?;
            if ctx.json() {
                print_json(&done)?;
            } else {
                outln!("rotated the key-encryption key: now {}", done.kek_id)?;
                let retired = if done.retired.is_empty() {
                    "none".to_owned()
                } else {
                    done.retired.join(", ")
                };
                out!(
                    "{}",
                    fields(&[
                        ("rewrapped", done.rewrapped.to_string()),
                        ("sealed", done.sealed.to_string()),
                        ("retired", retired),
                    ])
                )?;
            }
            if done.unreadable.is_empty() {
                return Ok(());
            }
            for line in &done.unreadable {
                errln!("unreadable: {line}");
            }
            anyhow::bail!(
                "{} version(s) could not be rewrapped; the old key-encryption key was kept",
                done.unreadable.len()
            )
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
