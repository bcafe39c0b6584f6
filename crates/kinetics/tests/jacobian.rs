//! The analytic Jacobian of the reactor against central finite differences.

use quicklb_kinetics::{Mechanism, Reactor, ReactorOptions};

/// Partially burnt states (radicals present) of `mixture`, away from the NASA7
/// midpoint at 1000 K where `cp` has a kink.
fn states(mech: &Mechanism, mixture: &str, t0: f64, times: &[f64]) -> Vec<Vec<f64>> {
    let mut state = vec![t0];
    state.extend(mech.mass_fractions(mixture).unwrap());
    let mut reactor = Reactor::new(mech, ReactorOptions::default());
    let mut out = vec![state.clone()];
    let mut t = 0.0;
    for &tt in times {
        reactor.advance(&mut state, 101325.0, tt - t).unwrap();
        t = tt;
        out.push(state.clone());
    }
    out
}

fn check(mech: &Mechanism, states: &[Vec<f64>], pressure: f64) {
    let n = mech.num_species() + 1;
    let mut reactor = Reactor::new(mech, ReactorOptions::default());
    let (mut f, mut jac) = (vec![0.0; n], vec![0.0; n * n]);
    let (mut fp, mut fm) = (vec![0.0; n], vec![0.0; n]);
    let mut worst = 0.0f64;
    for y in states {
        reactor.jacobian(y, pressure, &mut f, &mut jac).unwrap();
        // Rows are compared in the norm of the row's largest entry times the
        // column's natural scale, so that entries too small to matter do not
        // fail on rounding.
        for j in 0..n {
            let scale = if j == 0 { y[0] } else { y[j].abs().max(1e-6) };
            let d = 1e-6 * scale;
            let mut yp = y.clone();
            let mut ym = y.clone();
            yp[j] += d;
            ym[j] -= d;
            reactor.derivative(&yp, pressure, &mut fp).unwrap();
            reactor.derivative(&ym, pressure, &mut fm).unwrap();
            for i in 0..n {
                let fd = (fp[i] - fm[i]) / (2.0 * d);
                let an = jac[i * n + j];
                let row_scale = (0..n)
                    .map(|c| {
                        let s = if c == 0 { y[0] } else { y[c].abs().max(1e-6) };
                        (jac[i * n + c] * s).abs()
                    })
                    .fold(0.0, f64::max);
                let err = ((fd - an) * scale).abs() / (row_scale + 1e-300);
                worst = worst.max(err);
                assert!(
                    err < 1e-5,
                    "J[{i}][{j}] analytic {an:e} vs FD {fd:e} (rel. to row {err:e}) at T = {}",
                    y[0]
                );
            }
        }
    }
    eprintln!("worst relative Jacobian error {worst:e}");
}

#[test]
fn bundled_h2_o2_jacobian_matches_finite_differences() {
    let mech = Mechanism::bundled_h2_o2();
    let s = states(
        &mech,
        "H2:2, O2:1, N2:3.76",
        1100.0,
        &[5e-5, 7e-5, 8e-5, 1e-4, 3e-4],
    );
    check(&mech, &s, 101325.0);
    // High pressure: falloff reactions in their transition region.
    let s = states(&mech, "H2:1, O2:1, AR:5", 1300.0, &[1e-6, 1e-5]);
    check(&mech, &s, 20.0 * 101325.0);
}

/// A mechanism exercising every rate kind, with non-trivial Troe (4 parameters)
/// and Lindemann falloff and explicit colliders.
#[test]
fn every_rate_kind_jacobian_matches_finite_differences() {
    let yaml = format!(
        "{}\n{}",
        quicklb_kinetics::BUNDLED_H2_O2_YAML
            .split("\nreactions:\n")
            .next()
            .unwrap(),
        r#"
reactions:
- equation: H + O2 <=> O + OH
  rate-constant: {A: 3.547e+15, b: -0.406, Ea: 1.6599e+04}
- equation: O + H2 <=> H + OH
  rate-constant: {A: 5.08e+04, b: 2.67, Ea: 6290.0}
- equation: H2 + OH <=> H2O + H
  rate-constant: {A: 2.16e+08, b: 1.51, Ea: 3430.0}
- equation: 2 H + M <=> H2 + M
  type: three-body
  rate-constant: {A: 1.0e+18, b: -1.0, Ea: 0.0}
  efficiencies: {H2: 0.0, H2O: 0.0, AR: 0.63}
  default-efficiency: 1.2
- equation: 2 O + AR <=> O2 + AR
  type: three-body
  rate-constant: {A: 1.886e+13, b: 0.0, Ea: -1788.0}
- equation: H + O2 (+M) <=> HO2 (+M)
  type: falloff
  low-P-rate-constant: {A: 6.366e+20, b: -1.72, Ea: 524.8}
  high-P-rate-constant: {A: 1.475e+12, b: 0.6, Ea: 0.0}
  Troe: {A: 0.5, T3: 300.0, T1: 2000.0, T2: 1500.0}
  efficiencies: {H2: 2.0, H2O: 11.0, O2: 0.78, AR: 0.67}
- equation: H2O2 (+M) <=> 2 OH (+M)
  type: falloff
  low-P-rate-constant: {A: 1.202e+17, b: 0.0, Ea: 4.55e+04}
  high-P-rate-constant: {A: 2.951e+14, b: 0.0, Ea: 4.843e+04}
- equation: H2O2 (+ AR) <=> 2 OH (+ AR)
  type: falloff
  low-P-rate-constant: {A: 1.0e+17, b: 0.0, Ea: 4.55e+04}
  high-P-rate-constant: {A: 2.951e+14, b: 0.0, Ea: 4.843e+04}
  Troe: {A: 0.7, T3: 100.0, T1: 3000.0}
- equation: HO2 + H => 2 OH
  rate-constant: {A: 7.079e+13, b: 0.0, Ea: 295.0}
- equation: HO2 + HO2 <=> H2O2 + O2
  duplicate: true
  rate-constant: {A: 4.2e+14, b: 0.0, Ea: 1.1982e+04}
- equation: HO2 + HO2 <=> H2O2 + O2
  duplicate: true
  negative-A: true
  rate-constant: {A: -1.3e+11, b: 0.0, Ea: -1629.3}
- equation: HO2 + OH <=> H2O + O2
  rate-constant: {A: 2.89e+13, b: 0.0, Ea: -497.0}
"#
    );
    let mech = Mechanism::from_yaml_str(&yaml, None).unwrap();
    assert_eq!(mech.num_reactions(), 12);
    let s = states(
        &mech,
        "H2:2, O2:1, AR:3, H2O2:0.01",
        1150.0,
        &[1e-5, 5e-5, 1e-4, 2e-4],
    );
    check(&mech, &s, 101325.0);
    check(&mech, &s, 30.0 * 101325.0);
}
