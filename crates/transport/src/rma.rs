//! One-sided communication (RMA): windows over `T: Equivalence + Pod` memory and
//! the three MPI synchronisation modes.
//!
//! A [`Window`] exposes a slice of `T` on every rank of a communicator. Its memory is
//! either allocated by MPI and owned by the window ([`Window::allocate`],
//! `MPI_Win_allocate`, zero-initialised), or lent by the caller for the duration of a
//! scope ([`Window::with_buffer`], `MPI_Win_create`) that frees the window on every
//! rank before it returns. The displacement unit is `size_of::<T>()`, agreed by all
//! ranks at creation, so displacements and counts are in elements of `T`.
//!
//! RMA calls ([`Epoch::put`], [`Epoch::get`], [`Epoch::accumulate`],
//! [`Epoch::fetch_and_op`], [`Epoch::compare_and_swap`]) exist only on an
//! [`Epoch`], and an epoch exists only inside a closure given to one of the
//! synchronisation methods, which opens the epoch before calling it and closes it
//! after:
//!
//! | mode | method | MPI calls |
//! |---|---|---|
//! | active target, collective | [`Window::fence`], [`Window::fence_with`] | `MPI_Win_fence` … `MPI_Win_fence` |
//! | generalized active target (PSCW) | [`Window::access`], [`Window::exposure`], [`Window::pscw`] (and `_with` variants taking assertions) | `MPI_Win_start` … `MPI_Win_complete`, `MPI_Win_post` … `MPI_Win_wait` |
//! | passive target | [`Window::lock`], [`Window::lock_with`], [`Window::lock_all`] | `MPI_Win_lock` … `MPI_Win_unlock`, `MPI_Win_lock_all` … `MPI_Win_unlock_all`; [`Epoch::flush`] and [`Epoch::flush_local`] inside |
//!
//! The closures return `Result<R>`, and so do the methods: an error from inside the
//! epoch and an error opening it come back the same way (`win.fence(|e| e.put(..))?`).
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
//!     epoch.get(&mut dst, 0, 0)?;
//!     println!("{}", dst[0]); // error: `dst` is still borrowed by the epoch
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```
//!
//! A consequence is that a source must live in a variable (`let one = [1]; epoch.put(&one, …)`),
//! not in a temporary that dies at the end of the statement. If a closing call
//! (`MPI_Win_fence`, `MPI_Win_unlock`, `MPI_Win_complete`, `MPI_Win_wait`, …) fails,
//! MPI may still access the buffers, so the method does not return: the job is
//! aborted with the error text.
//!
//! # Lent memory
//!
//! A window over the caller's memory lives only inside [`Window::with_buffer`]: the
//! closure gets `&mut Window`, never the window itself, so it cannot be leaked
//! (`mem::forget`) or moved out, and the scope frees it (collectively) before the
//! buffer is given back. A window cannot be swapped with another one either, since
//! each scope's window has its own type:
//!
//! ```compile_fail
//! # fn f(world: &mpi::topology::SimpleCommunicator) -> quicklb_transport::Result<()> {
//! use quicklb_transport::rma::Window;
//! let (mut a, mut b) = (vec![0u8; 4], vec![0u8; 4]);
//! Window::with_buffer(world, &mut a, |wa| {
//!     Window::with_buffer(world, &mut b, |wb| {
//!         std::mem::swap(wa, wb); // error: the two windows have different types
//!         Ok(())
//!     })
//! })?;
//! # Ok(()) }
//! ```
//!
//! Nor can the window be taken out of the scope to be leaked, and the constructor
//! behind it is private:
//!
//! ```compile_fail
//! # fn f(world: &mpi::topology::SimpleCommunicator) -> quicklb_transport::Result<()> {
//! use quicklb_transport::rma::Window;
//! let mut buf = vec![0u8; 4];
//! let win = Window::with_buffer(world, &mut buf, |win| Ok(win))?; // error: escapes
//! std::mem::forget(win);
//! # Ok(()) }
//! ```
//!
//! ```compile_fail
//! # fn f(world: &mpi::topology::SimpleCommunicator) -> quicklb_transport::Result<()> {
//! let mut buf = vec![0u8; 4];
//! let win = quicklb_transport::rma::Window::create(world, &mut buf)?; // error: private
//! std::mem::forget(win);
//! # Ok(()) }
//! ```
//!
//! If the closure panics, the scope aborts the job rather than give back memory that
//! other ranks may still write.
//!
//! # Local access
//!
//! Other ranks may write this rank's part of the window at any time through
//! passive-target epochs, so it is not handed out as a plain slice. Safe local access
//! is ordered with them: [`Window::with_local`] locks this rank's own window
//! exclusively, synchronises with `MPI_Win_sync`, and lends the memory to a closure.
//! Code that orders accesses itself (e.g. only fences, which are collective) can use
//! the `unsafe` [`Window::local_unchecked`] and [`Window::local_mut_unchecked`].
//!
//! # Errors
//!
//! Creation first agrees the arguments of all ranks (one `MPI_Allgather`): an
//! element type that differs between ranks, or a length whose size in bytes
//! overflows, is the same [`Error::InvalidArgument`](crate::Error::InvalidArgument)
//! on every rank, before the collective creation. Windows get `MPI_ERRORS_RETURN`,
//! so MPI failures come back as [`Error::Mpi`](crate::Error::Mpi). Targets,
//! displacements and counts are checked before MPI is called against the window
//! sizes of all ranks and give `Error::InvalidArgument`.
//!
//! # Threads
//!
//! Windows and epochs are neither `Send` nor `Sync`, by decision (MPICH's integer
//! handles would otherwise make them both): they stay on the thread that made them.
//!
//! ```compile_fail
//! fn needs_send<S: Send>() {}
//! needs_send::<quicklb_transport::rma::Window<'static, f64>>();
//! ```
//!
//! ```compile_fail
//! fn needs_sync<S: Sync>() {}
//! needs_sync::<quicklb_transport::rma::Epoch<'static, f64>>();
//! ```
//!
//! ```compile_fail
//! fn needs_send<S: Send>() {}
//! needs_send::<quicklb_transport::rma::Epoch<'static, f64>>();
//! ```

