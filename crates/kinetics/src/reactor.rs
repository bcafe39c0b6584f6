//! The adiabatic constant-pressure reactor and its two integrators: BDF (the
//! default, `src/bdf.rs`) and the adaptive RODAS4 Rosenbrock method.

use crate::bdf::{Bdf, OdeSystem, Tolerances, Work};
use crate::fastlog::pow;
use crate::kinetics::Kinetics;
use crate::linalg::{lu_factor, lu_solve};
use crate::mechanism::Inner;
use crate::rosenbrock::{Tableau, MAX_STAGES, RODAS4};
use crate::step_size::{first_step, weighted_rms};
use crate::{Error, Mechanism, Result};

/// The integrator of a [`Reactor`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// Variable-order (1–5), variable-step BDF with modified Newton
    /// iterations, reusing the analytic Jacobian and its LU over many steps
    /// (as CVODE): about one or two right-hand sides per step. The default.
    #[default]
    Bdf,
    /// RODAS4 (Hairer & Wanner: 6-stage, order-4 Rosenbrock, stiffly
    /// accurate): a Jacobian, an LU and 5 right-hand sides per step, fewer
    /// and larger steps than BDF, no history between steps.
    Rodas4,
}

/// Tolerances and limits of [`Reactor::advance`].
///
/// The error of a step is measured in the weighted RMS norm
/// `|err_i| / (atol + rtol * max(|y_i|, |y_new_i|))` over `[T, Y_0, ..]`.
#[derive(Clone, Copy, Debug)]
pub struct ReactorOptions {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance on mass fractions (for `T` it is negligible beside
    /// `rtol T`). Values above [`MAX_ATOL`] are lowered to it: see there.
    pub atol: f64,
    /// Limit on step attempts (accepted + rejected) per call.
    pub max_steps: usize,
    /// The integrator.
    pub method: Method,
}

impl Default for ReactorOptions {
    /// `rtol = 1e-6`, `atol = 1e-12`, `max_steps = 100_000`, BDF.
    fn default() -> Self {
        ReactorOptions {
            rtol: 1e-6,
            atol: 1e-12,
            max_steps: 100_000,
            method: Method::Bdf,
        }
    }
}

/// Work of one [`Reactor::advance`] call.
///
/// A step of either method costs about the same from step to step of one
/// cell, so `steps + rejected` is the cell's work unit for a load balancer; a
/// BDF step is cheaper than a RODAS4 one (one or two right-hand sides and, now
/// and then, a Jacobian and an LU, against a Jacobian, an LU and five
/// right-hand sides), so the counts of the two methods do not compare.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    /// Accepted integrator steps (the cost measure of a cell).
    pub steps: u32,
    /// Rejected step attempts (error test or, for BDF, corrector failures).
    pub rejected: u32,
    /// Right-hand sides evaluated (not counting those inside `jacobians`).
    pub rhs_evaluations: u32,
    /// Analytic Jacobians evaluated (each with its right-hand side).
    pub jacobians: u32,
    /// LU factorisations of the iteration matrix.
    pub factorizations: u32,
}

impl From<Work> for StepStats {
    fn from(w: Work) -> StepStats {
        StepStats {
            steps: w.steps,
            rejected: w.rejected,
            rhs_evaluations: w.rhs - w.jacobians,
            jacobians: w.jacobians,
            factorizations: w.factorizations,
        }
    }
}

/// The reactor's right-hand side as an [`OdeSystem`] at one pressure.
struct Chemistry<'a> {
    kin: &'a mut Kinetics,
    mech: &'a Inner,
    pressure: f64,
}

impl OdeSystem for Chemistry<'_> {
    fn rhs(&mut self, y: &[f64], f: &mut [f64]) -> bool {
        if !(y[0] > 0.0 && y[0].is_finite()) {
            return false;
        }
        self.kin.rhs(self.mech, self.pressure, y, f);
        true
    }

    fn jacobian(&mut self, y: &[f64], f: &mut [f64], jac: &mut [f64]) -> bool {
        if !(y[0] > 0.0 && y[0].is_finite()) {
            return false;
        }
        self.kin.jacobian(self.mech, self.pressure, y, f, jac);
        true
    }
}

