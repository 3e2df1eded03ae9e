//! A unified diff between two versions: content as text, plus changed metadata fields.

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

/// Diffs two versions of one prompt.
pub fn diff(name: &str, from: DiffSide<'_>, to: DiffSide<'_>) -> VersionDiff {
    let (a, b) = (content_text(from.content), content_text(to.content));
    let unified = if a == b {
        String::new()
    } else {
        similar::TextDiff::from_lines(&a, &b)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("{name}@{}", from.version),
                &format!("{name}@{}", to.version),
            )
            .to_string()
    };
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
    }
}
