//! Persistent point-to-point requests (`MPI_Send_init` / `MPI_Recv_init`).
//!
//! A [`PersistentSet`] is a fixed list of messages, each a buffer, a peer rank and a
//! tag, created once and started many times. It is what a halo exchange or a load
//! balancer does every step: the matching and buffer setup happen once, at
//! [`PersistentSetBuilder::build`], and each step only starts the requests
//! (`MPI_Start` on each, so that a failed start knows which ones run) and completes
//! them (`MPI_Waitall`; one `MPI_Wait` per request on MPICH, see *Errors*). After a
//! round, [`PersistentSet::recv_count`] tells how many elements each receive got.
//!
//! Element types are [`Element`]s: rsmpi `Equivalence` types valid for every bit
//! pattern (`bytemuck::Pod`), since a peer may send any bytes; `bool` is not one.
//!
//! # Buffers
//!
//! Each message's buffer is either
//! - **owned** by the set ([`send_owned`](PersistentSetBuilder::send_owned),
//!   [`recv_owned`](PersistentSetBuilder::recv_owned)): you hand over a `Vec<T>` and
//!   read or write it between rounds with [`PersistentSet::send_buf_mut`] /
//!   [`PersistentSet::recv_buf`]. This is the usual choice for repeated exchanges
//!   (pack, start, wait, unpack);
//! - **borrowed** for the set's lifetime `'a` ([`send`](PersistentSetBuilder::send)
//!   takes `&'a [T]`, [`recv`](PersistentSetBuilder::recv) takes `&'a mut [T]`).
//!
//! Messages are numbered in the order they were added, sends and receives separately:
//! the first `send*` call is send `0`, the first `recv*` call is receive `0`.
//!
//! # No buffer can be touched while it is in flight
//!
//! [`PersistentSet::start_all`] takes `&mut self` and returns an [`InFlight`] guard
//! that borrows the set: while the guard lives, the compiler rejects any access to
//! the buffers and a second start. [`InFlight::wait`] (or [`InFlight::test`] returning
//! `true`) ends the round; dropping the guard waits too, so nothing is left running.
//! Even `std::mem::forget` on the guard cannot expose a buffer in flight: the set
//! remembers that a round is pending and completes it before it hands out a buffer
//! mutably, starts again or is dropped (a `&self` accessor panics instead).
//!
//! `start_all` exists for sets that borrow nothing (`PersistentSet<'static, T>`, which
//! is what a set with only owned buffers is). A set that borrows buffers runs its
//! rounds with [`PersistentSet::exchange`], which starts, runs your closure (overlap
//! work) and waits before returning, so no forgotten guard can outlive a borrow.
//!
//! Touching a buffer while its round is in flight does not compile:
//!
//! ```compile_fail
//! # use quicklb_transport::PersistentSet;
//! # fn f(set: &mut PersistentSet<'static, f64>) -> quicklb_transport::Result<()> {
//! let round = set.start_all()?;
//! set.send_buf_mut(0)[0] = 1.0; // error: `*set` is borrowed by `round`
//! round.wait()
//! # }
//! ```
//!
//! nor does a guard over borrowed buffers (use `exchange` or `run` for those):
//!
//! ```compile_fail
//! # use quicklb_transport::PersistentSet;
//! # fn f(world: &mpi::topology::SimpleCommunicator) -> quicklb_transport::Result<()> {
//! let mut buf = [0.0f64; 4];
//! let mut set = PersistentSet::builder(world).recv(&mut buf, 0, 0).build()?;
//! let round = set.start_all()?; // error: `buf` does not live for 'static
//! round.wait()
//! # }
//! ```
//!
//! # Errors
//!
//! [`build`](PersistentSetBuilder::build) duplicates the communicator (collective:
//! every rank of it must build its set, in the same order as its other collective
//! calls on that communicator) and sets `MPI_ERRORS_RETURN` on the duplicate, so a
//! failed MPI call, e.g. a message longer than its receive buffer, comes back as
//! [`Error::Mpi`](crate::Error::Mpi) instead of aborting the job. The duplicate also keeps the set's
//! messages apart from any other traffic on the user's communicator.
//!
//! Errors of a request are raised on the communicator it was created on, which has
//! `MPI_ERRORS_RETURN`; but MPICH (4.0) raises those of `MPI_Waitall` and
//! `MPI_Testall` on `MPI_COMM_WORLD`, whose default handler aborts the job. On
//! MPICH and its derivatives (found with `MPI_Get_library_version`) a round is
//! therefore completed with one `MPI_Wait` / `MPI_Test` per request.
//!
//! A failed round never hands back a buffer that MPI may still use: if a start
//! fails, the requests already started are completed before the error returns; if
//! a completion call fails, every request is waited for (the statuses are read only
//! when MPI says `MPI_ERR_IN_STATUS`). The set then refuses to start again
//! ([`PersistentSet::has_failed`]).
//!
//! # Which sets talk to each other
//!
//! Because each set built with [`PersistentSet::builder`] has its own duplicated
//! communicator, a message matches only within the sets that the ranks built at the
//! same position (the k-th `build` on each rank shares one context). Build your sets
//! in the same order on every rank (halo exchange: one set; load balancer: "forward"
//! then "return"). To put several sets on one context, so messages match by source
//! and tag whatever set they belong to, build the others with
//! [`PersistentSet::sibling_builder`] (not collective, and the element type may
//! differ).
//!
//! ```no_run
//! use mpi::traits::*;
//! use quicklb_transport::PersistentSet;
//!
//! let universe = mpi::initialize().unwrap();
//! let world = universe.world();
//! let (rank, size) = (world.rank(), world.size());
//! let right = (rank + 1) % size;
//! let left = (rank + size - 1) % size;
//!
//! // A ring: send one value right, receive one from the left, five times.
//! let mut ring = PersistentSet::builder(&world)
//!     .send_owned(vec![0i64; 1], right, 7)
//!     .recv_owned(vec![0i64; 1], left, 7)
//!     .build()?;
//! for it in 0..5 {
//!     ring.send_buf_mut(0)[0] = rank as i64 + 100 * it;
//!     ring.start_all()?.wait()?;
//!     assert_eq!(ring.recv_buf(0)[0], left as i64 + 100 * it);
//! }
//! # Ok::<(), quicklb_transport::Error>(())
//! ```

