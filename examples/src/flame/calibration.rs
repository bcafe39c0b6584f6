//! What an integrator step costs in time: a cell's chemistry time fitted as
//! `c · steps^exponent` to the measured times of every rank's cells, so that
//! a plan made from integrator step counts balances time.
//!
//! A step does not cost the same in every cell. A cold cell takes one or a
//! few integrator steps, each paying the reactor's start (a Jacobian, an LU)
//! that a burning cell's tens of steps share. On GRI-Mech 3.0 (48 × 48, 2
//! ranks, per-cell times of steps 4–30) the median cell of 1 step took
//! 105 µs, of 2 steps 185 µs, 8 steps 400 µs, 30 steps 850 µs, 50 steps
//! 1250 µs: time grows as `steps^0.65–0.75` (the log-log slope of each
//! step's cells), and a line `a + b · steps` misses the middle by a third.
//! On H2/air a cold cell's step took 6.7 µs, a burning cell's 2.5 µs
//! (`30^0.71`). A plan balancing the step counts perfectly leaves the time
//! uneven (gri30, 2 ranks: time imbalance after 1.12–1.25 at work
//! imbalance 1.02, and the balanced run was slower than the unbalanced
//! one); planning from measured times instead balances the step just
//! measured, one step late and with its clocks' noise (a descheduled cell
//! reads 12 ms instead of 0.1).
//!
//! The fit keeps the plan driven by the step counts and takes one number
//! from the clocks: the exponent, the slope of `ln time` over `ln steps`
//! across all ranks' cells (one all-reduce of five sums per step; in logs a
//! descheduled cell weighs little), averaged over the last few steps.

use mpi::collective::SystemOperation;
use mpi::traits::*;

/// How much of the fit's sums carries over from one step to the next: the
/// fit follows the flame's changing mix of cold and burning cells over a
/// few steps and averages the clocks' noise over as many.
const MEMORY: f64 = 0.5;

/// The exponent before any step is measured, or when the fit is not
/// determined: time proportional to steps.
const UNFITTED: f64 = 1.0;

/// The least-squares fit of `ln time` against `ln steps` over the cells of
/// every rank, its sums decaying by [`MEMORY`] a step, and the weights it
/// makes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepTimeFit {
    /// `[n, Σ ln s, Σ ln t, Σ (ln s)², Σ ln s · ln t]`, over ranks and steps.
    sums: [f64; 5],
    /// The last step's time weights ([`Self::time_weights`]).
    last: Vec<f64>,
    /// The step before's time weights.
    before: Vec<f64>,
}

impl StepTimeFit {
    /// A fit that has seen no step (its [`Self::exponent`] is 1).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the last step's cells: `steps[i]` integrator steps took
    /// `times[i]` seconds (cells without a step or a positive finite time
    /// are left out). **Collective** (one all-reduce of five numbers);
    /// every rank ends with the same fit.
    pub fn update<C: Communicator>(&mut self, comm: &C, steps: &[f64], times: &[f64]) {
        let local = log_sums(steps, times);
        let mut step = [0.0; 5];
        comm.all_reduce_into(&local[..], &mut step[..], SystemOperation::sum());
        for (s, add) in self.sums.iter_mut().zip(step) {
            *s = MEMORY * *s + add;
        }
    }

    /// The fitted exponent of time over steps, in `[0, 1]` (1 until the fit
    /// is determined: every cell the same steps so far).
    pub fn exponent(&self) -> f64 {
        slope(&self.sums).map_or(UNFITTED, |p| p.clamp(0.0, 1.0))
    }

    /// Each cell's integrator steps in the last step, `last`, and in the
    /// step before, `before`, as times in units of a one-step cell
    /// (`steps^exponent`), for the forecast to extrapolate.
    pub fn time_weights(
        &mut self,
        last: &[f64],
        before: Option<&[f64]>,
    ) -> (&[f64], Option<&[f64]>) {
        let p = self.exponent();
        let powered = |out: &mut Vec<f64>, steps: &[f64]| {
            out.clear();
            out.extend(steps.iter().map(|&s| s.max(0.0).powf(p)));
        };
        powered(&mut self.last, last);
        match before {
            Some(b) => {
                powered(&mut self.before, b);
                (&self.last, Some(&self.before))
            }
            None => (&self.last, None),
        }
    }
}

/// `[n, Σ ln s, Σ ln t, Σ (ln s)², Σ ln s · ln t]` over the cells with at
/// least one step and a positive, finite time.
fn log_sums(steps: &[f64], times: &[f64]) -> [f64; 5] {
    let mut sums = [0.0; 5];
    for (&s, &t) in steps.iter().zip(times) {
        if s >= 1.0 && s.is_finite() && t > 0.0 && t.is_finite() {
            let (x, y) = (s.ln(), t.ln());
            sums[0] += 1.0;
            sums[1] += x;
            sums[2] += y;
            sums[3] += x * x;
            sums[4] += x * y;
        }
    }
    sums
}

/// The least-squares slope of `y` over `x` from the sums `[n, Σx, Σy, Σx², Σxy]`,
/// `None` if `x` does not vary.
fn slope(sums: &[f64; 5]) -> Option<f64> {
    let [n, x, y, xx, xy] = *sums;
    let spread = n * xx - x * x;
    if !(n > 0.0 && spread > 1e-9 * n * xx) {
        return None;
    }
    Some((n * xy - x * y) / spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted(steps: &[f64], times: &[f64]) -> StepTimeFit {
        StepTimeFit {
            sums: log_sums(steps, times),
            ..StepTimeFit::new()
        }
    }

    #[test]
    fn the_fit_recovers_a_power_law_through_the_cells() {
        let steps: Vec<f64> = (0..50).map(|i| f64::from(1 + i % 13)).collect();
        let times: Vec<f64> = steps.iter().map(|s: &f64| 1.05e-4 * s.powf(0.65)).collect();
        assert!((fitted(&steps, &times).exponent() - 0.65).abs() < 1e-12);
    }

    #[test]
    fn cells_without_a_step_or_a_usable_time_are_left_out() {
        let sums = log_sums(&[1.0, 2.0, 0.0, 4.0, 3.0], &[1.0, f64::NAN, 5.0, -1.0, 1.0]);
        assert_eq!(sums[0], 2.0);
        assert_eq!(sums[1], 3f64.ln());
    }

    #[test]
    fn without_spread_in_the_steps_time_is_proportional_to_steps() {
        assert_eq!(fitted(&[3.0; 8], &[1.0; 8]).exponent(), 1.0);
        assert_eq!(StepTimeFit::new().exponent(), 1.0);
    }

    #[test]
    fn the_exponent_stays_between_0_and_1() {
        assert_eq!(fitted(&[1.0, 4.0], &[1.0, 64.0]).exponent(), 1.0);
        assert_eq!(fitted(&[1.0, 4.0], &[2.0, 1.0]).exponent(), 0.0);
    }

    #[test]
    fn time_weights_are_steps_to_the_exponent() {
        let mut fit = fitted(&[1.0, 4.0], &[1.0, 2.0]);
        let (last, before) = fit.time_weights(&[1.0, 9.0, 0.0], Some(&[4.0, 16.0, 1.0]));
        assert_eq!(last, &[1.0, 3.0, 0.0]);
        assert_eq!(before, Some(&[2.0, 4.0, 1.0][..]));
        let (_, before) = fit.time_weights(&[1.0], None);
        assert_eq!(before, None);
    }
}
