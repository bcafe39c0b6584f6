//! A variable-order (1–5), variable-step BDF integrator with modified Newton
//! iterations and Jacobian / LU reuse, in the manner of CVODE.
//!
//! The history is kept as backward differences `D_0 = y_n`,
//! `D_j = h^0 ∇^j y_n` (scipy's `BDF` formulation, Shampine & Reichelt 1997,
//! with the NDF coefficients set to zero: plain BDF), rescaled when `h`
//! changes. The corrector solves
//!
//! ```text
//! (I - c J) Δ = c f(y) - ψ - d,   c = h / γ_q,   y ← y + Δ,   d ← d + Δ
//! ```
//!
//! from the predictor `y = Σ_{j<=q} D_j`; the error estimate is `d / (q + 1)`.
//! As in CVODE the iteration matrix is reused while `c` changes by at most
//! 30 % (the correction scaled by `2 / (1 + c / c_LU)`), for at most
//! [`LU_MAX_AGE`] steps, and the Jacobian for [`JAC_MAX_AGE`] steps or until
//! the iteration fails to converge; the convergence test is CVODE's
//! (`Δ · min(1, rate) · err_const ≤ 0.1`, the rate carried across steps).
//!
//! Allocation happens in [`Bdf::new`] only; the arithmetic is plain `f64` in a
//! fixed order (bitwise reproducible).

use crate::fastlog::pow;
use crate::linalg::{lu_factor, lu_solve};
use crate::step_size::first_step;

/// Highest order.
pub(crate) const MAX_ORDER: usize = 5;
/// Corrector iterations per attempt (CVODE's `maxcor`).
const NEWTON_MAXITER: usize = 3;
/// CVODE's `CRDOWN`: the convergence-rate estimate decays at most this fast.
const CRDOWN: f64 = 0.3;
/// CVODE's `RDIV`: divergence when a correction grows by this factor.
const RDIV: f64 = 2.0;
/// Corrector tolerance relative to the local error test (CVODE's `nlscoef`).
const NLS_COEF: f64 = 0.1;
/// Refactor when `c` moved by more than this relative to the factored one.
const DGMAX: f64 = 0.3;
/// Accepted steps after which the iteration matrix is refactored.
pub(crate) const LU_MAX_AGE: u32 = 20;
/// Accepted steps after which a refactoring re-evaluates the Jacobian too.
/// CVODE waits 50 steps (its Jacobian is by finite differences, `N + 1`
/// right-hand sides); the analytic one costs about one LU here, and a fresh
/// one at every refactoring took 25-45 % fewer right-hand sides and steps on
/// the gri30 and H2 ignitions (the Jacobian of a chemistry changes with T
/// faster than the step size does), so: every refactoring.
pub(crate) const JAC_MAX_AGE: u32 = 1;
/// Largest step growth.
const MAX_FACTOR: f64 = 10.0;
/// Step reductions after error-test failures: at least this (CVODE's `ETAMIN`) ...
const ETA_MIN: f64 = 0.1;
/// ... at most this (CVODE's `ETAMXF`'s first-failure cap 0.9) ...
const ETA_MAX_FAIL: f64 = 0.9;
/// ... and at most this from the second failure on (CVODE's `ETAMXF`).
const ETA_MAX_REPEATED_FAIL: f64 = 0.2;
/// CVODE's biases on the error estimates of orders q, q - 1, q + 1.
/// (CVODE uses 6, 6, 10; these smaller ones took 20-30 % fewer right-hand
/// sides on the H2 and gri30 ignitions, measured.)
const BIAS_SAME: f64 = 2.0;
const BIAS_LOWER: f64 = 2.0;
const BIAS_HIGHER: f64 = 3.0;
/// Step increases below this factor are not taken (keeps `h`, the order and
/// the LU). CVODE's is 1.5; 2 took 3-9 % fewer instructions on the four
/// ignitions of the benchmark (measured with callgrind; 1.25, 2.5 and 3 more).
const GROWTH_THRESHOLD: f64 = 2.0;
/// Consecutive error-test failures after which the order drops to 1.
const MAX_ERROR_FAILS: u32 = 3;