use std::ffi::{c_char, c_int, c_void};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::OnceLock;

use bytemuck::Pod;
use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::raw::{AsRaw, FromRaw};
use mpi::topology::{Communicator, Rank, SimpleCommunicator};

use crate::error::{check, invalid, mpi_error, set_errors_return, Result};
use crate::in_place::Layout;

/// `MPI_PROC_NULL`, read from the MPI bindings: a peer rank that makes a send or a
/// receive a no-op that completes at once (useful at non-periodic boundaries).
pub fn proc_null() -> Rank {
    // SAFETY: reading an immutable constant exported by the MPI shim library.
    unsafe { ffi::RSMPI_PROC_NULL }
}

/// One buffer of the set: a raw slice, owned (from a `Vec`) or borrowed.
struct RawBuf<T> {
    ptr: *mut T,
    len: usize,
    kind: BufKind,
}

impl<T> Drop for RawBuf<T> {
    fn drop(&mut self) {
        if self.kind == BufKind::Owned {
            // SAFETY: owned buffers come from `Box::<[T]>::into_raw` with this pointer
            // and length (see `owned`) and are freed exactly once, here. A set frees
            // its requests in its own `Drop::drop`, which runs before its fields (and
            // so these buffers) are dropped.
            unsafe {
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                    self.ptr, self.len,
                )));
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BufKind {
    /// Allocated by `Box<[T]>`; freed by the set.
    Owned,
    /// Borrowed `&'a mut [T]`.
    BorrowedMut,
    /// Borrowed `&'a [T]`: read-only.
    BorrowedShared,
    /// Lent for one round at a time by an [`InPlaceSet`](crate::InPlaceSet): the
    /// address is whatever [`PersistentSet::rebind`] was last given, never
    /// dereferenced by the set (its accessors refuse such buffers).
    Lent,
}

struct Message<T> {
    buf: RawBuf<T>,
    peer: Rank,
    tag: c_int,
    /// The message is one element of this datatype at the buffer's address
    /// (instead of `len` elements of `T`).
    layout: Option<Layout>,
}

/// Where a builder gets its communicator from.
enum CommSource<'c> {
    /// Duplicate this one at build (collective).
    Duplicate(&'c dyn Communicator),
    /// Share the communicator of an existing set (no MPI call).
    Shared(Rc<SimpleCommunicator>),
}

/// Builder of a [`PersistentSet`]; start it with [`PersistentSet::builder`] or
/// [`PersistentSet::sibling_builder`].
///
/// Every method takes the builder by value and returns it, so calls chain. Arguments
/// are checked at [`build`](Self::build) time.
#[must_use = "a builder does nothing until build() is called"]
pub struct PersistentSetBuilder<'c, 'a, T: Element> {
    comm: CommSource<'c>,
    sends: Vec<Message<T>>,
    recvs: Vec<Message<T>>,
    _borrow: PhantomData<&'a mut [T]>,
}

/// A fixed set of persistent sends and receives over buffers it owns or borrows for
/// `'a`. See the [module documentation](self) for the rules.
///
/// `T` is any [`Element`]: a type with an MPI datatype (rsmpi's [`Equivalence`])
/// that is valid for every bit pattern (`bytemuck::Pod`): the primitive numbers
/// and arrays of them, not `bool`. To send `bytemuck::Pod` structs, use `T = u8`
/// buffers and `bytemuck` to pack and unpack them.
///
/// Neither the set nor its [`InFlight`] guard is `Send` or `Sync`: the crate calls
/// MPI from the thread that initialised it, and sibling sets share their
/// communicator.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// # fn f(set: quicklb_transport::PersistentSet<'static, f64>) {
/// send(set); // error: `*mut ()` cannot be sent between threads safely
/// # }
/// ```
///
/// ```compile_fail
/// fn share<T: Sync>(_: &T) {}
/// # fn f(set: quicklb_transport::PersistentSet<'static, f64>) {
/// share(&set); // error: `*mut ()` cannot be shared between threads safely
/// # }
/// ```
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// # fn f(set: &mut quicklb_transport::PersistentSet<'static, f64>) -> quicklb_transport::Result<()> {
/// let round = set.start_all()?;
/// send(round); // error: `*mut ()` cannot be sent between threads safely
/// # Ok(())
/// # }
/// ```
///
/// Dropping the set completes a pending round (if a guard was leaked) and frees the
/// requests with `MPI_Request_free` and the duplicated communicator.
pub struct PersistentSet<'a, T: Element> {
    // Field order matters for drop: `Drop::drop` runs first and frees the requests;
    // then the communicator is freed by its own destructor.
    requests: Vec<ffi::MPI_Request>,
    statuses: Vec<ffi::MPI_Status>,
    sends: Vec<Message<T>>,
    recvs: Vec<Message<T>>,
    in_flight: bool,
    /// The last round completed without error: `statuses` describe it.
    completed: bool,
    /// A round failed: MPI may have released requests; no further start.
    failed: bool,
    /// Complete request by request (MPICH; see `wait_raw`), with `done` recording
    /// which requests `test` has seen complete in this round (valid while
    /// `done_current`; a start only clears that flag, `test` resets `done`).
    per_request: bool,
    done: Vec<bool>,
    done_current: bool,
    /// A failure to simulate in the next round (tests of the recovery paths).
    fault: Option<Fault>,
    /// The messages are over lent buffers and have no requests until
    /// [`rebind`](Self::rebind) gives their addresses.
    unbound: bool,
    comm: Rc<SimpleCommunicator>,
    datatype: T::Out,
    _borrow: PhantomData<&'a mut [T]>,
    /// Not `Send`, not `Sync`, whatever MPI's handle types are: sibling sets share
    /// the communicator through an `Rc`, and this crate makes its MPI calls from the
    /// thread that initialised MPI (rsmpi's default `MPI_THREAD_SINGLE`).
    _single_thread: PhantomData<*mut ()>,
}

