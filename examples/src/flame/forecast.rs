//! The work a rank's cells will need in the next step, forecast from the
//! integrator steps of the last two steps, for the balancer to plan with.
//!
//! While the kernels ignite and the fronts spread, a rank's work grows by
//! about 6 % a step on the 64 × 64 flame (25–35 % a step at first), and the
//! growth is not in the burning cells, which cost about as much from one
//! step to the next: it is in the cold cells the front reaches, which go
//! from one integrator step to tens. A plan made from the last step's counts
//! is exact for that step (max/avg 1.0000 on the counts it planned with) and
//! leaves the next one 5–6 % uneven, the growth the busy ranks kept at home.
//! Per-cell extrapolation does not help (a cell ignites in one step; its
//! trend says nothing before), but the rank's growth does: it is added to
//! the rank's lighter half, the cells that stay home (the planners lend the
//! heaviest first) and where the front spreads.

/// Writes into `forecast` each cell's expected work in the next step: its
/// work in the last step, `last[i]`, plus `growth` (the rank's total work in
/// the last step minus the step before) spread evenly over the cells whose
/// last work is at or below the median, floored at 0 (a shrinking rank).
///
/// `scratch` is reused between calls (no allocation per step once sized).
///
/// ```
/// use quicklb_examples::flame::forecast::forecast_work;
/// let (mut out, mut scratch) = (Vec::new(), Vec::new());
/// // Grew by 4 integrator steps: the two lighter cells get 2 each.
/// forecast_work(&[1.0, 50.0, 1.0, 40.0], 4.0, &mut out, &mut scratch);
/// assert_eq!(out, vec![3.0, 50.0, 3.0, 40.0]);
/// ```
pub fn forecast_work(last: &[f64], growth: f64, forecast: &mut Vec<f64>, scratch: &mut Vec<f64>) {
    forecast.clear();
    forecast.extend_from_slice(last);
    if last.is_empty() || growth == 0.0 || !growth.is_finite() {
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(last);
    let mid = (scratch.len() - 1) / 2;
    let (_, &mut median, _) = scratch.select_nth_unstable_by(mid, f64::total_cmp);
    let light = last.iter().filter(|&&w| w <= median).count();
    let share = growth / light as f64;
    for w in forecast.iter_mut().filter(|w| **w <= median) {
        *w = (*w + share).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_goes_to_the_lighter_half_and_keeps_the_total() {
        let last: Vec<f64> = (0..101).map(|i| f64::from(i % 7) + 1.0).collect();
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        forecast_work(&last, 30.0, &mut out, &mut scratch);
        let (before, after): (f64, f64) = (last.iter().sum(), out.iter().sum());
        assert!(
            (after - before - 30.0).abs() < 1e-9,
            "{before} + 30 != {after}"
        );
        let mut sorted = last.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[50];
        for (&w, &f) in last.iter().zip(&out) {
            if w > median {
                assert_eq!(f, w, "a heavy cell changed");
            } else {
                assert!(f > w, "a light cell did not grow");
            }
        }
    }

    #[test]
    fn no_growth_or_no_cells_forecasts_the_last_step() {
        let (mut out, mut scratch) = (vec![9.0], Vec::new());
        forecast_work(&[2.0, 5.0], 0.0, &mut out, &mut scratch);
        assert_eq!(out, vec![2.0, 5.0]);
        forecast_work(&[], 3.0, &mut out, &mut scratch);
        assert!(out.is_empty());
    }

    #[test]
    fn a_shrinking_rank_never_forecasts_negative_work() {
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        forecast_work(&[1.0, 1.0, 80.0], -10.0, &mut out, &mut scratch);
        assert_eq!(out, vec![0.0, 0.0, 80.0]);
    }
}
