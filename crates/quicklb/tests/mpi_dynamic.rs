//! Dynamic sharing within a step (`Builder::dynamic(Dynamic::OnNode)`), on
//! every rank count:
//!
//! - **exactly once, bitwise equal**: cells with random per-cell costs (a few
//!   hundred µs of sleep in some cells, random cell counts, the last rank with
//!   zero cells) are computed K times with Off and Transfer planners plus
//!   dynamic sharing; every cell's counter is K and its value bitwise the one
//!   of a plain loop; cells were shared when p > 1 (given = taken over the job);
//! - **costs feed the plan**: after the first step no weight is the initial
//!   1 s any more (the thieves' measured costs came back) and every rank's
//!   weights add up to at least its cells' sleep;
//! - **all cells on one rank**, through `Fields`;
//! - **a caught panic** in a stolen or own cell (`abort_on_panic(false)`): the
//!   step ends everywhere and every rank gets `ComputePanicked` at the next
//!   `partition()`, nothing hangs;
//! - with one rank (the harness's `--ranks 1` run), the program also starts
//!   itself as a 3-rank child job (`mpiexec -n 3`, or `$QUICKLB_MPIEXEC`) in
//!   which a rank panics while the others take its cells, with the default
//!   `abort_on_panic(true)`: the child job must fail within seconds with the
//!   panic's message (no rank waits for ever on a completion count).

mod child_job;

use std::time::Duration;

use mpi::collective::SystemOperation;
use mpi::traits::*;
use quicklb::{Algorithm, Dynamic, Error, Fields, LoadBalancer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CHILD: &str = "QUICKLB_DYNAMIC_CHILD";
/// A cell: value (f64 bits), compute count, sleep in µs, poison marker.
type Cell = [u64; 4];
const POISON: u64 = 0xdead;

fn compute(c: &mut Cell) {
    if c[3] == POISON {
        panic!("poisoned cell computed");
    }
    if c[2] > 0 {
        std::thread::sleep(Duration::from_micros(c[2]));
    }
    let mut x = f64::from_bits(c[0]);
    for _ in 0..40 {
        x = (x * 1.618 + 0.5).sin() * 3.0 + x * 0.25;
    }
    c[0] = x.to_bits();
    c[1] += 1;
}

fn cells_of(rank: usize, size: usize, seed: u64) -> Vec<Cell> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed + rank as u64);
    let n = if size > 1 && rank == size - 1 {
        0
    } else if rank == 0 {
        rng.gen_range(30..50)
    } else {
        rng.gen_range(0..20)
    };
    (0..n)
        .map(|i| {
            let sleep = if rank == 0 || rng.gen_bool(0.3) {
                rng.gen_range(100..600)
            } else {
                0
            };
            [((rank * 1000 + i) as f64 * 0.01).to_bits(), 0, sleep, 0]
        })
        .collect()
}

fn sum_over(world: &impl Communicator, x: u64) -> u64 {
    let mut total = 0u64;
    world.all_reduce_into(&x, &mut total, SystemOperation::sum());
    total
}

/// K steps with `algorithm` + dynamic sharing; checks exactly once, bitwise
/// equality with a plain loop, the measured costs, and returns the cells
/// given over the job (all ranks).
fn exactly_once(world: &impl Communicator, algorithm: Algorithm, seed: u64) -> u64 {
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let mut cells = cells_of(rank, size, seed);
    let mut reference = cells.clone();
    let steps = 4;
    for _ in 0..steps {
        for c in reference.iter_mut() {
            compute(c);
        }
    }
    let sleep: f64 = cells.iter().map(|c| c[2] as f64 * 1e-6).sum();
    let mut lb = LoadBalancer::<Cell>::builder(world, cells.len())
        .algorithm(algorithm)
        .dynamic(Dynamic::OnNode)
        .weights(vec![1.0; cells.len()])
        .build()
        .expect("build");
    let (mut given, mut taken, mut claims) = (0u64, 0u64, 0u64);
    for step in 0..steps {
        lb.partition().expect("partition");
        lb.iterate(&mut cells[..], compute).expect("iterate");
        let s = lb.last_step();
        given += s.cells_given as u64;
        taken += s.cells_taken as u64;
        claims += s.claims as u64;
        if step == 0 {
            assert!(
                lb.weights().iter().all(|&w| w < 0.5),
                "rank {rank}: a weight was not measured: {:?}",
                lb.weights()
            );
        }
        let measured: f64 = lb.weights().iter().sum();
        assert!(
            measured >= sleep * 0.999,
            "rank {rank}: weights add up to {measured} s, the cells sleep {sleep} s"
        );
    }
    for (i, (c, r)) in cells.iter().zip(&reference).enumerate() {
        assert_eq!(c[1], steps, "rank {rank} cell {i} computed {} times", c[1]);
        assert_eq!(c[0], r[0], "rank {rank} cell {i}: not bitwise equal");
    }
    let (given, taken) = (sum_over(world, given), sum_over(world, taken));
    assert_eq!(given, taken, "cells given and taken differ");
    let claims = sum_over(world, claims);
    let total = sum_over(world, cells.len() as u64);
    assert!(claims >= 1 || total == 0, "no claim at all");
    lb.report().expect("report");
    given
}

