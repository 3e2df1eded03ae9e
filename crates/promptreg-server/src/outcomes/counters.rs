//! `promptreg_outcomes_total{project, env, prompt, version, arm, result}`: outcomes counted per
//! version and arm, with `result` one of `success`, `failure`, `unreported`, `unsafe_action`,
//! `policy_violation` (an event counts once in the first three and once more for each flag).
//!
//! `promptreg_outcome_latency_ms{project, env, prompt, version, arm}`: the reported latencies as a
//! histogram (10 ms to ~41 s, doubling), so latency quantiles per version and arm can be read
//! from Prometheus as from `GET …/versions/{n}/outcomes`.
//!
//! Series are capped like the resolve counters (`--metrics-max-prompt-series`): past the cap,
//! new (env, prompt, version, arm) combinations are counted under `prompt="_other",
//! version="_other"`, so sums stay right and a scrape stays small.

use std::collections::HashSet;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::metrics::OTHER;

/// Labels of outcome counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Tenant (prompt and environment names repeat across projects).
    pub project: String,
    /// Environment.
    pub env: String,
    /// Prompt.
    pub prompt: String,
    /// Version.
    pub version: String,
    /// `stable`, `candidate`, `preview` or `none` (no rollout).
    pub arm: String,
    /// What is counted.
    pub result: &'static str,
}

/// Labels of the latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    /// Tenant.
    pub project: String,
    /// Environment.
    pub env: String,
    /// Prompt.
    pub prompt: String,
    /// Version.
    pub version: String,
    /// `stable`, `candidate`, `preview` or `none`.
    pub arm: String,
}

/// Builds the latency histograms' buckets.
#[derive(Debug, Clone, Copy)]
pub struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(10.0, 2.0, 13))
    }
}

/// Project, environment, prompt, version and arm of a series.
type SeriesKey = (String, String, String, String, String);

/// The capped families.
pub struct OutcomeCounters {
    /// The counters registered in `/metrics`.
    pub family: Family<OutcomeLabels, Counter>,
    /// The latency histograms registered in `/metrics`.
    pub latency: Family<LatencyLabels, Histogram, LatencyBuckets>,
    max: usize,
    /// (project, env, prompt, version, arm) combinations with their own series.
    own: Mutex<HashSet<SeriesKey>>,
}

impl OutcomeCounters {
    /// Counters with at most `max` per-version series groups.
    pub fn new(max: usize) -> Self {
        Self {
            family: Family::default(),
            latency: Family::new_with_constructor(LatencyBuckets),
            max,
            own: Mutex::new(HashSet::new()),
        }
    }

    /// Whether this (env, prompt, version, arm) has series of its own (else `_other`).
    fn own(&self, key: &SeriesKey) -> bool {
        let mut own = self.own.lock();
        if own.contains(key) {
            true
        } else if own.len() < self.max {
            own.insert(key.clone());
            true
        } else {
            false
        }
    }

    /// Records a batch's latencies of one version and arm.
    pub fn observe_latency(
        &self,
        project: &str,
        env: &str,
        prompt: &str,
        version: &str,
        arm: &str,
        ms: &[f64],
    ) {
        let key = (
            project.to_owned(),
            env.to_owned(),
            prompt.to_owned(),
            version.to_owned(),
            arm.to_owned(),
        );
        let (prompt, version) = if self.own(&key) {
            (key.2, key.3)
        } else {
            (OTHER.to_owned(), OTHER.to_owned())
        };
        let histogram = self.latency.get_or_create(&LatencyLabels {
            project: key.0,
            env: key.1,
            prompt,
            version,
            arm: key.4,
        });
        for v in ms {
            histogram.observe(*v);
        }
    }

    /// Adds `n` to one series (once per batch and series, not per event).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        project: &str,
        env: &str,
        prompt: &str,
        version: &str,
        arm: &str,
        result: &'static str,
        n: u64,
    ) {
        let key = (
            project.to_owned(),
            env.to_owned(),
            prompt.to_owned(),
            version.to_owned(),
            arm.to_owned(),
        );
        let (prompt, version) = if self.own(&key) {
            (key.2, key.3)
        } else {
            (OTHER.to_owned(), OTHER.to_owned())
        };
        self.family
            .get_or_create(&OutcomeLabels {
                project: key.0,
                env: key.1,
                prompt,
                version,
                arm: key.4,
                result,
            })
            .inc_by(n);
    }
}
