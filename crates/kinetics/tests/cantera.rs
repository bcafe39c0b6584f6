//! Validation against Cantera (runs when `python3 -c "import cantera"` works,
//! otherwise prints why it skips and passes).
//!
//! Stoichiometric H2/air at 1 atm and 1000, 1100, 1200 K, on Cantera's
//! `h2o2.yaml` and on the bundled mechanism (loaded by both codes from the same
//! file): the ignition delay (time of max dT/dt) within 1 % of Cantera's
//! `IdealGasConstPressureReactor` (integrated at rtol 1e-10), the final and
//! the equilibrium temperature within 1 K of Cantera's (`equilibrate('HP')`).
//! Also CH4/air on `gri30.yaml` at 1200 K, and equilibrium from 300 K (no
//! ignition), lean and rich.

mod common;

use std::path::Path;
use std::process::Command;

use quicklb_kinetics::{equilibrium_temperature, ignition, Mechanism, ReactorOptions};

const STOICHIOMETRIC_H2_AIR: &str = "H2:2, O2:1, N2:3.76";

/// `"key": value` from one JSON line (the script prints flat objects of numbers).
fn field(line: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\": ");
    let start = line
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + pat.len();
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].trim().parse().unwrap()
}

fn cantera(mechanism: &Path, mixture: &str, temperatures: &[f64], t_end: f64) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cantera_reference.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(mechanism).args([
        "--mixture",
        mixture,
        "--t-end",
        &t_end.to_string(),
        "--temperatures",
    ]);
    for t in temperatures {
        cmd.arg(t.to_string());
    }
    let out = cmd.output().expect("run python3");
    assert!(
        out.status.success(),
        "cantera_reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn compare(mechanism: &Path, mixture: &str, temperatures: &[f64], t_end: f64) {
    let mech = Mechanism::from_file(mechanism).unwrap();
    let y = mech.mass_fractions(mixture).unwrap();
    let reference = cantera(mechanism, mixture, temperatures, t_end);
    assert_eq!(reference.len(), temperatures.len());
    println!(
        "| mechanism | T0 (K) | delay Cantera (s) | delay ours (s) | rel. diff | T_eq Cantera (K) | T_eq ours (K) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (line, &t0) in reference.iter().zip(temperatures) {
        let ours = ignition(&mech, &y, t0, 101325.0, ReactorOptions::default(), t_end).unwrap();
        let teq = equilibrium_temperature(&mech, &y, t0, 101325.0).unwrap();
        let (delay, t_final, t_eq) = (
            field(line, "delay"),
            field(line, "final_temperature"),
            field(line, "equilibrium_temperature"),
        );
        let rel = (ours.delay - delay) / delay;
        println!(
            "| {} | {t0} | {delay:.5e} | {:.5e} | {:+.3}% | {t_eq:.2} | {teq:.2} |",
            mechanism.file_name().unwrap().to_string_lossy(),
            ours.delay,
            100.0 * rel
        );
        assert!(
            rel.abs() < 0.01,
            "T0 = {t0}: delay {} vs Cantera {delay}",
            ours.delay
        );
        assert!(
            (ours.final_temperature - t_final).abs() < 1.0,
            "T0 = {t0}: final T {} vs Cantera {t_final}",
            ours.final_temperature
        );
        assert!(
            (teq - t_eq).abs() < 1.0,
            "T0 = {t0}: T_eq {teq} vs Cantera {t_eq}"
        );
    }
}

/// Equilibrium only, from a temperature where nothing ignites: HP equilibrium
/// is not the end of a kinetic integration.
fn compare_cold_equilibrium(mechanism: &Path, mixture: &str) {
    let mech = Mechanism::from_file(mechanism).unwrap();
    let y = mech.mass_fractions(mixture).unwrap();
    let line = &cantera(mechanism, mixture, &[300.0], 1e-6)[0];
    let want = field(line, "equilibrium_temperature");
    let got = equilibrium_temperature(&mech, &y, 300.0, 101325.0).unwrap();
    println!(
        "{} from 300 K: T_eq Cantera {want:.3} K, ours {got:.3} K",
        mechanism.file_name().unwrap().to_string_lossy()
    );
    assert!(
        (got - want).abs() < 1.0,
        "T_eq from 300 K: {got} vs Cantera {want}"
    );
}

#[test]
fn matches_cantera() {
    let dir = match common::cantera_data_dir() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipping the Cantera comparison: {why}");
            return;
        }
    };
    let temperatures = [1000.0, 1100.0, 1200.0];
    compare(
        &dir.join("h2o2.yaml"),
        STOICHIOMETRIC_H2_AIR,
        &temperatures,
        0.01,
    );
    compare(
        &common::bundled_path(),
        STOICHIOMETRIC_H2_AIR,
        &temperatures,
        0.01,
    );
    compare(
        &dir.join("gri30.yaml"),
        "CH4:1, O2:2, N2:7.52",
        &[1200.0],
        0.1,
    );
    compare_cold_equilibrium(&common::bundled_path(), STOICHIOMETRIC_H2_AIR);
    compare_cold_equilibrium(&dir.join("gri30.yaml"), "CH4:1, O2:2, N2:7.52");
    compare_cold_equilibrium(&dir.join("gri30.yaml"), "CH4:1.5, O2:2, N2:7.52, AR:0.1");
}
