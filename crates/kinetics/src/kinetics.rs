//! Rates of progress, production rates, the right-hand side of the adiabatic
//! constant-pressure reactor and its analytic Jacobian.
//!
//! State `y = [T, Y_0, ..., Y_{K-1}]` (mass fractions are not renormalised, as in
//! Cantera's reactors). With `S = Σ Y_k / W_k`, `C = p / (R T)`,
//! concentrations `C_k = C (Y_k / W_k) / S`, density `ρ = C / S`:
//!
//! ```text
//! dY_k/dt = ω_k W_k / ρ
//! dT/dt   = -(Σ_k h_k ω_k) / (Σ_k C_k c_p,k)
//! ```
//!
//! The Jacobian is built from `J^C = ∂ω/∂C` (at constant T) and `∂ω/∂T` (at
//! constant C) by the chain rule through `C_k(T, Y)`; see `jacobian`.

use crate::fastexp::exp;
use crate::mechanism::{FalloffForm, Inner, RateKind};
use crate::thermo::TPowers;
use crate::units::{GAS_CONSTANT, ONE_ATM};

/// Cantera's clip of `1 / Kc` (its `BigNumber`).
const BIG: f64 = 1e300;
/// Cantera's floor under logarithms (its `SmallNumber`).
const SMALL: f64 = 1e-300;
const LN_10: f64 = std::f64::consts::LN_10;
/// Bound on `|g_k/RT|` for equilibrium constants as products of `exp(g_k/RT)`:
/// a reaction with at most 6 stoichiometric units (`Σ ν' + Σ ν''`) stays below `e^600`.
const EXP_G_LIMIT: f64 = 100.0;

/// Scratch space for one mechanism; allocated once.
#[derive(Clone, Debug)]
pub(crate) struct Kinetics {
    k: usize,
    /// `1 / W_k` (multiplications in the kernels instead of divisions).
    inv_w: Vec<f64>,
    h_rt: Vec<f64>,
    cp_r: Vec<f64>,
    dcp_r: Vec<f64>,
    g_rt: Vec<f64>,
    /// `exp(g_k/RT)` and its inverse, when every `|g_k/RT| <= EXP_G_LIMIT`.
    exp_g: Vec<f64>,
    inv_exp_g: Vec<f64>,
    conc: Vec<f64>,
    x: Vec<f64>,
    wdot: Vec<f64>,
    dwdot_dt: Vec<f64>,
    /// `∂ω_k/∂C_l`, row-major `K × K`.
    jc: Vec<f64>,
    jx: Vec<f64>,
    jcc: Vec<f64>,
    hj: Vec<f64>,
}

/// Mixture quantities at the current state.
#[derive(Clone, Copy, Debug)]
struct Mix {
    t: f64,
    inv_t: f64,
    ln_t: f64,
    ctot: f64,
    rho: f64,
    csum: f64,
    ln_c0: f64,
    c0: f64,
    inv_c0: f64,
    /// `exp_g` is valid: equilibrium constants are products of species factors.
    species_kc: bool,
}

#[inline]
fn power(c: f64, n: u32) -> f64 {
    match n {
        1 => c,
        2 => c * c,
        3 => c * c * c,
        _ => {
            let mut p = c;
            for _ in 1..n {
                p *= c;
            }
            p
        }
    }
}

/// `Π_j C_j` over the units of a side.
#[inline]
fn product(units: &[u32], conc: &[f64]) -> f64 {
    let mut p = 1.0;
    for &k in units {
        p *= conc[k as usize];
    }
    p
}

/// `Π_{j != l} C_j`: the derivative of [`product`] through its `l`-th unit (a
/// species appearing twice gets both units' terms, which sum to `2 C`).
#[inline]
fn product_without(units: &[u32], conc: &[f64], l: usize) -> f64 {
    let mut p = 1.0;
    for (j, &k) in units.iter().enumerate() {
        if j != l {
            p *= conc[k as usize];
        }
    }
    p
}

