//! [`Epoch`]: the RMA calls of an open epoch, and the closing of epochs.
//!
//! An epoch closes itself: the synchronisation method that lent it runs the closing
//! call after the closure returns, or while it unwinds. If that closing call fails,
//! MPI may still read or write the buffers lent to the epoch, so their borrows cannot
//! end: the job is aborted (`MPI_Abort`) with the error text instead of returning.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;

use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::topology::Rank;

use super::{FenceClose, RmaOp};
use crate::error::{check, invalid, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpochKind {
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
/// win.fence(|epoch| {
///     if world.rank() == 0 {
///         epoch.put(&left, 0, 0)?;   // elements 0..4 of rank 0
///         epoch.put(&right, 0, 4)?;  // elements 4..8
///     }
///     Ok(())
/// })?;
/// win.fence(|epoch| epoch.get(&mut back, 0, 0))?;
/// assert_eq!(back[..4], left);      // `back` is readable again here
/// # Ok::<(), quicklb_transport::Error>(())
/// ```
pub struct Epoch<'a, T> {
    /// The window's handle, datatype, sizes and request list, borrowed: opening an
    /// epoch copies nothing but this reference and the kind.
    reach: &'a Reach,
    kind: EpochKind,
    _buffers: PhantomData<Invariant<'a, T>>,
    /// Neither `Send` nor `Sync`, by decision: an epoch belongs to the thread that
    /// opened it (MPI handles are plain integers on MPICH, which would make it both).
    _thread: PhantomData<*const ()>,
}

/// What an epoch reads from its window. Not generic, so that it is shared by the
/// windows of every element type; it lives in the [`Window`](super::Window) and
/// epochs borrow it.
pub(crate) struct Reach {
    pub(crate) raw: ffi::MPI_Win,
    pub(crate) datatype: ffi::MPI_Datatype,
    /// Window length in elements on every rank of the window's group.
    pub(crate) sizes: Vec<usize>,
    /// Requests of `rput`/`rget`/`raccumulate` of the open epoch (`MPI_REQUEST_NULL`
    /// once completed); all are completed, and the list emptied, before the epoch
    /// closes. Unallocated unless request-based operations are used; kept with its
    /// capacity across epochs afterwards.
    pub(crate) pending: RefCell<Vec<ffi::MPI_Request>>,
    /// Whether `pending` may hold requests: set when one is added, cleared when the
    /// list is emptied. The end of every passive epoch tests it (one load) instead
    /// of borrowing the list.
    pub(crate) any_pending: Cell<bool>,
}

/// Makes [`Epoch`] invariant in `'a` (and mark it as borrowing `[T]` for `'a`).
type Invariant<'a, T> = fn(&'a mut [T]) -> &'a mut [T];

/// Largest count handed to one MPI call; longer transfers are split.
const MAX_CHUNK: usize = c_int::MAX as usize;

impl<'a, T: Equivalence + bytemuck::Pod> Epoch<'a, T> {
    #[inline(always)]
    pub(crate) fn new(reach: &'a Reach, kind: EpochKind) -> Self {
        Epoch {
            reach,
            kind,
            _buffers: PhantomData,
            _thread: PhantomData,
        }
    }

    /// Checks target, kind, and `disp + count` against the target's window size.
    ///
    /// Inlined into every RMA call: the accepted case is a few comparisons, and the
    /// message of a rejected one is built out of line ([`out_of_window`]).
    #[inline(always)]
    fn validate(&self, call: &'static str, target: Rank, disp: usize, count: usize) -> Result<()> {
        let locked_ok = match self.kind {
            EpochKind::Lock(locked) => target == locked,
            EpochKind::Active | EpochKind::LockAll => true,
        };
        if locked_ok && target >= 0 {
            if let (Some(&size), Some(end)) = (
                self.reach.sizes.get(target as usize),
                disp.checked_add(count),
            ) {
                if end <= size {
                    return Ok(());
                }
            }
        }
        Err(out_of_window(
            call,
            &self.reach.sizes,
            self.kind,
            target,
            disp,
            count,
        ))
    }