mod assert;
mod epoch;
mod op;

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;

use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::topology::{Communicator, Group, Rank};
use mpi::traits::AsRaw;

pub use assert::{FenceClose, FenceOpen, LockAssert, LockType, PostAssert, StartAssert};
pub use epoch::{Epoch, RmaRequest};
pub use op::RmaOp;

use crate::error::{check, invalid, Result};
use crate::info::Info;
use crate::layout::{agree, Span};
use epoch::{close, closing_failed, Close, Closer, EpochKind, Reach};

/// `MPI_Win_allocate` sizes are rounded up to a multiple of this many bytes. MPICH
/// 4.0's shared-memory windows otherwise place the RMA target of a rank whose
/// predecessors' sizes are not multiples of 16 bytes at an address other than the
/// base pointer it returns (off by 8 bytes on odd ranks for 24-byte windows); whole
/// cache lines keep both equal.
const ALLOCATION_GRANULE: usize = 64;

/// Where a window's local memory comes from.
enum Memory<T> {
    /// Lent by the caller (`MPI_Win_create`) for a [`Window::with_buffer`] scope.
    Lent,
    /// Allocated by `MPI_Win_allocate`; freed by `MPI_Win_free`.
    Allocated,
    /// Single-rank fallback of [`Window::with_buffer`]: MPI-allocated memory standing
    /// in for the caller's buffer at this address, which receives the contents when
    /// the window is freed.
    Shadow(*mut T),
}

/// An RMA window over `len` elements of `T` on each rank of a communicator.
///
/// `'w` tells windows apart: it is `'static` for windows from [`Window::allocate`],
/// which own their memory, and a lifetime of its own for the window of each
/// [`Window::with_buffer`] scope. Dropping a window calls `MPI_Win_free`, which is
/// collective: all ranks drop their windows in the same order. Leaking an allocated
/// window leaks its memory, which stays valid.
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
/// Window::with_buffer(&world, &mut memory, |win| {
///     let value = [42];
///     win.fence(|epoch| {
///         if rank == 0 {
///             epoch.put(&value, 1, 0)?;
///         }
///         Ok(())
///     })?;
///     // Every rank adds rank+1 into rank 0's slot 1.
///     let mine = [rank + 1];
///     win.fence(|epoch| epoch.accumulate(&mine, 0, 1, SystemOperation::sum()))
/// })?; // the window is freed on every rank here; `memory` holds the results
///
/// // Passive target on MPI-owned memory: read the neighbour's slot 0.
/// let mut win = Window::<i32>::allocate(&world, 4)?;
/// let right = (rank + 1) % world.size();
/// let mut got = [0i32];
/// win.lock(right, LockType::Shared, |epoch| epoch.get(&mut got, right, 0))?;
/// let mine = win.with_local(|local| local[0])?; // this rank's own slot 0
/// drop(win); // MPI_Win_free, collective
/// # Ok::<(), quicklb_transport::Error>(())
/// ```
pub struct Window<'w, T: Equivalence> {
    /// What epochs need: handle, datatype, sizes, pending requests.
    reach: Reach,
    base: *mut T,
    len: usize,
    rank: Rank,
    memory: Memory<T>,
    /// Keeps the datatype whose handle `reach` holds alive for the window's life.
    _datatype: T::Out,
    /// Invariant in `'w`, so the windows of two scopes have different types.
    _brand: PhantomData<fn(&'w ()) -> &'w ()>,
    /// Neither `Send` nor `Sync`, by decision (see the module docs).
    _thread: PhantomData<*const ()>,
}

