//! Opening a row's signature, naming the envelope in the ledger, and printing the fields a
//! signed predicate and a row are compared on.

use std::fmt::Display;

use chrono::{DateTime, SecondsFormat, Utc};
use promptreg_core::integrity::statement::Statement;
use promptreg_core::integrity::{Envelope, IntegrityError, KeyRing};
use promptreg_core::Digest;
use serde_json::Value;

/// The envelope's name in a ledger leaf: SHA-256 of its RFC 8785 canonical JSON, exactly as
/// served (a field added to the stored envelope changes it).
pub(super) fn envelope_digest(value: &Value) -> Digest {
    Digest::of_bytes(&serde_json_canonicalizer::to_vec(value).unwrap_or_default())
}

/// `open_version` or `open_deployment`.
type Opener<P> = fn(&Envelope, &KeyRing) -> Result<(Statement, P), IntegrityError>;

/// Verifies an envelope against the trusted keys and reads its statement and predicate.
pub(super) fn open<P>(
    value: &Value,
    ring: &KeyRing,
    opener: Opener<P>,
) -> Result<(Statement, P), String> {
    let envelope: Envelope =
        serde_json::from_value(value.clone()).map_err(|e| format!("not a DSSE envelope ({e})"))?;
    opener(&envelope, ring).map_err(|e| e.to_string())
}

/// `(field, the row's value, the signed value)` triples that differ, as
/// `<field> <row> but the signature says <signed>`.
pub(super) fn mismatches(fields: &[(&str, String, String)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(_, row, signed)| row != signed)
        .map(|(field, row, signed)| format!("{field} {row} but the signature says {signed}"))
        .collect()
}

/// An optional value, `none` when absent.
pub(super) fn opt<T: Display>(value: Option<&T>) -> String {
    value.map_or_else(|| "none".to_owned(), ToString::to_string)
}

/// An optional text, quoted, `none` when absent.
pub(super) fn text(value: Option<&String>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| format!("{v:?}"))
}

/// A time to the nanosecond (what a signature covers).
pub(super) fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
