//! What a rollout request asks for: the strategy (canary steps, blue-green, immediate) and the
//! analysis, parsed from JSON with errors that name the field.
//!
//! ```json
//! {"canary": {"steps": [{"set_weight": 500}, {"pause": {"duration": "60s"}},
//!                       {"analysis": {"min_sample": 200}}, {"approval": {}}]}}
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bucket::BUCKETS;
use crate::analysis::{parse_duration, AnalysisSpec};

/// A request field that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// JSON path of the field, e.g. `strategy.canary.steps[2].set_weight`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How the candidate reaches the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// A share of subjects gets the candidate, raised step by step.
    Canary {
        /// The steps, in order; completing the last makes the candidate live.
        steps: Vec<Step>,
    },
    /// The candidate is served as the preview track, then switched to atomically.
    BlueGreen(Box<BlueGreen>),
    /// Today's deploy, recorded as a rollout.
    Immediate,
}

/// One canary step (exactly one key per step object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Serve the candidate to this share of subjects, in 1/10,000.
    SetWeight(u32),
    /// Wait: for a duration, or (no duration) until a person resumes.
    Pause {
        /// How long; `None` waits for `resume` or `promote`.
        #[serde(
            default,
            with = "opt_duration",
            skip_serializing_if = "Option::is_none"
        )]
        duration: Option<Duration>,
    },
    /// A blocking analysis: the step completes when it is Successful.
    Analysis(AnalysisSpec),
    /// Wait for a person's `promote` or `resume`.
    Approval,
}

/// Blue-green options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueGreen {
    /// Analysis of the preview before the switch (blocking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<AnalysisSpec>,
    /// Analysis after the switch; Failed or Error switches back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<AnalysisSpec>,
    /// Switch without a person once the preview is judged (or after this long without
    /// pre-promotion analysis). `None`: wait for `promote`.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub auto_promote_after: Option<Duration>,
    /// How long after the switch the rollout watches (and can switch back) before it is done.
    #[serde(with = "duration")]
    pub post_promotion_window: Duration,
}

/// The parsed `strategy` and `analysis` of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSpec {
    /// How the candidate reaches the fleet.
    pub strategy: Strategy,
    /// Background analysis, through the whole rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
}

impl RolloutSpec {
    /// Parses `strategy` and `analysis` as sent in a rollout request.
    pub fn parse(strategy: &Value, analysis: Option<&Value>) -> Result<Self, SpecError> {
        let strategy = parse_strategy(strategy)?;
        let analysis = match analysis {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_analysis(v, "analysis")?),
        };
        Ok(Self { strategy, analysis })
    }

    /// The canary steps (empty for other strategies).
    pub fn steps(&self) -> &[Step] {
        match &self.strategy {
            Strategy::Canary { steps } => steps,
            _ => &[],
        }
    }

    /// The strategy's name as the API spells it.
    pub fn strategy_name(&self) -> &'static str {
        match self.strategy {
            Strategy::Canary { .. } => "canary",
            Strategy::BlueGreen(_) => "blue_green",
            Strategy::Immediate => "immediate",
        }
    }
}

fn parse_analysis(value: &Value, field: &str) -> Result<AnalysisSpec, SpecError> {
    AnalysisSpec::parse(value).map_err(|e| SpecError::new(join(field, &e.field), e.message))
}

fn join(prefix: &str, field: &str) -> String {
    if field.is_empty() {
        prefix.to_owned()
    } else if field.starts_with('[') {
        format!("{prefix}{field}")
    } else {
        format!("{prefix}.{field}")
    }
}