/// The largest absolute tolerance the integrator uses. Radicals start an
/// ignition far below 1e-10 in mass fraction; an error norm blind to them lets
/// an L-stable method step over the whole induction, which damps the growing
/// mode, and report an unignited state with a small error estimate (measured:
/// H2/air at 1000 K over 1 ms is missed with atol = 1e-10 or 1e-9 and caught
/// with 1e-11, whatever rtol from 1e-3 to 1e-6). A tighter tolerance than asked
/// for costs steps, never accuracy.
pub const MAX_ATOL: f64 = 1e-12;

const SAFETY: f64 = 0.9;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 6.0;

/// An adiabatic, constant-pressure, homogeneous reactor for one mechanism, with
/// every buffer its integrator needs allocated once, in [`Reactor::new`].
///
/// The integrator is BDF (orders 1–5, [`Method::Bdf`]) or RODAS4
/// ([`Method::Rodas4`]: Hairer & Wanner's 6-stage, order-4 Rosenbrock,
/// stiffly accurate, embedded order 3), both with the analytic Jacobian and a
/// dense LU of size `K + 1`. It keeps no state between calls: the same input gives
/// bitwise the same output, whichever thread or rank runs it (all arithmetic is
/// `f64` in a fixed order; `exp`/`log` are the crate's own table-driven ones
/// or the pure-Rust `libm`'s, never the platform's).
///
/// ```
/// use quicklb_kinetics::{Mechanism, Reactor, ReactorOptions};
///
/// let mech = Mechanism::bundled_h2_o2();
/// let y = mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap();
/// let mut state = vec![1200.0];
/// state.extend(&y);
/// let mut reactor = Reactor::new(&mech, ReactorOptions::default());
/// let stats = reactor.advance(&mut state, 101325.0, 1e-3).unwrap();
/// assert!(state[0] > 2500.0, "ignited: T = {}", state[0]);
/// assert!(stats.steps > 10);
/// ```
#[derive(Clone, Debug)]
pub struct Reactor {
    mech: Mechanism,
    options: ReactorOptions,
    tableau: &'static Tableau,
    kin: Kinetics,
    bdf: Bdf,
    n: usize,
    y: Vec<f64>,
    y_new: Vec<f64>,
    y_stage: Vec<f64>,
    f0: Vec<f64>,
    f_stage: Vec<f64>,
    rhs: Vec<f64>,
    err: Vec<f64>,
    ks: Vec<f64>,
    jac: Vec<f64>,
    lu: Vec<f64>,
    piv: Vec<usize>,
}

