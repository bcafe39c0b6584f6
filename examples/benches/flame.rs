//! The flame demo end to end at the rank count it runs with: step time
//! without balancing and with each planner, in one run.
//!
//! ```text
//! cargo bench -p quicklb-examples --bench flame --no-run
//! mpiexec -n 2 <binary> [--quick] [--size N] [--steps S] [--all-costs]
//! ```
//!
//! Prints markdown tables on stdout (notes and target lines as plain lines;
//! progress on stderr):
//!
//! 1. The H2/air flame (`examples/src/flame`, bundled mechanism) from the
//!    initial state with each balancer of [`PLANNERS`] (re-planning before
//!    every balanced step; `--all-costs`: Transfer with each `--cost`
//!    instead), 2 runs per row in turn. Each run alternates unbalanced and
//!    balanced steps, so that every balanced step is timed between two
//!    unbalanced ones 0.1 s away: the speed-up is the median over the
//!    balanced steps of their neighbours' mean time over their own (a
//!    paired ratio, as in the transport benches), with its 95 % interval.
//!    Whole runs timed against each other moved by 20 % within 15 minutes
//!    on this shared machine (the unbalanced step: 126–155 ms); neighbouring
//!    steps share the machine's load. Columns: step time of
//!    the slowest rank without / with, the speed-up, the work imbalance
//!    (max/avg of the integrator steps per rank) before and after lending,
//!    the time imbalance before (max/avg of the chemistry time of each rank's
//!    own cells: the most any balancer can gain, noted when it lies below the
//!    speed-up goal) and after (max/avg of the chemistry compute time: an
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
//!    descheduled. There a waiting rank sleeps between polls (50 µs, see
//!    `flame::simulation`) so as not to take a computing rank's core, in the
//!    balanced and the unbalanced steps alike; each sleep's overshoot counts
//!    in the own time too.
//! 2. The same with GRI-Mech 3.0 (53 species, CH4/air) when Cantera's data
//!    folder is found (`python3 -c "import cantera"`), Transfer with and
//!    without dynamic sharing (`--all-costs`: Transfer with each cost),
//!    1 run; else a line saying why it is skipped.

use std::path::PathBuf;
use std::process::Command;

use clap::ValueEnum;
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use quicklb::Dynamic;
use quicklb_examples::flame::{
    self, algorithm_by_name, load_mechanism, Config, CostModel, PhaseStats, Summary,
};
use quicklb_kinetics::Mechanism;

// The paired-ratio statistics of the transport benches (`best` is theirs).
#[allow(dead_code)]
#[path = "../../crates/transport/benches/paired/mod.rs"]
mod paired;
use paired::{paired_ratio, PairedRatio};

/// The planners compared, by their `--algorithm` names, with the weights
/// each plans with; a name not in `flame::ALGORITHMS` gets a row saying so.
/// `NAME + dynamic` adds dynamic sharing within the step (`--dynamic`).
///
/// Transfer plans with the demo's default cost; DLBFoam and Sort lend light
/// cells too, so the growth the forecast adds to the lighter half already
/// travels with them and the forecast over-corrects (work imbalance after
/// at 4 ranks, replayed from the serial run's counts: 1.025 -> 1.035 for
/// both): they plan with the last step's integrator steps.
const PLANNERS: &[Balancer] = &[
    Balancer::new("transfer", DEFAULT_COST),
    Balancer::new("dlbfoam", CostModel::Steps),
    Balancer::new("sort", CostModel::Steps),
    Balancer::new("transfer + dynamic", DEFAULT_COST),
];

/// The balancers of the GRI-Mech 3.0 case: its time imbalance after
/// lending is mostly the ranks' speed on a shared machine, which dynamic
/// sharing follows within the step and no cost model can forecast.
const GRI30_PLANNERS: &[Balancer] = &[
    Balancer::new("transfer", DEFAULT_COST),
    Balancer::new("transfer + dynamic", DEFAULT_COST),
];

/// The cost the demo plans with by default.
const DEFAULT_COST: CostModel = CostModel::Forecast;

/// A balanced row: a planner and the weights it plans with.
#[derive(Clone, Copy, Debug)]
struct Balancer {
    planner: &'static str,
    cost: CostModel,
}

impl Balancer {
    const fn new(planner: &'static str, cost: CostModel) -> Self {
        Balancer { planner, cost }
    }

    /// The algorithm and whether it shares dynamically within the step.
    fn parts(&self) -> (Option<quicklb::Algorithm>, Dynamic) {
        match self.planner.strip_suffix(" + dynamic") {
            Some(planner) => (algorithm_by_name(planner), Dynamic::OnNode),
            None => (algorithm_by_name(self.planner), Dynamic::Off),
        }
    }

    /// `planner (cost)`, the cost by its `--cost` name.
    fn label(&self) -> String {
        let cost = self
            .cost
            .to_possible_value()
            .expect("every cost has a name");
        format!("{} ({})", self.planner, cost.get_name())
    }
}

