//! Chemical equilibrium at constant enthalpy and pressure (adiabatic flame
//! temperature): Gibbs-energy minimisation by the element-potential method of
//! NASA CEA (Gordon & McBride, NASA RP-1311, 1994, §2-3), with its Newton
//! equations in `ln n_k`, `π_j`, `ln n`, `ln T` and its damping.
//!
//! Ideal gas only (every species of the mechanism is a gas-phase candidate);
//! species containing an element absent from the mixture are left out.

use crate::mechanism::Inner;
use crate::thermo::TPowers;
use crate::units::ONE_ATM;
use crate::{Error, Result};

/// CEA's bound under which a species is "trace": `ln(n_k / n) < ln 1e-8`.
const LN_TRACE: f64 = -18.420680743952367;
/// CEA's damping target for trace species: `ln 1e-4`.
const LN_1E_4: f64 = -9.210340371976184;
const MAX_ITERATIONS: usize = 500;

/// The equilibrium temperature (K) of `y` (mass fractions) starting from
/// `temperature` at `pressure`, at the enthalpy of the initial state.
pub(crate) fn hp_temperature(
    mech: &Inner,
    y: &[f64],
    temperature: f64,
    pressure: f64,
) -> Result<f64> {
    let ns = mech.species.len();
    let ne = mech.elements.len();
    // Element abundances, kmol per kg.
    let mut b = vec![0.0; ne];
    let mut h0 = 0.0; // h / R, K * kmol / kg
    let tp0 = TPowers::new(temperature);
    for k in 0..ns {
        let nk = y[k] / mech.weights[k];
        for &(j, a) in &mech.composition[k] {
            b[j] += a * nk;
        }
        h0 += nk * mech.thermo[k].eval(&tp0).1 * temperature;
    }
    let active: Vec<usize> = (0..ne).filter(|&j| b[j] > 0.0).collect();
    let m = active.len();
    if m == 0 {
        return Err(Error::InvalidInput(
            "the mixture contains no elements".into(),
        ));
    }
    // Candidate species: made only of elements present.
    let species: Vec<usize> = (0..ns)
        .filter(|&k| {
            mech.composition[k]
                .iter()
                .all(|&(j, a)| a == 0.0 || b[j] > 0.0)
        })
        .collect();
    let nsp = species.len();
    // a[i][s]: atoms of active element i in candidate s.
    let mut a = vec![vec![0.0; nsp]; m];
    for (s, &k) in species.iter().enumerate() {
        for &(j, cnt) in &mech.composition[k] {
            if let Some(i) = active.iter().position(|&x| x == j) {
                a[i][s] = cnt;
            }
        }
    }
    let bb: Vec<f64> = active.iter().map(|&j| b[j]).collect();
    let ln_p = (pressure / ONE_ATM).ln();

    // CEA's initial estimate: n = 0.1, n_k = 0.1 / NS, T = 3800 K unless told otherwise.
    let mut ln_n = (0.1f64).ln();
    let mut ln_nk = vec![(0.1 / nsp as f64).ln(); nsp];
    let mut ln_t = 3800.0f64.ln();
    let (mut g, mut h, mut cp) = (vec![0.0; nsp], vec![0.0; nsp], vec![0.0; nsp]);
    let mut mu = vec![0.0; nsp];
    let dim = m + 2;
    let mut mat = vec![0.0; dim * dim];
    let mut rhs = vec![0.0; dim];
    let mut piv = vec![0; dim];
    for _ in 0..MAX_ITERATIONS {
        let t = ln_t.exp();
        let tp = TPowers::new(t);
        for (s, &k) in species.iter().enumerate() {
            let (cpk, hk, sk, _) = mech.thermo[k].eval(&tp);
            g[s] = hk - sk;
            h[s] = hk;
            cp[s] = cpk;
        }
        let nk: Vec<f64> = ln_nk.iter().map(|v| v.exp()).collect();
        let n = ln_n.exp();
        for s in 0..nsp {
            mu[s] = g[s] + ln_nk[s] - ln_n + ln_p;
        }
        mat.iter_mut().for_each(|v| *v = 0.0);
        rhs.iter_mut().for_each(|v| *v = 0.0);
        let (row_n, row_t) = (m, m + 1);
        for j in 0..m {
            for i in 0..m {
                mat[j * dim + i] = (0..nsp).map(|s| a[i][s] * a[j][s] * nk[s]).sum();
            }
            let ajn: f64 = (0..nsp).map(|s| a[j][s] * nk[s]).sum();
            mat[j * dim + row_n] = ajn;
            mat[j * dim + row_t] = (0..nsp).map(|s| a[j][s] * nk[s] * h[s]).sum();
            rhs[j] = bb[j] - ajn + (0..nsp).map(|s| a[j][s] * nk[s] * mu[s]).sum::<f64>();
        }
        let sum_n: f64 = nk.iter().sum();
        for i in 0..m {
            mat[row_n * dim + i] = (0..nsp).map(|s| a[i][s] * nk[s]).sum();
            mat[row_t * dim + i] = (0..nsp).map(|s| a[i][s] * nk[s] * h[s]).sum();
        }
        mat[row_n * dim + row_n] = sum_n - n;
        let nh: f64 = (0..nsp).map(|s| nk[s] * h[s]).sum();
        mat[row_n * dim + row_t] = nh;
        rhs[row_n] = n - sum_n + (0..nsp).map(|s| nk[s] * mu[s]).sum::<f64>();
        mat[row_t * dim + row_n] = nh;
        mat[row_t * dim + row_t] = (0..nsp).map(|s| nk[s] * (cp[s] + h[s] * h[s])).sum();
        rhs[row_t] = h0 / t - nh + (0..nsp).map(|s| nk[s] * h[s] * mu[s]).sum::<f64>();
        if !crate::linalg::lu_factor(&mut mat, dim, &mut piv) {
            return Err(Error::Integration {
                t: 0.0,
                reason: "equilibrium: singular Newton matrix".into(),
            });
        }
        crate::linalg::lu_solve(&mat, dim, &piv, &mut rhs);
        let (d_ln_n, d_ln_t) = (rhs[row_n], rhs[row_t]);
        // Corrections of each species, and CEA's damping.
        let mut big = 5.0 * d_ln_t.abs().max(d_ln_n.abs());
        let mut lambda2 = 1.0f64;
        let mut dln = vec![0.0; nsp];
        for s in 0..nsp {
            let pi: f64 = (0..m).map(|i| rhs[i] * a[i][s]).sum();
            dln[s] = -mu[s] + pi + d_ln_n + h[s] * d_ln_t;
            let rel = ln_nk[s] - ln_n;
            if rel > LN_TRACE {
                big = big.max(dln[s].abs());
            } else if dln[s] >= 0.0 {
                let denom = (dln[s] - d_ln_n).abs();
                if denom > 0.0 {
                    lambda2 = lambda2.min(((-rel + LN_1E_4) / denom).abs());
                }
            }
        }
        let lambda1 = if big > 2.0 { 2.0 / big } else { 1.0 };
        let lambda = lambda1.min(lambda2).min(1.0);
        for s in 0..nsp {
            ln_nk[s] += lambda * dln[s];
        }
        ln_n += lambda * d_ln_n;
        ln_t = (ln_t + lambda * d_ln_t).clamp(200.0f64.ln(), 6000.0f64.ln());
        // Converged: CEA's criteria, tightened so that T is exact to far below 1 K.
        let weighted: f64 = (0..nsp).map(|s| nk[s] * dln[s].abs()).sum::<f64>() / sum_n;
        if lambda == 1.0 && weighted < 1e-9 && d_ln_n.abs() < 1e-9 && d_ln_t.abs() < 1e-10 {
            return Ok(ln_t.exp());
        }
    }
    Err(Error::Integration {
        t: 0.0,
        reason: format!("equilibrium: no convergence in {MAX_ITERATIONS} iterations"),
    })
}