impl Reactor {
    /// A reactor for `mechanism` (shared, not copied) with `options`.
    pub fn new(mechanism: &Mechanism, options: ReactorOptions) -> Reactor {
        let n = mechanism.num_species() + 1;
        Reactor {
            mech: mechanism.clone(),
            options,
            tableau: &RODAS4,
            kin: Kinetics::new(&mechanism.inner),
            bdf: Bdf::new(n),
            n,
            y: vec![0.0; n],
            y_new: vec![0.0; n],
            y_stage: vec![0.0; n],
            f0: vec![0.0; n],
            f_stage: vec![0.0; n],
            rhs: vec![0.0; n],
            err: vec![0.0; n],
            ks: vec![0.0; MAX_STAGES * n],
            jac: vec![0.0; n * n],
            lu: vec![0.0; n * n],
            piv: vec![0; n],
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> &Mechanism {
        &self.mech
    }

    /// The options.
    pub fn options(&self) -> ReactorOptions {
        self.options
    }

    /// Advances `state = [T, Y_0, ..., Y_{K-1}]` (K, Pa-free SI: T in K) by `dt`
    /// seconds at constant `pressure` (Pa), adiabatically. No allocation.
    ///
    /// On error `state` is left unchanged.
    pub fn advance(&mut self, state: &mut [f64], pressure: f64, dt: f64) -> Result<StepStats> {
        self.integrate(state, pressure, dt, None, false, |_, _, _| {})
            .map(|(stats, _)| stats)
    }

    /// [`Reactor::advance`] for a cell advanced again and again (operator
    /// splitting), with the step size it carries from call to call in
    /// `*step` (0 to begin with).
    ///
    /// If `*step >= dt` (the cell's last call ended with a step the length of
    /// the interval or more: a cold, frozen mixture), the first step is the
    /// whole interval, error-tested like any other, without the first-step
    /// heuristic's trial right-hand side; else the heuristic's, as in
    /// [`Reactor::advance`] (a carried shorter step starts worse: the state
    /// changes between calls, by diffusion in the flame, and a burning
    /// cell's carried step took twice the rejections of the heuristic's,
    /// measured). On success `*step` becomes the next call's: for BDF, which
    /// starts every call at order 1, the step the order-1 error estimate of
    /// the last step allows; for RODAS4, the size of the last accepted step
    /// before its cut to end at `dt`.
    ///
    /// The result is [`Reactor::advance`]'s wherever the heuristic runs, and
    /// as deterministic everywhere: the same `(state, *step)` gives bitwise
    /// the same `(state, *step)`. On error `state` and `*step` are left
    /// unchanged.
    pub fn advance_from_step(
        &mut self,
        state: &mut [f64],
        pressure: f64,
        dt: f64,
        step: &mut f64,
    ) -> Result<StepStats> {
        let start = (*step >= dt).then_some(dt);
        let (stats, next) = self.integrate(state, pressure, dt, start, false, |_, _, _| {})?;
        if next > 0.0 {
            *step = next;
        }
        Ok(stats)
    }

    /// `d[T, Y]/dt` at `state` into `dydt` (both of length `K + 1`).
    pub fn derivative(&mut self, state: &[f64], pressure: f64, dydt: &mut [f64]) -> Result<()> {
        self.check_state(state, pressure)?;
        if dydt.len() != self.n {
            return Err(Error::InvalidInput(format!(
                "derivative buffer has length {}, expected {}",
                dydt.len(),
                self.n
            )));
        }
        self.kin.rhs(&self.mech.inner, pressure, state, dydt);
        Ok(())
    }

    /// The Jacobian `∂f/∂[T, Y]` at `state`, row-major `(K+1)²`, into `jac`
    /// (and `f` into `dydt`).
    pub fn jacobian(
        &mut self,
        state: &[f64],
        pressure: f64,
        dydt: &mut [f64],
        jac: &mut [f64],
    ) -> Result<()> {
        self.check_state(state, pressure)?;
        if dydt.len() != self.n || jac.len() != self.n * self.n {
            return Err(Error::InvalidInput("wrong buffer lengths".into()));
        }
        self.kin
            .jacobian(&self.mech.inner, pressure, state, dydt, jac);
        Ok(())
    }

    fn check_state(&self, state: &[f64], pressure: f64) -> Result<()> {
        if state.len() != self.n {
            return Err(Error::InvalidInput(format!(
                "state has length {}, expected K + 1 = {}",
                state.len(),
                self.n
            )));
        }
        if !(state[0].is_finite() && state[0] > 0.0) {
            return Err(Error::InvalidInput(format!(
                "temperature must be finite and > 0, got {}",
                state[0]
            )));
        }
        if !(pressure.is_finite() && pressure > 0.0) {
            return Err(Error::InvalidInput(format!(
                "pressure must be finite and > 0, got {pressure}"
            )));
        }
        if let Some(v) = state[1..].iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(format!("non-finite mass fraction {v}")));
        }
        let sum: f64 = state[1..].iter().sum();
        if sum <= 0.0 {
            return Err(Error::InvalidInput("mass fractions sum to <= 0".into()));
        }
        Ok(())
    }

    fn norm(&self, e: &[f64], a: &[f64], b: &[f64]) -> f64 {
        weighted_rms(e, a, b, self.options.rtol, self.options.atol.min(MAX_ATOL))
    }

