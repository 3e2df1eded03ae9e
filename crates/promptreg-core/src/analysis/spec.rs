//! The analysis spec: what to measure and what counts as a regression, parsed once at the
//! boundary ([`AnalysisSpec::parse`]) so that evaluation never meets an invalid spec.
//!
//! Every refusal is a [`SpecError`] naming the field (`breakers[1].max`, `conditions[0].expr`),
//! relative to the analysis object. Unknown keys are refused, so a typo (`min_samples`) is an
//! error rather than a silently ignored setting. The normalized spec serializes back to JSON
//! that parses to the same spec (durations as `"5s"`, defaults filled in).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::conditions::{self, Program};
use super::duration::{parse_duration, serde_duration};
use super::metric::{Metric, Shape};

/// The name under which the sample-ratio check reports (and can be put in `dry_run`).
pub const SRM_NAME: &str = "sample_ratio";

/// A parsed, valid analysis spec.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnalysisSpec {
    /// Time between evaluations (the controller's tick). Default 5s.
    #[serde(serialize_with = "serde_duration::serialize")]
    pub interval: Duration,
    /// Samples each arm needs before comparisons and conditions decide. Default 100.
    pub min_sample: u64,
    /// Absolute limits on the candidate's current step.
    pub breakers: Vec<Breaker>,
    /// Candidate-versus-stable comparisons over the whole rollout.
    pub compare: Vec<Comparison>,
    /// CEL conditions over both arms.
    pub conditions: Vec<Condition>,
    /// Names of metrics that are computed and shown but never change the phase.
    pub dry_run: Vec<String>,
    /// Failed measurements tolerated per metric (the next one fails it). Default 0.
    pub failure_limit: u32,
    /// Inconclusive measurements tolerated per metric. Default 0.
    pub inconclusive_limit: u32,
    /// Consecutive errors tolerated per metric. Default 4.
    pub consecutive_error_limit: u32,
    /// Coverage of the always-valid intervals, in (0.5, 1). Default 0.95.
    pub confidence: f64,
    /// Level of the sample-ratio check: the chance, over all looks at a step, of flagging a
    /// correct split (an always-valid p-value threshold). Default 0.001.
    pub srm_p_value: f64,
    /// How long a blocking analysis may wait for its sample before the rollout pauses.
    #[serde(
        serialize_with = "serde_duration::serialize_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_wait: Option<Duration>,
}

/// An absolute limit on one metric of the candidate's current-step window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breaker {
    /// The metric limited.
    pub metric: Metric,
    /// Trips when the metric is (confidently, for rates and quantiles) above this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Trips when the metric is (confidently) below this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

/// A comparison of the candidate with the stable arm.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The metric compared.
    pub metric: Metric,
    /// The change tolerated in the worse direction.
    #[serde(flatten)]
    pub margin: Margin,
}

/// The tolerated change of a comparison; its key names the direction of a regression.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Margin {
    /// For `success_rate`: candidate − stable may fall by this much (absolute).
    MaxDrop(f64),
    /// For the other rates: candidate − stable may rise by this much (absolute).
    MaxIncrease(f64),
    /// For quantiles: candidate / stable may exceed 1 by this much (0.2 = 20% slower).
    MaxIncreaseRatio(f64),
}

impl Margin {
    /// The tolerated amount.
    pub fn value(self) -> f64 {
        match self {
            Margin::MaxDrop(m) | Margin::MaxIncrease(m) | Margin::MaxIncreaseRatio(m) => m,
        }
    }
}

/// A named CEL condition: true passes, false fails, an evaluation error is an error.
#[derive(Clone, Serialize)]
pub struct Condition {
    /// Shown in results and usable in `dry_run`.
    pub name: String,
    /// The CEL source, as written.
    pub expr: String,
    /// Compiled once, at parse time.
    #[serde(skip)]
    pub(crate) program: Arc<Program>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("name", &self.name)
            .field("expr", &self.expr)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        // The program is a function of the source.
        self.name == other.name && self.expr == other.expr
    }
}

/// A refused spec: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct SpecError {
    /// Path of the offending field inside the analysis object (`""` for the object itself).
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl SpecError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error with its field placed under `prefix` (e.g. `"analysis"` or
    /// `"strategy.canary.steps[2].analysis"`), for errors reported from a larger document.
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = match (prefix.is_empty(), self.field.is_empty()) {
            (true, _) => self.field,
            (false, true) => prefix.to_owned(),
            (false, false) if self.field.starts_with('[') => format!("{prefix}{}", self.field),
            (false, false) => format!("{prefix}.{}", self.field),
        };
        self
    }
}