    /// Writes `src` into `target`'s window at element `disp` (`MPI_Put`). `src` stays
    /// borrowed until the epoch closes.
    #[inline(always)]
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
                    self.reach.datatype,
                    target,
                    (disp + start) as ffi::MPI_Aint,
                    count as c_int,
                    self.reach.datatype,
                    self.reach.raw,
                )
            };
            check("MPI_Put", rc)?;
        }
        Ok(())
    }

    /// Reads `dst.len()` elements from `target`'s window at element `disp` into
    /// `dst` (`MPI_Get`). `dst` stays mutably borrowed until the epoch closes, so
    /// it can only be read once the values have arrived.
    #[inline(always)]
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
                    self.reach.datatype,
                    target,
                    (disp + start) as ffi::MPI_Aint,
                    count as c_int,
                    self.reach.datatype,
                    self.reach.raw,
                )
            };
            check("MPI_Get", rc)?;
        }
        Ok(())
    }

    /// Combines `src` into `target`'s window at element `disp` with `op`
    /// (`MPI_Accumulate`; element-wise atomic with respect to other accumulates).
    /// `src` stays borrowed until the epoch closes.
    #[inline(always)]
    pub fn accumulate(
        &self,
        src: &'a [T],
        target: Rank,
        disp: usize,
        op: impl Into<RmaOp>,
    ) -> Result<()> {
        let op = accumulate_op("MPI_Accumulate", op.into())?;
        self.validate("MPI_Accumulate", target, disp, src.len())?;
        for (start, count) in chunks(src.len()) {
            // SAFETY: as in `put`; `op` is a predefined operation handle.
            let rc = unsafe {
                ffi::MPI_Accumulate(
                    src.as_ptr().add(start).cast::<c_void>(),
                    count as c_int,
                    self.reach.datatype,
                    target,
                    (disp + start) as ffi::MPI_Aint,
                    count as c_int,
                    self.reach.datatype,
                    op.as_raw(),
                    self.reach.raw,
                )
            };
            check("MPI_Accumulate", rc)?;
        }
        Ok(())
    }

    /// Combines `src` into `target`'s window at element `disp` with `op` and stores
    /// the previous contents in `result` (`MPI_Get_accumulate`), element-wise atomic
    /// with respect to other accumulate-type calls. With [`RmaOp::replace`] this is an
    /// atomic swap, with [`RmaOp::no_op`] an atomic read (then `src` is not read,
    /// but must have `result`'s length). Both stay borrowed until the epoch closes.
    ///
    /// ```no_run
    /// # use mpi::traits::*;
    /// # use quicklb_transport::rma::{LockType, RmaOp, Window};
    /// # let universe = mpi::initialize().unwrap();
    /// # let world = universe.world();
    /// let mut win = Window::<f64>::allocate(&world, 4)?;
    /// let (new, mut old) = ([1.0; 4], [0.0; 4]);
    /// win.lock(0, LockType::Exclusive, |e| e.get_accumulate(&new, &mut old, 0, 0, RmaOp::replace()))?;
    /// # Ok::<(), quicklb_transport::Error>(())
    /// ```
    pub fn get_accumulate(
        &self,
        src: &'a [T],
        result: &'a mut [T],
        target: Rank,
        disp: usize,
        op: impl Into<RmaOp>,
    ) -> Result<()> {
        let op = op.into();
        if src.len() != result.len() {
            return Err(invalid(
                "MPI_Get_accumulate",
                format!(
                    "origin has {} elements but the result buffer {}",
                    src.len(),
                    result.len()
                ),
            ));
        }
        self.validate("MPI_Get_accumulate", target, disp, src.len())?;
        let out = result.as_mut_ptr();
        for (start, count) in chunks(src.len()) {
            // SAFETY: `src[start..start + count]` and `out + start .. + count` lie
            // inside the two buffers, which stay borrowed (shared and exclusive) until
            // the epoch closes; `T: Pod` accepts any bytes. Target, displacement and
            // count were checked; `op` is a predefined operation handle.
            let rc = unsafe {
                ffi::MPI_Get_accumulate(
                    src.as_ptr().add(start).cast::<c_void>(),
                    count as c_int,
                    self.reach.datatype,
                    out.add(start).cast::<c_void>(),
                    count as c_int,
                    self.reach.datatype,
                    target,
                    (disp + start) as ffi::MPI_Aint,
                    count as c_int,
                    self.reach.datatype,
                    op.as_raw(),
                    self.reach.raw,
                )
            };
            check("MPI_Get_accumulate", rc)?;
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
    /// })?;
    /// println!("rank {} got ticket {ticket}", world.rank());
    /// # Ok::<(), quicklb_transport::Error>(())
    /// ```
    pub fn fetch_and_op(
        &self,
        value: &'a T,
        previous: &'a mut T,
        target: Rank,
        disp: usize,
        op: impl Into<RmaOp>,
    ) -> Result<()> {
        let op = op.into();
        self.validate("MPI_Fetch_and_op", target, disp, 1)?;
        // SAFETY: `value` and `previous` are single valid elements borrowed (shared
        // and exclusive) until the epoch closes; target and displacement were checked
        // against the window; `op` is a predefined operation handle.
        let rc = unsafe {
            ffi::MPI_Fetch_and_op(
                (value as *const T).cast::<c_void>(),
                (previous as *mut T).cast::<c_void>(),
                self.reach.datatype,
                target,
                disp as ffi::MPI_Aint,
                op.as_raw(),
                self.reach.raw,
            )
        };
        check("MPI_Fetch_and_op", rc)
    }

    /// Atomically replaces the element at `disp` of `target`'s window by `value` if
    /// it equals `expected`, and stores the element's previous value in `previous`
    /// (`MPI_Compare_and_swap`): the swap happened iff `previous == expected` once the
    /// epoch has closed. `T` must be an integer, logical or byte type for MPI.
    ///
    /// ```no_run
    /// # use mpi::traits::*;
    /// # use quicklb_transport::rma::{LockType, Window};
    /// # let universe = mpi::initialize().unwrap();
    /// # let world = universe.world();
    /// // Claim a slot on rank 0: only the first rank to try finds it free (0).
    /// let mut win = Window::<i64>::allocate(&world, 1)?;
    /// let (free, mine, mut seen) = (0i64, i64::from(world.rank()) + 1, 0i64);
    /// win.lock(0, LockType::Shared, |e| e.compare_and_swap(&mine, &free, &mut seen, 0, 0))?;
    /// let claimed = seen == free;
    /// # Ok::<(), quicklb_transport::Error>(())
    /// ```
    pub fn compare_and_swap(
        &self,
        value: &'a T,
        expected: &'a T,
        previous: &'a mut T,
        target: Rank,
        disp: usize,
    ) -> Result<()> {
        self.validate("MPI_Compare_and_swap", target, disp, 1)?;
        // SAFETY: `value`, `expected` and `previous` are single valid elements
        // borrowed (shared, shared, exclusive) until the epoch closes; target and
        // displacement were checked against the window.
        let rc = unsafe {
            ffi::MPI_Compare_and_swap(
                (value as *const T).cast::<c_void>(),
                (expected as *const T).cast::<c_void>(),
                (previous as *mut T).cast::<c_void>(),
                self.reach.datatype,
                target,
                disp as ffi::MPI_Aint,
                self.reach.raw,
            )
        };
        check("MPI_Compare_and_swap", rc)
    }

    /// Checks a request-based operation (passive target, one MPI call) and returns
    /// its count.
    #[inline]
    fn request_op(
        &self,
        call: &'static str,
        target: Rank,
        disp: usize,
        len: usize,
    ) -> Result<c_int> {
        // Also what lets an active-target epoch's `Drop` skip the pending requests.
        if self.kind == EpochKind::Active {
            return Err(invalid(
                call,
                "request-based RMA is only valid in a passive-target (lock) epoch",
            ));
        }
        self.validate(call, target, disp, len)?;
        c_int::try_from(len).map_err(|_| {
            invalid(
                call,
                format!("{len} elements exceed one request's MPI int count"),
            )
        })
    }

    /// Records a started request; the epoch completes it before closing.
    #[inline]
    fn track<'e, B>(&'e self, request: ffi::MPI_Request, buffer: B) -> RmaRequest<'e, B> {
        let mut pending = self.reach.pending.borrow_mut();
        pending.push(request);
        self.reach.any_pending.set(true);
        RmaRequest {
            pending: &self.reach.pending,
            index: pending.len() - 1,
            buffer,
            _thread: PhantomData,
        }
    }

    /// Request-based [`put`](Self::put) (`MPI_Rput`, passive-target epochs only).
    /// [`RmaRequest::wait`] completes it at the origin and gives `src` back; a request
    /// that is never waited for (even one leaked with `mem::forget`) is completed
    /// when the epoch closes, and `src` stays borrowed until then all the same.
    pub fn rput<'e>(
        &'e self,
        src: &'a [T],
        target: Rank,
        disp: usize,
    ) -> Result<RmaRequest<'e, &'a [T]>> {
        let count = self.request_op("MPI_Rput", target, disp, src.len())?;
        // SAFETY: reading a predefined handle constant.
        let mut request = unsafe { ffi::RSMPI_REQUEST_NULL };
        // SAFETY: `src` is valid and stays borrowed until the request completes (by
        // `wait`, or before the epoch closes); target, displacement and count were
        // checked against the window; `request` is a valid out-pointer.
        let rc = unsafe {
            ffi::MPI_Rput(
                src.as_ptr().cast::<c_void>(),
                count,
                self.reach.datatype,
                target,
                disp as ffi::MPI_Aint,
                count,
                self.reach.datatype,
                self.reach.raw,
                &mut request,
            )
        };
        check("MPI_Rput", rc)?;
        Ok(self.track(request, src))
    }

    /// Request-based [`get`](Self::get) (`MPI_Rget`, passive-target epochs only).
    /// `dst` is reachable again only through [`RmaRequest::wait`], which returns it
    /// once the values have arrived, so they can be read inside the epoch.
    ///
    /// ```no_run
    /// # use mpi::traits::*;
    /// # use quicklb_transport::rma::{LockType, Window};
    /// # let universe = mpi::initialize().unwrap();
    /// # let world = universe.world();
    /// let mut win = Window::<f64>::allocate(&world, 4)?;
    /// let mut first = [0.0; 2];
    /// win.lock(0, LockType::Shared, |e| {
    ///     let arrived = e.rget(&mut first, 0, 0)?.wait()?;
    ///     println!("{}", arrived[0]); // readable before the epoch closes
    ///     Ok(())
    /// })?;
    /// # Ok::<(), quicklb_transport::Error>(())
    /// ```
    ///
    /// Before `wait`, `dst` cannot be read:
    ///
    /// ```compile_fail
    /// # use quicklb_transport::rma::{LockType, Window};
    /// # fn f(win: &mut Window<'_, f64>) -> quicklb_transport::Result<()> {
    /// let mut dst = [0.0; 2];
    /// win.lock(0, LockType::Shared, |e| {
    ///     let request = e.rget(&mut dst, 0, 0)?;
    ///     println!("{}", dst[0]); // error: `dst` is borrowed by the request
    ///     request.wait()?;
    ///     Ok(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn rget<'e>(
        &'e self,
        dst: &'a mut [T],
        target: Rank,
        disp: usize,
    ) -> Result<RmaRequest<'e, &'a mut [T]>> {
        let count = self.request_op("MPI_Rget", target, disp, dst.len())?;
        // SAFETY: reading a predefined handle constant.
        let mut request = unsafe { ffi::RSMPI_REQUEST_NULL };
        // SAFETY: `dst` is exclusively borrowed and reachable again only through the
        // request once it has completed (or after the epoch, which completes it); `T:
        // Pod` accepts any bytes. Target, displacement and count were checked.
        let rc = unsafe {
            ffi::MPI_Rget(
                dst.as_mut_ptr().cast::<c_void>(),
                count,
                self.reach.datatype,
                target,
                disp as ffi::MPI_Aint,
                count,
                self.reach.datatype,
                self.reach.raw,
                &mut request,
            )
        };
        check("MPI_Rget", rc)?;
        Ok(self.track(request, dst))
    }

    /// Request-based [`accumulate`](Self::accumulate) (`MPI_Raccumulate`,
    /// passive-target epochs only); see [`rput`](Self::rput).
    pub fn raccumulate<'e>(
        &'e self,
        src: &'a [T],
        target: Rank,
        disp: usize,
        op: impl Into<RmaOp>,
    ) -> Result<RmaRequest<'e, &'a [T]>> {
        let op = accumulate_op("MPI_Raccumulate", op.into())?;
        let count = self.request_op("MPI_Raccumulate", target, disp, src.len())?;
        // SAFETY: reading a predefined handle constant.
        let mut request = unsafe { ffi::RSMPI_REQUEST_NULL };
        // SAFETY: as in `rput`; `op` is a predefined operation handle.
        let rc = unsafe {
            ffi::MPI_Raccumulate(
                src.as_ptr().cast::<c_void>(),
                count,
                self.reach.datatype,
                target,
                disp as ffi::MPI_Aint,
                count,
                self.reach.datatype,
                op.as_raw(),
                self.reach.raw,
                &mut request,
            )
        };
        check("MPI_Raccumulate", rc)?;
        Ok(self.track(request, src))
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
            ffi::MPI_Win_flush(target, self.reach.raw)
        })
    }

    /// Completes this epoch's operations to `target` at the origin only
    /// (`MPI_Win_flush_local`): their origin buffers could be reused, although this
    /// API keeps them borrowed until the epoch closes. Passive-target epochs only.
    pub fn flush_local(&self, target: Rank) -> Result<()> {
        self.passive_only("MPI_Win_flush_local")?;
        self.validate("MPI_Win_flush_local", target, 0, 0)?;
        // SAFETY: a valid window inside a passive-target epoch, checked target.
        check("MPI_Win_flush_local", unsafe {
            ffi::MPI_Win_flush_local(target, self.reach.raw)
        })
    }

    /// [`flush_local`](Self::flush_local) to every target (`MPI_Win_flush_local_all`).
    /// Passive-target epochs only.
    pub fn flush_local_all(&self) -> Result<()> {
        self.passive_only("MPI_Win_flush_local_all")?;
        // SAFETY: a valid window inside a passive-target epoch.
        check("MPI_Win_flush_local_all", unsafe {
            ffi::MPI_Win_flush_local_all(self.reach.raw)
        })
    }

    #[inline]
    fn passive_only(&self, call: &'static str) -> Result<()> {
        if self.kind == EpochKind::Active {
            return Err(invalid(
                call,
                "flush is only valid in a passive-target (lock) epoch",
            ));
        }
        Ok(())
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
            ffi::MPI_Win_flush_all(self.reach.raw)
        })
    }
}