/// The element types of a [`PersistentSet`]: an MPI datatype (rsmpi's
/// [`Equivalence`]) **and** valid for every bit pattern a message can carry
/// ([`bytemuck::Pod`]), since a receive lets any rank, with any element type on
/// its side, write bytes into the buffer. Implemented for every such type.
///
/// `bool` (and `char`, references, enums...) is not one: a peer could send the
/// byte 2, which is no `bool`.
///
/// ```compile_fail
/// # fn f(world: &mpi::topology::SimpleCommunicator) {
/// // error[E0277]: the trait bound `bool: Pod` is not satisfied
/// let set = quicklb_transport::PersistentSet::<bool>::builder(world)
///     .recv_owned(vec![false; 4], 0, 0)
///     .build();
/// # }
/// ```
pub trait Element: Equivalence + Pod {}

impl<T: Equivalence + Pod> Element for T {}

/// A failure to simulate in the next round of a set, so that tests can reach the
/// recovery paths of failures that a correct program cannot provoke.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next start begins this many requests, then fails to start the next one,
    /// as a failing `MPI_Start` would.
    StartFailsAfter(usize),
    /// The next completion call fails without `MPI_ERR_IN_STATUS`, leaving the
    /// requests active.
    CompletionFails,
}

/// A started round of a [`PersistentSet`]: the set's buffers are inaccessible until
/// it is completed with [`wait`](Self::wait) (or a [`test`](Self::test) that returns
/// `true`). Dropping it waits for completion (and ignores errors; call `wait` to see
/// them).
#[must_use = "dropping an InFlight guard waits for the round to complete at once"]
pub struct InFlight<'s, T: Element> {
    set: &'s mut PersistentSet<'static, T>,
}

