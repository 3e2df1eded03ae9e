//! `promptreg`: the prompt registry's command line. `promptreg serve` runs the server; every
//! other command is a client of its HTTP API (`PROMPTREG_URL`, `PROMPTREG_TOKEN`).
//!
//! - [`cmd`]: the argument tree, one module per subcommand, and error reporting.
//! - [`files`]: the prompt file formats `push` reads (YAML and Dotprompt `.prompt`).
//! - [`output`]: text tables and JSON printing.
//!
//! Exit codes: 0 on success, 1 when the server refuses a request or anything else fails, 2 on
//! a usage error. Errors go to stderr, as text or, with `--output json`, as the JSON error
//! envelope (see `cmd/report.rs`). A closed stdout is not an error (see `output.rs`).

#![forbid(unsafe_code)]

// First: its `out!`/`outln!`/`errln!` macros are used by the modules below.
#[macro_use]
mod output;
mod cmd;
mod files;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cmd::report_usage(&e),
    };
    cli.run().await
}
