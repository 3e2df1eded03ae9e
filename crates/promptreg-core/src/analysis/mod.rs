//! TEMPORARY shim until the analysis module lands (replaced wholesale by it).
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSpec {
    pub interval: Duration,
    pub min_sample: u64,
    pub max_wait: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErr {
    pub field: String,
    pub message: String,
}

impl AnalysisSpec {
    pub fn parse(_v: &serde_json::Value) -> Result<Self, SpecErr> {
        Ok(Self {
            interval: Duration::from_secs(1),
            min_sample: 100,
            max_wait: None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Running,
    Successful,
    Failed,
    Inconclusive,
    Error,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("'{s}' is not a duration"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("'{s}' is not a duration")),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmWindow {
    pub samples: u64,
    pub successes: u64,
}
impl ArmWindow {
    pub fn merge(&mut self, o: &ArmWindow) {
        self.samples += o.samples;
        self.successes += o.successes;
    }
}
pub struct Observed {
    pub stable: ArmWindow,
    pub candidate: ArmWindow,
    pub step_stable: ArmWindow,
    pub step_candidate: ArmWindow,
    pub expected_candidate_share: f64,
}
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalysisState {}
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisResult {
    pub phase: Phase,
    pub summary: String,
}
pub fn evaluate(_s: &AnalysisSpec, _o: &Observed, _st: &mut AnalysisState) -> AnalysisResult {
    AnalysisResult {
        phase: Phase::Running,
        summary: String::new(),
    }
}
