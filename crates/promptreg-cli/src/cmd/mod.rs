//! The argument tree. [`Command`] only dispatches: each subcommand is a module with an `Args`
//! struct and a `run` function; client commands also take [`ClientArgs`] (`--url`, `--token`,
//! `--ca-cert`, `--output`), which `serve` does not.

mod audit;
mod catalog;
mod changes;
mod deploy;
mod diff;
mod env;
mod export;
mod gates;
mod get;
mod history;
mod import;
mod key_pair;
mod keys;
mod lifecycle;
mod list;
mod projects;
mod push;
mod render;
mod report;
mod resolve;
mod rollback;
mod rollout;
mod serve;
mod snapshot;
mod token;
mod validate;
mod verify;
mod versions;
mod watch;

use std::fmt;
use std::future::Future;
use std::process::ExitCode;

use promptreg_api::Page;
use promptreg_client::{all_pages, Client, ClientError, PageRequest};
use promptreg_core::ChatEntry;

use crate::output::OutputFormat;
pub use report::report_usage;
use report::{report, Reporting};

/// promptreg: a registry of versioned, deployable prompts.
#[derive(Debug, clap::Parser)]
#[command(name = "promptreg", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How a client command reaches the server and prints. Flattened into each client command
/// (not global on `promptreg`), so that `serve --help` lists only what `serve` reads; `global`
/// here carries them down to subcommands such as `token create`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Client options")]
pub struct ClientArgs {
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

    /// PEM file of a CA to trust besides the public ones, for an https:// server whose
    /// certificate a private CA signed.
    #[arg(long, global = true, env = "PROMPTREG_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,

