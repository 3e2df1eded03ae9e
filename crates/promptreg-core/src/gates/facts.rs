//! The facts a gate expression sees, and their CEL form.
//!
//! Times are whole seconds since the Unix epoch (`now`, `version.created_at`), so durations
//! are plain arithmetic: `now - version.created_at > 86400`. Metrics are doubles.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::metadata::Metadata;
use crate::name::{EnvName, Version};

/// The version being moved into the environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionFacts {
    /// Its number.
    pub number: Version,
    /// Its content digest.
    pub digest: String,
    /// Its metadata (tags, compat and every other key).
    pub metadata: Metadata,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The newest result of one suite for the version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationFact {
    /// Whether the suite passed.
    pub passed: bool,
    /// Its metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// The version in the required predecessor environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PredecessorFacts {
    /// The predecessor environment.
    pub env: EnvName,
    /// Whether the version is live there now.
    pub live: bool,
    /// Whether it was ever live there.
    pub ever_live: bool,
    /// Total seconds it has been live there, over every stint (up to now for the current one).
    pub live_for_seconds: i64,
}

/// Everything a gate may look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facts {
    /// The version.
    pub version: VersionFacts,
    /// Suite name to its newest result.
    pub validations: BTreeMap<String, ValidationFact>,
    /// Approvals of the change request being applied; 0 when the move applies none.
    pub approvals: u32,
    /// The predecessor, when the environment requires one.
    pub predecessor: Option<PredecessorFacts>,
    /// The time of the decision.
    pub now: DateTime<Utc>,
}

/// How long `version` was live in an environment whose pointer records are `history`
/// (`(at, version made live)`, oldest first), as of `now`: each record keeps its version live
/// until the next record (or `now`), and the stints of `version` are added up.
pub fn predecessor_facts(
    env: EnvName,
    history: &[(DateTime<Utc>, Version)],
    version: Version,
    now: DateTime<Utc>,
) -> PredecessorFacts {
    let mut total = 0i64;
    let mut ever_live = false;
    for (i, (at, v)) in history.iter().enumerate() {
        if *v != version {
            continue;
        }
        ever_live = true;
        let until = history.get(i + 1).map_or(now, |(next, _)| *next);
        total = total.saturating_add((until - *at).num_seconds().max(0));
    }
    PredecessorFacts {
        env,
        live: history.last().is_some_and(|(_, v)| *v == version),
        ever_live,
        live_for_seconds: total,
    }
}

fn seconds(t: DateTime<Utc>) -> cel::Value {
    cel::Value::Int(t.timestamp())
}

fn strings(items: &[String]) -> cel::Value {
    cel::Value::from(
        items
            .iter()
            .map(|s| cel::Value::from(s.as_str()))
            .collect::<Vec<_>>(),
    )
}

fn map(entries: Vec<(&str, cel::Value)>) -> cel::Value {
    let map: HashMap<String, cel::Value> = entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    cel::Value::from(map)
}

/// JSON as CEL: integers stay ints, other numbers become doubles.
pub(crate) fn json(value: &serde_json::Value) -> cel::Value {
    use serde_json::Value as J;
    match value {
        J::Null => cel::Value::Null,
        J::Bool(b) => cel::Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => cel::Value::from(s.as_str()),
        J::Array(items) => cel::Value::from(items.iter().map(json).collect::<Vec<_>>()),
        J::Object(o) => {
            let m: HashMap<String, cel::Value> =
                o.iter().map(|(k, v)| (k.clone(), json(v))).collect();
            cel::Value::from(m)
        }
    }
}

impl VersionFacts {
    pub(crate) fn cel(&self) -> cel::Value {
        let compat = &self.metadata.compat;
        let tools: HashMap<String, cel::Value> = compat
            .tools
            .iter()
            .map(|(k, v)| (k.clone(), cel::Value::from(v.as_str())))
            .collect();
        let metadata = serde_json::to_value(&self.metadata).unwrap_or_default();
        map(vec![
            ("number", cel::Value::Int(self.number.get())),
            ("digest", cel::Value::from(self.digest.as_str())),
            ("tags", strings(&self.metadata.tags)),
            ("metadata", json(&metadata)),
            (
                "compat",
                map(vec![
                    ("agent_types", strings(&compat.agent_types)),
                    ("tool_versions", cel::Value::from(tools)),
                    ("runtimes", strings(&compat.runtimes)),
                ]),
            ),
            ("created_by", cel::Value::from(self.created_by.as_str())),
            ("created_at", seconds(self.created_at)),
        ])
    }
}

impl Facts {
    /// The CEL value of each variable, in [`super::VARIABLES`] order.
    pub(crate) fn variables(&self) -> Vec<(&'static str, cel::Value)> {
        let validations: HashMap<String, cel::Value> = self
            .validations
            .iter()
            .map(|(suite, v)| {
                let metrics: HashMap<String, cel::Value> = v
                    .metrics
                    .iter()
                    .map(|(k, m)| (k.clone(), cel::Value::Float(*m)))
                    .collect();
                let entry = map(vec![
                    ("passed", cel::Value::Bool(v.passed)),
                    ("metrics", cel::Value::from(metrics)),
                ]);
                (suite.clone(), entry)
            })
            .collect();
        let predecessor = match &self.predecessor {
            None => cel::Value::Null,
            Some(p) => map(vec![
                ("env", cel::Value::from(p.env.as_str())),
                ("live", cel::Value::Bool(p.live)),
                ("ever_live", cel::Value::Bool(p.ever_live)),
                ("live_for_seconds", cel::Value::Int(p.live_for_seconds)),
            ]),
        };
        vec![
            ("version", self.version.cel()),
            ("validations", cel::Value::from(validations)),
            ("approvals", cel::Value::Int(i64::from(self.approvals))),
            ("predecessor", predecessor),
            ("now", seconds(self.now)),
        ]
    }

    /// The JSON of one variable (what a failure report shows).
    pub(crate) fn variable_json(&self, name: &str) -> serde_json::Value {
        match name {
            "version" => {
                let c = &self.version.metadata.compat;
                serde_json::json!({
                    "number": self.version.number,
                    "digest": self.version.digest,
                    "tags": self.version.metadata.tags,
                    "metadata": self.version.metadata,
                    "compat": {"agent_types": c.agent_types, "tool_versions": c.tools, "runtimes": c.runtimes},
                    "created_by": self.version.created_by,
                    "created_at": self.version.created_at.timestamp(),
                })
            }
            "validations" => serde_json::to_value(&self.validations).unwrap_or_default(),
            "approvals" => serde_json::json!(self.approvals),
            "predecessor" => serde_json::to_value(&self.predecessor).unwrap_or_default(),
            "now" => serde_json::json!(self.now.timestamp()),
            _ => serde_json::Value::Null,
        }
    }
}
