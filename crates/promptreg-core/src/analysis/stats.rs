//! The statistics behind the analysis, all closed-form (no distribution library).
//!
//! **Always-valid intervals.** The controller looks at the same growing sample every
//! interval; a fixed-sample test checked 50 times would raise false alarms far above its
//! level (research notes §1.5: ~14% with 5 looks at 5%). Every interval here is instead a
//! *confidence sequence*: with probability at least `1 - alpha` it covers the true value at
//! every look simultaneously. We use the Gaussian-mixture boundary of the asymptotic
//! confidence sequences of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas, "Time-uniform
//! central limit theory and asymptotic confidence sequences" (Ann. Statist., 2024; arXiv
//! 2103.06476), with their choice of `rho` for a target sample size; for a difference of two arms it is the normal-mixture
//! mSPRT of Johari, Koomen, Pekelis and Walsh, "Always valid inference: continuous monitoring
//! of A/B tests" (Oper. Res. 2022; arXiv 1512.04922), inverted into an interval:
//!
//! ```text
//! half_width = sqrt( 2 V (1 + k) / k * ln( sqrt(1 + k) / alpha ) ),   k = rho² n
//! ```
//!
//! where `V` is the variance of the estimate (`sigma² / n`) and `rho` tunes the sample size
//! `n*` at which the sequence is tightest: `rho² = (-2 ln alpha + ln(1 - 2 ln alpha)) / n*`.
//! We take `n*` = the spec's `min_sample`, where decisions start.
//!
//! Rates use plug-in Bernoulli variances with one pseudo-success and one pseudo-failure per arm
//! (`(x + 1) / (n + 2)`), so that a window with no event yet does not claim zero variance.
//! Quantiles use the same boundary on the fraction of values below the quantile (variance
//! `q (1 - q) / n`), read back through the histogram: the confidence sequences for quantiles of
//! Howard and Ramdas, "Sequential estimation of quantiles with applications to A/B-testing and
//! best-arm identification" (Bernoulli, 2022), in their asymptotic form. When the rank bound
//! leaves the data, the bound is unknown (`None`), which guards small samples.
//!
//! **Sample ratio mismatch** is checked every interval too, so it decides with the same
//! boundary on the candidate's share (variance `p0 (1 - p0) / n` under the expected share
//! `p0`, level `srm_p_value`): a sequential z-test. Plain repeated chi-square tests at 0.001
//! failed 5 of 200 simulated A/A rollouts over 50 looks. Pearson's chi-square p-value (one
//! degree of freedom, upper tail `P(X > x) = erfc(sqrt(x / 2))`, since `X = Z²` with `Z`
//! standard normal) is still computed and shown: it is the figure people know.

use super::window::Histogram;

/// An interval `[lo, hi]` around a point estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The point estimate.
    pub estimate: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// `rho²` of the mixture boundary, tightest at `target_n` samples.
pub fn mixture_rho2(target_n: u64, alpha: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    (l + (1.0 + l).ln()) / (target_n.max(1) as f64)
}

/// Half-width of the time-uniform interval for an estimate of variance `variance` made from
/// `n_eff` observations.
pub fn half_width(variance: f64, n_eff: f64, rho2: f64, alpha: f64) -> f64 {
    let k = rho2 * n_eff;
    if k <= 0.0 {
        return f64::INFINITY;
    }
    let log_term = ((1.0 + k).sqrt() / alpha).ln();
    (2.0 * variance * (1.0 + k) / k * log_term).sqrt()
}

fn smoothed_variance(x: u64, n: u64) -> f64 {
    let p = (x as f64 + 1.0) / (n as f64 + 2.0);
    p * (1.0 - p)
}

/// Always-valid interval for one rate `x / n`. `None` without trials.
pub fn rate_interval(x: u64, n: u64, rho2: f64, alpha: f64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let estimate = x as f64 / nf;
    let hw = half_width(smoothed_variance(x, n) / nf, nf, rho2, alpha);
    Some(Interval {
        estimate,
        lo: estimate - hw,
        hi: estimate + hw,
    })
}

