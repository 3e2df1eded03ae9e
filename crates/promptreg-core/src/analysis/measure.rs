//! One measurement per metric per evaluation, before the limits of [`super::evaluate`] apply.
//!
//! Two families behave differently while data is short:
//! - *guards* (breakers, the sample-ratio check) only ever fail: with too little data to show a
//!   breach they report `Successful` ("not tripped"), so they never hold a step back;
//! - *judges* (comparisons, conditions) must pass: below `min_sample` on either arm they are
//!   `Pending`, and a comparison whose interval straddles its margin is `Running`.
//!
//! Breakers on rates and quantiles trip on the *always-valid bound*, not the point value: a
//! first unsafe action in the first three samples is a rate of 33% but says little, while
//! `policy_violations max 0` (a count) trips on the first violation. Their intervals are tuned
//! to be tightest at [`BREAKER_TARGET`] samples, so a large `min_sample` does not slow them.

use super::evaluate::{Observed, Phase};
use super::metric::{Metric, Shape};
use super::spec::{Breaker, Comparison, Condition, Margin};
use super::stats::{self, Interval};
use super::window::ArmWindow;
use super::{conditions, MetricKind};

/// Ratios are capped here (a candidate at 2 ms against a stable arm at 0 ms), so that every
/// figure is a finite number in JSON.
pub const RATIO_CAP: f64 = 1e9;
/// The sample size at which breakers' intervals are tightest (unless `min_sample` is smaller).
pub const BREAKER_TARGET: u64 = 100;
/// The sample-ratio check needs this many samples in the step before it can fire.
pub const SRM_MIN_SAMPLES: u64 = 100;
/// ... and at least this many expected in the smaller arm (the chi-square approximation's rule).
const SRM_MIN_EXPECTED: f64 = 5.0;

/// What one metric showed in one evaluation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Measurement {
    pub kind: MetricKind,
    pub name: String,
    pub phase: Phase,
    pub stable: Option<f64>,
    pub candidate: Option<f64>,
    pub threshold: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub p_value: Option<f64>,
    pub samples: (u64, u64),
    pub message: String,
}

impl Measurement {
    fn new(kind: MetricKind, name: &str, samples: (u64, u64)) -> Self {
        Measurement {
            kind,
            name: name.to_owned(),
            phase: Phase::Successful,
            stable: None,
            candidate: None,
            threshold: None,
            interval: None,
            p_value: None,
            samples,
            message: String::new(),
        }
    }

    fn with(mut self, phase: Phase, message: String) -> Self {
        self.phase = phase;
        self.message = message;
        self
    }
}

/// Statistical settings shared by every test of one evaluation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    pub alpha: f64,
    pub rho2: f64,
    /// `rho²` for breakers: tuned at `BREAKER_TARGET` samples (or `min_sample` if smaller),
    /// because a breaker exists to act early.
    pub breaker_rho2: f64,
    pub min_sample: u64,
}

pub(crate) fn breaker(b: &Breaker, o: &Observed, level: Level) -> Measurement {
    let (s, c) = (&o.step_stable, &o.step_candidate);
    let mut m = Measurement::new(MetricKind::Breaker, b.metric.name(), (s.samples, c.samples));
    m.stable = b.metric.value(s);
    m.candidate = b.metric.value(c);
    m.threshold = b.max.or(b.min);
    let name = b.metric.name();
    let bounds: Option<(Option<f64>, Option<f64>)> = match b.metric.shape() {
        Shape::Count => m.candidate.map(|v| (Some(v), Some(v))),
        Shape::Rate { .. } => {
            let (x, n) = b.metric.counts(c);
            stats::rate_interval(x, n, level.breaker_rho2, level.alpha)
                .map(|i| (Some(i.lo.max(0.0)), Some(i.hi.min(1.0))))
        }
        Shape::Quantile { q } => {
            stats::quantile_bounds(b.metric.histogram(c), q, level.breaker_rho2, level.alpha)
                .map(|(lo, _, hi)| (lo, hi))
        }
    };
    let Some((lo, hi)) = bounds else {
        return m.with(
            Phase::Successful,
            format!("no {name} data in this step yet"),
        );
    };
    if let (Some(lo), Some(hi)) = (lo, hi) {
        m.interval = Some((lo, hi));
    }
    let shown = fmt(m.candidate);
    if let (Some(max), Some(lo)) = (b.max, lo) {
        if lo > max {
            return m.with(
                Phase::Failed,
                format!(
                    "{name} {shown} is above max {max} (bound {lo:.4}, {} samples)",
                    c.samples
                ),
            );
        }
    }
    if let (Some(min), Some(hi)) = (b.min, hi) {
        if hi < min {
            return m.with(
                Phase::Failed,
                format!(
                    "{name} {shown} is below min {min} (bound {hi:.4}, {} samples)",
                    c.samples
                ),
            );
        }
    }
    m.with(Phase::Successful, format!("{name} {shown} within limits"))
}

