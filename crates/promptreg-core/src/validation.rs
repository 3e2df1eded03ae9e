//! Validation results attached to a version (an evaluation suite's verdict): the rules for
//! what may be attached. Results are immutable; the newest result of a suite is "the suite's
//! result" for gates and for the validated-prompts query.

use std::collections::BTreeMap;

/// Longest suite name (the tag rule's length).
pub const MAX_SUITE_LEN: usize = 64;
/// Most metrics one result may carry.
pub const MAX_METRICS: usize = 64;
/// Longest metric name.
pub const MAX_METRIC_NAME_LEN: usize = 64;
/// Largest `details` (a string, or JSON measured as its serialised bytes).
pub const MAX_DETAILS_BYTES: usize = 16 * 1024;
/// Longest tool name or tool version.
pub const MAX_TOOL_LEN: usize = 100;

/// Checks a suite name: 1-64 printable characters without whitespace (like a tag, and usable
/// as a query parameter and a CEL map key).
pub fn check_suite(suite: &str) -> Result<(), String> {
    if suite.is_empty()
        || suite.len() > MAX_SUITE_LEN
        || suite.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "suite: '{suite}' is not a suite name: 1-{MAX_SUITE_LEN} printable characters without spaces"
        ));
    }
    Ok(())
}

/// Checks metrics: at most [`MAX_METRICS`], named like suites, finite numbers.
pub fn check_metrics(metrics: &BTreeMap<String, f64>) -> Result<(), String> {
    if metrics.len() > MAX_METRICS {
        return Err(format!(
            "metrics: at most {MAX_METRICS} metrics, got {}",
            metrics.len()
        ));
    }
    for (name, value) in metrics {
        if name.is_empty()
            || name.len() > MAX_METRIC_NAME_LEN
            || name.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(format!(
                "metrics: '{name}' is not a metric name: 1-{MAX_METRIC_NAME_LEN} printable characters without spaces"
            ));
        }
        if !value.is_finite() {
            return Err(format!("metrics.{name}: must be a finite number"));
        }
    }
    Ok(())
}

/// Checks `details` (a string or any JSON) against [`MAX_DETAILS_BYTES`].
pub fn check_details(details: &serde_json::Value) -> Result<(), String> {
    let size = match details {
        serde_json::Value::String(s) => s.len(),
        other => serde_json::to_vec(other).map_or(usize::MAX, |b| b.len()),
    };
    if size > MAX_DETAILS_BYTES {
        return Err(format!(
            "details: {size} bytes; at most {MAX_DETAILS_BYTES}"
        ));
    }
    Ok(())
}

/// Checks the tool that produced a result.
pub fn check_tool(name: &str, version: &str) -> Result<(), String> {
    for (field, value) in [("tool.name", name), ("tool.version", version)] {
        if value.trim().is_empty()
            || value.len() > MAX_TOOL_LEN
            || value.chars().any(char::is_control)
        {
            return Err(format!("{field}: 1-{MAX_TOOL_LEN} printable characters"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_metrics_details_and_tools_are_bounded() {
        assert!(check_suite("canary-evals").is_ok());
        for bad in ["", "has space", "tab\t", &"x".repeat(65)] {
            assert!(check_suite(bad).is_err(), "{bad:?}");
        }
        let mut m = BTreeMap::new();
        m.insert("accuracy".to_owned(), 0.9);
        assert!(check_metrics(&m).is_ok());
        m.insert("nan".to_owned(), f64::NAN);
        assert!(check_metrics(&m).unwrap_err().contains("metrics.nan"));
        assert!(check_details(&serde_json::json!("short")).is_ok());
        let big = serde_json::json!("x".repeat(MAX_DETAILS_BYTES + 1));
        assert!(check_details(&big).unwrap_err().contains("details"));
        assert!(check_tool("promptfoo", "0.9.1").is_ok());
        assert!(check_tool("", "1").unwrap_err().contains("tool.name"));
    }
}
