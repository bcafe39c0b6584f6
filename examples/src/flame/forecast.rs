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
//! Extrapolating each cell's trend does not help (a cold cell ignites within
//! a step; its trend says nothing before), but two trends do:
//!
//! * the rank's growth, added to its lighter half: the cells that stay home
//!   under Transfer (it lends the heaviest first) and where the front
//!   spreads;
//! * the fall of a heavy cell that got cheaper in the last step: it is past
//!   its ignition, burning out towards equilibrium, and keeps getting
//!   cheaper. A heavy cell that got dearer is igniting and may peak any step,
//!   so its last count is kept.
//!
//! Planned by Transfer from this forecast, the work imbalance after lending
//! fell from 1.052 to 1.017 (2 ranks) and from 1.060 to 1.028 (4 ranks)
//! over the 60 steps of the 64 × 64 flame bench (the bench measured the
//! same; replayed from the serial run's per-cell counts, 48 × 48 and
//! 96 × 96 alike). Planners that lend light cells too (DLBFoam, Sort) take
//! part of the growth along already, and the forecast over-corrects them at
//! 4 ranks (1.025 -> 1.035): they plan better from the last step's counts.

/// Writes into `forecast` each cell's expected work in the next step, from
/// its work in the last step, `last[i]`, and in the step before,
/// `before[i]` (`None`, or another length: no trend yet, the last step's
/// work is the forecast):
///
/// * a cell heavier than the median that got cheaper keeps falling by as
///   much (but never below one integrator step);
/// * the rest of the rank's expected total, `2 Σ last - Σ before`, is
///   spread evenly over the cells at or below the median, floored at 0 (a
///   shrinking rank).
///
/// `scratch` is reused between calls (no allocation per step once sized).
///
/// ```
/// use quicklb_examples::flame::forecast::forecast_work;
/// let (mut out, mut scratch) = (Vec::new(), Vec::new());
/// // The rank grew from 88 to 92 steps; the heavy cell 1 fell from 54 to 50.
/// let before = [1.0, 54.0, 1.0, 32.0];
/// forecast_work(&[1.0, 50.0, 1.0, 40.0], Some(&before), &mut out, &mut scratch);
/// // 50 - 4 = 46; 40 rose, kept; the light cells make up the rest of
/// // 2 * 92 - 88 = 96: 10, 5 each.
/// assert_eq!(out, vec![5.0, 46.0, 5.0, 40.0]);
/// ```
pub fn forecast_work(
    last: &[f64],
    before: Option<&[f64]>,
    forecast: &mut Vec<f64>,
    scratch: &mut Vec<f64>,
) {
    forecast.clear();
    forecast.extend_from_slice(last);
    let Some(before) = before.filter(|b| b.len() == last.len() && !last.is_empty()) else {
        return;
    };
    scratch.clear();
    scratch.extend_from_slice(last);
    let mid = (scratch.len() - 1) / 2;
    let (_, &mut median, _) = scratch.select_nth_unstable_by(mid, f64::total_cmp);
    let (mut total_last, mut total_before) = (0.0, 0.0);
    for (&l, &b) in last.iter().zip(before) {
        total_last += l;
        total_before += b;
    }
    let (mut light, mut light_total) = (0usize, 0.0);
    let mut rest = 2.0 * total_last - total_before;
    for (f, &b) in forecast.iter_mut().zip(before) {
        if *f > median {
            if b > *f {
                *f = (2.0 * *f - b).max(1.0);
            }
            rest -= *f;
        } else {
            light += 1;
            light_total += *f;
        }
    }
    let share = (rest - light_total) / light as f64;
    if !share.is_finite() {
        return;
    }
    for (f, &l) in forecast.iter_mut().zip(last) {
        if l <= median {
            *f = (*f + share).max(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_goes_to_the_lighter_half_and_the_total_follows_the_trend() {
        let last: Vec<f64> = (0..101).map(|i| f64::from(i % 7) + 1.0).collect();
        let before: Vec<f64> = last.iter().map(|w| w - 0.25).collect();
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        forecast_work(&last, Some(&before), &mut out, &mut scratch);
        let (l, b, f): (f64, f64, f64) = (last.iter().sum(), before.iter().sum(), out.iter().sum());
        assert!((f - (2.0 * l - b)).abs() < 1e-9, "{f} != 2 * {l} - {b}");
        let mut sorted = last.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[50];
        for (&w, &o) in last.iter().zip(&out) {
            if w > median {
                assert_eq!(o, w, "a heavy cell that rose changed");
            } else {
                assert!(o > w, "a light cell did not grow");
            }
        }
    }

    #[test]
    fn a_heavy_cell_that_fell_keeps_falling_but_not_below_one_step() {
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        let last = [1.0, 1.0, 1.0, 30.0, 3.0];
        let before = [1.0, 1.0, 1.0, 40.0, 9.0];
        forecast_work(&last, Some(&before), &mut out, &mut scratch);
        assert_eq!((out[3], out[4]), (20.0, 1.0));
        assert!(out[..3].iter().all(|&w| w >= 0.0 && w == out[0]));
    }

    #[test]
    fn without_a_step_before_the_forecast_is_the_last_step() {
        let (mut out, mut scratch) = (vec![9.0], Vec::new());
        forecast_work(&[2.0, 5.0], None, &mut out, &mut scratch);
        assert_eq!(out, vec![2.0, 5.0]);
        forecast_work(&[2.0, 5.0], Some(&[1.0]), &mut out, &mut scratch);
        assert_eq!(out, vec![2.0, 5.0]);
        forecast_work(&[], Some(&[]), &mut out, &mut scratch);
        assert!(out.is_empty());
    }

    #[test]
    fn a_shrinking_rank_never_forecasts_negative_work() {
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        // 82 steps after 102: 62 expected; the heavy cell falls to 70.
        forecast_work(
            &[1.0, 1.0, 80.0],
            Some(&[6.0, 6.0, 90.0]),
            &mut out,
            &mut scratch,
        );
        assert_eq!(out, vec![0.0, 0.0, 70.0]);
    }
}
