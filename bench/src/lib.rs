//! Shared helpers for the promptreg benchmark binaries.
//!
//! The binaries live in `src/bin/`:
//!
//! * `loadgen` — a closed-loop HTTP/1.1 load generator (hyper client, keep-alive
//!   connections, one task per connection, latency recorded in an HDR histogram);
//! * `hello` — a trivial axum server answering a fixed ~1 KiB JSON body, used as the
//!   "machine ceiling" baseline.
//!
//! * `fleet` — a simulated agent fleet for release-control scenarios ([`fleet`]);
//! * `propagation` — time from a rollback's HTTP answer to the last of N change-stream
//!   watchers receiving it ([`propagation`]).
//!
//! This library holds the small pure pieces of `loadgen` (template expansion, header
//! parsing, the result summary) so they can be unit tested.

pub mod fleet;
pub mod propagation;

use std::fmt::Write as _;

use anyhow::{bail, Context as _};
use serde::Serialize;

/// One piece of a parsed [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text copied verbatim.
    Literal(String),
    /// `{n}`: the unique per-request counter.
    Counter,
    /// `{c}`: the connection index (0-based).
    Connection,
}

/// A string with `{n}` (per-request counter) and `{c}` (connection index) placeholders.
///
/// Any other text, including other braces, is copied verbatim, so JSON bodies can be
/// used as templates directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The parsed pieces, in order.
    segments: Vec<Segment>,
    /// Length of all literal text, used to size the output buffer.
    literal_len: usize,
}

impl Template {
    /// Parses `src`, recognising the placeholders `{n}` and `{c}`.
    pub fn parse(src: &str) -> Self {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut literal_len = 0;
        let mut rest = src;
        while let Some(pos) = rest.find('{') {
            let after = &rest[pos..];
            let placeholder = if after.starts_with("{n}") {
                Some(Segment::Counter)
            } else if after.starts_with("{c}") {
                Some(Segment::Connection)
            } else {
                None
            };
            match placeholder {
                Some(seg) => {
                    literal.push_str(&rest[..pos]);
                    if !literal.is_empty() {
                        literal_len += literal.len();
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(seg);
                    rest = &rest[pos + 3..];
                }
                None => {
                    literal.push_str(&rest[..=pos]);
                    rest = &rest[pos + 1..];
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            literal_len += literal.len();
            segments.push(Segment::Literal(literal));
        }
        Self {
            segments,
            literal_len,
        }
    }

    /// Whether the template contains `{n}`.
    pub fn uses_counter(&self) -> bool {
        self.segments.contains(&Segment::Counter)
    }

    /// Whether the template contains `{c}`.
    pub fn uses_connection(&self) -> bool {
        self.segments.contains(&Segment::Connection)
    }

    /// Whether the template contains any placeholder at all.
    pub fn is_constant(&self) -> bool {
        !self.uses_counter() && !self.uses_connection()
    }

    /// Expands the template with counter `n` and connection index `c`.
    pub fn render(&self, n: u64, c: usize) -> String {
        // 20 digits is the longest u64; reserve for a couple of placeholders.
        let mut out = String::with_capacity(self.literal_len + 2 * 20);
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                // Writing into a String cannot fail.
                Segment::Counter => {
                    let _ = write!(out, "{n}");
                }
                Segment::Connection => {
                    let _ = write!(out, "{c}");
                }
            }
        }
        out
    }
}

/// Splits a `"Name: value"` header argument into its trimmed name and value.
pub fn parse_header(arg: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = arg
        .split_once(':')
        .with_context(|| format!("header {arg:?} is not of the form \"Name: value\""))?;
    let name = name.trim();
    if name.is_empty() {
        bail!("header {arg:?} has an empty name");
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Latency percentiles of a run, in microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest observed latency.
    pub max: u64,
    /// Smallest observed latency.
    pub min: u64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// The result of one `loadgen` run, printed as a single JSON line with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Target URL as given (with any `{c}` placeholder unexpanded).
    pub url: String,
    /// HTTP method used.
    pub method: String,
    /// Number of concurrent keep-alive connections.
    pub connections: usize,
    /// Tokio worker threads used by the load generator.
    pub threads: usize,
    /// Measured interval in seconds (warm-up excluded).
    pub duration_s: f64,
    /// Warm-up interval in seconds.
    pub warmup_s: f64,
    /// Responses received during the measured interval (any status).
    pub requests: u64,
    /// Responses with an unexpected status plus transport errors, in the measured interval.
    pub errors: u64,
    /// Of `errors`, those that were transport (connect/IO/protocol) failures.
    pub transport_errors: u64,
    /// `requests / duration_s`.
    pub rps: f64,
    /// Responses with the expected status per second.
    pub ok_rps: f64,
    /// Response body bytes received during the measured interval.
    pub body_bytes: u64,
    /// TCP connections opened over the whole run, warm-up included (equal to
    /// `connections` when keep-alive holds).
    pub connects: u64,
    /// Latency percentiles of every response in the measured interval, microseconds.
    pub latency_us: Latency,
    /// Count of responses per status code, measured interval only.
    pub status: std::collections::BTreeMap<u16, u64>,
}

impl Summary {
    /// Renders the human-readable, multi-line report.
    pub fn to_text(&self) -> String {
        let l = &self.latency_us;
        format!(
            "{method} {url}\n\
             connections {conns}, loadgen threads {threads}, {dur:.1}s measured after {warm:.1}s warm-up\n\
             requests    {req}\n\
             errors      {err} (transport {terr}), connections opened {connects}\n\
             req/s       {rps:.0} (ok {ok:.0})\n\
             latency µs  p50 {p50}  p90 {p90}  p99 {p99}  p99.9 {p999}  max {max}  mean {mean:.1}\n\
             status      {status:?}\n",
            method = self.method,
            url = self.url,
            conns = self.connections,
            threads = self.threads,
            dur = self.duration_s,
            warm = self.warmup_s,
            req = self.requests,
            err = self.errors,
            terr = self.transport_errors,
            connects = self.connects,
            rps = self.rps,
            ok = self.ok_rps,
            p50 = l.p50,
            p90 = l.p90,
            p99 = l.p99,
            p999 = l.p999,
            max = l.max,
            mean = l.mean,
            status = self.status,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_expands_placeholders() {
        let t = Template::parse(r#"{"type":"text","template":"body {n} on {c}"}"#);
        assert!(t.uses_counter());
        assert!(t.uses_connection());
        assert_eq!(
            t.render(42, 3),
            r#"{"type":"text","template":"body 42 on 3"}"#
        );
    }

    #[test]
    fn template_without_placeholders_is_constant() {
        let t = Template::parse(r#"{"a":{"b":"{x}"}}"#);
        assert!(t.is_constant());
        assert_eq!(t.render(1, 1), r#"{"a":{"b":"{x}"}}"#);
    }

    #[test]
    fn template_handles_edges() {
        assert_eq!(Template::parse("{n}").render(7, 0), "7");
        assert_eq!(Template::parse("{n}{c}{").render(7, 2), "72{");
        assert_eq!(Template::parse("").render(7, 2), "");
        assert_eq!(Template::parse("/p/x-{c}/v").render(0, 5), "/p/x-5/v");
    }

    #[test]
    fn header_parsing() {
        assert_eq!(
            parse_header("Authorization: Bearer x:y").unwrap(),
            ("Authorization".to_owned(), "Bearer x:y".to_owned())
        );
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header(": v").is_err());
    }
}
