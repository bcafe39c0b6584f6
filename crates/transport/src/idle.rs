//! A barrier that waits without spinning, for ranks that have nothing to do
//! while others work (rank 0 writing a file, planning, running a peer).
//!
//! A blocking `MPI_Barrier` polls at full speed in Open MPI and MPICH: with
//! more ranks than cores, the waiting ranks take the cores the working rank
//! needs. Testing an `MPI_Ibarrier` and sleeping between tests gives them
//! back.

use std::time::Duration;

use mpi::traits::{Communicator, CommunicatorCollectives};

/// Waits until every rank of `comm` has called it, testing the barrier every
/// `poll` and sleeping in between. Collective; costs up to `poll` more than
/// a blocking barrier, so use it where the wait is long.
///
/// ```no_run
/// use std::time::Duration;
/// let universe = quicklb_transport::initialize();
/// let world = universe.world();
/// // ... rank 0 works alone here ...
/// quicklb_transport::sleeping_barrier(&world, Duration::from_millis(5));
/// ```
pub fn sleeping_barrier<C: Communicator>(comm: &C, poll: Duration) {
    let mut barrier = comm.immediate_barrier();
    loop {
        match barrier.test() {
            Ok(_) => return,
            Err(pending) => {
                barrier = pending;
                std::thread::sleep(poll);
            }
        }
    }
}