/// All cells on rank 0, in two fields, Off + dynamic: the others take them.
fn all_on_one(world: &impl Communicator) -> u64 {
    let rank = world.rank() as usize;
    let n = if rank == 0 { 40 } else { 0 };
    let mut value: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut sleep: Vec<f64> = vec![300e-6; n];
    let reference: Vec<f64> = value.iter().map(|&v| (v * 0.5).cos()).collect();
    let mut lb = LoadBalancer::<[f64; 2]>::builder(world, n)
        .algorithm(Algorithm::Off)
        .dynamic(Dynamic::OnNode)
        .build()
        .expect("build");
    lb.iterate(&mut Fields::new([&mut value[..], &mut sleep[..]]), |c| {
        std::thread::sleep(Duration::from_secs_f64(c[1]));
        c[0] = (c[0] * 0.5).cos();
    })
    .expect("iterate");
    assert_eq!(value, reference, "rank {rank}: results differ");
    let given = sum_over(world, lb.last_step().cells_given as u64);
    let taken = sum_over(world, lb.last_step().cells_taken as u64);
    assert_eq!(given, taken);
    given
}

/// A poisoned cell on rank 0 among slow ones, caught panics: every rank gets
/// the same error at the next collective and nothing hangs.
fn caught_panic(world: &impl Communicator) {
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let n = if rank == 0 { 24 } else { 2 };
    let mut cells: Vec<Cell> = (0..n).map(|_| [0, 0, 2000, 0]).collect();
    if rank == 0 {
        cells[n - 1][3] = POISON;
    }
    let mut lb = LoadBalancer::<Cell>::builder(world, n)
        .algorithm(Algorithm::Off)
        .dynamic(Dynamic::OnNode)
        .abort_on_panic(false)
        .build()
        .expect("build");
    let local = lb.iterate(&mut cells[..], compute);
    if let Err(e) = &local {
        assert!(matches!(e, Error::ComputePanicked { .. }), "{e}");
    }
    let panicked = sum_over(world, u64::from(local.is_err()));
    assert_eq!(panicked, 1, "exactly one rank computed the poisoned cell");
    match lb.partition() {
        Err(Error::ComputePanicked { message, .. }) => {
            assert!(message.contains("poisoned"), "{message}")
        }
        other => panic!("rank {rank} of {size}: expected ComputePanicked, got {other:?}"),
    }
    // The balancer keeps working.
    for c in cells.iter_mut() {
        c[3] = 0;
    }
    lb.iterate(&mut cells[..], compute).expect("iterate after");
}

fn child(world: &impl Communicator) {
    // Rank 0's slow cells are taken by ranks 1 and 2; the cell computed at
    // about the middle of the step panics on whoever computes it.
    let rank = world.rank() as usize;
    let n = if rank == 0 { 30 } else { 0 };
    let mut cells: Vec<Cell> = (0..n).map(|_| [0, 0, 20_000, 0]).collect();
    if rank == 0 {
        cells[15][3] = POISON;
    }
    let mut lb = LoadBalancer::<Cell>::builder(world, n)
        .algorithm(Algorithm::Off)
        .dynamic(Dynamic::OnNode)
        .build()
        .expect("build");
    for _ in 0..3 {
        lb.iterate(&mut cells[..], compute).expect("iterate");
    }
    eprintln!("dynamic child: the step returned on rank {rank}");
}

fn parent() {
    let job = child_job::run(CHILD, 3, Duration::from_secs(90));
    let (text, elapsed) = (&job.text, job.elapsed);
    assert!(!job.success, "the child job succeeded:\n{text}");
    assert!(
        text.contains("poisoned cell computed"),
        "no panic message:\n{text}"
    );
    assert!(!text.contains("the step returned"), "{text}");
    assert!(
        elapsed < Duration::from_secs(40),
        "the child job took {elapsed:?}"
    );
    println!("mpi_dynamic: the child job aborted after {elapsed:.2?}");
}

fn main() {
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    if std::env::var_os(CHILD).is_some() {
        quicklb_transport::abort_on_panic();
        child(&world);
        return;
    }
    // First, before any hook aborts on panics (a balancer built with the
    // default abort_on_panic(true) installs it for the process).
    caught_panic(&world);
    quicklb_transport::abort_on_panic();
    let size = world.size();
    let off = exactly_once(&world, Algorithm::Off, 7);
    let transfer = exactly_once(&world, Algorithm::transfer(), 11);
    if size > 1 {
        assert!(off > 0, "nothing was shared without a plan");
    }
    let one = all_on_one(&world);
    if size > 1 {
        assert!(one > 0, "nobody took cells of the only busy rank");
    }
    if size == 1 {
        parent();
    }
    if world.rank() == 0 {
        println!(
            "mpi_dynamic: ok on {size} ranks (cells shared: {off} without a plan, {transfer} \
             after Transfer's loans, {one} from one busy rank)"
        );
    }
}
