//! The ratio of two implementations timed in pairs: each repetition of a
//! benchmark runs both back to back (in alternating order), so a pair sees the
//! same machine, and the ratio is the median of the pairs' ratios. On a loaded
//! machine the ratio of two minima taken from different repetitions moves by
//! several per cent from run to run; the paired median moves by about one.

/// The median of per-repetition ratios and the half-width of its 95 %
/// confidence interval, relative to the median.
pub struct PairedRatio {
    /// Median of `ours[i] / peer[i]`.
    pub median: f64,
    /// Half the width of the 95 % confidence interval of the median, as a
    /// fraction of it.
    pub half_width: f64,
}

/// `ours / peer` over the repetitions, pair by pair (`None` unless both have the
/// same, non-zero number of repetitions). The confidence interval comes from
/// order statistics (the ranks `n/2 ∓ 0.98·√n` of the sorted ratios), so it
/// assumes nothing about how the noise is distributed.
pub fn paired_ratio(ours: &[f64], peer: &[f64]) -> Option<PairedRatio> {
    if peer.len() != ours.len() || peer.is_empty() {
        return None;
    }
    let mut ratios: Vec<f64> = ours.iter().zip(peer).map(|(o, p)| o / p).collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let median = if n % 2 == 1 {
        ratios[n / 2]
    } else {
        (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
    };
    let k = ((n as f64 - 1.96 * (n as f64).sqrt()) / 2.0)
        .floor()
        .max(0.0) as usize;
    let (low, high) = (ratios[k.min(n - 1)], ratios[(n - 1).saturating_sub(k)]);
    Some(PairedRatio {
        median,
        half_width: (high - low) / 2.0 / median,
    })
}

/// The fastest repetition: on a shared machine noise only adds time.
pub fn best(times: &[f64]) -> f64 {
    times.iter().copied().fold(f64::INFINITY, f64::min)
}