impl<'a, T: Element> PersistentSet<'a, T> {
    /// Starts a builder over communicator `comm`. The set will duplicate it at
    /// [`build`](PersistentSetBuilder::build), so `comm` is only borrowed until then.
    pub fn builder<'c, C: Communicator>(comm: &'c C) -> PersistentSetBuilder<'c, 'a, T> {
        PersistentSetBuilder {
            comm: CommSource::Duplicate(comm),
            sends: Vec::new(),
            recvs: Vec::new(),
            _borrow: PhantomData,
        }
    }

    /// A builder for another set that shares this set's communicator instead of
    /// duplicating one: building it is **not collective** (no MPI call besides the
    /// request creation), and its messages match this set's messages (and those of
    /// any other sibling) by source and tag, as on any one communicator. The element
    /// type may differ (e.g. a `u8` set for packed cells and an `f64` set for costs).
    ///
    /// Use it when the two ends of a message are in differently built sets, e.g. a
    /// ping-pong where rank 0 builds "send" then "receive" and rank 1 builds
    /// "receive" then "send" (sets built with [`builder`](Self::builder) only talk to
    /// the sets that the other ranks built at the same position: each has its own
    /// duplicated communicator).
    pub fn sibling_builder<'b, U: Element>(&self) -> PersistentSetBuilder<'static, 'b, U> {
        PersistentSetBuilder {
            comm: CommSource::Shared(Rc::clone(&self.comm)),
            sends: Vec::new(),
            recvs: Vec::new(),
            _borrow: PhantomData,
        }
    }

    /// The set's own communicator (a duplicate of the one given to the builder, with
    /// `MPI_ERRORS_RETURN`).
    pub fn comm(&self) -> &SimpleCommunicator {
        &self.comm
    }

    /// Number of sends in the set.
    pub fn num_sends(&self) -> usize {
        self.sends.len()
    }

    /// Number of receives in the set.
    pub fn num_recvs(&self) -> usize {
        self.recvs.len()
    }

    /// Destination rank and tag of send `i`.
    ///
    /// # Panics
    /// If `i >= self.num_sends()`.
    pub fn send_peer(&self, i: usize) -> (Rank, i32) {
        let m = &self.sends[i];
        (m.peer, m.tag)
    }

    /// Source rank and tag of receive `i`.
    ///
    /// # Panics
    /// If `i >= self.num_recvs()`.
    pub fn recv_peer(&self, i: usize) -> (Rank, i32) {
        let m = &self.recvs[i];
        (m.peer, m.tag)
    }

    /// The buffer of send `i`, for reading.
    ///
    /// # Panics
    /// If `i >= self.num_sends()`, or if a round is pending because an [`InFlight`]
    /// guard was leaked with `std::mem::forget` (use a `&mut self` accessor, which
    /// completes it).
    pub fn send_buf(&self, i: usize) -> &[T] {
        self.assert_idle();
        let b = reachable(&self.sends[i].buf);
        // SAFETY: the buffer is valid for `len` elements for 'a (borrowed) or for the
        // life of the set (owned), no round is in flight (checked above, and starting
        // one needs `&mut self`), and the returned borrow is tied to `&self`.
        unsafe { std::slice::from_raw_parts(b.ptr, b.len) }
    }

    /// The buffer of send `i`, for filling before the next round.
    ///
    /// # Panics
    /// If `i >= self.num_sends()`, or if send `i` was added with a shared borrow
    /// ([`PersistentSetBuilder::send`]), which cannot be written through.
    pub fn send_buf_mut(&mut self, i: usize) -> &mut [T] {
        self.complete_pending();
        let b = reachable(&self.sends[i].buf);
        assert!(
            b.kind != BufKind::BorrowedShared,
            "send {i} borrows its buffer read-only (added with `send`); use `send_owned` to fill it between rounds"
        );
        // SAFETY: the buffer is valid and writable for `len` elements (owned, or
        // borrowed `&'a mut`), no round is in flight (completed above), and the
        // returned borrow is tied to `&mut self`, so it is unique.
        unsafe { std::slice::from_raw_parts_mut(b.ptr, b.len) }
    }

    /// The buffer of receive `i`, holding what the last completed round received.
    ///
    /// # Panics
    /// If `i >= self.num_recvs()`, or if a round is pending because an [`InFlight`]
    /// guard was leaked (see [`send_buf`](Self::send_buf)).
    pub fn recv_buf(&self, i: usize) -> &[T] {
        self.assert_idle();
        let b = reachable(&self.recvs[i].buf);
        // SAFETY: as in `send_buf`.
        unsafe { std::slice::from_raw_parts(b.ptr, b.len) }
    }

    /// The buffer of receive `i`, mutably (e.g. to unpack it in place).
    ///
    /// # Panics
    /// If `i >= self.num_recvs()`.
    pub fn recv_buf_mut(&mut self, i: usize) -> &mut [T] {
        self.complete_pending();
        let b = reachable(&self.recvs[i].buf);
        // SAFETY: receive buffers are always writable (owned or `&'a mut`); no round is
        // in flight (completed above); the borrow is tied to `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(b.ptr, b.len) }
    }

    /// How many elements receive `i` got in the last round (`MPI_Get_count` of its
    /// status): a message may be shorter than its buffer, whose elements past this
    /// count keep their previous values. `None` before the first round completes
    /// and after a failed round. A `proc_null()` receive gets 0 elements.
    ///
    /// # Panics
    /// If `i >= self.num_recvs()`, or if a round is pending because an [`InFlight`]
    /// guard was leaked (see [`send_buf`](Self::send_buf)).
    pub fn recv_count(&self, i: usize) -> Option<usize> {
        self.assert_idle();
        assert!(
            i < self.recvs.len(),
            "receive {i} of a set with {} receives",
            self.recvs.len()
        );
        if !self.completed {
            return None;
        }
        // Receives come first in `requests`, so receive `i` has status `i`.
        let mut count: c_int = 0;
        // SAFETY: a status written by the completion call of the last round, the
        // set's datatype and a valid out-pointer.
        let rc =
            unsafe { ffi::MPI_Get_count(&self.statuses[i], self.datatype.as_raw(), &mut count) };
        // SAFETY: reading an immutable constant exported by the MPI shim.
        let undefined = unsafe { ffi::RSMPI_UNDEFINED };
        (rc == ffi::MPI_SUCCESS as c_int && count != undefined).then_some(count as usize)
    }

    /// Whether a round of this set failed (a start or completion call returned an
    /// error); such a set does not start again.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Makes the next round fail as `fault` says, to test the recovery paths.
    #[doc(hidden)]
    pub fn inject_fault(&mut self, fault: Fault) {
        self.fault = Some(fault);
    }

    /// Starts every request of the set, runs `overlap` (work to overlap with the
    /// transfer; it cannot touch the set), then waits for all of them. Returns what
    /// `overlap` returned. Works for borrowed and owned buffers alike.
    ///
    /// If `overlap` panics, the round is still completed before the panic leaves this
    /// function, so no borrowed buffer is released while MPI uses it.
    pub fn exchange<R>(&mut self, overlap: impl FnOnce() -> R) -> Result<R> {
        self.start_raw()?;
        // Completes the round even if `overlap` unwinds.
        struct Finish<'g, 'a, T: Element>(&'g mut PersistentSet<'a, T>);
        impl<T: Element> Drop for Finish<'_, '_, T> {
            fn drop(&mut self) {
                let _ = self.0.wait_raw();
            }
        }
        let finish = Finish(self);
        let result = overlap();
        finish.0.wait_raw()?;
        Ok(result)
    }

    /// One complete round: start every request and wait for all of them.
    pub fn run(&mut self) -> Result<()> {
        self.exchange(|| ())
    }

    fn assert_idle(&self) {
        assert!(
            !self.in_flight,
            "a round of this PersistentSet is still in flight (an InFlight guard was leaked); \
             call a `&mut self` method such as `recv_buf_mut` to complete it"
        );
    }

    /// Completes a round left pending by a leaked guard.
    #[inline]
    fn complete_pending(&mut self) {
        if self.in_flight {
            self.complete_leaked();
        }
    }

    /// [`complete_pending`](Self::complete_pending)'s rare case, out of line.
    #[cold]
    #[inline(never)]
    fn complete_leaked(&mut self) {
        let _ = self.wait_raw();
    }

    /// Starts a round. Inlined into `start_all` / `exchange`: the usual path is the
    /// flag checks and one `MPI_Start` per request; refusals, simulated faults and
    /// failures are out of line.
    #[inline(always)]
    fn start_raw(&mut self) -> Result<()> {
        self.complete_pending();
        self.completed = false;
        if self.requests.is_empty() {
            self.completed = true;
            return Ok(());
        }
        if self.failed {
            return Err(refused_after_failure());
        }
        let simulated = match self.fault {
            Some(Fault::StartFailsAfter(_)) => self.take_start_fault(),
            _ => None,
        };
        // One MPI_Start per request rather than MPI_Startall: if a start fails, the
        // requests before it are exactly those running, and they are completed
        // before the error returns. After a failed MPI_Startall nothing tells which
        // requests started (MPICH 4.0's MPI_Request_get_status reports a running
        // persistent receive as complete). They are completed, not cancelled:
        // MPI_Cancel of an inactive request is fatal in MPICH 4.0 and crashes Open
        // MPI 4.1, and Open MPI 4.1 sometimes leaves a cancelled persistent receive
        // posted after MPI_Wait returned "not cancelled" (it then takes a later
        // message into the buffer).
        for i in 0..self.requests.len() {
            let rc = if simulated == Some(i) {
                ffi::MPI_ERR_OTHER as c_int
            } else {
                // SAFETY: a valid, inactive persistent request (every round is
                // completed before another starts: checked above), whose buffer
                // stays valid and untouched until the round completes (accessors
                // need the set idle).
                unsafe { ffi::MPI_Start(&mut self.requests[i]) }
            };
            if rc != ffi::MPI_SUCCESS as c_int {
                return Err(self.start_failed(i, rc));
            }
        }
        // What `test` recorded belongs to the previous round.
        self.done_current = false;
        self.in_flight = true;
        Ok(())
    }

    /// The simulated start failure of [`Fault::StartFailsAfter`], consumed.
    #[cold]
    #[inline(never)]
    fn take_start_fault(&mut self) -> Option<usize> {
        match self.fault.take() {
            Some(Fault::StartFailsAfter(k)) => Some(k),
            other => {
                self.fault = other;
                None
            }
        }
    }

    /// `MPI_Start` of request `i` returned `rc`: completes requests `0..i` (those
    /// running) and marks the set failed.
    #[cold]
    #[inline(never)]
    fn start_failed(&mut self, i: usize, rc: c_int) -> crate::Error {
        let error = mpi_error("MPI_Start", rc);
        self.fail(i);
        error
    }

    /// Completes a started round. Inlined into `wait` / `exchange`: the usual path
    /// is one `MPI_Wait` per request (one request, or MPICH) or one `MPI_Waitall`;
    /// failures and simulated faults are out of line.
    #[inline(always)]
    fn wait_raw(&mut self) -> Result<()> {
        if !self.in_flight {
            return Ok(());
        }
        if let Some(Fault::CompletionFails) = self.fault {
            return Err(self.simulated_completion_failure());
        }
        let n = self.requests.len();
        let success = ffi::MPI_SUCCESS as c_int;
        if n == 1 || self.per_request {
            // One MPI_Wait per request: MPICH raises the errors of MPI_Waitall on
            // MPI_COMM_WORLD's handler (fatal by default), those of MPI_Wait on the
            // request's communicator, which has MPI_ERRORS_RETURN. Every request is
            // waited for, even after an error, so that none is left active.
            let mut first_error = success;
            for (req, status) in self.requests.iter_mut().zip(self.statuses.iter_mut()) {
                // SAFETY: the request is active or (already completed) inactive, and
                // `status` is a valid out-pointer.
                let rc = unsafe { ffi::MPI_Wait(req, status) };
                if rc != success && first_error == success {
                    first_error = rc;
                }
            }
            if first_error != success {
                return Err(self.completion_failed("MPI_Wait", first_error, false));
            }
        } else {
            // SAFETY: `requests` holds `n` active requests and `statuses` has room for
            // `n` statuses.
            let rc = unsafe {
                ffi::MPI_Waitall(
                    n as c_int,
                    self.requests.as_mut_ptr(),
                    self.statuses.as_mut_ptr(),
                )
            };
            if rc != success {
                return Err(self.completion_failed("MPI_Waitall", rc, true));
            }
        }
        self.in_flight = false;
        self.completed = true;
        Ok(())
    }

    /// [`Fault::CompletionFails`]: the completion call fails without
    /// `MPI_ERR_IN_STATUS`, leaving the requests active.
    #[cold]
    #[inline(never)]
    fn simulated_completion_failure(&mut self) -> crate::Error {
        self.fault = None;
        let error = mpi_error("MPI_Waitall", ffi::MPI_ERR_OTHER as c_int);
        self.fail(self.requests.len());
        error
    }

    /// A completion call returned `rc`: the error (from the statuses when a
    /// multiple-completion call says `MPI_ERR_IN_STATUS`), after every request was
    /// completed and the set marked failed.
    #[cold]
    #[inline(never)]
    fn completion_failed(&mut self, call: &'static str, rc: c_int, multiple: bool) -> crate::Error {
        let error = if multiple {
            self.status_result(call, rc)
        } else {
            check(call, rc)
        };
        self.fail(self.requests.len());
        match error {
            Err(e) => e,
            // `status_result` found no failed request behind MPI_ERR_IN_STATUS.
            Ok(()) => mpi_error(call, rc),
        }
    }

    fn test_raw(&mut self) -> Result<bool> {
        if !self.in_flight {
            return Ok(true);
        }
        if matches!(self.fault, Some(Fault::CompletionFails)) {
            return self.wait_raw().map(|()| true);
        }
        let n = self.requests.len();
        let (flag, result) = if n == 1 || self.per_request {
            // One MPI_Test per request still running (see `wait_raw` for why).
            if !self.done_current {
                self.done.fill(false);
                self.done_current = true;
            }
            let mut all = true;
            let mut result = Ok(());
            for i in 0..n {
                if self.done[i] {
                    continue;
                }
                let mut flag: c_int = 0;
                // SAFETY: an active request, a valid flag and status out-pointer.
                let rc = unsafe {
                    ffi::MPI_Test(&mut self.requests[i], &mut flag, &mut self.statuses[i])
                };
                if rc != ffi::MPI_SUCCESS as c_int {
                    result = check("MPI_Test", rc);
                    break;
                }
                if flag != 0 {
                    self.done[i] = true;
                } else {
                    all = false;
                }
            }
            (all, result)
        } else {
            let mut flag: c_int = 0;
            // SAFETY: `requests` holds `n` active requests, `statuses` room for `n`
            // statuses, and `flag` is a valid out-pointer.
            let rc = unsafe {
                ffi::MPI_Testall(
                    n as c_int,
                    self.requests.as_mut_ptr(),
                    &mut flag,
                    self.statuses.as_mut_ptr(),
                )
            };
            (flag != 0, self.status_result("MPI_Testall", rc))
        };
        if let Err(error) = result {
            self.fail(self.requests.len());
            return Err(error);
        }
        if flag {
            self.in_flight = false;
            self.completed = true;
        }
        Ok(flag)
    }

    /// After a failed start or completion call: completes the first `running`
    /// requests (those that may be running), then marks the set failed, so that no
    /// buffer is handed out while MPI may still use it. This does not read
    /// `statuses`, which MPI fills only when a call returns `MPI_ERR_IN_STATUS`:
    /// `MPI_Wait` completes a running request and returns at once for an inactive
    /// one, so every request is waited for.
    ///
    /// A request whose peer never starts its side keeps this waiting, as a round
    /// of such a set would: memory safety comes first.
    #[cold]
    fn fail(&mut self, running: usize) {
        // SAFETY: reading an immutable handle constant exported by the MPI shim.
        let null = unsafe { ffi::RSMPI_REQUEST_NULL };
        for req in &mut self.requests[..running] {
            if *req == null {
                // Released by MPI after its operation failed (Open MPI does this).
                continue;
            }
            // Its own error, if any, belongs to the round, already reported.
            // SAFETY: a valid request handle of this set; the status is ignored.
            unsafe { ffi::MPI_Wait(req, ffi::RSMPI_STATUS_IGNORE) };
        }
        self.in_flight = false;
        self.completed = false;
        self.failed = true;
    }

    /// Turns the error code of a multiple-completion call into a result, looking at
    /// the per-request errors when (and only when) it is `MPI_ERR_IN_STATUS`.
    fn status_result(&self, call: &'static str, rc: c_int) -> Result<()> {
        if rc == ffi::MPI_ERR_IN_STATUS as c_int {
            let first =
                self.statuses.iter().map(|s| s.MPI_ERROR).find(|&e| {
                    e != ffi::MPI_SUCCESS as c_int && e != ffi::MPI_ERR_PENDING as c_int
                });
            return check(call, first.unwrap_or(rc));
        }
        check(call, rc)
    }
}

