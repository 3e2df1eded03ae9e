//! How a failed command is reported on stderr, and its exit code.
//!
//! A refusal from the server prints as `error: <message> (<code>, HTTP <status>)`, followed by
//! what the command was doing (`  while deploying …`). A server that cannot be reached is said
//! in those words, with its URL, rather than as the HTTP library's error chain.

use std::process::ExitCode;

use promptreg_client::ClientError;

use super::UsageError;

/// What `report` needs to know besides the error.
#[derive(Debug, Clone, Default)]
pub struct Reporting {
    /// The server URL a client command talked to (`None` for `serve`).
    pub url: Option<String>,
}

/// A failure, classified: the first line, what the command was doing, the exit code.
struct Failure {
    message: String,
    context: Vec<String>,
    exit: u8,
}

/// Prints an error to stderr and picks the exit code: 2 for a usage error, 1 otherwise.
pub fn report(err: &anyhow::Error, how: &Reporting) -> ExitCode {
    let failure = classify(err, how);
    errln!("error: {}", failure.message);
    for context in &failure.context {
        errln!("  while {context}");
    }
    ExitCode::from(failure.exit)
}

fn classify(err: &anyhow::Error, how: &Reporting) -> Failure {
    if let Some(usage) = err.chain().find_map(|e| e.downcast_ref::<UsageError>()) {
        return Failure {
            message: usage.to_string(),
            context: Vec::new(),
            exit: 2,
        };
    }
    let client = err.chain().find_map(|e| e.downcast_ref::<ClientError>());
    let message = match client {
        Some(e @ ClientError::Api { .. }) => e.to_string(),
        Some(e) if e.is_unreachable() => format!(
            "cannot reach the promptreg server at {}: is it running? ({})",
            server(how),
            root_cause(e)
        ),
        Some(e) if e.is_timeout() => format!(
            "the promptreg server at {} did not answer in time ({})",
            server(how),
            root_cause(e)
        ),
        Some(e @ ClientError::Transport(_)) => format!(
            "the request to the promptreg server at {} failed ({})",
            server(how),
            root_cause(e)
        ),
        // Local failures (a bad file, a digest mismatch): the whole chain is the message.
        _ => {
            return Failure {
                message: format!("{err:#}"),
                context: Vec::new(),
                exit: 1,
            }
        }
    };
    // The contexts added above the client error say what the command was doing.
    let context = err
        .chain()
        .take_while(|e| e.downcast_ref::<ClientError>().is_none())
        .map(ToString::to_string)
        .collect();
    Failure {
        message,
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