impl AnalysisSpec {
    /// Parses and checks a spec as users send it.
    pub fn parse(value: &serde_json::Value) -> Result<AnalysisSpec, SpecError> {
        // serde would also take a struct from an array, by position.
        if !value.is_object() {
            return Err(SpecError::new("", "must be a JSON object"));
        }
        let raw: raw::Spec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            SpecError::new(field, e.into_inner().to_string())
        })?;
        raw::check(raw)
    }

    /// Every name a metric result of this spec can have (what `dry_run` may name).
    pub fn metric_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.breakers.iter().map(|b| b.metric.name()).collect();
        names.extend(self.compare.iter().map(|c| c.metric.name()));
        names.extend(self.conditions.iter().map(|c| c.name.as_str()));
        names.push(SRM_NAME);
        names
    }

    /// Whether results named `name` are dry-run only.
    pub fn is_dry_run(&self, name: &str) -> bool {
        self.dry_run.iter().any(|d| d == name)
    }
}

impl<'de> Deserialize<'de> for AnalysisSpec {
    /// Goes through [`AnalysisSpec::parse`], so a stored spec is checked (and its CEL
    /// compiled) again when it is read back.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        AnalysisSpec::parse(&value).map_err(serde::de::Error::custom)
    }
}

/// The wire shape, before checks.
mod raw {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Spec {
        interval: Option<String>,
        min_sample: Option<u64>,
        #[serde(default)]
        breakers: Vec<RawBreaker>,
        #[serde(default)]
        compare: Vec<RawComparison>,
        #[serde(default)]
        conditions: Vec<RawCondition>,
        #[serde(default)]
        dry_run: Vec<String>,
        failure_limit: Option<u32>,
        inconclusive_limit: Option<u32>,
        consecutive_error_limit: Option<u32>,
        confidence: Option<f64>,
        srm_p_value: Option<f64>,
        max_wait: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawBreaker {
        metric: String,
        max: Option<f64>,
        min: Option<f64>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawComparison {
        metric: String,
        max_drop: Option<f64>,
        max_increase: Option<f64>,
        max_increase_ratio: Option<f64>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawCondition {
        name: String,
        expr: String,
    }

    pub(super) fn check(raw: Spec) -> Result<AnalysisSpec, SpecError> {
        let interval = match raw.interval {
            Some(text) => positive_duration("interval", &text)?,
            None => Duration::from_secs(5),
        };
        let max_wait = raw
            .max_wait
            .map(|text| positive_duration("max_wait", &text))
            .transpose()?;
        let min_sample = raw.min_sample.unwrap_or(100);
        if min_sample == 0 {
            return Err(SpecError::new("min_sample", "must be at least 1"));
        }
        let confidence = raw.confidence.unwrap_or(0.95);
        if !(confidence > 0.5 && confidence < 1.0) {
            return Err(SpecError::new(
                "confidence",
                "must be between 0.5 and 1, exclusive (e.g. 0.95)",
            ));
        }
        let srm_p_value = raw.srm_p_value.unwrap_or(0.001);
        if !(srm_p_value > 0.0 && srm_p_value <= 0.5) {
            return Err(SpecError::new(
                "srm_p_value",
                "must be above 0 and at most 0.5 (e.g. 0.001)",
            ));
        }
        let breakers = raw
            .breakers
            .into_iter()
            .enumerate()
            .map(|(i, b)| breaker(i, b))
            .collect::<Result<Vec<_>, _>>()?;
        no_duplicates("breakers", breakers.iter().map(|b| b.metric.name()))?;
        let compare = raw
            .compare
            .into_iter()
            .enumerate()
            .map(|(i, c)| comparison(i, c))
            .collect::<Result<Vec<_>, _>>()?;
        no_duplicates("compare", compare.iter().map(|c| c.metric.name()))?;
        let conditions = raw
            .conditions
            .into_iter()
            .enumerate()
            .map(|(i, c)| condition(i, c))
            .collect::<Result<Vec<_>, _>>()?;
        no_duplicates("conditions", conditions.iter().map(|c| c.name.as_str()))?;
        let spec = AnalysisSpec {
            interval,
            min_sample,
            breakers,
            compare,
            conditions,
            dry_run: raw.dry_run,
            failure_limit: raw.failure_limit.unwrap_or(0),
            inconclusive_limit: raw.inconclusive_limit.unwrap_or(0),
            consecutive_error_limit: raw.consecutive_error_limit.unwrap_or(4),
            confidence,
            srm_p_value,
            max_wait,
        };
        let known = spec.metric_names();
        if let Some((i, name)) = spec
            .dry_run
            .iter()
            .enumerate()
            .find(|(_, d)| !known.contains(&d.as_str()))
        {
            return Err(SpecError::new(
                format!("dry_run[{i}]"),
                format!(
                    "`{name}` names no metric of this analysis (known: {})",
                    known.join(", ")
                ),
            ));
        }
        Ok(spec)
    }

    fn positive_duration(field: &str, text: &str) -> Result<Duration, SpecError> {
        let d = parse_duration(text).map_err(|e| SpecError::new(field, e.to_string()))?;
        if d.is_zero() {
            return Err(SpecError::new(field, "must be longer than 0"));
        }
        Ok(d)
    }

    fn metric(field: String, name: &str) -> Result<Metric, SpecError> {
        Metric::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            SpecError::new(
                field,
                format!("unknown metric `{name}` (known: {})", known.join(", ")),
            )
        })
    }

