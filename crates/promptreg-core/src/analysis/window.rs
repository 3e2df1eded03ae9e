//! What the analysis reads: outcomes ([`Observation`]) summed per arm into an [`ArmWindow`].
//!
//! Windows are *mergeable*: every replica records the outcomes it ingests into its own windows,
//! flushes them as deltas, and the rollout's leader sums the deltas. So a window holds only
//! counts and sums, and latency and cost go into a [`Histogram`] with fixed bucket edges, where
//! merging is adding counts. Counts merge exactly (associative and commutative); the `f64` sums
//! are commutative and associative up to floating-point rounding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One agent outcome, already validated by the server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Whether the agent's task succeeded; `None` when the agent did not say.
    pub success: Option<bool>,
    /// The agent did something unsafe.
    pub unsafe_action: bool,
    /// The agent broke a policy.
    pub policy_violation: bool,
    /// End-to-end latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Cost of the call, in whatever unit the fleet reports (the same for both arms).
    pub cost: Option<f64>,
    /// A quality score, if the agent reports one.
    pub score: Option<f64>,
}

/// Aggregated outcomes of one arm over some span. serde (JSON) round-trips; merge is
/// associative and commutative.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmWindow {
    /// Outcomes recorded.
    pub samples: u64,
    /// Outcomes with `success == Some(true)`.
    pub successes: u64,
    /// Outcomes with `success == Some(false)`.
    pub failures: u64,
    /// Outcomes with `unsafe_action`.
    pub unsafe_actions: u64,
    /// Outcomes with `policy_violation`.
    pub policy_violations: u64,
    /// Latency distribution (ms).
    #[serde(default)]
    pub latency_ms: Histogram,
    /// Cost distribution.
    #[serde(default)]
    pub cost: Histogram,
    /// Sum of the reported scores.
    #[serde(default)]
    pub score_sum: f64,
    /// Outcomes that carried a score.
    #[serde(default)]
    pub scored: u64,
}

impl ArmWindow {
    /// Adds one outcome.
    pub fn record(&mut self, o: &Observation) {
        self.samples += 1;
        match o.success {
            Some(true) => self.successes += 1,
            Some(false) => self.failures += 1,
            None => {}
        }
        self.unsafe_actions += u64::from(o.unsafe_action);
        self.policy_violations += u64::from(o.policy_violation);
        if let Some(ms) = o.latency_ms {
            self.latency_ms.record(ms);
        }
        if let Some(cost) = o.cost {
            self.cost.record(cost);
        }
        if let Some(score) = o.score.filter(|s| s.is_finite()) {
            self.score_sum += score;
            self.scored += 1;
        }
    }

    /// Adds another window of the same arm (another replica's delta, another time slice).
    pub fn merge(&mut self, other: &ArmWindow) {
        self.samples += other.samples;
        self.successes += other.successes;
        self.failures += other.failures;
        self.unsafe_actions += other.unsafe_actions;
        self.policy_violations += other.policy_violations;
        self.latency_ms.merge(&other.latency_ms);
        self.cost.merge(&other.cost);
        self.score_sum += other.score_sum;
        self.scored += other.scored;
    }

    /// Successes among the outcomes that reported success or failure.
    pub fn success_rate(&self) -> Option<f64> {
        ratio(self.successes, self.successes + self.failures)
    }

    /// Unsafe actions per outcome.
    pub fn unsafe_action_rate(&self) -> Option<f64> {
        ratio(self.unsafe_actions, self.samples)
    }

    /// Policy violations per outcome.
    pub fn policy_violation_rate(&self) -> Option<f64> {
        ratio(self.policy_violations, self.samples)
    }

    /// Mean reported score.
    pub fn score_mean(&self) -> Option<f64> {
        (self.scored > 0).then(|| self.score_sum / self.scored as f64)
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Relative accuracy of [`Histogram::quantile`]: the estimate is within 1% of a value that
/// was recorded at that rank.
pub const HISTOGRAM_RELATIVE_ERROR: f64 = 0.01;
/// Bucket growth factor, `(1 + a) / (1 - a)` for relative error `a` (DDSketch, Masson, Rim
/// and Lee, VLDB 2019): bucket `i` holds `(GAMMA^(i-1), GAMMA^i]` and reports `2 GAMMA^i /
/// (GAMMA + 1)`, which is within `a` of every value in it.
const GAMMA: f64 = (1.0 + HISTOGRAM_RELATIVE_ERROR) / (1.0 - HISTOGRAM_RELATIVE_ERROR);
/// Values below this (and negative ones) count as zero: a millisecond or a currency unit
/// divided by a million is not a difference an analysis can act on.
const SMALLEST: f64 = 1e-6;
/// Values above this are recorded as this, so bucket indices stay small.
const LARGEST: f64 = 1e15;

/// Log-bucketed histogram with fixed bucket edges, so that merging is adding counts.
/// Serialized sparsely: only non-empty buckets, keyed by bucket index.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Values recorded as zero (below 1e-6, or negative).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub zero: u64,
    /// Count per bucket index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub buckets: BTreeMap<i32, u64>,
    /// Sum of the recorded values (for the mean).
    #[serde(default)]
    pub sum: f64,
    /// Smallest recorded value; quantiles are clamped into `[min, max]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest recorded value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Histogram {
    /// Records one value; NaN and infinities are ignored (the server refuses them earlier).
    pub fn record(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let value = value.clamp(0.0, LARGEST);
        if value < SMALLEST {
            self.zero += 1;
        } else {
            *self.buckets.entry(bucket_of(value)).or_insert(0) += 1;
        }
        self.sum += value;
        self.min = Some(self.min.map_or(value, |m| m.min(value)));
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        self.zero += other.zero;
        for (bucket, count) in &other.buckets {
            *self.buckets.entry(*bucket).or_insert(0) += count;
        }
        self.sum += other.sum;
        self.min = combine(self.min, other.min, f64::min);
        self.max = combine(self.max, other.max, f64::max);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.zero + self.buckets.values().sum::<u64>()
    }

    /// Mean of the recorded values.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum / n as f64)
    }

    /// The `q`-quantile (`q` clamped to `[0, 1]`): within 1% of the recorded value of rank
    /// `floor(q (n - 1))` (0-based, ascending). `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        let (min, max) = (self.min?, self.max?);
        if n == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let mut seen = self.zero;
        if seen as f64 > rank {
            return Some(0.0_f64.clamp(min, max));
        }
        for (bucket, count) in &self.buckets {
            seen += count;
            if seen as f64 > rank {
                return Some(value_of(*bucket).clamp(min, max));
            }
        }
        Some(max)
    }
}

fn combine(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

fn bucket_of(value: f64) -> i32 {
    // In range by construction: ln(1e-6)/ln(GAMMA) ≈ -691, ln(1e15)/ln(GAMMA) ≈ 1727.
    (value.ln() / GAMMA.ln()).ceil() as i32
}

fn value_of(bucket: i32) -> f64 {
    2.0 * GAMMA.powi(bucket) / (GAMMA + 1.0)
}
