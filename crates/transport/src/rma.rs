//! One-sided communication (RMA): windows over `T: Equivalence + Pod` memory and
//! the three MPI synchronisation modes.
//!
//! A [`Window`] exposes a slice of `T` on every rank of a communicator. It is
//! either created over a buffer the caller lends for the window's lifetime
//! ([`Window::create`], `MPI_Win_create`) or allocated by MPI ([`Window::allocate`],
//! `MPI_Win_allocate`, zero-initialised). The displacement unit is
//! `size_of::<T>()`, so displacements and counts are in elements of `T`.
//!
//! RMA calls ([`Epoch::put`], [`Epoch::get`], [`Epoch::accumulate`],
//! [`Epoch::fetch_and_op`]) exist only on an
//! [`Epoch`], and an epoch exists only inside a closure given to one of the
//! synchronisation methods, which opens the epoch before calling it and closes it
//! after:
//!
//! | mode | method | MPI calls |
//! |---|---|---|
//! | active target, collective | [`Window::fence`], [`Window::fence_with`] | `MPI_Win_fence` … `MPI_Win_fence` |
//! | generalized active target (PSCW) | [`Window::access`], [`Window::exposure`], [`Window::pscw`] | `MPI_Win_start` … `MPI_Win_complete`, `MPI_Win_post` … `MPI_Win_wait` |
//! | passive target | [`Window::lock`], [`Window::lock_with`], [`Window::lock_all`] | `MPI_Win_lock` … `MPI_Win_unlock`, `MPI_Win_lock_all` … `MPI_Win_unlock_all`; [`Epoch::flush`] inside |
//!
//! # Buffer rules, enforced by the borrow checker
//!
//! MPI only guarantees an RMA operation complete when its epoch closes. So every
//! origin buffer handed to an epoch (the source of `put`/`accumulate`, the
//! destination of `get`) is borrowed for the lifetime `'a` of the whole
//! synchronisation call, not just for the call to `put`/`get`: the buffer can be
//! read (after `get`) or modified (after `put`) only once the synchronisation
//! method has returned. The epoch lifetime is invariant, and the epoch is only
//! lent to the closure, so neither shrinking the lifetime nor leaking the epoch
//! can release a buffer early:
//!
//! ```compile_fail
//! # fn demo(win: &mut quicklb_transport::rma::Window<'_, i32>) -> quicklb_transport::Result<()> {
//! let mut dst = [0i32; 1];
//! win.fence(|epoch| {
//!     epoch.get(&mut dst, 0, 0).unwrap();
//!     println!("{}", dst[0]); // error: `dst` is still borrowed by the epoch
//! })?;
//! # Ok(()) }
//! ```
//!
//! A consequence is that a source must live in a variable (`let one = [1]; epoch.put(&one, …)`),
//! not in a temporary that dies at the end of the statement.
//!
//! # Local access
//!
//! The calling rank's part of the window is read with [`Window::local`] and written
//! with [`Window::local_mut`]. Both need the window borrowed, which every
//! synchronisation method holds mutably while its epoch is open, so local access and
//! this rank's own epochs never overlap. Other ranks' passive-target epochs on this
//! rank's memory cannot be seen by this process: when other ranks lock this rank's
//! window, order local accesses against theirs yourself (for example with a barrier
//! after they unlock, or by locking your own rank around local access). With fences
//! and PSCW, remote updates are visible locally once the closing fence or
//! [`Window::exposure`] has returned.
//!
//! # Errors
//!
//! Windows get `MPI_ERRORS_RETURN`, so MPI failures come back as [`Error::Mpi`](crate::Error::Mpi).
//! Targets, displacements and counts are checked before MPI is called against the
//! window sizes of all ranks (exchanged once, at creation) and give
//! [`Error::InvalidArgument`](crate::Error::InvalidArgument).

use std::ffi::{c_int, c_void};
use std::marker::PhantomData;

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::topology::{Communicator, Group, Rank};
use mpi::traits::AsRaw;

use crate::error::{check, invalid, Result};

/// The lock type of a passive-target epoch ([`Window::lock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockType {
    /// `MPI_LOCK_SHARED`: other ranks may hold a shared lock on the same target at once.
    Shared,
    /// `MPI_LOCK_EXCLUSIVE`: no other rank holds a lock on the target meanwhile.
    Exclusive,
}

impl LockType {
    fn as_raw(self) -> c_int {
        match self {
            LockType::Shared => ffi::MPI_LOCK_SHARED as c_int,
            LockType::Exclusive => ffi::MPI_LOCK_EXCLUSIVE as c_int,
        }
    }
}

/// Assertions (`MPI_MODE_*`) that let MPI optimise a synchronisation call.
///
/// The values are those of the MPI library this crate was built against (they differ
/// between Open MPI and MPICH). Combine them with `|`. A wrong assertion is
/// erroneous in MPI; [`Assert::NONE`] is always correct.
///
/// ```
/// use quicklb_transport::rma::Assert;
/// let first_fence = Assert::NOPRECEDE | Assert::NOSTORE;
/// assert!(first_fence.contains(Assert::NOPRECEDE));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Assert(c_int);

