//! MPI test of the Gray-Scott demo (run by `cargo xtask mpi-test gray` with 1–4
//! ranks).
//!
//! On a 30×30 grid (QUICKLB's case) for a few steps:
//! - the final `A` and `B` with balancing equal bitwise those without
//!   balancing, for every algorithm (Transfer, Greedy, Sort, Sort2 and the
//!   balancer's Off path), re-planning every step or every other step, with and
//!   without unbalanced probe steps, and with the message halo instead of the
//!   shared-memory one;
//! - the unbalanced distributed run equals bitwise a serial single-process run;
//! - with 3 or more ranks the Transfer balancer really lends cells and lowers
//!   the imbalance of the work (integrator steps) per rank;
//! - the collective `.npy` of `B` reads back as the gathered field;
//! - more ranks than rows, a grid under 3×3, or one beyond MPI's 32-bit
//!   counts (`--size 1000000`, `usize::MAX`) is the same clear error on
//!   every rank, and so are the binary's preflight verdicts (a missing
//!   output directory, memory).

use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use ndarray::Array2;
use quicklb::Algorithm;
use quicklb_examples::chemistry::Chemistry;
use quicklb_examples::gray_scott::{
    serial, AlgorithmName, Config, CostModel, GrayScottError, HaloKind, Simulation, Summary,
    MAX_SIZE,
};
use quicklb_examples::preflight;
use quicklb_transport::{read_npy, RowSplit};

const N: usize = 30;
const STEPS: usize = 6;

struct Outcome {
    fields: Option<(Array2<f64>, Array2<f64>)>,
    lent: u64,
    summary: Summary,
}

fn run(
    world: &SimpleCommunicator,
    algorithm: Option<Algorithm>,
    partition_every: usize,
    compare_every: usize,
    halo: HaloKind,
    cost_time: bool,
) -> Outcome {
    let config = Config {
        size: N,
        algorithm,
        partition_every,
        replan: quicklb::Replan::Manual,
        compare_every,
        halo,
        cost: if cost_time {
            CostModel::Time
        } else {
            CostModel::Steps
        },
        chemistry: Chemistry::default(),
    };
    simulate(world, config)
}

/// Transfer re-planned by `iterate` itself (`Builder::replan`).
fn run_replanned(world: &SimpleCommunicator, replan: quicklb::Replan) -> Outcome {
    let config = Config {
        size: N,
        algorithm: Some(Algorithm::transfer()),
        replan,
        compare_every: 3,
        ..Config::default()
    };
    simulate(world, config)
}

/// Runs `STEPS` steps of `config`; the fields on rank 0, the cells lent over
/// the run (all ranks) and the summary.
fn simulate(world: &SimpleCommunicator, config: Config) -> Outcome {
    let mut sim = Simulation::new(world, config).expect("simulation set up");
    for _ in 0..STEPS {
        sim.step().expect("step");
    }
    let mine: u64 = sim.records().iter().map(|r| r.lent as u64).sum();
    let mut lent = 0u64;
    world.all_reduce_into(&mine, &mut lent, mpi::collective::SystemOperation::sum());
    Outcome {
        fields: sim.gather(),
        lent,
        summary: sim.summary(),
    }
}

fn bitwise_equal(x: &Array2<f64>, y: &Array2<f64>) -> bool {
    x.shape() == y.shape() && x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits())
}

