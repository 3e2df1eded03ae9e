//! Durations as users write them in analysis specs and rollout steps: `"250ms"`, `"30s"`,
//! `"5m"`, `"1h"`.
//!
//! A whole number and one unit, nothing else: a bare `"30"` is refused because seconds and
//! milliseconds are both plausible readings, and fractions (`"1.5s"`) are refused because
//! `"1500ms"` says the same thing exactly. [`format_duration`] writes the largest unit that
//! divides the value, so a parsed spec is shown the way a person would write it.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

/// Parses `"<whole number><unit>"` with unit `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(DurationError(format!(
            "`{text}` is not a duration: write a whole number and a unit, e.g. \"250ms\", \"30s\", \"5m\", \"1h\""
        )));
    }
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => {
            return Err(DurationError(format!(
                "`{text}` has no unit: add ms, s, m or h"
            )))
        }
        other => {
            return Err(DurationError(format!(
                "`{other}` is not a unit in `{text}`: use ms, s, m or h"
            )))
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per_unit))
        .map(Duration::from_millis)
        .ok_or_else(|| DurationError(format!("`{text}` is too long")))
}

/// Writes a duration in the largest of h, m, s, ms that divides it (sub-millisecond parts,
/// which [`parse_duration`] never produces, are dropped).
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms != 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// serde helpers so specs store durations in the same spelling users write.
pub(crate) mod serde_duration {
    use super::{format_duration, Duration};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn serialize_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_formats_back() {
        for (text, ms) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d, Duration::from_millis(ms));
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
    }

    #[test]
    fn refuses_what_is_ambiguous_or_malformed() {
        for bad in [
            "",
            "30",
            "s",
            "1.5s",
            "-1s",
            "5 m",
            "5d",
            "10sec",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