impl Assert {
    /// No assertion (`0`).
    pub const NONE: Assert = Assert(0);
    /// `MPI_MODE_NOCHECK`: the matching post (PSCW) or no conflicting lock (passive)
    /// is already known to hold.
    pub const NOCHECK: Assert = Assert(ffi::MPI_MODE_NOCHECK as c_int);
    /// `MPI_MODE_NOSTORE`: the local window was not updated by local stores since the
    /// last synchronisation.
    pub const NOSTORE: Assert = Assert(ffi::MPI_MODE_NOSTORE as c_int);
    /// `MPI_MODE_NOPUT`: the local window will not be updated by put or accumulate
    /// until the next synchronisation.
    pub const NOPUT: Assert = Assert(ffi::MPI_MODE_NOPUT as c_int);
    /// `MPI_MODE_NOPRECEDE` (fence): this fence completes no RMA calls of this rank.
    pub const NOPRECEDE: Assert = Assert(ffi::MPI_MODE_NOPRECEDE as c_int);
    /// `MPI_MODE_NOSUCCEED` (fence): no RMA calls of this rank follow this fence.
    pub const NOSUCCEED: Assert = Assert(ffi::MPI_MODE_NOSUCCEED as c_int);

    /// The raw `int` passed to MPI.
    pub fn as_raw(self) -> c_int {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(self, other: Assert) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Assert {
    type Output = Assert;
    fn bitor(self, rhs: Assert) -> Assert {
        Assert(self.0 | rhs.0)
    }
}

/// Where a window's local memory comes from.
enum Memory<T> {
    /// Lent by the caller (`MPI_Win_create`); the borrow lives in `Window`'s lifetime.
    Borrowed,
    /// Allocated by `MPI_Win_allocate`; freed by `MPI_Win_free`.
    Allocated,
    /// Single-rank fallback of `create`: MPI-allocated memory standing in for the
    /// caller's buffer at this address, which receives the contents on drop.
    Shadow(*mut T),
}

/// An RMA window over `len` elements of `T` on each rank of a communicator.
///
/// `'b` is the lifetime of the caller's buffer for [`Window::create`] (the buffer
/// stays mutably borrowed until the window is dropped) and `'static` for
/// [`Window::allocate`]. Dropping the window calls `MPI_Win_free`, which is
/// collective: all ranks drop their windows in the same order. Do not leak a window
/// created over your buffer (`mem::forget`): the buffer would come back to you while
/// other ranks can still reach it through their passive-target epochs.
///
/// ```no_run
/// use mpi::traits::*;
/// use mpi::collective::SystemOperation;
/// use quicklb_transport::rma::{LockType, Window};
///
/// let universe = mpi::initialize().unwrap();
/// let world = universe.world();
/// let rank = world.rank();
///
/// // A window over a caller's buffer: rank 0 puts 42 into rank 1's slot 0.
/// let mut memory = vec![0i32; 4];
/// let mut win = Window::create(&world, &mut memory)?;
/// let value = [42];
/// win.fence(|epoch| {
///     if rank == 0 {
///         epoch.put(&value, 1, 0)?;
///     }
///     Ok::<_, quicklb_transport::Error>(())
/// })??;
///
/// // Every rank adds rank+1 into rank 0's slot 1.
/// let mine = [rank + 1];
/// win.fence(|epoch| epoch.accumulate(&mine, 0, 1, SystemOperation::sum()))??;
///
/// // Passive target: read the neighbour's slot 0 under a shared lock.
/// let right = (rank + 1) % world.size();
/// let mut got = [0i32];
/// win.lock(right, LockType::Shared, |epoch| epoch.get(&mut got, right, 0))??;
/// println!("rank {rank} read {} from rank {right}", got[0]);
/// drop(win); // MPI_Win_free, collective
/// # Ok::<(), quicklb_transport::Error>(())
/// ```
pub struct Window<'b, T: Equivalence> {
    raw: ffi::MPI_Win,
    base: *mut T,
    len: usize,
    /// Window length in elements on every rank of the window's group.
    sizes: Vec<usize>,
    rank: Rank,
    memory: Memory<T>,
    datatype: T::Out,
    _buffer: PhantomData<&'b mut [T]>,
}

impl<'b, T: Equivalence + bytemuck::Pod> Window<'b, T> {
    /// Creates a window over `buffer` on every rank of `comm` (`MPI_Win_create`,
    /// collective). `buffer` may be empty on some ranks. It stays mutably borrowed
    /// until the window is dropped; use [`Window::local`] and [`Window::local_mut`]
    /// to access it meanwhile.
    ///
    /// On a single-rank communicator where the MPI library cannot create a window
    /// over user memory (Open MPI 4.1's default `osc/rdma` component with only the
    /// `self` transport), the window falls back to MPI-allocated memory initialised
    /// from `buffer`, and `buffer` receives the final contents when the window is
    /// dropped. Seen through this API the two are indistinguishable.
    pub fn create<C: Communicator>(comm: &C, buffer: &'b mut [T]) -> Result<Self> {
        let unit = disp_unit::<T>("MPI_Win_create")?;
        let len = buffer.len();
        let bytes = window_bytes::<T>("MPI_Win_create", len)?;
        let base = buffer.as_mut_ptr();
        let dup = ErrorsReturnComm::dup(comm.as_raw())?;
        let mut raw = ffi_win_null();
        // SAFETY: `base` points to `len` initialised, writable elements of `T` that
        // stay mutably borrowed (through `PhantomData<&'b mut [T]>`) until the window
        // is freed in `Drop`; the communicator handle is valid for the call.
        let rc = unsafe {
            ffi::MPI_Win_create(
                base.cast::<c_void>(),
                bytes,
                unit,
                ffi::RSMPI_INFO_NULL,
                dup.raw,
                &mut raw,
            )
        };
        match check("MPI_Win_create", rc) {
            Ok(()) => Self::finish(&dup, raw, base, len, Memory::Borrowed),
            Err(e) if comm.size() == 1 => {
                // Single rank: the fallback is local, no other rank can disagree.
                let (raw, shadow) = allocate_raw::<T>(&dup, len).map_err(|_| e)?;
                // SAFETY: `shadow` holds `len` elements (zeroed) and `base` the
                // caller's `len` elements; the two allocations do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(base, shadow, len) };
                Self::finish(&dup, raw, shadow, len, Memory::Shadow(base))
            }
            Err(e) => Err(e),
        }
    }
}

impl<T: Equivalence + bytemuck::Pod> Window<'static, T> {
    /// Allocates a window of `len` elements of `T` on this rank (`MPI_Win_allocate`,
    /// collective; `len` may differ between ranks and be 0). The memory is owned by
    /// the window, zero-initialised, and freed with the window. All ranks have zeroed
    /// their memory when this returns (it ends with a barrier), so no remote update
    /// can be overwritten by the initialisation.
    pub fn allocate<C: Communicator>(comm: &C, len: usize) -> Result<Self> {
        let dup = ErrorsReturnComm::dup(comm.as_raw())?;
        let (raw, base) = allocate_raw::<T>(&dup, len)?;
        Self::finish(&dup, raw, base, len, Memory::Allocated)
    }
}

