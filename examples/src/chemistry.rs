//! Gray-Scott reaction kinetics of one cell, integrated with an adaptive
//! Rosenbrock method (RODAS3: 4 stages, order 3, embedded order 2, stiffly
//! accurate, analytic Jacobian).
//!
//! Per cell:
//!
//! ```text
//! da/dt = -a b^2 + F (1 - a)
//! db/dt =  a b^2 - (F + k) b          F = 0.0545, k = 0.062
//! ```
//!
//! integrated over `duration` time units with error control in the weighted
//! RMS norm `|err_i| / (atol + rtol * max(|y_i|, |y_new_i|))` (the norm
//! `scipy.integrate.solve_ivp` uses). The defaults are `rtol = 1e-4`, as in the
//! reference program (`solve_ivp(method='BDF', rtol=1e-4)`), and
//! `atol = 1e-8`: the fields are O(1) and a concentration below 1e-8 carries no
//! information at this tolerance, while `b` may legitimately be that small far
//! from the pattern.
//!
//! Cells where the reaction is active need many steps; a cell at rest needs one.
//! The step count is returned as the cell's cost: it is what makes the
//! Gray-Scott demo imbalanced and what the load balancer evens out.
//!
//! Measured cost over one time unit (release build, CPU time per cell on the
//! shared 2-core development machine): a cell at rest (`a = 1, b = 0`) takes 1
//! step, about 0.08 µs; a nearly resting cell 1 step, 0.18 µs; reacting cells
//! (`(0.9, 0.1)`, `(0.5, 0.25)`) 3 steps, 0.36 µs, and `(0.2, 0.6)` 4 steps,
//! 0.45 µs. For comparison, scipy's BDF at the same rtol takes 13, 1, 6, 5 and 9
//! steps for these cells.
//!
//! The integrator is pure `f64` arithmetic with a fixed operation order and no
//! allocation, so the same input gives bitwise the same output, whichever rank
//! computes the cell.
//!
//! ```
//! use quicklb_examples::chemistry::{Chemistry, GrayScottCell};
//!
//! let chem = Chemistry::default();
//! let mut cell = GrayScottCell { a: 0.5, b: 0.25 };
//! let steps = chem.integrate(&mut cell, 1.0).unwrap();
//! assert!(steps.total() > 1);
//! ```

use bytemuck::{Pod, Zeroable};

/// Feed rate `F` of the QUICKLB Gray-Scott example.
pub const FEED: f64 = 0.0545;
/// Kill rate `k` of the QUICKLB Gray-Scott example.
pub const KILL: f64 = 0.062;

/// The state of one Gray-Scott cell: concentrations `a` and `b`.
///
/// Plain bytes (`#[repr(C)]`, [`Pod`]) so it can be shipped to another rank as is.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct GrayScottCell {
    /// Concentration of species A.
    pub a: f64,
    /// Concentration of species B.
    pub b: f64,
}

/// Work done by one call of [`Chemistry::integrate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Steps {
    /// Accepted steps.
    pub accepted: u32,
    /// Rejected steps (each costs as much as an accepted one).
    pub rejected: u32,
}

impl Steps {
    /// Accepted plus rejected steps: the cost of the cell.
    pub fn total(&self) -> u32 {
        self.accepted + self.rejected
    }
}

/// Why an integration could not finish.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum ChemistryError {
    /// The initial state or a computed state is NaN or infinite.
    #[error("non-finite state a = {a}, b = {b} at t = {t}")]
    NonFinite {
        /// Time within the interval.
        t: f64,
        /// Concentration of A.
        a: f64,
        /// Concentration of B.
        b: f64,
    },
    /// More than `max_steps` step attempts.
    #[error("more than {max_steps} steps (t = {t})")]
    TooManySteps {
        /// The limit.
        max_steps: u32,
        /// Time reached.
        t: f64,
    },
    /// `duration` is negative or not finite, or a tolerance is not positive.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

/// Gray-Scott kinetics and the tolerances of the adaptive integrator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chemistry {
    /// Feed rate `F`.
    pub feed: f64,
    /// Kill rate `k`.
    pub kill: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Limit on step attempts per call (accepted + rejected).
    pub max_steps: u32,
}