pub(crate) fn compare(cmp: &Comparison, o: &Observed, level: Level) -> Measurement {
    let metric = cmp.metric;
    let (s, c) = (&o.stable, &o.candidate);
    let mut m = Measurement::new(MetricKind::Compare, metric.name(), (s.samples, c.samples));
    m.stable = metric.value(s);
    m.candidate = metric.value(c);
    m.threshold = Some(cmp.margin.value());
    let (ns, nc) = (metric.support(s), metric.support(c));
    if ns < level.min_sample || nc < level.min_sample {
        return m.with(
            Phase::Pending,
            format!(
                "waiting for {} {} data per arm (stable {ns}, candidate {nc})",
                level.min_sample,
                metric.name()
            ),
        );
    }
    match metric.shape() {
        Shape::Quantile { q } => compare_quantile(m, metric, q, cmp.margin.value(), o, level),
        _ => compare_rate(m, metric, cmp.margin, o, level),
    }
}

fn compare_rate(
    mut m: Measurement,
    metric: Metric,
    margin: Margin,
    o: &Observed,
    level: Level,
) -> Measurement {
    let name = metric.name();
    let Some(d) = stats::rate_difference(
        metric.counts(&o.candidate),
        metric.counts(&o.stable),
        level.rho2,
        level.alpha,
    ) else {
        return m.with(Phase::Pending, format!("no {name} data yet"));
    };
    let Interval { estimate, lo, hi } = d;
    m.interval = Some((lo, hi));
    let shown = format!("candidate − stable = {estimate:+.4} (always-valid [{lo:+.4}, {hi:+.4}])");
    let (phase, verdict) = match margin {
        Margin::MaxDrop(t) if hi < -t => (Phase::Failed, format!("dropped by more than {t}")),
        Margin::MaxDrop(t) if lo >= -t => (Phase::Successful, format!("no drop beyond {t}")),
        Margin::MaxDrop(t) => (
            Phase::Running,
            format!("cannot yet rule out a drop beyond {t}"),
        ),
        Margin::MaxIncrease(t) | Margin::MaxIncreaseRatio(t) if lo > t => {
            (Phase::Failed, format!("rose by more than {t}"))
        }
        Margin::MaxIncrease(t) | Margin::MaxIncreaseRatio(t) if hi <= t => {
            (Phase::Successful, format!("no rise beyond {t}"))
        }
        Margin::MaxIncrease(t) | Margin::MaxIncreaseRatio(t) => (
            Phase::Running,
            format!("cannot yet rule out a rise beyond {t}"),
        ),
    };
    m.with(phase, format!("{name}: {verdict}: {shown}"))
}