/// `γ_q = Σ_{j=1..q} 1/j`.
const GAMMA: [f64; MAX_ORDER + 1] = [
    0.0,
    1.0,
    1.5,
    1.8333333333333333,
    2.083333333333333,
    2.283333333333333,
];

/// Local error constant of order `q`: `1 / (q + 1)` (index up to `MAX_ORDER + 1`).
#[inline]
fn err_const(q: usize) -> f64 {
    1.0 / (q as f64 + 1.0)
}

/// Step ratio for an error estimate `error` of order `q` with `bias`:
/// `1 / ((bias error)^(1/(q+1)) + 1e-6)` (CVODE's form).
#[inline]
fn eta(error: f64, bias: f64, q: usize) -> f64 {
    1.0 / (pow(bias * error, 1.0 / (q as f64 + 1.0)) + 1e-6)
}

/// A system `dy/dt = f(y)` (autonomous) with its Jacobian.
pub(crate) trait OdeSystem {
    /// `f(y)` into `f`; `false` if `y` is outside the domain of `f`.
    fn rhs(&mut self, y: &[f64], f: &mut [f64]) -> bool;
    /// `f(y)` into `f` and `∂f/∂y` (row-major) into `jac`; `false` as for `rhs`.
    fn jacobian(&mut self, y: &[f64], f: &mut [f64], jac: &mut [f64]) -> bool;
}

/// Tolerances and limits of one integration (scalar `atol` on every component).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tolerances {
    pub rtol: f64,
    pub atol: f64,
    pub max_attempts: usize,
}

/// Work counters of one integration, and where its step size ended.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Work {
    pub steps: u32,
    pub rejected: u32,
    pub rhs: u32,
    pub jacobians: u32,
    pub factorizations: u32,
    /// Highest order used by an accepted step.
    pub max_order: u32,
    /// The step an integration from the end point starts with at order 1,
    /// by the error estimate of the last step ([`Bdf::order_one_factor`]).
    pub next_step: f64,
}

/// Why an integration stopped early: at `t`, for `reason`.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub t: f64,
    pub reason: String,
}

/// Buffers of the integrator for systems of size `n`.
#[derive(Clone, Debug)]
pub(crate) struct Bdf {
    n: usize,
    /// `MAX_ORDER + 3` rows of `n`: `D_0 = y_n`, then the scaled differences.
    hist: Vec<f64>,
    /// `MAX_ORDER + 1` rows: scratch of the rescaling.
    tmp: Vec<f64>,
    y_pred: Vec<f64>,
    psi: Vec<f64>,
    corr: Vec<f64>,
    y_new: Vec<f64>,
    f: Vec<f64>,
    delta: Vec<f64>,
    /// Inverse weights `1 / (atol + rtol |y|)`.
    ewt: Vec<f64>,
    jac: Vec<f64>,
    lu: Vec<f64>,
    piv: Vec<usize>,
}

/// `R` of Shampine & Reichelt: the matrix changing differences for step
/// ratio `factor` (`(order + 1)²`, row-major in a fixed 6×6).
fn compute_r(order: usize, factor: f64) -> [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] {
    let mut r = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
    for j in 0..=order {
        r[0][j] = 1.0;
    }
    for i in 1..=order {
        for j in 1..=order {
            let m = (i as f64 - 1.0 - factor * j as f64) / i as f64;
            r[i][j] = r[i - 1][j] * m;
        }
    }
    r
}

impl Bdf {
    pub fn new(n: usize) -> Bdf {
        Bdf {
            n,
            hist: vec![0.0; (MAX_ORDER + 3) * n],
            tmp: vec![0.0; (MAX_ORDER + 1) * n],
            y_pred: vec![0.0; n],
            psi: vec![0.0; n],
            corr: vec![0.0; n],
            y_new: vec![0.0; n],
            f: vec![0.0; n],
            delta: vec![0.0; n],
            ewt: vec![0.0; n],
            jac: vec![0.0; n * n],
            lu: vec![0.0; n * n],
            piv: vec![0; n],
        }
    }