impl Default for Chemistry {
    fn default() -> Self {
        Chemistry {
            feed: FEED,
            kill: KILL,
            rtol: 1e-4,
            atol: 1e-8,
            max_steps: 100_000,
        }
    }
}

// RODAS3 (Sandu et al. 1997, as in KPP), in the transformed form
//   (1/(h γ) I - J) K_i = f(y + Σ_j A_ij K_j) + Σ_j (C_ij / h) K_j
//   y_new = y + Σ M_j K_j,   err = Σ E_j K_j
// with γ = 1/2 and
//   A_31 = 2, A_41 = 2, A_43 = 1 (others 0; stage 2 reuses f(y)),
//   C_21 = 4, C_31 = 1, C_32 = -1, C_41 = 1, C_42 = -1, C_43 = -8/3,
//   M = (2, 0, 1, 1), E = (0, 0, 0, 1).
// The method is stiffly accurate: y + 2 K1 + K3 is the embedded
// second-order solution, and the error estimate is K4.
const GAMMA: f64 = 0.5;
const C21: f64 = 4.0;
const C31: f64 = 1.0;
const C32: f64 = -1.0;
const C41: f64 = 1.0;
const C42: f64 = -1.0;
const C43: f64 = -8.0 / 3.0;
const SAFETY: f64 = 0.9;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 6.0;

impl Chemistry {
    /// The right-hand side `(da/dt, db/dt)`.
    #[inline]
    pub fn rhs(&self, a: f64, b: f64) -> (f64, f64) {
        let abb = a * b * b;
        (
            -abb + self.feed * (1.0 - a),
            abb - (self.feed + self.kill) * b,
        )
    }

    /// The Jacobian `[[∂fa/∂a, ∂fa/∂b], [∂fb/∂a, ∂fb/∂b]]`.
    #[inline]
    pub fn jacobian(&self, a: f64, b: f64) -> [[f64; 2]; 2] {
        let bb = b * b;
        let ab2 = 2.0 * a * b;
        [[-bb - self.feed, -ab2], [bb, ab2 - (self.feed + self.kill)]]
    }

    /// Weighted RMS norm of `(ea, eb)` with scales `atol + rtol * s`.
    #[inline]
    fn norm(&self, ea: f64, eb: f64, sa: f64, sb: f64) -> f64 {
        let xa = ea / (self.atol + self.rtol * sa);
        let xb = eb / (self.atol + self.rtol * sb);
        (0.5 * (xa * xa + xb * xb)).sqrt()
    }

    /// Initial step size (Hairer, Nørsett & Wanner, II.4), except that a cell
    /// whose derivative is negligible at this tolerance starts with the whole
    /// interval, so that a cell at rest costs one step.
    fn initial_step(&self, a: f64, b: f64, fa: f64, fb: f64, duration: f64) -> f64 {
        let d0 = self.norm(a, b, a.abs(), b.abs());
        let d1 = self.norm(fa, fb, a.abs(), b.abs());
        let h0 = if d1 < 1e-5 || d0 < 1e-5 {
            duration
        } else {
            (0.01 * d0 / d1).min(duration)
        };
        let (fa1, fb1) = self.rhs(a + h0 * fa, b + h0 * fb);
        let d2 = self.norm(fa1 - fa, fb1 - fb, a.abs(), b.abs()) / h0;
        let dmax = d1.max(d2);
        let h1 = if dmax <= 1e-15 {
            duration
        } else {
            // The local error estimate is O(h^3): cube roots.
            (0.01 / dmax).cbrt()
        };
        (100.0 * h0).min(h1).min(duration)
    }