impl<T: Element> PersistentSet<'static, T> {
    /// Starts every request of the set (`MPI_Start` on each) and returns the guard of the
    /// round. The set cannot be used until the guard is completed or dropped.
    ///
    /// Only for sets that borrow nothing (see the [module documentation](self)); sets
    /// over borrowed buffers use [`exchange`](PersistentSet::exchange).
    #[inline]
    pub fn start_all(&mut self) -> Result<InFlight<'_, T>> {
        self.start_raw()?;
        Ok(InFlight { set: self })
    }
}

impl<T: Element> InFlight<'_, T> {
    /// Waits until every request of the round has completed (`MPI_Waitall`), which
    /// gives the set's buffers back.
    #[inline]
    pub fn wait(self) -> Result<()> {
        // Not dropped afterwards: its Drop would only find the round completed. The
        // guard holds nothing but a reference, so nothing leaks.
        let mut this = std::mem::ManuallyDrop::new(self);
        this.set.wait_raw()
    }

    /// Checks without blocking whether the whole round has completed
    /// (`MPI_Testall`). Once it returns `Ok(true)`, the guard can be dropped at no cost.
    pub fn test(&mut self) -> Result<bool> {
        self.set.test_raw()
    }
}

impl<T: Element> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        // Errors cannot be returned from drop; `wait()` reports them.
        let _ = self.set.wait_raw();
    }
}

