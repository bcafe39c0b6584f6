//! Barriers that do not hold a core while they wait: one that sleeps, for
//! ranks that have nothing to do while others work (rank 0 writing a file,
//! planning, running a peer), and one that yields, for the short, frequent
//! barriers of [`SharedArray`](crate::SharedArray)'s phases.
//!
//! A blocking `MPI_Barrier` polls at full speed in MPICH (its ch4 device never
//! yields) and in Open MPI unless it knows it is oversubscribed: with more
//! ranks than cores, the waiting ranks take the cores the working rank needs,
//! so every barrier costs scheduler time slices. Testing an `MPI_Ibarrier` and
//! sleeping or yielding between tests gives them back.

use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::time::Duration;

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::traits::{Communicator, CommunicatorCollectives};

use crate::error::{check, Result};

/// Tests of a pending barrier before [`yielding_barrier`] starts yielding: on
/// idle cores the barrier usually completes within them (a few µs), so a
/// rank that is not oversubscribed never pays for a system call.
const SPINS_BEFORE_YIELD: u32 = 100;

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

/// Waits until every rank of `comm` has called it: an `MPI_Ibarrier`, tested
/// [`SPINS_BEFORE_YIELD`] times, then tested once per `sched_yield`, which
/// hands the core to a runnable rank sharing it (the one being waited for,
/// when ranks outnumber cores) and returns at once when none is. Collective.
///
/// Same ordering as `MPI_Barrier` (a barrier is a barrier, blocking or not),
/// so it serves the shared-memory model's "window sync, barrier, window sync".
/// With 4 MPICH ranks on 2 cores a `SharedArray` phase switch fell from about
/// a time slice (8–12 ms) to about 1 ms; on idle cores the halo benchmark's
/// exchange time did not change measurably.
pub(crate) fn yielding_barrier<C: AsRaw<Raw = ffi::MPI_Comm>>(comm: &C) -> Result<()> {
    let mut request = MaybeUninit::<ffi::MPI_Request>::uninit();
    // SAFETY: `comm` is a live communicator; `request` is a valid out-pointer.
    check("MPI_Ibarrier", unsafe {
        ffi::MPI_Ibarrier(comm.as_raw(), request.as_mut_ptr())
    })?;
    // SAFETY: MPI_Ibarrier succeeded and wrote the request handle.
    let mut request = unsafe { request.assume_init() };
    let mut tests = 0u32;
    loop {
        let mut done: c_int = 0;
        // SAFETY: `request` is the live request of the barrier above (MPI_Test sets
        // it to MPI_REQUEST_NULL once complete, and we stop testing then); the
        // status is ignored.
        check("MPI_Test", unsafe {
            ffi::MPI_Test(&mut request, &mut done, ffi::RSMPI_STATUS_IGNORE)
        })?;
        if done != 0 {
            return Ok(());
        }
        if tests < SPINS_BEFORE_YIELD {
            tests += 1;
        } else {
            std::thread::yield_now();
        }
    }
}
