//! Automated canary analysis: is the candidate prompt worse than the stable one?
//!
//! Pure and deterministic: the controller passes in the windows of outcomes it has
//! aggregated and the counters it stored, and gets a phase back; no clock, no I/O.
//!
//! - [`window`]: [`Observation`], the mergeable per-arm [`ArmWindow`] and its log-bucketed
//!   [`Histogram`] (replicas flush deltas, the leader sums them).
//! - [`duration`]: [`parse_duration`] for `"250ms"`, `"30s"`, `"5m"`, `"1h"` (rollout steps use
//!   it too).
//! - [`metric`]: the metrics a spec can name and how each is read from a window.
//! - [`spec`]: [`AnalysisSpec::parse`], which refuses bad input with a [`SpecError`] naming
//!   the field.
//! - [`stats`]: always-valid confidence sequences (rates, quantiles), the chi-square
//!   sample-ratio test; the references are in its header.
//! - [`conditions`]: CEL conditions over both arms (compiled once, at parse time).
//! - `measure`: one measurement per metric (breakers, comparisons, conditions, SRM).
//! - [`evaluate`](mod@evaluate): [`evaluate()`], [`conclude`], the per-metric limits in
//!   [`AnalysisState`] and Argo's aggregation into one [`Phase`].
//!
//! Semantics in one place:
//! - *Breakers* limit the candidate's current step and act as soon as there is data, before
//!   `min_sample`; rates and quantiles trip when their always-valid bound crosses the limit,
//!   counts (`policy_violations max 0`) on the first event.
//! - *Comparisons* pit the candidate against the concurrently served stable arm over the
//!   whole rollout, once both arms have `min_sample`: `Failed` when the always-valid interval
//!   of candidate − stable (rates) or candidate / stable (quantiles) lies entirely beyond the
//!   tolerated margin on the worse side, `Successful` when it lies entirely within it, else
//!   `Running`. The margin is what is *tolerated*: with `max_drop: 0.05`, a drop of exactly
//!   5 points is not a regression; to catch a 5-point drop, tolerate less (e.g. 0.02).
//! - *Conditions* (CEL) wait for `min_sample` on both arms, then true → `Successful`,
//!   false → `Failed`, an evaluation error → `Error`.
//! - The *sample-ratio check* fails when the step's split is implausible: the expected share
//!   lies outside the always-valid interval of the observed share at level `srm_p_value`
//!   (from 100 samples on; Pearson's chi-square p is shown beside it).
//! - `dry_run` metrics are computed and shown and never change the overall phase.
//!
//! ```
//! use promptreg_core::analysis::{evaluate, AnalysisSpec, AnalysisState, ArmWindow, Observation, Observed, Phase};
//!
//! let spec = AnalysisSpec::parse(&serde_json::json!({
//!     "min_sample": 200,
//!     "breakers": [{"metric": "policy_violations", "max": 0}],
//!     "compare": [{"metric": "success_rate", "max_drop": 0.02}],
//! }))?;
//! let mut candidate = ArmWindow::default();
//! candidate.record(&Observation { policy_violation: true, ..Observation::default() });
//! let observed = Observed {
//!     step_candidate: candidate.clone(),
//!     candidate,
//!     expected_candidate_share: 0.05,
//!     ..Observed::default()
//! };
//! let mut state = AnalysisState::default(); // stored by the controller between evaluations
//! let result = evaluate(&spec, &observed, &mut state);
//! assert_eq!(result.phase, Phase::Failed); // one violation, long before min_sample
//! # Ok::<(), promptreg_core::analysis::SpecError>(())
//! ```

pub mod conditions;
pub mod duration;
pub mod evaluate;
mod measure;
pub mod metric;
pub mod spec;
pub mod stats;
pub mod window;

pub use duration::{format_duration, parse_duration, DurationError};
pub use evaluate::{
    conclude, evaluate, AnalysisResult, AnalysisState, MetricCounters, MetricKind, MetricResult,
    Observed, Phase,
};
pub use measure::{BREAKER_TARGET, RATIO_CAP, SRM_MIN_SAMPLES};
pub use metric::Metric;
pub use spec::{AnalysisSpec, Breaker, Comparison, Condition, Margin, SpecError, SRM_NAME};
pub use window::{ArmWindow, Histogram, Observation, HISTOGRAM_RELATIVE_ERROR};