impl<T> Drop for Epoch<'_, T> {
    /// Completes the request-based operations still pending, before the
    /// synchronisation method closes the epoch and gives the buffers back.
    #[inline]
    fn drop(&mut self) {
        if self.kind == EpochKind::Active {
            // `request_op` refuses request-based calls in active-target epochs, so a
            // fence or PSCW epoch never has any pending. Every synchronisation method
            // opens its epoch with a constant kind, so this folds away. (Even the
            // flag test below costs a fence epoch more than itself: the call it may
            // make can unwind, so the epoch's closer has to be kept in memory.)
            debug_assert!(!self.reach.any_pending.get());
            return;
        }
        // One flag, not the list's borrow (a check, a store and a restore of the
        // `RefCell` flag around the length).
        if self.reach.any_pending.get() {
            complete_all(self.reach);
        }
    }
}

/// Completes the requests still pending when an epoch ends, and empties the list
/// for the next epoch (out of line: most epochs have none).
#[inline(never)]
fn complete_all(reach: &Reach) {
    // No request borrows the epoch any more (they borrow it), so this cannot fail.
    let mut pending = reach.pending.borrow_mut();
    // SAFETY: every entry is a request started in this epoch or MPI_REQUEST_NULL;
    // statuses are ignored.
    let rc = unsafe {
        ffi::MPI_Waitall(
            pending.len() as c_int,
            pending.as_mut_ptr(),
            ffi::RSMPI_STATUSES_IGNORE,
        )
    };
    if let Err(e) = check("MPI_Waitall", rc) {
        closing_failed(&e);
    }
    pending.clear();
    reach.any_pending.set(false);
}

