//! Shared memory within a node: the node communicator, the rank → node map, and
//! [`SharedArray`], an array whose segments live in one `MPI_Win_allocate_shared`
//! window so that every rank of a node reads every other rank's segment directly.
//!
//! # The rule that makes `SharedArray` safe
//!
//! A `SharedArray` alternates between two phases, the same on every rank because
//! the switches are collective:
//!
//! - **write phase** (the initial one): each rank may write **its own segment only**,
//!   with [`SharedArray::local_mut`] (`&mut self`), and read it with
//!   [`SharedArray::local`]. Other ranks' segments are not reachable.
//! - **read phase**: [`SharedArray::sync`] (collective: `MPI_Win_sync`, barrier,
//!   `MPI_Win_sync`) makes every rank's writes visible and returns a [`SharedView`]
//!   that can read **every** segment. The view borrows the array mutably, so
//!   `local_mut` cannot be called while it lives: nobody writes during a read phase.
//!   Releasing the view ([`SharedView::release`], or dropping it) is collective too
//!   (a barrier): no rank writes again before every rank has finished reading.
//!
//! So a data race between processes is impossible through safe code: writes and
//! reads of a segment by different ranks are always separated by a barrier with
//! memory synchronisation. The price is two barriers per read phase; they wait by
//! testing an `MPI_Ibarrier` and yielding the core after a short spin, so ranks
//! that outnumber the cores do not each burn a time slice per barrier. If a view is
//! leaked with `std::mem::forget`, the array performs its release barrier at the
//! next `local_mut`, `sync` or drop, so phases stay matched across ranks.
//!
//! All ranks must call `sync` / release the same number of times (they are
//! collective); a rank that skips one makes the others wait, it cannot race.
//!
//! Writing during a read phase does not compile:
//!
//! ```compile_fail
//! # fn f(a: &mut quicklb_transport::SharedArray<f64>) -> quicklb_transport::Result<()> {
//! let view = a.sync()?;
//! a.local_mut()[0] = 1.0; // error: `*a` is borrowed by `view`
//! view.release()
//! # }
//! ```
//!
//! The barriers of the protocol run on a communicator private to the array, so no
//! barrier of user code can stand in for another rank's `sync` (there is no
//! `SharedArray::comm()`):
//!
//! ```compile_fail
//! # fn f(a: &quicklb_transport::SharedArray<f64>) {
//! use mpi::traits::*;
//! a.comm().barrier(); // error: no method named `comm`
//! # }
//! ```
//!
//! Arrays and views stay on the thread that made them (neither `Send` nor `Sync`, by
//! decision):
//!
//! ```compile_fail
//! fn needs_send<S: Send>() {}
//! needs_send::<quicklb_transport::SharedArray<f64>>();
//! ```
//!
//! ```compile_fail
//! fn needs_sync<S: Sync>() {}
//! needs_sync::<quicklb_transport::SharedArray<f64>>();
//! ```
//!
//! ```no_run
//! use mpi::traits::*;
//! use quicklb_transport::SharedArray;
//!
//! let universe = mpi::initialize().unwrap();
//! let world = universe.world();
//! let node = quicklb_transport::split_shared(&world)?;
//! let (rank, size) = (node.rank() as usize, node.size() as usize);
//!
//! // Each rank owns `rank + 1` values (lengths may differ, and may be 0).
//! let mut field = SharedArray::<f64>::new(&node, rank + 1)?;
//! field.local_mut().fill(rank as f64);          // write phase: own segment only
//! let view = field.sync()?;                     // collective
//! let right = view.segment((rank + 1) % size);  // read phase: any segment
//! assert!(right.iter().all(|&v| v == ((rank + 1) % size) as f64));
//! view.release()?;                              // collective; back to writing
//! # Ok::<(), quicklb_transport::Error>(())
//! ```

