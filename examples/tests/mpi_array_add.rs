//! MPI test of the array-add demo: C = A + B exactly on rank 0 after scatter and
//! gather with varying counts, for n divisible or not by the number of ranks,
//! n smaller than it (ranks with no elements) and n = 0; every rank's piece is
//! the right slice of C.
//!
//! Run under `mpiexec -n P` (by `cargo xtask mpi-test`), not by `cargo test`.

use mpi::traits::*;
use quicklb_examples::patterns::array_add;

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);

    for n in [10, 12, 1001, 3, 1, 0] {
        let s = array_add::run(&world, n).expect("array-add runs");
        assert_eq!(s.counts.iter().sum::<usize>(), n);
        let (lo, hi) = (
            s.counts.iter().min().copied().unwrap_or(0),
            s.counts.iter().max().copied().unwrap_or(0),
        );
        assert!(hi - lo <= 1, "counts {:?}", s.counts);
        assert_eq!(s.counts[rank], n / size + usize::from(rank < n % size));
        let first = s.displs[rank];
        let want: Vec<f64> = (first..first + s.counts[rank])
            .map(|i| 101.0 * i as f64)
            .collect();
        assert_eq!(s.local, want, "rank {rank}'s piece for n = {n}");
        if rank == 0 {
            let [a, b, c] = s.arrays.as_ref().expect("rank 0 holds the arrays");
            assert_eq!(c.len(), n);
            for i in 0..n {
                assert_eq!(c[i], a[i] + b[i], "C[{i}]");
                assert_eq!(c[i], 101.0 * i as f64, "C[{i}]");
            }
        } else {
            assert!(s.arrays.is_none());
        }
    }
    if rank == 0 {
        println!("mpi_array_add: {size} ranks ok");
    }
}