    /// Output format: readable text, or the server's JSON (errors too, on stderr).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

/// A client command: its own arguments plus [`ClientArgs`].
#[derive(Debug, clap::Args)]
pub struct WithClient<T: clap::Args> {
    #[command(flatten)]
    args: T,
    #[command(flatten)]
    client: ClientArgs,
}

impl<T: clap::Args> WithClient<T> {
    /// Connects and runs `command`; returns what an error report needs with the outcome.
    async fn run(
        self,
        command: impl AsyncFnOnce(T, &Ctx) -> anyhow::Result<()>,
    ) -> (anyhow::Result<()>, Reporting) {
        let reporting = Reporting {
            url: Some(self.client.url.clone()),
            json: self.client.output == OutputFormat::Json,
        };
        let outcome = match Ctx::new(&self.client) {
            Ok(ctx) => command(self.args, &ctx).await,
            Err(e) => Err(e),
        };
        (outcome, reporting)
    }
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the registry server.
    Serve(serve::Args),
    /// Push prompt files (a file or a directory); unchanged content creates nothing.
    Push(WithClient<push::Args>),
    /// Show one version of a prompt (default: the latest).
    Get(WithClient<get::Args>),
    /// List prompts with their latest version and deployments.
    List(WithClient<list::Args>),
    /// List the versions of a prompt, newest first.
    Versions(WithClient<versions::Args>),
    /// Show what changed between two versions.
    Diff(WithClient<diff::Args>),
    /// Make a version live in an environment.
    Deploy(WithClient<deploy::Args>),
    /// Ask for a deploy into a protected environment (a change request).
    Request(WithClient<changes::RequestArgs>),
    /// Approve someone else's change request.
    Approve(WithClient<changes::ApproveArgs>),
    /// Reject a change request (with a comment).
    Reject(WithClient<changes::RejectArgs>),
    /// Deploy an approved change request.
    Apply(WithClient<changes::ApplyArgs>),
    /// List change requests.
    Requests(WithClient<changes::ListArgs>),
    /// Move an environment back to an earlier version.
    Rollback(WithClient<rollback::Args>),
    /// Roll a version out progressively (canary, blue-green) and steer it.
    Rollout(WithClient<rollout::Args>),
    /// Show the deployment history of a prompt in an environment.
    History(WithClient<history::Args>),
    /// List what is live in an environment.
    Catalog(WithClient<catalog::Args>),
    /// Show the version an agent gets (what `GET /v1/resolve` answers).
    Resolve(WithClient<resolve::Args>),
    /// Render the live version with variables.
    Render(WithClient<render::Args>),
    /// Manage environments.
    Env(WithClient<env::Args>),
    /// Manage API tokens.
    #[command(alias = "tokens")]
    Token(WithClient<token::Args>),
    /// Manage Langfuse-style key pairs (pk-…/sk-…, for the Langfuse-compatible routes).
    #[command(alias = "key-pairs")]
    KeyPair(WithClient<key_pair::Args>),
    /// The server's keys: list the public signing keys, rotate the signing key or the
    /// key-encryption key (admin).
    Keys(WithClient<keys::Args>),
    /// Check the registry without trusting its database: digests, signatures, the ledger.
    Verify(WithClient<verify::Args>),
    /// Write the project to one signed bundle, for disaster recovery (admin).
    Export(WithClient<export::Args>),
    /// Restore a bundle into an empty registry, after verifying it (admin).
    Import(WithClient<import::Args>),
    /// Show or set the project's lifecycle rules (which old versions may be pruned).
    Lifecycle(WithClient<lifecycle::Args>),
    /// Prune the versions the lifecycle rules let go (admin): their content is dropped, a
    /// tombstone stays.
    Prune(WithClient<lifecycle::PruneArgs>),
    /// Show who changed what, when and why (reviewer); `--jsonl` exports every match.
    Audit(WithClient<audit::Args>),
    /// Attach a validation result (an evaluation suite's verdict) to a version.
    Validate(WithClient<validate::Args>),
    /// Show or set an environment's promotion path and CEL gates.
    Gates(WithClient<gates::Args>),
    /// Create and list projects (tenants; creating one takes a server administrator).
    #[command(alias = "project")]
    Projects(WithClient<projects::Args>),
    /// Print every change (version, deploy, rollback, rollout step) as it happens.
    Watch(WithClient<watch::Args>),
    /// Write an environment's signed snapshot to a file (what an SDK starts from offline).
    // `-o` is the file here, as agents' runbooks write it; the format stays `--output`.
    #[command(mut_arg("output", |a| a.short(None)))]
    Snapshot(WithClient<snapshot::Args>),
}

impl Cli {
    /// Runs the chosen command and reports its failure, if any.
    pub async fn run(self) -> ExitCode {
        let (outcome, reporting) = match self.command {
            Command::Serve(args) => (serve::run(args).await, Reporting::default()),
            Command::Push(c) => c.run(push::run).await,
            Command::Get(c) => c.run(get::run).await,
            Command::List(c) => c.run(list::run).await,
            Command::Versions(c) => c.run(versions::run).await,
            Command::Diff(c) => c.run(diff::run).await,
            Command::Deploy(c) => c.run(deploy::run).await,
            Command::Request(c) => c.run(changes::request).await,
            Command::Approve(c) => c.run(changes::approve).await,
            Command::Reject(c) => c.run(changes::reject).await,
            Command::Apply(c) => c.run(changes::apply).await,
            Command::Requests(c) => c.run(changes::list).await,
            Command::Rollback(c) => c.run(rollback::run).await,
            Command::Rollout(c) => c.run(rollout::run).await,
            Command::History(c) => c.run(history::run).await,
            Command::Catalog(c) => c.run(catalog::run).await,
            Command::Resolve(c) => c.run(resolve::run).await,
            Command::Render(c) => c.run(render::run).await,
            Command::Env(c) => c.run(env::run).await,
            Command::Token(c) => c.run(token::run).await,
            Command::KeyPair(c) => c.run(key_pair::run).await,
            Command::Keys(c) => c.run(keys::run).await,
            Command::Verify(c) => c.run(verify::run).await,
            Command::Export(c) => c.run(export::run).await,
            Command::Import(c) => c.run(import::run).await,
            Command::Lifecycle(c) => c.run(lifecycle::run).await,
            Command::Prune(c) => c.run(lifecycle::prune).await,
            Command::Audit(c) => c.run(audit::run).await,
            Command::Validate(c) => c.run(validate::run).await,
            Command::Gates(c) => c.run(gates::run).await,
            Command::Projects(c) => c.run(projects::run).await,
            Command::Watch(c) => c.run(watch::run).await,
            Command::Snapshot(c) => c.run(snapshot::run).await,
        };
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => report(&e, &reporting),
        }
    }
}

/// What every client command gets: the API client and the output format.
pub struct Ctx {
    client: Client,
    output: OutputFormat,
}

impl Ctx {
    fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let mut builder = Client::builder(&args.url);
        if let Some(token) = &args.token {
            builder = builder.token(token);
        }
        if let Some(ca) = &args.ca_cert {
            builder = builder.ca_cert_file(ca);
        }
        let client = builder.build().map_err(|e| match e {
            ClientError::CaCert { .. } => UsageError(format!("--ca-cert / PROMPTREG_CA_CERT: {e}")),
            e => UsageError(format!("--url / PROMPTREG_URL: {e}")),
        })?;
        Ok(Self {
            client,
            output: args.output,
        })
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