fn assert_same(what: &str, got: &Outcome, reference: &Outcome) {
    if let (Some((ga, gb)), Some((ra, rb))) = (&got.fields, &reference.fields) {
        assert!(
            bitwise_equal(ga, ra),
            "{what}: A differs from the unbalanced run"
        );
        assert!(
            bitwise_equal(gb, rb),
            "{what}: B differs from the unbalanced run"
        );
    }
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size() as usize);
    let mut checks = 0;

    // Reference: no balancing at all.
    let reference = run(&world, None, 1, 0, HaloKind::Auto, false);
    assert_eq!(reference.lent, 0);
    if let Some((a, b)) = &reference.fields {
        let (sa, sb) = serial(N, STEPS, &Chemistry::default()).expect("serial run");
        assert!(bitwise_equal(a, &sa), "A differs from the serial run");
        assert!(bitwise_equal(b, &sb), "B differs from the serial run");
        // The pattern is there: B spread beyond the seed block, no NaN.
        assert!(b.iter().all(|v| v.is_finite()) && b.sum() > 0.0);
    }
    checks += 1;

    for name in [
        AlgorithmName::Transfer,
        AlgorithmName::Greedy,
        AlgorithmName::Sort,
        AlgorithmName::Sort2,
        AlgorithmName::Off,
    ] {
        for (partition_every, compare_every) in [(1, 0), (2, 3)] {
            let out = run(
                &world,
                Some(name.algorithm()),
                partition_every,
                compare_every,
                HaloKind::Auto,
                false,
            );
            let what =
                format!("{name:?}, re-plan every {partition_every}, probes every {compare_every}");
            assert_same(&what, &out, &reference);
            if name == AlgorithmName::Off {
                assert_eq!(out.lent, 0, "{what}: Off lent cells");
            }
            if name == AlgorithmName::Transfer && partition_every == 1 && size >= 3 {
                assert!(out.lent > 0, "{what}: nothing lent with {size} ranks");
                // Planned on integrator steps, the work balance is deterministic.
                let with = out.summary.with.expect("balanced steps");
                assert!(
                    with.work_imbalance_after < with.work_imbalance_before,
                    "{what}: work imbalance {} -> {}",
                    with.work_imbalance_before,
                    with.work_imbalance_after
                );
            }
            checks += 1;
        }
    }

    // Re-planned by iterate() itself: the same fields, bit for bit.
    for replan in [quicklb::Replan::Every(2), quicklb::Replan::auto()] {
        let out = run_replanned(&world, replan);
        assert_same(
            &format!("Transfer, replan {}", replan.name()),
            &out,
            &reference,
        );
        if matches!(replan, quicklb::Replan::Every(_)) && size >= 3 {
            assert!(
                out.lent > 0,
                "replan every 2: nothing lent with {size} ranks"
            );
        }
        checks += 1;
    }

    // Persistent messages instead of shared-memory ghosts.
    let out = run(
        &world,
        Some(Algorithm::transfer()),
        1,
        0,
        HaloKind::Messages,
        false,
    );
    assert_same("Transfer with the message halo", &out, &reference);
    checks += 1;

    // Planning with measured times instead of integrator steps.
    for name in [AlgorithmName::Transfer, AlgorithmName::Sort] {
        let out = run(&world, Some(name.algorithm()), 1, 2, HaloKind::Auto, true);
        assert_same(&format!("{name:?} planning with times"), &out, &reference);
        checks += 1;
    }

    // Collective .npy of B.
    {
        let mut pid = std::process::id();
        world.process_at_rank(0).broadcast_into(&mut pid);
        let path = std::env::temp_dir().join(format!("quicklb_gray_scott_{pid}_{size}.npy"));
        let config = Config {
            size: N,
            algorithm: Some(Algorithm::transfer()),
            partition_every: 1,
            compare_every: 0,
            ..Config::default()
        };
        let mut sim = Simulation::new(&world, config).expect("simulation set up");
        for _ in 0..STEPS {
            sim.step().expect("step");
        }
        sim.write_npy_b(&path).expect("collective write");
        let back = read_npy(&world, &path, RowSplit::Even).expect("read back");
        let (_, b) = sim.local_fields();
        assert!(bitwise_equal(&back, &b), "npy rows differ from the local B");
        if let Some((_, gb)) = sim.gather() {
            if let Some((_, rb)) = &reference.fields {
                assert!(bitwise_equal(&gb, rb));
            }
        }
        world.barrier();
        if rank == 0 {
            let _ = std::fs::remove_file(&path);
        }
        checks += 1;
    }

    // Clear errors, the same on every rank.
    let too_many = Simulation::new(
        &world,
        Config {
            size: 3,
            ..Config::default()
        },
    );
    if size > 3 {
        match too_many {
            Err(GrayScottError::InvalidArgument(m)) => {
                assert!(m.contains("at most 3 ranks"), "{m}")
            }
            other => panic!("more ranks than rows: {other:?}"),
        }
    } else {
        assert!(too_many.is_ok());
    }
    match Simulation::new(
        &world,
        Config {
            size: 2,
            ..Config::default()
        },
    ) {
        Err(GrayScottError::InvalidArgument(m)) => assert!(m.contains("3x3"), "{m}"),
        other => panic!("2x2 grid: {other:?}"),
    }
    checks += 1;

    // Sizes beyond MPI's 32-bit counts (rank 0 gathers N x N) are refused
    // on every rank before anything is allocated (not MPI_ERR_INTERN from
    // the shared window, nor an out-of-memory kill).
    for n in [1_000_000, usize::MAX, MAX_SIZE + 1] {
        match Simulation::new(
            &world,
            Config {
                size: n,
                ..Config::default()
            },
        ) {
            Err(GrayScottError::InvalidArgument(m)) => {
                assert!(m.contains(&format!("--size {n}")), "{m}")
            }
            other => panic!("--size {n}: {other:?}"),
        }
    }
    assert!(Simulation::check(
        &Config {
            size: MAX_SIZE,
            ..Config::default()
        },
        size
    )
    .is_ok());
    assert!(Simulation::memory_per_rank(
        &Config {
            size: usize::MAX,
            ..Config::default()
        },
        size
    )
    .is_none());
    checks += 1;

    // The binary's preflight: rank 0's verdict on the output paths, and the
    // memory verdict, are the same message on every rank.
    let missing = std::env::temp_dir().join("quicklb-no-such-dir/b.png");
    let verdict = if rank == 0 {
        preflight::check_output_file("--output", &missing)
    } else {
        Ok(())
    };
    match preflight::agree(&world, verdict) {
        Err(m) => assert!(
            m.contains("--output") && m.contains("does not exist"),
            "{m}"
        ),
        Ok(()) => panic!("rank {rank}: a missing --output directory was accepted"),
    }
    let last = world.size() - 1;
    let verdict = if rank == last {
        Err(format!("only rank {last} objects"))
    } else {
        Ok(())
    };
    assert_eq!(
        preflight::agree(&world, verdict),
        Err(format!("only rank {last} objects"))
    );
    assert_eq!(preflight::agree(&world, Ok(())), Ok(()));
    let need = Simulation::memory_per_rank(
        &Config {
            size: MAX_SIZE,
            ..Config::default()
        },
        1,
    )
    .map(|b| b.saturating_mul(1 << 20));
    assert!(preflight::check_memory(&world, need, "a huge grid").is_err());
    assert!(preflight::check_memory(&world, Some(1 << 20), "a small grid").is_ok());
    checks += 1;

    world.barrier();
    if rank == 0 {
        println!("mpi_gray_scott: {checks} checks passed on {size} ranks");
    }
}