impl<T: Equivalence + bytemuck::Pod> Window<'static, T> {
    /// Allocates a window of `len` elements of `T` on this rank (`MPI_Win_allocate`,
    /// collective; `len` may differ between ranks and be 0). The memory is owned by
    /// the window, zero-initialised, and freed with the window. All ranks have zeroed
    /// their memory when this returns, so no remote update can be overwritten by the
    /// initialisation.
    ///
    /// # Errors
    /// The same [`Error::InvalidArgument`](crate::Error::InvalidArgument) on every
    /// rank if the element type differs between ranks or a rank's `len` overflows
    /// (agreed before allocating); [`Error::Mpi`](crate::Error::Mpi) if MPI fails.
    pub fn allocate<C: Communicator>(comm: &C, len: usize) -> Result<Self> {
        Self::allocate_with_info(comm, len, &Info::new())
    }

    /// [`Window::allocate`] with hints for `MPI_Win_allocate` (see [`Info`]; they
    /// must be the same on every rank).
    ///
    /// ```no_run
    /// # use quicklb_transport::{rma::Window, Info};
    /// # let universe = mpi::initialize().unwrap();
    /// # let world = mpi::topology::Communicator::duplicate(&universe.world());
    /// let hints = Info::new().with("accumulate_ordering", "none")?;
    /// let win = Window::<f64>::allocate_with_info(&world, 16, &hints)?;
    /// # Ok::<(), quicklb_transport::Error>(())
    /// ```
    pub fn allocate_with_info<C: Communicator>(comm: &C, len: usize, info: &Info) -> Result<Self> {
        let dup = ErrorsReturnComm::dup(comm.as_raw())?;
        let call = "MPI_Win_allocate";
        let sizes = agree::<T>(dup.raw, call, len, Span::PerRank, info.fingerprint())?;
        info.check_window_hints(call, &sizes)?;
        let raw_info = info.to_raw()?;
        let (raw, base) = allocate_raw::<T>(&dup, len, raw_info.handle())?;
        Self::from_parts(&dup, raw, base, len, sizes, Memory::Allocated)
    }

    /// Lends `buffer` to a window on every rank of `comm` (`MPI_Win_create`,
    /// collective) for the duration of `f`, which gets the window, and frees the
    /// window on every rank (`MPI_Win_free`, collective) before returning what `f`
    /// returned. `buffer` may be empty on some ranks; it holds the window's final
    /// contents afterwards.
    ///
    /// MPI cannot reach `buffer` once this returns, whatever `f` did: `f` only borrows
    /// the window. If `f` panics, or freeing the window fails, the job is aborted
    /// (`MPI_Abort`), since other ranks may still access the memory.
    ///
    /// On a single-rank communicator where the MPI library cannot create a window
    /// over user memory (Open MPI 4.1's default `osc/rdma` component with only the
    /// `self` transport), the window falls back to MPI-allocated memory initialised
    /// from `buffer` and copied back into it at the end. Seen through this API the
    /// two are indistinguishable.
    ///
    /// # Errors
    /// As [`Window::allocate`], agreed on every rank before the window is created;
    /// and whatever `f` returns.
    pub fn with_buffer<C, R>(
        comm: &C,
        buffer: &mut [T],
        f: impl for<'w> FnOnce(&mut Window<'w, T>) -> Result<R>,
    ) -> Result<R>
    where
        C: Communicator,
    {
        Self::with_buffer_info(comm, buffer, &Info::new(), f)
    }

    /// [`Window::with_buffer`] with hints for `MPI_Win_create` (see [`Info`]; they
    /// must be the same on every rank).
    pub fn with_buffer_info<C, R>(
        comm: &C,
        buffer: &mut [T],
        info: &Info,
        f: impl for<'w> FnOnce(&mut Window<'w, T>) -> Result<R>,
    ) -> Result<R>
    where
        C: Communicator,
    {
        let mut window = Self::create(comm, buffer, info)?;
        // From here until the window is freed, an unwinding `f` must not give the
        // buffer back: the guard aborts the job if it is dropped.
        let scope = LentScope;
        let out = f(&mut window);
        std::mem::forget(scope);
        drop(window); // MPI_Win_free; a failure aborts (see `Drop`)
        out
    }

    /// `MPI_Win_create` over `buffer`. Private: only [`Window::with_buffer`], which
    /// frees the window before `buffer`'s borrow ends, may call it.
    fn create<C: Communicator>(comm: &C, buffer: &mut [T], info: &Info) -> Result<Self> {
        let unit = disp_unit::<T>("MPI_Win_create")?;
        let dup = ErrorsReturnComm::dup(comm.as_raw())?;
        let len = buffer.len();
        let call = "MPI_Win_create";
        let sizes = agree::<T>(dup.raw, call, len, Span::PerRank, info.fingerprint())?;
        info.check_window_hints(call, &sizes)?;
        let raw_info = info.to_raw()?;
        let bytes = window_bytes::<T>("MPI_Win_create", len)?;
        let base = buffer.as_mut_ptr();
        let mut raw = ffi_win_null();
        // SAFETY: `base` points to `len` initialised, writable elements of `T`; the
        // caller (`with_buffer`) frees the window before its borrow of them ends. The
        // communicator handle is valid for the call.
        let rc = unsafe {
            ffi::MPI_Win_create(
                base.cast::<c_void>(),
                bytes,
                unit,
                raw_info.handle(),
                dup.raw,
                &mut raw,
            )
        };
        match check("MPI_Win_create", rc) {
            Ok(()) => Self::from_parts(&dup, raw, base, len, sizes, Memory::Lent),
            Err(e) if comm.size() == 1 => {
                // Single rank: the fallback is local, no other rank can disagree.
                let (raw, shadow) =
                    allocate_raw::<T>(&dup, len, raw_info.handle()).map_err(|_| e)?;
                // SAFETY: `shadow` holds `len` elements (zeroed) and `base` the
                // caller's `len` elements; the two allocations do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(base, shadow, len) };
                Self::from_parts(&dup, raw, shadow, len, sizes, Memory::Shadow(base))
            }
            Err(e) => Err(e),
        }
    }
}

