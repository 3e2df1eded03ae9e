//! `promptreg gates show <ENV>` and `promptreg gates set <ENV> [--predecessor staging]
//! [--min-time 1h] [--gate name=expression ...]`: an environment's promotion path and CEL
//! gates (setting them is for admins and replaces the whole set).

use anyhow::Context as _;
use promptreg_api::{GateView, GatesView, SetGates};
use promptreg_core::EnvName;

use super::{Ctx, UsageError};
use crate::output::{fields, print_json, table, time};

/// Arguments of `gates`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: GatesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GatesCommand {
    /// Show an environment's promotion path and gates.
    Show {
        /// The environment.
        env: EnvName,
    },
    /// Replace an environment's promotion path and gates (admin); what is not given is unset.
    Set(SetArgs),
}

/// Arguments of `gates set`.
#[derive(Debug, clap::Args)]
struct SetArgs {
    /// The environment.
    env: EnvName,
    /// The environment a version must have been live in first.
    #[arg(long, value_name = "ENV")]
    predecessor: Option<String>,
    /// How long, in total, it must have been live there (`30m`, `1h`).
    #[arg(long, value_name = "DURATION", requires = "predecessor")]
    min_time: Option<String>,
    /// A gate, `name=<CEL expression>` (repeatable; all must hold).
    #[arg(long = "gate", value_name = "NAME=EXPR")]
    gates: Vec<String>,
}

/// Runs `gates`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let view = match args.command {
        GatesCommand::Show { env } => ctx
            .client
            .gates(&env)
            .await
            .with_context(|| format!("reading the gates of {env}"))?,
        GatesCommand::Set(set) => {
            let mut gates = Vec::with_capacity(set.gates.len());
            for g in &set.gates {
                let (name, expression) = g.split_once('=').ok_or_else(|| {
                    UsageError(format!("--gate {g:?}: write name=<CEL expression>"))
                })?;
                gates.push(GateView {
                    name: name.trim().to_owned(),
                    expression: expression.trim().to_owned(),
                });
            }
            let body = SetGates {
                required_predecessor: set.predecessor,
                min_time_in_predecessor: set.min_time,
                gates,
            };
            ctx.client
                .set_gates(&set.env, &body)
                .await
                .with_context(|| format!("setting the gates of {}", set.env))?
        }
    };
    if ctx.json() {
        return print_json(&view);
    }
    show(&view)
}

fn show(v: &GatesView) -> anyhow::Result<()> {
    let dash = || "-".to_owned();
    out!(
        "{}",
        fields(&[
            ("env", v.env.clone()),
            (
                "predecessor",
                v.required_predecessor.clone().unwrap_or_else(dash)
            ),
            (
                "min_time",
                v.min_time_in_predecessor.clone().unwrap_or_else(dash)
            ),
            (
                "updated",
                format!("{} by {}", time(&v.updated_at), v.updated_by)
            ),
        ])
    )?;
    if v.gates.is_empty() {
        return outln!("no gates");
    }
    let rows: Vec<Vec<String>> = v
        .gates
        .iter()
        .map(|g| vec![g.name.clone(), g.expression.clone()])
        .collect();
    out!("{}", table(&["GATE", "EXPRESSION"], &rows))
}