    fn limit(field: String, value: f64, shape: Shape) -> Result<f64, SpecError> {
        if !value.is_finite() || value < 0.0 {
            return Err(SpecError::new(field, "must be a number, not negative"));
        }
        if matches!(shape, Shape::Rate { .. }) && value > 1.0 {
            return Err(SpecError::new(field, "a rate is between 0 and 1"));
        }
        Ok(value)
    }

    fn breaker(i: usize, b: RawBreaker) -> Result<Breaker, SpecError> {
        let at = format!("breakers[{i}]");
        let metric = metric(format!("{at}.metric"), &b.metric)?;
        let shape = metric.shape();
        let max = b
            .max
            .map(|v| limit(format!("{at}.max"), v, shape))
            .transpose()?;
        let min = b
            .min
            .map(|v| limit(format!("{at}.min"), v, shape))
            .transpose()?;
        match (min, max) {
            (None, None) => Err(SpecError::new(at, "give `max`, `min` or both")),
            (Some(_), _) if shape == Shape::Count => Err(SpecError::new(
                format!("{at}.min"),
                format!("`{}` is a count: only `max` applies", metric.name()),
            )),
            (Some(lo), Some(hi)) if lo > hi => Err(SpecError::new(
                format!("{at}.min"),
                "is above `max`: the breaker would always trip",
            )),
            _ => Ok(Breaker { metric, max, min }),
        }
    }

    fn comparison(i: usize, c: RawComparison) -> Result<Comparison, SpecError> {
        let at = format!("compare[{i}]");
        let metric = metric(format!("{at}.metric"), &c.metric)?;
        let shape = metric.shape();
        let (key, expected) = match shape {
            Shape::Count => {
                return Err(SpecError::new(
                    format!("{at}.metric"),
                    format!(
                        "`{}` is a count, which depends on traffic share: compare the rate instead",
                        metric.name()
                    ),
                ))
            }
            Shape::Rate {
                higher_is_better: true,
            } => ("max_drop", c.max_drop),
            Shape::Rate {
                higher_is_better: false,
            } => ("max_increase", c.max_increase),
            Shape::Quantile { .. } => ("max_increase_ratio", c.max_increase_ratio),
        };
        let given = [
            ("max_drop", c.max_drop),
            ("max_increase", c.max_increase),
            ("max_increase_ratio", c.max_increase_ratio),
        ];
        if let Some((other, _)) = given.iter().find(|(k, v)| *k != key && v.is_some()) {
            return Err(SpecError::new(
                format!("{at}.{other}"),
                format!("`{}` is compared with `{key}`", metric.name()),
            ));
        }
        let value = expected.ok_or_else(|| {
            SpecError::new(
                at.clone(),
                format!("give `{key}`: the change of `{}` tolerated", metric.name()),
            )
        })?;
        let field = format!("{at}.{key}");
        let value = limit(field.clone(), value, shape)?;
        if matches!(shape, Shape::Rate { .. }) && value >= 1.0 {
            return Err(SpecError::new(field, "must be below 1"));
        }
        let margin = match key {
            "max_drop" => Margin::MaxDrop(value),
            "max_increase" => Margin::MaxIncrease(value),
            _ => Margin::MaxIncreaseRatio(value),
        };
        Ok(Comparison { metric, margin })
    }

    fn condition(i: usize, c: RawCondition) -> Result<Condition, SpecError> {
        let at = format!("conditions[{i}]");
        let name = c.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(SpecError::new(
                format!("{at}.name"),
                "must be 1 to 64 characters",
            ));
        }
        let program = conditions::compile(&c.expr)
            .map_err(|message| SpecError::new(format!("{at}.expr"), message))?;
        Ok(Condition {
            name: name.to_owned(),
            expr: c.expr,
            program: Arc::new(program),
        })
    }

    fn no_duplicates<'a>(
        list: &str,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), SpecError> {
        let mut seen: Vec<&str> = Vec::new();
        for (i, name) in names.enumerate() {
            if let Some(first) = seen.iter().position(|s| *s == name) {
                return Err(SpecError::new(
                    format!("{list}[{i}]"),
                    format!("`{name}` is already in {list}[{first}]: give one entry per metric"),
                ));
            }
            seen.push(name);
        }
        Ok(())
    }
}