fn compare_quantile(
    mut m: Measurement,
    metric: Metric,
    q: f64,
    margin: f64,
    o: &Observed,
    level: Level,
) -> Measurement {
    let name = metric.name();
    // Each arm's bounds at alpha/2, so that both hold together with probability 1 - alpha.
    let half = level.alpha / 2.0;
    let bounds = |w: &ArmWindow| stats::quantile_bounds(metric.histogram(w), q, level.rho2, half);
    let (Some((c_lo, c_point, c_hi)), Some((s_lo, s_point, s_hi))) =
        (bounds(&o.candidate), bounds(&o.stable))
    else {
        return m.with(Phase::Pending, format!("no {name} data yet"));
    };
    let point = ratio(c_point, s_point);
    // An unknown bound (its rank beyond the data) can neither fail nor pass the metric.
    let lower = c_lo.zip(s_hi).map(|(c, s)| ratio(c, s));
    let upper = c_hi.zip(s_lo).map(|(c, s)| ratio(c, s));
    if let (Some(lo), Some(hi)) = (lower, upper) {
        m.interval = Some((lo, hi));
    }
    let limit = 1.0 + margin;
    let shown = format!(
        "candidate / stable = {point:.3} (always-valid [{}, {}])",
        fmt(lower),
        fmt(upper)
    );
    let pct = 100.0 * margin;
    let (phase, verdict) = match (lower, upper) {
        (Some(lo), _) if lo > limit => (Phase::Failed, format!("rose by more than {pct}%")),
        (_, Some(hi)) if hi <= limit => (Phase::Successful, format!("no rise beyond {pct}%")),
        (_, None) | (None, _) => (
            Phase::Running,
            "too few values to bound the quantile yet".to_owned(),
        ),
        _ => (
            Phase::Running,
            format!("cannot yet rule out a rise beyond {pct}%"),
        ),
    };
    m.with(phase, format!("{name}: {verdict}: {shown}"))
}

pub(crate) fn condition(cond: &Condition, o: &Observed, level: Level) -> Measurement {
    let (ns, nc) = (o.stable.samples, o.candidate.samples);
    let m = Measurement::new(MetricKind::Condition, &cond.name, (ns, nc));
    if ns < level.min_sample || nc < level.min_sample {
        return m.with(
            Phase::Pending,
            format!(
                "waiting for {} samples per arm (stable {ns}, candidate {nc})",
                level.min_sample
            ),
        );
    }
    match conditions::evaluate(&cond.program, o) {
        Ok(true) => m.with(Phase::Successful, format!("`{}` is true", cond.expr)),
        Ok(false) => m.with(Phase::Failed, format!("`{}` is false", cond.expr)),
        Err(e) => m.with(
            Phase::Error,
            format!("`{}` failed to evaluate: {e}", cond.expr),
        ),
    }
}

pub(crate) fn srm(o: &Observed, threshold: f64, level: Level) -> Measurement {
    let (s, c) = (o.step_stable.samples, o.step_candidate.samples);
    let share = o.expected_candidate_share;
    let mut m = Measurement::new(MetricKind::Srm, super::spec::SRM_NAME, (s, c));
    let n = s + c;
    m.threshold = Some(threshold);
    m.candidate = (n > 0).then(|| c as f64 / n as f64);
    let smaller = share.min(1.0 - share);
    if !(share > 0.0 && share < 1.0) {
        return m.with(Phase::Successful, "the step serves one arm only".to_owned());
    }
    if n < SRM_MIN_SAMPLES || (n as f64) * smaller < SRM_MIN_EXPECTED {
        return m.with(
            Phase::Successful,
            format!("{n} samples in this step: too few to judge the split yet"),
        );
    }
    let rho2 = stats::mixture_rho2(level.min_sample.max(SRM_MIN_SAMPLES), threshold);
    let (Some(p), Some((observed, hw))) = (
        stats::srm_p_value(s, c, share),
        stats::share_deviation(c, n, share, rho2, threshold),
    ) else {
        return m.with(Phase::Successful, "nothing to judge".to_owned());
    };
    m.p_value = Some(p);
    m.interval = Some(((observed - hw).max(0.0), (observed + hw).min(1.0)));
    let shown = format!(
        "candidate got {:.2}% of {n} samples, expected {:.2}% ± {:.2}% always-valid (chi-square p = {p:.2e})",
        100.0 * observed,
        100.0 * share,
        100.0 * hw
    );
    if (observed - share).abs() > hw {
        m.with(Phase::Failed, format!("sample ratio mismatch: {shown}"))
    } else {
        m.with(Phase::Successful, shown)
    }
}

fn ratio(candidate: f64, stable: f64) -> f64 {
    if stable > 0.0 {
        (candidate / stable).min(RATIO_CAP)
    } else if candidate > 0.0 {
        RATIO_CAP
    } else {
        1.0
    }
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "unknown".to_owned(), |v| format!("{v:.4}"))
}
