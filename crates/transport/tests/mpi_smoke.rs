//! The smallest MPI test: every rank contributes `rank + 1` to an all-reduce and
//! checks the triangular sum. It also carries the harness's self-test faults,
//! selected with `QUICKLB_SELFTEST` (used by `cargo xtask mpi-selftest` only):
//! `deadlock` makes rank 0 wait for a message nobody sends; `panic` makes the
//! last rank panic while the others wait in a collective.

use mpi::collective::SystemOperation;
use mpi::traits::*;

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let rank = world.rank();
    let size = world.size();

    match std::env::var("QUICKLB_SELFTEST").as_deref() {
        Ok("deadlock") => {
            if rank == 0 {
                let (_value, _status) = world.any_process().receive::<i32>();
            }
            world.barrier();
        }
        Ok("panic") => {
            if rank == size - 1 {
                panic!("self-test panic on rank {rank}");
            }
            world.barrier();
        }
        _ => {}
    }

    let mut sum = 0i64;
    world.all_reduce_into(&(rank as i64 + 1), &mut sum, SystemOperation::sum());
    let expected = (size as i64) * (size as i64 + 1) / 2;
    assert_eq!(sum, expected, "all-reduce of rank+1 over {size} ranks");
    if rank == 0 {
        println!("mpi_smoke: {size} ranks, sum {sum} ok");
    }
}