/// Troe blending: `(ln F, ∂ln F/∂ln Pr, ∂ln F/∂T at constant Pr)`.
#[inline]
fn troe(a: f64, inv_t3: f64, inv_t1: f64, t2: f64, t: f64, pr: f64) -> (f64, f64, f64) {
    // T3 = 1e-30 and T1 = 1e30 are common ways to drop a term: skip the
    // exponential where its value is exactly 0 or 1 anyway.
    let (x3, x1) = (t * inv_t3, t * inv_t1);
    let e3 = if x3 > 746.0 {
        0.0
    } else if x3 < 1e-17 {
        1.0
    } else {
        exp(-x3)
    };
    let e1 = if x1 > 746.0 {
        0.0
    } else if x1 < 1e-17 {
        1.0
    } else {
        exp(-x1)
    };
    let mut fcent = (1.0 - a) * e3 + a * e1;
    let mut dfcent = -(1.0 - a) * inv_t3 * e3 - a * inv_t1 * e1;
    if t2 != 0.0 {
        let e2 = exp(-t2 / t);
        fcent += e2;
        dfcent += t2 / (t * t) * e2;
    }
    let lfc = libm::log10(fcent.max(SMALL));
    let lpr = libm::log10(pr.max(SMALL));
    let c = -0.4 - 0.67 * lfc;
    let n = 0.75 - 1.27 * lfc;
    let x = lpr + c;
    let d = n - 0.14 * x;
    let f1 = x / d;
    let den = 1.0 + f1 * f1;
    let lg_f = lfc / den;
    let dlgf_df1 = -lfc * 2.0 * f1 / (den * den);
    let fp = if pr > SMALL {
        dlgf_df1 * n / (d * d)
    } else {
        0.0
    };
    let ft = if fcent > SMALL {
        let df1_dlfc = (-0.67 * d + (1.27 - 0.14 * 0.67) * x) / (d * d);
        (1.0 / den + dlgf_df1 * df1_dlfc) * dfcent / fcent
    } else {
        0.0
    };
    (lg_f * LN_10, fp, ft)
}

impl Kinetics {
    pub fn new(mech: &Inner) -> Kinetics {
        let k = mech.species.len();
        Kinetics {
            k,
            inv_w: mech.weights.iter().map(|w| 1.0 / w).collect(),
            h_rt: vec![0.0; k],
            cp_r: vec![0.0; k],
            dcp_r: vec![0.0; k],
            g_rt: vec![0.0; k],
            exp_g: vec![0.0; k],
            inv_exp_g: vec![0.0; k],
            conc: vec![0.0; k],
            x: vec![0.0; k],
            wdot: vec![0.0; k],
            dwdot_dt: vec![0.0; k],
            jc: vec![0.0; k * k],
            jx: vec![0.0; k],
            jcc: vec![0.0; k],
            hj: vec![0.0; k],
        }
    }

    /// Thermo and concentrations at `y`.
    fn prepare(&mut self, mech: &Inner, pressure: f64, y: &[f64]) -> Mix {
        let t = y[0];
        let tp = TPowers::new(t);
        for (k, th) in mech.thermo.iter().enumerate() {
            let (cp, h, s, dcp) = th.eval(&tp);
            self.cp_r[k] = cp;
            self.h_rt[k] = h;
            self.g_rt[k] = h - s;
            self.dcp_r[k] = dcp;
        }
        let mut s = 0.0;
        for k in 0..self.k {
            s += y[1 + k] * self.inv_w[k];
        }
        let ctot = pressure / (GAS_CONSTANT * t);
        let inv_s = 1.0 / s;
        let mut csum = 0.0;
        for k in 0..self.k {
            let xk = y[1 + k] * self.inv_w[k] * inv_s;
            self.x[k] = xk;
            self.conc[k] = ctot * xk;
            csum += self.conc[k];
        }
        let mut species_kc = true;
        for &g in &self.g_rt {
            if g.abs() > EXP_G_LIMIT || g.is_nan() {
                species_kc = false;
            }
        }
        if species_kc {
            for k in 0..self.k {
                let e = exp(self.g_rt[k]);
                self.exp_g[k] = e;
                self.inv_exp_g[k] = 1.0 / e;
            }
        }
        let c0 = ONE_ATM / (GAS_CONSTANT * t);
        Mix {
            t,
            inv_t: tp.inv_t,
            ln_t: tp.ln_t,
            ctot,
            rho: ctot / s,
            csum,
            ln_c0: libm::log(c0),
            c0,
            inv_c0: 1.0 / c0,
            species_kc,
        }
    }

