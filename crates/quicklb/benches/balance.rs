//! Balance quality and overhead of the `LoadBalancer`, under `mpiexec -n 4`
//! (and `-n 2`).
//!
//! ```sh
//! cargo bench -p quicklb --no-run        # prints the binary's path
//! OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
//! OMPI_MCA_rmaps_base_oversubscribe=1 \
//!   mpiexec -n 4 target/release/deps/balance-<hash> [--quick] [--steps N]
//! ```
//!
//! Workloads whose cells *sleep* for their cost (sleep uses no CPU, so 4 ranks
//! on 2 cores still measure balance honestly); a cell carries its cost, so it
//! costs the same on whichever rank computes it. Steady costs:
//! - hotspot: 64 cells per rank of 1 ms, rank 0's of 4 ms;
//! - lognormal: 64 cells per rank, LogNormal(0, 1) ms, fixed seed;
//! - coarse: 16 cells per rank, LogNormal(0, 1.5) ms, fixed seed;
//!
//! and costs that change:
//! - shuffle: 64 cells per rank, every cost redrawn each step from
//!   LogNormal(0, 1) ms (seeded by step and rank: the same in every row);
//! - moving: hotspot's 4 ms cells move to the next rank every 5 steps;
//! - burst: 64 cells per rank of 1 ms; from a third of the run on, 10 % of
//!   rank 0's cells cost 20 ms.
//!
//! Rows (table-driven, [`modes`]): no balancing; Transfer re-planned by
//! `iterate` every 1, 5, 10 and 50 steps (`Replan::Every`) and by the automatic
//! policy (`Replan::auto()`); on the steady workloads also QUICKLB's and
//! DLBFoam's planners with a `partition()` before every step (at 4 ranks or
//! more). 25 measured steps (6 with `--quick`); each row runs one unmeasured
//! step, plans from its costs (all rows but no balancing), then the measured
//! steps. The whole balancer group (4 and 2 ranks) takes about 6 minutes: 84
//! rows of 26 steps of 60-280 ms, plus the overhead rows.
//!
//! Columns: median step time (barrier to barrier, planning included), the ideal
//! (measured compute time of all cells in the step / ranks), efficiency = ideal
//! / step, the step over the lower bound `max(w_max, W/p)` of the same step, the
//! planned maximum load over that bound (from the weights the plan in use was
//! made with: the planner's quality without timing noise), the cells lent per
//! step, and the plans made during the measured steps.
//! Then the overhead of `iterate()` over a plain loop when nothing is lent
//! (CPU-bound cells, best of many alternating runs).

use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::traits::*;
use quicklb::{Algorithm, Dynamic, LoadBalancer, Replan};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

/// How the costs of a workload behave over the steps.
enum Costs {
    /// The same every step (milliseconds per local cell).
    Steady(Vec<f64>),
    /// 64 cells, LogNormal(0, 1) ms redrawn every step.
    Shuffle,
    /// 64 cells of 1 ms; those of rank `(step / 5) % p` cost 4 ms.
    Moving,
    /// 64 cells of 1 ms; from step `at` on, rank 0's first 10 % cost 20 ms.
    Burst { at: usize },
}

struct Workload {
    name: &'static str,
    costs: Costs,
}

impl Workload {
    fn steady(&self) -> bool {
        matches!(self.costs, Costs::Steady(_))
    }

    /// Milliseconds per local cell in step `step` (0 is the unmeasured first
    /// step).
    fn costs(&self, step: usize, rank: usize, size: usize) -> Vec<f64> {
        match &self.costs {
            Costs::Steady(ms) => ms.clone(),
            Costs::Shuffle => {
                let seed = 7_000_003 * step as u64 + rank as u64;
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let ln = LogNormal::new(0.0, 1.0).expect("valid");
                (0..64).map(|_| ln.sample(&mut rng)).collect()
            }
            Costs::Moving => {
                let hot = (step / 5) % size;
                vec![if rank == hot { 4.0 } else { 1.0 }; 64]
            }
            Costs::Burst { at } => {
                let mut ms = vec![1.0; 64];
                if rank == 0 && step >= *at {
                    for c in &mut ms[..64 / 10] {
                        *c = 20.0;
                    }
                }
                ms
            }
        }
    }
}