/// A request-based RMA operation of an epoch ([`Epoch::rput`], [`Epoch::rget`],
/// [`Epoch::raccumulate`]), holding its buffer until [`wait`](Self::wait) hands it
/// back. It cannot outlive the epoch (it borrows it), and the epoch completes it
/// before closing if nobody waited for it.
#[must_use = "the buffer comes back from wait(); otherwise the epoch completes the request when it closes"]
pub struct RmaRequest<'e, B> {
    pending: &'e RefCell<Vec<ffi::MPI_Request>>,
    index: usize,
    buffer: B,
    _thread: PhantomData<*const ()>,
}

impl<B> RmaRequest<'_, B> {
    /// Waits until the operation has completed at the origin (`MPI_Wait`) and
    /// returns its buffer (for [`Epoch::rget`], holding the values read).
    pub fn wait(self) -> Result<B> {
        let mut request = self.pending.borrow()[self.index];
        // SAFETY: `request` is the live request of this operation (or
        // MPI_REQUEST_NULL); the status is ignored.
        let rc = unsafe { ffi::MPI_Wait(&mut request, ffi::RSMPI_STATUS_IGNORE) };
        self.pending.borrow_mut()[self.index] = request;
        check("MPI_Wait", rc)?;
        Ok(self.buffer)
    }
}

