//! The argument tree. [`Cli`] holds the global flags and [`Command`] only dispatches: each
//! subcommand is a module with an `Args` struct and a `run` function.

mod catalog;
mod deploy;
mod diff;
mod env;
mod get;
mod history;
mod list;
mod push;
mod render;
mod report;
mod resolve;
mod rollback;
mod serve;
mod token;
mod versions;

use std::fmt;
use std::future::Future;

use promptreg_api::Page;
use promptreg_client::{all_pages, Client, ClientError, PageRequest};
use promptreg_core::ChatEntry;

use crate::output::OutputFormat;
pub use report::{report, report_usage, Reporting};

/// promptreg: a registry of versioned, deployable prompts.
#[derive(Debug, clap::Parser)]
#[command(name = "promptreg", version)]
pub struct Cli {
    /// Base URL of the promptreg server.
    #[arg(
        long,
        global = true,
        env = "PROMPTREG_URL",
        default_value = "http://127.0.0.1:8700"
    )]
    url: String,

    /// Bearer token for the server.
    #[arg(long, global = true, env = "PROMPTREG_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Output format: readable text, or the server's JSON.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,

    #[command(subcommand)]
    command: Command,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the registry server.
    Serve(serve::Args),
    /// Push prompt files (a file or a directory); unchanged content creates nothing.
    Push(push::Args),
    /// Show one version of a prompt (default: the latest).
    Get(get::Args),
    /// List prompts with their latest version and deployments.
    List(list::Args),
    /// List the versions of a prompt, newest first.
    Versions(versions::Args),
    /// Show what changed between two versions.
    Diff(diff::Args),
    /// Make a version live in an environment.
    Deploy(deploy::Args),
    /// Move an environment back to an earlier version.
    Rollback(rollback::Args),
    /// Show the deployment history of a prompt in an environment.
    History(history::Args),
    /// List what is live in an environment.
    Catalog(catalog::Args),
    /// Show the version an agent gets (what `GET /v1/resolve` answers).
    Resolve(resolve::Args),
    /// Render the live version with variables.
    Render(render::Args),
    /// Manage environments.
    Env(env::Args),
    /// Manage API tokens.
    Token(token::Args),
}

impl Cli {
    /// What error reports need to know, taken before the command consumes the arguments.
    pub fn reporting(&self) -> Reporting {
        let client = !matches!(self.command, Command::Serve(_));
        Reporting {
            url: client.then(|| self.url.clone()),
            json: client && self.output == OutputFormat::Json,
        }
    }

    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        let Cli {
            url,
            token,
            output,
            command,
        } = self;
        let ctx = || Ctx::new(&url, token.as_deref(), output);
        match command {
            Command::Serve(args) => serve::run(args).await,
            Command::Push(args) => push::run(args, &ctx()?).await,
            Command::Get(args) => get::run(args, &ctx()?).await,
            Command::List(args) => list::run(args, &ctx()?).await,
            Command::Versions(args) => versions::run(args, &ctx()?).await,
            Command::Diff(args) => diff::run(args, &ctx()?).await,
            Command::Deploy(args) => deploy::run(args, &ctx()?).await,
            Command::Rollback(args) => rollback::run(args, &ctx()?).await,
            Command::History(args) => history::run(args, &ctx()?).await,
            Command::Catalog(args) => catalog::run(args, &ctx()?).await,
            Command::Resolve(args) => resolve::run(args, &ctx()?).await,
            Command::Render(args) => render::run(args, &ctx()?).await,
            Command::Env(args) => env::run(args, &ctx()?).await,
            Command::Token(args) => token::run(args, &ctx()?).await,
        }
    }
}

/// What every client command gets: the API client and the output format.
pub struct Ctx {
    client: Client,
    output: OutputFormat,
}

impl Ctx {
    fn new(url: &str, token: Option<&str>, output: OutputFormat) -> anyhow::Result<Self> {
        let client = match token {
            Some(token) => Client::new(url, token),
            None => Client::unauthenticated(url),
        }
        .map_err(|e| UsageError(format!("--url / PROMPTREG_URL: {e}")))?;
        Ok(Self { client, output })
    }

    fn json(&self) -> bool {
        self.output == OutputFormat::Json
    }
}

/// A mistake in how the command was called: exit code 2, like clap's own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `--limit` / `--cursor` of list commands: one page when either is given, else every page.
#[derive(Debug, Clone, clap::Args)]
struct PageArgs {
    /// Fetch a single page of at most this many items (1-500) instead of every page.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: Option<u32>,
    /// Fetch the page after this cursor (printed by a previous `--limit` call).
    #[arg(long)]
    cursor: Option<String>,
}

impl PageArgs {
    /// Fetches the page asked for, or walks every page into one.
    async fn fetch<T, F, Fut>(&self, mut fetch: F) -> Result<Page<T>, ClientError>
    where
        F: FnMut(PageRequest) -> Fut,
        Fut: Future<Output = Result<Page<T>, ClientError>>,
    {
        if self.limit.is_none() && self.cursor.is_none() {
            Ok(Page {
                items: all_pages(fetch).await?,
                next_cursor: None,
            })
        } else {
            fetch(PageRequest {
                limit: self.limit,
                cursor: self.cursor.clone(),
            })
            .await
        }
    }
}

/// Prints a list page: JSON as the server's page, text as a table (or `empty`) and the
/// cursor of the next page if there is one.
fn print_page<T: serde::Serialize>(
    ctx: &Ctx,
    page: &Page<T>,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
    empty: &str,
) -> anyhow::Result<()> {
    if ctx.json() {
        return crate::output::print_json(page);
    }
    if page.items.is_empty() {
        outln!("{empty}")?;
    } else {
        let rows: Vec<Vec<String>> = page.items.iter().map(row).collect();
        out!("{}", crate::output::table(headers, &rows))?;
    }
    if let Some(cursor) = &page.next_cursor {
        outln!("more: --cursor {cursor}")?;
    }
    Ok(())
}

/// A text template, or chat messages as `[role]` blocks.
fn body_text(template: Option<&str>, messages: Option<&[ChatEntry]>) -> String {
    if let Some(template) = template {
        return template.to_owned();
    }
    let blocks: Vec<String> = messages
        .unwrap_or_default()
        .iter()
        .map(|m| match m {
            ChatEntry::Message { role, content } => format!("[{role}]\n{content}"),
            ChatEntry::Placeholder { name } => format!("[placeholder: {name}]"),
        })
        .collect();
    blocks.join("\n\n")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_argument_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
