//! The adiabatic constant-pressure reactor and its adaptive Rosenbrock integrator.

use crate::kinetics::Kinetics;
use crate::linalg::{lu_factor, lu_solve};
use crate::rosenbrock::{Tableau, MAX_STAGES, RODAS4};
use crate::{Error, Mechanism, Result};

/// Tolerances and limits of [`Reactor::advance`].
///
/// The error of a step is measured in the weighted RMS norm
/// `|err_i| / (atol + rtol * max(|y_i|, |y_new_i|))` over `[T, Y_0, ..]`.
#[derive(Clone, Copy, Debug)]
pub struct ReactorOptions {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance (on mass fractions; for `T` it is negligible beside `rtol T`).
    pub atol: f64,
    /// Limit on step attempts (accepted + rejected) per call.
    pub max_steps: usize,
}

impl Default for ReactorOptions {
    /// `rtol = 1e-6`, `atol = 1e-12`, `max_steps = 100_000`.
    fn default() -> Self {
        ReactorOptions {
            rtol: 1e-6,
            atol: 1e-12,
            max_steps: 100_000,
        }
    }
}

/// Work of one [`Reactor::advance`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    /// Accepted integrator steps (the cost measure of a cell).
    pub steps: u32,
    /// Rejected steps.
    pub rejected: u32,
}

const SAFETY: f64 = 0.9;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 6.0;

