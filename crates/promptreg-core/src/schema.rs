//! The variables JSON Schema of a version, checked against its meta-schema and compiled once
//! with [`boon`] (draft 2020-12 unless the schema names another draft in `$schema`).
//!
//! `boon` passes the official JSON-Schema test suite and keeps its compiled meta-schemas small
//! (the `jsonschema` crate's draft 2020-12 meta-validator alone held 8 MiB). Schemas must be
//! self-contained: no `$ref` is ever fetched from a file or the network.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// Where the schema lives while compiling; only used to resolve `$ref`s inside it.
const SCHEMA_URL: &str = "https://promptreg.invalid/variables.schema.json";

/// A compiled schema, or why the stored one does not compile.
type Compiled = Result<(boon::Schemas, boon::SchemaIndex), String>;

/// A JSON Schema for a prompt's variables: checked and compiled at parse time, or, for a
/// schema read back from the store (checked when it was published), compiled on first use,
/// so that loading a large catalogue at start-up neither compiles nor holds every schema.
#[derive(Clone)]
pub struct VariablesSchema {
    value: Value,
    compiled: Arc<OnceLock<Compiled>>,
}

impl std::fmt::Debug for VariablesSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl PartialEq for VariablesSchema {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// One variable that does not satisfy the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableError {
    /// `variables` or `variables.<path>`, naming the offending field.
    pub field: String,
    /// What the schema expected.
    pub message: String,
}

impl std::fmt::Display for VariableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Refuses to load anything: a variables schema must not reach files or the network.
struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(
            format!("$ref to {url} is not allowed: variables schemas must be self-contained")
                .into(),
        )
    }
}

impl VariablesSchema {
    /// Accepts an object that is a valid JSON Schema (checked against its meta-schema) and
    /// compiles it.
    pub fn parse(value: Value) -> Result<Self, String> {
        if !value.is_object() {
            return Err("must be a JSON Schema object".into());
        }
        let compiled = compile(&value)?;
        Ok(Self {
            value,
            compiled: Arc::new(OnceLock::from(Ok(compiled))),
        })
    }

    /// A schema read back from the store, where it was stored only after [`Self::parse`]
    /// accepted it: compiled when first used. Should the stored value no longer compile (an
    /// edit behind the server's back), validation reports it instead of passing.
    pub fn stored(value: Value) -> Self {
        Self {
            value,
            compiled: Arc::new(OnceLock::new()),
        }
    }

    /// The schema as given.
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// Checks variables; every failure names the field it concerns.
    pub fn validate(&self, variables: &Value) -> Result<(), Vec<VariableError>> {
        let compiled = self.compiled.get_or_init(|| compile(&self.value));
        let (schemas, index) = match compiled {
            Ok(c) => c,
            Err(e) => {
                return Err(vec![VariableError {
                    field: "variables".into(),
                    message: format!("the stored variables schema is not usable: {e}"),
                }])
            }
        };
        let Err(error) = schemas.validate(variables, *index) else {
            return Ok(());
        };
        Err(leaves(&error)
            .into_iter()
            .map(|(at, message)| VariableError {
                field: format!("variables{}", at.replace('/', ".")),
                message,
            })
            .collect())
    }
}

/// Checks `value` against its meta-schema and compiles it.
fn compile(value: &Value) -> Compiled {
    if !value.is_object() {
        return Err("must be a JSON Schema object".into());
    }
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    compiler.use_loader(Box::new(NoLoader));
    let mut schemas = boon::Schemas::new();
    let compiled = match compiler.add_resource(SCHEMA_URL, value.clone()) {
        Ok(()) => compiler.compile(SCHEMA_URL, &mut schemas),
        Err(e) => Err(e),
    };
    compiled.map(|index| (schemas, index)).map_err(describe)
}

/// A compile error as a message naming where the schema is wrong.
fn describe(error: boon::CompileError) -> String {
    match error {
        boon::CompileError::ValidationError { src, .. } => {
            let details: Vec<String> = leaves(&src)
                .into_iter()
                .map(|(at, msg)| format!("{msg} (at {})", pointer_or_root(&at)))
                .collect();
            format!("not a valid JSON Schema: {}", details.join("; "))
        }
        boon::CompileError::LoadUrlError { url, .. }
        | boon::CompileError::UnsupportedUrlScheme { url } => {
            format!("$ref to {url} is not allowed: variables schemas must be self-contained")
        }
        other => format!("not a usable JSON Schema: {other}"),
    }
}

/// The innermost errors of a validation tree: (instance pointer, message).
fn leaves(error: &boon::ValidationError<'_, '_>) -> Vec<(String, String)> {
    if error.causes.is_empty() {
        return vec![(error.instance_location.to_string(), error.kind.to_string())];
    }
    error.causes.iter().flat_map(leaves).collect()
}

fn pointer_or_root(p: &str) -> &str {
    if p.is_empty() {
        "the root"
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_stored_schema_compiles_on_first_use_and_never_passes_when_broken() {
        let good = VariablesSchema::stored(json!({"type": "object", "required": ["name"]}));
        assert!(good.validate(&json!({"name": "Ada"})).is_ok());
        assert_eq!(good.validate(&json!({})).map_err(|e| e.len()), Err(1));
        // A value edited in the database behind the server's back: an error, not a pass.
        let broken = VariablesSchema::stored(json!({"type": 12}));
        let errors = broken.validate(&json!({})).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("stored variables schema"),
            "{errors:?}"
        );
    }

    #[test]
    fn refuses_schemas_that_are_not_json_schema() {
        assert!(VariablesSchema::parse(json!({"type": "object"})).is_ok());
        assert!(VariablesSchema::parse(json!({"type": 12})).is_err());
        assert!(VariablesSchema::parse(json!({"required": "name"})).is_err());
        assert!(VariablesSchema::parse(json!([1])).is_err());
    }

    #[test]
    fn schemas_never_reach_files_or_the_network() {
        for target in ["file:///etc/passwd", "https://example.com/s.json"] {
            let err = VariablesSchema::parse(json!({"$ref": target})).unwrap_err();
            assert!(err.contains("not allowed"), "{err}");
        }
        // References inside the schema itself work.
        let s = VariablesSchema::parse(json!({
            "$defs": {"name": {"type": "string"}},
            "type": "object", "properties": {"n": {"$ref": "#/$defs/name"}}
        }))
        .unwrap();
        assert!(s.validate(&json!({"n": 1})).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let s = VariablesSchema::parse(json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["name"]
        }))
        .unwrap();
        assert!(s.validate(&json!({"name": "x"})).is_ok());
        let errs = s.validate(&json!({"n": "x"})).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "variables.n"), "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.field == "variables" && e.message.contains("name")),
            "{errs:?}"
        );
    }
}