/// Transfer with every cost model, for `--all-costs`.
fn transfer_with_every_cost() -> Vec<Balancer> {
    CostModel::value_variants()
        .iter()
        .map(|&cost| Balancer::new("transfer", cost))
        .collect()
}

/// One run's steps: the slowest rank's wall time of each, and which were
/// balanced; the same on every rank.
struct Run {
    summary: Summary,
    slowest: Vec<f64>,
    balanced: Vec<bool>,
}

impl Run {
    /// Each balanced step's time, paired with the time the step would have
    /// taken unbalanced: the mean of the unbalanced steps just before and
    /// after it. Neighbours 0.1 s apart see the same machine, and their mean
    /// cancels the flame's growth to first order. Steps 0 and 1 are left out
    /// (first touches, first messages).
    fn paired_steps(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        (3..self.slowest.len().saturating_sub(1))
            .filter(|&k| self.balanced[k] && !self.balanced[k - 1] && !self.balanced[k + 1])
            .map(|k| {
                let w = &self.slowest;
                ((w[k - 1] + w[k + 1]) / 2.0, w[k])
            })
    }
}

/// Runs `steps` steps from the initial state, balanced by `balancer` and
/// unbalanced in turn (even steps unbalanced).
fn simulate(
    world: &SimpleCommunicator,
    mech: &Mechanism,
    base: &Config,
    steps: usize,
    balancer: &Balancer,
) -> Run {
    let (algorithm, dynamic) = balancer.parts();
    let config = Config {
        algorithm,
        dynamic,
        cost: balancer.cost,
        compare_every: 2,
        ..base.clone()
    };
    let mut sim = flame::build(world, mech, config).expect("simulation set up");
    for _ in 0..steps {
        sim.step().expect("step");
    }
    let local: Vec<f64> = sim.records().iter().map(|r| r.wall).collect();
    let mut slowest = vec![0.0; local.len()];
    world.all_reduce_into(&local[..], &mut slowest[..], SystemOperation::max());
    Run {
        summary: sim.summary(),
        slowest,
        balanced: sim.records().iter().map(|r| r.balanced).collect(),
    }
}

/// What a row measured over its runs.
struct Measured {
    /// Step time without balancing (the unbalanced steps), s.
    without: f64,
    /// The balanced steps, averaged over the runs.
    with: PhaseStats,
    speedup: PairedRatio,
}

/// One row of the table.
struct Row {
    label: String,
    measured: Option<Measured>,
}

/// The field-by-field mean of the runs' statistics.
fn mean_stats(runs: &[PhaseStats]) -> PhaseStats {
    let k = runs.len() as f64;
    let mean = |field: fn(&PhaseStats) -> f64| runs.iter().map(field).sum::<f64>() / k;
    PhaseStats {
        steps: runs.iter().map(|p| p.steps).sum(),
        time_per_step: mean(|p| p.time_per_step),
        chemistry_per_step: mean(|p| p.chemistry_per_step),
        imbalance_before: mean(|p| p.imbalance_before),
        imbalance_after: mean(|p| p.imbalance_after),
        cells_lent: mean(|p| p.cells_lent),
        cells_taken: mean(|p| p.cells_taken),
        work: mean(|p| p.work),
        work_imbalance_before: mean(|p| p.work_imbalance_before),
        work_imbalance_after: mean(|p| p.work_imbalance_after),
        balancer_per_step: mean(|p| p.balancer_per_step),
    }
}

