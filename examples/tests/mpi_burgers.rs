//! MPI test of the Burgers demo: the distributed snapshot SVD gives
//! σ1..σ4 = 471.259287, 104.637607, 26.864574, 8.458974 to 1e-6 relative, the
//! same σ (to 1e-12 relative) and spatial modes (to 1e-9) as the SVD of the
//! whole matrix in one process, and orthonormal spatial modes, for whatever
//! number of ranks it runs with; and parameters without a step
//! (`t_end <= 0`) are refused on every rank.
//!
//! Run under `mpiexec -n P` (by `cargo xtask mpi-test`), not by `cargo test`.

use mpi::collective::SystemOperation;
use mpi::traits::*;
use quicklb_examples::burgers::{
    block_range, distributed_svd, BurgersError, BurgersParams, LocalBurgers, MpiHalo, MpiSum,
    NoComm, PeriodicHalo, SvdOptions,
};

const EXPECTED: [f64; 4] = [471.259287, 104.637607, 26.864574, 8.458974];

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size() as usize);

    // A run without a step (t_end = 0) is refused on every rank before the
    // SVD would divide by its zero snapshots; so is a step count beyond the
    // limit.
    for bad in [
        BurgersParams {
            t_end: 0.0,
            ..BurgersParams::default()
        },
        BurgersParams {
            t_end: -1.0,
            ..BurgersParams::default()
        },
        BurgersParams {
            dt: 1e-300,
            ..BurgersParams::default()
        },
    ] {
        let (start, len) = block_range(bad.n, size, rank as usize);
        match LocalBurgers::new(bad, start, len) {
            Err(BurgersError::InvalidArgument(_)) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
        assert!(bad.check(size).is_err());
    }

    let params = BurgersParams::default();
    let (start, len) = block_range(params.n, size, rank as usize);
    let mut local = LocalBurgers::new(params, start, len).expect("valid block");
    let mut halo = MpiHalo::new(&world).expect("halo requests");
    local.run(&mut halo, |_, _| Ok(())).expect("time stepping");
    assert_eq!(local.step(), 2001, "number of steps");

    let pod = distributed_svd(&MpiSum(&world), local.snapshots(), 4, SvdOptions::default())
        .expect("distributed SVD");
    for (m, (&got, &want)) in pod.sigma.iter().zip(EXPECTED.iter()).enumerate() {
        let rel = (got - want).abs() / want;
        assert!(
            rel < 1e-6,
            "rank {rank}/{size}: sigma{} = {got:.9}, expected {want} (relative error {rel:.2e})",
            m + 1
        );
    }
    // The same triplets as the whole matrix in one process (every rank
    // computes it): the rank count changes only the rounding.
    let mut whole = LocalBurgers::new(params, 0, params.n).expect("whole grid");
    whole
        .run(&mut PeriodicHalo, |_, _| Ok(()))
        .expect("serial stepping");
    let serial =
        distributed_svd(&NoComm, whole.snapshots(), 4, SvdOptions::default()).expect("serial SVD");
    for (m, (&got, &want)) in pod.sigma.iter().zip(&serial.sigma).enumerate() {
        let rel = (got - want).abs() / want;
        assert!(
            rel < 1e-12,
            "rank {rank}/{size}: sigma{} = {got:.15} vs {want:.15} in one process ({rel:.2e})",
            m + 1
        );
        for i in 0..len {
            let (a, b) = (pod.modes[(i, m)], serial.modes[(start + i, m)]);
            assert!(
                (a - b).abs() < 1e-9,
                "rank {rank}/{size}: mode {m} at point {}: {a} vs {b} in one process",
                start + i
            );
        }
    }

    let captured = pod.energy_captured(3);
    assert!(
        captured > 0.999 && captured < 1.0,
        "energy of 3 modes {captured}"
    );

    // The spatial modes, spread over the ranks, are orthonormal.
    let k = pod.sigma.len();
    let mut local_dots = vec![0.0; k * k];
    for a in 0..k {
        for b in 0..k {
            local_dots[a * k + b] = (0..len)
                .map(|i| pod.modes[(i, a)] * pod.modes[(i, b)])
                .sum();
        }
    }
    let mut dots = vec![0.0; k * k];
    world.all_reduce_into(&local_dots[..], &mut dots[..], SystemOperation::sum());
    for a in 0..k {
        for b in 0..k {
            let want: f64 = if a == b { 1.0 } else { 0.0 };
            assert!(
                (dots[a * k + b] - want).abs() < 1e-8,
                "<v{a}, v{b}> = {} over {size} ranks",
                dots[a * k + b]
            );
        }
    }

    if rank == 0 {
        let s: Vec<String> = pod.sigma.iter().map(|s| format!("{s:.6}")).collect();
        println!("mpi_burgers: {size} ranks, sigma1..4 = {} ok", s.join(", "));
    }
}
