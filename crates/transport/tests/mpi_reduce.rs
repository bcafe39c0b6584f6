//! `Reduction`: a non-blocking all-reduce started in one call and completed in
//! another, with other collectives in between; misuse is an error; a reduction
//! dropped in flight completes. `sleeping_barrier` lets no rank out before
//! the last one is in.

use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::traits::*;
use quicklb_transport::{sleeping_barrier, Error, Reduction};

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank() as u64, world.size() as u64);

    let mut max = Reduction::<u64>::new(&world, 2, SystemOperation::max()).expect("new");
    let mut sum = Reduction::<u64>::new(&world, 1, SystemOperation::sum()).expect("new");
    assert_eq!(max.wait().expect("nothing in flight"), &[0, 0]);
    for step in 0..5u64 {
        max.start(&[rank * 10 + step, 3]).expect("start");
        sum.start(&[rank + step]).expect("start");
        assert!(max.in_flight());
        // A second start while in flight is refused, and changes nothing.
        assert!(matches!(
            max.start(&[0, 0]),
            Err(Error::InvalidArgument { .. })
        ));
        // Other collectives on the user's communicator in between.
        world.barrier();
        assert_eq!(max.wait().expect("wait"), &[(size - 1) * 10 + step, 3]);
        assert_eq!(
            sum.wait().expect("wait"),
            &[size * (size - 1) / 2 + size * step]
        );
        assert!(!max.in_flight());
    }
    assert!(matches!(
        max.start(&[1]),
        Err(Error::InvalidArgument { .. })
    ));
    // Dropped in flight: the destructor completes it on every rank.
    let mut dropped = Reduction::<f64>::new(&world, 1, SystemOperation::max()).expect("new");
    dropped.start(&[rank as f64]).expect("start");
    drop(dropped);
    world.barrier();

    // The last rank enters 100 ms late; nobody may leave before that.
    let late = Duration::from_millis(100);
    let clock = Instant::now();
    if rank == size - 1 {
        std::thread::sleep(late);
    }
    sleeping_barrier(&world, Duration::from_millis(1));
    let waited = clock.elapsed();
    assert!(
        waited >= late.mul_f64(0.8),
        "rank {rank} left the barrier after {waited:?}, before the last rank entered"
    );
    if rank == 0 {
        println!("mpi_reduce: ok on {size} ranks");
    }
}
