//! `promptreg_outcomes_total{env, prompt, version, arm, result}`: outcomes counted per
//! version and arm, with `result` one of `success`, `failure`, `unreported`, `unsafe_action`,
//! `policy_violation` (an event counts once in the first three and once more for each flag).
//!
//! Series are capped like the resolve counters (`--metrics-max-prompt-series`): past the cap,
//! new (env, prompt, version, arm) combinations are counted under `prompt="_other",
//! version="_other"`, so sums stay right and a scrape stays small.

use std::collections::HashSet;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metrics::OTHER;

/// Labels of outcome counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
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

/// The capped family.
pub struct OutcomeCounters {
    /// The family registered in `/metrics`.
    pub family: Family<OutcomeLabels, Counter>,
    max: usize,
    /// (env, prompt, version, arm) combinations with their own series.
    own: Mutex<HashSet<(String, String, String, String)>>,
}

impl OutcomeCounters {
    /// Counters with at most `max` per-version series groups.
    pub fn new(max: usize) -> Self {
        Self {
            family: Family::default(),
            max,
            own: Mutex::new(HashSet::new()),
        }
    }

    /// Adds `n` to one series (once per batch and series, not per event).
    pub fn add(
        &self,
        env: &str,
        prompt: &str,
        version: &str,
        arm: &str,
        result: &'static str,
        n: u64,
    ) {
        let key = (
            env.to_owned(),
            prompt.to_owned(),
            version.to_owned(),
            arm.to_owned(),
        );
        let own = {
            let mut own = self.own.lock();
            if own.contains(&key) {
                true
            } else if own.len() < self.max {
                own.insert(key.clone());
                true
            } else {
                false
            }
        };
        let (prompt, version) = if own {
            (key.1, key.2)
        } else {
            (OTHER.to_owned(), OTHER.to_owned())
        };
        self.family
            .get_or_create(&OutcomeLabels {
                env: key.0,
                prompt,
                version,
                arm: key.3,
                result,
            })
            .inc_by(n);
    }
}