    /// Production rates `ω` (and, with `JAC`, `J^C` and `∂ω/∂T`).
    fn rates<const JAC: bool>(&mut self, mech: &Inner, m: &Mix) {
        let k_sp = self.k;
        self.wdot.iter_mut().for_each(|w| *w = 0.0);
        if JAC {
            self.dwdot_dt.iter_mut().for_each(|w| *w = 0.0);
            self.jc.iter_mut().for_each(|w| *w = 0.0);
        }
        let conc = &self.conc;
        for r in &mech.reactions {
            let (kf, dlnkf) = r.rate.eval(m.ln_t, m.inv_t);
            let third_body = |e: &crate::mechanism::Efficiencies| {
                let mut cm = e.default * m.csum;
                for &(k, ex) in &e.excess {
                    cm += ex * conc[k];
                }
                cm
            };
            let (kfe, dkfe_dm, dlnkfe_dt, eff) = match &r.kind {
                RateKind::Elementary => (kf, 0.0, dlnkf, None),
                RateKind::ThreeBody(e) => (kf * third_body(e), kf, dlnkf, Some(e)),
                RateKind::Falloff {
                    low,
                    efficiencies: e,
                    form,
                } => {
                    let cm = third_body(e);
                    let (k0, dlnk0) = low.eval(m.ln_t, m.inv_t);
                    let pr = k0 * cm / (kf + SMALL);
                    let (ln_f, fp, ft) = match *form {
                        FalloffForm::Lindemann => (0.0, 0.0, 0.0),
                        FalloffForm::Troe {
                            a,
                            inv_t3,
                            inv_t1,
                            t2,
                        } => troe(a, inv_t3, inv_t1, t2, m.t, pr),
                    };
                    let f = if ln_f == 0.0 { 1.0 } else { exp(ln_f) };
                    let inv1pr = 1.0 / (1.0 + pr);
                    let kfe = kf * pr * inv1pr * f;
                    let dkfe_dm = k0 * f * inv1pr * (inv1pr + fp) * (kf / (kf + SMALL));
                    let dlnkfe = dlnkf + (dlnk0 - dlnkf) * (inv1pr + fp) + ft;
                    (kfe, dkfe_dm, dlnkfe, Some(e))
                }
            };
            let fwd = product(r.reactant_units.as_slice(), conc);
            let (inv_kc, rev) = if r.reversible {
                let inv_kc = if m.species_kc && r.kc_from_species {
                    // 1/Kc = Π_products exp(g_k/RT)^ν'' · Π_reactants exp(-g_k/RT)^ν' · c0^-Δν,
                    // at most 6 factors, each within e^±EXP_G_LIMIT.
                    let mut p = product(r.product_units.as_slice(), &self.exp_g);
                    p *= product(r.reactant_units.as_slice(), &self.inv_exp_g);
                    if r.delta_nu_int > 0 {
                        p *= power(m.inv_c0, r.delta_nu_int as u32);
                    } else if r.delta_nu_int < 0 {
                        p *= power(m.c0, (-r.delta_nu_int) as u32);
                    }
                    p
                } else {
                    let mut dg = 0.0;
                    for &(k, nu) in &r.net {
                        dg += nu * self.g_rt[k];
                    }
                    exp(dg - r.delta_nu * m.ln_c0)
                }
                .min(BIG);
                (inv_kc, product(r.product_units.as_slice(), conc))
            } else {
                (0.0, 0.0)
            };
            let phi = fwd - inv_kc * rev;
            let q = kfe * phi;
            for &(k, nu) in &r.net {
                self.wdot[k] += nu * q;
            }
            if JAC {
                let mut dlnkc = 0.0;
                if r.reversible {
                    for &(k, nu) in &r.net {
                        dlnkc += nu * self.h_rt[k];
                    }
                    dlnkc = (dlnkc - r.delta_nu) * m.inv_t;
                }
                let dq_dt = kfe * dlnkfe_dt * phi + kfe * inv_kc * rev * dlnkc;
                for &(k, nu) in &r.net {
                    self.dwdot_dt[k] += nu * dq_dt;
                }
                let reactant_units = r.reactant_units.as_slice();
                for (l, &sl) in reactant_units.iter().enumerate() {
                    let sl = sl as usize;
                    let d = kfe * product_without(reactant_units, conc, l);
                    for &(k, nu) in &r.net {
                        self.jc[k * k_sp + sl] += nu * d;
                    }
                }
                if r.reversible {
                    let product_units = r.product_units.as_slice();
                    for (l, &sl) in product_units.iter().enumerate() {
                        let sl = sl as usize;
                        let d = -kfe * inv_kc * product_without(product_units, conc, l);
                        for &(k, nu) in &r.net {
                            self.jc[k * k_sp + sl] += nu * d;
                        }
                    }
                }
                if let Some(e) = eff {
                    let g = dkfe_dm * phi;
                    if g != 0.0 {
                        for &(k, nu) in &r.net {
                            let row = &mut self.jc[k * k_sp..(k + 1) * k_sp];
                            let base = nu * g * e.default;
                            if base != 0.0 {
                                row.iter_mut().for_each(|v| *v += base);
                            }
                            for &(l, ex) in &e.excess {
                                row[l] += nu * g * ex;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The right-hand side `f(y)` into `f`.
    pub fn rhs(&mut self, mech: &Inner, pressure: f64, y: &[f64], f: &mut [f64]) {
        let m = self.prepare(mech, pressure, y);
        self.rates::<false>(mech, &m);
        self.assemble_rhs(mech, &m, f);
    }

    fn assemble_rhs(&self, mech: &Inner, m: &Mix, f: &mut [f64]) -> f64 {
        let mut n = 0.0;
        let mut dr = 0.0;
        let inv_rho = 1.0 / m.rho;
        for k in 0..self.k {
            f[1 + k] = self.wdot[k] * mech.weights[k] * inv_rho;
            n += self.h_rt[k] * self.wdot[k];
            dr += self.conc[k] * self.cp_r[k];
        }
        f[0] = -m.t * n / dr;
        dr
    }

    /// `f(y)` into `f` and the Jacobian `∂f/∂y` into `jac` (row-major `(K+1)²`).
    pub fn jacobian(
        &mut self,
        mech: &Inner,
        pressure: f64,
        y: &[f64],
        f: &mut [f64],
        jac: &mut [f64],
    ) {
        let m = self.prepare(mech, pressure, y);
        self.rates::<true>(mech, &m);
        let dr = self.assemble_rhs(mech, &m, f);
        let kk = self.k;
        let n = kk + 1;
        let w = &mech.weights;
        for k in 0..kk {
            let row = &self.jc[k * kk..(k + 1) * kk];
            let mut jx = 0.0;
            let mut jcc = 0.0;
            for l in 0..kk {
                jx += row[l] * self.x[l];
                jcc += row[l] * self.conc[l];
            }
            self.jx[k] = jx;
            self.jcc[k] = jcc;
        }
        self.hj.iter_mut().for_each(|v| *v = 0.0);
        for k in 0..kk {
            let h = self.h_rt[k];
            let row = &self.jc[k * kk..(k + 1) * kk];
            for l in 0..kk {
                self.hj[l] += h * row[l];
            }
        }
        // Species rows.
        for k in 0..kk {
            let b = self.jx[k] - self.wdot[k] / m.ctot;
            let row = &self.jc[k * kk..(k + 1) * kk];
            let out = &mut jac[(1 + k) * n..(2 + k) * n];
            out[0] = w[k] / m.rho * (self.dwdot_dt[k] + (self.wdot[k] - self.jcc[k]) * m.inv_t);
            for j in 0..kk {
                out[1 + j] = w[k] * self.inv_w[j] * (row[j] - b);
            }
        }
        // Temperature row.
        let ft = f[0];
        let mut cpx = 0.0;
        let mut hjx = 0.0;
        let mut dn_dt = 0.0;
        let mut dd_dt = 0.0;
        for k in 0..kk {
            cpx += self.cp_r[k] * self.x[k];
            hjx += self.h_rt[k] * self.jx[k];
            dn_dt += self.cp_r[k] * self.wdot[k]
                + m.t * self.h_rt[k] * (self.dwdot_dt[k] - self.jcc[k] * m.inv_t);
            dd_dt += self.conc[k] * (self.dcp_r[k] - self.cp_r[k] * m.inv_t);
        }
        jac[0] = -(dn_dt + ft * dd_dt) / dr;
        for j in 0..kk {
            let dn = m.rho * m.t * self.inv_w[j] * (self.hj[j] - hjx);
            let dd = m.rho * self.inv_w[j] * (self.cp_r[j] - cpx);
            jac[1 + j] = -(dn + ft * dd) / dr;
        }
    }

    /// `dT/dt` from the last `rhs`/`jacobian` call's production rates is in `f[0]`;
    /// this gives the net production rates (kmol/m³/s) of that call.
    #[allow(dead_code)]
    pub fn production_rates(&self) -> &[f64] {
        &self.wdot
    }
}