use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::raw::{AsRaw, FromRaw};
use mpi::topology::{Communicator, Rank, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use ndarray::{ArrayView, ArrayViewMut, Dimension, StrideShape};

use crate::error::{check, invalid, set_errors_return, Error, Result};
use crate::idle::yielding_barrier;
use crate::info::Info;
use crate::layout::{agree, Span};

/// The node communicator: the ranks of `comm` that can share memory with this one
/// (`MPI_Comm_split_type` with `MPI_COMM_TYPE_SHARED`), ordered as in `comm`, with
/// `MPI_ERRORS_RETURN` set. Collective over `comm`.
pub fn split_shared<C: Communicator>(comm: &C) -> Result<SimpleCommunicator> {
    let mut raw = MaybeUninit::<ffi::MPI_Comm>::uninit();
    // SAFETY: `comm` is a live communicator; the split type and info are constants
    // read from the bindings; `raw` is a valid out-pointer.
    let rc = unsafe {
        ffi::MPI_Comm_split_type(
            comm.as_raw(),
            ffi::RSMPI_COMM_TYPE_SHARED,
            comm.rank(),
            ffi::RSMPI_INFO_NULL,
            raw.as_mut_ptr(),
        )
    };
    check("MPI_Comm_split_type", rc)?;
    // SAFETY: the split succeeded; with a real split type every rank gets a new
    // intra-communicator (never MPI_COMM_NULL), which we own.
    let node = unsafe { SimpleCommunicator::from_raw(raw.assume_init()) };
    set_errors_return(node.as_raw())?;
    Ok(node)
}

/// Whether every rank of `comm` can share memory with every other (one node),
/// found with [`split_shared`] on the first call for a communicator and cached
/// on it (an MPI attribute, kept by `MPI_Comm_dup`), so later calls are local.
/// Collective over `comm` on the first call; call it on every rank the same
/// number of times, like any collective.
///
/// A split costs several internal collectives (about 60-90 ms with 4 MPICH
/// ranks on 2 cores, whose waits never yield); a program that builds many
/// shared-memory structures over one communicator pays it once.
///
/// ```no_run
/// let universe = quicklb_transport::initialize();
/// let world = universe.world();
/// if quicklb_transport::shares_one_node(&world)? {
///     // every rank can read every other's SharedArray segment
/// }
/// # Ok::<(), quicklb_transport::Error>(())
/// ```
pub fn shares_one_node<C: Communicator>(comm: &C) -> Result<bool> {
    let keyval = one_node_keyval()?;
    let mut value: *mut c_void = std::ptr::null_mut();
    let mut found: c_int = 0;
    // SAFETY: `comm` is live and `keyval` a valid keyval; MPI writes the stored
    // pointer into `value` (the C binding's `void *` out-parameter) and a flag.
    let rc = unsafe {
        ffi::MPI_Comm_get_attr(
            comm.as_raw(),
            keyval,
            &mut value as *mut *mut c_void as *mut c_void,
            &mut found,
        )
    };
    check("MPI_Comm_get_attr", rc)?;
    if found != 0 {
        return Ok(value.addr() == ONE_NODE);
    }
    let one = split_shared(comm)?.size() == comm.size();
    let code = if one { ONE_NODE } else { SEVERAL_NODES };
    // SAFETY: as above; the attribute is an integer in a pointer, never
    // dereferenced, so it owns nothing.
    let rc = unsafe {
        ffi::MPI_Comm_set_attr(
            comm.as_raw(),
            keyval,
            std::ptr::without_provenance_mut(code),
        )
    };
    check("MPI_Comm_set_attr", rc)?;
    Ok(one)
}

/// The cached answers of [`shares_one_node`] (non-zero, since a null pointer
/// would read as "not found" in a debugger).
const ONE_NODE: usize = 1;
const SEVERAL_NODES: usize = 2;

/// The process's keyval for [`shares_one_node`], created on first use (after
/// `MPI_Init`, since a communicator exists) and never freed.
fn one_node_keyval() -> Result<c_int> {
    static KEYVAL: std::sync::OnceLock<c_int> = std::sync::OnceLock::new();
    if let Some(&k) = KEYVAL.get() {
        return Ok(k);
    }
    let mut keyval: c_int = 0;
    // SAFETY: both callbacks match the C signatures; `keyval` is a valid
    // out-pointer; there is no extra state.
    let rc = unsafe {
        ffi::MPI_Comm_create_keyval(
            Some(copy_one_node),
            Some(delete_one_node),
            &mut keyval,
            std::ptr::null_mut(),
        )
    };
    check("MPI_Comm_create_keyval", rc)?;
    // Another thread may have won the race; its keyval serves as well.
    Ok(*KEYVAL.get_or_init(|| keyval))
}

/// A duplicate has the same ranks, so the same answer: copy the integer.
unsafe extern "C" fn copy_one_node(
    _comm: ffi::MPI_Comm,
    _keyval: c_int,
    _extra: *mut c_void,
    value_in: *mut c_void,
    value_out: *mut c_void,
    flag: *mut c_int,
) -> c_int {
    // SAFETY: MPI passes valid out-pointers: `value_out` to a `void *`, `flag`
    // to an int.
    unsafe {
        *(value_out as *mut *mut c_void) = value_in;
        *flag = 1;
    }
    ffi::MPI_SUCCESS as c_int
}

/// The attribute owns nothing.
unsafe extern "C" fn delete_one_node(
    _comm: ffi::MPI_Comm,
    _keyval: c_int,
    _value: *mut c_void,
    _extra: *mut c_void,
) -> c_int {
    ffi::MPI_SUCCESS as c_int
}

/// Which node each rank of a communicator runs on: quicklb-partition's
/// [`NodeMap`](quicklb_partition::NodeMap), the workspace's one node map,
/// built here from `MPI_Comm_split_type` by [`node_map`] (or from any
/// grouping by [`node_map_of_groups`]). Nodes are numbered `0..num_nodes()`
/// in the order of their lowest rank, so rank 0 is always on node 0, and a
/// single-node job has one node.
pub use quicklb_partition::NodeMap;

/// The [`NodeMap`] of `comm`, nodes found with [`split_shared`]: for each
/// rank of `comm`, its node index. Collective over `comm`.
pub fn node_map<C: Communicator>(comm: &C) -> Result<NodeMap> {
    let node = split_shared(comm)?;
    node_map_of_groups(comm, &node)
}

/// The [`NodeMap`] of any partition of `comm` into groups: `node_comm` must
/// be this rank's group, obtained by splitting `comm` (e.g. with
/// `split_by_color`, to emulate several nodes on one machine in tests).
/// Collective over `comm`.
pub fn node_map_of_groups<C: Communicator, N: Communicator>(
    comm: &C,
    node_comm: &N,
) -> Result<NodeMap> {
    // The node's leader is its lowest rank in `comm`.
    let me = comm.rank();
    let mut leader: Rank = me;
    node_comm.all_reduce_into(&me, &mut leader, SystemOperation::min());
    let mut leaders = vec![0 as Rank; comm.size() as usize];
    comm.all_gather_into(&leader, &mut leaders[..]);
    let mut distinct = leaders.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let node_of: Vec<usize> = leaders
        .iter()
        .map(|l| distinct.binary_search(l).expect("leader is listed"))
        .collect();
    Ok(NodeMap::new(node_of))
}

/// An array split in per-rank segments over one node's shared memory
/// (`MPI_Win_allocate_shared`). Rank `r` of the communicator owns segment `r`;
/// segments may have different lengths, including 0, and are contiguous in rank
/// order. See the [module documentation](self) for the write/read rule.
///
/// All segments start zeroed. Dropping the array is collective (`MPI_Win_free`).
pub struct SharedArray<T: Equivalence + bytemuck::Pod> {
    win: ffi::MPI_Win,
    /// Base pointer and length of each rank's segment.
    segments: Vec<(*mut T, usize)>,
    rank: usize,
    /// A view was leaked: the release barrier is still owed.
    reading: bool,
    /// The `lock_all` epoch is open (it is, once construction succeeded).
    locked: bool,
    /// The node communicator whose barriers switch the phases. Private: a barrier
    /// on it elsewhere would stand in for another rank's `sync`.
    protocol: SimpleCommunicator,
    _t: PhantomData<T>,
    /// Neither `Send` nor `Sync`, by decision: the phase protocol belongs to the
    /// thread that created the array.
    _thread: PhantomData<*const ()>,
}

/// The read phase of a [`SharedArray`], obtained from [`SharedArray::sync`]: every
/// segment can be read, none written. Release it with [`release`](Self::release)
/// (collective); dropping it releases it too, ignoring errors.
#[must_use = "dropping a SharedView ends the read phase at once (a barrier)"]
pub struct SharedView<'s, T: Equivalence + bytemuck::Pod> {
    array: &'s mut SharedArray<T>,
}

