//! MPI test of the flame demo (run by `cargo xtask mpi-test flame` with 1–4
//! ranks).
//!
//! On a 12×12 grid of stoichiometric H2/air (bundled mechanism) with the two
//! hot kernels (2000 K), for a few steps of 10 µs, in which they ignite:
//! - the unbalanced distributed run equals bitwise a serial single-process
//!   run (every field: T and every Y_k);
//! - with balancing, every algorithm of `ALGORITHMS` (re-planning every step
//!   or every other step, with and without unbalanced probe steps), the
//!   message halo, and planning from measured times or from the last step's
//!   integrator steps instead of the work forecast give bitwise the same
//!   fields as without;
//! - at 2 or more ranks the Transfer balancer lends cells and lowers the
//!   work imbalance (the kernels are all on the upper ranks);
//! - the collective `.npy` of T reads back as the local rows;
//! - bad input (unknown species, a file that is not a mechanism, a negative
//!   temperature, a grid under 3×3, a missing output directory, a failure on
//!   one rank only) is an input error on every rank.

use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use ndarray::Array2;
use quicklb::Algorithm;
use quicklb_examples::flame::{
    self, agree, algorithm_by_name, check_output_dir, load_mechanism, mixture_mass_fractions,
    serial, Config, CostModel, FlameError, HaloKind, Summary, ALGORITHMS,
};
use quicklb_kinetics::Mechanism;
use quicklb_transport::{read_npy, RowSplit};

const N: usize = 12;
const STEPS: usize = 5;
/// Longer steps than the demo's (`D·dt/dx² = 0.2`) and hotter kernels, so
/// the small kernels ignite within the few steps of the test.
const DT: f64 = 1e-5;
const KERNEL_TEMPERATURE: f64 = 2000.0;

struct Outcome {
    fields: Option<Vec<Array2<f64>>>,
    lent: u64,
    summary: Summary,
}

fn config(mech: &Mechanism) -> Config {
    let mut config = Config {
        size: N,
        ..Config::new(mech).expect("default config")
    };
    config.physics.dt = DT;
    config.physics.kernel_temperature = KERNEL_TEMPERATURE;
    config
}

fn run(world: &SimpleCommunicator, mech: &Mechanism, config: Config) -> Outcome {
    let mut sim = flame::build(world, mech, config).expect("simulation set up");
    for _ in 0..STEPS {
        sim.step().expect("step");
    }
    let mine: u64 = sim.records().iter().map(|r| r.lent as u64).sum();
    let mut lent = 0u64;
    world.all_reduce_into(&mine, &mut lent, mpi::collective::SystemOperation::sum());
    let fields: Vec<Option<Array2<f64>>> = (0..=mech.num_species())
        .map(|f| sim.gather_field(f))
        .collect();
    Outcome {
        fields: fields.into_iter().collect(),
        lent,
        summary: sim.summary(),
    }
}

fn bitwise_equal(x: &Array2<f64>, y: &Array2<f64>) -> bool {
    x.shape() == y.shape() && x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits())
}

fn assert_same(what: &str, got: &Outcome, reference: &Outcome) {
    if let (Some(g), Some(r)) = (&got.fields, &reference.fields) {
        for (f, (a, b)) in g.iter().zip(r).enumerate() {
            assert!(
                bitwise_equal(a, b),
                "{what}: field {f} differs from the unbalanced run"
            );
        }
    }
}

