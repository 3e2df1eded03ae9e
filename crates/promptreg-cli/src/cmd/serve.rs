//! `promptreg serve`: runs the registry server in this process.

/// Server settings, each also read from its `PROMPTREG_…` environment variable.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: promptreg_server::Config,
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    promptreg_server::run(args.config).await
}