    /// One step attempt of size `h` from `self.y` with the current Jacobian:
    /// `y_new` and the error norm (infinite if the step failed numerically).
    fn attempt(&mut self, mech: &Inner, pressure: f64, h: f64, tab: &Tableau) -> f64 {
        let n = self.n;
        // G = 1/(h γ) I - J.
        let g = 1.0 / (h * tab.gamma);
        for i in 0..n * n {
            self.lu[i] = -self.jac[i];
        }
        for i in 0..n {
            self.lu[i * n + i] += g;
        }
        if !lu_factor(&mut self.lu, n, &mut self.piv) {
            return f64::INFINITY;
        }
        let hinv = 1.0 / h;
        for s in 0..tab.stages {
            if s > 0 && tab.new_f[s] {
                self.y_stage.copy_from_slice(&self.y);
                for j in 0..s {
                    let a = tab.a[s][j];
                    if a != 0.0 {
                        let kj = &self.ks[j * n..(j + 1) * n];
                        for (y, &k) in self.y_stage.iter_mut().zip(kj) {
                            *y += a * k;
                        }
                    }
                }
                if !(self.y_stage[0] > 0.0 && self.y_stage[0].is_finite()) {
                    return f64::INFINITY;
                }
                self.kin
                    .rhs(mech, pressure, &self.y_stage, &mut self.f_stage);
            }
            let source = if s == 0 || !tab.new_f[..=s].iter().skip(1).any(|&b| b) {
                &self.f0
            } else {
                &self.f_stage
            };
            self.rhs.copy_from_slice(source);
            for j in 0..s {
                let c = tab.c[s][j];
                if c != 0.0 {
                    let kj = &self.ks[j * n..(j + 1) * n];
                    let ch = c * hinv;
                    for (r, &k) in self.rhs.iter_mut().zip(kj) {
                        *r += ch * k;
                    }
                }
            }
            lu_solve(&self.lu, n, &self.piv, &mut self.rhs);
            self.ks[s * n..(s + 1) * n].copy_from_slice(&self.rhs);
        }
        self.y_new.copy_from_slice(&self.y);
        self.err.iter_mut().for_each(|v| *v = 0.0);
        for s in 0..tab.stages {
            let (m, e) = (tab.m[s], tab.e[s]);
            let ks = &self.ks[s * n..(s + 1) * n];
            for ((y, err), &k) in self.y_new.iter_mut().zip(self.err.iter_mut()).zip(ks) {
                *y += m * k;
                *err += e * k;
            }
        }
        let err = self.norm(&self.err, &self.y, &self.y_new);
        if err.is_finite() && self.y_new.iter().all(|v| v.is_finite()) && self.y_new[0] > 0.0 {
            err
        } else {
            f64::INFINITY
        }
    }

    /// The integrator, from a first step of `start` (else the heuristic's):
    /// the work and the step size to start a next call with (0 if no step
    /// was taken); `observer(t, y, f)` sees every accepted point, and
    /// `t = 0`; `f = f(y)` when `observe_f` (an extra right-hand side per BDF
    /// step), else possibly empty.
    pub(crate) fn integrate<O: FnMut(f64, &[f64], &[f64])>(
        &mut self,
        state: &mut [f64],
        pressure: f64,
        dt: f64,
        start: Option<f64>,
        observe_f: bool,
        observer: O,
    ) -> Result<(StepStats, f64)> {
        self.check_state(state, pressure)?;
        if !(dt.is_finite() && dt >= 0.0) {
            return Err(Error::InvalidInput(format!(
                "dt must be finite and >= 0, got {dt}"
            )));
        }
        let opts = self.options;
        if !(opts.rtol > 0.0 && opts.atol > 0.0) {
            return Err(Error::InvalidInput("rtol and atol must be > 0".into()));
        }
        if dt == 0.0 {
            // No work; the observer still sees the start.
            let mut observer = observer;
            self.y.copy_from_slice(state);
            self.kin
                .rhs(&self.mech.inner, pressure, &self.y, &mut self.f0);
            observer(0.0, &self.y, &self.f0);
            return Ok((StepStats::default(), 0.0));
        }
        match opts.method {
            Method::Rodas4 => self.integrate_rodas(state, pressure, dt, start, observer),
            Method::Bdf => {
                let tol = Tolerances {
                    rtol: opts.rtol,
                    atol: opts.atol.min(MAX_ATOL),
                    max_attempts: opts.max_steps,
                };
                let mech = self.mech.inner.clone();
                let mut sys = Chemistry {
                    kin: &mut self.kin,
                    mech: &mech,
                    pressure,
                };
                match self
                    .bdf
                    .integrate(&mut sys, state, dt, &tol, start, observe_f, observer)
                {
                    Ok(work) => Ok((work.into(), work.next_step)),
                    Err((failure, _)) => Err(Error::Integration {
                        t: failure.t,
                        reason: failure.reason,
                    }),
                }
            }
        }
    }