    /// Integrates one cell over `duration` time units, in place.
    ///
    /// Returns the steps taken; [`Steps::total`] is the cell's cost.
    pub fn integrate(
        &self,
        cell: &mut GrayScottCell,
        duration: f64,
    ) -> Result<Steps, ChemistryError> {
        if !(duration.is_finite() && duration >= 0.0) {
            return Err(ChemistryError::InvalidArgument(
                "duration must be finite and >= 0",
            ));
        }
        if !(self.rtol > 0.0 && self.atol > 0.0) {
            return Err(ChemistryError::InvalidArgument("rtol and atol must be > 0"));
        }
        let (mut a, mut b) = (cell.a, cell.b);
        if !(a.is_finite() && b.is_finite()) {
            return Err(ChemistryError::NonFinite { t: 0.0, a, b });
        }
        let mut steps = Steps::default();
        if duration == 0.0 {
            return Ok(steps);
        }

        let (mut fa, mut fb) = self.rhs(a, b);
        let mut h = self.initial_step(a, b, fa, fb, duration);
        let mut t = 0.0;
        let mut last_rejected = false;

        while t < duration {
            if steps.total() >= self.max_steps {
                cell.a = a;
                cell.b = b;
                return Err(ChemistryError::TooManySteps {
                    max_steps: self.max_steps,
                    t,
                });
            }
            // Do not leave a sliver at the end of the interval.
            let last = t + 1.01 * h >= duration;
            if last {
                h = duration - t;
            }

            // G = 1/(h γ) I - J, inverted explicitly (2×2).
            let j = self.jacobian(a, b);
            let g = 1.0 / (h * GAMMA);
            let (g11, g12, g21, g22) = (g - j[0][0], -j[0][1], -j[1][0], g - j[1][1]);
            let det = g11 * g22 - g12 * g21;
            let (i11, i12, i21, i22) = (g22 / det, -g12 / det, -g21 / det, g11 / det);
            let solve = |ra: f64, rb: f64| (i11 * ra + i12 * rb, i21 * ra + i22 * rb);
            let hinv = 1.0 / h;

            // Stage 1.
            let (k1a, k1b) = solve(fa, fb);
            // Stage 2: Y2 = y, reuses f(y).
            let (k2a, k2b) = solve(fa + C21 * hinv * k1a, fb + C21 * hinv * k1b);
            // Stage 3: Y3 = y + 2 K1.
            let (f3a, f3b) = self.rhs(a + 2.0 * k1a, b + 2.0 * k1b);
            let (k3a, k3b) = solve(
                f3a + hinv * (C31 * k1a + C32 * k2a),
                f3b + hinv * (C31 * k1b + C32 * k2b),
            );
            // Stage 4: Y4 = y + 2 K1 + K3.
            let (y4a, y4b) = (a + 2.0 * k1a + k3a, b + 2.0 * k1b + k3b);
            let (f4a, f4b) = self.rhs(y4a, y4b);
            let (k4a, k4b) = solve(
                f4a + hinv * (C41 * k1a + C42 * k2a + C43 * k3a),
                f4b + hinv * (C41 * k1b + C42 * k2b + C43 * k3b),
            );
            let (na, nb) = (y4a + k4a, y4b + k4b);

            let err = self.norm(k4a, k4b, a.abs().max(na.abs()), b.abs().max(nb.abs()));
            if !(na.is_finite() && nb.is_finite() && err.is_finite()) {
                // A step so large that it overflowed: retry much smaller.
                steps.rejected += 1;
                last_rejected = true;
                h *= 0.1;
                if h <= f64::EPSILON * duration {
                    return Err(ChemistryError::NonFinite { t, a: na, b: nb });
                }
                continue;
            }
            let fac = if err == 0.0 {
                FAC_MAX
            } else {
                (SAFETY / err.cbrt()).clamp(FAC_MIN, FAC_MAX)
            };
            if err <= 1.0 {
                steps.accepted += 1;
                a = na;
                b = nb;
                t = if last { duration } else { t + h };
                (fa, fb) = self.rhs(a, b);
                h *= if last_rejected { fac.min(1.0) } else { fac };
                last_rejected = false;
            } else {
                steps.rejected += 1;
                last_rejected = true;
                h *= fac.min(1.0);
            }
        }
        cell.a = a;
        cell.b = b;
        Ok(steps)
    }
}

