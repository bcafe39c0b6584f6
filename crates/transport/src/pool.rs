//! A node-wide pool of chunks of work claimed by atomics: [`ChunkPool`].
//!
//! Each rank of a node owns one *round* of `n` cells at a time: it copies their
//! bytes into its segment of one `MPI_Win_allocate_shared` window
//! ([`ChunkPool::open`]), then claims chunks of them front to back from a
//! per-rank claim word ([`ChunkPool::claim`]) and computes them in place. The
//! other ranks of the node, once idle, claim chunks from the same word
//! ([`ChunkPool::steal`]), read the cells from the owner's segment, and write
//! results and measured costs back into it; a per-rank completion count tells
//! the owner when every stolen chunk is in ([`ChunkPool::outputs`]). No MPI call
//! and no help from the owner's thread is needed: claims are compare-and-swap
//! on an `AtomicU64` in shared memory, completions `fetch_add`.
//!
//! # Why safe code cannot race
//!
//! The bytes of a segment are only reached through the protocol:
//!
//! - a cell's input is written only by its owner in [`open`](ChunkPool::open)
//!   (`&mut self`), which first waits until every chunk of the previous round is
//!   completed, and read by a thief only after a successful claim, which
//!   synchronises with (acquires) the release store that published the round;
//! - a cell's output is written only by the one thief whose claim covers it
//!   (claims of a round are disjoint ranges), before its release `fetch_add`
//!   of the completion count; the owner reads outputs only through
//!   [`Outputs`], which exists once that count, acquired, says every stolen
//!   cell is in, and which borrows the pool mutably so no new round can open
//!   (and no new thief write) while it lives.
//!
//! A claim word holds `next << 32 | end` (cells `next..end` of the current round
//! are unclaimed), so a claim is valid against whatever round is current when
//! its compare-and-swap succeeds (a word seen again in a later round means the
//! same thing: those cells of the round now published). A leaked [`Stolen`]
//! guard never completes its chunk, so its owner waits for ever: a hang, never a
//! data race; the memory stays valid because the guard borrows the pool, and
//! dropping the pool (collective `MPI_Win_free`) first completes the round.
//!
//! Rust's atomics are used across processes on the same physical memory (as
//! MPI's own shared-memory transports do): lock-free 64-bit atomics act on the
//! address, whichever process maps it.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;

use crate::error::{check, invalid, Result};
use crate::layout::{agree, Span};
use crate::shared::split_shared;

/// 64-bit words of a segment's header: claim word, completion count and the
/// owner's hints, each on a cache line of its own so thieves claiming do not
/// slow down the completion count.
const HEADER_WORDS: usize = 24;
const CLAIM: usize = 0;
const DONE: usize = 8;
const MIN_CHUNK: usize = 16;
const COST_HINT: usize = 17;
const ROUNDS: usize = 18;

fn pack(next: u64, end: u64) -> u64 {
    (next << 32) | end
}

fn unpack(word: u64) -> (u64, u64) {
    (word >> 32, word & 0xffff_ffff)
}

/// One rank's segment: header, costs (one `f64` per cell), inputs, outputs.
#[derive(Clone, Copy)]
struct Segment {
    base: *mut u64,
    capacity: usize,
}

/// The owner's state of its current round.
#[derive(Clone, Copy, Default)]
struct Round {
    open: bool,
    cells: usize,
    /// Cells the owner claimed itself (the rest are stolen).
    own: usize,
}