/// Aborts the job if dropped: held while a [`Window::with_buffer`] closure runs, so
/// that unwinding out of it cannot give back memory that MPI may still access.
struct LentScope;

impl Drop for LentScope {
    fn drop(&mut self) {
        closing_failed(&invalid(
            "Window::with_buffer",
            "the closure panicked while the buffer was lent to a window",
        ));
    }
}

/// `MPI_Win_allocate` of `len` zeroed elements; every rank has zeroed its memory when
/// this returns. Failures of the base address check are agreed by all ranks.
fn allocate_raw<T>(
    comm: &ErrorsReturnComm,
    len: usize,
    info: ffi::MPI_Info,
) -> Result<(ffi::MPI_Win, *mut T)> {
    let unit = disp_unit::<T>("MPI_Win_allocate")?;
    let bytes = window_bytes::<T>("MPI_Win_allocate", len)?;
    let padded = (bytes as usize)
        .checked_next_multiple_of(ALLOCATION_GRANULE)
        .and_then(|b| ffi::MPI_Aint::try_from(b).ok())
        .unwrap_or(bytes);
    let mut base: *mut T = std::ptr::null_mut();
    let mut raw = ffi_win_null();
    // SAFETY: `baseptr` is the address of a pointer variable, as MPI_Win_allocate
    // expects (it stores the allocated base address there); the out-pointers are
    // valid and the communicator handle is valid for the call.
    let rc = unsafe {
        ffi::MPI_Win_allocate(
            padded,
            unit,
            info,
            comm.raw,
            (&mut base as *mut *mut T).cast::<c_void>(),
            &mut raw,
        )
    };
    check("MPI_Win_allocate", rc)?;
    // The address MPI uses for RMA on this rank is the MPI_WIN_BASE attribute; it must
    // be the base pointer, or local access and remote operations would disagree.
    let mut attr: *mut c_void = std::ptr::null_mut();
    let mut found: c_int = 0;
    // SAFETY: a valid window; for MPI_WIN_BASE, MPI stores a pointer into `attr`.
    let rc = unsafe {
        ffi::MPI_Win_get_attr(
            raw,
            ffi::MPI_WIN_BASE as c_int,
            (&mut attr as *mut *mut c_void).cast::<c_void>(),
            &mut found,
        )
    };
    let consistent =
        check("MPI_Win_get_attr", rc).is_ok() && (len == 0 || (found != 0 && attr == base.cast()));
    if len > 0 && consistent {
        // SAFETY: MPI allocated at least `len * size_of::<T>()` bytes at `base`,
        // aligned for any basic type, and no other process accesses them before the
        // all-gather below. Zeroing raw bytes forms no reference to the memory.
        unsafe { std::ptr::write_bytes(base, 0, len) };
    } else if len == 0 {
        base = std::ptr::NonNull::dangling().as_ptr();
    }
    // Every rank contributes its check, and has zeroed its memory, before any rank
    // gets the result: this also orders the zeroing before every remote access.
    let all = all_gather_flags(comm, consistent);
    match all {
        Ok(flags) if flags.iter().all(|&ok| ok) => Ok((raw, base)),
        other => {
            // SAFETY: `raw` is the window just created; every rank frees it, since
            // every rank sees the same flags (or the same failed all-gather).
            unsafe { ffi::MPI_Win_free(&mut raw) };
            match other {
                Err(e) => Err(e),
                Ok(flags) => {
                    let bad = flags.iter().position(|&ok| !ok).unwrap_or(0);
                    Err(invalid(
                        "MPI_Win_allocate",
                        format!(
                            "on rank {bad}, the base address MPI returned is not the window's \
                             MPI_WIN_BASE"
                        ),
                    ))
                }
            }
        }
    }
}

