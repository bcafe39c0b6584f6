//! The balancer's core guarantees, for every algorithm (Off, Transfer, Greedy,
//! Sort, Sort2) on whatever number of ranks it runs with:
//! - exactly once: a counter per cell incremented by compute equals K on its
//!   home rank after K steps with a re-partition every step (and cells are
//!   lent when there is imbalance, p > 1);
//! - equal results: a deterministic compute gives bitwise the same cells with
//!   and without balancing, through a slice and through the `Fields` adapter;
//! - random per-cell costs (a busy loop proportional to a seeded weight): every
//!   cell computed once, right results, the planned imbalance not worse.

use mpi::collective::SystemOperation;
use mpi::traits::*;
use quicklb::{Algorithm, Fields, LoadBalancer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const K: u64 = 5;

fn sum(world: &impl Communicator, x: u64) -> u64 {
    let mut s = 0;
    world.all_reduce_into(&x, &mut s, SystemOperation::sum());
    s
}

/// Burns CPU for about `units` small steps; returns a value so it is not elided.
fn busy(units: u64, seed: f64) -> f64 {
    let mut x = seed;
    for _ in 0..units {
        x = x * 0.999_999 + 1e-9;
    }
    std::hint::black_box(x)
}

fn exactly_once(world: &impl Communicator, algorithm: Algorithm) {
    let (rank, size) = (world.rank() as u64, world.size() as u64);
    // Rank 0 is overloaded: more cells and heavier ones.
    let n = if rank == 0 { 48 } else { 8 + 4 * rank as usize };
    let mut cells: Vec<[u64; 2]> = (0..n as u64).map(|i| [0, (rank << 32) | i]).collect();
    let mut lb = LoadBalancer::<[u64; 2]>::new(world, n, algorithm).expect("build");
    let mut lent = 0u64;
    for _ in 0..K {
        lb.partition().expect("partition");
        lent += lb.num_lent() as u64;
        lb.iterate(&mut cells[..], |c| {
            c[0] += 1;
            busy(200 + 800 * (c[1] >> 32 == 0) as u64, 1.0);
        })
        .expect("iterate");
    }
    for (i, c) in cells.iter().enumerate() {
        assert_eq!(
            c[0],
            K,
            "{}: rank {rank} cell {i} computed {} times",
            algorithm.name(),
            c[0]
        );
        assert_eq!(c[1], (rank << 32) | i as u64, "cell {i} came back wrong");
    }
    let total_lent = sum(world, lent);
    if size > 1 && algorithm != Algorithm::Off {
        assert!(
            total_lent > 0,
            "{}: nothing lent on {size} ranks",
            algorithm.name()
        );
    }
    if algorithm == Algorithm::Off {
        assert_eq!(total_lent, 0);
    }
    if rank == 0 {
        println!(
            "mpi_balance: exactly once ok: {} on {size} ranks, {total_lent} loans over {K} steps",
            algorithm.name()
        );
    }
}

fn react(c: &mut [f64; 2]) {
    let [mut a, mut b] = *c;
    for _ in 0..20 {
        let ab2 = a * b * b;
        a += 0.01 * (-ab2 + 0.04 * (1.0 - a));
        b += 0.01 * (ab2 - 0.1 * b);
        b = (b * 7.0).sin().abs();
    }
    *c = [a, b];
}

fn equal_results(world: &impl Communicator, algorithm: Algorithm) {
    let rank = world.rank() as usize;
    let n = if rank == 0 { 40 } else { 10 };
    let init = |i: usize| {
        [
            0.5 + 0.01 * i as f64,
            0.25 + 0.001 * (rank * 100 + i) as f64,
        ]
    };
    let mut plain: Vec<[f64; 2]> = (0..n).map(init).collect();
    let mut a: Vec<f64> = plain.iter().map(|c| c[0]).collect();
    let mut b: Vec<f64> = plain.iter().map(|c| c[1]).collect();
    let mut slice = plain.clone();
    let mut lb_slice = LoadBalancer::<[f64; 2]>::new(world, n, algorithm).expect("build");
    let mut lb_fields = LoadBalancer::<[f64; 2]>::builder(world, n)
        .algorithm(algorithm)
        .weights((0..n).map(|i| 1.0 + (i % 3) as f64).collect())
        .build()
        .expect("build");
    for step in 0..K {
        for c in plain.iter_mut() {
            react(c);
        }
        if step > 0 {
            lb_slice.partition().expect("partition");
        }
        lb_fields.partition().expect("partition");
        lb_slice.iterate(&mut slice[..], react).expect("iterate");
        lb_fields
            .iterate(&mut Fields::new([&mut a[..], &mut b[..]]), |c| {
                react(c);
                // make rank 0's cells look expensive so they get lent
                if rank == 0 {
                    busy(500, c[0]);
                }
            })
            .expect("iterate");
    }
    for i in 0..n {
        assert_eq!(
            slice[i].map(f64::to_bits),
            plain[i].map(f64::to_bits),
            "slice cell {i}"
        );
        assert_eq!(
            [a[i].to_bits(), b[i].to_bits()],
            plain[i].map(f64::to_bits),
            "fields cell {i}"
        );
    }
    if rank == 0 {
        println!("mpi_balance: equal results ok: {}", algorithm.name());
    }
}

fn random_costs(world: &impl Communicator, algorithm: Algorithm) {
    let (rank, size) = (world.rank() as u64, world.size());
    let mut rng = ChaCha8Rng::seed_from_u64(42 + rank);
    let n = rng.gen_range(0..40usize) + if rank == 1 { 30 } else { 0 };
    // cell: [weight units, count, checksum]
    let mut cells: Vec<[u64; 3]> = (0..n).map(|_| [rng.gen_range(0..3000u64), 0, 0]).collect();
    let mut lb = LoadBalancer::<[u64; 3]>::new(world, n, algorithm).expect("build");
    let mut lent = 0;
    for _ in 0..K {
        lb.partition().expect("partition");
        lent += lb.num_lent();
        lb.iterate(&mut cells[..], |c| {
            busy(c[0], 0.5);
            c[1] += 1;
            c[2] = c[2].wrapping_mul(31).wrapping_add(c[0]);
        })
        .expect("iterate");
    }
    for (i, c) in cells.iter().enumerate() {
        assert_eq!(c[1], K, "rank {rank} cell {i}");
        let mut check = 0u64;
        for _ in 0..K {
            check = check.wrapping_mul(31).wrapping_add(c[0]);
        }
        assert_eq!(c[2], check, "rank {rank} cell {i} checksum");
    }
    let report = lb.report().expect("report");
    assert_eq!(report.ranks.len(), size as usize);
    assert_eq!(report.steps, K);
    if matches!(algorithm, Algorithm::Transfer(_)) {
        assert!(
            report.imbalance_planned <= report.imbalance_before + 1e-9,
            "{report}"
        );
    }
    let lent = sum(world, lent as u64);
    if rank == 0 {
        println!(
            "mpi_balance: random costs ok: {} ({lent} loans), planned imbalance {:.3} (before {:.3})",
            algorithm.name(),
            report.imbalance_planned,
            report.imbalance_before
        );
    }
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    for algorithm in Algorithm::all() {
        exactly_once(&world, algorithm);
        equal_results(&world, algorithm);
        random_costs(&world, algorithm);
    }
}