/// `MPI_Win_allocate` of `len` zeroed elements, then a barrier on `comm`.
fn allocate_raw<T>(comm: &ErrorsReturnComm, len: usize) -> Result<(ffi::MPI_Win, *mut T)> {
    let unit = disp_unit::<T>("MPI_Win_allocate")?;
    let bytes = window_bytes::<T>("MPI_Win_allocate", len)?;
    let mut base: *mut T = std::ptr::null_mut();
    let mut raw = ffi_win_null();
    // SAFETY: `baseptr` is the address of a pointer variable, as MPI_Win_allocate
    // expects (it stores the allocated base address there); the out-pointers are
    // valid and the communicator handle is valid for the call.
    let rc = unsafe {
        ffi::MPI_Win_allocate(
            bytes,
            unit,
            ffi::RSMPI_INFO_NULL,
            comm.raw,
            (&mut base as *mut *mut T).cast::<c_void>(),
            &mut raw,
        )
    };
    check("MPI_Win_allocate", rc)?;
    if len > 0 {
        // SAFETY: MPI allocated `bytes = len * size_of::<T>()` bytes at `base`,
        // aligned for any basic type, and no other process accesses them before
        // the barrier below.
        unsafe { std::ptr::write_bytes(base, 0, len) };
    } else {
        base = std::ptr::NonNull::dangling().as_ptr();
    }
    // SAFETY: a barrier on a valid communicator handle.
    let rc = unsafe { ffi::MPI_Barrier(comm.raw) };
    if let Err(e) = check("MPI_Barrier", rc) {
        // SAFETY: `raw` is the window just created; freeing it is collective, as
        // is the failed barrier that brought us here.
        unsafe { ffi::MPI_Win_free(&mut raw) };
        return Err(e);
    }
    Ok((raw, base))
}

/// A duplicate of a caller's communicator with `MPI_ERRORS_RETURN`, so that
/// failures of window creation come back as errors; freed on drop (the window
/// keeps its own reference to the group).
struct ErrorsReturnComm {
    raw: ffi::MPI_Comm,
}

impl ErrorsReturnComm {
    fn dup(comm: ffi::MPI_Comm) -> Result<Self> {
        // SAFETY: reading a predefined handle constant.
        let mut raw = unsafe { ffi::RSMPI_COMM_NULL };
        // SAFETY: `comm` is a valid communicator (borrowed from an rsmpi
        // communicator); `raw` is a valid out-pointer.
        check("MPI_Comm_dup", unsafe { ffi::MPI_Comm_dup(comm, &mut raw) })?;
        let dup = ErrorsReturnComm { raw };
        crate::error::set_errors_return(dup.raw)?;
        Ok(dup)
    }