/// Every rank's `flag`, gathered on every rank.
fn all_gather_flags(comm: &ErrorsReturnComm, flag: bool) -> Result<Vec<bool>> {
    let mine = i32::from(flag);
    let mut all = vec![0i32; comm.size()];
    // SAFETY: one int in, one int per rank out, with the predefined datatype; the
    // communicator is valid.
    let rc = unsafe {
        ffi::MPI_Allgather(
            (&mine as *const i32).cast::<c_void>(),
            1,
            ffi::RSMPI_INT32_T,
            all.as_mut_ptr().cast::<c_void>(),
            1,
            ffi::RSMPI_INT32_T,
            comm.raw,
        )
    };
    check("MPI_Allgather", rc)?;
    Ok(all.into_iter().map(|f| f == 1).collect())
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
}

impl Drop for ErrorsReturnComm {
    fn drop(&mut self) {
        // SAFETY: `raw` is the communicator duplicated in `dup`, freed only here.
        unsafe { ffi::MPI_Comm_free(&mut self.raw) };
    }
}

impl<'w, T: Equivalence + bytemuck::Pod> Window<'w, T> {
    /// Common tail of the constructors: the error handler and the agreed sizes.
    fn from_parts(
        _comm: &ErrorsReturnComm,
        mut raw: ffi::MPI_Win,
        base: *mut T,
        len: usize,
        sizes: Vec<usize>,
        memory: Memory<T>,
    ) -> Result<Self> {
        // SAFETY: `raw` is a valid window; MPI_ERRORS_RETURN is predefined.
        let rc = unsafe { ffi::MPI_Win_set_errhandler(raw, ffi::RSMPI_ERRORS_RETURN) };
        if let Err(e) = check("MPI_Win_set_errhandler", rc) {
            // SAFETY: `raw` is the window just created and not used afterwards.
            unsafe { ffi::MPI_Win_free(&mut raw) };
            return Err(e);
        }
        let mut rank: c_int = 0;
        // SAFETY: a valid communicator and a valid out-pointer.
        unsafe { ffi::MPI_Comm_rank(_comm.raw, &mut rank) };
        let datatype = T::equivalent_datatype();
        Ok(Window {
            reach: Reach {
                raw,
                datatype: datatype.as_raw(),
                sizes,
                pending: RefCell::new(Vec::new()),
                any_pending: Cell::new(false),
            },
            base,
            len,
            rank,
            memory,
            _datatype: datatype,
            _brand: PhantomData,
            _thread: PhantomData,
        })
    }

    /// The raw `MPI_Win` handle, for calls this crate does not wrap. Do not free it
    /// and do not open epochs with it while an epoch of this crate is open.
    pub fn as_raw(&self) -> ffi::MPI_Win {
        self.reach.raw
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
        &self.reach.sizes
    }

    /// This rank's rank in the window's communicator.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Whether the memory was allocated by MPI ([`Window::allocate`]) rather than
    /// lent ([`Window::with_buffer`], also `false` for its single-rank fallback).
    pub fn is_allocated(&self) -> bool {
        matches!(self.memory, Memory::Allocated)
    }