/// Integrates `(a, b)` over `duration` with the default [`Chemistry`]
/// (F = 0.0545, k = 0.062, rtol = 1e-4, atol = 1e-8) and returns the number of
/// step attempts (accepted + rejected), the cell's cost.
///
/// # Panics
///
/// If the state is not finite or the integration fails (see
/// [`Chemistry::integrate`] for the fallible version).
pub fn react(a: &mut f64, b: &mut f64, duration: f64) -> u32 {
    let mut cell = GrayScottCell { a: *a, b: *b };
    match Chemistry::default().integrate(&mut cell, duration) {
        Ok(steps) => {
            *a = cell.a;
            *b = cell.b;
            steps.total()
        }
        Err(e) => panic!("Gray-Scott chemistry failed for a = {a}, b = {b}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classical RK4 with a fixed small step: an independent reference.
    fn rk4(chem: &Chemistry, a: f64, b: f64, duration: f64, n: usize) -> (f64, f64) {
        let h = duration / n as f64;
        let (mut a, mut b) = (a, b);
        for _ in 0..n {
            let (k1a, k1b) = chem.rhs(a, b);
            let (k2a, k2b) = chem.rhs(a + 0.5 * h * k1a, b + 0.5 * h * k1b);
            let (k3a, k3b) = chem.rhs(a + 0.5 * h * k2a, b + 0.5 * h * k2b);
            let (k4a, k4b) = chem.rhs(a + h * k3a, b + h * k3b);
            a += h / 6.0 * (k1a + 2.0 * k2a + 2.0 * k3a + k4a);
            b += h / 6.0 * (k1b + 2.0 * k2b + 2.0 * k3b + k4b);
        }
        (a, b)
    }

    /// A spread of states like those of the Gray-Scott demo.
    fn states() -> Vec<(f64, f64)> {
        let mut v = vec![(1.0, 0.0), (0.5, 0.25), (0.3, 0.4), (0.9, 0.1), (0.2, 0.6)];
        for i in 0..=10 {
            for j in 0..=10 {
                v.push((0.1 * i as f64, 0.07 * j as f64));
            }
        }
        v
    }

    #[test]
    fn matches_reference_within_a_few_rtol() {
        let chem = Chemistry::default();
        for &(a0, b0) in &states() {
            for &dur in &[1.0, 10.0] {
                let (ra, rb) = rk4(&chem, a0, b0, dur, 20_000);
                let mut c = GrayScottCell { a: a0, b: b0 };
                chem.integrate(&mut c, dur).unwrap();
                for (got, want) in [(c.a, ra), (c.b, rb)] {
                    let tol = 5.0 * (chem.rtol * want.abs() + chem.atol);
                    assert!(
                        (got - want).abs() <= tol,
                        "({a0}, {b0}) over {dur}: got {got}, want {want}, tol {tol}"
                    );
                }
            }
        }
    }

    #[test]
    fn tight_tolerance_converges_to_reference() {
        let chem = Chemistry {
            rtol: 1e-10,
            atol: 1e-14,
            ..Chemistry::default()
        };
        let (ra, rb) = rk4(&chem, 0.5, 0.25, 5.0, 50_000);
        let mut c = GrayScottCell { a: 0.5, b: 0.25 };
        chem.integrate(&mut c, 5.0).unwrap();
        assert!((c.a - ra).abs() < 1e-8, "{} vs {}", c.a, ra);
        assert!((c.b - rb).abs() < 1e-8, "{} vs {}", c.b, rb);
    }

    /// Fixed-step order check: with the controller off (huge tolerances),
    /// halving the step divides the global error by about 2^3 = 8.
    #[test]
    fn method_is_third_order() {
        let chem = Chemistry {
            rtol: 1e30,
            atol: 1e30,
            ..Chemistry::default()
        };
        let (ra, rb) = rk4(&chem, 0.5, 0.25, 2.0, 100_000);
        let err = |n: u32| {
            let mut c = GrayScottCell { a: 0.5, b: 0.25 };
            for _ in 0..n {
                let s = chem.integrate(&mut c, 2.0 / n as f64).unwrap();
                assert_eq!(s.total(), 1);
            }
            ((c.a - ra).powi(2) + (c.b - rb).powi(2)).sqrt()
        };
        let (e1, e2, e3) = (err(20), err(40), err(80));
        for ratio in [e1 / e2, e2 / e3] {
            assert!(
                (6.5..10.0).contains(&ratio),
                "ratio {ratio} ({e1}, {e2}, {e3})"
            );
        }
    }

    #[test]
    fn steady_states_stay_put() {
        let chem = Chemistry::default();
        // The trivial steady state is kept exactly, in one step.
        let mut c = GrayScottCell { a: 1.0, b: 0.0 };
        let s = chem.integrate(&mut c, 1.0).unwrap();
        assert_eq!(c, GrayScottCell { a: 1.0, b: 0.0 });
        assert_eq!(s.total(), 1);
        // The two non-trivial ones: a b = F + k, b = F (1 - a) / (F + k).
        let fk = FEED + KILL;
        let disc = (1.0 - 4.0 * fk * fk / FEED).sqrt();
        for a in [(1.0 + disc) / 2.0, (1.0 - disc) / 2.0] {
            let b = FEED * (1.0 - a) / fk;
            let (fa, fb) = chem.rhs(a, b);
            assert!(fa.abs() < 1e-15 && fb.abs() < 1e-15);
            let mut c = GrayScottCell { a, b };
            chem.integrate(&mut c, 1.0).unwrap();
            assert!((c.a - a).abs() < 1e-4 * a, "{} vs {a}", c.a);
            assert!((c.b - b).abs() < 1e-4 * b, "{} vs {b}", c.b);
        }
    }

    #[test]
    fn active_cells_cost_more() {
        let chem = Chemistry::default();
        let cost = |a, b| {
            let mut c = GrayScottCell { a, b };
            chem.integrate(&mut c, 1.0).unwrap().total()
        };
        let rest = cost(1.0, 0.0);
        let nearly_rest = cost(1.0 - 1e-9, 1e-9);
        assert_eq!(rest, 1);
        assert!(nearly_rest <= 2, "{nearly_rest}");
        // Reacting cells: at least three times the cost of a cell at rest.
        for (a, b) in [(0.9, 0.1), (0.5, 0.25), (0.3, 0.4), (0.2, 0.6)] {
            let active = cost(a, b);
            assert!(
                active >= 3 * rest,
                "({a}, {b}): {active} steps, rest {rest}"
            );
        }
    }

    #[test]
    fn deterministic_bitwise() {
        let chem = Chemistry::default();
        for &(a, b) in &states() {
            let mut c1 = GrayScottCell { a, b };
            let mut c2 = GrayScottCell { a, b };
            let s1 = chem.integrate(&mut c1, 1.0).unwrap();
            let s2 = chem.integrate(&mut c2, 1.0).unwrap();
            assert_eq!(c1.a.to_bits(), c2.a.to_bits());
            assert_eq!(c1.b.to_bits(), c2.b.to_bits());
            assert_eq!(s1, s2);
        }
    }

    #[test]
    fn react_matches_integrate_and_errors_are_reported() {
        let (mut a, mut b) = (0.5, 0.25);
        let n = react(&mut a, &mut b, 1.0);
        let mut c = GrayScottCell { a: 0.5, b: 0.25 };
        let s = Chemistry::default().integrate(&mut c, 1.0).unwrap();
        assert_eq!((a, b, n), (c.a, c.b, s.total()));

        let chem = Chemistry::default();
        let mut bad = GrayScottCell {
            a: f64::NAN,
            b: 0.0,
        };
        assert!(matches!(
            chem.integrate(&mut bad, 1.0),
            Err(ChemistryError::NonFinite { .. })
        ));
        let mut c = GrayScottCell { a: 0.5, b: 0.25 };
        assert!(chem.integrate(&mut c, -1.0).is_err());
        let few = Chemistry {
            max_steps: 1,
            ..chem
        };
        let mut c = GrayScottCell { a: 0.5, b: 0.25 };
        assert!(matches!(
            few.integrate(&mut c, 1.0),
            Err(ChemistryError::TooManySteps { .. })
        ));
    }
}
