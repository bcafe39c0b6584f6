//! MPI test of the ring demo: with persistent requests, every rank receives
//! `left + 100 * it` in iteration `it`, and rank 0's gathered table holds every
//! rank's values in rank order; also with 0 and 1 iterations.
//!
//! Run under `mpiexec -n P` (by `cargo xtask mpi-test`), not by `cargo test`.

use mpi::traits::*;
use quicklb_examples::patterns::ring;

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());

    for iterations in [5, 0, 1] {
        let summary = ring::run(&world, iterations).expect("ring runs");
        let left = (rank + size - 1) % size;
        let want: Vec<i64> = (0..iterations)
            .map(|it| i64::from(left) + 100 * it as i64)
            .collect();
        assert_eq!(summary.received, want, "rank {rank}/{size}");
        if rank == 0 {
            let table = summary.table.as_ref().expect("rank 0 has the table");
            assert_eq!(table.len(), size as usize);
            for (r, values) in table.iter().enumerate() {
                let l = (r as i64 + i64::from(size) - 1) % i64::from(size);
                let want: Vec<i64> = (0..iterations as i64).map(|it| l + 100 * it).collect();
                assert_eq!(values, &want, "row of rank {r}");
            }
            let lines = summary.lines();
            assert_eq!(lines.len(), size as usize);
            for (r, line) in lines.iter().enumerate() {
                assert!(line.starts_with(&format!("rank {r} received")), "{line}");
            }
        } else {
            assert!(summary.table.is_none());
        }
    }
    if rank == 0 {
        println!("mpi_ring: {size} ranks ok");
    }
}