impl<T: Element> Drop for PersistentSet<'_, T> {
    fn drop(&mut self) {
        self.complete_pending();
        self.free_requests();
        // The buffers are freed afterwards, when the fields are dropped (`RawBuf`),
        // and so are the layouts' datatypes.
    }
}

impl<'c, T: Element> PersistentSetBuilder<'c, 'static, T> {
    /// [`PersistentSet::builder`] over a communicator behind `dyn`.
    pub(crate) fn over(comm: &'c dyn Communicator) -> Self {
        PersistentSetBuilder {
            comm: CommSource::Duplicate(comm),
            sends: Vec::new(),
            recvs: Vec::new(),
            _borrow: PhantomData,
        }
    }
}

impl<'c, 'a, T: Element> PersistentSetBuilder<'c, 'a, T> {
    /// Adds a send of `buf` to rank `dest` with `tag`, borrowing `buf` read-only for
    /// the set's lifetime (you can still read it, not write it).
    pub fn send(mut self, buf: &'a [T], dest: Rank, tag: i32) -> Self {
        self.sends.push(Message {
            buf: RawBuf {
                ptr: buf.as_ptr() as *mut T,
                len: buf.len(),
                kind: BufKind::BorrowedShared,
            },
            peer: dest,
            tag,
            layout: None,
        });
        self
    }

    /// Adds a send of `buf` to rank `dest` with `tag`, borrowing `buf` mutably for the
    /// set's lifetime; write it between rounds with [`PersistentSet::send_buf_mut`].
    pub fn send_mut(mut self, buf: &'a mut [T], dest: Rank, tag: i32) -> Self {
        self.sends.push(Message {
            buf: RawBuf {
                ptr: buf.as_mut_ptr(),
                len: buf.len(),
                kind: BufKind::BorrowedMut,
            },
            peer: dest,
            tag,
            layout: None,
        });
        self
    }

    /// Adds a send to rank `dest` with `tag` of a buffer the set takes over (its
    /// length is the message length); fill it with [`PersistentSet::send_buf_mut`].
    pub fn send_owned(mut self, buf: Vec<T>, dest: Rank, tag: i32) -> Self {
        self.sends.push(Message {
            buf: owned(buf),
            peer: dest,
            tag,
            layout: None,
        });
        self
    }

    /// Adds a receive into `buf` from rank `src` with `tag`, borrowing `buf` for the
    /// set's lifetime. The incoming message may be shorter than `buf`, not longer.
    pub fn recv(mut self, buf: &'a mut [T], src: Rank, tag: i32) -> Self {
        self.recvs.push(Message {
            buf: RawBuf {
                ptr: buf.as_mut_ptr(),
                len: buf.len(),
                kind: BufKind::BorrowedMut,
            },
            peer: src,
            tag,
            layout: None,
        });
        self
    }

    /// Adds a receive from rank `src` with `tag` into a buffer the set takes over;
    /// read it after a round with [`PersistentSet::recv_buf`].
    pub fn recv_owned(mut self, buf: Vec<T>, src: Rank, tag: i32) -> Self {
        self.recvs.push(Message {
            buf: owned(buf),
            peer: src,
            tag,
            layout: None,
        });
        self
    }

