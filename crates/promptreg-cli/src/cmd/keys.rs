//! `promptreg keys rotate-kek`: the server's keys (admin).

use anyhow::Context as _;

use super::Ctx;
use crate::output::{fields, print_json};

/// Arguments of `keys`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Rotate the key-encryption key: a new KEK rewraps every version's data key (no
    /// ciphertext changes; versions still stored in plaintext are sealed), then the old KEK
    /// file is renamed `<file>.<id>.retired` and may be deleted. Fails (exit 1) when some
    /// version could not be rewrapped: the old KEK then stays.
    RotateKek,
}

/// Runs `keys`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
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