fn workloads(rank: usize, steps: usize) -> Vec<Workload> {
    let hot = if rank == 0 { 4.0 } else { 1.0 };
    let mut rng = ChaCha8Rng::seed_from_u64(2024 + rank as u64);
    let ln1 = LogNormal::new(0.0, 1.0).expect("valid");
    let lognormal: Vec<f64> = (0..64).map(|_| ln1.sample(&mut rng)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(4048 + rank as u64);
    let ln15 = LogNormal::new(0.0, 1.5).expect("valid");
    let coarse: Vec<f64> = (0..16).map(|_| ln15.sample(&mut rng)).collect();
    vec![
        Workload {
            name: "hotspot",
            costs: Costs::Steady(vec![hot; 64]),
        },
        Workload {
            name: "lognormal",
            costs: Costs::Steady(lognormal),
        },
        Workload {
            name: "coarse",
            costs: Costs::Steady(coarse),
        },
        Workload {
            name: "shuffle",
            costs: Costs::Shuffle,
        },
        Workload {
            name: "moving",
            costs: Costs::Moving,
        },
        Workload {
            name: "burst",
            costs: Costs::Burst { at: 1 + steps / 3 },
        },
    ]
}

/// How a row balances. A new balancing mode is one more variant here, its
/// builder options in [`run`], and its rows in [`modes`].
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `Algorithm::Off`.
    Unbalanced,
    /// A planner, with the caller's `partition()` before every step.
    Planned(Algorithm),
    /// Transfer, re-planned by `iterate` itself.
    Replanned(Replan),
}