fn expect_input_error<T: std::fmt::Debug>(what: &str, got: flame::Result<T>, needle: &str) {
    match got {
        Err(e) if e.is_input_error() => {
            assert!(e.to_string().contains(needle), "{what}: {e}");
        }
        other => panic!("{what}: expected an input error, got {other:?}"),
    }
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size() as usize);
    let mech = Mechanism::bundled_h2_o2();
    let mut checks = 0;

    // Reference: no balancing at all, against the serial run.
    let reference = run(
        &world,
        &mech,
        Config {
            algorithm: None,
            ..config(&mech)
        },
    );
    assert_eq!(reference.lent, 0);
    if let Some(fields) = &reference.fields {
        let s = serial(&mech, &config(&mech), STEPS).expect("serial run");
        for (f, field) in fields.iter().enumerate() {
            let expected = s.index_axis(ndarray::Axis(0), f).to_owned();
            assert!(
                bitwise_equal(field, &expected),
                "field {f} differs from the serial run"
            );
        }
        // The kernels burn: hotter than the fresh gas, finite everywhere.
        let t = &fields[0];
        assert!(t.iter().all(|v| v.is_finite()));
        let hottest = t.iter().copied().fold(0.0, f64::max);
        assert!(
            hottest > 2200.0,
            "the kernels did not ignite: T max {hottest}"
        );
    }
    checks += 1;

    for (name, _) in ALGORITHMS {
        for (partition_every, compare_every) in [(1, 0), (2, 3)] {
            let out = run(
                &world,
                &mech,
                Config {
                    algorithm: algorithm_by_name(name),
                    partition_every,
                    compare_every,
                    ..config(&mech)
                },
            );
            let what =
                format!("{name}, re-plan every {partition_every}, probes every {compare_every}");
            assert_same(&what, &out, &reference);
            if *name == "off" {
                assert_eq!(out.lent, 0, "{what}: Off lent cells");
            }
            if *name == "transfer" && partition_every == 1 && size >= 2 {
                assert!(out.lent > 0, "{what}: nothing lent with {size} ranks");
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
        let out = run(
            &world,
            &mech,
            Config {
                algorithm: Some(Algorithm::transfer()),
                replan,
                compare_every: 3,
                ..config(&mech)
            },
        );
        assert_same(
            &format!("Transfer, replan {}", replan.name()),
            &out,
            &reference,
        );
        checks += 1;
    }

    let out = run(
        &world,
        &mech,
        Config {
            algorithm: Some(Algorithm::transfer()),
            partition_every: 1,
            compare_every: 0,
            halo: HaloKind::Messages,
            ..config(&mech)
        },
    );
    assert_same("Transfer with the message halo", &out, &reference);
    checks += 1;

    // Measured times, and the time forecast from the fitted step cost; the
    // unbalanced steps in between feed both.
    for (name, cost) in [
        ("transfer", CostModel::Time),
        ("sort", CostModel::Time),
        ("transfer", CostModel::Calibrated),
    ] {
        let out = run(
            &world,
            &mech,
            Config {
                algorithm: algorithm_by_name(name),
                partition_every: 1,
                compare_every: 2,
                cost,
                ..config(&mech)
            },
        );
        assert_same(&format!("{name} planning with {cost:?}"), &out, &reference);
        checks += 1;
    }

    // The default plans with the work forecast; the last step's counts too.
    for name in ["transfer", "sort"] {
        let out = run(
            &world,
            &mech,
            Config {
                algorithm: algorithm_by_name(name),
                cost: CostModel::Steps,
                ..config(&mech)
            },
        );
        assert_same(
            &format!("{name} planning with the last step's integrator steps"),
            &out,
            &reference,
        );
        checks += 1;
    }

    // Collective .npy of T.
    {
        let mut pid = std::process::id();
        world.process_at_rank(0).broadcast_into(&mut pid);
        let path = std::env::temp_dir().join(format!("quicklb_flame_{pid}_{size}.npy"));
        let mut sim = flame::build(&world, &mech, config(&mech)).expect("set up");
        sim.step().expect("step");
        sim.write_npy(0, &path).expect("collective write");
        let back = read_npy(&world, &path, RowSplit::Even).expect("read back");
        assert!(bitwise_equal(&back, &sim.local_field(0)), "npy rows differ");
        world.barrier();
        if rank == 0 {
            let _ = std::fs::remove_file(&path);
        }
        checks += 1;
    }

    // Bad input: an input error on every rank, agreed before any run.
    let unknown = agree(&world, mixture_mass_fractions(&mech, "H2:2, XX:1"));
    expect_input_error("unknown species", unknown, "XX");
    let not_mech = std::env::temp_dir().join(format!("quicklb_flame_not_a_mechanism_{rank}.txt"));
    std::fs::write(&not_mech, "this is not a mechanism\n").expect("temp file");
    let loaded = agree(&world, load_mechanism(Some(&not_mech)));
    expect_input_error("not a mechanism", loaded, "not a usable mechanism");
    let _ = std::fs::remove_file(&not_mech);
    let mut cold = config(&mech);
    cold.physics.temperature = -10.0;
    expect_input_error(
        "negative temperature",
        agree(&world, cold.check(&mech, size)),
        "--temperature -10",
    );
    expect_input_error(
        "negative temperature in build",
        flame::build(&world, &mech, cold).map(|_| ()),
        "--temperature",
    );
    let tiny = Config {
        size: 2,
        ..config(&mech)
    };
    expect_input_error(
        "2x2 grid",
        agree(&world, tiny.check(&mech, size)),
        "at least 3x3",
    );
    let missing = std::path::Path::new("/nonexistent/quicklb/flame-output");
    expect_input_error(
        "missing output directory",
        agree(&world, check_output_dir(missing)),
        "no such directory",
    );
    // A failure on the last rank only reaches every rank, with its message.
    let local: flame::Result<()> = if rank as usize == size - 1 {
        Err(FlameError::InvalidArgument(
            "only the last rank objects".into(),
        ))
    } else {
        Ok(())
    };
    expect_input_error(
        "one rank fails",
        agree(&world, local),
        "only the last rank objects",
    );
    checks += 1;

    world.barrier();
    if rank == 0 {
        println!("mpi_flame: {checks} checks passed on {size} ranks");
    }
}
