//! A unified diff between two versions: content as text, plus changed metadata fields.
//!
//! Line diffs are quadratic on unlucky input (two 50,000-line versions with every line changed
//! took 22 s), so a diff is bounded by [`DiffLimits`]: past a time budget the line matching
//! gives up and reports the rest as replaced (still a correct diff, just not a minimal one,
//! flagged `approximate`); inputs over a size bound are not diffed line by line at all, and the
//! text is cut at an output bound (both flagged `truncated`).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::content::{ChatEntry, PromptBody, PromptContent};
use crate::metadata::Metadata;
use crate::name::Version;

/// One side of a diff.
#[derive(Debug, Clone, Copy)]
pub struct DiffSide<'a> {
    /// The version number.
    pub version: Version,
    /// Its content.
    pub content: &'a PromptContent,
    /// Its commit message.
    pub commit_message: Option<&'a str>,
    /// Its metadata.
    pub metadata: &'a Metadata,
}

/// A metadata field that differs between two versions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted field name, e.g. `commit_message`, `metadata.tags`.
    pub field: String,
    /// Value in `from` (null when absent).
    pub from: Value,
    /// Value in `to` (null when absent).
    pub to: Value,
}

/// The difference between two versions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionDiff {
    /// Unified diff of the content rendered as text (empty when the content is the same).
    pub unified: String,
    /// Changed non-content fields.
    pub changed_fields: Vec<FieldChange>,
    /// The time bound was reached: the diff is correct but may mark more lines as changed
    /// than a minimal one would.
    pub approximate: bool,
    /// The text is incomplete: the content was too large to diff line by line, or the diff
    /// was cut at the output bound. The last line of `unified` says which.
    pub truncated: bool,
}

/// Bounds of one diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffLimits {
    /// Largest content text, per side, that is diffed line by line.
    pub max_input_bytes: usize,
    /// Time after which line matching stops looking for a minimal diff.
    pub timeout: Duration,
    /// Longest diff text returned.
    pub max_output_bytes: usize,
}

impl Default for DiffLimits {
    fn default() -> Self {
        DiffLimits {
            max_input_bytes: 4 * 1024 * 1024,
            timeout: Duration::from_secs(1),
            max_output_bytes: 2 * 1024 * 1024,
        }
    }
}