impl<B> std::fmt::Debug for RmaRequest<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RmaRequest")
            .field("index", &self.index)
            .finish()
    }
}

impl<T> std::fmt::Debug for Epoch<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Epoch").field("kind", &self.kind).finish()
    }
}

/// The error of an operation that [`Epoch::validate`] rejects, in the words of its
/// first failed check: rank outside the window, rank other than the locked one, or
/// elements past the end of the target's window.
#[cold]
#[inline(never)]
fn out_of_window(
    call: &'static str,
    sizes: &[usize],
    kind: EpochKind,
    target: Rank,
    disp: usize,
    count: usize,
) -> Error {
    if target < 0 || target as usize >= sizes.len() {
        return invalid(
            call,
            format!(
                "target rank {target} outside the window's {} ranks",
                sizes.len()
            ),
        );
    }
    if let EpochKind::Lock(locked) = kind {
        if target != locked {
            return invalid(
                call,
                format!("target rank {target} is not the locked rank {locked}"),
            );
        }
    }
    let size = sizes[target as usize];
    invalid(
        call,
        format!(
            "elements {disp}..{disp}+{count} outside rank {target}'s window of {size} elements"
        ),
    )
}

/// `MPI_NO_OP` is only valid for the fetching calls.
#[inline]
fn accumulate_op(call: &'static str, op: RmaOp) -> Result<RmaOp> {
    if op.is_no_op() {
        return Err(no_op_rejected(call));
    }
    Ok(op)
}