/// Per-rank rounds of cells in node shared memory, claimed in chunks by atomics
/// by their owner and by idle ranks of the node (see the [module
/// documentation](self)).
///
/// ```no_run
/// use quicklb_transport::pool::ChunkPool;
/// let universe = quicklb_transport::initialize();
/// let node = quicklb_transport::split_shared(&universe.world())?;
/// let mut cells = vec![1.0f64; 100];
/// let mut pool = ChunkPool::new(&node, cells.len(), 8)?;
/// pool.open(cells.len(), 4, 1e-6, |i, bytes| bytes.copy_from_slice(&cells[i].to_ne_bytes()))?;
/// while let Some(chunk) = pool.claim(8) {
///     for i in chunk {
///         cells[i] *= 2.0; // the owner computes its own claims in place
///     }
///     for r in 0..pool.num_ranks() {
///         if let Some(mut stolen) = pool.steal(r, |remaining, min| (remaining / 4).max(min)) {
///             for k in 0..stolen.len() {
///                 let x = f64::from_ne_bytes(stolen.input(k).try_into().unwrap());
///                 stolen.write(k, &(x * 2.0).to_ne_bytes(), 1e-6);
///             }
///         } // dropping the guard completes the chunk
///     }
/// }
/// let outputs = loop {
///     if let Some(o) = pool.outputs() {
///         break o;
///     }
///     std::hint::spin_loop();
/// };
/// for i in 0..outputs.len() {
///     if let Some((bytes, _cost)) = outputs.get(i) {
///         cells[i] = f64::from_ne_bytes(bytes.try_into().unwrap()); // computed by a thief
///     }
/// }
/// # Ok::<(), quicklb_transport::Error>(())
/// ```
pub struct ChunkPool {
    win: ffi::MPI_Win,
    segments: Vec<Segment>,
    rank: usize,
    cell_bytes: usize,
    round: Cell<Round>,
    /// The window's communicator (kept alive with the window).
    _comm: SimpleCommunicator,
    /// Neither `Send` nor `Sync`: the owner's round state is per thread.
    _thread: PhantomData<*const ()>,
}

