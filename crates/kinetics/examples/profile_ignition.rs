//! A profiling driver: one bundled-H2/air ignition at rtol 1e-6 and, if a
//! path to `gri30.yaml` is given, one CH4/air ignition at rtol 1e-4 (`--all`:
//! each at rtol 1e-6 and 1e-4).
//!
//! ```text
//! cargo build --release -p quicklb-kinetics --example profile_ignition
//! valgrind --tool=callgrind target/release/examples/profile_ignition [gri30.yaml]
//! ```

use quicklb_kinetics::{Mechanism, Reactor, ReactorOptions};

fn run(mech: &Mechanism, mixture: &str, t0: f64, t_end: f64, rtol: f64) {
    let y = mech.mass_fractions(mixture).expect("mixture");
    let mut state = vec![t0];
    state.extend(&y);
    let options = ReactorOptions {
        rtol,
        ..ReactorOptions::default()
    };
    let mut reactor = Reactor::new(mech, options);
    let stats = reactor
        .advance(&mut state, 101325.0, t_end)
        .expect("ignition integrates");
    println!(
        "{} species, rtol {rtol:e}: {} steps, {} rejected, {} rhs, {} jacobians, {} LU, T_end {} K",
        mech.num_species(),
        stats.steps,
        stats.rejected,
        stats.rhs_evaluations,
        stats.jacobians,
        stats.factorizations,
        state[0]
    );
}

fn main() {
    // `--all`: both tolerances (1e-6, 1e-4) for both mechanisms.
    let all = std::env::args().any(|a| a == "--all");
    let rtols: &[f64] = if all { &[1e-6, 1e-4] } else { &[1e-6] };
    let h2 = Mechanism::bundled_h2_o2();
    for &rtol in rtols {
        run(&h2, "H2:2, O2:1, N2:3.76", 1000.0, 1e-3, rtol);
    }
    if let Some(path) = std::env::args().skip(1).find(|a| a != "--all") {
        let gri = Mechanism::from_file(&path).expect("mechanism loads");
        let rtols: &[f64] = if all { &[1e-6, 1e-4] } else { &[1e-4] };
        for &rtol in rtols {
            run(&gri, "CH4:1, O2:2, N2:7.52", 1200.0, 0.1, rtol);
        }
    }
}
