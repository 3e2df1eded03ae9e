//! How commands print: `--output json` prints the API's JSON, `--output text` aligned tables
//! and `key  value` blocks.
//!
//! Everything goes through `out!` and `outln!` rather than `print!`: `print!` panics when
//! the reader of a pipe has gone away (`promptreg list | head -1`), which printed a panic
//! message and exited 101. Here a closed stdout is not an error: the rest of the output is
//! discarded and the command carries on, so it still finishes what it was doing (a `push` still
//! pushes every file) and exits with the status of that work, 0 when it succeeded. We chose 0
//! over the 141 (128 + SIGPIPE) a C program killed by the signal would give: the reader
//! stopping early is the reader's choice, not a failure of promptreg, and `set -o pipefail`
//! scripts such as `promptreg list | head -1` should not fail because of it.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Readable, aligned summaries.
    Text,
    /// The server's JSON (pretty-printed), for scripts.
    Json,
}

/// Set once a write to stdout failed with a broken pipe: nobody reads the rest.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout, like `print!`, and returns an error instead of panicking. A broken pipe
/// (the reader has gone away) is not an error: the rest of the output is discarded quietly.
pub fn write_stdout(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = io::stdout().lock();
    // Flushed at once, so that a closed pipe is noticed here rather than at exit.
    match stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

/// Whether a write to stdout found the reader gone (commands that would otherwise run
/// forever, `watch`, stop then).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes a line to stderr, ignoring failures: there is nowhere left to report them, and
/// `eprintln!` would panic on a closed pipe (`promptreg list 2>&1 | head -1`).
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// `print!` that survives a closed pipe; evaluates to `anyhow::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` that survives a closed pipe; evaluates to `anyhow::Result<()>`.
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!($($arg)*))
    };
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?)
}

/// Columns separated by two spaces, each as wide as its widest cell; the last column is not
/// padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `key  value` lines with the keys aligned; pairs whose value is empty are left out.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        let _ = writeln!(out, "{key:<width$}  {value}");
    }
    out
}

/// A time as `2026-11-24T10:00:00Z`.
pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `sha256:` and the first 12 hex digits: enough to tell versions apart in a table.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take("sha256:".len() + 12).collect()
}

/// Compact JSON of an optional value; empty when absent.
pub fn compact(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_default()
}

/// A model configuration as `provider/name {params}`.
pub fn model(model: Option<&Value>) -> String {
    let Some(Value::Object(m)) = model else {
        return String::new();
    };
    let name = match (
        m.get("provider").and_then(Value::as_str),
        m.get("name").and_then(Value::as_str),
    ) {
        (Some(p), Some(n)) => format!("{p}/{n}"),
        (None, Some(n)) => n.to_owned(),
        (Some(p), None) => p.to_owned(),
        (None, None) => String::new(),
    };
    match m.get("params") {
        Some(params) if name.is_empty() => params.to_string(),
        Some(params) => format!("{name} {params}"),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_columns() {
        let out = table(
            &["NAME", "VERSION", "DIGEST"],
            &[
                vec!["a".into(), "12".into(), "x".into()],
                vec!["support/triage".into(), "3".into(), "y".into()],
            ],
        );
        assert_eq!(
            out,
            "NAME            VERSION  DIGEST\na               12       x\nsupport/triage  3        y\n"
        );
    }

    #[test]
    fn models_read_naturally() {
        assert_eq!(
            model(Some(
                &json!({"provider": "openai", "name": "gpt-4o", "params": {"t": 1}})
            )),
            r#"openai/gpt-4o {"t":1}"#
        );
        assert_eq!(model(None), "");
        assert_eq!(
            short_digest(&format!("sha256:{}", "a".repeat(64))),
            "sha256:aaaaaaaaaaaa"
        );
    }
}