    /// Creates the persistent requests. **Collective** over the builder's
    /// communicator, which it duplicates (with `MPI_ERRORS_RETURN`), unless the
    /// builder came from [`PersistentSet::sibling_builder`].
    ///
    /// A builder from [`PersistentSet::builder`] also agrees with the other ranks
    /// (one all-reduce): if any rank's set fails to build, every rank gets an error.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a peer outside `0..size` (other than
    /// [`proc_null()`]), a negative tag or a buffer longer than `i32::MAX` elements
    /// (on this rank, or on another one for a collective build);
    /// [`Error::Mpi`](crate::Error::Mpi) if MPI rejects a call (e.g. a tag above `MPI_TAG_UB`).
    pub fn build(self) -> Result<PersistentSet<'a, T>> {
        self.build_checked(Ok(()))
    }

    /// Adds a message over lent buffer `buffer` of `len` elements, described by
    /// `layout` (a send if `send`): its requests are created by
    /// [`PersistentSet::rebind`], not by the build.
    pub(crate) fn lent(
        mut self,
        send: bool,
        layout: Layout,
        len: usize,
        peer: Rank,
        tag: i32,
    ) -> Self {
        let message = Message {
            buf: RawBuf {
                ptr: std::ptr::NonNull::dangling().as_ptr(),
                len,
                kind: BufKind::Lent,
            },
            peer,
            tag,
            layout: Some(layout),
        };
        if send {
            self.sends.push(message);
        } else {
            self.recvs.push(message);
        }
        self
    }

    /// [`build`](Self::build), with the outcome of the caller's own checks of its
    /// arguments taking part in the agreement of a collective build.
    pub(crate) fn build_checked(self, checked: Result<()>) -> Result<PersistentSet<'a, T>> {
        let Self {
            comm,
            sends,
            recvs,
            _borrow,
        } = self;
        let collective = matches!(comm, CommSource::Duplicate(_));
        let unbound = sends
            .iter()
            .chain(&recvs)
            .any(|m| m.buf.kind == BufKind::Lent);
        // From here on, `set` owns the buffers: its Drop frees them on every path.
        let mut set = PersistentSet {
            requests: Vec::with_capacity(sends.len() + recvs.len()),
            statuses: Vec::new(),
            sends,
            recvs,
            in_flight: false,
            completed: false,
            failed: false,
            per_request: completes_per_request(),
            done: Vec::new(),
            done_current: false,
            fault: None,
            unbound,
            comm: match comm {
                CommSource::Duplicate(c) => Rc::new(duplicate(c)?),
                CommSource::Shared(c) => c,
            },
            datatype: T::equivalent_datatype(),
            _borrow: PhantomData,
            _single_thread: PhantomData,
        };
        let local = checked.and_then(|()| set.init_requests());
        if collective {
            // Agree on the outcome, so that a mistake on one rank is an error on every
            // rank instead of a deadlock at the first round.
            if !all_ok(&set.comm, local.is_ok())? && local.is_ok() {
                return Err(invalid(
                    "PersistentSet::build",
                    "another rank failed to build its part of this set",
                ));
            }
        }
        local.map(|()| set)
    }
}

impl<T: Element> PersistentSet<'_, T> {
    /// Checks the messages and creates their requests (local).
    fn init_requests(&mut self) -> Result<()> {
        let set = self;
        let size = set.comm.size();
        let null = proc_null();
        for (what, msgs) in [("send", &set.sends), ("recv", &set.recvs)] {
            for (i, m) in msgs.iter().enumerate() {
                if m.peer != null && !(0..size).contains(&m.peer) {
                    return Err(invalid(
                        "PersistentSet::build",
                        format!(
                            "{what} {i}: peer rank {} is outside 0..{size} (and not MPI_PROC_NULL)",
                            m.peer
                        ),
                    ));
                }
                if m.tag < 0 {
                    return Err(invalid(
                        "PersistentSet::build",
                        format!("{what} {i}: tag {} is negative", m.tag),
                    ));
                }
                if m.buf.len > c_int::MAX as usize {
                    return Err(invalid(
                        "PersistentSet::build",
                        format!(
                            "{what} {i}: {} elements exceed the MPI count limit",
                            m.buf.len
                        ),
                    ));
                }
            }
        }
        if set.unbound {
            // Lent buffers: the requests are created by `rebind`.
            return Ok(());
        }
        let comm_raw = set.comm.as_raw();
        let element = set.datatype.as_raw();
        // One element of its layout, or `len` elements of `T`.
        let shape = |m: &Message<T>| match &m.layout {
            Some(layout) => (1, layout.as_raw()),
            None => (m.buf.len as c_int, element),
        };
        // Receives first, so that self-messages find their receive already posted.
        for m in &set.recvs {
            let (count, dtype) = shape(m);
            let mut req = MaybeUninit::<ffi::MPI_Request>::uninit();
            // SAFETY: the buffer is valid and writable for `len` elements of `T` for
            // the life of the set, which frees the request before the buffer (a lent
            // buffer: for every round the request is started in, see `rebind`); the
            // datatype is `T`'s (Equivalence), or a layout of `T` blocks within those
            // `len` elements (checked by `InPlaceSetBuilder::build`), and lives in
            // the set; `req` is a valid out-pointer.
            let rc = unsafe {
                ffi::MPI_Recv_init(
                    m.buf.ptr as *mut c_void,
                    count,
                    dtype,
                    m.peer,
                    m.tag,
                    comm_raw,
                    req.as_mut_ptr(),
                )
            };
            check("MPI_Recv_init", rc)?;
            // SAFETY: MPI_Recv_init succeeded, so it wrote the request handle.
            set.requests.push(unsafe { req.assume_init() });
        }
        for m in &set.sends {
            let (count, dtype) = shape(m);
            let mut req = MaybeUninit::<ffi::MPI_Request>::uninit();
            // SAFETY: as above; a send only reads its buffer.
            let rc = unsafe {
                ffi::MPI_Send_init(
                    m.buf.ptr as *const c_void,
                    count,
                    dtype,
                    m.peer,
                    m.tag,
                    comm_raw,
                    req.as_mut_ptr(),
                )
            };
            check("MPI_Send_init", rc)?;
            // SAFETY: MPI_Send_init succeeded, so it wrote the request handle.
            set.requests.push(unsafe { req.assume_init() });
        }
        // SAFETY: MPI_Status is a plain C struct of integers; all-zero is a valid value.
        let zero: ffi::MPI_Status = unsafe { MaybeUninit::zeroed().assume_init() };
        set.statuses = vec![zero; set.requests.len()];
        set.done = vec![false; set.requests.len()];
        Ok(())
    }
}

