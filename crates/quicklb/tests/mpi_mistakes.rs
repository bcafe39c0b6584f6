//! A user's mistakes end in the same error on every rank, never in a hang or a
//! silent wrong result (issue 12's table, the balancer's rows):
//! - a panic in `compute` with `abort_on_panic(false)` and `check_counts(false)`,
//!   on an owner's own cell and on a helper's borrowed cell: that rank returns
//!   `ComputePanicked`, every rank at the next `partition()`; no hang, no abort;
//! - ranks built with different algorithms, parameters or node maps:
//!   `ConfigMismatch` on every rank at `build`;
//! - a parameter bad on one rank only: `Config` on every rank at `build`;
//! - `max_it(0)`, `max_abs_li(-1)`, a NaN Transfer tolerance (at any rank count,
//!   1 included), `timing_block(-1)`, `smoothing(2)`, Transfer with `max_rel_li`:
//!   errors, nothing clamped;
//! - cells of 16 MiB lent and computed (no cell on the stack);
//! - no collective per step: ranks may call `iterate` different numbers of
//!   times; a wrong count is agreed at the next `report()`;
//! - one lending pair above the MPI count limit (2^31 bytes): `OnRank` with the
//!   transport's reason on every rank at `partition()`, nothing allocated.

use mpi::traits::*;
use quicklb::bytemuck::{self, Pod, Zeroable};
use quicklb::{Algorithm, Error, LoadBalancer, Sort, Transfer};

fn busy(units: u64) {
    let mut x = 1.0f64;
    for _ in 0..units {
        x = x * 0.999_999 + 1e-9;
    }
    std::hint::black_box(x);
}

/// A 16 MiB cell: more than the 8 MiB main-thread stack.
#[derive(Clone, Copy, Pod, Zeroable)]
#[bytemuck(crate = "quicklb::bytemuck")]
#[repr(C)]
struct Huge {
    data: [u64; 2 << 20],
}

/// A 2 MiB cell.
#[derive(Clone, Copy, Pod, Zeroable)]
#[bytemuck(crate = "quicklb::bytemuck")]
#[repr(C)]
struct Large {
    data: [u64; 1 << 18],
}

fn panics(world: &impl Communicator) {
    let (rank, size) = (world.rank() as u64, world.size() as usize);
    let n = if rank == 0 { 40 } else { 4 };
    // [count, owner]
    let mut cells: Vec<[u64; 2]> = vec![[0, rank]; n];
    let mut lb = LoadBalancer::<[u64; 2]>::builder(world, n)
        .abort_on_panic(false)
        .check_counts(false)
        .build()
        .expect("build");
    for (round, who) in [(0, "owner"), (1, "helper")] {
        lb.set_weights(&vec![if rank == 0 { 10.0 } else { 1.0 }; n])
            .expect("length");
        lb.partition().expect("partition");
        // Round 0: rank 0 panics on its first own cell. Round 1: rank 1 panics
        // on a cell it borrowed from rank 0.
        let culprit = if round == 0 || size == 1 { 0 } else { 1 };
        let stepped = lb.iterate(&mut cells, |c| {
            if round == 0 && rank == 0 && c[1] == 0 {
                panic!("boom in an {who} cell");
            }
            if round == 1 && (size == 1 || rank == 1) && c[1] == 0 {
                panic!("boom in an {who} cell");
            }
            c[0] += 1;
            busy(100);
        });
        let expected = Err(Error::ComputePanicked {
            rank: culprit,
            message: format!("boom in an {who} cell"),
        });
        if rank as usize == culprit {
            assert_eq!(stepped, expected, "rank {rank} round {round}");
        } else {
            stepped.expect("the other ranks complete the step");
        }
        assert_eq!(lb.partition(), expected, "rank {rank} round {round}");
        // Usable afterwards.
        lb.partition().expect("partition after the panic");
        let before: Vec<u64> = cells.iter().map(|c| c[0]).collect();
        lb.iterate(&mut cells, |c| c[0] += 1).expect("iterate");
        assert!(cells.iter().zip(&before).all(|(c, b)| c[0] == b + 1));
    }
}

fn build_error<T: Pod>(builder: quicklb::Builder<'_, impl Communicator, T>) -> Error {
    match builder.build() {
        Ok(_) => panic!("build succeeded"),
        Err(e) => e,
    }
}

