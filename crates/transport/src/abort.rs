//! Turning a panic on one rank into an abort of the whole job.
//!
//! Without this, a rank that panics unwinds, drops its `mpi::environment::Universe`
//! and calls `MPI_Finalize`, which waits for ranks that are themselves waiting for
//! the dead one: the job hangs. `MPI_Abort` instead tears every rank down at once.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Installs a panic hook that prints the panic message (with the rank) and then
/// calls `MPI_Abort` on `MPI_COMM_WORLD`, so that no rank waits forever for a
/// rank that has died.
///
/// Call it once, right after `mpi::initialize()`. Calling it again does nothing.
/// The previously installed hook still runs first, so the usual message and
/// backtrace are printed.
///
/// ```no_run
/// let universe = mpi::initialize().expect("MPI initialises once");
/// quicklb_transport::abort_on_panic();
/// // ... a panic on any rank now ends the whole job with its message.
/// # drop(universe);
/// ```
pub fn abort_on_panic() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            if mpi::environment::is_initialized() && !mpi::environment::is_finalized() {
                let rank = world_rank();
                eprintln!("quicklb: rank {rank} panicked; aborting the MPI job");
                // SAFETY: MPI is initialised and not finalised (checked above), and
                // MPI_COMM_WORLD is a valid communicator for the whole life of MPI.
                unsafe {
                    mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, 1);
                }
            }
        }));
    });
}

/// The prologue of a quicklb MPI program: initialises MPI and installs
/// [`abort_on_panic`], so that a panic or failed assertion on any rank ends the
/// whole job instead of leaving the others waiting.
///
/// # Panics
/// If MPI was initialised already in this process (MPI allows one
/// initialisation per process).
///
/// ```no_run
/// use mpi::traits::*;
/// let universe = quicklb_transport::initialize();
/// let world = universe.world();
/// assert!(world.size() >= 1);
/// ```
pub fn initialize() -> mpi::environment::Universe {
    let universe = mpi::initialize().expect("MPI initialises once per process");
    abort_on_panic();
    universe
}

fn world_rank() -> i32 {
    let mut rank = -1;
    // SAFETY: only called while MPI is initialised; `rank` is a valid out-pointer.
    unsafe {
        mpi::ffi::MPI_Comm_rank(mpi::ffi::RSMPI_COMM_WORLD, &mut rank);
    }
    rank
}
