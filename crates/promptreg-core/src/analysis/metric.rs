//! The metrics a spec can name, and how each is read from an [`ArmWindow`].
//!
//! Three shapes, because each needs a different test: *rates* (a count over a count: a
//! two-proportion confidence sequence), *counts* (absolute limits only: "no policy violation
//! at all"), and *quantiles* of latency or cost (a quantile confidence sequence and a ratio).

use serde::{Deserialize, Serialize};

use super::window::{ArmWindow, Histogram};

/// A metric of one arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // each variant is its own name, listed in `Metric::ALL`
pub enum Metric {
    SuccessRate,
    UnsafeActionRate,
    PolicyViolationRate,
    UnsafeActions,
    PolicyViolations,
    LatencyP50Ms,
    LatencyP90Ms,
    LatencyP95Ms,
    LatencyP99Ms,
    CostP50,
    CostP90,
    CostP95,
    CostP99,
}

/// How a metric is measured, which decides the tests that apply to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// `events / trials`; `higher_is_better` tells which way a regression goes.
    Rate {
        /// True for success, false for unsafe actions and violations.
        higher_is_better: bool,
    },
    /// A plain event count (lower is better).
    Count,
    /// A quantile `q` of a histogram (lower is better).
    Quantile {
        /// Which quantile, in `(0, 1)`.
        q: f64,
    },
}

impl Metric {
    /// Every metric, in the order error messages list them.
    pub const ALL: [Metric; 13] = [
        Metric::SuccessRate,
        Metric::UnsafeActionRate,
        Metric::PolicyViolationRate,
        Metric::UnsafeActions,
        Metric::PolicyViolations,
        Metric::LatencyP50Ms,
        Metric::LatencyP90Ms,
        Metric::LatencyP95Ms,
        Metric::LatencyP99Ms,
        Metric::CostP50,
        Metric::CostP90,
        Metric::CostP95,
        Metric::CostP99,
    ];

    /// The name used in specs, results and CEL.
    pub fn name(self) -> &'static str {
        match self {
            Metric::SuccessRate => "success_rate",
            Metric::UnsafeActionRate => "unsafe_action_rate",
            Metric::PolicyViolationRate => "policy_violation_rate",
            Metric::UnsafeActions => "unsafe_actions",
            Metric::PolicyViolations => "policy_violations",
            Metric::LatencyP50Ms => "latency_p50_ms",
            Metric::LatencyP90Ms => "latency_p90_ms",
            Metric::LatencyP95Ms => "latency_p95_ms",
            Metric::LatencyP99Ms => "latency_p99_ms",
            Metric::CostP50 => "cost_p50",
            Metric::CostP90 => "cost_p90",
            Metric::CostP95 => "cost_p95",
            Metric::CostP99 => "cost_p99",
        }
    }

    /// The metric with this name.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The test family of this metric.
    pub fn shape(self) -> Shape {
        match self {
            Metric::SuccessRate => Shape::Rate {
                higher_is_better: true,
            },
            Metric::UnsafeActionRate | Metric::PolicyViolationRate => Shape::Rate {
                higher_is_better: false,
            },
            Metric::UnsafeActions | Metric::PolicyViolations => Shape::Count,
            Metric::LatencyP50Ms | Metric::CostP50 => Shape::Quantile { q: 0.5 },
            Metric::LatencyP90Ms | Metric::CostP90 => Shape::Quantile { q: 0.9 },
            Metric::LatencyP95Ms | Metric::CostP95 => Shape::Quantile { q: 0.95 },
            Metric::LatencyP99Ms | Metric::CostP99 => Shape::Quantile { q: 0.99 },
        }
    }

    /// `(events, trials)` of a rate, or `(count, samples)` of a count.
    pub(crate) fn counts(self, w: &ArmWindow) -> (u64, u64) {
        match self {
            Metric::SuccessRate => (w.successes, w.successes + w.failures),
            Metric::UnsafeActionRate | Metric::UnsafeActions => (w.unsafe_actions, w.samples),
            Metric::PolicyViolationRate | Metric::PolicyViolations => {
                (w.policy_violations, w.samples)
            }
            _ => (0, 0),
        }
    }

    /// The histogram a quantile metric reads.
    pub(crate) fn histogram(self, w: &ArmWindow) -> &Histogram {
        match self {
            Metric::CostP50 | Metric::CostP90 | Metric::CostP95 | Metric::CostP99 => &w.cost,
            _ => &w.latency_ms,
        }
    }

    /// The observations this metric is computed from (trials of a rate, values of a quantile).
    pub(crate) fn support(self, w: &ArmWindow) -> u64 {
        match self.shape() {
            Shape::Rate { .. } | Shape::Count => self.counts(w).1,
            Shape::Quantile { .. } => self.histogram(w).count(),
        }
    }

    /// The point value of this metric for one arm; `None` without data.
    pub fn value(self, w: &ArmWindow) -> Option<f64> {
        match self.shape() {
            Shape::Rate { .. } => {
                let (x, n) = self.counts(w);
                (n > 0).then(|| x as f64 / n as f64)
            }
            Shape::Count => Some(self.counts(w).0 as f64),
            Shape::Quantile { q } => self.histogram(w).quantile(q),
        }
    }
}
