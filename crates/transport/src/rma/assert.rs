//! Lock types and the assertions (`MPI_MODE_*`) of each synchronisation call, one type
//! per call so that only the assertions valid at that call can be written.
//!
//! A closing fence must complete the epoch's operations, so `NOPRECEDE` cannot be
//! written there (it would let MPI skip completion while buffers are given back):
//!
//! ```compile_fail
//! use quicklb_transport::rma::FenceClose;
//! let close = FenceClose::NOPRECEDE; // error: no associated item `NOPRECEDE`
//! ```
//!
//! and an opening assertion cannot be passed where a closing one is expected:
//!
//! ```compile_fail
//! # fn f(win: &mut quicklb_transport::rma::Window<'_, i32>) -> quicklb_transport::Result<()> {
//! use quicklb_transport::rma::FenceOpen;
//! win.fence_with(FenceOpen::NONE, FenceOpen::NOPRECEDE, |_| Ok(()))?; // error: mismatched types
//! # Ok(()) }
//! ```
//!
//! The values are those of the MPI library this crate was built against (they differ
//! between Open MPI and MPICH).

use std::ffi::c_int;

use mpi::ffi;

/// The lock type of a passive-target epoch ([`Window::lock`](super::Window::lock)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockType {
    /// `MPI_LOCK_SHARED`: other ranks may hold a shared lock on the same target at once.
    Shared,
    /// `MPI_LOCK_EXCLUSIVE`: no other rank holds a lock on the target meanwhile.
    Exclusive,
}

impl LockType {
    #[inline]
    pub(crate) fn as_raw(self) -> c_int {
        match self {
            LockType::Shared => ffi::MPI_LOCK_SHARED as c_int,
            LockType::Exclusive => ffi::MPI_LOCK_EXCLUSIVE as c_int,
        }
    }
}

macro_rules! assertion {
    ($(#[$meta:meta])* $name:ident { $($(#[$cmeta:meta])* $constant:ident = $value:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name(c_int);

        impl $name {
            /// No assertion (`0`): always correct.
            pub const NONE: $name = $name(0);
            $( $(#[$cmeta])* pub const $constant: $name = $name(ffi::$value as c_int); )*

            /// The raw `int` passed to MPI.
            #[inline]
            pub fn as_raw(self) -> c_int {
                self.0
            }

            /// Whether every bit of `other` is set in `self`.
            pub fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl std::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }
    };
}

assertion! {
    /// Assertions of the fence that opens an epoch
    /// ([`Window::fence_with`](super::Window::fence_with)). `NOSUCCEED` is not among
    /// them: RMA calls follow an opening fence.
    ///
    /// ```
    /// use quicklb_transport::rma::FenceOpen;
    /// let first = FenceOpen::NOPRECEDE | FenceOpen::NOSTORE;
    /// assert!(first.contains(FenceOpen::NOPRECEDE));
    /// ```
    FenceOpen {
        /// `MPI_MODE_NOSTORE`: the local window was not updated by local stores since
        /// the last synchronisation.
        NOSTORE = MPI_MODE_NOSTORE,
        /// `MPI_MODE_NOPUT`: the local window will not be updated by put or
        /// accumulate until the closing fence.
        NOPUT = MPI_MODE_NOPUT,
        /// `MPI_MODE_NOPRECEDE`: this fence completes no RMA calls of this rank (true
        /// of every opening fence of this crate, whose epochs all close themselves).
        /// Give it on all ranks or on none.
        NOPRECEDE = MPI_MODE_NOPRECEDE,
    }
}

assertion! {
    /// Assertions of the fence that closes an epoch. `NOPRECEDE` is not among them:
    /// the closing fence completes the epoch's RMA calls before their buffers are
    /// given back.
    FenceClose {
        /// `MPI_MODE_NOSTORE`: the local window was not updated by local stores during
        /// the epoch.
        NOSTORE = MPI_MODE_NOSTORE,
        /// `MPI_MODE_NOPUT`: the local window will not be updated by put or
        /// accumulate until the next synchronisation.
        NOPUT = MPI_MODE_NOPUT,
        /// `MPI_MODE_NOSUCCEED`: no RMA calls of this rank follow this fence before
        /// another fence opens an epoch. Give it on all ranks or on none.
        NOSUCCEED = MPI_MODE_NOSUCCEED,
    }
}

assertion! {
    /// Assertions of `MPI_Win_lock` / `MPI_Win_lock_all`
    /// ([`Window::lock_with`](super::Window::lock_with)).
    LockAssert {
        /// `MPI_MODE_NOCHECK`: no other rank holds or will try to acquire a conflicting
        /// lock on the target while this one is held.
        NOCHECK = MPI_MODE_NOCHECK,
    }
}

assertion! {
    /// Assertions of `MPI_Win_post`, which opens an exposure epoch
    /// ([`Window::exposure_with`](super::Window::exposure_with)).
    PostAssert {
        /// `MPI_MODE_NOCHECK`: the matching `MPI_Win_start` calls have not been issued
        /// yet, and will all carry `NOCHECK` too.
        NOCHECK = MPI_MODE_NOCHECK,
        /// `MPI_MODE_NOSTORE`: the local window was not updated by local stores since
        /// the last synchronisation.
        NOSTORE = MPI_MODE_NOSTORE,
        /// `MPI_MODE_NOPUT`: the local window will not be updated by put or
        /// accumulate during the exposure epoch.
        NOPUT = MPI_MODE_NOPUT,
    }
}

assertion! {
    /// Assertions of `MPI_Win_start`, which opens an access epoch
    /// ([`Window::access_with`](super::Window::access_with)).
    StartAssert {
        /// `MPI_MODE_NOCHECK`: the matching `MPI_Win_post` calls have already
        /// completed on every target (and carried `NOCHECK` too).
        NOCHECK = MPI_MODE_NOCHECK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asserts_come_from_the_bindings() {
        assert_eq!(LockAssert::NOCHECK.as_raw(), ffi::MPI_MODE_NOCHECK as c_int);
        assert_eq!(
            FenceOpen::NOPRECEDE.as_raw(),
            ffi::MPI_MODE_NOPRECEDE as c_int
        );
        assert!((FenceClose::NOPUT | FenceClose::NOSUCCEED).contains(FenceClose::NOSUCCEED));
        assert!(!FenceClose::NONE.contains(FenceClose::NOPUT));
        assert_ne!(LockType::Shared.as_raw(), LockType::Exclusive.as_raw());
    }
}