/// The content as reviewable text: the template or messages, then schema and model.
fn content_text(c: &PromptContent) -> String {
    let mut out = String::new();
    match c.body() {
        PromptBody::Text(t) => {
            out.push_str(t);
            if !t.ends_with('\n') {
                out.push('\n');
            }
        }
        PromptBody::Chat(entries) => {
            for e in entries {
                match e {
                    ChatEntry::Message { role, content } => {
                        out.push_str(&format!("[{role}]\n{content}\n"));
                    }
                    ChatEntry::Placeholder { name } => {
                        out.push_str(&format!("[placeholder: {name}]\n"))
                    }
                }
            }
        }
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    if let Some(v) = c.variables() {
        out.push_str(&format!("--- variables ---\n{}\n", pretty(v.as_value())));
    }
    if let Some(m) = c.model() {
        out.push_str(&format!(
            "--- model ---\n{}\n",
            pretty(&Value::Object(m.clone()))
        ));
    }
    out
}

/// The unified diff of two texts within `limits`: (text, approximate, truncated).
fn unified(a: &str, b: &str, headers: (&str, &str), limits: &DiffLimits) -> (String, bool, bool) {
    if a == b {
        return (String::new(), false, false);
    }
    if a.len() > limits.max_input_bytes || b.len() > limits.max_input_bytes {
        let text = format!(
            "--- {}\n+++ {}\n# not diffed line by line: the content is {} and {} bytes, \
             more than {} (compare the versions directly)\n",
            headers.0,
            headers.1,
            a.len(),
            b.len(),
            limits.max_input_bytes
        );
        return (text, false, true);
    }
    let deadline = Instant::now() + limits.timeout;
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .deadline(deadline)
        .diff_lines(a, b);
    let approximate = Instant::now() >= deadline;
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(headers.0, headers.1)
        .to_string();
    let mut truncated = false;
    if text.len() > limits.max_output_bytes {
        let mut cut = limits.max_output_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = text[..cut].rfind('\n').map_or(0, |i| i + 1);
        text.truncate(cut);
        text.push_str(&format!(
            "# diff truncated at {} bytes\n",
            limits.max_output_bytes
        ));
        truncated = true;
    }
    (text, approximate, truncated)
}

/// Diffs two versions of one prompt within the default [`DiffLimits`].
pub fn diff(name: &str, from: DiffSide<'_>, to: DiffSide<'_>) -> VersionDiff {
    diff_with(name, from, to, &DiffLimits::default())
}

/// Diffs two versions of one prompt within `limits`. CPU-bound: callers on an async runtime
/// run it on a blocking thread.
pub fn diff_with(
    name: &str,
    from: DiffSide<'_>,
    to: DiffSide<'_>,
    limits: &DiffLimits,
) -> VersionDiff {
    let (a, b) = (content_text(from.content), content_text(to.content));
    let (unified, approximate, truncated) = unified(
        &a,
        &b,
        (
            &format!("{name}@{}", from.version),
            &format!("{name}@{}", to.version),
        ),
        limits,
    );
    let mut changed_fields = Vec::new();
    let cm = |s: Option<&str>| s.map_or(Value::Null, |s| Value::String(s.into()));
    if from.commit_message != to.commit_message {
        changed_fields.push(FieldChange {
            field: "commit_message".into(),
            from: cm(from.commit_message),
            to: cm(to.commit_message),
        });
    }
    let as_map = |m: &Metadata| match serde_json::to_value(m) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (ma, mb) = (as_map(from.metadata), as_map(to.metadata));
    let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (x, y) = (
            ma.get(k).cloned().unwrap_or(Value::Null),
            mb.get(k).cloned().unwrap_or(Value::Null),
        );
        if x != y {
            changed_fields.push(FieldChange {
                field: format!("metadata.{k}"),
                from: x,
                to: y,
            });
        }
    }
    VersionDiff {
        unified,
        changed_fields,
        approximate,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_changed_lines_and_fields() {
        let a = PromptContent::new(PromptBody::Text("Hello\nworld\n".into()), None, None).unwrap();
        let b = PromptContent::new(PromptBody::Text("Hello\nthere\n".into()), None, None).unwrap();
        let ma = Metadata {
            tags: vec!["x".into()],
            ..Default::default()
        };
        let mb = Metadata::default();
        let d = diff(
            "p",
            DiffSide {
                version: Version::FIRST,
                content: &a,
                commit_message: Some("one"),
                metadata: &ma,
            },
            DiffSide {
                version: Version::FIRST.next(),
                content: &b,
                commit_message: Some("two"),
                metadata: &mb,
            },
        );
        assert!(
            d.unified.contains("-world") && d.unified.contains("+there"),
            "{}",
            d.unified
        );
        assert!(d.unified.contains("p@1") && d.unified.contains("p@2"));
        let fields: Vec<_> = d.changed_fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["commit_message", "metadata.tags"]);
        assert!(!d.approximate && !d.truncated);
    }

    fn lines(n: usize, tag: &str) -> String {
        (0..n).map(|i| format!("line {i} {tag}\n")).collect()
    }

    #[test]
    fn pathological_diffs_are_bounded_in_time_and_flagged() {
        let (a, b) = (lines(50_000, "a"), lines(50_000, "b"));
        let limits = DiffLimits {
            timeout: Duration::from_millis(200),
            ..DiffLimits::default()
        };
        let start = Instant::now();
        let (text, approximate, truncated) = unified(&a, &b, ("p@1", "p@2"), &limits);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        assert!(approximate && !truncated);
        assert!(text.contains("-line 0 a") && text.contains("+line 49999 b"));
    }

    #[test]
    fn large_inputs_and_outputs_are_cut_and_flagged() {
        let (a, b) = (lines(1_000, "a"), lines(1_000, "b"));
        let small_input = DiffLimits {
            max_input_bytes: 1_000,
            ..DiffLimits::default()
        };
        let (text, _, truncated) = unified(&a, &b, ("p@1", "p@2"), &small_input);
        assert!(
            truncated && text.contains("not diffed line by line"),
            "{text}"
        );
        let small_output = DiffLimits {
            max_output_bytes: 1_000,
            ..DiffLimits::default()
        };
        let (text, approximate, truncated) = unified(&a, &b, ("p@1", "p@2"), &small_output);
        assert!(truncated && !approximate);
        assert!(
            text.len() < 1_100 && text.ends_with("# diff truncated at 1000 bytes\n"),
            "{text}"
        );
    }
}
