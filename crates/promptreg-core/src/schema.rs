//! The variables JSON Schema of a version, compiled once and checked with `jsonschema`.

use std::sync::Arc;

use serde_json::Value;

/// A validated JSON Schema for a prompt's variables, compiled once at parse time.
#[derive(Clone)]
pub struct VariablesSchema {
    value: Value,
    validator: Arc<jsonschema::Validator>,
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

impl VariablesSchema {
    /// Accepts an object that is a valid JSON Schema (checked against its meta-schema) and
    /// compiles it. Remote `$ref`s are not fetched: the schema must be self-contained.
    pub fn parse(value: Value) -> Result<Self, String> {
        if !value.is_object() {
            return Err("must be a JSON Schema object".into());
        }
        jsonschema::meta::validate(&value).map_err(|e| {
            format!(
                "not a valid JSON Schema: {e} (at {})",
                pointer_or_root(&e.instance_path.to_string())
            )
        })?;
        let validator = jsonschema::validator_for(&value)
            .map_err(|e| format!("not a usable JSON Schema: {e}"))?;
        Ok(Self {
            value,
            validator: Arc::new(validator),
        })
    }

    /// The schema as given.
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// Checks variables; every failure names the field it concerns.
    pub fn validate(&self, variables: &Value) -> Result<(), Vec<VariableError>> {
        let errors: Vec<VariableError> = self
            .validator
            .iter_errors(variables)
            .map(|e| {
                let path = e.instance_path.to_string();
                let field = if path.is_empty() {
                    "variables".to_owned()
                } else {
                    format!("variables{}", path.replace('/', "."))
                };
                VariableError {
                    field,
                    message: e.to_string(),
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
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
    fn refuses_schemas_that_are_not_json_schema() {
        assert!(VariablesSchema::parse(json!({"type": "object"})).is_ok());
        assert!(VariablesSchema::parse(json!({"type": 12})).is_err());
        assert!(VariablesSchema::parse(json!({"required": "name"})).is_err());
        assert!(VariablesSchema::parse(json!([1])).is_err());
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
