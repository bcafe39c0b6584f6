//! Balance quality and overhead of the `LoadBalancer`, under `mpiexec -n 4`.
//!
//! ```sh
//! cargo bench -p quicklb --no-run        # prints the binary's path
//! OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
//! OMPI_MCA_rmaps_base_oversubscribe=1 \
//!   mpiexec -n 4 target/release/deps/balance-<hash> [--quick] [--steps N]
//! ```
//!
//! Workloads whose cells *sleep* for their weight (sleep uses no CPU, so 4 ranks
//! on 2 cores still measure balance honestly), re-partition every step:
//! - hotspot: 64 cells per rank of 1 ms, rank 0's of 4 ms;
//! - lognormal: 64 cells per rank, LogNormal(0, 1) ms, fixed seed;
//! - coarse: 16 cells per rank, LogNormal(0, 1.5) ms, fixed seed.
//!
//! Per algorithm (and Off = no balancing): median step time (barrier to
//! barrier, partition included), the ideal (measured compute time of all cells
//! in the step / ranks), efficiency = ideal / step, the step over the lower
//! bound `max(w_max, W/p)` of the same step, the planned maximum load over
//! that bound (from the weights the plan was made with: the planner's quality
//! without timing noise), and the cells lent per step.
//! Then the overhead of `iterate()` over a plain loop when nothing is lent
//! (CPU-bound cells, best of many alternating runs).

use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::traits::*;
use quicklb::{Algorithm, Dynamic, LoadBalancer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

struct Workload {
    name: &'static str,
    /// Milliseconds per local cell.
    cells: Vec<f64>,
}

fn workloads(rank: usize) -> Vec<Workload> {
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
            cells: vec![hot; 64],
        },
        Workload {
            name: "lognormal",
            cells: lognormal,
        },
        Workload {
            name: "coarse",
            cells: coarse,
        },
    ]
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
    /// Cells taken dynamically per step (all ranks) and claims per step.
    taken: f64,
    claims: f64,
}

fn run(
    world: &impl Communicator,
    algorithm: Algorithm,
    dynamic: Dynamic,
    w: &Workload,
    steps: usize,
    verbose: bool,
) -> Row {
    let p = world.size() as f64;
    let n = w.cells.len();
    // cell = its sleep time in seconds
    let mut cells: Vec<f64> = w.cells.iter().map(|ms| ms * 1e-3).collect();
    let poll = std::env::var("QUICKLB_BENCH_POLL_US")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_micros);
    let smoothing = std::env::var("QUICKLB_BENCH_SMOOTHING")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.0);
    let mut lb = LoadBalancer::<f64>::builder(world, n)
        .algorithm(algorithm)
        .wait_poll(poll)
        .smoothing(smoothing)
        .dynamic(dynamic)
        .build()
        .expect("build");
    let (mut t_step, mut t_ideal, mut ratio, mut lent) = (vec![], vec![], vec![], vec![]);
    let mut planned = vec![];
    let (mut taken, mut claims) = (vec![], vec![]);
    for _ in 0..steps {
        world.barrier();
        let t0 = Instant::now();
        lb.partition().expect("partition");
        lb.iterate(&mut cells[..], |c| {
            std::thread::sleep(Duration::from_secs_f64(*c))
        })
        .expect("iterate");
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
    if verbose {
        let report = lb.report().expect("report");
        if world.rank() == 0 {
            println!("\n{} / {}, last step:\n{report}", w.name, algorithm.name());
        }
    }
    Row {
        planned: median(&mut planned),
        step: median(&mut t_step),
        ideal: median(&mut t_ideal),
        bound_ratio: median(&mut ratio),
        lent: median(&mut lent),
        taken: median(&mut taken),
        claims: median(&mut claims),
    }
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
        .unwrap_or(if quick { 6 } else { 30 });

    if rank == 0 {
        println!(
            "## quicklb LoadBalancer: sleep workloads, {} ranks, {steps} steps, re-partition every step\n",
            world.size()
        );
        println!("| workload | algorithm | median step (ms) | ideal (ms) | efficiency | step / lower bound | planned max / lower bound | cells lent |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
    }
    // Dynamic sharing (on one node) after the planned loans, and alone.
    let dynamic_modes = [
        (Algorithm::transfer(), "Transfer + dynamic"),
        (Algorithm::Off, "dynamic only"),
    ];
    let mut traffic = Vec::new();
    for w in workloads(rank) {
        let modes = Algorithm::all()
            .into_iter()
            .map(|a| {
                (
                    a,
                    Dynamic::Off,
                    if a == Algorithm::Off {
                        "none"
                    } else {
                        a.name()
                    },
                )
            })
            .chain(
                dynamic_modes
                    .iter()
                    .map(|&(a, name)| (a, Dynamic::OnNode, name)),
            );
        for (algorithm, dynamic, name) in modes {
            let row = run(&world, algorithm, dynamic, &w, steps, verbose);
            if dynamic != Dynamic::Off {
                traffic.push((w.name, name, row.taken, row.claims));
            }
            if rank == 0 {
                println!(
                    "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.3} | {:.0} |",
                    w.name,
                    name,
                    row.step * 1e3,
                    row.ideal * 1e3,
                    row.ideal / row.step,
                    row.bound_ratio,
                    row.planned,
                    row.lent
                );
            }
        }
    }

    if rank == 0 {
        println!();
        println!("| dynamic sharing (median per step, all ranks) | mode | cells taken dynamically | claims |");
        println!("|---|---|---:|---:|");
        for (workload, name, taken, claims) in &traffic {
            println!("| {workload} | {name} | {taken:.0} | {claims:.0} |");
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
    }

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
    }
}