    /// Lends this rank's part of the window to `f`, ordered with every other access:
    /// `MPI_Win_lock(MPI_LOCK_EXCLUSIVE, own rank)`, `MPI_Win_sync`, `f`,
    /// `MPI_Win_sync`, `MPI_Win_unlock`. No other rank's passive-target epoch on this
    /// rank overlaps `f`, and their completed updates are visible in it. Not
    /// collective; do not call it while other ranks wait in a fence or PSCW epoch
    /// that needs this rank.
    ///
    /// ```no_run
    /// # use mpi::traits::*;
    /// # use quicklb_transport::rma::Window;
    /// # let universe = mpi::initialize().unwrap();
    /// # let world = universe.world();
    /// let mut win = Window::<u64>::allocate(&world, 4)?;
    /// win.with_local(|local| local.fill(7))?;
    /// let first = win.with_local(|local| local[0])?;
    /// # Ok::<(), quicklb_transport::Error>(())
    /// ```
    pub fn with_local<R>(&mut self, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        let (raw, rank) = (self.reach.raw, self.rank);
        // SAFETY: a valid window; this rank is in its group.
        check("MPI_Win_lock", unsafe {
            ffi::MPI_Win_lock(ffi::MPI_LOCK_EXCLUSIVE as c_int, rank, 0, raw)
        })?;
        let unlock = Closer::new(raw, close::Unlock(rank));
        // SAFETY: a valid window inside a passive-target epoch.
        let synced = check("MPI_Win_sync", unsafe { ffi::MPI_Win_sync(raw) });
        if let Err(e) = synced {
            unlock.finish();
            return Err(e);
        }
        // SAFETY: `base` points to `len` initialised elements (the lent buffer, or
        // MPI memory zeroed at allocation) that live as long as the window. The
        // exclusive lock on this rank keeps every other rank's passive-target access
        // out until the unlock below, this rank's own epochs need `&mut self`, and the
        // synchronisation above made completed remote updates visible.
        let local = unsafe { std::slice::from_raw_parts_mut(self.base, self.len) };
        let out = f(local);
        // SAFETY: as above; publishes the local stores before the unlock.
        let synced = check("MPI_Win_sync", unsafe { ffi::MPI_Win_sync(raw) });
        unlock.finish();
        synced.map(|()| out)
    }

    /// This rank's part of the window, without synchronisation.
    ///
    /// # Safety
    /// No other rank may write this memory (through a passive-target epoch, or in an
    /// active-target epoch that has not been closed on this rank) while the slice
    /// lives. That holds, for example, between two fence epochs when no rank uses
    /// passive-target synchronisation on this window.
    pub unsafe fn local_unchecked(&self) -> &[T] {
        // SAFETY: `base` points to `len` initialised elements that live as long as the
        // window; the caller guarantees that nobody writes them meanwhile.
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
    }

