//! Provenance and compatibility metadata. Metadata is not content: it does not enter the digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::content::ContentError;

/// Where a version may run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compat {
    /// Agent types this version is meant for (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_types: Vec<String>,
    /// Tool name to semver requirement, e.g. `{"search": ">=1.2, <2"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, String>,
    /// Runtimes this version is meant for, e.g. `python-3.12`, `node-22`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtimes: Vec<String>,
}

impl Compat {
    fn is_empty(&self) -> bool {
        self.agent_types.is_empty() && self.tools.is_empty() && self.runtimes.is_empty()
    }

    /// Whether a version with this compatibility serves `agent_type` (empty list: any).
    pub fn serves_agent_type(&self, agent_type: &str) -> bool {
        self.agent_types.is_empty() || self.agent_types.iter().any(|a| a == agent_type)
    }

    /// Whether a tool at `version` satisfies this version's requirement for it (none: yes).
    pub fn accepts_tool(&self, tool: &str, version: &semver::Version) -> bool {
        match self.tools.get(tool).map(|r| semver::VersionReq::parse(r)) {
            Some(Ok(req)) => req.matches(version),
            Some(Err(_)) => false,
            None => true,
        }
    }
}

/// Provenance of a version: why it exists and where it fits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Why this change was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// Free labels, used by `?tag=` filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Compatibility constraints.
    #[serde(default, skip_serializing_if = "Compat::is_empty")]
    pub compat: Compat,
    /// Any other key/values (validation results, ticket links, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Longest tag accepted.
const MAX_TAG_LEN: usize = 64;

impl Metadata {
    /// SHA-256 over the RFC 8785 canonical JSON of the metadata: what a version's signature
    /// records, so provenance cannot be edited without breaking it.
    pub fn digest(&self) -> crate::Digest {
        crate::Digest::of_bytes(&serde_json_canonicalizer::to_vec(self).unwrap_or_default())
    }

    /// Checks tags and semver requirements; errors name the field.
    pub fn validate(&self) -> Result<(), ContentError> {
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.is_empty() || tag.len() > MAX_TAG_LEN || tag.chars().any(char::is_control) {
                return Err(ContentError::new(
                    format!("metadata.tags[{i}]"),
                    format!("a tag is 1-{MAX_TAG_LEN} printable characters"),
                ));
            }
        }
        for (tool, req) in &self.compat.tools {
            semver::VersionReq::parse(req).map_err(|e| {
                ContentError::new(
                    format!("metadata.compat.tools.{tool}"),
                    format!("not a semver requirement: {e}"),
                )
            })?;
        }
        for (i, a) in self.compat.agent_types.iter().enumerate() {
            if a.is_empty() {
                return Err(ContentError::new(
                    format!("metadata.compat.agent_types[{i}]"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn metadata_round_trips_extra_keys_and_checks_semver() {
        let m: Metadata = serde_json::from_value(json!({
            "rationale": "r", "tags": ["a"], "ticket": "T-1",
            "compat": {"agent_types": ["triage"], "tools": {"search": ">=1.2, <2"}}
        }))
        .unwrap();
        m.validate().unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap()["ticket"], "T-1");
        assert!(m.compat.serves_agent_type("triage"));
        assert!(!m.compat.serves_agent_type("billing"));
        assert!(m
            .compat
            .accepts_tool("search", &semver::Version::new(1, 5, 0)));
        assert!(!m
            .compat
            .accepts_tool("search", &semver::Version::new(2, 0, 0)));
        let bad: Metadata =
            serde_json::from_value(json!({"compat": {"tools": {"s": "not semver"}}})).unwrap();
        assert_eq!(bad.validate().unwrap_err().field, "metadata.compat.tools.s");
        assert!(serde_json::from_value::<Metadata>(json!({"compat": {"agent": []}})).is_err());
    }
}
