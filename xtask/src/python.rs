//! The Python peers of the benchmarks and of the Cantera validation test: pip
//! packages installed when missing, best effort (whoever needs one says why it
//! is absent and skips that part).

use std::process::Command;

/// Imports `modules` with python3 and, when any fails, runs
/// `pip install packages`; returns whether the modules import afterwards.
pub fn ensure(purpose: &str, modules: &[&str], packages: &[&str]) -> bool {
    let importable = || {
        Command::new("python3")
            .args(["-c", &format!("import {}", modules.join(", "))])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if importable() {
        return true;
    }
    println!(
        "xtask: {purpose}: installing the Python peers: pip install {}",
        packages.join(" ")
    );
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet"])
        .args(packages)
        .status()
        .is_ok_and(|s| s.success());
    if !installed || !importable() {
        println!("xtask: {purpose}: could not install them; what needs them will say so and skip");
        return false;
    }
    true
}