    /// This rank's part of the window, writable, without synchronisation.
    ///
    /// # Safety
    /// No other rank may read or write this memory through RMA while the slice lives
    /// (see [`local_unchecked`](Self::local_unchecked)).
    pub unsafe fn local_mut_unchecked(&mut self) -> &mut [T] {
        // SAFETY: as in `local_unchecked`, and `&mut self` excludes this rank's epochs.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }

    #[inline]
    fn epoch<'a>(&'a self, kind: EpochKind) -> Epoch<'a, T> {
        Epoch::new(&self.reach, kind)
    }

    /// Active-target epoch between two fences: `MPI_Win_fence(0)`, `f`, `MPI_Win_fence(0)`.
    /// Collective over the window's group: every rank calls it, with or without RMA
    /// calls in `f`. Returns what `f` returns once the closing fence is done, when
    /// all operations of the epoch (from every rank) are complete.
    #[inline]
    pub fn fence<'a, R>(&'a mut self, f: impl FnOnce(&Epoch<'a, T>) -> Result<R>) -> Result<R> {
        self.fence_with(FenceOpen::NONE, FenceClose::NONE, f)
    }

    /// [`Window::fence`] with assertions for the opening and the closing fence (each
    /// type holds only the assertions valid at its end).
    #[inline]
    pub fn fence_with<'a, R>(
        &'a mut self,
        open: FenceOpen,
        close: FenceClose,
        f: impl FnOnce(&Epoch<'a, T>) -> Result<R>,
    ) -> Result<R> {
        let this: &'a Self = self;
        // SAFETY: a valid window; fence takes no buffers.
        check("MPI_Win_fence", unsafe {
            ffi::MPI_Win_fence(open.as_raw(), this.reach.raw)
        })?;
        let closer = Closer::new(this.reach.raw, close::Fence(close));
        let epoch = this.epoch(EpochKind::Active);
        let out = f(&epoch);
        end_epoch(epoch, closer, out)
    }

    /// Passive-target epoch on one target: `MPI_Win_lock(lock_type, target)`, `f`,
    /// `MPI_Win_unlock(target)`. Not collective. Inside `f`, operations may only
    /// name `target`. All of them are complete at the target when this returns.
    #[inline]
    pub fn lock<'a, R>(
        &'a mut self,
        target: Rank,
        lock_type: LockType,
        f: impl FnOnce(&Epoch<'a, T>) -> Result<R>,
    ) -> Result<R> {
        self.lock_with(target, lock_type, LockAssert::NONE, f)
    }

    /// [`Window::lock`] with an assertion ([`LockAssert::NOCHECK`] or none).
    #[inline]
    pub fn lock_with<'a, R>(
        &'a mut self,
        target: Rank,
        lock_type: LockType,
        assert: LockAssert,
        f: impl FnOnce(&Epoch<'a, T>) -> Result<R>,
    ) -> Result<R> {
        let this: &'a Self = self;
        this.check_rank("MPI_Win_lock", target)?;
        // SAFETY: a valid window and a target rank checked to be in its group.
        check("MPI_Win_lock", unsafe {
            ffi::MPI_Win_lock(lock_type.as_raw(), target, assert.as_raw(), this.reach.raw)
        })?;
        let closer = Closer::new(this.reach.raw, close::Unlock(target));
        let epoch = this.epoch(EpochKind::Lock(target));
        let out = f(&epoch);
        end_epoch(epoch, closer, out)
    }

    /// Passive-target epoch on all ranks at once with shared locks:
    /// `MPI_Win_lock_all`, `f`, `MPI_Win_unlock_all`. Not collective.
    #[inline]
    pub fn lock_all<'a, R>(&'a mut self, f: impl FnOnce(&Epoch<'a, T>) -> Result<R>) -> Result<R> {
        self.lock_all_with(LockAssert::NONE, f)
    }

    /// [`Window::lock_all`] with an assertion ([`LockAssert::NOCHECK`] or none).
    #[inline]
    pub fn lock_all_with<'a, R>(
        &'a mut self,
        assert: LockAssert,
        f: impl FnOnce(&Epoch<'a, T>) -> Result<R>,
    ) -> Result<R> {
        let this: &'a Self = self;
        // SAFETY: a valid window.
        check("MPI_Win_lock_all", unsafe {
            ffi::MPI_Win_lock_all(assert.as_raw(), this.reach.raw)
        })?;
        let closer = Closer::new(this.reach.raw, close::UnlockAll);
        let epoch = this.epoch(EpochKind::LockAll);
        let out = f(&epoch);
        end_epoch(epoch, closer, out)
    }

    /// Access epoch of generalized active target synchronisation:
    /// `MPI_Win_start(targets)`, `f`, `MPI_Win_complete`. Each rank of `targets`
    /// (ranks of the window's communicator) must open a matching exposure epoch
    /// ([`Window::exposure`] or [`Window::pscw`]) naming this rank.
    pub fn access<'a, R, G: Group>(
        &'a mut self,
        targets: &G,
        f: impl FnOnce(&Epoch<'a, T>) -> Result<R>,
    ) -> Result<R> {
        self.access_with(targets, StartAssert::NONE, f)
    }

    /// [`Window::access`] with an assertion for `MPI_Win_start`.
    pub fn access_with<'a, R, G: Group>(
        &'a mut self,
        targets: &G,
        assert: StartAssert,
        f: impl FnOnce(&Epoch<'a, T>) -> Result<R>,
    ) -> Result<R> {
        let this: &'a Self = self;
        // SAFETY: a valid window and a valid group handle.
        check("MPI_Win_start", unsafe {
            ffi::MPI_Win_start(targets.as_raw(), assert.as_raw(), this.reach.raw)
        })?;
        let closer = Closer::new(this.reach.raw, close::Complete);
        let epoch = this.epoch(EpochKind::Active);
        let out = f(&epoch);
        end_epoch(epoch, closer, out)
    }

    /// Exposure epoch of generalized active target synchronisation:
    /// `MPI_Win_post(origins)`, `f`, `MPI_Win_wait`. While `f` runs, the ranks of
    /// `origins` may access this rank's window in their access epochs; when this
    /// returns they have all completed.
    pub fn exposure<R, G: Group>(
        &mut self,
        origins: &G,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        self.exposure_with(origins, PostAssert::NONE, f)
    }

    /// [`Window::exposure`] with an assertion for `MPI_Win_post`.
    pub fn exposure_with<R, G: Group>(
        &mut self,
        origins: &G,
        assert: PostAssert,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        // SAFETY: a valid window and a valid group handle.
        check("MPI_Win_post", unsafe {
            ffi::MPI_Win_post(origins.as_raw(), assert.as_raw(), self.reach.raw)
        })?;
        let closer = Closer::new(self.reach.raw, close::Wait);
        let out = f();
        closer.finish();
        out
    }

    /// Exposure and access epoch at once, the usual shape of a PSCW exchange:
    /// `MPI_Win_post(origins)`, `MPI_Win_start(targets)`, `f`, `MPI_Win_complete`,
    /// `MPI_Win_wait`.
    pub fn pscw<'a, R, G1: Group, G2: Group>(
        &'a mut self,
        origins: &G1,
        targets: &G2,
        f: impl FnOnce(&Epoch<'a, T>) -> Result<R>,
    ) -> Result<R> {
        self.pscw_with(origins, PostAssert::NONE, targets, StartAssert::NONE, f)
    }

    /// [`Window::pscw`] with assertions for `MPI_Win_post` and `MPI_Win_start`.
    pub fn pscw_with<'a, R, G1: Group, G2: Group>(
        &'a mut self,
        origins: &G1,
        post: PostAssert,
        targets: &G2,
        start: StartAssert,
        f: impl FnOnce(&Epoch<'a, T>) -> Result<R>,
    ) -> Result<R> {
        let this: &'a Self = self;
        // SAFETY: a valid window and a valid group handle.
        check("MPI_Win_post", unsafe {
            ffi::MPI_Win_post(origins.as_raw(), post.as_raw(), this.reach.raw)
        })?;
        let wait = Closer::new(this.reach.raw, close::Wait);
        // SAFETY: a valid window and a valid group handle.
        let started = check("MPI_Win_start", unsafe {
            ffi::MPI_Win_start(targets.as_raw(), start.as_raw(), this.reach.raw)
        });
        if let Err(e) = started {
            wait.finish();
            return Err(e);
        }
        let complete = Closer::new(this.reach.raw, close::Complete);
        let epoch = this.epoch(EpochKind::Active);
        let out = f(&epoch);
        drop(epoch);
        complete.finish();
        wait.finish();
        out
    }

    #[inline(always)]
    fn check_rank(&self, call: &'static str, target: Rank) -> Result<()> {
        if target < 0 || target as usize >= self.reach.sizes.len() {
            return Err(rank_outside(call, target, self.reach.sizes.len()));
        }
        Ok(())
    }
}

