//! The flame demo end to end at the rank count it runs with: step time
//! without balancing and with each planner, in one run.
//!
//! ```text
//! cargo bench -p quicklb-examples --bench flame --no-run
//! mpiexec -n 2 <binary> [--quick] [--size N] [--steps S]
//! ```
//!
//! Prints markdown tables on stdout (notes and target lines as plain lines;
//! progress on stderr):
//!
//! 1. The H2/air flame (`examples/src/flame`, bundled mechanism) from the
//!    initial state, without balancing and with each planner of
//!    [`PLANNERS`] (re-plan before every balanced step from the weights of
//!    [`cost_of`]; step 0 unbalanced), runs
//!    alternating, each kind keeping its fastest of 2. Columns: step time of
//!    the slowest rank without / with, the speed-up, the work imbalance
//!    (max/avg of the integrator steps per rank) before and after lending,
//!    the time imbalance after (max/avg of the chemistry compute time: an
//!    integrator step of a cold cell takes two to three times one of a burning
//!    cell, so balancing work and balancing time differ), the balancer's own
//!    time (the slowest rank's `iterate` minus the busiest rank's compute,
//!    plus planning: packing, messages and waiting not caused by imbalance)
//!    as a share of the chemistry time, and the cells lent per step. Target
//!    lines follow, each `met` or `NOT met`. With more ranks than cores
//!    (4 on a 2-core machine), the step time cannot drop below the total
//!    chemistry over the cores, so no balancer beats no balancing by more
//!    than `max(1, imbalance before x cores / ranks)`, and the balancer's
//!    own time, a wall-clock difference, includes the time a rank is
//!    descheduled.
//! 2. The same with GRI-Mech 3.0 (53 species, CH4/air) when Cantera's data
//!    folder is found (`python3 -c "import cantera"`), Transfer only; else a
//!    line saying why it is skipped.

use std::path::PathBuf;
use std::process::Command;

use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use quicklb::Dynamic;
use quicklb_examples::flame::{
    self, algorithm_by_name, load_mechanism, Config, CostModel, PhaseStats, Summary,
};
use quicklb_kinetics::Mechanism;

/// The planners compared, by their `--algorithm` names; a name not in
/// `flame::ALGORITHMS` (DLBFoam's, before its planner is merged) gets a row
/// saying so.
/// `NAME + dynamic` adds dynamic sharing within the step (`--dynamic`).
const PLANNERS: &[&str] = &["transfer", "dlbfoam", "sort", "transfer + dynamic"];

/// The balancer a planner row names: its algorithm and whether it shares
/// dynamically within the step.
fn balancer_of(name: &str) -> (Option<quicklb::Algorithm>, Dynamic) {
    match name.strip_suffix(" + dynamic") {
        Some(planner) => (algorithm_by_name(planner), Dynamic::OnNode),
        None => (algorithm_by_name(name), Dynamic::Off),
    }
}

/// The weights a planner row plans with: Transfer the work forecast for the
/// step (`CostModel::Forecast`), which adds the rank's growth to its lighter
/// half, the cells Transfer keeps (it lends the heaviest first); DLBFoam and
/// Sort lend light cells too, so the growth already travels with them and
/// the forecast over-corrects (work imbalance after at 4 ranks, replayed
/// from the serial run's counts: 1.025 -> 1.035 for both): they plan with
/// the last step's integrator steps (`CostModel::Steps`).
fn cost_of(name: &str) -> CostModel {
    if name.starts_with("transfer") {
        CostModel::Forecast
    } else {
        CostModel::Steps
    }
}

/// Runs `steps` steps from the initial state; returns the summary.
fn simulate(
    world: &SimpleCommunicator,
    mech: &Mechanism,
    base: &Config,
    steps: usize,
    algorithm: Option<&str>,
) -> Summary {
    let cost = algorithm.map_or(base.cost, cost_of);
    let (algorithm, dynamic) = algorithm.map_or((None, Dynamic::Off), balancer_of);
    let config = Config {
        algorithm,
        dynamic,
        cost,
        compare_every: 0,
        ..base.clone()
    };
    let mut sim = flame::build(world, mech, config).expect("simulation set up");
    for _ in 0..steps {
        sim.step().expect("step");
    }
    sim.summary()
}

/// One row of the table: the unbalanced run against a balanced one.
struct Row {
    planner: String,
    without: f64,
    with: Option<(f64, PhaseStats)>,
}

fn print_table(case: &str, ranks: usize, rows: &[Row]) {
    println!("| case | ranks | planner | without balancing (ms/step) | with balancing (ms/step) | speed-up | work imbalance before | work imbalance after | time imbalance after | balancer's own time / chemistry | cells lent/step | cells taken dynamically/step |");
    println!("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        match &r.with {
            Some((t, p)) => println!(
                "| {case} | {ranks} | {} | {:.2} | {:.2} | {:.2}x | {:.3} | {:.3} | {:.3} | {:.2} % | {:.0} | {:.0} |",
                r.planner,
                r.without * 1e3,
                t * 1e3,
                r.without / t,
                p.work_imbalance_before,
                p.work_imbalance_after,
                p.imbalance_after,
                100.0 * p.balancer_share(),
                p.cells_lent,
                p.cells_taken
            ),
            None => println!(
                "| {case} | {ranks} | {} (not in this build) | {:.2} | | | | | | | | |",
                r.planner,
                r.without * 1e3
            ),
        }
    }
    println!();
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn print_targets(ranks: usize, rows: &[Row]) {
    for r in rows {
        let Some((t, p)) = &r.with else { continue };
        let speedup = r.without / t;
        if ranks == 2 {
            let goal = 0.9 * p.work_imbalance_before;
            println!(
                "target ({}): speed-up at 2 ranks >= 0.9 x work imbalance before: {speedup:.2}x vs {goal:.2}x: {}",
                r.planner,
                verdict(speedup >= goal)
            );
        }
        println!(
            "target ({}): work imbalance after <= 1.03: {:.3}: {}",
            r.planner,
            p.work_imbalance_after,
            verdict(p.work_imbalance_after <= 1.03)
        );
        println!(
            "target ({}): balancer's own time <= 2 % of the chemistry time: {:.2} %: {}",
            r.planner,
            100.0 * p.balancer_share(),
            verdict(p.balancer_share() <= 0.02)
        );
    }
    println!();
}