/// Always-valid interval for `xc / nc - xs / ns` (candidate minus stable). `None` unless both
/// arms have trials.
pub fn rate_difference(
    (xc, nc): (u64, u64),
    (xs, ns): (u64, u64),
    rho2: f64,
    alpha: f64,
) -> Option<Interval> {
    if nc == 0 || ns == 0 {
        return None;
    }
    let (ncf, nsf) = (nc as f64, ns as f64);
    let estimate = xc as f64 / ncf - xs as f64 / nsf;
    let variance = smoothed_variance(xc, nc) / ncf + smoothed_variance(xs, ns) / nsf;
    // The information of the difference, in observations: the harmonic combination that
    // makes `variance = sigma² / n_eff` when both arms share one sigma.
    let n_eff = 1.0 / (1.0 / ncf + 1.0 / nsf);
    let hw = half_width(variance, n_eff, rho2, alpha);
    Some(Interval {
        estimate,
        lo: estimate - hw,
        hi: estimate + hw,
    })
}

/// Bounds on the `q`-quantile of the distribution behind `hist`: `(lo, point, hi)`, where a
/// bound is `None` when its rank falls outside the data (not enough data to bound it).
pub fn quantile_bounds(
    hist: &Histogram,
    q: f64,
    rho2: f64,
    alpha: f64,
) -> Option<(Option<f64>, f64, Option<f64>)> {
    let n = hist.count();
    let point = hist.quantile(q)?;
    let nf = n as f64;
    let hw = half_width(q * (1.0 - q) / nf, nf, rho2, alpha);
    // Latency and cost are never negative, so zero bounds every quantile from below.
    let lo = if q - hw > 0.0 {
        hist.quantile(q - hw)
    } else {
        Some(0.0)
    };
    let hi = if q + hw < 1.0 {
        hist.quantile(q + hw)
    } else {
        None
    };
    Some((lo, point, hi))
}

/// The candidate's observed share and the always-valid half-width around the expected share
/// `p0` (null variance), for `candidate` out of `n` samples. `None` unless `0 < p0 < 1` and
/// `n > 0`.
pub fn share_deviation(
    candidate: u64,
    n: u64,
    p0: f64,
    rho2: f64,
    alpha: f64,
) -> Option<(f64, f64)> {
    if !(p0 > 0.0 && p0 < 1.0) || n == 0 {
        return None;
    }
    let nf = n as f64;
    let hw = half_width(p0 * (1.0 - p0) / nf, nf, rho2, alpha);
    Some((candidate as f64 / nf, hw))
}

/// p-value of Pearson's chi-square test that `candidate` out of `stable + candidate` samples
/// came from a split with `expected_candidate_share`. `None` unless the share is strictly
/// between 0 and 1 and there is a sample.
pub fn srm_p_value(stable: u64, candidate: u64, expected_candidate_share: f64) -> Option<f64> {
    let p = expected_candidate_share;
    let n = (stable + candidate) as f64;
    if !(p > 0.0 && p < 1.0) || n == 0.0 {
        return None;
    }
    let (ec, es) = (n * p, n * (1.0 - p));
    let chi2 = (candidate as f64 - ec).powi(2) / ec + (stable as f64 - es).powi(2) / es;
    Some(chi2_1dof_upper_tail(chi2))
}

/// `P(X > x)` for a chi-square variable with one degree of freedom.
pub fn chi2_1dof_upper_tail(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    erfc((x / 2.0).sqrt()).clamp(0.0, 1.0)
}

/// The complementary error function, with fractional error below 1.2e-7 everywhere: the
/// Chebyshev fit `erfcc` of Press, Teukolsky, Vetterling and Flannery, *Numerical Recipes in
/// C*, 2nd ed., §6.2.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        // erfc(0) = 1, erfc(1) = 0.157299207..., erfc(-1) = 1.842700792...
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
        // The 5% and 0.1% critical values of chi-square(1): 3.841459 and 10.827566.
        assert!((chi2_1dof_upper_tail(3.841_459) - 0.05).abs() < 1e-6);
        assert!((chi2_1dof_upper_tail(10.827_566) - 0.001).abs() < 1e-7);
    }

    #[test]
    fn the_interval_shrinks_with_samples_and_is_wider_than_a_fixed_sample_one() {
        let rho2 = mixture_rho2(200, 0.05);
        let small = rate_interval(95, 100, rho2, 0.05).unwrap();
        let large = rate_interval(9_500, 10_000, rho2, 0.05).unwrap();
        assert!(large.hi - large.lo < (small.hi - small.lo) / 5.0);
        // A fixed-sample 95% interval at 10,000 would be ±1.96 * sqrt(.95*.05/1e4) ≈ ±0.0043.
        let fixed = 1.96 * (0.95_f64 * 0.05 / 10_000.0).sqrt();
        assert!((large.hi - large.lo) / 2.0 > fixed);
    }
}
