//! One full ignition: `Reactor::advance` over `t_end` against Cantera's
//! `ReactorNet.advance` (CVODES BDF, its own Jacobian handling) on the same
//! mechanism file, same initial state, same `rtol`/`atol`.
//!
//! ```text
//! cargo bench -p quicklb-kinetics --bench ignition [-- --quick]
//! ```
//!
//! Prints a markdown table on stdout: best wall time of each (Rust: fresh state,
//! reactor built once outside the timing; Cantera: fresh reactor and network
//! built outside the timing, timed in Python around the C++ call), their ratio
//! and whether the 3× target is met. Cantera's column is skipped with the
//! reason when `python3 -c "import cantera"` fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use quicklb_kinetics::{Mechanism, Reactor, ReactorOptions};

struct Case {
    label: &'static str,
    file: PathBuf,
    mixture: &'static str,
    t0: f64,
    t_end: f64,
    repeats: usize,
}

fn cantera_data_dir() -> Result<PathBuf, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import cantera, os; print(os.path.join(os.path.dirname(cantera.__file__), 'data'))",
        ])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err("python3 cannot import cantera".into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn field(line: &str, key: &str) -> Option<f64> {
    let pat = format!("\"{key}\": ");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    rest[..rest.find([',', '}'])?].trim().parse().ok()
}

/// Best Cantera time (s) and its step count.
fn cantera_time(case: &Case, options: &ReactorOptions) -> Result<(f64, f64), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cantera_reference.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&case.file)
        .args(["--mixture", case.mixture, "--temperatures"])
        .arg(case.t0.to_string())
        .args(["--t-end", &case.t_end.to_string()])
        .args([
            "--rtol",
            &options.rtol.to_string(),
            "--atol",
            &options.atol.to_string(),
        ])
        .args(["--time", &case.repeats.to_string()])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cantera_reference.py failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let secs = field(&line, "seconds").ok_or_else(|| format!("bad output {line:?}"))?;
    Ok((secs, field(&line, "steps").unwrap_or(f64::NAN)))
}

/// Best Rust time (s), its step count and the final temperature.
fn rust_time(case: &Case, options: ReactorOptions) -> (f64, u32, f64) {
    let mech = Mechanism::from_file(&case.file).expect("mechanism loads");
    let y = mech.mass_fractions(case.mixture).expect("mixture");
    let mut reactor = Reactor::new(&mech, options);
    let mut best = f64::INFINITY;
    let mut steps = 0;
    let mut t_final = 0.0;
    let mut state = vec![0.0; y.len() + 1];
    for _ in 0..case.repeats {
        state[0] = case.t0;
        state[1..].copy_from_slice(&y);
        let start = Instant::now();
        let stats = reactor
            .advance(&mut state, 101325.0, case.t_end)
            .expect("ignition integrates");
        best = best.min(start.elapsed().as_secs_f64());
        steps = stats.steps;
        t_final = state[0];
    }
    (best, steps, t_final)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // Matched tolerances: the crate's default, and the looser rtol typical of
    // operator-split CFD chemistry (atol stays 1e-12: see MAX_ATOL).
    let tolerances = [
        ReactorOptions::default(),
        ReactorOptions {
            rtol: 1e-4,
            ..ReactorOptions::default()
        },
    ];
    let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mechanisms/h2o2_li2004.yaml");
    let data = cantera_data_dir();
    let reps = |n: usize| if quick { n.div_ceil(5).max(1) } else { n };
    let mut cases = vec![Case {
        label: "bundled Li 2004 H2/O2 (10 sp., 23 r.)",
        file: bundled,
        mixture: "H2:2, O2:1, N2:3.76",
        t0: 1000.0,
        t_end: 1e-3,
        repeats: reps(20),
    }];
    if let Ok(dir) = &data {
        cases.push(Case {
            label: "Cantera h2o2.yaml (10 sp., 29 r.)",
            file: dir.join("h2o2.yaml"),
            mixture: "H2:2, O2:1, N2:3.76",
            t0: 1000.0,
            t_end: 1e-3,
            repeats: reps(20),
        });
        cases.push(Case {
            label: "Cantera gri30.yaml (53 sp., 325 r.)",
            file: dir.join("gri30.yaml"),
            mixture: "CH4:1, O2:2, N2:7.52",
            t0: 1200.0,
            t_end: 0.1,
            repeats: reps(5),
        });
    }
    println!(
        "One full ignition at 1 atm, adiabatic constant pressure, the same rtol and atol for both; best of the repeats."
    );
    println!();
    println!("| mechanism | mixture | T0 (K) | t_end (s) | rtol | atol | Rust (ms) | Rust steps | Cantera (ms) | Cantera steps | Cantera / Rust | target >= 3x |");
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    for (case, options) in cases
        .iter()
        .flat_map(|c| tolerances.iter().map(move |o| (c, *o)))
    {
        let (rust, steps, t_final) = rust_time(case, options);
        eprintln!(
            "{}: Rust {:.3} ms, T_end {t_final:.1} K",
            case.label,
            rust * 1e3
        );
        let (cantera, csteps, ratio, verdict) = match (&data, cantera_time(case, &options)) {
            (Ok(_), Ok((c, s))) => (
                format!("{:.3}", c * 1e3),
                format!("{s}"),
                format!("{:.2}", c / rust),
                if c / rust >= 3.0 { "met" } else { "NOT met" }.to_string(),
            ),
            (Err(why), _) => (
                "skipped".into(),
                "-".into(),
                "-".into(),
                format!("skipped: {why}"),
            ),
            (_, Err(why)) => (
                "skipped".into(),
                "-".into(),
                "-".into(),
                format!("skipped: {why}"),
            ),
        };
        println!(
            "| {} | {} | {} | {} | {:e} | {:e} | {:.3} | {steps} | {cantera} | {csteps} | {ratio} | {verdict} |",
            case.label,
            case.mixture,
            case.t0,
            case.t_end,
            options.rtol,
            options.atol,
            rust * 1e3
        );
    }
    println!();
}