fn single_key<'a>(value: &'a Value, field: &str) -> Result<(&'a str, &'a Value), SpecError> {
    let obj = value
        .as_object()
        .ok_or_else(|| SpecError::new(field, "must be an object with exactly one key"))?;
    let mut keys = obj.iter();
    match (keys.next(), keys.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        _ => Err(SpecError::new(
            field,
            format!(
                "must have exactly one key, found {}",
                if obj.is_empty() {
                    "none".to_owned()
                } else {
                    obj.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        )),
    }
}

fn parse_strategy(value: &Value) -> Result<Strategy, SpecError> {
    let field = "strategy";
    let (kind, body) = single_key(value, field)?;
    match kind {
        "canary" => {
            let f = "strategy.canary";
            let obj = object(body, f, &["steps"])?;
            let steps = obj
                .get("steps")
                .and_then(Value::as_array)
                .ok_or_else(|| SpecError::new(format!("{f}.steps"), "must be an array of steps"))?;
            if steps.is_empty() {
                return Err(SpecError::new(
                    format!("{f}.steps"),
                    "needs at least one step",
                ));
            }
            if steps.len() > 100 {
                return Err(SpecError::new(format!("{f}.steps"), "at most 100 steps"));
            }
            let steps = steps
                .iter()
                .enumerate()
                .map(|(i, s)| parse_step(s, &format!("{f}.steps[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Strategy::Canary { steps })
        }
        "blue_green" => parse_blue_green(body),
        "immediate" => {
            object(body, "strategy.immediate", &[])?;
            Ok(Strategy::Immediate)
        }
        other => Err(SpecError::new(
            field,
            format!("unknown strategy '{other}' (canary, blue_green or immediate)"),
        )),
    }
}

fn parse_step(value: &Value, field: &str) -> Result<Step, SpecError> {
    let (kind, body) = single_key(value, field)?;
    let inner = format!("{field}.{kind}");
    match kind {
        "set_weight" => {
            let w = body
                .as_u64()
                .filter(|w| *w <= u64::from(BUCKETS))
                .ok_or_else(|| {
                    SpecError::new(
                        &inner,
                        format!("must be an integer from 0 to {BUCKETS} (1/10,000 of the fleet)"),
                    )
                })?;
            Ok(Step::SetWeight(u32::try_from(w).unwrap_or(BUCKETS)))
        }
        "pause" => {
            let obj = object(body, &inner, &["duration"])?;
            let duration = match obj.get("duration") {
                None | Some(Value::Null) => None,
                Some(d) => Some(duration_field(d, &format!("{inner}.duration"))?),
            };
            Ok(Step::Pause { duration })
        }
        "analysis" => Ok(Step::Analysis(parse_analysis(body, &inner)?)),
        "approval" => {
            object(body, &inner, &[])?;
            Ok(Step::Approval)
        }
        other => Err(SpecError::new(
            field,
            format!("unknown step '{other}' (set_weight, pause, analysis or approval)"),
        )),
    }
}

fn parse_blue_green(body: &Value) -> Result<Strategy, SpecError> {
    let f = "strategy.blue_green";
    let obj = object(
        body,
        f,
        &[
            "pre_promotion_analysis",
            "post_promotion_analysis",
            "auto_promote_after",
            "post_promotion_window",
        ],
    )?;
    let analysis = |key: &str| match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_analysis(v, &format!("{f}.{key}")).map(Some),
    };
    let duration = |key: &str| match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => duration_field(v, &format!("{f}.{key}")).map(Some),
    };
    Ok(Strategy::BlueGreen(Box::new(BlueGreen {
        pre_promotion_analysis: analysis("pre_promotion_analysis")?,
        post_promotion_analysis: analysis("post_promotion_analysis")?,
        auto_promote_after: duration("auto_promote_after")?,
        post_promotion_window: duration("post_promotion_window")?
            .unwrap_or(Duration::from_secs(60)),
    })))
}

fn object<'a>(
    value: &'a Value,
    field: &str,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, SpecError> {
    let obj = value
        .as_object()
        .ok_or_else(|| SpecError::new(field, "must be an object"))?;
    if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(SpecError::new(
            format!("{field}.{unknown}"),
            if allowed.is_empty() {
                "unknown field (this object takes no fields)".to_owned()
            } else {
                format!("unknown field (expected {})", allowed.join(", "))
            },
        ));
    }
    Ok(obj)
}

fn duration_field(value: &Value, field: &str) -> Result<Duration, SpecError> {
    let text = value.as_str().ok_or_else(|| {
        SpecError::new(
            field,
            "must be a duration string such as \"30s\", \"5m\" or \"1h\"",
        )
    })?;
    parse_duration(text).map_err(|e| SpecError::new(field, e.to_string()))
}

/// Serde for durations as the API spells them ("30s", "1500ms").
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::analysis::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::analysis::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for optional durations.
mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::analysis::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| crate::analysis::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
