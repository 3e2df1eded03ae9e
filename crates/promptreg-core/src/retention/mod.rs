//! Retention: a project's lifecycle rules and which versions they let go.
//!
//! - [`Rules`]: `keep_last` (the newest versions of each prompt that always stay) and
//!   `prune_unused_after` (a version created or live more recently than this stays), with
//!   [`parse_age`] / [`format_age`] for ages as people write them (`"30d"`, `"12h"`).
//! - [`plan`]: which versions may be pruned, each with the reason it may go, and which the
//!   rules would let go but a hold keeps ([`Hold`]: live somewhere, ever deployed to a
//!   protected environment, a possible rollback target, part of an active rollout).
//!
//! Pure: the server reads the facts (versions, every pointer move, protected environments,
//! rollouts) inside the project's unit of work and prunes what the plan says.

mod plan;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use plan::{plan, Facts, Held, Hold, MoveFact, Plan, Prunable, RolloutFact, VersionFact};

/// Seconds in a day, the unit `prune_unused_after` is usually written in.
const DAY: u64 = 86_400;

/// A project's lifecycle rules. With neither set, nothing is ever pruned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// The newest `keep_last` versions of every prompt always stay (at least 1; unset: 1,
    /// so a prompt's latest version is never pruned).
    pub keep_last: Option<u32>,
    /// A version created, or live anywhere, within this age stays.
    pub prune_unused_after: Option<Duration>,
}

/// Why rules were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RulesError {
    /// The field concerned.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// The largest `keep_last` accepted.
pub const MAX_KEEP_LAST: u32 = 1_000_000;

impl Rules {
    /// Checked rules: `keep_last` at least 1, `prune_unused_after` longer than zero.
    pub fn new(
        keep_last: Option<u32>,
        prune_unused_after: Option<Duration>,
    ) -> Result<Self, RulesError> {
        if keep_last == Some(0) {
            return Err(RulesError {
                field: "keep_last",
                message: "must be at least 1: the newest version of a prompt is never pruned"
                    .into(),
            });
        }
        if keep_last.is_some_and(|n| n > MAX_KEEP_LAST) {
            return Err(RulesError {
                field: "keep_last",
                message: format!("must be at most {MAX_KEEP_LAST}"),
            });
        }
        if prune_unused_after.is_some_and(|d| d.is_zero()) {
            return Err(RulesError {
                field: "prune_unused_after",
                message: "must be longer than zero".into(),
            });
        }
        Ok(Self {
            keep_last,
            prune_unused_after,
        })
    }

    /// Whether no rule is set (then nothing is pruned).
    pub fn is_empty(&self) -> bool {
        self.keep_last.is_none() && self.prune_unused_after.is_none()
    }

    /// How many of each prompt's newest versions stay.
    pub fn kept_newest(&self) -> u32 {
        self.keep_last.unwrap_or(1).max(1)
    }
}

/// Parses an age: a whole number and a unit, `d` (days), `h`, `m` or `s`.
pub fn parse_age(text: &str) -> Result<Duration, RulesError> {
    let bad = |message: String| RulesError {
        field: "prune_unused_after",
        message,
    };
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let seconds: u64 = match unit {
        "d" => DAY,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => {
            return Err(bad(format!(
                "`{text}` is not an age: write a whole number and d, h, m or s, e.g. \"30d\""
            )))
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds))
        .map(Duration::from_secs)
        .ok_or_else(|| bad(format!("`{text}` is not an age: the number does not fit")))
}

/// Writes an age in the largest of d, h, m, s that divides it (what [`parse_age`] reads).
pub fn format_age(age: Duration) -> String {
    let s = age.as_secs();
    for (unit, size) in [("d", DAY), ("h", 3_600), ("m", 60)] {
        if s != 0 && s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}