impl ChunkPool {
    /// Allocates the pool over `comm`, whose ranks must share one node (use
    /// [`split_shared`] first; a sub-communicator of a node works too): this
    /// rank's rounds hold up to `capacity` cells of `cell_bytes` bytes each.
    /// **Collective** over `comm`.
    ///
    /// # Errors
    /// The same [`Error::InvalidArgument`](crate::Error::InvalidArgument) on
    /// every rank if `comm` spans several nodes, ranks give different
    /// `cell_bytes`, `cell_bytes` is 0, a capacity exceeds `u32::MAX` cells or
    /// the segment sizes overflow; [`Error::Mpi`](crate::Error::Mpi) if MPI
    /// fails to allocate.
    pub fn new<C: Communicator>(comm: &C, capacity: usize, cell_bytes: usize) -> Result<Self> {
        let call = "ChunkPool::new";
        let node = split_shared(comm)?;
        let spans = node.size() != comm.size();
        // Everything is agreed before the collective allocation.
        let words = segment_words(capacity, cell_bytes);
        let mine: [u64; 4] = [
            u64::from(spans),
            cell_bytes as u64,
            u64::from(words.is_none()),
            capacity as u64,
        ];
        let comm = comm.duplicate();
        crate::error::set_errors_return(comm.as_raw())?;
        let mut all = vec![0u64; 4 * comm.size() as usize];
        comm.all_gather_into(&mine[..], &mut all[..]);
        for (r, row) in all.chunks_exact(4).enumerate() {
            if row[0] != 0 {
                return Err(invalid(call, "the communicator spans several nodes"));
            }
            if row[1] != all[1] || row[1] == 0 {
                return Err(invalid(
                    call,
                    format!(
                        "rank {r} has cells of {} bytes, rank 0 of {} (must be equal and > 0)",
                        row[1], all[1]
                    ),
                ));
            }
            if row[2] != 0 {
                return Err(invalid(
                    call,
                    format!(
                        "rank {r}: {} cells of {} bytes: a pool holds at most {} cells per rank \
                         and its segment must fit an MPI_Aint",
                        row[3],
                        row[1],
                        u32::MAX
                    ),
                ));
            }
        }
        let words = words.expect("agreed above");
        let sizes = agree::<u64>(comm.as_raw(), call, words, Span::Node, 0)?;
        let mut base: *mut u64 = std::ptr::null_mut();
        let mut win = MaybeUninit::<ffi::MPI_Win>::uninit();
        // SAFETY: `comm` is a live communicator of one node; `base` receives the
        // address of this rank's segment, `win` the new window handle; the size
        // was checked to fit an MPI_Aint by `agree`.
        let rc = unsafe {
            ffi::MPI_Win_allocate_shared(
                (words * 8) as ffi::MPI_Aint,
                8,
                ffi::RSMPI_INFO_NULL,
                comm.as_raw(),
                &mut base as *mut *mut u64 as *mut c_void,
                win.as_mut_ptr(),
            )
        };
        check("MPI_Win_allocate_shared", rc)?;
        // SAFETY: the allocation succeeded and wrote the window handle.
        let win = unsafe { win.assume_init() };
        let mut pool = ChunkPool {
            win,
            segments: Vec::with_capacity(sizes.len()),
            rank: comm.rank() as usize,
            cell_bytes,
            round: Cell::new(Round::default()),
            _comm: comm,
            _thread: PhantomData,
        };
        // SAFETY: `win` is a live window; MPI_ERRORS_RETURN is a predefined handler.
        let rc = unsafe { ffi::MPI_Win_set_errhandler(win, ffi::RSMPI_ERRORS_RETURN) };
        check("MPI_Win_set_errhandler", rc)?;
        for (r, &len) in sizes.iter().enumerate() {
            let mut seg_bytes: ffi::MPI_Aint = 0;
            let mut unit: c_int = 0;
            let mut ptr: *mut u64 = std::ptr::null_mut();
            // SAFETY: `r` is a rank of the window's group; the out-pointers are
            // valid (MPI writes the segment's base address into `ptr`).
            let rc = unsafe {
                ffi::MPI_Win_shared_query(
                    win,
                    r as c_int,
                    &mut seg_bytes,
                    &mut unit,
                    &mut ptr as *mut *mut u64 as *mut c_void,
                )
            };
            check("MPI_Win_shared_query", rc)?;
            if ptr.is_null()
                || !(ptr as usize).is_multiple_of(std::mem::align_of::<AtomicU64>())
                || (seg_bytes as usize) < len * 8
            {
                return Err(invalid(
                    call,
                    format!("segment {r} at {ptr:p} ({seg_bytes} bytes) is not usable"),
                ));
            }
            let capacity = all[4 * r + 3] as usize;
            pool.segments.push(Segment {
                base: ptr,
                capacity,
            });
        }
        // SAFETY: `win` is live; a shared lock on all ranks for the window's life
        // is the passive-target epoch in which MPI_Win_sync is allowed.
        check("MPI_Win_lock_all", unsafe {
            ffi::MPI_Win_lock_all(ffi::MPI_MODE_NOCHECK as c_int, win)
        })?;
        let own = pool.segments[pool.rank];
        // SAFETY: this rank's segment holds `words` u64 of MPI memory that nobody
        // reaches before the barrier below; zero bytes are a closed round (claim
        // word `0..0`) and valid values for every area.
        unsafe { std::ptr::write_bytes(own.base, 0, words) };
        // SAFETY: `win` is live and inside the lock_all epoch.
        check("MPI_Win_sync", unsafe { ffi::MPI_Win_sync(win) })?;
        // SAFETY: the communicator is live.
        check("MPI_Barrier", unsafe {
            ffi::MPI_Barrier(pool._comm.as_raw())
        })?;
        // SAFETY: as above.
        check("MPI_Win_sync", unsafe { ffi::MPI_Win_sync(win) })?;
        Ok(pool)
    }

    /// This rank's index in the pool (its segment).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of ranks sharing the pool.
    pub fn num_ranks(&self) -> usize {
        self.segments.len()
    }

    /// Most cells a round of `rank` can hold.
    pub fn capacity(&self, rank: usize) -> usize {
        self.segments[rank].capacity
    }