impl<T: Equivalence + bytemuck::Pod> SharedArray<T> {
    /// Allocates the array across `comm`, whose ranks must all share one node (use
    /// [`split_shared`] first), with `local_len` elements owned by this rank.
    /// Collective over `comm`; every segment starts zeroed.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `comm` spans several nodes; the same
    /// `Error::InvalidArgument` on every rank (agreed before the collective
    /// allocation) if `T` is zero-sized or differs between ranks, or a rank's length
    /// or the node's total overflows; [`Error::Mpi`] if MPI fails to allocate.
    pub fn new<C: Communicator>(comm: &C, local_len: usize) -> Result<Self> {
        Self::new_with_info(comm, local_len, &Info::new())
    }

    /// [`SharedArray::new`] with hints for `MPI_Win_allocate_shared` (see [`Info`]).
    /// The hints are agreed like the other arguments (the same on every rank, or
    /// the same error everywhere). Refused, since this type relies on what they
    /// switch off: `no_locks=true` (the read/write phases lock the window) and
    /// `alloc_shared_noncontig=true` (the segments are contiguous in rank order,
    /// which [`SharedView::all`]-style whole-array access needs).
    ///
    /// ```no_run
    /// use quicklb_transport::{split_shared, Info, SharedArray};
    /// let universe = quicklb_transport::initialize();
    /// let node = split_shared(&universe.world())?;
    /// let hints = Info::new().with("accumulate_ops", "same_op")?;
    /// let array = SharedArray::<f64>::new_with_info(&node, 16, &hints)?;
    /// # drop(array);
    /// # Ok::<(), quicklb_transport::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`SharedArray::new`], and [`Error::InvalidArgument`] on every rank for the
    /// refused hints or hints that differ between ranks.
    pub fn new_with_info<C: Communicator>(comm: &C, local_len: usize, info: &Info) -> Result<Self> {
        let parent_size = comm.size() as usize;
        let comm = split_shared(comm)?;
        let size = comm.size() as usize;
        if size != parent_size {
            return Err(invalid(
                "SharedArray::new",
                format!(
                    "the communicator spans several nodes ({size} of its {parent_size} ranks share this one); \
                     use split_shared(comm) first"
                ),
            ));
        }
        // Lengths and element types of all ranks, agreed before the collective
        // allocation, so a bad argument on one rank is the same error everywhere
        // rather than a hang.
        let call = "SharedArray::new";
        let sizes = agree::<T>(
            comm.as_raw(),
            call,
            local_len,
            Span::Node,
            info.fingerprint(),
        )?;
        info.check_window_hints(call, &sizes)?;
        if info
            .get("alloc_shared_noncontig")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err(invalid(
                call,
                "hint alloc_shared_noncontig=true: a SharedArray's segments are contiguous",
            ));
        }
        let raw_info = info.to_raw()?;
        let elem = std::mem::size_of::<T>();
        let bytes = local_len * elem; // checked by `agree`
        let disp_unit = c_int::try_from(elem)
            .map_err(|_| invalid("SharedArray::new", "element size exceeds c_int"))?;
        let mut base: *mut T = std::ptr::null_mut();
        let mut win = MaybeUninit::<ffi::MPI_Win>::uninit();
        // SAFETY: `comm` is a live node communicator; `base` receives the address of
        // this rank's segment (MPI writes a pointer into the location we pass), `win`
        // the new window handle.
        let rc = unsafe {
            ffi::MPI_Win_allocate_shared(
                bytes as ffi::MPI_Aint,
                disp_unit,
                raw_info.handle(),
                comm.as_raw(),
                &mut base as *mut *mut T as *mut c_void,
                win.as_mut_ptr(),
            )
        };
        check("MPI_Win_allocate_shared", rc)?;
        // SAFETY: the allocation succeeded and wrote the window handle.
        let win = unsafe { win.assume_init() };
        // From here, `array`'s Drop frees the window on every path.
        let mut array = SharedArray {
            win,
            segments: Vec::with_capacity(size),
            rank: comm.rank() as usize,
            reading: false,
            locked: false,
            protocol: comm,
            _t: PhantomData,
            _thread: PhantomData,
        };
        // SAFETY: `win` is a live window; MPI_ERRORS_RETURN is a predefined handler.
        let rc = unsafe { ffi::MPI_Win_set_errhandler(win, ffi::RSMPI_ERRORS_RETURN) };
        check("MPI_Win_set_errhandler", rc)?;
        for r in 0..size {
            let mut seg_bytes: ffi::MPI_Aint = 0;
            let mut seg_unit: c_int = 0;
            let mut ptr: *mut T = std::ptr::null_mut();
            // SAFETY: `r` is a rank of the window's group; the out-pointers are valid
            // (MPI writes the segment's base address into `ptr`).
            let rc = unsafe {
                ffi::MPI_Win_shared_query(
                    win,
                    r as c_int,
                    &mut seg_bytes,
                    &mut seg_unit,
                    &mut ptr as *mut *mut T as *mut c_void,
                )
            };
            check("MPI_Win_shared_query", rc)?;
            let len = seg_bytes as usize / elem;
            if len == 0 {
                ptr = std::ptr::NonNull::dangling().as_ptr();
            } else if ptr.is_null() || !(ptr as usize).is_multiple_of(std::mem::align_of::<T>()) {
                return Err(invalid(
                    "SharedArray::new",
                    format!("segment {r} at {ptr:p} is not aligned for the element type"),
                ));
            }
            array.segments.push((ptr, len));
        }
        // SAFETY: `win` is a live window; MPI_MODE_NOCHECK is the assert constant from
        // the bindings. A shared lock on all ranks for the window's life is the
        // passive-target epoch in which MPI_Win_sync is allowed.
        let rc = unsafe { ffi::MPI_Win_lock_all(ffi::MPI_MODE_NOCHECK as c_int, win) };
        check("MPI_Win_lock_all", rc)?;
        array.locked = true;
        let (own, own_len) = array.segments[array.rank];
        // SAFETY: this rank's segment holds `own_len` elements of uninitialised MPI
        // memory that nobody reads before the memory barrier below; zeroing raw bytes
        // forms no reference to it, and all-zero bytes are a valid `T: Pod`.
        unsafe { std::ptr::write_bytes(own, 0, own_len) };
        array.memory_barrier()?;
        Ok(array)
    }

    /// This rank's index in the array's communicator (its segment number).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of segments (ranks).
    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }

    /// Length of every segment, by rank.
    pub fn segment_lens(&self) -> Vec<usize> {
        self.segments.iter().map(|s| s.1).collect()
    }

    /// Length of segment `rank`.
    ///
    /// # Panics
    /// If `rank >= self.num_segments()`.
    pub fn segment_len(&self, rank: usize) -> usize {
        self.segments[rank].1
    }

    /// Total length (sum of all segments).
    pub fn total_len(&self) -> usize {
        self.segments.iter().map(|s| s.1).sum()
    }

    /// Offset of segment `rank` in the whole array (sum of the lengths before it).
    pub fn segment_offset(&self, rank: usize) -> usize {
        self.segments[..rank].iter().map(|s| s.1).sum()
    }

    /// This rank's own segment, for reading. Always allowed: only this rank writes it.
    pub fn local(&self) -> &[T] {
        let (ptr, len) = self.segments[self.rank];
        // SAFETY: the segment is valid for `len` elements of `T` for the window's life;
        // only this rank writes it, and only through `&mut self`, so no write can
        // happen while this shared borrow lives.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }

    /// This rank's own segment, for writing (write phase). Other ranks cannot read it
    /// until the next [`sync`](Self::sync).
    pub fn local_mut(&mut self) -> &mut [T] {
        if self.reading {
            self.end_read_phase()
                .expect("completing the read phase of a leaked SharedView");
        }
        let (ptr, len) = self.segments[self.rank];
        // SAFETY: as in `local`; other ranks only read this segment during a read
        // phase, and no read phase is open (ended above; a new one needs `&mut self`).
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }

    /// This rank's segment as an ndarray view of shape `shape` (e.g. `(rows, cols)`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the shape does not match the segment length.
    pub fn local_view<D: Dimension, Sh: Into<StrideShape<D>>>(
        &self,
        shape: Sh,
    ) -> Result<ArrayView<'_, T, D>> {
        ArrayView::from_shape(shape, self.local()).map_err(shape_error)
    }

    /// This rank's segment as a mutable ndarray view of shape `shape`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the shape does not match the segment length.
    pub fn local_view_mut<D: Dimension, Sh: Into<StrideShape<D>>>(
        &mut self,
        shape: Sh,
    ) -> Result<ArrayViewMut<'_, T, D>> {
        ArrayViewMut::from_shape(shape, self.local_mut()).map_err(shape_error)
    }

    /// Ends the write phase: makes every rank's writes visible to all
    /// (`MPI_Win_sync`, barrier, `MPI_Win_sync`) and returns the read view.
    /// **Collective** over the array's communicator.
    pub fn sync(&mut self) -> Result<SharedView<'_, T>> {
        if self.reading {
            self.end_read_phase()?;
        }
        self.memory_barrier()?;
        self.reading = true;
        Ok(SharedView { array: self })
    }

    /// `MPI_Win_sync`, barrier, `MPI_Win_sync`: the shared-memory synchronisation of
    /// the unified memory model.
    fn memory_barrier(&mut self) -> Result<()> {
        // SAFETY: `win` is live and inside the lock_all epoch opened at creation.
        check("MPI_Win_sync", unsafe { ffi::MPI_Win_sync(self.win) })?;
        // Yielding: with more ranks than cores a spinning barrier costs a time slice.
        yielding_barrier(&self.protocol)?;
        // SAFETY: as above.
        check("MPI_Win_sync", unsafe { ffi::MPI_Win_sync(self.win) })
    }

    fn end_read_phase(&mut self) -> Result<()> {
        self.reading = false;
        // Reads need no memory fence; the barrier orders them before later writes.
        yielding_barrier(&self.protocol)
    }
}

