//! How a failed command is reported on stderr, and its exit code.
//!
//! A refusal from the server prints as `error: <message> (<code>, HTTP <status>)`, followed by
//! what the command was doing (`  while deploying …`). A server that cannot be reached is said
//! in those words, with its URL, rather than as the HTTP library's error chain.
//!
//! With `--output json` the error is the API's envelope, on one line of stderr:
//! `{"error": {"code", "message", "status"?, "context": [...]}}`. Stderr, not stdout: stdout
//! only ever carries a command's result, so `promptreg get x --output json | jq` never reads an
//! error as if it were a version, and the exit code (non-zero) says which one happened. `code`
//! is the server's code for a refusal (`not_found`, `forbidden`, …, with its HTTP `status`), or
//! one of the CLI's own: `usage`, `untrusted_certificate`, `unreachable`, `timeout`,
//! `transport`, `bad_response`, `digest_mismatch`, `invalid_content`, `render_failed`,
//! `verification_failed` (`promptreg verify` found failures, listed in its report),
//! `cli_error` (anything else, such as a prompt file that does not validate). Warnings
//! (`warning: …`) may precede it on stderr as text; the envelope is always the last line.

use std::process::ExitCode;

use promptreg_client::ClientError;
use serde_json::json;

use super::UsageError;

/// What `report` needs to know besides the error.
#[derive(Debug, Clone, Default)]
pub struct Reporting {
    /// The server URL a client command talked to (`None` for `serve`).
    pub url: Option<String>,
    /// `--output json`: the error as the JSON envelope.
    pub json: bool,
}

/// A failure, classified: the first line, what the command was doing, the exit code.
struct Failure {
    code: String,
    status: Option<u16>,
    /// For a refusal, the server's message alone: text output adds code and status to it,
    /// JSON output has them as fields.
    message: String,
    refusal: bool,
    context: Vec<String>,
    exit: u8,
}

impl Failure {
    fn print(&self, json: bool) -> ExitCode {
        if json {
            let mut error =
                json!({"code": self.code, "message": self.message, "context": self.context});
            if let Some(status) = self.status {
                error["status"] = status.into();
            }
            errln!("{}", json!({ "error": error }));
        } else if let (true, Some(status)) = (self.refusal, self.status) {
            errln!("error: {} ({}, HTTP {status})", self.message, self.code);
            for context in &self.context {
                errln!("  while {context}");
            }
        } else {
            errln!("error: {}", self.message);
            for context in &self.context {
                errln!("  while {context}");
            }
        }
        ExitCode::from(self.exit)
    }
}

/// Prints an error to stderr and picks the exit code: 2 for a usage error, 1 otherwise.
pub fn report(err: &anyhow::Error, how: &Reporting) -> ExitCode {
    classify(err, how).print(how.json)
}

/// A command line clap refused. `--help` and `--version` print as usual; with `--output json`
/// anywhere on the command line, a usage error is the JSON envelope with code `usage`.
pub fn report_usage(err: &clap::Error) -> ExitCode {
    let json = {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .any(|a| a == "--output=json" || a == "-ojson" || a == "-o=json")
            || args
                .windows(2)
                .any(|w| matches!(w[0].as_str(), "--output" | "-o") && w[1] == "json")
    };
    if !err.use_stderr() || !json {
        // Prints (ignoring a closed pipe) and exits with clap's code.
        err.exit();
    }
    Failure {
        code: "usage".to_owned(),
        status: None,
        message: err.render().to_string().trim().to_owned(),
        refusal: false,
        context: Vec::new(),
        exit: 2,
    }
    .print(true)
}

fn classify(err: &anyhow::Error, how: &Reporting) -> Failure {
    if let Some(usage) = err.chain().find_map(|e| e.downcast_ref::<UsageError>()) {
        return Failure {
            code: "usage".to_owned(),
            status: None,
            message: usage.to_string(),
            refusal: false,
            context: Vec::new(),
            exit: 2,
        };
    }
    if let Some(failed) = err
        .chain()
        .find_map(|e| e.downcast_ref::<super::verify::Failed>())
    {
        return Failure {
            code: "verification_failed".to_owned(),
            status: None,
            message: failed.to_string(),
            refusal: false,
            context: Vec::new(),
            exit: 1,
        };
    }
    let client = err.chain().find_map(|e| e.downcast_ref::<ClientError>());
    let (code, message) = match client {
        Some(ClientError::Api { code, message, .. }) => (code.as_str(), message.clone()),
        Some(e) if e.is_untrusted_certificate() => (
            "untrusted_certificate",
            format!(
                "the TLS certificate of the promptreg server at {} is not trusted ({}); if a \
                 private CA signed it, give its certificate with --ca-cert or PROMPTREG_CA_CERT",
                server(how),
                root_cause(e)
            ),
        ),
        Some(e) if e.is_unreachable() => (
            "unreachable",
            format!(
                "cannot reach the promptreg server at {}: is it running? ({})",
                server(how),
                root_cause(e)
            ),
        ),
        Some(e) if e.is_timeout() => (
            "timeout",
            format!(
                "the promptreg server at {} did not answer in time ({})",
                server(how),
                root_cause(e)
            ),
        ),
        Some(e @ ClientError::Transport(_)) => (
            "transport",
            format!(
                "the request to the promptreg server at {} failed ({})",
                server(how),
                root_cause(e)
            ),
        ),
        // Local failures (a bad file, a digest mismatch): the whole chain is the message.
        other => {
            let code = match other {
                Some(ClientError::Decode { .. }) => "bad_response",
                Some(ClientError::DigestMismatch { .. }) => "digest_mismatch",
                Some(ClientError::InvalidContent(_)) => "invalid_content",
                Some(ClientError::Render(_)) => "render_failed",
                _ => "cli_error",
            };
            return Failure {
                code: code.to_owned(),
                status: other.and_then(ClientError::status),
                message: format!("{err:#}"),
                refusal: false,
                context: Vec::new(),
                exit: 1,
            };
        }
    };
    // The contexts added above the client error say what the command was doing.
    let context = err
        .chain()
        .take_while(|e| e.downcast_ref::<ClientError>().is_none())
        .map(ToString::to_string)
        .collect();
    Failure {
        code: code.to_owned(),
        status: client.and_then(ClientError::status),
        message,
        refusal: matches!(client, Some(ClientError::Api { .. })),
        context,
        exit: 1,
    }
}

fn server(how: &Reporting) -> &str {
    how.url.as_deref().unwrap_or("its URL")
}

/// The innermost cause, e.g. `Connection refused (os error 111)`: the one that says what
/// happened, where the outer layers only say that something did.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