impl<T: Equivalence> Drop for Window<'_, T> {
    fn drop(&mut self) {
        if let Memory::Shadow(user) = self.memory {
            // SAFETY: `user` is the caller's buffer of `len` elements, still lent to
            // the `with_buffer` scope that drops this window; `base` is the MPI memory
            // standing in for it. No epoch is open, so nothing writes either.
            unsafe { std::ptr::copy_nonoverlapping(self.base, user, self.len) };
        }
        // SAFETY: `raw` is a valid window created by this value and not freed before;
        // no epoch is open (epochs borrow the window and close before returning).
        // For allocated windows this also frees the memory behind `base`, which is
        // not used afterwards.
        let rc = unsafe { ffi::MPI_Win_free(&mut self.reach.raw) };
        if matches!(self.memory, Memory::Lent) {
            if let Err(e) = check("MPI_Win_free", rc) {
                // The buffer is about to be given back while MPI may still reach it.
                closing_failed(&e);
            }
        }
    }
}

impl<T: Equivalence> std::fmt::Debug for Window<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("rank", &self.rank)
            .field("len", &self.len)
            .field("sizes", &self.reach.sizes)
            .field("allocated", &matches!(self.memory, Memory::Allocated))
            .finish()
    }
}

/// Ends an epoch whose closure returned `out`: completes its pending requests
/// (dropping `epoch`), runs the closing call, returns `out`.
///
/// An error is boxed (out of line) while the closing call runs, so that on success
/// only the closure's value and a null pointer are kept across it. A whole
/// `Result<R>` held across the call (an [`Error`](crate::Error) is seven words)
/// was stored to the stack and copied out again after it, in every epoch.
#[inline(always)]
fn end_epoch<T, R, C: Close>(epoch: Epoch<'_, T>, closer: Closer<C>, out: Result<R>) -> Result<R> {
    let out = out.map_err(boxed);
    drop(epoch);
    closer.finish();
    out.map_err(|error| *error)
}

/// [`end_epoch`]'s error, moved to the heap for the closing call.
#[cold]
#[inline(never)]
fn boxed(error: crate::Error) -> Box<crate::Error> {
    Box::new(error)
}

#[cold]
#[inline(never)]
fn rank_outside(call: &'static str, target: Rank, ranks: usize) -> crate::Error {
    invalid(
        call,
        format!("target rank {target} outside the window's {ranks} ranks"),
    )
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