    /// RODAS4 from a first step of `start` (else the heuristic's): the work
    /// and the size of the last accepted step before its cut to `dt`;
    /// `observer(t, y, f(y))` sees every accepted point, and `t = 0`.
    fn integrate_rodas<O: FnMut(f64, &[f64], &[f64])>(
        &mut self,
        state: &mut [f64],
        pressure: f64,
        dt: f64,
        start: Option<f64>,
        mut observer: O,
    ) -> Result<(StepStats, f64)> {
        let opts = self.options;
        let tab = self.tableau;
        let mut stats = StepStats::default();
        self.y.copy_from_slice(state);
        let mech = self.mech.inner.clone();
        let mech = &*mech;
        if dt == 0.0 {
            stats.rhs_evaluations += 1;
            self.kin.rhs(mech, pressure, &self.y, &mut self.f0);
            observer(0.0, &self.y, &self.f0);
            return Ok((stats, 0.0));
        }
        // f(y) comes with the Jacobian, which the first step needs anyway.
        stats.jacobians += 1;
        self.kin
            .jacobian(mech, pressure, &self.y, &mut self.f0, &mut self.jac);
        let mut jac_current = true;
        observer(0.0, &self.y, &self.f0);
        if self.f0.iter().any(|v| !v.is_finite()) {
            return Err(Error::Integration {
                t: 0.0,
                reason: "non-finite derivative at the initial state".into(),
            });
        }

        let atol = opts.atol.min(MAX_ATOL);
        let kin = &mut self.kin;
        let mut h = match start {
            Some(h) => h.min(dt),
            None => first_step(
                &self.y,
                &self.f0,
                dt,
                tab.elo,
                opts.rtol,
                atol,
                &mut self.y_stage,
                &mut self.f_stage,
                |y, f| {
                    if y[0] > 0.0 {
                        stats.rhs_evaluations += 1;
                        kin.rhs(mech, pressure, y, f);
                        true
                    } else {
                        false
                    }
                },
            ),
        };
        let mut next_step = 0.0;

        let mut t = 0.0;
        let mut last_rejected = false;
        // Size and error (floored at 1e-2) of the last accepted step, for
        // Gustafsson's predictive controller.
        let mut last_accepted: Option<(f64, f64)> = None;
        let mut predictive = false;
        while t < dt {
            if (stats.steps + stats.rejected) as usize >= opts.max_steps {
                return Err(Error::Integration {
                    t,
                    reason: format!("more than {} steps", opts.max_steps),
                });
            }
            if h <= 1e-14 * dt.max(t) || h < 1e-300 {
                return Err(Error::Integration {
                    t,
                    reason: format!("step size underflow (h = {h:e})"),
                });
            }
            let h_chosen = h;
            let last = t + 1.01 * h >= dt;
            if last {
                h = dt - t;
            }
            if !jac_current {
                stats.jacobians += 1;
                self.kin
                    .jacobian(mech, pressure, &self.y, &mut self.f_stage, &mut self.jac);
                jac_current = true;
            }
            let err = self.attempt(mech, pressure, h, tab);
            // Counted as if every attempt ran all its stages.
            stats.factorizations += 1;
            stats.rhs_evaluations += tab.new_f[1..tab.stages].iter().filter(|&&b| b).count() as u32;
            if !err.is_finite() {
                stats.rejected += 1;
                last_rejected = true;
                h *= 0.1;
                continue;
            }
            let fac = if err == 0.0 {
                FAC_MAX
            } else {
                (SAFETY / pow(err, 1.0 / tab.elo)).clamp(FAC_MIN, FAC_MAX)
            };
            if err <= 1.0 {
                // Gustafsson's predictive controller (Hairer & Wanner IV.8,
                // as in RODAS): where the error grows from step to step (the
                // run-up to ignition) the plain controller overshoots and
                // alternates rejections with acceptances; the predictor
                // extrapolates the trend of the error and takes the smaller
                // of the two proposals.
                let mut fac = fac;
                if let (true, Some((h_acc, err_acc))) = (predictive, last_accepted) {
                    let gus = SAFETY * (h / h_acc) * pow(err_acc / (err * err), 1.0 / tab.elo);
                    let gus = gus.clamp(FAC_MIN, FAC_MAX);
                    predictive = gus < fac;
                    fac = fac.min(gus);
                }
                last_accepted = Some((h, err.max(1e-2)));
                stats.steps += 1;
                next_step = h_chosen;
                std::mem::swap(&mut self.y, &mut self.y_new);
                t = if last { dt } else { t + h };
                // The next step needs J(y) and f(y): one pass gives both; the
                // end point needs f only (for the observer).
                if t < dt {
                    stats.jacobians += 1;
                    self.kin
                        .jacobian(mech, pressure, &self.y, &mut self.f0, &mut self.jac);
                    jac_current = true;
                } else {
                    stats.rhs_evaluations += 1;
                    self.kin.rhs(mech, pressure, &self.y, &mut self.f0);
                    jac_current = false;
                }
                observer(t, &self.y, &self.f0);
                h *= if last_rejected { fac.min(1.0) } else { fac };
                last_rejected = false;
            } else {
                stats.rejected += 1;
                last_rejected = true;
                predictive = true;
                h *= fac.min(1.0);
            }
        }
        state.copy_from_slice(&self.y);
        Ok((stats, next_step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rosenbrock::RODAS3;

    /// `n` fixed steps of `h` with `tab`, from `y0`.
    fn fixed_steps(
        reactor: &mut Reactor,
        tab: &'static Tableau,
        y0: &[f64],
        h: f64,
        n: usize,
    ) -> Vec<f64> {
        let mech = reactor.mech.inner.clone();
        reactor.y.copy_from_slice(y0);
        for _ in 0..n {
            reactor.kin.jacobian(
                &mech,
                101325.0,
                &reactor.y,
                &mut reactor.f0,
                &mut reactor.jac,
            );
            let err = reactor.attempt(&mech, 101325.0, h, tab);
            assert!(err.is_finite());
            std::mem::swap(&mut reactor.y, &mut reactor.y_new);
        }
        reactor.y.clone()
    }

    /// A state in the middle of the H2/air induction at 1100 K: every species active.
    fn active_state(reactor: &mut Reactor) -> Vec<f64> {
        let mech = reactor.mechanism().clone();
        let mut y = vec![1100.0];
        y.extend(mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap());
        reactor.advance(&mut y, 101325.0, 7e-5).unwrap();
        y
    }

    /// Halving a fixed step divides the error by about `2^order` (the tableaus
    /// are typed in correctly).
    #[test]
    fn tableaus_have_their_order() {
        let mech = Mechanism::bundled_h2_o2();
        let mut reactor = Reactor::new(&mech, ReactorOptions::default());
        let y0 = active_state(&mut reactor);
        let span = 2e-6;
        let reference = fixed_steps(&mut reactor, &RODAS4, &y0, span / 1024.0, 1024);
        for (tab, order, name) in [(&RODAS3, 3.0, "RODAS3"), (&RODAS4, 4.0, "RODAS4")] {
            let err = |n: usize, r: &mut Reactor| {
                let y = fixed_steps(r, tab, &y0, span / n as f64, n);
                // Weighted like the controller: relative to the largest value.
                (0..y.len())
                    .map(|i| ((y[i] - reference[i]) / (reference[i].abs() + 1e-9)).abs())
                    .fold(0.0, f64::max)
            };
            let (e1, e2, e3) = (
                err(8, &mut reactor),
                err(16, &mut reactor),
                err(32, &mut reactor),
            );
            for ratio in [e1 / e2, e2 / e3] {
                let observed = ratio.log2();
                assert!(
                    (observed - order).abs() < 0.6,
                    "{name}: observed order {observed} ({e1:e}, {e2:e}, {e3:e})"
                );
            }
        }
    }

    /// The two integrators reach the same state and the same ignition delay
    /// (at a tight atol: at the default 1e-12 the radicals of the early
    /// induction are resolved only to 1e-12 absolute, and the delays of the
    /// two methods differ by 0.1 %, each within its tolerance); BDF does it
    /// with its LU reused over several steps and about one right-hand side
    /// per step, RODAS4 with an LU and 5 per step.
    #[test]
    fn bdf_and_rodas4_agree() {
        let mech = Mechanism::bundled_h2_o2();
        let y = mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap();
        let mut results = Vec::new();
        for method in [Method::Bdf, Method::Rodas4] {
            let options = ReactorOptions {
                rtol: 1e-8,
                atol: 1e-20,
                method,
                ..ReactorOptions::default()
            };
            let mut state = vec![1100.0];
            state.extend(&y);
            let stats = Reactor::new(&mech, options)
                .advance(&mut state, 101325.0, 1e-4)
                .unwrap();
            let ign = crate::ignition(&mech, &y, 1100.0, 101325.0, options, 3e-4).unwrap();
            results.push((state, stats, ign));
        }
        let (bdf, rodas) = (&results[0], &results[1]);
        assert!(
            (bdf.0[0] - rodas.0[0]).abs() < 1e-3,
            "T {} vs {}",
            bdf.0[0],
            rodas.0[0]
        );
        for k in 1..bdf.0.len() {
            assert!(
                (bdf.0[k] - rodas.0[k]).abs() < 1e-6 * (1.0 + rodas.0[k].abs()),
                "Y[{k}] {} vs {}",
                bdf.0[k],
                rodas.0[k]
            );
        }
        let rel = (bdf.2.delay - rodas.2.delay).abs() / rodas.2.delay;
        assert!(rel < 2e-5, "delays {} vs {}", bdf.2.delay, rodas.2.delay);
        let (b, r) = (bdf.1, rodas.1);
        assert!(b.factorizations * 3 < b.steps, "BDF {b:?}");
        assert!(b.rhs_evaluations < 2 * (b.steps + b.rejected), "BDF {b:?}");
        assert_eq!(r.factorizations, r.steps + r.rejected, "RODAS4 {r:?}");
        assert_eq!(
            r.rhs_evaluations,
            5 * (r.steps + r.rejected) + 2,
            "RODAS4 {r:?}"
        );
    }

    #[test]
    fn reactor_is_send_and_clone() {
        fn check<T: Send + Clone>() {}
        check::<Reactor>();
        check::<Mechanism>();
    }

    #[test]
    fn bitwise_reproducible_and_stateless() {
        let mech = Mechanism::bundled_h2_o2();
        let mut a = Reactor::new(&mech, ReactorOptions::default());
        let y0 = active_state(&mut a);
        let mut y1 = y0.clone();
        let s1 = a.advance(&mut y1, 101325.0, 1e-4).unwrap();
        // A clone used for other work in between, and a fresh reactor, agree bit for bit.
        let mut b = a.clone();
        let mut other = y0.clone();
        other[0] = 1500.0;
        b.advance(&mut other, 2e5, 3e-5).unwrap();
        let mut y2 = y0.clone();
        let s2 = b.advance(&mut y2, 101325.0, 1e-4).unwrap();
        let mut y3 = y0.clone();
        let s3 = Reactor::new(&mech, ReactorOptions::default())
            .advance(&mut y3, 101325.0, 1e-4)
            .unwrap();
        assert_eq!(s1, s2);
        assert_eq!(s1, s3);
        for i in 0..y1.len() {
            assert_eq!(y1[i].to_bits(), y2[i].to_bits());
            assert_eq!(y1[i].to_bits(), y3[i].to_bits());
        }
    }

    /// Loose tolerances still resolve the induction (the atol cap), and the
    /// delay stays close to the tight one.
    #[test]
    fn loose_tolerances_still_ignite() {
        let mech = Mechanism::bundled_h2_o2();
        let y = mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap();
        let tight =
            crate::ignition(&mech, &y, 1000.0, 101325.0, ReactorOptions::default(), 1e-3).unwrap();
        for (rtol, atol) in [(1e-3, 1e-6), (1e-4, 1e-9), (1e-6, 1e-9)] {
            let options = ReactorOptions {
                rtol,
                atol,
                ..ReactorOptions::default()
            };
            let loose = crate::ignition(&mech, &y, 1000.0, 101325.0, options, 1e-3).unwrap();
            assert!(
                loose.final_temperature > 2600.0,
                "rtol {rtol} atol {atol}: {loose:?}"
            );
            let rel = (loose.delay - tight.delay).abs() / tight.delay;
            assert!(
                rel < 0.03,
                "rtol {rtol} atol {atol}: delay {} vs {}",
                loose.delay,
                tight.delay
            );
        }
    }

    /// A frozen (cold) mixture costs one step, a burning one many: the
    /// imbalance a load balancer sees.
    #[test]
    fn cold_cells_are_cheap() {
        let mech = Mechanism::bundled_h2_o2();
        for method in [Method::Bdf, Method::Rodas4] {
            let options = ReactorOptions {
                method,
                ..ReactorOptions::default()
            };
            let mut r = Reactor::new(&mech, options);
            let mut cold = vec![300.0];
            cold.extend(mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap());
            let keep = cold.clone();
            assert_eq!(r.advance(&mut cold, 101325.0, 1e-5).unwrap().steps, 1);
            assert!((cold[0] - keep[0]).abs() < 1e-9);
            let mut hot = keep.clone();
            hot[0] = 2000.0;
            assert!(r.advance(&mut hot, 101325.0, 1e-5).unwrap().steps > 20);
        }
    }

    /// A cold cell carrying its step size takes the whole interval without
    /// the first-step trial (one right-hand side fewer) and lands within the
    /// tolerance of the heuristic's start; a burning cell's carried step is
    /// shorter than the interval, so it starts as `advance` does, bit for bit.
    #[test]
    fn carried_step_sizes_skip_the_trial_in_cold_cells_only() {
        let mech = Mechanism::bundled_h2_o2();
        let options = ReactorOptions::default();
        let mut r = Reactor::new(&mech, options);
        let dt = 5e-6;
        let mut cold = vec![600.0];
        cold.extend(mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap());
        // The first call has nothing to carry: exactly `advance`.
        let (mut a, mut b) = (cold.clone(), cold.clone());
        let mut step = 0.0;
        let plain = r.advance(&mut a, 101325.0, dt).unwrap();
        assert_eq!(
            r.advance_from_step(&mut b, 101325.0, dt, &mut step)
                .unwrap(),
            plain
        );
        assert_eq!(a, b);
        assert!(step >= dt, "a frozen cell's next step {step:e} < dt");
        // The second: the whole interval at once, one right-hand side fewer.
        let (mut a2, mut b2) = (a.clone(), b.clone());
        let plain = r.advance(&mut a2, 101325.0, dt).unwrap();
        let carried = r
            .advance_from_step(&mut b2, 101325.0, dt, &mut step)
            .unwrap();
        assert_eq!(carried.steps, 1, "{carried:?}");
        assert_eq!(
            carried.rhs_evaluations + 1,
            plain.rhs_evaluations,
            "{carried:?} vs {plain:?}"
        );
        for (x, y) in a2.iter().zip(&b2) {
            assert!(
                (x - y).abs() <= options.rtol * x.abs() + MAX_ATOL,
                "{x} vs {y}"
            );
        }
        // The same input again gives the same bits.
        let (mut b3, mut step3) = (b.clone(), dt);
        let mut step2 = dt;
        let mut b2_again = b.clone();
        r.advance_from_step(&mut b3, 101325.0, dt, &mut step3)
            .unwrap();
        r.advance_from_step(&mut b2_again, 101325.0, dt, &mut step2)
            .unwrap();
        assert_eq!((b3.clone(), step3.to_bits()), (b2_again, step2.to_bits()));
        // A burning cell ends with steps far below dt and restarts like `advance`.
        let mut hot = cold.clone();
        hot[0] = 2000.0;
        let mut step = 0.0;
        r.advance_from_step(&mut hot, 101325.0, dt, &mut step)
            .unwrap();
        assert!(step > 0.0 && step < dt, "{step:e}");
        let (mut a, mut b) = (hot.clone(), hot.clone());
        let plain = r.advance(&mut a, 101325.0, dt).unwrap();
        assert_eq!(
            r.advance_from_step(&mut b, 101325.0, dt, &mut step)
                .unwrap(),
            plain
        );
        assert_eq!(a, b);
        // A failed call leaves the state and the step alone.
        let mut few = Reactor::new(
            &mech,
            ReactorOptions {
                max_steps: 3,
                ..options
            },
        );
        let mut igniting = cold.clone();
        igniting[0] = 1200.0;
        let (keep, mut step) = (igniting.clone(), 1e-3);
        assert!(few
            .advance_from_step(&mut igniting, 101325.0, 1e-3, &mut step)
            .is_err());
        assert_eq!((igniting, step), (keep, 1e-3));
    }

    #[test]
    fn bad_input_is_an_error_and_leaves_the_state() {
        let mech = Mechanism::bundled_h2_o2();
        let mut r = Reactor::new(&mech, ReactorOptions::default());
        let mut y = vec![1000.0];
        y.extend(mech.mass_fractions("H2:2, O2:1").unwrap());
        let keep = y.clone();
        assert!(matches!(
            r.advance(&mut y[..5], 101325.0, 1e-3),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            r.advance(&mut y, -1.0, 1e-3),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            r.advance(&mut y, 101325.0, f64::NAN),
            Err(Error::InvalidInput(_))
        ));
        let mut cold = y.clone();
        cold[0] = -5.0;
        assert!(matches!(
            r.advance(&mut cold, 101325.0, 1e-3),
            Err(Error::InvalidInput(_))
        ));
        let mut few = Reactor::new(
            &mech,
            ReactorOptions {
                max_steps: 3,
                ..ReactorOptions::default()
            },
        );
        let mut hot = y.clone();
        hot[0] = 1200.0;
        let before = hot.clone();
        assert!(matches!(
            few.advance(&mut hot, 101325.0, 1e-3),
            Err(Error::Integration { .. })
        ));
        assert_eq!(hot, before);
        assert_eq!(y, keep);
        // dt = 0 is no work.
        assert_eq!(
            r.advance(&mut y, 101325.0, 0.0).unwrap(),
            StepStats::default()
        );
        assert_eq!(y, keep);
    }
}