impl<T: Equivalence + bytemuck::Pod> SharedView<'_, T> {
    /// Segment `rank`, any rank of the node.
    ///
    /// # Panics
    /// If `rank >= num_segments()`.
    pub fn segment(&self, rank: usize) -> &[T] {
        let (ptr, len) = self.array.segments[rank];
        // SAFETY: the segment is valid for `len` elements for the window's life. During
        // a read phase no rank writes any segment: each rank's writes need
        // `local_mut(&mut self)`, impossible while its own view borrows its array, and
        // the phases are switched by collective barriers on every rank.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }

    /// This rank's own segment.
    pub fn local(&self) -> &[T] {
        self.segment(self.array.rank)
    }

    /// This rank's index (segment number).
    pub fn rank(&self) -> usize {
        self.array.rank
    }

    /// Number of segments (ranks).
    pub fn num_segments(&self) -> usize {
        self.array.segments.len()
    }

    /// The whole array, all segments in rank order, as one slice (MPI allocates the
    /// segments contiguously by default).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if this MPI did not place them contiguously.
    pub fn all(&self) -> Result<&[T]> {
        let segs = &self.array.segments;
        let mut nonempty = segs.iter().filter(|s| s.1 > 0);
        let Some(&(first, _)) = nonempty.clone().next() else {
            return Ok(&[]);
        };
        let mut end = first;
        for &(ptr, len) in nonempty.by_ref() {
            if ptr != end {
                return Err(invalid(
                    "SharedView::all",
                    "the MPI library did not allocate the segments contiguously",
                ));
            }
            end = ptr.wrapping_add(len);
        }
        let total = self.array.total_len();
        // SAFETY: the non-empty segments are adjacent (checked above), so
        // `[first, first + total)` is exactly their union, valid for the window's
        // life and not written during the read phase (see `segment`).
        Ok(unsafe { std::slice::from_raw_parts(first, total) })
    }

    /// Segment `rank` as an ndarray view of shape `shape` (e.g. `(rows, cols)`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the shape does not match the segment length.
    pub fn segment_view<D: Dimension, Sh: Into<StrideShape<D>>>(
        &self,
        rank: usize,
        shape: Sh,
    ) -> Result<ArrayView<'_, T, D>> {
        ArrayView::from_shape(shape, self.segment(rank)).map_err(shape_error)
    }

    /// The whole array (see [`all`](Self::all)) as an ndarray view of shape `shape`.
    ///
    /// # Errors
    /// As [`all`](Self::all), or if the shape does not match the total length.
    pub fn all_view<D: Dimension, Sh: Into<StrideShape<D>>>(
        &self,
        shape: Sh,
    ) -> Result<ArrayView<'_, T, D>> {
        ArrayView::from_shape(shape, self.all()?).map_err(shape_error)
    }

    /// Ends the read phase (a barrier, **collective**): afterwards each rank may
    /// write its own segment again.
    pub fn release(self) -> Result<()> {
        // The drop that follows sees the phase ended and does nothing.
        self.array.end_read_phase()
    }
}

impl<T: Equivalence + bytemuck::Pod> Drop for SharedView<'_, T> {
    fn drop(&mut self) {
        // Errors cannot be returned from drop; `release()` reports them.
        if self.array.reading {
            let _ = self.array.end_read_phase();
        }
    }
}

impl<T: Equivalence + bytemuck::Pod> Drop for SharedArray<T> {
    fn drop(&mut self) {
        if self.reading {
            let _ = self.end_read_phase();
        }
        if self.locked {
            // SAFETY: `win` is live and inside the lock_all epoch opened at creation.
            unsafe {
                ffi::MPI_Win_unlock_all(self.win);
            }
        }
        // SAFETY: `win` is live and no epoch is open; MPI_Win_free (collective)
        // releases the shared memory. No slice into it outlives `self`.
        unsafe {
            ffi::MPI_Win_free(&mut self.win);
        }
    }
}

impl<T: Equivalence + bytemuck::Pod> std::fmt::Debug for SharedArray<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedArray")
            .field("rank", &self.rank)
            .field("segment_lens", &self.segment_lens())
            .finish()
    }
}

fn shape_error(e: ndarray::ShapeError) -> Error {
    invalid("SharedArray view", e.to_string())
}
