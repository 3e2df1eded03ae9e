//! How a rollout reads on a terminal: its state, a drawing of the steps with the current one
//! marked, the weight, the per-arm figures and the last analysis results.
//!
//! Everything here reads the [`RolloutView`] the server sends (`strategy`, `arms` and
//! `analysis_results` are JSON), so a field the server adds later is ignored, never an error.

use std::fmt::Write as _;

use promptreg_api::RolloutView;
use serde_json::Value;

use crate::output::{fields, table, time};

/// Whether a rollout has ended (`promoted`, `aborted`, `rolled_back`): nothing moves any more.
pub fn finished(view: &RolloutView) -> bool {
    matches!(view.status.as_str(), "promoted" | "aborted" | "rolled_back")
}

/// A weight in 1/10,000 as a percentage: 500 → `5%`, 1250 → `12.5%`.
pub fn percent(weight: u32) -> String {
    let whole = weight / 100;
    match weight % 100 {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

/// `paused (approval)` or the status alone.
pub fn status(view: &RolloutView) -> String {
    match &view.paused_reason {
        Some(reason) if view.status == "paused" => format!("paused ({reason})"),
        _ => view.status.clone(),
    }
}

/// `step 2/4`, or the blue-green phase.
pub fn position(view: &RolloutView) -> String {
    if finished(view) {
        return String::new(); // the step it ended on says nothing once it has ended
    }
    match view.strategy_name.as_str() {
        "canary" => format!(
            "step {}/{}",
            (view.step + 1).min(view.steps_total),
            view.steps_total
        ),
        "blue_green" if view.switched => "switched to the candidate".to_owned(),
        "blue_green" => "candidate on the preview track".to_owned(),
        _ => String::new(),
    }
}

/// One line: what `--watch` prints per change when stdout is not a terminal, and what the
/// commands print after acting.
pub fn summary_line(view: &RolloutView) -> String {
    let mut line = format!(
        "{} {} in {} v{}→v{}: {}",
        view.id,
        view.name,
        view.env,
        view.stable_version,
        view.candidate_version,
        status(view)
    );
    let position = position(view);
    if !position.is_empty() {
        let _ = write!(line, ", {position}");
    }
    let _ = write!(line, ", weight {}", percent(view.weight));
    line
}

/// The full picture, for `rollout status`.
pub fn render(view: &RolloutView) -> String {
    let mut out = fields(&[
        ("rollout", view.id.clone()),
        ("prompt", format!("{} in {}", view.name, view.env)),
        (
            "versions",
            format!(
                "v{} (stable) → v{} (candidate)",
                view.stable_version, view.candidate_version
            ),
        ),
        ("strategy", view.strategy_name.clone()),
        ("status", status(view)),
        ("position", position(view)),
        (
            "weight",
            format!("{} {}", bar(view.weight), percent(view.weight)),
        ),
        ("step since", time(&view.step_started_at)),
        (
            "started",
            format!("{} by {}", time(&view.created_at), view.created_by),
        ),
        ("reason", view.reason.clone().unwrap_or_default()),
        (
            "analysis",
            if view.analysis_skipped {
                "skipped by a person".into()
            } else {
                String::new()
            },
        ),
    ]);
    let steps = steps(view);
    if !steps.is_empty() {
        out.push_str("\nsteps\n");
        out.push_str(&steps);
    }
    let arms = arms(&view.arms);
    if !arms.is_empty() {
        out.push('\n');
        out.push_str(&arms);
    }
    let results = analysis(&view.analysis_results);
    if !results.is_empty() {
        out.push('\n');
        out.push_str(&results);
    }
    out
}

/// `[#####...............]`: the weight as a 20-cell bar.
fn bar(weight: u32) -> String {
    let filled = usize::try_from(weight.min(10_000) / 500).unwrap_or(20);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(20 - filled))
}

/// The canary steps, one a line: `[x]` done, `[>]` current, `[ ]` to come.
fn steps(view: &RolloutView) -> String {
    let Some(steps) = view
        .strategy
        .pointer("/canary/steps")
        .and_then(Value::as_array)
    else {
        return String::new();
    };
    let current = view.step as usize;
    let done_all = view.status == "promoted";
    let mut out = String::new();
    for (i, step) in steps.iter().enumerate() {
        let mark = if done_all || i < current {
            "[x]"
        } else if i == current && !finished(view) {
            "[>]"
        } else {
            "[ ]"
        };
        let _ = writeln!(out, "  {mark} {:>2}  {}", i + 1, describe_step(step));
    }
    out
}

/// A step as a person would say it.
fn describe_step(step: &Value) -> String {
    if let Some(name) = step.as_str() {
        return name.to_owned(); // unit variants: "approval"
    }
    if let Some(w) = step.get("set_weight").and_then(Value::as_u64) {
        return format!(
            "set weight {}",
            percent(u32::try_from(w).unwrap_or(u32::MAX))
        );
    }
    if let Some(pause) = step.get("pause") {
        return match pause.get("duration").and_then(Value::as_str) {
            Some(d) => format!("pause {d}"),
            None => "pause until resumed".to_owned(),
        };
    }
    if step.get("approval").is_some() {
        return "approval".to_owned();
    }
    if step.get("analysis").is_some() {
        return "analysis".to_owned();
    }
    step.to_string()
}

/// The per-arm outcome figures: whole rollout and current step.
fn arms(arms: &Value) -> String {
    let rows: Vec<Vec<String>> = ["stable", "candidate"]
        .iter()
        .filter_map(|arm| {
            let a = arms.get(arm)?;
            let total = a.get("rollout");
            let step = a.get("step");
            let n = |w: Option<&Value>, k: &str| {
                w.and_then(|w| w.get(k))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            let rate = {
                let (s, f) = (n(total, "successes"), n(total, "failures"));
                if s + f == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.1}%", 100.0 * s as f64 / (s + f) as f64)
                }
            };
            Some(vec![
                (*arm).to_owned(),
                n(total, "samples").to_string(),
                rate,
                n(total, "unsafe_actions").to_string(),
                n(total, "policy_violations").to_string(),
                n(step, "samples").to_string(),
            ])
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    table(
        &[
            "ARM",
            "OUTCOMES",
            "SUCCESS",
            "UNSAFE",
            "POLICY",
            "THIS STEP",
        ],
        &rows,
    )
}

/// Each analysis's last result: its phase and summary, then every metric with pass/fail.
fn analysis(results: &Value) -> String {
    let Some(results) = results.as_object() else {
        return String::new();
    };
    let mut out = String::new();
    for (name, entry) in results.iter().filter(|(_, r)| !r.is_null()) {
        // `{"result": {...}, "at": ...}` per analysis.
        let result = entry.get("result").unwrap_or(entry);
        let phase = result.get("phase").and_then(Value::as_str).unwrap_or("?");
        let summary = result.get("summary").and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(out, "analysis {name}: {phase}  {summary}");
        let rows: Vec<Vec<String>> = result
            .get("metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| {
                let phase = m.get("phase").and_then(Value::as_str).unwrap_or("?");
                let dry = m.get("dry_run").and_then(Value::as_bool).unwrap_or(false);
                let num = |k: &str| {
                    m.get(k)
                        .and_then(Value::as_f64)
                        .map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"))
                };
                vec![
                    format!("{}{}", verdict(phase), if dry { " (dry run)" } else { "" }),
                    m.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                    num("stable"),
                    num("candidate"),
                    num("threshold"),
                ]
            })
            .collect();
        if !rows.is_empty() {
            for line in table(&["RESULT", "METRIC", "STABLE", "CANDIDATE", "LIMIT"], &rows).lines()
            {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}

/// A metric's phase as pass or fail, where it is one.
fn verdict(phase: &str) -> &str {
    match phase {
        "successful" | "running" => "pass",
        "failed" | "error" => "FAIL",
        other => other, // pending, inconclusive: neither yet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_read_as_percentages() {
        assert_eq!(percent(0), "0%");
        assert_eq!(percent(500), "5%");
        assert_eq!(percent(1250), "12.5%");
        assert_eq!(percent(1), "0.01%");
        assert_eq!(percent(10_000), "100%");
        assert_eq!(bar(500), "[#...................]");
        assert_eq!(bar(10_000), format!("[{}]", "#".repeat(20)));
    }

    #[test]
    fn steps_read_naturally() {
        use serde_json::json;
        assert_eq!(describe_step(&json!({"set_weight": 500})), "set weight 5%");
        assert_eq!(
            describe_step(&json!({"pause": {"duration": "1m"}})),
            "pause 1m"
        );
        assert_eq!(describe_step(&json!({"pause": {}})), "pause until resumed");
        assert_eq!(describe_step(&json!("approval")), "approval");
        assert_eq!(
            describe_step(&json!({"analysis": {"interval": "10s"}})),
            "analysis"
        );
    }
}