    fn size(&self) -> usize {
        let mut size: c_int = 0;
        // SAFETY: a valid communicator and a valid out-pointer.
        unsafe { ffi::MPI_Comm_size(self.raw, &mut size) };
        usize::try_from(size).unwrap_or(0)
    }

    fn rank(&self) -> Rank {
        let mut rank: c_int = 0;
        // SAFETY: a valid communicator and a valid out-pointer.
        unsafe { ffi::MPI_Comm_rank(self.raw, &mut rank) };
        rank
    }
}

impl Drop for ErrorsReturnComm {
    fn drop(&mut self) {
        // SAFETY: `raw` is the communicator duplicated in `dup`, freed only here.
        unsafe { ffi::MPI_Comm_free(&mut self.raw) };
    }
}

impl<'b, T: Equivalence + bytemuck::Pod> Window<'b, T> {
    /// Common tail of the constructors: error handler, sizes of all ranks.
    fn finish(
        comm: &ErrorsReturnComm,
        mut raw: ffi::MPI_Win,
        base: *mut T,
        len: usize,
        memory: Memory<T>,
    ) -> Result<Self> {
        let setup = || -> Result<Vec<usize>> {
            // SAFETY: `raw` is a valid window; MPI_ERRORS_RETURN is predefined.
            let rc = unsafe { ffi::MPI_Win_set_errhandler(raw, ffi::RSMPI_ERRORS_RETURN) };
            check("MPI_Win_set_errhandler", rc)?;
            let size = comm.size();
            let mut sizes = vec![0u64; size];
            let mine = len as u64;
            // SAFETY: send buffer is one u64, receive buffer holds `size` u64s, as
            // MPI_UINT64_T with count 1 per rank requires; the communicator is valid.
            let rc = unsafe {
                ffi::MPI_Allgather(
                    (&mine as *const u64).cast::<c_void>(),
                    1,
                    ffi::RSMPI_UINT64_T,
                    sizes.as_mut_ptr().cast::<c_void>(),
                    1,
                    ffi::RSMPI_UINT64_T,
                    comm.raw,
                )
            };
            check("MPI_Allgather", rc)?;
            Ok(sizes.into_iter().map(|s| s as usize).collect())
        };
        match setup() {
            Ok(sizes) => Ok(Window {
                raw,
                base,
                len,
                sizes,
                rank: comm.rank(),
                memory,
                datatype: T::equivalent_datatype(),
                _buffer: PhantomData,
            }),
            Err(e) => {
                // SAFETY: `raw` is the window just created and not used afterwards.
                unsafe { ffi::MPI_Win_free(&mut raw) };
                Err(e)
            }
        }
    }

    /// The raw `MPI_Win` handle, for calls this crate does not wrap. Do not free it
    /// and do not open epochs with it while an epoch of this crate is open.
    pub fn as_raw(&self) -> ffi::MPI_Win {
        self.raw
    }

    /// Number of elements of this rank's part of the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether this rank's part of the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of elements of every rank's part of the window, indexed by rank.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// This rank's rank in the window's communicator.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Whether the memory was allocated by MPI ([`Window::allocate`]) rather than
    /// lent ([`Window::create`], also `false` for its single-rank fallback).
    pub fn is_allocated(&self) -> bool {
        matches!(self.memory, Memory::Allocated)
    }

    /// This rank's part of the window. See the module docs for the rule with other
    /// ranks' passive-target epochs.
    pub fn local(&self) -> &[T] {
        // SAFETY: `base` points to `len` initialised elements (the lent buffer, or
        // MPI memory zeroed at allocation) that live as long as the window; no epoch
        // of this process is open while `self` is borrowed here.
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
    }