impl<T: Element> PersistentSet<'static, T> {
    /// Points the lent messages at `bases[k]` (the address of lent buffer `k`, at
    /// least as long as the set was built for) and creates their requests anew,
    /// freeing the old ones. Only for an idle set. The caller must start the
    /// requests only while the buffers at `bases` are valid, and complete the
    /// round before they may be touched or freed (`InPlaceSet::run` does both
    /// within one call).
    pub(crate) fn rebind(&mut self, bases: &[*mut T]) -> Result<()> {
        assert!(!self.in_flight, "rebind of a set in flight");
        self.free_requests();
        for m in self.sends.iter_mut().chain(self.recvs.iter_mut()) {
            if let Some(layout) = &m.layout {
                m.buf.ptr = bases[layout.buffer()];
            }
        }
        self.unbound = false;
        let created = self.init_requests();
        if created.is_err() {
            // The requests created so far are freed when the set is dropped.
            self.failed = true;
        }
        created
    }
}

impl<T: Element> PersistentSet<'_, T> {
    /// `MPI_Request_free` of every request (all idle), which empties `requests`.
    fn free_requests(&mut self) {
        // SAFETY: reading an immutable handle constant exported by the MPI shim.
        let null = unsafe { ffi::RSMPI_REQUEST_NULL };
        for req in &mut self.requests {
            if *req == null {
                // Released by MPI after a failed round (Open MPI does this).
                continue;
            }
            // SAFETY: each handle is a valid, inactive persistent request (callers
            // complete every round first); freeing it sets it to MPI_REQUEST_NULL.
            unsafe {
                ffi::MPI_Request_free(req);
            }
        }
        self.requests.clear();
    }
}

/// `b`, which the set's accessors may turn into a slice: not a lent buffer,
/// whose address is only valid during a round.
fn reachable<T>(b: &RawBuf<T>) -> &RawBuf<T> {
    assert!(
        b.kind != BufKind::Lent,
        "the buffers of an InPlaceSet are lent for one round and not kept by the set"
    );
    b
}

/// The error of a start after a failed round.
#[cold]
#[inline(never)]
fn refused_after_failure() -> crate::Error {
    // Open MPI frees a persistent request whose round failed.
    invalid(
        "PersistentSet::start_all",
        "a previous round failed with an MPI error (MPI may have released its requests); build a new set",
    )
}

/// Whether rounds complete request by request (`MPI_Wait`, `MPI_Test`) instead of
/// with `MPI_Waitall` / `MPI_Testall`: on MPICH and its derivatives, which raise
/// the errors of multiple-completion calls on `MPI_COMM_WORLD`'s handler (fatal
/// by default) instead of the requests' communicator, where this crate set
/// `MPI_ERRORS_RETURN` (checked with MPICH 4.0: a truncated persistent receive
/// aborts the job from `MPI_Waitall` and is returned by `MPI_Wait`). The library
/// is asked once.
fn completes_per_request() -> bool {
    static PER_REQUEST: OnceLock<bool> = OnceLock::new();
    *PER_REQUEST.get_or_init(|| {
        let version = library_version();
        ["MPICH", "MVAPICH", "Intel(R) MPI"]
            .iter()
            .any(|name| version.contains(name))
    })
}

/// `MPI_Get_library_version`, or an empty string if it fails.
pub(crate) fn library_version() -> String {
    // SAFETY: reading an immutable constant exported by the MPI shim.
    let max = unsafe { ffi::RSMPI_MAX_LIBRARY_VERSION_STRING } as usize;
    let mut buffer = vec![0 as c_char; max + 1];
    let mut len: c_int = 0;
    // SAFETY: the buffer holds MPI_MAX_LIBRARY_VERSION_STRING characters as the
    // standard requires, and `len` is a valid out-pointer.
    let rc = unsafe { ffi::MPI_Get_library_version(buffer.as_mut_ptr(), &mut len) };
    if rc != ffi::MPI_SUCCESS as c_int {
        return String::new();
    }
    let bytes: Vec<u8> = buffer[..(len.max(0) as usize).min(max)]
        .iter()
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn owned<T>(buf: Vec<T>) -> RawBuf<T> {
    let boxed = buf.into_boxed_slice();
    let len = boxed.len();
    let ptr = Box::into_raw(boxed) as *mut T;
    RawBuf {
        ptr,
        len,
        kind: BufKind::Owned,
    }
}

/// Whether `ok` holds on every rank of `comm` (a logical-and all-reduce).
/// Collective.
pub(crate) fn all_ok(comm: &SimpleCommunicator, ok: bool) -> Result<bool> {
    let mine = i32::from(ok);
    let mut all: i32 = 0;
    // SAFETY: the communicator is live; one int in, one int out, with the predefined
    // datatype and operation read from the bindings.
    let rc = unsafe {
        ffi::MPI_Allreduce(
            &mine as *const i32 as *const c_void,
            &mut all as *mut i32 as *mut c_void,
            1,
            ffi::RSMPI_INT32_T,
            ffi::RSMPI_MIN,
            comm.as_raw(),
        )
    };
    check("MPI_Allreduce", rc)?;
    Ok(all == 1)
}

/// `MPI_Comm_dup` with `MPI_ERRORS_RETURN` set on the duplicate.
pub(crate) fn duplicate(comm: &dyn Communicator) -> Result<SimpleCommunicator> {
    let mut raw = MaybeUninit::<ffi::MPI_Comm>::uninit();
    // SAFETY: `comm` is a live communicator; `raw` is a valid out-pointer.
    let rc = unsafe { ffi::MPI_Comm_dup(comm.as_raw(), raw.as_mut_ptr()) };
    check("MPI_Comm_dup", rc)?;
    // SAFETY: MPI_Comm_dup succeeded and wrote a new intra-communicator (duplicating
    // an intra-communicator gives one), which we own and hand to rsmpi to free.
    let dup = unsafe { SimpleCommunicator::from_raw(raw.assume_init()) };
    set_errors_return(dup.as_raw())?;
    Ok(dup)
}

impl<T: Element> std::fmt::Debug for PersistentSet<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentSet")
            .field("sends", &self.sends.len())
            .field("recvs", &self.recvs.len())
            .field("in_flight", &self.in_flight)
            .finish()
    }
}