fn print_table(case: &str, ranks: usize, rows: &[Row]) {
    println!("| case | ranks | planner (cost) | without balancing (ms/step) | with balancing (ms/step) | speed-up | speed-up 95 % interval | work imbalance before | time imbalance before | work imbalance after | time imbalance after | balancer's own time / chemistry | cells lent/step | cells taken dynamically/step |");
    println!("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        match &r.measured {
            Some(m) => {
                let p = &m.with;
                println!(
                    "| {case} | {ranks} | {} | {:.2} | {:.2} | {:.2}x | ±{:.1} % | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} % | {:.0} | {:.0} |",
                    r.label,
                    m.without * 1e3,
                    p.time_per_step * 1e3,
                    m.speedup.median,
                    100.0 * m.speedup.half_width,
                    p.work_imbalance_before,
                    p.imbalance_before,
                    p.work_imbalance_after,
                    p.imbalance_after,
                    100.0 * p.balancer_share(),
                    p.cells_lent,
                    p.cells_taken
                )
            }
            None => println!(
                "| {case} | {ranks} | {} (not in this build) | | | | | | | | | | | |",
                r.label
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
        let Some(m) = &r.measured else { continue };
        let (p, speedup) = (&m.with, m.speedup.median);
        if ranks == 2 {
            let goal = 0.9 * p.work_imbalance_before;
            println!(
                "target ({}): speed-up at 2 ranks >= 0.9 x work imbalance before: {speedup:.2}x vs {goal:.2}x: {}",
                r.label,
                verdict(speedup >= goal)
            );
            // Perfect balance of chemistry time ends at the mean: no planner's
            // step speed-up exceeds the time imbalance before it lends.
            if p.imbalance_before < goal {
                println!(
                    "ceiling ({}): the time imbalance before lending, the most any balancer can gain, is {:.3}, below the {goal:.2}x goal: an integrator step of a cold cell costs more than one of a burning cell, so the work imbalance overstates the time to gain",
                    r.label, p.imbalance_before
                );
            }
        }
        println!(
            "target ({}): work imbalance after <= 1.03: {:.3}: {}",
            r.label,
            p.work_imbalance_after,
            verdict(p.work_imbalance_after <= 1.03)
        );
        println!(
            "target ({}): balancer's own time <= 2 % of the chemistry time: {:.2} %: {}",
            r.label,
            100.0 * p.balancer_share(),
            verdict(p.balancer_share() <= 0.02)
        );
    }
    println!();
}

/// Runs the case with each balancer, `repeats` times in turn; each run
/// alternates balanced and unbalanced steps, and a row's speed-up is the
/// median of its balanced steps' speed-ups over all its runs
/// ([`Run::paired_steps`]).
fn compare(
    world: &SimpleCommunicator,
    mech: &Mechanism,
    base: &Config,
    steps: usize,
    balancers: &[Balancer],
    repeats: usize,
    label: &str,
) -> Vec<Row> {
    let root = world.rank() == 0;
    let ranks = world.size();
    let mut runs: Vec<Vec<Run>> = balancers.iter().map(|_| Vec::new()).collect();
    for r in 0..repeats {
        if root {
            eprintln!(
                "flame bench: {label}, {n}x{n}, {steps} steps, {ranks} ranks, run {}/{repeats}",
                r + 1,
                n = base.size
            );
        }
        for (b, runs) in balancers.iter().zip(&mut runs) {
            if b.parts().0.is_some() {
                runs.push(simulate(world, mech, base, steps, b));
            }
        }
    }
    balancers
        .iter()
        .zip(runs)
        .map(|(b, runs)| Row {
            label: b.label(),
            measured: measured(&runs),
        })
        .collect()
}

/// A row's figures from its runs (`None` without runs or paired steps).
fn measured(runs: &[Run]) -> Option<Measured> {
    let without: Vec<PhaseStats> = runs.iter().filter_map(|r| r.summary.without).collect();
    let with: Vec<PhaseStats> = runs.iter().filter_map(|r| r.summary.with).collect();
    let (unbalanced, balanced): (Vec<f64>, Vec<f64>) =
        runs.iter().flat_map(Run::paired_steps).unzip();
    if with.is_empty() || without.is_empty() {
        return None;
    }
    Some(Measured {
        without: mean_stats(&without).time_per_step,
        with: mean_stats(&with),
        speedup: paired_ratio(&unbalanced, &balanced)?,
    })
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
    let all_costs = std::env::args().any(|a| a == "--all-costs");
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let ranks = world.size() as usize;
    let root = world.rank() == 0;
    let every_cost = transfer_with_every_cost();
    let estimator = "time per step of the slowest rank, balanced and unbalanced steps alternating in each run (step 0 unbalanced); without: the unbalanced steps 2.., with: the balanced steps 1..; speed-up: the median over the balanced steps 3.. of the mean of the unbalanced steps before and after over the balanced step, with the 95 % interval of that median";

    // 1. H2/air, bundled mechanism.
    let mech = Mechanism::bundled_h2_o2();
    let (size, steps, repeats) = if quick { (24, 7, 1) } else { (64, 61, 2) };
    let size = option("--size").unwrap_or(size);
    let steps = option("--steps").unwrap_or(steps);
    let base = Config {
        size,
        ..Config::new(&mech).expect("default config")
    };
    // Warm-up (page faults, caches, the first MPI messages), not measured.
    let _ = simulate(&world, &mech, &base, 2, &PLANNERS[0]);
    let balancers = if all_costs { &every_cost[..] } else { PLANNERS };
    let rows = compare(&world, &mech, &base, steps, balancers, repeats, "H2/air");
    if root {
        println!("Flame, stoichiometric H2/air (bundled mechanism), {size}x{size}, {steps} steps from the initial state, {repeats} runs per row in turn; {estimator}.");
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
            let (size, steps) = if quick { (8, 5) } else { (48, 41) };
            let mut base = Config {
                size,
                ..Config::new(&mech).expect("a config")
            };
            base.physics.mass_fractions =
                flame::mixture_mass_fractions(&mech, "CH4:1, O2:2, N2:7.52")
                    .expect("CH4/air in gri30");
            base.physics.kernel_temperature = 2000.0;
            let balancers = if all_costs {
                &every_cost[..]
            } else {
                GRI30_PLANNERS
            };
            let rows = compare(&world, &mech, &base, steps, balancers, 1, "gri30");
            if root {
                println!("Flame, stoichiometric CH4/air (GRI-Mech 3.0 from {}, 53 species), {size}x{size}, {steps} steps, kernels at 2000 K, 1 run per row; {estimator}.", path.display());
                println!();
                print_table(&format!("CH4/air gri30 {size}x{size}"), ranks, &rows);
                print_targets(ranks, &rows);
            }
        }
    }
}
