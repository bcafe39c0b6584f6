//! [`RmaOp`]: the operation of accumulate-type RMA calls, including `MPI_REPLACE` and
//! `MPI_NO_OP`, which rsmpi's `SystemOperation` cannot express.

use mpi::collective::SystemOperation;
use mpi::ffi;
use mpi::traits::AsRaw;

extern "C" {
    /// `MPI_REPLACE`, exported by `csrc/ops.c` (a macro in `mpi.h`).
    static QUICKLB_MPI_REPLACE: ffi::MPI_Op;
    /// `MPI_NO_OP`, exported by `csrc/ops.c`.
    static QUICKLB_MPI_NO_OP: ffi::MPI_Op;
}

/// A predefined MPI operation for [`Epoch::accumulate`](super::Epoch::accumulate),
/// [`Epoch::get_accumulate`](super::Epoch::get_accumulate) and
/// [`Epoch::fetch_and_op`](super::Epoch::fetch_and_op): any rsmpi
/// `SystemOperation` (`RmaOp::from(SystemOperation::sum())`, or pass the
/// `SystemOperation` itself), [`RmaOp::replace`] or [`RmaOp::no_op`].
///
/// ```no_run
/// use mpi::collective::SystemOperation;
/// use quicklb_transport::rma::RmaOp;
/// let sum: RmaOp = SystemOperation::sum().into();
/// let swap = RmaOp::replace(); // atomic swap with get_accumulate / fetch_and_op
/// let read = RmaOp::no_op();   // atomic read
/// assert!(read.is_no_op() && !swap.is_no_op() && !sum.is_no_op());
/// ```
#[derive(Clone, Copy)]
pub struct RmaOp(ffi::MPI_Op);

impl RmaOp {
    /// `MPI_REPLACE`: the target element becomes the origin's value.
    #[inline]
    pub fn replace() -> RmaOp {
        // SAFETY: an immutable handle constant initialised by the C shim.
        RmaOp(unsafe { QUICKLB_MPI_REPLACE })
    }

    /// `MPI_NO_OP`: the target is left unchanged (only for `get_accumulate` and
    /// `fetch_and_op`, which then read atomically).
    #[inline]
    pub fn no_op() -> RmaOp {
        // SAFETY: an immutable handle constant initialised by the C shim.
        RmaOp(unsafe { QUICKLB_MPI_NO_OP })
    }

    /// Whether this is `MPI_NO_OP`.
    #[inline]
    pub fn is_no_op(self) -> bool {
        self.0 == Self::no_op().0
    }

    /// The raw `MPI_Op` handle.
    #[inline]
    pub fn as_raw(self) -> ffi::MPI_Op {
        self.0
    }
}

impl From<SystemOperation> for RmaOp {
    #[inline]
    fn from(op: SystemOperation) -> RmaOp {
        RmaOp(op.as_raw())
    }
}

impl std::fmt::Debug for RmaOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.is_no_op() {
            "MPI_NO_OP"
        } else if self.0 == Self::replace().0 {
            "MPI_REPLACE"
        } else {
            "predefined"
        };
        f.debug_tuple("RmaOp").field(&name).finish()
    }
}