/// The rows of a workload on `size` ranks: (label, mode, dynamic sharing).
fn modes(w: &Workload, size: usize) -> Vec<(String, Mode, Dynamic)> {
    let mut rows = vec![("none".to_string(), Mode::Unbalanced, Dynamic::Off)];
    for every in [1, 5, 10, 50] {
        rows.push((
            format!("Transfer, every {every}"),
            Mode::Replanned(Replan::Every(every)),
            Dynamic::Off,
        ));
    }
    rows.push((
        "Transfer, auto".to_string(),
        Mode::Replanned(Replan::auto()),
        Dynamic::Off,
    ));
    // Dynamic sharing (on one node) after the planned loans, and alone.
    rows.push((
        "Transfer, auto + dynamic".to_string(),
        Mode::Replanned(Replan::auto()),
        Dynamic::OnNode,
    ));
    rows.push((
        "dynamic only".to_string(),
        Mode::Unbalanced,
        Dynamic::OnNode,
    ));
    // The other planners on the steady workloads, at 4 ranks or more only: the
    // whole group (both rank counts) must run within 8 minutes.
    if w.steady() && size >= 4 {
        for algorithm in Algorithm::all() {
            if !matches!(algorithm, Algorithm::Off | Algorithm::Transfer(_)) {
                rows.push((
                    format!("{}, every 1", algorithm.name()),
                    Mode::Planned(algorithm),
                    Dynamic::Off,
                ));
            }
        }
    }
    rows
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

struct Row {
    /// Planned maximum load over the lower bound, from the weights the plan
    /// was made with (the planner's quality, free of timing noise).
    planned: f64,
    step: f64,
    ideal: f64,
    bound_ratio: f64,
    lent: f64,
    /// Plans made during the measured steps.
    plans: u64,
    /// Cells taken dynamically per step (all ranks) and claims per step.
    taken: f64,
    claims: f64,
}

fn run(
    world: &impl Communicator,
    (mode, dynamic): (Mode, Dynamic),
    w: &Workload,
    steps: usize,
    verbose: bool,
) -> Row {
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let p = size as f64;
    let mut cells: Vec<f64> = w.costs(0, rank, size);
    let n = cells.len();
    let poll = std::env::var("QUICKLB_BENCH_POLL_US")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_micros);
    let smoothing = std::env::var("QUICKLB_BENCH_SMOOTHING")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.0);
    let (algorithm, replan) = match mode {
        Mode::Unbalanced => (Algorithm::Off, Replan::Manual),
        Mode::Planned(a) => (a, Replan::Manual),
        Mode::Replanned(r) => (Algorithm::transfer(), r),
    };
    let mut lb = LoadBalancer::<f64>::builder(world, n)
        .algorithm(algorithm)
        .replan(replan)
        .wait_poll(poll)
        .smoothing(smoothing)
        .dynamic(dynamic)
        .build()
        .expect("build");
    // cell = its sleep time in seconds
    let set_costs = |cells: &mut [f64], step: usize| {
        for (c, ms) in cells.iter_mut().zip(w.costs(step, rank, size)) {
            *c = ms * 1e-3;
        }
    };
    let sleep = |c: &mut f64| std::thread::sleep(Duration::from_secs_f64(*c));
    // One unmeasured step, then a plan from its costs.
    set_costs(&mut cells, 0);
    lb.iterate(&mut cells[..], sleep).expect("iterate");
    if !matches!(mode, Mode::Unbalanced) {
        lb.partition().expect("partition");
    }
    let plans_before = lb.replan_stats().automatic();
    let (mut t_step, mut t_ideal, mut ratio, mut lent) = (vec![], vec![], vec![], vec![]);
    let mut planned = vec![];
    let (mut taken, mut claims) = (vec![], vec![]);
    for step in 1..=steps {
        set_costs(&mut cells, step);
        world.barrier();
        let t0 = Instant::now();
        if let Mode::Planned(_) = mode {
            lb.partition().expect("partition");
        }
        lb.iterate(&mut cells[..], sleep).expect("iterate");
        world.barrier();
        let mine = t0.elapsed().as_secs_f64();
        let report = lb.report().expect("report");
        let max_planned = report
            .ranks
            .iter()
            .fold(0.0f64, |m, r| m.max(r.load_planned));
        if report.lower_bound > 0.0 {
            planned.push(max_planned / report.lower_bound);
        }
        let mut step = 0.0;
        world.all_reduce_into(&mine, &mut step, SystemOperation::max());
        let mut busy = 0.0;
        world.all_reduce_into(&lb.last_step().busy(), &mut busy, SystemOperation::sum());
        let cell_max = lb.weights().iter().fold(0.0f64, |m, &x| m.max(x));
        let mut w_max = 0.0;
        world.all_reduce_into(&cell_max, &mut w_max, SystemOperation::max());
        let mut n_lent = 0u64;
        world.all_reduce_into(&(lb.num_lent() as u64), &mut n_lent, SystemOperation::sum());
        t_step.push(step);
        t_ideal.push(busy / p);
        ratio.push(step / (busy / p).max(w_max));
        lent.push(n_lent as f64);
        let s = lb.last_step();
        taken.push(sum_u64(world, s.cells_taken as u64) as f64);
        claims.push(sum_u64(world, s.claims as u64) as f64);
    }
    let plans = match mode {
        Mode::Unbalanced => 0,
        Mode::Planned(_) => steps as u64,
        Mode::Replanned(_) => lb.replan_stats().automatic() - plans_before,
    };
    if verbose {
        let report = lb.report().expect("report");
        if world.rank() == 0 {
            println!(
                "\n{} / {:?}, last step:\n{report}\n{}",
                w.name,
                mode,
                lb.replan_stats()
            );
        }
    }
    Row {
        planned: median(&mut planned),
        step: median(&mut t_step),
        ideal: median(&mut t_ideal),
        bound_ratio: median(&mut ratio),
        lent: median(&mut lent),
        plans,
        taken: median(&mut taken),
        claims: median(&mut claims),
    }
}

/// The adaptive-balancing targets of one workload, from its rows (label,
/// median step, efficiency), as lines marked met or NOT met.
fn targets(workload: &str, steady: bool, rows: &[(String, f64, f64)]) -> Vec<String> {
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let find = |label: &str| rows.iter().find(|r| r.0 == label);
    let adaptive = |r: &&(String, f64, f64)| r.0.contains("auto") || r.0.contains("dynamic");
    let mut lines = Vec::new();
    if let Some(best) = rows
        .iter()
        .filter(adaptive)
        .max_by(|a, b| a.2.total_cmp(&b.2))
    {
        lines.push(format!(
            "target ({workload}): efficiency >= 0.95 with an adaptive mode: {:.3} ({}): {}",
            best.2,
            best.0,
            verdict(best.2 >= 0.95)
        ));
        if let (true, Some(planned)) = (steady, find("Transfer, every 1")) {
            let ratio = best.1 / planned.1;
            lines.push(format!(
                "target ({workload}): {} no more than 1 % slower than planned Transfer: {ratio:.3}: {}",
                best.0,
                verdict(ratio <= 1.01)
            ));
        }
    }
    let fixed = rows
        .iter()
        .filter(|r| r.0.starts_with("Transfer, every"))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some(auto), Some(fixed)) = (find("Transfer, auto"), fixed) {
        let ratio = auto.1 / fixed.1;
        lines.push(format!(
            "target ({workload}): auto within 2 % of the best fixed period ({}): {ratio:.3}: {}",
            fixed.0,
            verdict(ratio <= 1.02)
        ));
    }
    lines
}