/// Runs the case without balancing and with each planner, alternating, each
/// keeping its fastest of `repeats` runs.
fn compare(
    world: &SimpleCommunicator,
    mech: &Mechanism,
    base: &Config,
    steps: usize,
    planners: &[&str],
    repeats: usize,
    label: &str,
) -> Vec<Row> {
    let root = world.rank() == 0;
    let ranks = world.size();
    let mut without = f64::INFINITY;
    let mut with: Vec<Option<(f64, PhaseStats)>> = vec![None; planners.len()];
    for r in 0..repeats {
        if root {
            eprintln!(
                "flame bench: {label}, {n}x{n}, {steps} steps, {ranks} ranks, run {}/{repeats}",
                r + 1,
                n = base.size
            );
        }
        let s = simulate(world, mech, base, steps, None);
        without = without.min(s.without.map_or(f64::INFINITY, |p| p.time_per_step));
        for (k, name) in planners.iter().enumerate() {
            if balancer_of(name).0.is_none() {
                continue;
            }
            let s = simulate(world, mech, base, steps, Some(name));
            let p = s.with.expect("balanced steps");
            if with[k].is_none_or(|(t, _)| p.time_per_step < t) {
                with[k] = Some((p.time_per_step, p));
            }
        }
    }
    planners
        .iter()
        .zip(with)
        .map(|(name, with)| Row {
            planner: name.to_string(),
            without,
            with,
        })
        .collect()
}

/// GRI-Mech 3.0 from Cantera's data folder, found by rank 0 and agreed.
fn gri30(world: &SimpleCommunicator) -> Result<PathBuf, String> {
    let root = world.process_at_rank(0);
    let mut found = Vec::new();
    if world.rank() == 0 {
        let result = Command::new("python3")
            .args([
                "-c",
                "import cantera, os; print(os.path.dirname(cantera.__file__))",
            ])
            .output();
        found = match result {
            Ok(o) if o.status.success() => {
                let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
                let file = dir.join("data").join("gri30.yaml");
                if file.is_file() {
                    format!("ok:{}", file.display())
                } else {
                    format!("no {}", file.display())
                }
            }
            Ok(_) => "python3 cannot import cantera (`pip install cantera`)".to_string(),
            Err(e) => format!("python3 not runnable: {e}"),
        }
        .into_bytes();
    }
    let mut len = found.len() as u64;
    root.broadcast_into(&mut len);
    found.resize(len as usize, 0);
    root.broadcast_into(&mut found[..]);
    let text = String::from_utf8_lossy(&found).into_owned();
    match text.strip_prefix("ok:") {
        Some(path) => Ok(PathBuf::from(path)),
        None => Err(text),
    }
}

/// The number after `name` on the command line, if any.
fn option(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    let value = args.get(at + 1)?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} {value}: not a number")),
    )
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let ranks = world.size() as usize;
    let root = world.rank() == 0;

    // 1. H2/air, bundled mechanism.
    let mech = Mechanism::bundled_h2_o2();
    let (size, steps, repeats) = if quick { (24, 6, 1) } else { (64, 60, 2) };
    let size = option("--size").unwrap_or(size);
    let steps = option("--steps").unwrap_or(steps);
    let base = Config {
        size,
        ..Config::new(&mech).expect("default config")
    };
    // Warm-up (page faults, caches, the first MPI messages), not measured.
    let _ = simulate(&world, &mech, &base, 2, Some("transfer"));
    let rows = compare(&world, &mech, &base, steps, PLANNERS, repeats, "H2/air");
    if root {
        println!("Flame, stoichiometric H2/air (bundled mechanism), {size}x{size}, {steps} steps from the initial state; time per step of the slowest rank (without: steps 1.., with: the balanced steps 1..); fastest of {repeats} alternating runs each. Transfer plans with the work forecast for the step, DLBFoam and Sort with the last step's integrator steps.");
        println!();
        print_table(&format!("H2/air {size}x{size}"), ranks, &rows);
        print_targets(ranks, &rows);
    }

    // 2. GRI-Mech 3.0, CH4/air.
    match gri30(&world) {
        Err(reason) => {
            if root {
                println!("GRI-Mech 3.0 case skipped: {reason}.");
            }
        }
        Ok(path) => {
            let mech = load_mechanism(Some(&path)).expect("gri30.yaml loads");
            let (size, steps) = if quick { (8, 2) } else { (48, 20) };
            let mut base = Config {
                size,
                ..Config::new(&mech).expect("a config")
            };
            base.physics.mass_fractions =
                flame::mixture_mass_fractions(&mech, "CH4:1, O2:2, N2:7.52")
                    .expect("CH4/air in gri30");
            base.physics.kernel_temperature = 2000.0;
            let rows = compare(&world, &mech, &base, steps, &["transfer"], 1, "gri30");
            if root {
                println!("Flame, stoichiometric CH4/air (GRI-Mech 3.0 from {}, 53 species), {size}x{size}, {steps} steps, kernels at 2000 K.", path.display());
                println!();
                print_table(&format!("CH4/air gri30 {size}x{size}"), ranks, &rows);
            }
        }
    }
}
