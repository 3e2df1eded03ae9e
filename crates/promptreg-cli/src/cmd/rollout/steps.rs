//! The `--canary` step syntax and the strategy files of `rollout start`.
//!
//! `--canary "5%,60s,2500,pause,50%,approval"`: comma-separated items, each one step:
//!
//! | item | step |
//! | --- | --- |
//! | `500` (a whole number, 0-10000) | `{"set_weight": 500}`, in 1/10,000 of the fleet |
//! | `5%`, `12.5%` (0-100, at most two decimals) | `{"set_weight": 500}`, `{"set_weight": 1250}` |
//! | `60s`, `250ms`, `5m`, `1h` | `{"pause": {"duration": "60s"}}`, a timed pause |
//! | `pause` | `{"pause": {}}`, until a person resumes or promotes |
//! | `approval` | `{"approval": {}}`, until a person promotes or resumes |
//!
//! Analysis steps have no short form: write them in a `--steps-file` (a JSON array of steps,
//! or `{"steps": [...]}`), in the API's own step objects. Items are checked here so that a
//! typo is named by its position before anything is sent; the server checks the result again.

use std::path::Path;

use anyhow::Context as _;
use promptreg_core::analysis::parse_duration;
use serde_json::{json, Value};

use crate::cmd::UsageError;

/// The largest weight: the whole fleet, in 1/10,000.
const BUCKETS: u32 = 10_000;

/// Parses `--canary` into the API's step objects; an item that does not parse is a usage
/// error naming it and its position.
pub fn parse_canary(text: &str) -> Result<Vec<Value>, UsageError> {
    let mut steps = Vec::new();
    for (i, item) in text.split(',').enumerate() {
        let item = item.trim();
        let step = parse_item(item)
            .map_err(|why| UsageError(format!("--canary: item {} `{item}`: {why}", i + 1)))?;
        steps.push(step);
    }
    Ok(steps)
}

fn parse_item(item: &str) -> Result<Value, String> {
    const EXPECTED: &str = "expected a weight (0-10000, or 0%-100%), a pause duration (60s, 5m), `pause` or `approval`";
    if item.is_empty() {
        return Err(format!("empty; {EXPECTED}"));
    }
    match item {
        "pause" => return Ok(json!({"pause": {}})),
        "approval" => return Ok(json!({"approval": {}})),
        _ => {}
    }
    if let Some(percent) = item.strip_suffix('%') {
        return parse_percent(percent).map(|w| json!({ "set_weight": w }));
    }
    if item.bytes().all(|b| b.is_ascii_digit()) {
        return match item.parse::<u32>() {
            Ok(w) if w <= BUCKETS => Ok(json!({ "set_weight": w })),
            _ => Err(format!(
                "a weight is at most {BUCKETS} (in 1/10,000 of the fleet; or write a percentage such as `5%`)"
            )),
        };
    }
    if item.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_duration(item)
            .map(|_| json!({"pause": {"duration": item}}))
            .map_err(|e| e.to_string());
    }
    Err(EXPECTED.to_owned())
}

/// `12.5` → 1250: whole hundredths of a percent, exactly (no float rounding).
fn parse_percent(text: &str) -> Result<u32, String> {
    let refuse =
        || format!("`{text}%` is not a percentage from 0% to 100% with at most two decimals");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(refuse());
    }
    let whole: u32 = whole.parse().map_err(|_| refuse())?;
    let hundredths: u32 = format!("{fraction:0<2}").parse().map_err(|_| refuse())?;
    let weight = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(hundredths))
        .filter(|w| *w <= BUCKETS)
        .ok_or_else(refuse)?;
    Ok(weight)
}

/// Reads a JSON file.
pub fn read_json(path: &Path, what: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("the {what} file {} is not JSON", path.display()))
}

/// A `--steps-file`: a JSON array of steps, or an object with `steps`.
pub fn steps_from_file(path: &Path) -> anyhow::Result<Vec<Value>> {
    match read_json(path, "steps")? {
        Value::Array(steps) => Ok(steps),
        Value::Object(mut o) => match o.remove("steps") {
            Some(Value::Array(steps)) => Ok(steps),
            _ => Err(UsageError(format!(
                "{}: expected a JSON array of steps or {{\"steps\": [...]}}",
                path.display()
            ))
            .into()),
        },
        _ => Err(UsageError(format!(
            "{}: expected a JSON array of steps or {{\"steps\": [...]}}",
            path.display()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_become_api_steps() {
        let steps = parse_canary("500, 5%,12.5%,60s,pause,100%,approval,0").unwrap();
        assert_eq!(
            Value::Array(steps),
            json!([
                {"set_weight": 500}, {"set_weight": 500}, {"set_weight": 1250},
                {"pause": {"duration": "60s"}}, {"pause": {}}, {"set_weight": 10000},
                {"approval": {}}, {"set_weight": 0}
            ])
        );
    }

    #[test]
    fn bad_items_are_named_with_their_position() {
        for (text, needle) in [
            ("500,5x", "item 2 `5x`"),
            ("500,,60s", "item 2 ``: empty"),
            ("10001", "at most 10000"),
            ("100.5%", "`100.5%`"),
            ("1.234%", "at most two decimals"),
            ("30sec", "item 1 `30sec`"),
            ("wait", "`pause` or `approval`"),
        ] {
            let Err(UsageError(msg)) = parse_canary(text) else {
                panic!("{text} parsed");
            };
            assert!(msg.starts_with("--canary: item "), "{msg}");
            assert!(msg.contains(needle), "{text}: {msg}");
        }
    }
}
