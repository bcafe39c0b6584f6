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
use crate::fastlog::ln;
use crate::layout::{RateLayout, NO_SET, PAD_SPECIES};
use crate::mechanism::{FalloffForm, Inner, MAX_UNITS};
use crate::thermo::TPowers;
use crate::units::{GAS_CONSTANT, ONE_ATM};
use crate::vexp::exp_into;

/// Cantera's clip of `1 / Kc` (its `BigNumber`).
const BIG: f64 = 1e300;
/// Cantera's floor under logarithms (its `SmallNumber`).
const SMALL: f64 = 1e-300;
const LN_10: f64 = std::f64::consts::LN_10;
const INV_LN_10: f64 = std::f64::consts::LOG10_E;
/// Bound on `|ln(1/Kc)|` formed as a product of species factors
/// `exp(±g_k/RT)`: each factor is allowed `e^(EXP_G_BUDGET / units)` for the
/// most units `Σ ν' + Σ ν''` a reaction of the mechanism has.
const EXP_G_BUDGET: f64 = 600.0;

/// Lengths of the arrays the rates gather species values from: powers of two,
/// so that an index taken modulo the length needs no bounds check. Up to 252
/// species (most mechanisms) the small one.
const SMALL_GATHER: usize = 256;
const LARGE_GATHER: usize = 1 << 16;

/// `v` as an array of its first `N` entries.
#[inline]
fn fixed<const N: usize>(v: &[f64]) -> &[f64; N] {
    v[..N].try_into().expect("gather arrays have N entries")
}

/// One padded side of a reaction as an array (its length a constant of the kernel).
#[inline]
fn units<const W: usize>(side: &[u32]) -> &[u32; W] {
    side.try_into()
        .expect("sides are padded to the layout's width")
}

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
    /// `exp(g_k/RT)` and its inverse, when every `|g_k/RT| <= exp_g_limit`;
    /// `gather_len` entries, 1 for the padding species `K..K + PAD_SPECIES` of the layout.
    exp_g: Vec<f64>,
    inv_exp_g: Vec<f64>,
    /// `C_k exp(g_k/RT)` (valid with `exp_g`), 1 for the padding species.
    conc_exp_g: Vec<f64>,
    exp_g_limit: f64,
    /// `ln(p° / R)`: `ln c0 = ln(p° / R) - ln T` needs no logarithm per call.
    ln_atm_over_r: f64,
    /// Concentrations, `gather_len` entries, 1 for the padding species.
    conc: Vec<f64>,
    x: Vec<f64>,
    /// Production rates, `gather_len` entries, sinks for the padding species.
    wdot: Vec<f64>,
    dwdot_dt: Vec<f64>,
    /// `∂ω_k/∂C_l`, row-major `K × K`.
    jc: Vec<f64>,
    jx: Vec<f64>,
    jcc: Vec<f64>,
    hj: Vec<f64>,
    layout: RateLayout,
    /// Entries of `conc`, `exp_g`, `inv_exp_g` and `wdot`: [`SMALL_GATHER`]
    /// or [`LARGE_GATHER`], more than any species index of the layout.
    gather_len: usize,
    /// Per reaction: the effective forward rate constant (third body and
    /// falloff included), `d ln kf / dT`, `d kf / d[M]`, `1/Kc`, the rate of progress.
    kf: Vec<f64>,
    dlnkf: Vec<f64>,
    dkf_dm: Vec<f64>,
    inv_kc: Vec<f64>,
    q: Vec<f64>,
    /// `[M]` of each distinct efficiency set.
    cm: Vec<f64>,
    /// Per falloff reaction: the low-pressure rate constant and `d ln k0 / dT`.
    k0: Vec<f64>,
    dlnk0: Vec<f64>,
    /// Scratch for the exponents of the Arrhenius passes (one per reaction).
    arrhenius_arg: Vec<f64>,
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