    /// This rank's part of the window, writable. See the module docs for the rule
    /// with other ranks' passive-target epochs.
    pub fn local_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `local`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }

    fn epoch<'a>(&'a self, kind: EpochKind) -> Epoch<'a, T> {
        Epoch {
            raw: self.raw,
            datatype: self.datatype.as_raw(),
            sizes: &self.sizes,
            kind,
            _buffers: PhantomData,
        }
    }

    /// Active-target epoch between two fences: `MPI_Win_fence(0)`, `f`, `MPI_Win_fence(0)`.
    /// Collective over the window's group: every rank calls it, with or without RMA
    /// calls in `f`. Returns what `f` returns once the closing fence is done, when
    /// all operations of the epoch (from every rank) are complete.
    pub fn fence<'a, R>(&'a mut self, f: impl FnOnce(&Epoch<'a, T>) -> R) -> Result<R> {
        self.fence_with(Assert::NONE, Assert::NONE, f)
    }

    /// [`Window::fence`] with assertions for the opening and the closing fence.
    pub fn fence_with<'a, R>(
        &'a mut self,
        open: Assert,
        close: Assert,
        f: impl FnOnce(&Epoch<'a, T>) -> R,
    ) -> Result<R> {
        let this: &'a Self = self;
        // SAFETY: a valid window; fence takes no buffers.
        check("MPI_Win_fence", unsafe {
            ffi::MPI_Win_fence(open.as_raw(), this.raw)
        })?;
        let closer = Closer::new(this.raw, Close::Fence(close));
        let out = f(&this.epoch(EpochKind::Active));
        closer.finish()?;
        Ok(out)
    }

    /// Passive-target epoch on one target: `MPI_Win_lock(lock_type, target)`, `f`,
    /// `MPI_Win_unlock(target)`. Not collective. Inside `f`, operations may only
    /// name `target`. All of them are complete at the target when this returns.
    pub fn lock<'a, R>(
        &'a mut self,
        target: Rank,
        lock_type: LockType,
        f: impl FnOnce(&Epoch<'a, T>) -> R,
    ) -> Result<R> {
        self.lock_with(target, lock_type, Assert::NONE, f)
    }

    /// [`Window::lock`] with an assertion ([`Assert::NOCHECK`] or none).
    pub fn lock_with<'a, R>(
        &'a mut self,
        target: Rank,
        lock_type: LockType,
        assert: Assert,
        f: impl FnOnce(&Epoch<'a, T>) -> R,
    ) -> Result<R> {
        let this: &'a Self = self;
        this.check_rank("MPI_Win_lock", target)?;
        // SAFETY: a valid window and a target rank checked to be in its group.
        check("MPI_Win_lock", unsafe {
            ffi::MPI_Win_lock(lock_type.as_raw(), target, assert.as_raw(), this.raw)
        })?;
        let closer = Closer::new(this.raw, Close::Unlock(target));
        let out = f(&this.epoch(EpochKind::Lock(target)));
        closer.finish()?;
        Ok(out)
    }

    /// Passive-target epoch on all ranks at once with shared locks:
    /// `MPI_Win_lock_all`, `f`, `MPI_Win_unlock_all`. Not collective.
    pub fn lock_all<'a, R>(&'a mut self, f: impl FnOnce(&Epoch<'a, T>) -> R) -> Result<R> {
        let this: &'a Self = self;
        // SAFETY: a valid window.
        check("MPI_Win_lock_all", unsafe {
            ffi::MPI_Win_lock_all(0, this.raw)
        })?;
        let closer = Closer::new(this.raw, Close::UnlockAll);
        let out = f(&this.epoch(EpochKind::LockAll));
        closer.finish()?;
        Ok(out)
    }

    /// Access epoch of generalized active target synchronisation:
    /// `MPI_Win_start(targets)`, `f`, `MPI_Win_complete`. Each rank of `targets`
    /// (ranks of the window's communicator) must open a matching exposure epoch
    /// ([`Window::exposure`] or [`Window::pscw`]) naming this rank.
    pub fn access<'a, R, G: Group>(
        &'a mut self,
        targets: &G,
        f: impl FnOnce(&Epoch<'a, T>) -> R,
    ) -> Result<R> {
        let this: &'a Self = self;
        // SAFETY: a valid window and a valid group handle.
        check("MPI_Win_start", unsafe {
            ffi::MPI_Win_start(targets.as_raw(), 0, this.raw)
        })?;
        let closer = Closer::new(this.raw, Close::Complete);
        let out = f(&this.epoch(EpochKind::Active));
        closer.finish()?;
        Ok(out)
    }

    /// Exposure epoch of generalized active target synchronisation:
    /// `MPI_Win_post(origins)`, `f`, `MPI_Win_wait`. While `f` runs, the ranks of
    /// `origins` may access this rank's window in their access epochs; when this
    /// returns they have all completed and their updates are visible in
    /// [`Window::local`].
    pub fn exposure<R, G: Group>(&mut self, origins: &G, f: impl FnOnce() -> R) -> Result<R> {
        // SAFETY: a valid window and a valid group handle.
        check("MPI_Win_post", unsafe {
            ffi::MPI_Win_post(origins.as_raw(), 0, self.raw)
        })?;
        let closer = Closer::new(self.raw, Close::Wait);
        let out = f();
        closer.finish()?;
        Ok(out)
    }

    /// Exposure and access epoch at once, the usual shape of a PSCW exchange:
    /// `MPI_Win_post(origins)`, `MPI_Win_start(targets)`, `f`, `MPI_Win_complete`,
    /// `MPI_Win_wait`.
    pub fn pscw<'a, R, G1: Group, G2: Group>(
        &'a mut self,
        origins: &G1,
        targets: &G2,
        f: impl FnOnce(&Epoch<'a, T>) -> R,
    ) -> Result<R> {
        let this: &'a Self = self;
        // SAFETY: a valid window and a valid group handle.
        check("MPI_Win_post", unsafe {
            ffi::MPI_Win_post(origins.as_raw(), 0, this.raw)
        })?;
        let wait = Closer::new(this.raw, Close::Wait);
        // SAFETY: a valid window and a valid group handle.
        check("MPI_Win_start", unsafe {
            ffi::MPI_Win_start(targets.as_raw(), 0, this.raw)
        })?;
        let complete = Closer::new(this.raw, Close::Complete);
        let out = f(&this.epoch(EpochKind::Active));
        complete.finish()?;
        wait.finish()?;
        Ok(out)
    }

    #[inline]
    fn check_rank(&self, call: &'static str, target: Rank) -> Result<()> {
        if target < 0 || target as usize >= self.sizes.len() {
            return Err(invalid(
                call,
                format!(
                    "target rank {target} outside the window's {} ranks",
                    self.sizes.len()
                ),
            ));
        }
        Ok(())
    }
}