    /// Bytes per cell.
    pub fn cell_bytes(&self) -> usize {
        self.cell_bytes
    }

    fn word(&self, rank: usize, index: usize) -> &AtomicU64 {
        let seg = self.segments[rank];
        debug_assert!(index < HEADER_WORDS);
        // SAFETY: the header words lie inside the segment (checked at creation),
        // are 8-byte aligned, live as long as the window (borrowed by `&self`),
        // and are only ever accessed atomically, by every rank.
        unsafe { AtomicU64::from_ptr(seg.base.add(index)) }
    }

    fn costs_ptr(&self, rank: usize) -> *mut f64 {
        // SAFETY: the costs follow the header inside the segment.
        unsafe { self.segments[rank].base.add(HEADER_WORDS).cast::<f64>() }
    }

    fn inputs_ptr(&self, rank: usize) -> *mut u8 {
        let seg = self.segments[rank];
        // SAFETY: the inputs follow the costs inside the segment.
        unsafe { seg.base.add(HEADER_WORDS + seg.capacity).cast::<u8>() }
    }

    fn outputs_ptr(&self, rank: usize) -> *mut u8 {
        let seg = self.segments[rank];
        let input_words = (seg.capacity * self.cell_bytes).div_ceil(8);
        // SAFETY: the outputs follow the inputs inside the segment.
        unsafe {
            seg.base
                .add(HEADER_WORDS + seg.capacity + input_words)
                .cast::<u8>()
        }
    }

    /// Opens a round of `cells` cells: `fill(i, bytes)` writes cell `i`'s bytes
    /// (`cell_bytes` of them) for every `i < cells`; then the round is
    /// published, to be claimed by this rank ([`claim`](Self::claim)) and
    /// stolen by the others. `min_chunk` is the smallest chunk thieves should
    /// take (e.g. to keep a claim's cost small against its work) and
    /// `cost_per_cell` the expected seconds per cell (thieves prefer the rank
    /// with the most remaining work); both are hints. If the previous round is
    /// still open, its unclaimed cells are claimed by this rank (and left
    /// uncomputed) and its stolen chunks are waited for first.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if `cells`
    /// exceeds this rank's capacity.
    pub fn open(
        &mut self,
        cells: usize,
        min_chunk: usize,
        cost_per_cell: f64,
        mut fill: impl FnMut(usize, &mut [u8]),
    ) -> Result<()> {
        if cells > self.segments[self.rank].capacity {
            return Err(invalid(
                "ChunkPool::open",
                format!(
                    "{cells} cells, more than the capacity of {}",
                    self.segments[self.rank].capacity
                ),
            ));
        }
        self.drain();
        let cb = self.cell_bytes;
        let me = self.rank;
        let inputs = self.inputs_ptr(me);
        let costs = self.costs_ptr(me);
        for i in 0..cells {
            // SAFETY: cell `i < capacity` lies inside this rank's input area; no
            // thief reads it: the previous round is complete (drained above) and
            // the new one is not yet published, so nobody holds a claim here.
            let bytes = unsafe { std::slice::from_raw_parts_mut(inputs.add(i * cb), cb) };
            fill(i, bytes);
            // SAFETY: as above for the cost slot; NaN means "no thief computed it".
            unsafe { costs.add(i).write(f64::NAN) };
        }
        self.word(me, DONE).store(0, Ordering::Relaxed);
        self.word(me, MIN_CHUNK)
            .store(min_chunk.max(1) as u64, Ordering::Relaxed);
        self.word(me, COST_HINT)
            .store(cost_per_cell.to_bits(), Ordering::Relaxed);
        // Publishes the inputs, costs and count above to every successful claim.
        self.word(me, CLAIM)
            .store(pack(0, cells as u64), Ordering::Release);
        // After the claim word: whoever sees the new round count sees the round.
        let rounds = self.word(me, ROUNDS).load(Ordering::Relaxed);
        self.word(me, ROUNDS).store(rounds + 1, Ordering::Release);
        self.round.set(Round {
            open: true,
            cells,
            own: 0,
        });
        Ok(())
    }

