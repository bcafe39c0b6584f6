//! A non-blocking all-reduce (`MPI_Iallreduce`) that owns its buffers, so that
//! it can be started in one call and completed in a later one (rsmpi's
//! immediate collectives borrow their buffers for a scope that ends within
//! one call).
//!
//! [`Reduction::start`] copies the values in and starts the reduction;
//! [`Reduction::wait`] completes it and lends the result. The buffers live on
//! the heap and are handed out only when no reduction is in flight; dropping a
//! reduction in flight waits for it, and `std::mem::forget` leaks the buffers
//! with the request, so MPI never writes to freed memory.
//!
//! [`Reduction::new`] duplicates the communicator (collective), which keeps
//! the reduction apart from other collectives of the caller and sets
//! `MPI_ERRORS_RETURN` on it. Like every collective, starts must happen in the
//! same order on every rank.
//!
//! ```no_run
//! use mpi::collective::SystemOperation;
//! use mpi::traits::*;
//! use quicklb_transport::Reduction;
//!
//! let universe = mpi::initialize().unwrap();
//! let world = universe.world();
//! let mut max = Reduction::<u64>::new(&world, 2, SystemOperation::max())?;
//! max.start(&[world.rank() as u64, 7])?;
//! // ... other work while the reduction runs ...
//! assert_eq!(max.wait()?, &[world.size() as u64 - 1, 7]);
//! # Ok::<(), quicklb_transport::Error>(())
//! ```

use std::ffi::c_void;

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, SimpleCommunicator};

use crate::error::{check, invalid, Result};
use crate::persistent::{duplicate, Element};

/// A non-blocking all-reduce of `len` elements with its own buffers and
/// communicator (see the [module documentation](self)).
pub struct Reduction<T: Element> {
    send: Box<[T]>,
    recv: Box<[T]>,
    op: SystemOperation,
    request: ffi::MPI_Request,
    in_flight: bool,
    datatype: <T as Equivalence>::Out,
    comm: SimpleCommunicator,
}

impl<T: Element> Reduction<T> {
    /// A reduction of `len` elements with `op` over a duplicate of `comm`.
    /// **Collective.** The result is all zeros until the first reduction
    /// completes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for `len`
    /// above `i32::MAX`; [`Error::Mpi`](crate::Error::Mpi) if the duplication
    /// fails.
    pub fn new<C: Communicator>(comm: &C, len: usize, op: SystemOperation) -> Result<Self> {
        if len > i32::MAX as usize {
            return Err(invalid(
                "Reduction::new",
                format!("{len} elements exceed the MPI count limit"),
            ));
        }
        let comm = duplicate(comm)?;
        Ok(Reduction {
            send: vec![T::zeroed(); len].into_boxed_slice(),
            recv: vec![T::zeroed(); len].into_boxed_slice(),
            op,
            // SAFETY: reading an immutable handle constant exported by the MPI shim.
            request: unsafe { ffi::RSMPI_REQUEST_NULL },
            in_flight: false,
            datatype: T::equivalent_datatype(),
            comm,
        })
    }

    /// Number of elements reduced.
    pub fn len(&self) -> usize {
        self.send.len()
    }

    /// Whether it reduces no element.
    pub fn is_empty(&self) -> bool {
        self.send.is_empty()
    }

    /// Whether a reduction was started and not yet completed.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Starts reducing `values` (`MPI_Iallreduce`). **Collective**: every rank
    /// starts its reductions in the same order.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if one is in
    /// flight already or `values` has another length (nothing is started);
    /// [`Error::Mpi`](crate::Error::Mpi) if MPI refuses the call.
    pub fn start(&mut self, values: &[T]) -> Result<()> {
        if self.in_flight {
            return Err(invalid(
                "Reduction::start",
                "a reduction is in flight: wait for it first",
            ));
        }
        if values.len() != self.send.len() {
            return Err(invalid(
                "Reduction::start",
                format!(
                    "{} values given to a reduction of {}",
                    values.len(),
                    self.send.len()
                ),
            ));
        }
        self.send.copy_from_slice(values);
        // SAFETY: both buffers are heap allocations of `len` elements owned by
        // `self` (never reallocated) and not handed out while the reduction is
        // in flight; if `self` is forgotten they leak, so they stay valid until
        // the request completes. The datatype describes `T` and lives in
        // `self`; the communicator is this reduction's own duplicate; `len`
        // fits an int (checked in `new`).
        let rc = unsafe {
            ffi::MPI_Iallreduce(
                self.send.as_ptr() as *const c_void,
                self.recv.as_mut_ptr() as *mut c_void,
                self.send.len() as i32,
                self.datatype.as_raw(),
                self.op.as_raw(),
                self.comm.as_raw(),
                &mut self.request,
            )
        };
        check("MPI_Iallreduce", rc)?;
        self.in_flight = true;
        Ok(())
    }

    /// Completes the reduction in flight, if any (`MPI_Wait`), and returns the
    /// result of the last one completed.
    ///
    /// # Errors
    /// [`Error::Mpi`](crate::Error::Mpi) if the reduction failed (it is over;
    /// the result is then unspecified).
    pub fn wait(&mut self) -> Result<&[T]> {
        if self.in_flight {
            // SAFETY: `request` is the live request of the reduction in flight;
            // the status is ignored.
            let rc = unsafe { ffi::MPI_Wait(&mut self.request, ffi::RSMPI_STATUS_IGNORE) };
            self.in_flight = false;
            check("MPI_Wait", rc)?;
        }
        Ok(&self.recv)
    }
}

impl<T: Element> Drop for Reduction<T> {
    fn drop(&mut self) {
        if self.in_flight {
            // Nothing to report from a destructor; the buffers must outlive it.
            // SAFETY: the live request of the reduction in flight.
            unsafe { ffi::MPI_Wait(&mut self.request, ffi::RSMPI_STATUS_IGNORE) };
        }
    }
}

impl<T: Element> std::fmt::Debug for Reduction<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reduction")
            .field("len", &self.send.len())
            .field("in_flight", &self.in_flight)
            .finish()
    }
}