    /// Rescales the differences `D_0..=D_order` for a step `factor` times the old.
    fn rescale(&mut self, order: usize, factor: f64) {
        let n = self.n;
        let r = compute_r(order, factor);
        let u = compute_r(order, 1.0);
        // RU = R · U; D_i ← Σ_j RU[j][i] D_j.
        let mut ru = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
        for i in 0..=order {
            for j in 0..=order {
                let mut s = 0.0;
                for l in 0..=order {
                    s += r[i][l] * u[l][j];
                }
                ru[i][j] = s;
            }
        }
        for i in 0..=order {
            let out = &mut self.tmp[i * n..(i + 1) * n];
            out.iter_mut().for_each(|v| *v = 0.0);
            for j in 0..=order {
                let w = ru[j][i];
                if w != 0.0 {
                    let dj = &self.hist[j * n..(j + 1) * n];
                    for (o, &d) in out.iter_mut().zip(dj) {
                        *o += w * d;
                    }
                }
            }
        }
        self.hist[..(order + 1) * n].copy_from_slice(&self.tmp[..(order + 1) * n]);
    }

    /// The step factor an order-1 step from the newest point would take, by
    /// the order-1 error estimate `∇²y / 2` of the last accepted step (the
    /// second difference `D_2`, exact after any order, with that step's
    /// error weights): a new integration from that point starts at order 1,
    /// where a step sized for a higher order would fail the error test.
    fn order_one_factor(&self) -> f64 {
        let n = self.n;
        let error = err_const(1) * Self::wrms(&self.hist[2 * n..3 * n], &self.ewt);
        eta(error, BIAS_SAME, 1).min(MAX_FACTOR)
    }

    /// Weighted RMS norm of `v` with the inverse weights `ewt`.
    fn wrms(v: &[f64], ewt: &[f64]) -> f64 {
        let mut s = 0.0;
        for (&x, &w) in v.iter().zip(ewt) {
            let e = x * w;
            s += e * e;
        }
        (s / v.len() as f64).sqrt()
    }