    /// Claims up to `max` (at least 1) cells of `rank`'s round: the range of
    /// cell indices, or `None` if nothing is left.
    fn take(&self, rank: usize, max: impl Fn(u64, u64) -> u64) -> Option<Range<usize>> {
        let word = self.word(rank, CLAIM);
        let mut current = word.load(Ordering::Relaxed);
        loop {
            let (next, end) = unpack(current);
            if next >= end {
                return None;
            }
            let min = self.word(rank, MIN_CHUNK).load(Ordering::Relaxed).max(1);
            let n = max(end - next, min).clamp(1, end - next);
            match word.compare_exchange_weak(
                current,
                pack(next + n, end),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(next as usize..(next + n) as usize),
                Err(seen) => current = seen,
            }
        }
    }

    /// The owner claims the next chunk of at most `max` cells (at least 1) of
    /// its own round, front to back; it computes them in its own storage.
    /// `None` when every cell of the round is claimed (or no round is open).
    pub fn claim(&self, max: usize) -> Option<Range<usize>> {
        let me = self.rank;
        let range = self.take(me, |_, _| max.max(1) as u64)?;
        let mut round = self.round.get();
        round.own += range.len();
        self.round.set(round);
        Some(range)
    }

    /// Unclaimed cells of `rank`'s round and its owner's cost per cell (a
    /// snapshot: other ranks claim concurrently).
    pub fn remaining(&self, rank: usize) -> (usize, f64) {
        let (next, end) = unpack(self.word(rank, CLAIM).load(Ordering::Relaxed));
        let cost = f64::from_bits(self.word(rank, COST_HINT).load(Ordering::Relaxed));
        (end.saturating_sub(next) as usize, cost)
    }

    /// Rounds `rank` has opened so far. Once this is seen to be `k`, the claim
    /// word of `rank`'s round `k` (or a later one) is seen too, so "round `k`
    /// opened and nothing left to claim" can be told from "not opened yet".
    pub fn rounds(&self, rank: usize) -> u64 {
        self.word(rank, ROUNDS).load(Ordering::Acquire)
    }

    /// Claims a chunk of another rank's round: `chunk(remaining, min_chunk)`
    /// gives its size (clamped to `1..=remaining`). `None` if nothing is left
    /// or `victim` is this rank (use [`claim`](Self::claim)).
    ///
    /// # Panics
    /// If `victim >= num_ranks()`.
    pub fn steal(
        &self,
        victim: usize,
        chunk: impl Fn(usize, usize) -> usize,
    ) -> Option<Stolen<'_>> {
        assert!(victim < self.segments.len(), "no rank {victim} in the pool");
        if victim == self.rank {
            return None;
        }
        let range = self.take(victim, |rem, min| chunk(rem as usize, min as usize) as u64)?;
        Some(Stolen {
            pool: self,
            victim,
            range,
        })
    }

    /// Whether every cell of this rank's round is claimed and every stolen
    /// chunk completed.
    pub fn is_complete(&self) -> bool {
        let round = self.round.get();
        if !round.open {
            return true;
        }
        let (next, end) = unpack(self.word(self.rank, CLAIM).load(Ordering::Acquire));
        next >= end
            && self.word(self.rank, DONE).load(Ordering::Acquire)
                == (round.cells - round.own) as u64
    }

    /// Cells of this rank's round claimed by other ranks so far (of a closed
    /// round: all of them).
    pub fn stolen(&self) -> usize {
        let round = self.round.get();
        let (next, _) = unpack(self.word(self.rank, CLAIM).load(Ordering::Relaxed));
        (next as usize).min(round.cells).saturating_sub(round.own)
    }

    /// Closes the round once it is complete ([`is_complete`](Self::is_complete))
    /// and gives the stolen cells' results; `None` while it is not. A closed
    /// round gives its results again until the next [`open`](Self::open).
    pub fn outputs(&mut self) -> Option<Outputs<'_>> {
        if !self.is_complete() {
            return None;
        }
        let mut round = self.round.get();
        round.open = false;
        self.round.set(round);
        Some(Outputs {
            pool: self,
            cells: round.cells,
        })
    }

    /// Claims every unclaimed cell of the open round for this rank and waits
    /// for the stolen chunks.
    fn drain(&self) {
        if !self.round.get().open {
            return;
        }
        while self.claim(u32::MAX as usize).is_some() {}
        let mut spins = 0u32;
        while !self.is_complete() {
            spins += 1;
            if spins < 1000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let mut round = self.round.get();
        round.open = false;
        self.round.set(round);
    }
}