impl<T: Equivalence> Drop for Window<'_, T> {
    fn drop(&mut self) {
        if let Memory::Shadow(user) = self.memory {
            // SAFETY: `user` is the caller's buffer of `len` elements, still mutably
            // borrowed by this window; `base` is the MPI memory standing in for it.
            // No epoch is open, so nothing writes either while copying.
            unsafe { std::ptr::copy_nonoverlapping(self.base, user, self.len) };
        }
        // SAFETY: `raw` is a valid window created by this value and not freed before;
        // no epoch is open (epochs borrow the window and close before returning).
        // For allocated windows this also frees the memory behind `base`, which is
        // not used afterwards.
        unsafe {
            ffi::MPI_Win_free(&mut self.raw);
        }
    }
}

impl<T: Equivalence> std::fmt::Debug for Window<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("rank", &self.rank)
            .field("len", &self.len)
            .field("sizes", &self.sizes)
            .field("allocated", &matches!(self.memory, Memory::Allocated))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EpochKind {
    /// Fence or PSCW access epoch: any target (PSCW: of the access group).
    Active,
    /// Passive epoch on one target.
    Lock(Rank),
    /// Passive epoch on all targets.
    LockAll,
}

/// An open RMA epoch on a window, lent to the closure of a synchronisation method.
///
/// `'a` is the lifetime of that whole synchronisation call: buffers given to
/// `put`, `get`, `accumulate` and `fetch_and_op` stay borrowed until the epoch has
/// closed. The lifetime is invariant, so it cannot be shortened.
///
/// ```no_run
/// # use mpi::traits::*;
/// # use quicklb_transport::rma::Window;
/// # let universe = mpi::initialize().unwrap();
/// # let world = universe.world();
/// let mut win = Window::<f64>::allocate(&world, 8)?;
/// let (left, right) = ([1.0; 4], [2.0; 4]);
/// let mut back = [0.0; 8];
/// win.fence(|epoch| -> quicklb_transport::Result<()> {
///     if world.rank() == 0 {
///         epoch.put(&left, 0, 0)?;   // elements 0..4 of rank 0
///         epoch.put(&right, 0, 4)?;  // elements 4..8
///     }
///     Ok(())
/// })??;
/// win.fence(|epoch| epoch.get(&mut back, 0, 0))??;
/// assert_eq!(back[..4], left);      // `back` is readable again here
/// # Ok::<(), quicklb_transport::Error>(())
/// ```
pub struct Epoch<'a, T> {
    raw: ffi::MPI_Win,
    datatype: ffi::MPI_Datatype,
    sizes: &'a [usize],
    kind: EpochKind,
    _buffers: PhantomData<Invariant<'a, T>>,
}

/// Makes [`Epoch`] invariant in `'a` (and mark it as borrowing `[T]` for `'a`).
type Invariant<'a, T> = fn(&'a mut [T]) -> &'a mut [T];

/// Largest count handed to one MPI call; longer transfers are split.
const MAX_CHUNK: usize = c_int::MAX as usize;

impl<'a, T: Equivalence + bytemuck::Pod> Epoch<'a, T> {
    /// Checks target, kind, and `disp + count` against the target's window size.
    #[inline]
    fn validate(&self, call: &'static str, target: Rank, disp: usize, count: usize) -> Result<()> {
        if target < 0 || target as usize >= self.sizes.len() {
            return Err(invalid(
                call,
                format!(
                    "target rank {target} outside the window's {} ranks",
                    self.sizes.len()
                ),
            ));
        }
        if let EpochKind::Lock(locked) = self.kind {
            if target != locked {
                return Err(invalid(
                    call,
                    format!("target rank {target} is not the locked rank {locked}"),
                ));
            }
        }
        let size = self.sizes[target as usize];
        match disp.checked_add(count) {
            Some(end) if end <= size => Ok(()),
            _ => Err(invalid(
                call,
                format!(
                    "elements {disp}..{disp}+{count} outside rank {target}'s window of {size} elements"
                ),
            )),
        }
    }

