//! `promptreg audit`: who changed what, when and why, newest first; `--jsonl` exports every
//! match as JSON lines (for archiving or a SIEM).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use promptreg_api::AuditQuery;

use super::{print_page, Ctx, PageArgs, UsageError};
use crate::output::time;

/// Arguments of `audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only changes made by this token id (or full `<id>:<name>` actor).
    #[arg(long)]
    actor: Option<String>,
    /// Only changes concerning this prompt.
    #[arg(long)]
    prompt: Option<String>,
    /// Only changes concerning this environment.
    #[arg(long)]
    env: Option<String>,
    /// Only this action (`deploy`, `rollback`, `version_created`, ...) or event kind
    /// (`pointer_moved`, `rollout_changed`, ...).
    #[arg(long)]
    action: Option<String>,
    /// Only changes at or after this time: RFC 3339, or an age such as `24h` or `7d`.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only changes before this time: RFC 3339, or an age such as `1h`.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Write every matching change as one JSON object per line (the export), streamed.
    #[arg(long, conflicts_with_all = ["limit", "cursor"])]
    jsonl: bool,
    #[command(flatten)]
    page: PageArgs,
}

/// An RFC 3339 time, or an age before now (`24h`).
fn when(flag: &str, value: Option<String>) -> anyhow::Result<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    if DateTime::parse_from_rfc3339(&value).is_ok() {
        return Ok(Some(value));
    }
    let age = promptreg_core::parse_duration(&value).map_err(|_| {
        UsageError(format!(
            "--{flag}: give an RFC 3339 time (2026-11-30T09:00:00Z) or an age (24h, 7d), not {value:?}"
        ))
    })?;
    let age = chrono::Duration::from_std(age).context("age out of range")?;
    Ok(Some((Utc::now() - age).to_rfc3339()))
}

/// Runs `audit`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let query = AuditQuery {
        actor: args.actor,
        prompt: args.prompt,
        env: args.env,
        action: args.action,
        since: when("since", args.since)?,
        until: when("until", args.until)?,
        limit: None,
        cursor: None,
    };
    if args.jsonl {
        let mut out = std::io::stdout();
        return match ctx.client.audit_export(&query, &mut out).await {
            // A reader that stops early (`| head`) is not an error.
            Err(promptreg_client::ClientError::Io(e))
                if e.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                Ok(())
            }
            other => other.map(|_| ()).context("exporting the audit log"),
        };
    }
    let page = args
        .page
        .fetch(|p| ctx.client.audit(&query, p))
        .await
        .context("reading the audit log")?;
    print_page(
        ctx,
        &page,
        &[
            "SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "BEFORE", "AFTER", "REASON",
        ],
        |e| {
            vec![
                e.seq.to_string(),
                time(&e.at),
                e.actor.clone(),
                e.action.clone(),
                e.subject.clone(),
                brief(&e.before),
                brief(&e.after),
                e.reason.clone().unwrap_or_default(),
            ]
        },
        "no changes match",
    )
}

/// A state in one short cell: `v3`, `active`, or compact JSON.
fn brief(state: &serde_json::Value) -> String {
    use serde_json::Value;
    match state {
        Value::Null => "-".into(),
        Value::Object(map) => {
            if let Some(v) = map.get("version").or_else(|| map.get("latest_version")) {
                return format!("v{v}");
            }
            if let Some(Value::Bool(active)) = map.get("active") {
                return if *active { "active" } else { "revoked" }.into();
            }
            if let Some(Value::String(status)) = map.get("status") {
                return status.clone();
            }
            state.to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_become_times_and_nonsense_is_refused() {
        assert_eq!(
            when("since", Some("2026-11-30T09:00:00Z".into())).unwrap(),
            Some("2026-11-30T09:00:00Z".into())
        );
        let t = when("since", Some("1h".into())).unwrap().unwrap();
        let t = DateTime::parse_from_rfc3339(&t).unwrap();
        let age = Utc::now() - t.with_timezone(&Utc);
        assert!((59..=61).contains(&age.num_minutes()), "{age}");
        assert!(when("since", Some("yesterday".into())).is_err());
    }
}
