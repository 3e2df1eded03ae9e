//! Prompt files on disk, turned into `POST /v1/prompts/{name}/versions` bodies.
//!
//! Two formats, chosen by extension (see `docs/prompt-files.md`):
//!
//! - [`yaml`]: `*.yaml` / `*.yml`, the API body as YAML plus a `name` field.
//! - [`dotprompt`]: `*.prompt`, Dotprompt-style YAML front matter and a template body.
//!
//! [`load_path`] finds the files under a path, names each prompt (the `name` field, else the
//! file's path relative to the pushed directory without its extension) and checks its content
//! with `promptreg-core`, so every file error names the file and the field before anything is
//! sent.

pub mod dotprompt;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use promptreg_api::CreateVersion;
use promptreg_core::{Digest, PromptName};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A prompt file, parsed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The prompt it is a version of.
    pub name: PromptName,
    /// The request body.
    pub body: CreateVersion,
    /// The content digest, computed locally exactly as the server does.
    pub digest: Digest,
}

/// A problem with one field of a file, before the file's path is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field concerned, e.g. `template`, `messages[1].role`; none for the whole file.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// A problem with one field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A problem with the file as a whole (syntax, shape).
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }

    fn in_file(self, path: &Path) -> FileError {
        FileError {
            path: path.to_owned(),
            field: self.field,
            message: self.message,
        }
    }
}

/// A refused prompt file: `<path>: <field>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// The field, if the problem is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {field}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// What a format parser yields: the body and the `name` field if the file has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The `name` field.
    pub name: Option<String>,
    /// The request body, not yet validated.
    pub body: CreateVersion,
}

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `*.yaml`, `*.yml`.
    Yaml,
    /// `*.prompt`.
    Dotprompt,
}

impl Format {
    /// The format a file's extension selects, if any.
    pub fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "yaml" | "yml" => Some(Format::Yaml),
            "prompt" => Some(Format::Dotprompt),
            _ => None,
        }
    }
}