    /// Writes `src` into `target`'s window at element `disp` (`MPI_Put`). `src` stays
    /// borrowed until the epoch closes.
    pub fn put(&self, src: &'a [T], target: Rank, disp: usize) -> Result<()> {
        self.validate("MPI_Put", target, disp, src.len())?;
        for (start, count) in chunks(src.len()) {
            // SAFETY: `src[start..start + count]` is a valid, initialised region that
            // stays borrowed (immutably) until the epoch closes, as MPI requires;
            // target, displacement and count were checked against the window.
            let rc = unsafe {
                ffi::MPI_Put(
                    src.as_ptr().add(start).cast::<c_void>(),
                    count as c_int,
                    self.datatype,
                    target,
                    (disp + start) as ffi::MPI_Aint,
                    count as c_int,
                    self.datatype,
                    self.raw,
                )
            };
            check("MPI_Put", rc)?;
        }
        Ok(())
    }

    /// Reads `dst.len()` elements from `target`'s window at element `disp` into
    /// `dst` (`MPI_Get`). `dst` stays mutably borrowed until the epoch closes, so
    /// it can only be read once the values have arrived.
    pub fn get(&self, dst: &'a mut [T], target: Rank, disp: usize) -> Result<()> {
        self.validate("MPI_Get", target, disp, dst.len())?;
        let len = dst.len();
        let base = dst.as_mut_ptr();
        for (start, count) in chunks(len) {
            // SAFETY: `base + start .. + count` lies inside `dst`, which stays
            // exclusively borrowed until the epoch closes, so nothing reads or writes
            // it while MPI may; `T: Pod` accepts any bytes MPI writes. Target,
            // displacement and count were checked against the window.
            let rc = unsafe {
                ffi::MPI_Get(
                    base.add(start).cast::<c_void>(),
                    count as c_int,
                    self.datatype,
                    target,
                    (disp + start) as ffi::MPI_Aint,
                    count as c_int,
                    self.datatype,
                    self.raw,
                )
            };
            check("MPI_Get", rc)?;
        }
        Ok(())
    }

    /// Combines `src` into `target`'s window at element `disp` with `op`
    /// (`MPI_Accumulate`; element-wise atomic with respect to other accumulates).
    /// `src` stays borrowed until the epoch closes.
    pub fn accumulate(
        &self,
        src: &'a [T],
        target: Rank,
        disp: usize,
        op: SystemOperation,
    ) -> Result<()> {
        self.validate("MPI_Accumulate", target, disp, src.len())?;
        for (start, count) in chunks(src.len()) {
            // SAFETY: as in `put`; `op` is a predefined operation handle.
            let rc = unsafe {
                ffi::MPI_Accumulate(
                    src.as_ptr().add(start).cast::<c_void>(),
                    count as c_int,
                    self.datatype,
                    target,
                    (disp + start) as ffi::MPI_Aint,
                    count as c_int,
                    self.datatype,
                    op.as_raw(),
                    self.raw,
                )
            };
            check("MPI_Accumulate", rc)?;
        }
        Ok(())
    }

    /// Atomically combines `value` into the element at `disp` of `target`'s window
    /// with `op` and stores the element's previous value in `previous`
    /// (`MPI_Fetch_and_op`): a shared counter or work queue head. `previous` holds
    /// the old value once the epoch has closed (it stays borrowed until then).
    ///
    /// ```no_run
    /// # use mpi::traits::*;
    /// # use mpi::collective::SystemOperation;
    /// # use quicklb_transport::rma::{LockType, Window};
    /// # let universe = mpi::initialize().unwrap();
    /// # let world = universe.world();
    /// // A work counter on rank 0: every rank takes the next ticket.
    /// let mut win = Window::<u64>::allocate(&world, 1)?;
    /// let (one, mut ticket) = (1u64, 0u64);
    /// win.lock(0, LockType::Shared, |e| {
    ///     e.fetch_and_op(&one, &mut ticket, 0, 0, SystemOperation::sum())
    /// })??;
    /// println!("rank {} got ticket {ticket}", world.rank());
    /// # Ok::<(), quicklb_transport::Error>(())
    /// ```
    pub fn fetch_and_op(
        &self,
        value: &'a T,
        previous: &'a mut T,
        target: Rank,
        disp: usize,
        op: SystemOperation,
    ) -> Result<()> {
        self.validate("MPI_Fetch_and_op", target, disp, 1)?;
        // SAFETY: `value` and `previous` are single valid elements borrowed (shared
        // and exclusive) until the epoch closes; target and displacement were checked
        // against the window; `op` is a predefined operation handle.
        let rc = unsafe {
            ffi::MPI_Fetch_and_op(
                (value as *const T).cast::<c_void>(),
                (previous as *mut T).cast::<c_void>(),
                self.datatype,
                target,
                disp as ffi::MPI_Aint,
                op.as_raw(),
                self.raw,
            )
        };
        check("MPI_Fetch_and_op", rc)
    }