    /// Integrates `y` over `[0, dt]` in place. The first step is `start`
    /// (at most `dt`; finite and > 0) or, if `None`, the first-step
    /// heuristic's. `observer(t, y, f)` sees `t = 0`
    /// and every accepted point; `f` is `f(y)` there when `observe_f` (one
    /// more right-hand side per step), else empty after `t = 0`. On failure
    /// `y` is unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn integrate<S: OdeSystem, O: FnMut(f64, &[f64], &[f64])>(
        &mut self,
        sys: &mut S,
        y: &mut [f64],
        dt: f64,
        tol: &Tolerances,
        start: Option<f64>,
        observe_f: bool,
        mut observer: O,
    ) -> Result<Work, (Failure, Work)> {
        let n = self.n;
        assert_eq!(y.len(), n, "state length");
        let mut work = Work::default();
        let fail = |t: f64, reason: String, work: Work| Err((Failure { t, reason }, work));
        work.rhs += 1;
        work.jacobians += 1;
        if !sys.jacobian(y, &mut self.f, &mut self.jac) || self.f.iter().any(|v| !v.is_finite()) {
            return fail(
                0.0,
                "non-finite derivative at the initial state".into(),
                work,
            );
        }
        observer(0.0, y, &self.f);
        if dt == 0.0 {
            return Ok(work);
        }
        // Order 1 first: local error O(h^2).
        let mut h = match start {
            Some(h) => h.min(dt),
            None => first_step(
                y,
                &self.f,
                dt,
                2.0,
                tol.rtol,
                tol.atol,
                &mut self.y_pred,
                &mut self.delta,
                |y, f| {
                    work.rhs += 1;
                    sys.rhs(y, f)
                },
            ),
        };
        self.hist.iter_mut().for_each(|v| *v = 0.0);
        self.hist[..n].copy_from_slice(y);
        for i in 0..n {
            self.hist[n + i] = h * self.f[i];
        }
        let mut order = 1usize;
        let mut n_equal = 0usize;
        let mut t = 0.0;
        // The iteration matrix: factored for `c_lu`, `lu_age` accepted steps ago.
        let mut lu_valid = false;
        let mut c_lu = 0.0;
        let mut lu_age = 0u32;
        // Accepted steps since the Jacobian was evaluated (0: at this step).
        let mut jac_age = 0u32;
        let mut rate = 1.0f64;
        let mut error_fails = 0u32;
        let mut no_growth = false;
        while t < dt {
            if (work.steps + work.rejected) as usize >= tol.max_attempts {
                return fail(t, format!("more than {} steps", tol.max_attempts), work);
            }
            if h <= 1e-14 * dt.max(t) || h < 1e-300 || !h.is_finite() {
                return fail(t, format!("step size underflow (h = {h:e})"), work);
            }
            // Reach the end exactly, without a sliver of a last step.
            if t + 1.01 * h >= dt && t + h != dt {
                let h_end = dt - t;
                self.rescale(order, h_end / h);
                h = h_end;
                n_equal = 0;
            }
            // Predictor, ψ and the weights of y_n.
            {
                let (d0, rest) = self.hist.split_at(n);
                self.y_pred.copy_from_slice(d0);
                self.psi.iter_mut().for_each(|v| *v = 0.0);
                for j in 1..=order {
                    let dj = &rest[(j - 1) * n..j * n];
                    let g = GAMMA[j];
                    for ((p, s), &d) in self.y_pred.iter_mut().zip(self.psi.iter_mut()).zip(dj) {
                        *p += d;
                        *s += g * d;
                    }
                }
                let inv_alpha = 1.0 / GAMMA[order];
                self.psi.iter_mut().for_each(|v| *v *= inv_alpha);
                for (w, &yn) in self.ewt.iter_mut().zip(d0) {
                    *w = 1.0 / (tol.atol + tol.rtol * yn.abs());
                }
            }
            let c = h / GAMMA[order];
            // `f` holds `f(y_pred)` from the Jacobian's pass: the first
            // corrector iteration, which starts at the predictor, needs no
            // right-hand side of its own.
            let mut f_at_predictor = false;
            if !lu_valid || (c / c_lu - 1.0).abs() > DGMAX || lu_age >= LU_MAX_AGE {
                if jac_age >= JAC_MAX_AGE {
                    work.jacobians += 1;
                    work.rhs += 1;
                    f_at_predictor = sys.jacobian(&self.y_pred, &mut self.f, &mut self.jac);
                    if !f_at_predictor {
                        work.rejected += 1;
                        h *= 0.25;
                        self.rescale(order, 0.25);
                        n_equal = 0;
                        continue;
                    }
                    jac_age = 0;
                }
                for (l, &j) in self.lu.iter_mut().zip(&self.jac) {
                    *l = -c * j;
                }
                for i in 0..n {
                    self.lu[i * n + i] += 1.0;
                }
                work.factorizations += 1;
                lu_valid = lu_factor(&mut self.lu, n, &mut self.piv);
                c_lu = c;
                lu_age = 0;
                rate = 1.0;
                if !lu_valid {
                    work.rejected += 1;
                    h *= 0.25;
                    self.rescale(order, 0.25);
                    n_equal = 0;
                    continue;
                }
            }
            // Modified Newton from the predictor.
            let gamma_ratio = c / c_lu;
            let scale = if gamma_ratio == 1.0 {
                1.0
            } else {
                2.0 / (1.0 + gamma_ratio)
            };
            self.y_new.copy_from_slice(&self.y_pred);
            self.corr.iter_mut().for_each(|v| *v = 0.0);
            let mut converged = false;
            let mut del_prev = 0.0;
            for m in 0..NEWTON_MAXITER {
                if !(m == 0 && f_at_predictor) {
                    work.rhs += 1;
                    if !sys.rhs(&self.y_new, &mut self.f) {
                        break;
                    }
                }
                if self.f.iter().any(|v| !v.is_finite()) {
                    break;
                }
                for i in 0..n {
                    self.delta[i] = c * self.f[i] - self.psi[i] - self.corr[i];
                }
                lu_solve(&self.lu, n, &self.piv, &mut self.delta);
                if scale != 1.0 {
                    self.delta.iter_mut().for_each(|v| *v *= scale);
                }
                let del = Self::wrms(&self.delta, &self.ewt);
                if !del.is_finite() {
                    break;
                }
                for ((yv, cv), &dv) in self
                    .y_new
                    .iter_mut()
                    .zip(self.corr.iter_mut())
                    .zip(&self.delta)
                {
                    *yv += dv;
                    *cv += dv;
                }
                if m > 0 {
                    rate = (CRDOWN * rate).max(del / del_prev);
                }
                if del * rate.min(1.0) * err_const(order) <= NLS_COEF {
                    converged = true;
                    break;
                }
                if m > 0 && del > RDIV * del_prev {
                    break;
                }
                del_prev = del;
            }
            if !converged {
                no_growth = true;
                work.rejected += 1;
                if jac_age > 0 {
                    // A stale Jacobian: retry the same step with a fresh one
                    // (evaluated at the predictor by the refactoring).
                    jac_age = JAC_MAX_AGE;
                    lu_valid = false;
                    continue;
                }
                h *= 0.25;
                self.rescale(order, 0.25);
                n_equal = 0;
                lu_valid = false;
                continue;
            }
            // Local error test, weighted by max(|y_n|, |y_new|).
            for i in 0..n {
                let sc = tol.atol + tol.rtol * self.hist[i].abs().max(self.y_new[i].abs());
                self.ewt[i] = 1.0 / sc;
            }
            let error = err_const(order) * Self::wrms(&self.corr, &self.ewt);
            if error.is_nan() || error > 1.0 || self.y_new.iter().any(|v| !v.is_finite()) {
                work.rejected += 1;
                error_fails += 1;
                no_growth = true;
                if error_fails >= MAX_ERROR_FAILS && order > 1 {
                    self.rescale(order, ETA_MIN);
                    order = 1;
                    h *= ETA_MIN;
                } else {
                    let mut factor = if error.is_finite() {
                        eta(error, BIAS_SAME, order).clamp(ETA_MIN, ETA_MAX_FAIL)
                    } else {
                        ETA_MIN
                    };
                    if error_fails >= 2 {
                        factor = factor.min(ETA_MAX_REPEATED_FAIL);
                    }
                    self.rescale(order, factor);
                    h *= factor;
                }
                n_equal = 0;
                continue;
            }
            // Accepted.
            error_fails = 0;
            work.steps += 1;
            work.max_order = work.max_order.max(order as u32);
            t = if t + h >= dt { dt } else { t + h };
            lu_age += 1;
            jac_age += 1;
            {
                let (lower, upper) = self.hist.split_at_mut((order + 1) * n);
                let (dq1, dq2) = upper.split_at_mut(n);
                let dq2 = &mut dq2[..n];
                for i in 0..n {
                    dq2[i] = self.corr[i] - dq1[i];
                    dq1[i] = self.corr[i];
                }
                let _ = lower;
            }
            for j in (0..=order).rev() {
                let (lo, hi) = self.hist.split_at_mut((j + 1) * n);
                let dj = &mut lo[j * n..];
                for (a, &b) in dj.iter_mut().zip(&hi[..n]) {
                    *a += b;
                }
            }
            if observe_f {
                work.rhs += 1;
                sys.rhs(&self.y_new, &mut self.f);
                observer(t, &self.y_new, &self.f);
            } else {
                observer(t, &self.y_new, &[]);
            }
            if t >= dt {
                work.next_step = h * self.order_one_factor();
                break;
            }
            n_equal += 1;
            if no_growth {
                // No larger step right after a failure (CVODE's `etamax = 1`).
                no_growth = false;
                continue;
            }
            // Step (and, after q + 1 steps of this size, order) selection, with
            // CVODE's biases; the weights are those of the error test.
            let mut factor = eta(error, BIAS_SAME, order);
            let mut new_order = order;
            if n_equal > order {
                if order > 1 {
                    let e = err_const(order - 1)
                        * Self::wrms(&self.hist[order * n..(order + 1) * n], &self.ewt);
                    let f = eta(e, BIAS_LOWER, order - 1);
                    if f > factor {
                        factor = f;
                        new_order = order - 1;
                    }
                }
                if order < MAX_ORDER {
                    let e = err_const(order + 1)
                        * Self::wrms(&self.hist[(order + 2) * n..(order + 3) * n], &self.ewt);
                    let f = eta(e, BIAS_HIGHER, order + 1);
                    if f > factor {
                        factor = f;
                        new_order = order + 1;
                    }
                }
            }
            let factor = factor.min(MAX_FACTOR);
            if factor < GROWTH_THRESHOLD {
                // Not worth a new LU: keep h and the order.
                continue;
            }
            order = new_order;
            self.rescale(order, factor);
            h *= factor;
            n_equal = 0;
        }
        y.copy_from_slice(&self.y_new);
        Ok(work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y' = A y` with a constant `A`.
    struct Linear {
        a: Vec<f64>,
        n: usize,
    }

    impl OdeSystem for Linear {
        fn rhs(&mut self, y: &[f64], f: &mut [f64]) -> bool {
            for i in 0..self.n {
                f[i] = (0..self.n).map(|j| self.a[i * self.n + j] * y[j]).sum();
            }
            true
        }
        fn jacobian(&mut self, y: &[f64], f: &mut [f64], jac: &mut [f64]) -> bool {
            self.rhs(y, f);
            jac.copy_from_slice(&self.a);
            true
        }
    }

    /// Robertson's chemical kinetics problem (Hairer & Wanner IV.1).
    struct Robertson;

    impl OdeSystem for Robertson {
        fn rhs(&mut self, y: &[f64], f: &mut [f64]) -> bool {
            f[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
            f[2] = 3e7 * y[1] * y[1];
            f[1] = -f[0] - f[2];
            true
        }
        fn jacobian(&mut self, y: &[f64], f: &mut [f64], jac: &mut [f64]) -> bool {
            self.rhs(y, f);
            jac.copy_from_slice(&[
                -0.04,
                1e4 * y[2],
                1e4 * y[1],
                0.04,
                -1e4 * y[2] - 6e7 * y[1],
                -1e4 * y[1],
                0.0,
                6e7 * y[1],
                0.0,
            ]);
            true
        }
    }

    fn tol(rtol: f64, atol: f64) -> Tolerances {
        Tolerances {
            rtol,
            atol,
            max_attempts: 100_000,
        }
    }

    /// A stiff linear system (eigenvalues -0.5, -20, -1e5 mixed by a
    /// non-orthogonal basis) against its exact solution.
    #[test]
    fn stiff_linear_system_matches_the_exact_solution() {
        // A = V diag(λ) V^-1 with V = [[1,1,0],[0,1,1],[1,0,1]].
        let lam = [-0.5, -20.0, -1e5];
        let v = [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]];
        // V^-1 = 0.5 [[1,-1,1],[1,1,-1],[-1,1,1]].
        let vinv = [[0.5, -0.5, 0.5], [0.5, 0.5, -0.5], [-0.5, 0.5, 0.5]];
        let mut a = vec![0.0; 9];
        for i in 0..3 {
            for j in 0..3 {
                a[i * 3 + j] = (0..3).map(|k| v[i][k] * lam[k] * vinv[k][j]).sum();
            }
        }
        let y0 = [1.0, 2.0, 4.0];
        let t_end = 0.1;
        let exact: Vec<f64> = (0..3)
            .map(|i| {
                (0..3)
                    .map(|k| {
                        let ck: f64 = (0..3).map(|j| vinv[k][j] * y0[j]).sum();
                        v[i][k] * ck * (lam[k] * t_end).exp()
                    })
                    .sum()
            })
            .collect();
        for rtol in [1e-4, 1e-6, 1e-8] {
            let mut sys = Linear { a: a.clone(), n: 3 };
            let mut bdf = Bdf::new(3);
            let mut y = y0;
            let work = bdf
                .integrate(
                    &mut sys,
                    &mut y,
                    t_end,
                    &tol(rtol, 1e-12),
                    None,
                    false,
                    |_, _, _| {},
                )
                .unwrap();
            for i in 0..3 {
                let rel = (y[i] - exact[i]).abs() / exact[i].abs();
                assert!(
                    rel < 50.0 * rtol,
                    "rtol {rtol}: y[{i}] = {} vs {} ({work:?})",
                    y[i],
                    exact[i]
                );
            }
            // Stiff: far fewer steps than an explicit method's 2e5 · t_end / 2.8.
            assert!(work.steps < 2000, "{work:?}");
            // The LU is reused: fewer factorizations than steps.
            assert!(work.factorizations * 2 < work.steps, "{work:?}");
            // The Jacobian is only refreshed by age on a linear system.
            assert!(work.jacobians <= 1 + work.steps / JAC_MAX_AGE, "{work:?}");
        }
    }

    /// Robertson's problem to t = 40 against the reference values of
    /// Hairer & Wanner (RADAU5 at tolerance 1e-14 gives y(40) =
    /// (0.7158270687193135, 9.185534764529e-6, 0.2841637457459275)).
    #[test]
    fn robertson_matches_the_reference() {
        let reference = [0.7158270687193135, 9.185534764529e-6, 0.2841637457459275];
        let mut bdf = Bdf::new(3);
        let mut y = [1.0, 0.0, 0.0];
        let work = bdf
            .integrate(
                &mut Robertson,
                &mut y,
                40.0,
                &tol(1e-8, 1e-14),
                None,
                false,
                |_, _, _| {},
            )
            .unwrap();
        for i in 0..3 {
            let rel = (y[i] - reference[i]).abs() / reference[i];
            assert!(
                rel < 1e-5,
                "y[{i}] = {:e} vs {:e} ({work:?})",
                y[i],
                reference[i]
            );
        }
        // Mass is conserved by every linear multistep method.
        assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(work.rhs < 4 * work.steps, "{work:?}");
    }

    /// On a smooth decay the order climbs (to 5 at rtol 1e-9) and the step grows: order
    /// and step selection work, and a tighter tolerance costs more steps at
    /// the rate of a high-order method.
    #[test]
    fn order_rises_and_steps_scale_like_a_high_order_method() {
        let mut steps = Vec::new();
        for rtol in [1e-5, 1e-9] {
            let mut sys = Linear {
                a: vec![-1.0],
                n: 1,
            };
            let mut bdf = Bdf::new(1);
            let mut y = [1.0];
            let mut last_t = 0.0;
            let mut max_h = 0.0f64;
            let mut first_h = 0.0;
            let work = {
                let mut observer = |t: f64, _: &[f64], _: &[f64]| {
                    if first_h == 0.0 {
                        first_h = t;
                    }
                    max_h = max_h.max(t - last_t);
                    last_t = t;
                };
                bdf.integrate(
                    &mut sys,
                    &mut y,
                    10.0,
                    &tol(rtol, 1e-20),
                    None,
                    false,
                    &mut observer,
                )
                .unwrap()
            };
            // Higher orders for tighter tolerances, up to 5.
            let expected = if rtol < 1e-8 { MAX_ORDER } else { 3 };
            assert!(work.max_order as usize >= expected, "rtol {rtol}: {work:?}");
            assert!(
                ((y[0] - (-10.0f64).exp()) / (-10.0f64).exp()).abs() < 300.0 * rtol,
                "{} ({work:?})",
                y[0]
            );
            assert!(
                max_h > 20.0 * first_h,
                "steps grew from {first_h} to {max_h}"
            );
            steps.push(work.steps as f64);
        }
        // A first-order method would need 10^(4/2) = 100x the steps for 1e4
        // more accuracy; order ~5 needs about 10^(4/6) ≈ 4.6x.
        let ratio = steps[1] / steps[0];
        assert!(ratio < 12.0, "steps {steps:?}");
    }
}