/// An adiabatic, constant-pressure, homogeneous reactor for one mechanism, with
/// every buffer its integrator needs allocated once, in [`Reactor::new`].
///
/// The integrator is RODAS4 (Hairer & Wanner: 6-stage, order-4 Rosenbrock,
/// stiffly accurate, embedded order 3) with the analytic Jacobian and a dense
/// LU of size `K + 1`. It keeps no state between calls: the same input gives
/// bitwise the same output, whichever thread or rank runs it (all arithmetic is
/// `f64` in a fixed order; `exp`/`log` come from the pure-Rust `libm`, not the
/// platform's).
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
    kin: Kinetics,
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
            kin: Kinetics::new(&mechanism.inner),
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
        self.integrate(state, pressure, dt, |_, _, _| {})
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
        let mut s = 0.0;
        for i in 0..self.n {
            let sc = self.options.atol + self.options.rtol * a[i].abs().max(b[i].abs());
            let x = e[i] / sc;
            s += x * x;
        }
        (s / self.n as f64).sqrt()
    }

    /// The integrator; `observer(t, y, f(y))` sees every accepted point, and `t = 0`.
    pub(crate) fn integrate<O: FnMut(f64, &[f64], &[f64])>(
        &mut self,
        state: &mut [f64],
        pressure: f64,
        dt: f64,
        mut observer: O,
    ) -> Result<StepStats> {
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
        let tab: &Tableau = &RODAS4;
        let n = self.n;
        let mut stats = StepStats::default();
        self.y.copy_from_slice(state);
        let mech = self.mech.inner.clone();
        let mech = &*mech;
        self.kin.rhs(mech, pressure, &self.y, &mut self.f0);
        observer(0.0, &self.y, &self.f0);
        if dt == 0.0 {
            return Ok(stats);
        }
        if self.f0.iter().any(|v| !v.is_finite()) {
            return Err(Error::Integration {
                t: 0.0,
                reason: "non-finite derivative at the initial state".into(),
            });
        }

        // Initial step (Hairer, Nørsett & Wanner, II.4).
        let mut h = {
            let d0 = self.norm(&self.y, &self.y, &self.y);
            let d1 = self.norm(&self.f0, &self.y, &self.y);
            let h0 = if d0 < 1e-5 || d1 < 1e-5 {
                1e-6 * dt.max(1e-12)
            } else {
                (0.01 * d0 / d1).min(dt)
            };
            for i in 0..n {
                self.y_stage[i] = self.y[i] + h0 * self.f0[i];
            }
            let h1 = if self.y_stage[0] > 0.0 {
                self.kin
                    .rhs(mech, pressure, &self.y_stage, &mut self.f_stage);
                for i in 0..n {
                    self.err[i] = self.f_stage[i] - self.f0[i];
                }
                let d2 = self.norm(&self.err, &self.y, &self.y) / h0;
                let dmax = d1.max(d2);
                if !dmax.is_finite() {
                    h0 * 1e-3
                } else if dmax <= 1e-15 {
                    (h0 * 1e-3).max(1e-6 * dt)
                } else {
                    libm::pow(0.01 / dmax, 1.0 / tab.elo)
                }
            } else {
                h0 * 1e-3
            };
            (100.0 * h0).min(h1).min(dt)
        };

        let mut t = 0.0;
        let mut last_rejected = false;
        let mut jac_current = false;
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
            let last = t + 1.01 * h >= dt;
            if last {
                h = dt - t;
            }
            if !jac_current {
                self.kin
                    .jacobian(mech, pressure, &self.y, &mut self.f_stage, &mut self.jac);
                jac_current = true;
            }
            // G = 1/(h γ) I - J.
            let g = 1.0 / (h * tab.gamma);
            for i in 0..n * n {
                self.lu[i] = -self.jac[i];
            }
            for i in 0..n {
                self.lu[i * n + i] += g;
            }
            let ok = lu_factor(&mut self.lu, n, &mut self.piv);
            let mut finite = ok;
            if ok {
                let hinv = 1.0 / h;
                for s in 0..tab.stages {
                    if s > 0 && tab.new_f[s] {
                        self.y_stage.copy_from_slice(&self.y);
                        for j in 0..s {
                            let a = tab.a[s][j];
                            if a != 0.0 {
                                let kj = &self.ks[j * n..(j + 1) * n];
                                for i in 0..n {
                                    self.y_stage[i] += a * kj[i];
                                }
                            }
                        }
                        if !(self.y_stage[0] > 0.0 && self.y_stage[0].is_finite()) {
                            finite = false;
                            break;
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
                            for i in 0..n {
                                self.rhs[i] += c * hinv * kj[i];
                            }
                        }
                    }
                    lu_solve(&self.lu, n, &self.piv, &mut self.rhs);
                    self.ks[s * n..(s + 1) * n].copy_from_slice(&self.rhs);
                }
            }
            let mut err = f64::INFINITY;
            if finite {
                self.y_new.copy_from_slice(&self.y);
                self.err.iter_mut().for_each(|v| *v = 0.0);
                for s in 0..tab.stages {
                    let (m, e) = (tab.m[s], tab.e[s]);
                    let ks = &self.ks[s * n..(s + 1) * n];
                    for i in 0..n {
                        self.y_new[i] += m * ks[i];
                        self.err[i] += e * ks[i];
                    }
                }
                err = self.norm(&self.err, &self.y, &self.y_new);
                if !(err.is_finite()
                    && self.y_new.iter().all(|v| v.is_finite())
                    && self.y_new[0] > 0.0)
                {
                    err = f64::INFINITY;
                }
            }
            if !err.is_finite() {
                stats.rejected += 1;
                last_rejected = true;
                h *= 0.1;
                continue;
            }
            let fac = if err == 0.0 {
                FAC_MAX
            } else {
                (SAFETY / libm::pow(err, 1.0 / tab.elo)).clamp(FAC_MIN, FAC_MAX)
            };
            if err <= 1.0 {
                stats.steps += 1;
                std::mem::swap(&mut self.y, &mut self.y_new);
                t = if last { dt } else { t + h };
                self.kin.rhs(mech, pressure, &self.y, &mut self.f0);
                jac_current = false;
                observer(t, &self.y, &self.f0);
                h *= if last_rejected { fac.min(1.0) } else { fac };
                last_rejected = false;
            } else {
                stats.rejected += 1;
                last_rejected = true;
                h *= fac.min(1.0);
            }
        }
        state.copy_from_slice(&self.y);
        Ok(stats)
    }
}