    /// Completes all operations of this epoch to `target`, at origin and target
    /// (`MPI_Win_flush`). Passive-target epochs only. Buffers stay borrowed until
    /// the epoch closes all the same.
    pub fn flush(&self, target: Rank) -> Result<()> {
        if self.kind == EpochKind::Active {
            return Err(invalid(
                "MPI_Win_flush",
                "flush is only valid in a passive-target (lock) epoch",
            ));
        }
        self.validate("MPI_Win_flush", target, 0, 0)?;
        // SAFETY: a valid window inside a passive-target epoch, checked target.
        check("MPI_Win_flush", unsafe {
            ffi::MPI_Win_flush(target, self.raw)
        })
    }

    /// Completes all operations of this epoch to every target (`MPI_Win_flush_all`).
    /// Passive-target epochs only.
    pub fn flush_all(&self) -> Result<()> {
        if self.kind == EpochKind::Active {
            return Err(invalid(
                "MPI_Win_flush_all",
                "flush is only valid in a passive-target (lock) epoch",
            ));
        }
        // SAFETY: a valid window inside a passive-target epoch.
        check("MPI_Win_flush_all", unsafe {
            ffi::MPI_Win_flush_all(self.raw)
        })
    }
}

impl<T> std::fmt::Debug for Epoch<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Epoch").field("kind", &self.kind).finish()
    }
}

/// Splits `len` elements into (start, count) pieces that fit an MPI `int` count.
fn chunks(len: usize) -> Chunks {
    Chunks { len, start: 0 }
}

/// Iterator of [`chunks`].
struct Chunks {
    len: usize,
    start: usize,
}

impl Iterator for Chunks {
    type Item = (usize, usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.start >= self.len {
            return None;
        }
        let start = self.start;
        let count = (self.len - start).min(MAX_CHUNK);
        self.start += count;
        Some((start, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range() {
        assert_eq!(chunks(0).count(), 0);
        assert_eq!(chunks(5).collect::<Vec<_>>(), vec![(0, 5)]);
        let big = 2 * MAX_CHUNK + 3;
        assert_eq!(
            chunks(big).collect::<Vec<_>>(),
            vec![(0, MAX_CHUNK), (MAX_CHUNK, MAX_CHUNK), (2 * MAX_CHUNK, 3)]
        );
    }

    #[test]
    fn asserts_come_from_the_bindings() {
        assert_eq!(Assert::NOCHECK.as_raw(), ffi::MPI_MODE_NOCHECK as c_int);
        assert!((Assert::NOPRECEDE | Assert::NOSUCCEED).contains(Assert::NOSUCCEED));
        assert!(!Assert::NONE.contains(Assert::NOPUT));
        assert_ne!(LockType::Shared.as_raw(), LockType::Exclusive.as_raw());
    }
}

/// The call that closes an epoch.
#[derive(Clone, Copy)]
enum Close {
    Fence(Assert),
    Unlock(Rank),
    UnlockAll,
    Complete,
    Wait,
}

/// Closes an epoch: explicitly with `finish`, or on drop if the closure unwound, so
/// that no MPI operation can still write into a buffer whose borrow has ended.
struct Closer {
    raw: ffi::MPI_Win,
    close: Option<Close>,
}

impl Closer {
    #[inline]
    fn new(raw: ffi::MPI_Win, close: Close) -> Self {
        Closer {
            raw,
            close: Some(close),
        }
    }

    #[inline]
    fn run(raw: ffi::MPI_Win, close: Close) -> Result<()> {
        // SAFETY: `raw` is a valid window with an open epoch of the kind `close` ends.
        unsafe {
            match close {
                Close::Fence(a) => check("MPI_Win_fence", ffi::MPI_Win_fence(a.as_raw(), raw)),
                Close::Unlock(t) => check("MPI_Win_unlock", ffi::MPI_Win_unlock(t, raw)),
                Close::UnlockAll => check("MPI_Win_unlock_all", ffi::MPI_Win_unlock_all(raw)),
                Close::Complete => check("MPI_Win_complete", ffi::MPI_Win_complete(raw)),
                Close::Wait => check("MPI_Win_wait", ffi::MPI_Win_wait(raw)),
            }
        }
    }

    #[inline]
    fn finish(mut self) -> Result<()> {
        match self.close.take() {
            Some(close) => Self::run(self.raw, close),
            None => Ok(()),
        }
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            let _ = Self::run(self.raw, close);
        }
    }
}

fn disp_unit<T>(call: &'static str) -> Result<c_int> {
    let size = std::mem::size_of::<T>();
    if size == 0 || size > c_int::MAX as usize {
        return Err(invalid(
            call,
            format!("element size {size} bytes is not a valid displacement unit"),
        ));
    }
    Ok(size as c_int)
}

fn window_bytes<T>(call: &'static str, len: usize) -> Result<ffi::MPI_Aint> {
    len.checked_mul(std::mem::size_of::<T>())
        .and_then(|b| ffi::MPI_Aint::try_from(b).ok())
        .ok_or_else(|| invalid(call, format!("{len} elements do not fit an MPI_Aint")))
}

fn ffi_win_null() -> ffi::MPI_Win {
    // SAFETY: reading a predefined handle constant exported by the MPI shim.
    unsafe { ffi::RSMPI_WIN_NULL }
}
