//! Edge cases and collective errors of the balancer, for every algorithm where
//! it matters:
//! - iterate() before any partition() lends nothing and computes every cell;
//!   cheap cells are timed in blocks (`timing_block`), or one by one;
//!   smoothed weights (`smoothing`);
//! - ranks with zero cells (every odd rank), all cells on one rank, more ranks
//!   than cells (one cell on rank 0 only), all ranks empty;
//! - Sort2 and Transfer (fresh and `stable`) with an emulated two-node map;
//! - errors agreed by every rank, no hang: a different cell size on the last
//!   rank (at build), a NaN weight from a cost function (at partition), a wrong
//!   cell count at iterate (that rank computes none of its cells); the balancer keeps
//!   working afterwards;
//! - report() and write_info() with every cell.

use mpi::traits::*;
use quicklb::{Algorithm, Error, LoadBalancer};

fn busy(units: u64) {
    let mut x = 1.0f64;
    for _ in 0..units {
        x = x * 0.999_999 + 1e-9;
    }
    std::hint::black_box(x);
}

/// K steps with a re-partition each; every counter must be K afterwards.
fn run_counts(world: &impl Communicator, algorithm: Algorithm, n: usize, what: &str) -> usize {
    const K: u32 = 4;
    let rank = world.rank();
    let mut cells = vec![[0u32; 2]; n];
    let mut lb = LoadBalancer::<[u32; 2]>::new(world, n, algorithm).expect("build");
    let mut lent = 0;
    for _ in 0..K {
        lb.partition().expect("partition");
        lent += lb.num_lent();
        lb.iterate(&mut cells, |c| {
            c[0] += 1;
            busy(300);
        })
        .expect("iterate");
    }
    assert!(
        cells.iter().all(|c| c[0] == K),
        "{what} / {}: rank {rank} counters {:?}",
        algorithm.name(),
        cells.iter().map(|c| c[0]).collect::<Vec<_>>()
    );
    lent
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);

    for algorithm in Algorithm::all() {
        // iterate before partition: nothing lent, every cell computed once.
        let mut lb = LoadBalancer::<f64>::new(&world, 5, algorithm).expect("build");
        let mut cells = vec![1.0f64; 5];
        lb.iterate(&mut cells, |c| *c += 1.0).expect("iterate");
        assert_eq!(cells, vec![2.0; 5]);
        assert_eq!(lb.num_lent(), 0);
        assert!(lb.weights().iter().all(|w| w.is_finite() && *w >= 0.0));
        // cheap cells are timed in blocks; timing_block(0) times each cell
        let mut blocks = LoadBalancer::<f64>::builder(&world, 5)
            .algorithm(algorithm)
            .timing_block(1.0)
            .build()
            .expect("build");
        blocks.iterate(&mut cells, |c| *c += 1.0).expect("iterate");
        assert!(
            blocks.timing_stride() > 1,
            "stride {}",
            blocks.timing_stride()
        );
        cells.iter_mut().for_each(|c| *c -= 1.0);
        let mut each = LoadBalancer::<f64>::builder(&world, 5)
            .algorithm(algorithm)
            .timing_block(0.0)
            .build()
            .expect("build");
        each.iterate(&mut cells, |c| *c += 1.0).expect("iterate");
        assert_eq!(each.timing_stride(), 1);
        assert_eq!(cells, vec![3.0; 5]);
        // smoothed weights stay finite and positive-or-zero
        let mut smooth = LoadBalancer::<f64>::builder(&world, 5)
            .algorithm(algorithm)
            .smoothing(0.5)
            .build()
            .expect("build");
        for _ in 0..3 {
            smooth.partition().expect("partition");
            smooth.iterate(&mut cells, |c| *c -= 1.0).expect("iterate");
        }
        assert_eq!(cells, vec![0.0; 5]);
        assert!(smooth.weights().iter().all(|w| w.is_finite() && *w >= 0.0));
        cells.iter_mut().for_each(|c| *c = 3.0);

        // zero cells on every odd rank
        run_counts(
            &world,
            algorithm,
            if rank % 2 == 1 { 0 } else { 20 },
            "odd ranks empty",
        );
        // all cells on one rank
        let lent = run_counts(
            &world,
            algorithm,
            if rank == 0 { 30 } else { 0 },
            "all on rank 0",
        );
        if size > 1 && algorithm != Algorithm::Off && rank == 0 {
            assert!(lent > 0, "{}: rank 0 kept all its cells", algorithm.name());
        }
        // more ranks than cells: rank 0 owns a single cell
        run_counts(&world, algorithm, usize::from(rank == 0), "one cell");
        // no cell anywhere
        run_counts(&world, algorithm, 0, "no cells");
    }

    // An emulated two-node machine for the node-aware planners.
    // Transfer also warm-started from the previous plan (`stable`).
    for (algorithm, stable) in [
        (Algorithm::sort2(), false),
        (Algorithm::transfer(), false),
        (Algorithm::transfer(), true),
    ] {
        let nodes: Vec<usize> = (0..size).map(|r| r * 2 / size.max(1)).collect();
        let n = if rank == 0 { 40 } else { 4 };
        let mut builder = LoadBalancer::<[u32; 2]>::builder(&world, n)
            .algorithm(algorithm)
            .nodes(nodes.clone());
        if stable {
            builder = builder.stable(true);
        }
        let mut lb = builder.build().expect("build");
        assert_eq!(lb.nodes(), &nodes[..]);
        let mut cells = vec![[0u32; 2]; n];
        for _ in 0..3 {
            lb.partition().expect("partition");
            lb.iterate(&mut cells, |c| {
                c[0] += 1;
                busy(200);
            })
            .expect("iterate");
        }
        assert!(cells.iter().all(|c| c[0] == 3));
        let report = lb.report().expect("report");
        assert_eq!(
            report.ranks.iter().map(|r| r.node).collect::<Vec<_>>(),
            nodes
        );
    }

    // QUICKLB parameters reach the planners.
    let lb = LoadBalancer::<u8>::builder(&world, 3)
        .algorithm(Algorithm::sort())
        .max_abs_li(0.1)
        .max_rel_li(0.01)
        .max_it(7)
        .build()
        .expect("build");
    match lb.algorithm() {
        Algorithm::Sort(s) => assert_eq!((s.max_abs_li, s.max_rel_li, s.max_it), (0.1, 0.01, 7)),
        other => panic!("unexpected {other:?}"),
    }

    // A different cell size on the last rank: an error on every rank, no hang.
    let result = if rank == size - 1 && size > 1 {
        LoadBalancer::<[f64; 3]>::new(&world, 4, Algorithm::default()).map(|_| ())
    } else {
        LoadBalancer::<[f64; 2]>::new(&world, 4, Algorithm::default()).map(|_| ())
    };
    if size > 1 {
        assert_eq!(
            result,
            Err(Error::CellSize {
                rank: size - 1,
                bytes: 24,
                expected: 16
            }),
            "rank {rank}"
        );
    } else {
        result.expect("one rank: sizes agree");
    }

    for algorithm in [Algorithm::transfer(), Algorithm::greedy()] {
        // A NaN weight from a cost function on the last rank: error everywhere.
        let n = 6;
        let mut cells = vec![1.0f64; n];
        let mut lb = LoadBalancer::<f64>::new(&world, n, algorithm).expect("build");
        lb.estimate_weights(&cells[..], |&c| if rank == size - 1 { f64::NAN } else { c })
            .expect("lengths agree");
        match lb.partition() {
            Err(Error::InvalidWeight {
                rank: r,
                cell: 0,
                value,
            }) => {
                assert_eq!(r, size - 1);
                assert!(value.is_nan());
            }
            other => panic!("rank {rank}: expected InvalidWeight, got {other:?}"),
        }
        assert_eq!(lb.num_lent(), 0);
        // still usable: fix the weights and go on
        lb.set_weights(&vec![1.0; n]).expect("length");
        lb.partition().expect("partition after fix");
        lb.iterate(&mut cells, |c| *c += 1.0).expect("iterate");
        assert_eq!(cells, vec![2.0; n]);

        // A wrong cell count on rank 0 at iterate: an error there at once, on
        // every rank at the next collective (partition); rank 0 touched none
        // of its cells, the others completed the step.
        // Rank 0 lends (heavy weights), so its helpers wait for its messages.
        lb.set_weights(&vec![if rank == 0 { 10.0 } else { 1.0 }; n])
            .expect("length");
        lb.partition().expect("partition");
        if size > 1 {
            assert!(rank != 0 || lb.num_lent() > 0, "rank 0 lends nothing");
        }
        let mut wrong = vec![1.0f64; if rank == 0 { n + 1 } else { n }];
        let stepped = lb.iterate(&mut wrong, |c| *c += 1.0);
        let agreed = Err(Error::CellCount {
            rank: 0,
            expected: n,
            actual: n + 1,
        });
        if rank == 0 {
            assert_eq!(stepped, agreed, "rank 0 at iterate");
        } else {
            stepped.expect("the other ranks complete the step");
        }
        assert_eq!(lb.partition(), agreed, "rank {rank} at the next partition");
        let expected = if rank == 0 { 1.0 } else { 2.0 };
        assert!(
            wrong.iter().all(|&c| c == expected),
            "rank {rank}: {wrong:?}"
        );
        lb.iterate(&mut cells, |c| *c += 1.0)
            .expect("iterate after error");
        assert_eq!(cells, vec![3.0; n]);
        assert_eq!(
            lb.set_weights(&[1.0]),
            Err(Error::Length {
                expected: n,
                actual: 1
            })
        );
    }

    // Report with every cell, written like QUICKLB's loadbalance.info.
    let n = 3 + rank;
    let mut lb = LoadBalancer::<u64>::new(&world, n, Algorithm::default()).expect("build");
    let mut cells = vec![0u64; n];
    lb.partition().expect("partition");
    lb.iterate(&mut cells, |c| *c += 1).expect("iterate");
    let dir = std::env::temp_dir().join(format!("quicklb-mpi-edge-{}", std::process::id()));
    let path = if rank == 0 {
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("loadbalance.info")
    } else {
        dir.join("unused")
    };
    let report = lb.write_info(&path, true).expect("write_info");
    let cells_listed = report.cells.as_ref().expect("cells").len();
    assert_eq!(cells_listed, (0..size).map(|r| 3 + r).sum::<usize>());
    if rank == 0 {
        let text = std::fs::read_to_string(&path).expect("written");
        assert!(text.contains("lower bound"));
        assert_eq!(text, report.to_string());
        std::fs::remove_dir_all(&dir).ok();
    }
    let bad = lb.write_info("/nonexistent-dir/quicklb/loadbalance.info", false);
    assert!(matches!(bad, Err(Error::Io(_))), "rank {rank}: {bad:?}");

    if rank == 0 {
        println!("mpi_edge: ok on {size} ranks");
    }
}