/// Reads every prompt file under `path` (a file, or a directory walked recursively, hidden
/// entries skipped, in name order). Every bad file is reported, not only the first.
pub fn load_path(path: &Path) -> Result<Vec<PromptFile>, Vec<FileError>> {
    let (root, sources) = match discover(path) {
        Ok(found) => found,
        Err(e) => return Err(vec![e]),
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<PromptName, PathBuf> = BTreeMap::new();
    for source in sources {
        match load_file(&source, &root) {
            Ok(file) => {
                if let Some(first) = seen.get(&file.name) {
                    errors.push(FileError {
                        path: file.path.clone(),
                        field: Some("name".into()),
                        message: format!(
                            "prompt {} is also defined by {}",
                            file.name,
                            first.display()
                        ),
                    });
                } else {
                    seen.insert(file.name.clone(), file.path.clone());
                    files.push(file);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// The directory names are relative to, and the prompt files under `path`.
fn discover(path: &Path) -> Result<(PathBuf, Vec<PathBuf>), FileError> {
    let meta = std::fs::metadata(path).map_err(|e| FileError {
        path: path.to_owned(),
        field: None,
        message: e.to_string(),
    })?;
    if meta.is_file() {
        if Format::of(path).is_none() {
            return Err(FileError {
                path: path.to_owned(),
                field: None,
                message: "not a prompt file: expected a .yaml, .yml or .prompt extension".into(),
            });
        }
        let root = path.parent().map(Path::to_owned).unwrap_or_default();
        return Ok((root, vec![path.to_owned()]));
    }
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| FileError {
            path: e.path().unwrap_or(path).to_owned(),
            field: None,
            message: e.to_string(),
        })?;
        if entry.file_type().is_file() && Format::of(entry.path()).is_some() {
            found.push(entry.into_path());
        }
    }
    Ok((path.to_owned(), found))
}

/// Reads, parses and validates one file; `root` is what its default name is relative to.
pub fn load_file(path: &Path, root: &Path) -> Result<PromptFile, FileError> {
    let format = Format::of(path).ok_or_else(|| FileError {
        path: path.to_owned(),
        field: None,
        message: "not a prompt file: expected a .yaml, .yml or .prompt extension".into(),
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        path: path.to_owned(),
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    let rel = path.strip_prefix(root).unwrap_or(path);
    parse_text(format, &text, rel)
        .map_err(|e| e.in_file(path))
        .map(|(name, body, digest)| PromptFile {
            path: path.to_owned(),
            name,
            body,
            digest,
        })
}

/// Parses a file's text; `rel` is its path relative to the pushed directory.
pub fn parse_text(
    format: Format,
    text: &str,
    rel: &Path,
) -> Result<(PromptName, CreateVersion, Digest), FieldError> {
    let parsed = match format {
        Format::Yaml => yaml::parse(text)?,
        Format::Dotprompt => dotprompt::parse(text)?,
    };
    let name = match parsed.name {
        Some(name) => {
            PromptName::parse(&name).map_err(|e| FieldError::new("name", e.to_string()))?
        }
        None => name_from_path(rel)?,
    };
    let content = parsed
        .body
        .content()
        .map_err(|e| FieldError::new(e.field, e.message))?;
    Ok((name, parsed.body, content.digest()))
}

/// `support/triage.prompt` → `support/triage`.
fn name_from_path(rel: &Path) -> Result<PromptName, FieldError> {
    let stem = rel.with_extension("");
    let mut segments = Vec::new();
    for component in stem.components() {
        match component {
            Component::Normal(s) => segments.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(FieldError::new(
                    "name",
                    format!("cannot derive a prompt name from {}", rel.display()),
                ))
            }
        }
    }
    let name = segments.join("/");
    PromptName::parse(&name).map_err(|e| {
        FieldError::new(
            "name",
            format!("the file path gives the prompt name {name:?}, which is refused ({e}); rename the file or set `name`"),
        )
    })
}

/// Removes `key` from `map` and deserialises it; `null` counts as absent. Errors name the key.
pub(crate) fn take<T: DeserializeOwned>(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<T>, FieldError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| FieldError::new(key, e.to_string())),
    }
}

/// Refuses keys outside `allowed`, naming the first unknown one.
pub(crate) fn check_keys(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), FieldError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(FieldError::new(
            unknown.clone(),
            format!("unknown field; expected one of: {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Parses YAML into JSON values (YAML-only constructs such as non-string keys are refused).
pub(crate) fn yaml_to_json(text: &str) -> Result<Value, FieldError> {
    serde_yaml_ng::from_str::<Value>(text)
        .map_err(|e| FieldError::whole(format!("invalid YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_relative_path() {
        assert_eq!(
            name_from_path(Path::new("support/triage.prompt"))
                .unwrap()
                .as_str(),
            "support/triage"
        );
        assert_eq!(
            name_from_path(Path::new("greeting.v2.yaml"))
                .unwrap()
                .as_str(),
            "greeting.v2"
        );
        let err = name_from_path(Path::new("Support/Triage.yaml")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("name"));
        assert!(err.message.contains("Support/Triage"), "{}", err.message);
    }

    #[test]
    fn load_path_walks_a_tree_and_reports_every_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("support")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        std::fs::write(root.join("greeting.yaml"), "template: Hello {{ name }}\n").unwrap();
        std::fs::write(root.join("support/triage.prompt"), "Triage: {{ ticket }}\n").unwrap();
        std::fs::write(root.join("notes.txt"), "not a prompt").unwrap();
        std::fs::write(root.join(".hidden/x.yaml"), "nonsense: [").unwrap();
        let files = load_path(root).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["greeting", "support/triage"]);

        std::fs::write(root.join("bad.yaml"), "template: '{% if %}'\n").unwrap();
        std::fs::write(root.join("worse.yaml"), "templte: x\n").unwrap();
        std::fs::write(
            root.join("support/dup.yaml"),
            "name: greeting\ntemplate: x\n",
        )
        .unwrap();
        let errors = load_path(root).unwrap_err();
        let fields: Vec<(String, Option<&str>)> = errors
            .iter()
            .map(|e| {
                (
                    e.path.file_name().unwrap().to_string_lossy().into_owned(),
                    e.field.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("bad.yaml".to_owned(), Some("template")),
                ("dup.yaml".to_owned(), Some("name")),
                ("worse.yaml".to_owned(), Some("templte")),
            ]
        );
        assert!(errors[0]
            .to_string()
            .starts_with(&root.join("bad.yaml").display().to_string()));
    }

    #[test]
    fn a_single_file_is_named_after_its_stem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello.prompt");
        std::fs::write(&path, "Hi").unwrap();
        let files = load_path(&path).unwrap();
        assert_eq!(files[0].name.as_str(), "hello");
        let other = dir.path().join("hello.txt");
        std::fs::write(&other, "Hi").unwrap();
        assert!(load_path(&other).is_err());
    }
}