/// Troe blending: `(ln F, ∂ln F/∂ln Pr, ∂ln F/∂T at constant Pr)`; the
/// derivatives only with `JAC` (0 otherwise: the right-hand side skips them).
#[inline]
fn troe<const JAC: bool>(
    a: f64,
    inv_t3: f64,
    inv_t1: f64,
    t2: f64,
    t: f64,
    pr: f64,
) -> (f64, f64, f64) {
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
    let mut dfcent = 0.0;
    if JAC {
        dfcent = -(1.0 - a) * inv_t3 * e3 - a * inv_t1 * e1;
    }
    if t2 != 0.0 {
        let e2 = exp(-t2 / t);
        fcent += e2;
        if JAC {
            dfcent += t2 / (t * t) * e2;
        }
    }
    let lfc = ln(fcent.max(SMALL)) * INV_LN_10;
    let lpr = ln(pr.max(SMALL)) * INV_LN_10;
    let c = -0.4 - 0.67 * lfc;
    let n = 0.75 - 1.27 * lfc;
    let x = lpr + c;
    let d = n - 0.14 * x;
    let f1 = x / d;
    let den = 1.0 + f1 * f1;
    let lg_f = lfc / den;
    if !JAC {
        return (lg_f * LN_10, 0.0, 0.0);
    }
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
        let layout = RateLayout::new(mech);
        let n_r = layout.num_reactions();
        let units = (layout.reactant_width + layout.product_width) as f64;
        let gather_len = if k + PAD_SPECIES <= SMALL_GATHER {
            SMALL_GATHER
        } else {
            assert!(
                k + PAD_SPECIES <= LARGE_GATHER,
                "at most {} species",
                LARGE_GATHER - PAD_SPECIES
            );
            LARGE_GATHER
        };
        let padded_ones = || {
            let mut v = vec![0.0; gather_len];
            v[k..k + PAD_SPECIES].fill(1.0);
            v
        };
        Kinetics {
            k,
            inv_w: mech.weights.iter().map(|w| 1.0 / w).collect(),
            h_rt: vec![0.0; k],
            cp_r: vec![0.0; k],
            dcp_r: vec![0.0; k],
            g_rt: vec![0.0; k],
            exp_g: padded_ones(),
            inv_exp_g: padded_ones(),
            conc_exp_g: padded_ones(),
            exp_g_limit: EXP_G_BUDGET / units,
            ln_atm_over_r: libm::log(ONE_ATM / GAS_CONSTANT),
            conc: padded_ones(),
            x: vec![0.0; k],
            wdot: vec![0.0; gather_len],
            dwdot_dt: vec![0.0; k],
            jc: vec![0.0; k * k],
            jx: vec![0.0; k],
            jcc: vec![0.0; k],
            hj: vec![0.0; k],
            kf: vec![0.0; n_r],
            dlnkf: vec![0.0; n_r],
            dkf_dm: vec![0.0; n_r],
            inv_kc: vec![0.0; n_r],
            q: vec![0.0; n_r],
            cm: vec![0.0; layout.efficiency_sets.len()],
            k0: vec![0.0; layout.falloff.len()],
            dlnk0: vec![0.0; layout.falloff.len()],
            arrhenius_arg: vec![0.0; n_r],
            layout,
            gather_len,
        }
    }

    /// Thermo and concentrations at `y`.
    fn prepare(&mut self, mech: &Inner, pressure: f64, y: &[f64]) -> Mix {
        let t = y[0];
        let tp = TPowers::new(t);
        for ((((th, cp_r), h_rt), g_rt), dcp_r) in mech
            .thermo
            .iter()
            .zip(self.cp_r.iter_mut())
            .zip(self.h_rt.iter_mut())
            .zip(self.g_rt.iter_mut())
            .zip(self.dcp_r.iter_mut())
        {
            let (cp, h, s, dcp) = th.eval(&tp);
            *cp_r = cp;
            *h_rt = h;
            *g_rt = h - s;
            *dcp_r = dcp;
        }
        let y = &y[1..1 + self.k];
        let mut s = 0.0;
        for (&yk, &inv_w) in y.iter().zip(&self.inv_w) {
            s += yk * inv_w;
        }
        let ctot = pressure / (GAS_CONSTANT * t);
        let inv_s = 1.0 / s;
        let mut csum = 0.0;
        for (((&yk, &inv_w), x), conc) in y
            .iter()
            .zip(&self.inv_w)
            .zip(self.x.iter_mut())
            .zip(self.conc.iter_mut())
        {
            let xk = yk * inv_w * inv_s;
            *x = xk;
            *conc = ctot * xk;
            csum += *conc;
        }
        let mut species_kc = true;
        for &g in &self.g_rt {
            if g.abs() > self.exp_g_limit || g.is_nan() {
                species_kc = false;
            }
        }
        if species_kc {
            exp_into(&self.g_rt, &mut self.exp_g[..self.k]);
            for (((&v, inv_e), ce), &c) in self
                .exp_g
                .iter()
                .zip(self.inv_exp_g[..self.k].iter_mut())
                .zip(self.conc_exp_g.iter_mut())
                .zip(&self.conc)
            {
                *inv_e = 1.0 / v;
                *ce = c * v;
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
            ln_c0: self.ln_atm_over_r - tp.ln_t,
            c0,
            inv_c0: 1.0 / c0,
            species_kc,
        }
    }

    /// Production rates `ω` (and, with `JAC`, `J^C` and `∂ω/∂T`), in passes
    /// over all reactions: rate constants, third bodies and falloff,
    /// equilibrium constants, rates of progress, the scatter into `ω`; the
    /// Jacobian reuses every per-reaction quantity of these passes.
    fn rates<const JAC: bool>(&mut self, m: &Mix) {
        let lay = &self.layout;
        let (rw, pw) = (lay.reactant_width, lay.product_width);
        let conc = &self.conc;
        // Rate constants (high-pressure ones for falloff).
        lay.rate.eval(
            m.ln_t,
            m.inv_t,
            &mut self.arrhenius_arg,
            &mut self.kf,
            if JAC { Some(&mut self.dlnkf) } else { None },
        );
        lay.falloff_low.eval(
            m.ln_t,
            m.inv_t,
            &mut self.arrhenius_arg,
            &mut self.k0,
            if JAC { Some(&mut self.dlnk0) } else { None },
        );
        // Third-body concentrations, one per distinct set.
        for (e, cm) in lay.efficiency_sets.iter().zip(self.cm.iter_mut()) {
            let mut c = e.default * m.csum;
            for &(k, ex) in &e.excess {
                c += ex * conc[k];
            }
            *cm = c;
        }
        for &(i, set) in &lay.three_body {
            let i = i as usize;
            if JAC {
                self.dkf_dm[i] = self.kf[i];
            }
            self.kf[i] *= self.cm[set as usize];
        }
        for (j, fo) in lay.falloff.iter().enumerate() {
            let i = fo.reaction as usize;
            let cm = self.cm[fo.set as usize];
            let kf = self.kf[i];
            let (k0, dlnk0) = (self.k0[j], self.dlnk0[j]);
            let pr = k0 * cm / (kf + SMALL);
            let (ln_f, fp, ft) = match fo.form {
                FalloffForm::Lindemann => (0.0, 0.0, 0.0),
                FalloffForm::Troe {
                    a,
                    inv_t3,
                    inv_t1,
                    t2,
                } => troe::<JAC>(a, inv_t3, inv_t1, t2, m.t, pr),
            };
            let f = if ln_f == 0.0 { 1.0 } else { exp(ln_f) };
            let inv1pr = 1.0 / (1.0 + pr);
            self.kf[i] = kf * pr * inv1pr * f;
            if JAC {
                self.dkf_dm[i] = k0 * f * inv1pr * (inv1pr + fp) * (kf / (kf + SMALL));
                let dlnkf = self.dlnkf[i];
                self.dlnkf[i] = dlnkf + (dlnk0 - dlnkf) * (inv1pr + fp) + ft;
            }
        }
        // 1 / Kc (0 for irreversible reactions), rates of progress and
        // production rates, in one pass for the common widths of the sides.
        if self.gather_len == SMALL_GATHER {
            self.progress_widths::<SMALL_GATHER, JAC>(rw, pw, m);
        } else {
            self.progress_widths::<LARGE_GATHER, JAC>(rw, pw, m);
        }
        if JAC {
            self.rate_derivatives(m);
        }
    }

    fn progress_widths<const N: usize, const JAC: bool>(&mut self, rw: usize, pw: usize, m: &Mix) {
        match (rw, pw) {
            (2, 2) => self.progress::<2, 2, N, JAC>(m),
            (2, 3) => self.progress::<2, 3, N, JAC>(m),
            (3, 2) => self.progress::<3, 2, N, JAC>(m),
            (3, 3) => self.progress::<3, 3, N, JAC>(m),
            _ => self.progress::<MAX_UNITS, MAX_UNITS, N, JAC>(m),
        }
    }

    /// The rates of progress `q` and the production rates `ω` (and, with
    /// `JAC`, `1/Kc` for the Jacobian) for sides padded to `RW` reactant and
    /// `PW` product units (the layout's widths: constants, so the loops over
    /// the units unroll), gathering from arrays of `N` entries (a power of
    /// two above every species index, so `s % N` needs no bounds check).
    fn progress<const RW: usize, const PW: usize, const N: usize, const JAC: bool>(
        &mut self,
        m: &Mix,
    ) {
        let lay = &self.layout;
        let reactants = lay.reactants.chunks_exact(RW).map(units::<RW>);
        let products = lay.products.chunks_exact(PW).map(units::<PW>);
        if !m.species_kc {
            for i in 0..lay.num_reactions() {
                self.inv_kc[i] = if lay.reversible[i] != 0.0 {
                    let mut dg = 0.0;
                    for (k, nu) in lay.net(i) {
                        dg += nu * self.g_rt[k];
                    }
                    exp(dg - lay.delta_nu[i] * m.ln_c0).min(BIG)
                } else {
                    0.0
                };
            }
        }
        // c0^-Δν for Δν = j - RW.
        // (16 >= 2 MAX_UNITS + 1 entries: `% 16` needs no bounds check.)
        let mut c0_pow = [0.0; 16];
        c0_pow[RW] = 1.0;
        for j in 1..=RW {
            c0_pow[RW - j] = c0_pow[RW - j + 1] * m.c0;
        }
        for j in 1..=PW {
            c0_pow[RW + j] = c0_pow[RW + j - 1] * m.inv_c0;
        }
        let conc: &[f64; N] = fixed(&self.conc);
        let exp_g: &[f64; N] = fixed(&self.exp_g);
        let inv_exp_g: &[f64; N] = fixed(&self.inv_exp_g);
        let conc_exp_g: &[f64; N] = fixed(&self.conc_exp_g);
        let wdot: &mut [f64; N] = (&mut self.wdot[..N])
            .try_into()
            .expect("gather arrays have N entries");
        wdot[..self.k + PAD_SPECIES]
            .iter_mut()
            .for_each(|w| *w = 0.0);
        for (((((q, inv_kc), &kf), reac), prod), (&rev_mask, &c0p)) in self
            .q
            .iter_mut()
            .zip(self.inv_kc.iter_mut())
            .zip(&self.kf)
            .zip(reactants)
            .zip(products)
            .zip(lay.reversible.iter().zip(&lay.c0_power))
        {
            let mut fwd = 1.0;
            for &s in reac {
                fwd *= conc[s as usize % N];
            }
            let rate = if m.species_kc {
                // 1/Kc = c0^-Δν · Π_reactants exp(-g_k/RT) · Π_products
                // exp(g_k/RT), each factor within e^±exp_g_limit, so below
                // e^600 c0^-6 < BIG: no overflow, no clip. The right-hand
                // side folds the products' factors into `C_k exp(g_k/RT)`.
                let mut back = c0_pow[c0p as usize % 16] * rev_mask;
                for &s in reac {
                    back *= inv_exp_g[s as usize % N];
                }
                if JAC {
                    let mut rev = 1.0;
                    for &s in prod {
                        back *= exp_g[s as usize % N];
                        rev *= conc[s as usize % N];
                    }
                    *inv_kc = back;
                    kf * (fwd - back * rev)
                } else {
                    for &s in prod {
                        back *= conc_exp_g[s as usize % N];
                    }
                    kf * (fwd - back)
                }
            } else {
                let mut rev = 1.0;
                for &s in prod {
                    rev *= conc[s as usize % N];
                }
                kf * (fwd - *inv_kc * rev)
            };
            *q = rate;
            // The padding units land in the sinks `wdot[K..K + PAD_SPECIES]`.
            for &s in reac {
                wdot[s as usize % N] -= rate;
            }
            for &s in prod {
                wdot[s as usize % N] += rate;
            }
        }
    }

    /// `J^C = ∂ω/∂C` and `∂ω/∂T` from the per-reaction quantities of `rates`.
    fn rate_derivatives(&mut self, m: &Mix) {
        let lay = &self.layout;
        let k_sp = self.k;
        let (rw, pw) = (lay.reactant_width, lay.product_width);
        let conc = &self.conc;
        self.dwdot_dt.iter_mut().for_each(|w| *w = 0.0);
        self.jc.iter_mut().for_each(|w| *w = 0.0);
        for i in 0..lay.num_reactions() {
            let kfe = self.kf[i];
            let inv_kc = self.inv_kc[i];
            let reactant_units = &lay.reactants[i * rw..i * rw + lay.reactant_len[i] as usize];
            let product_units = &lay.products[i * pw..i * pw + lay.product_len[i] as usize];
            let fwd = product(reactant_units, conc);
            let rev = product(product_units, conc);
            let phi = fwd - inv_kc * rev;
            let reversible = lay.reversible[i] != 0.0;
            let mut dlnkc = 0.0;
            if reversible {
                for (k, nu) in lay.net(i) {
                    dlnkc += nu * self.h_rt[k];
                }
                dlnkc = (dlnkc - lay.delta_nu[i]) * m.inv_t;
            }
            let dq_dt = kfe * self.dlnkf[i] * phi + kfe * inv_kc * rev * dlnkc;
            for (k, nu) in lay.net(i) {
                self.dwdot_dt[k] += nu * dq_dt;
            }
            for (l, &sl) in reactant_units.iter().enumerate() {
                let sl = sl as usize;
                let d = kfe * product_without(reactant_units, conc, l);
                for (k, nu) in lay.net(i) {
                    self.jc[k * k_sp + sl] += nu * d;
                }
            }
            if reversible {
                for (l, &sl) in product_units.iter().enumerate() {
                    let sl = sl as usize;
                    let d = -kfe * inv_kc * product_without(product_units, conc, l);
                    for (k, nu) in lay.net(i) {
                        self.jc[k * k_sp + sl] += nu * d;
                    }
                }
            }
            let set = lay.set_of[i];
            if set != NO_SET {
                let e = &lay.efficiency_sets[set as usize];
                let g = self.dkf_dm[i] * phi;
                if g != 0.0 {
                    for (k, nu) in lay.net(i) {
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

    /// The right-hand side `f(y)` into `f`.
    pub fn rhs(&mut self, mech: &Inner, pressure: f64, y: &[f64], f: &mut [f64]) {
        let m = self.prepare(mech, pressure, y);
        self.rates::<false>(&m);
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
        self.rates::<true>(&m);
        let dr = self.assemble_rhs(mech, &m, f);
        let kk = self.k;
        let n = kk + 1;
        let w = &mech.weights;
        // One pass over `J^C`, row by row: `J^C x`, `J^C C`, `h^T J^C` and the
        // species rows (each sum keeps its order: the bits are those of
        // separate passes).
        self.hj.iter_mut().for_each(|v| *v = 0.0);
        for k in 0..kk {
            let row = &self.jc[k * kk..(k + 1) * kk];
            let h = self.h_rt[k];
            let mut jx = 0.0;
            let mut jcc = 0.0;
            for (((&r, &x), &c), hj) in row
                .iter()
                .zip(&self.x)
                .zip(&self.conc)
                .zip(self.hj.iter_mut())
            {
                jx += r * x;
                jcc += r * c;
                *hj += h * r;
            }
            self.jx[k] = jx;
            self.jcc[k] = jcc;
            let b = jx - self.wdot[k] / m.ctot;
            let out = &mut jac[(1 + k) * n..(2 + k) * n];
            out[0] = w[k] / m.rho * (self.dwdot_dt[k] + (self.wdot[k] - jcc) * m.inv_t);
            let wk = w[k];
            for ((o, &inv_w), &r) in out[1..].iter_mut().zip(&self.inv_w).zip(row) {
                *o = wk * inv_w * (r - b);
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
        &self.wdot[..self.k]
    }
}