fn mismatches(world: &impl Communicator) {
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let last = rank == size - 1 && size > 1;
    let agreed = |what: &str, e: Error| match e {
        Error::ConfigMismatch { rank: r, .. } => assert_eq!(r, size - 1, "{what}"),
        other => panic!("{what}: rank {rank} got {other:?}"),
    };
    if size > 1 {
        // A different algorithm on the last rank.
        let alg = if last {
            Algorithm::sort()
        } else {
            Algorithm::transfer()
        };
        agreed(
            "algorithm",
            build_error(LoadBalancer::<f64>::builder(world, 3).algorithm(alg)),
        );
        // The same algorithm with other parameters.
        let sort = Sort {
            max_it: if last { 3 } else { 512 },
            ..Sort::default()
        };
        agreed(
            "parameters",
            build_error(LoadBalancer::<f64>::builder(world, 3).algorithm(Algorithm::Sort(sort))),
        );
        // Different node maps, and a node map on some ranks only.
        let nodes: Vec<usize> = (0..size).map(|r| if last { r } else { 0 }).collect();
        agreed(
            "node map",
            build_error(LoadBalancer::<f64>::builder(world, 3).nodes(nodes)),
        );
        let b = LoadBalancer::<f64>::builder(world, 3);
        let b = if last { b.nodes(vec![0; size]) } else { b };
        agreed("node map on some ranks", build_error(b));
        // Another option that changes the collectives.
        agreed(
            "check_counts",
            build_error(LoadBalancer::<f64>::builder(world, 3).check_counts(!last)),
        );
    }

    // A parameter bad on the last rank only: the same error everywhere.
    let b = LoadBalancer::<f64>::builder(world, 3).algorithm(Algorithm::greedy());
    let b = if rank == size - 1 { b.max_it(0) } else { b };
    match build_error(b) {
        Error::Config { rank: r, reason } => {
            assert_eq!(r, size - 1);
            assert!(reason.contains("max_it"), "{reason}");
        }
        other => panic!("rank {rank}: {other:?}"),
    }

    // Bad values on every rank: errors, nothing clamped, at any rank count.
    let nan_tolerance = Algorithm::Transfer(Transfer {
        tolerance: f64::NAN,
        ..Transfer::default()
    });
    let cases: Vec<(&str, quicklb::Builder<'_, _, f64>)> = vec![
        (
            "max_it",
            LoadBalancer::builder(world, 3)
                .algorithm(Algorithm::sort())
                .max_it(0),
        ),
        (
            "max_abs_li",
            LoadBalancer::builder(world, 3)
                .algorithm(Algorithm::sort())
                .max_abs_li(-1.0),
        ),
        (
            "tolerance",
            LoadBalancer::builder(world, 3).algorithm(nan_tolerance),
        ),
        (
            "timing_block",
            LoadBalancer::builder(world, 3).timing_block(-1.0),
        ),
        ("smoothing", LoadBalancer::builder(world, 3).smoothing(2.0)),
        (
            "max_rel_li",
            LoadBalancer::builder(world, 3).max_rel_li(0.1),
        ),
        (
            "stable",
            LoadBalancer::builder(world, 3)
                .algorithm(Algorithm::sort())
                .stable(true),
        ),
    ];
    for (what, b) in cases {
        match build_error(b) {
            Error::Config { rank: 0, reason } => {
                assert!(reason.contains(what), "{what}: {reason}")
            }
            other => panic!("{what}: rank {rank} got {other:?}"),
        }
    }
}

fn huge_cells(world: &impl Communicator) {
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let n = if rank == 0 { 3 } else { 0 };
    let mut cells: Vec<Huge> = bytemuck::zeroed_vec(n);
    let mut lb = LoadBalancer::<Huge>::builder(world, n)
        .weights(vec![1.0; n])
        .build()
        .expect("build");
    lb.partition().expect("partition");
    if size > 1 && rank == 0 {
        assert!(lb.num_lent() > 0, "rank 0 lends nothing");
    }
    lb.estimate_weights(&cells, |c| c.data[0] as f64 + 1.0)
        .expect("estimate");
    lb.iterate(&mut cells, |c| {
        c.data[0] += 1;
        c.data[(2 << 20) - 1] += 2;
    })
    .expect("iterate");
    assert!(cells
        .iter()
        .all(|c| c.data[0] == 1 && c.data[(2 << 20) - 1] == 2));
}

fn above_count_limit(world: &impl Communicator) {
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    if size == 1 {
        return;
    }
    // Rank 0 has twice the average, rank 1 nothing, the others the average:
    // rank 0 lends half its 2100 cells of 2 MiB (2.2 GB) to rank 1.
    let n = match rank {
        0 => 2100,
        1 => 0,
        _ => 1,
    };
    let weights = match rank {
        0 => vec![1.0; n],
        _ => vec![1050.0; n],
    };
    // Zeroed pages are never touched: the loans are refused before any message.
    let _cells: Vec<Large> = bytemuck::zeroed_vec(n);
    let mut lb = LoadBalancer::<Large>::builder(world, n)
        .weights(weights)
        .build()
        .expect("build");
    match lb.partition() {
        Err(Error::OnRank { rank: 0, message }) => {
            assert!(message.contains("exceed the MPI count limit"), "{message}")
        }
        other => panic!("rank {rank}: {other:?}"),
    }
    assert_eq!(lb.num_lent(), 0);
}

/// The default count check sends nothing per step: ranks may call `iterate`
/// different numbers of times while nothing is lent (the old check, an
/// all-reduce per step, hung here), and a wrong count still reaches every rank
/// at the next collective.
fn no_collective_per_step(world: &impl Communicator) {
    let rank = world.rank() as usize;
    let n = 6;
    let mut cells = vec![0u32; n];
    let mut lb = LoadBalancer::<u32>::new(world, n, Algorithm::transfer()).expect("build");
    lb.partition().expect("partition");
    assert_eq!(lb.num_lent(), 0, "equal loads: nothing lent");
    for _ in 0..(2 + rank) {
        lb.iterate(&mut cells, |c| *c += 1).expect("iterate");
    }
    assert!(cells.iter().all(|&c| c as usize == 2 + rank));
    let mut wrong = vec![0u32; n + usize::from(rank == 0)];
    let stepped = lb.iterate(&mut wrong, |c| *c += 1);
    assert_eq!(stepped.is_err(), rank == 0);
    let agreed = Err(Error::CellCount {
        rank: 0,
        expected: n,
        actual: n + 1,
    });
    assert_eq!(lb.report().map(|_| ()), agreed, "rank {rank}");
    lb.report().expect("agreed once");
}

fn main() {
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    // First, before any balancer installs the abort-on-panic hook.
    panics(&world);
    quicklb_transport::abort_on_panic();
    mismatches(&world);
    huge_cells(&world);
    above_count_limit(&world);
    no_collective_per_step(&world);
    if world.rank() == 0 {
        println!("mpi_mistakes: ok on {} ranks", world.size());
    }
}