impl Drop for ChunkPool {
    fn drop(&mut self) {
        // Thieves of other ranks may still be computing our cells.
        self.drain();
        // SAFETY: `win` is live and inside the lock_all epoch opened at creation.
        unsafe {
            ffi::MPI_Win_unlock_all(self.win);
        }
        // SAFETY: `win` is live, no epoch is open and no reference into it
        // outlives `self` (guards borrow the pool). MPI_Win_free is collective:
        // every rank has completed its own round (and so its thieves' accesses to
        // its memory) before the memory goes.
        unsafe {
            ffi::MPI_Win_free(&mut self.win);
        }
    }
}

impl std::fmt::Debug for ChunkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkPool")
            .field("rank", &self.rank)
            .field("ranks", &self.segments.len())
            .field("cell_bytes", &self.cell_bytes)
            .finish()
    }
}

/// A chunk of another rank's round, claimed by [`ChunkPool::steal`]: read its
/// cells with [`input`](Self::input), write their results with
/// [`write`](Self::write). Dropping the guard completes the chunk (the owner's
/// completion count); cells not written keep their owner's value.
#[must_use = "a stolen chunk is completed when dropped"]
pub struct Stolen<'p> {
    pool: &'p ChunkPool,
    victim: usize,
    range: Range<usize>,
}

impl Stolen<'_> {
    /// The owner of the cells.
    pub fn victim(&self) -> usize {
        self.victim
    }

    /// The owner's cell indices of this chunk.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Always false: a claim holds at least one cell.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// The bytes of the chunk's cell `k` (`k < len()`), as the owner published
    /// them.
    ///
    /// # Panics
    /// If `k >= len()`.
    pub fn input(&self, k: usize) -> &[u8] {
        assert!(
            k < self.range.len(),
            "cell {k} of a chunk of {}",
            self.len()
        );
        let cb = self.pool.cell_bytes;
        let i = self.range.start + k;
        // SAFETY: cell `i` is in the victim's input area; this claim acquired the
        // release store that published it, and the owner writes inputs again only
        // after this chunk completes (when the guard, which this borrow keeps
        // alive, is dropped).
        unsafe { std::slice::from_raw_parts(self.pool.inputs_ptr(self.victim).add(i * cb), cb) }
    }

    /// Writes the result of the chunk's cell `k` and its measured cost in
    /// seconds (the owner keeps its cell if `cost` is NaN).
    ///
    /// # Panics
    /// If `k >= len()` or `result` is not `cell_bytes()` long.
    pub fn write(&mut self, k: usize, result: &[u8], cost: f64) {
        assert!(
            k < self.range.len(),
            "cell {k} of a chunk of {}",
            self.len()
        );
        let cb = self.pool.cell_bytes;
        assert_eq!(result.len(), cb, "a result of {} bytes", result.len());
        let i = self.range.start + k;
        // SAFETY: cell `i`'s output and cost slots belong to this claim alone
        // (claims are disjoint ranges of the round) until its completion; the
        // owner reads them only after acquiring that completion.
        unsafe {
            std::ptr::copy_nonoverlapping(
                result.as_ptr(),
                self.pool.outputs_ptr(self.victim).add(i * cb),
                cb,
            );
            self.pool.costs_ptr(self.victim).add(i).write(cost);
        }
    }
}