#[cold]
#[inline(never)]
fn no_op_rejected(call: &'static str) -> Error {
    invalid(
        call,
        "MPI_NO_OP is only valid for get_accumulate and fetch_and_op",
    )
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

/// The call that closes an epoch, one type per call ([`close`]), so that
/// [`Closer`] calls it directly. (A `Closer` holding an enum of the calls dispatched
/// through a jump table wherever the compiler did not keep the enum's value in a
/// register across the epoch's MPI calls.)
pub(crate) trait Close: Copy {
    /// The MPI function, for the error message.
    const CALL: &'static str;

    /// Makes the closing call on `raw` and returns its code.
    ///
    /// # Safety
    /// `raw` is a valid window with an open epoch of the kind this call ends.
    unsafe fn call(self, raw: ffi::MPI_Win) -> c_int;
}

/// The closing calls of epochs, for [`Closer`].
pub(crate) mod close {
    use super::*;

    /// `MPI_Win_fence` with these assertions.
    #[derive(Clone, Copy)]
    pub(crate) struct Fence(pub(crate) FenceClose);
    /// `MPI_Win_unlock` of this rank.
    #[derive(Clone, Copy)]
    pub(crate) struct Unlock(pub(crate) Rank);
    /// `MPI_Win_unlock_all`.
    #[derive(Clone, Copy)]
    pub(crate) struct UnlockAll;
    /// `MPI_Win_complete`.
    #[derive(Clone, Copy)]
    pub(crate) struct Complete;
    /// `MPI_Win_wait`.
    #[derive(Clone, Copy)]
    pub(crate) struct Wait;

    impl Close for Fence {
        const CALL: &'static str = "MPI_Win_fence";
        #[inline(always)]
        unsafe fn call(self, raw: ffi::MPI_Win) -> c_int {
            // SAFETY: the caller's contract (an open fence epoch on `raw`).
            unsafe { ffi::MPI_Win_fence(self.0.as_raw(), raw) }
        }
    }

    impl Close for Unlock {
        const CALL: &'static str = "MPI_Win_unlock";
        #[inline(always)]
        unsafe fn call(self, raw: ffi::MPI_Win) -> c_int {
            // SAFETY: the caller's contract (a lock epoch on rank `self.0` of `raw`).
            unsafe { ffi::MPI_Win_unlock(self.0, raw) }
        }
    }

    impl Close for UnlockAll {
        const CALL: &'static str = "MPI_Win_unlock_all";
        #[inline(always)]
        unsafe fn call(self, raw: ffi::MPI_Win) -> c_int {
            // SAFETY: the caller's contract (a lock-all epoch on `raw`).
            unsafe { ffi::MPI_Win_unlock_all(raw) }
        }
    }

    impl Close for Complete {
        const CALL: &'static str = "MPI_Win_complete";
        #[inline(always)]
        unsafe fn call(self, raw: ffi::MPI_Win) -> c_int {
            // SAFETY: the caller's contract (a PSCW access epoch on `raw`).
            unsafe { ffi::MPI_Win_complete(raw) }
        }
    }

    impl Close for Wait {
        const CALL: &'static str = "MPI_Win_wait";
        #[inline(always)]
        unsafe fn call(self, raw: ffi::MPI_Win) -> c_int {
            // SAFETY: the caller's contract (a PSCW exposure epoch on `raw`).
            unsafe { ffi::MPI_Win_wait(raw) }
        }
    }
}

/// Closes an epoch: explicitly with `finish`, or on drop if the closure unwound, so
/// that no MPI operation can still write into a buffer whose borrow has ended. A
/// failing closing call aborts the job ([`closing_failed`]).
pub(crate) struct Closer<C: Close> {
    raw: ffi::MPI_Win,
    close: C,
}

impl<C: Close> Closer<C> {
    /// A closer of the epoch just opened on `raw`, which `close` ends (every
    /// synchronisation method creates its closer right after the opening call).
    #[inline]
    pub(crate) fn new(raw: ffi::MPI_Win, close: C) -> Self {
        Closer { raw, close }
    }

    #[inline(always)]
    fn run(&self) -> Result<()> {
        // SAFETY: `raw` is a valid window with an open epoch of the kind `close` ends
        // (see `new`); a closer runs once (`finish` forgets it, `drop` only runs
        // otherwise).
        check(C::CALL, unsafe { self.close.call(self.raw) })
    }

    /// Runs the closing call; returns only once it has succeeded.
    #[inline(always)]
    pub(crate) fn finish(self) {
        let this = std::mem::ManuallyDrop::new(self);
        if let Err(e) = this.run() {
            closing_failed(&e);
        }
    }
}

impl<C: Close> Drop for Closer<C> {
    fn drop(&mut self) {
        // Only reached when the closure unwound: close the epoch all the same.
        if let Err(e) = self.run() {
            closing_failed(&e);
        }
    }
}

/// A call that ends MPI's access to lent memory failed: MPI may still read or write
/// it, so the borrows must not end. Prints the error and aborts the whole job.
#[cold]
pub(crate) fn closing_failed(error: &Error) -> ! {
    eprintln!(
        "quicklb-transport: {error}; MPI may still access memory lent to it, \
         so the job is aborted"
    );
    // SAFETY: MPI is initialised (a window or epoch exists); MPI_COMM_WORLD is valid.
    unsafe {
        ffi::MPI_Abort(ffi::RSMPI_COMM_WORLD, 1);
    }
    std::process::abort()
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
}