fn sum_u64(world: &impl Communicator, x: u64) -> u64 {
    let mut total = 0u64;
    world.all_reduce_into(&x, &mut total, SystemOperation::sum());
    total
}

/// A CPU-bound cell: implicit Euler steps of the Gray-Scott reaction (a small
/// stiff ODE), about a microsecond.
fn ode(c: &mut [f64; 2]) {
    let [mut a, mut b] = *c;
    for _ in 0..40 {
        let ab2 = a * b * b;
        a = (a + 0.1 * (0.037 + ab2)) / (1.0 + 0.1 * (0.037 + 2.0 * b * b));
        b = (b + 0.1 * ab2) / (1.0 + 0.1 * (0.097 + a * b));
    }
    *c = [a, b];
}

/// Overhead of `iterate` (Off: nothing lent) over a plain loop, on each rank;
/// returns (plain seconds, iterate seconds) per step, best of `reps`. With
/// `sync`, both are timed barrier to barrier on `world` (a step as the balance
/// table measures it); otherwise each rank times itself.
fn overhead(
    world: &impl Communicator,
    comm: &impl Communicator,
    reps: usize,
    sync: bool,
    check_counts: bool,
    poll: Option<Duration>,
) -> (f64, f64) {
    let n = 4_000;
    let mut cells = vec![[0.5f64, 0.25]; n];
    let mut lb = LoadBalancer::<[f64; 2]>::builder(comm, n)
        .algorithm(Algorithm::Off)
        .check_counts(check_counts)
        .wait_poll(poll)
        .build()
        .expect("build");
    lb.partition().expect("partition");
    let (mut plain, mut lbt) = (f64::INFINITY, f64::INFINITY);
    let end = |t: Instant| {
        if sync {
            world.barrier();
        }
        t.elapsed().as_secs_f64()
    };
    for _ in 0..reps {
        world.barrier();
        let t = Instant::now();
        for c in cells.iter_mut() {
            ode(c);
        }
        plain = plain.min(end(t));
        world.barrier();
        let t = Instant::now();
        lb.iterate(&mut cells[..], ode).expect("iterate");
        lbt = lbt.min(end(t));
    }
    std::hint::black_box(&cells);
    (plain, lbt)
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let rank = world.rank() as usize;
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let verbose = args.iter().any(|a| a == "--verbose");
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 6 } else { 25 });

    if rank == 0 {
        println!(
            "## quicklb LoadBalancer: sleep workloads, {} ranks, {steps} measured steps after one to plan from\n",
            world.size()
        );
        println!("| workload | mode | median step (ms) | ideal (ms) | efficiency | step / lower bound | planned max / lower bound | cells lent | plans |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    }
    let mut traffic = Vec::new();
    let mut verdicts = Vec::new();
    for w in workloads(rank, steps) {
        let mut results: Vec<(String, f64, f64)> = Vec::new();
        for (label, mode, dynamic) in modes(&w, world.size() as usize) {
            let row = run(&world, (mode, dynamic), &w, steps, verbose);
            if dynamic != Dynamic::Off {
                traffic.push((w.name, label.clone(), row.taken, row.claims));
            }
            results.push((label.clone(), row.step, row.ideal / row.step));
            if rank == 0 {
                println!(
                    "| {} | {label} | {:.2} | {:.2} | {:.3} | {:.3} | {:.3} | {:.0} | {} |",
                    w.name,
                    row.step * 1e3,
                    row.ideal * 1e3,
                    row.ideal / row.step,
                    row.bound_ratio,
                    row.planned,
                    row.lent,
                    row.plans
                );
            }
        }
        verdicts.extend(targets(w.name, w.steady(), &results));
    }

    if rank == 0 {
        println!();
        for line in &verdicts {
            println!("{line}");
        }
        println!();
        println!("| dynamic sharing (median per step, all ranks) | mode | cells taken dynamically | claims |");
        println!("|---|---|---:|---:|");
        for (workload, label, taken, claims) in &traffic {
            println!("| {workload} | {label} | {taken:.0} | {claims:.0} |");
        }
    }

    // The planning part of partition() at p = 1024, in one process (rank 0):
    // the hot rank (all 10^6 cells of the job), a helper, and the facade's
    // own work on both.
    if rank == 0 {
        let p = 1024;
        let n = if quick { 100_000 } else { 1_000_000 };
        let own: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 * 0.25).collect();
        let mut loads = vec![0.0; p];
        loads[0] = quicklb::partition::rank_load(&own);
        let nodes = quicklb::partition::NodeMap::blocks(p, 32);
        let best = |f: &dyn Fn() -> usize| {
            (0..if quick { 3 } else { 7 })
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(f());
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        };
        let hot = best(&|| {
            quicklb::dry_run(&Algorithm::transfer(), 0, &own, &loads, None, &nodes)
                .expect("plan")
                .exports
                .len()
        });
        let helper = best(&|| {
            quicklb::dry_run(&Algorithm::transfer(), 7, &[], &loads, None, &nodes)
                .expect("plan")
                .owners
                .len()
        });
        println!();
        println!("| planning at p = {p} in one process (Transfer: plan + the facade's work, best of runs) | ms |");
        println!("|---|---:|");
        println!(
            "| the hot rank ({n} cells, lends to {} helpers) | {:.2} |",
            p - 1,
            hot * 1e3
        );
        println!("| a helper (0 cells) | {:.3} |", helper * 1e3);
        println!(
            "\ntarget: planning at p = {p}, the hot rank, < 50 ms: {:.1} ms: {}\n",
            hot * 1e3,
            if hot < 0.050 { "met" } else { "NOT met" }
        );
    }
    // The other ranks sleep (not spin in a collective) while rank 0 plans:
    // with more ranks than cores, spinning ranks would take its core.
    quicklb_transport::sleeping_barrier(&world, Duration::from_millis(5));

    // Each rank alone (its own communicator: the local cost of iterate), then
    // on all ranks with the default count check (local, agreed at the next
    // collective: no message per step), then without it. Each rank times itself.
    let own = world.split_by_color(mpi::topology::Color::with_value(world.rank()));
    let own = own.expect("every rank gets a communicator");
    let reps = if quick { 15 } else { 60 };
    if rank == 0 {
        println!();
        println!("| overhead when nothing is lent (4 000 cells of a ~1 µs stiff ODE per rank, best of {reps}, mean over ranks) | plain loop (ms) | iterate (ms) | overhead |");
        println!("|---|---:|---:|---:|");
    }
    let cases = [
        ("each rank alone (its own communicator)", true, true, None),
        ("all ranks, count check on (default)", false, true, None),
        ("all ranks, `check_counts(false)`", false, false, None),
    ];
    let mut overheads = Vec::new();
    for (what, alone, check, poll) in cases {
        let (plain, lbt) = if alone {
            overhead(&world, &own, reps, false, check, poll)
        } else {
            overhead(&world, &world, reps, false, check, poll)
        };
        let mut all_plain = 0.0;
        let mut all_lb = 0.0;
        world.all_reduce_into(&plain, &mut all_plain, SystemOperation::sum());
        world.all_reduce_into(&lbt, &mut all_lb, SystemOperation::sum());
        if rank == 0 {
            let p = world.size() as f64;
            println!(
                "| iterate() vs `for c in cells {{ f(c) }}`, {what} | {:.3} | {:.3} | {:+.2}% |",
                all_plain / p * 1e3,
                all_lb / p * 1e3,
                (all_lb / all_plain - 1.0) * 100.0
            );
        }
        overheads.push(all_lb / all_plain - 1.0);
    }
    if rank == 0 {
        // [alone, all ranks with the check, all ranks without it]
        let extra = overheads[1] - overheads[2];
        println!(
            "\ntarget: the default count check within 1 % of `check_counts(false)`: {:+.2} points: {}",
            100.0 * extra,
            if extra <= 0.01 { "met" } else { "NOT met" }
        );
    }
}