impl Stolen<'_> {
    /// Sets the measured cost of the chunk's cell `k` (after [`write`](Self::write)
    /// with a NaN cost, when the cost is known only once the chunk is done).
    ///
    /// # Panics
    /// If `k >= len()`.
    pub fn set_cost(&mut self, k: usize, cost: f64) {
        assert!(
            k < self.range.len(),
            "cell {k} of a chunk of {}",
            self.len()
        );
        let i = self.range.start + k;
        // SAFETY: the cost slot of cell `i` belongs to this claim (see `write`).
        unsafe { self.pool.costs_ptr(self.victim).add(i).write(cost) };
    }
}

impl Drop for Stolen<'_> {
    fn drop(&mut self) {
        // Releases the writes above to the owner's acquire of the count.
        self.pool
            .word(self.victim, DONE)
            .fetch_add(self.range.len() as u64, Ordering::Release);
    }
}

impl std::fmt::Debug for Stolen<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stolen")
            .field("victim", &self.victim)
            .field("range", &self.range)
            .finish()
    }
}

/// The results of the stolen cells of a completed round ([`ChunkPool::outputs`]).
pub struct Outputs<'p> {
    pool: &'p ChunkPool,
    cells: usize,
}

impl Outputs<'_> {
    /// Number of cells of the round.
    pub fn len(&self) -> usize {
        self.cells
    }

    /// Whether the round had no cell.
    pub fn is_empty(&self) -> bool {
        self.cells == 0
    }

    /// Cell `i`'s result bytes and measured cost, if a thief computed it
    /// (`None` for the cells this rank claimed itself, and for cells a thief
    /// could not compute).
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn get(&self, i: usize) -> Option<(&[u8], f64)> {
        assert!(i < self.cells, "cell {i} of a round of {}", self.cells);
        let me = self.pool.rank;
        // SAFETY: the round is complete (acquired in `outputs`): no thief writes
        // this segment until the next `open`, which needs the pool mutably,
        // borrowed by `self`.
        let cost = unsafe { self.pool.costs_ptr(me).add(i).read() };
        if cost.is_nan() {
            return None;
        }
        let cb = self.pool.cell_bytes;
        // SAFETY: as above.
        let bytes =
            unsafe { std::slice::from_raw_parts(self.pool.outputs_ptr(me).add(i * cb), cb) };
        Some((bytes, cost))
    }
}

impl std::fmt::Debug for Outputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outputs")
            .field("cells", &self.cells)
            .finish()
    }
}

/// Words of a segment of `capacity` cells of `cell_bytes` bytes, or `None` if
/// it overflows or the capacity exceeds the claim word's 32-bit indices.
fn segment_words(capacity: usize, cell_bytes: usize) -> Option<usize> {
    if capacity > u32::MAX as usize {
        return None;
    }
    let data = capacity.checked_mul(cell_bytes)?.div_ceil(8);
    let words = HEADER_WORDS
        .checked_add(capacity)?
        .checked_add(data.checked_mul(2)?)?;
    words.checked_mul(8)?;
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_words_roundtrip() {
        assert_eq!(unpack(pack(3, 10)), (3, 10));
        assert_eq!(
            unpack(pack(u32::MAX as u64, u32::MAX as u64)).0,
            u32::MAX as u64
        );
        assert_eq!(unpack(0), (0, 0));
    }

    #[test]
    fn segment_sizes() {
        assert_eq!(segment_words(0, 8), Some(HEADER_WORDS));
        assert_eq!(segment_words(10, 3), Some(HEADER_WORDS + 10 + 2 * 4));
        assert_eq!(segment_words(u32::MAX as usize + 1, 1), None);
        assert_eq!(segment_words(1 << 31, usize::MAX / 4), None);
    }
}
