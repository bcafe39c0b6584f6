//! MPI test of the rma demo: the fence put lands in rank 1 (rank 0 when alone),
//! the accumulate gives n(n+1)/2 on rank 0, lock/get reads both on every rank, and
//! post/start/complete/wait delivers 1000 + left to every rank; rank 0 gathers
//! every rank's window.
//!
//! Run under `mpiexec -n P` (by `cargo xtask mpi-test`), not by `cargo test`.

use mpi::traits::*;
use quicklb_examples::patterns::rma;

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());

    // Twice: windows are created and freed cleanly, nothing leaks into the next run.
    for _ in 0..2 {
        let s = rma::run(&world).expect("rma runs");
        let target = if size > 1 { 1 } else { 0 };
        let total = i64::from(size) * i64::from(size + 1) / 2;
        assert_eq!(s.put_target, target);
        assert_eq!(s.total_read, total, "rank {rank}");
        assert_eq!(s.put_read, 42, "rank {rank}");
        let expect = |r: i32| {
            let left = (r + size - 1) % size;
            [
                if r == target { 42 } else { 0 },
                if r == 0 { total } else { 0 },
                1000 + i64::from(left),
            ]
        };
        assert_eq!(s.window, expect(rank), "rank {rank}'s window");
        if rank == 0 {
            let windows = s.windows.as_ref().expect("rank 0 gathers");
            let want: Vec<[i64; 3]> = (0..size).map(expect).collect();
            assert_eq!(windows, &want);
            assert_eq!(s.lines().len(), 4 + size as usize);
        } else {
            assert!(s.windows.is_none());
        }
    }
    if rank == 0 {
        println!("mpi_rma: {size} ranks ok");
    }
}
