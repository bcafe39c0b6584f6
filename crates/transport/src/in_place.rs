//! Persistent messages straight from and into the caller's buffers, lent to MPI
//! for one round at a time: no packing into message buffers, no unpacking.
//!
//! An [`InPlaceSet`] is a fixed list of messages, each a list of blocks (ranges
//! of elements) of one of the buffers it is run on, sent to or received from a
//! peer with a tag. Each message is one element of an indexed MPI datatype
//! (`MPI_Type_indexed`) built once, and its persistent request is created once
//! per buffer address: a halo exchange sends the boundary rows of a field and
//! receives its ghost rows in place, with the same requests every step.
//!
//! # The buffers are lent for one round
//!
//! [`InPlaceSet::run`] takes the buffers as `&mut [T]` for the duration of the
//! call, starts every request and waits for all of them before it returns, on
//! every path (a failed start completes the requests already started, a failed
//! completion call waits for every request). So MPI touches a buffer only while
//! the call holds its exclusive borrow; between rounds the set keeps nothing
//! that could reach it (the requests are idle, and are created anew if a buffer
//! comes back at another address). There is no guard to leak.
//!
//! A receive block may not overlap another receive block or a send block of the
//! same buffer (MPI forbids it, and it would make the result depend on the order
//! of the transfers); send blocks may overlap each other. The builder checks
//! this and that every block lies within its buffer's length, which `run`
//! checks against the buffers it is given.
//!
//! Errors, communicator duplication and collective agreement at build are those
//! of [`PersistentSet`] (see [`crate::persistent`]), which runs the rounds.
//!
//! ```no_run
//! use mpi::traits::*;
//! use quicklb_transport::InPlaceSet;
//!
//! let universe = mpi::initialize().unwrap();
//! let world = universe.world();
//! let (rank, size) = (world.rank(), world.size());
//! let (right, left) = ((rank + 1) % size, (rank + size - 1) % size);
//! // Cells 1..=4 go right; cell 0 and 5 receive from the left and the right.
//! let mut set = InPlaceSet::<f64>::builder(&world, &[6])
//!     .send(right, 0, 0, [4..5])
//!     .send(left, 1, 0, [1..2])
//!     .recv(left, 0, 0, [0..1])
//!     .recv(right, 1, 0, [5..6])
//!     .build()?;
//! let mut cells = [0.0, 1.0, 2.0, 3.0, 4.0, 0.0];
//! set.run([&mut cells[..]])?;
//! # Ok::<(), quicklb_transport::Error>(())
//! ```

use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::ops::Range;

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, Rank, SimpleCommunicator};

use crate::error::{check, invalid, Result};
use crate::persistent::{Element, PersistentSet, PersistentSetBuilder};

/// A committed indexed datatype of `T` blocks at element offsets of lent buffer
/// `buffer` (one message), freed when dropped.
pub(crate) struct Layout {
    datatype: ffi::MPI_Datatype,
    buffer: usize,
}

impl Layout {
    /// `MPI_Type_indexed` of `blocks` (element ranges, each within `c_int`) over
    /// `element`, committed.
    fn new(element: ffi::MPI_Datatype, blocks: &[Range<usize>], buffer: usize) -> Result<Self> {
        let lengths: Vec<c_int> = blocks.iter().map(|b| b.len() as c_int).collect();
        let offsets: Vec<c_int> = blocks.iter().map(|b| b.start as c_int).collect();
        let mut datatype = MaybeUninit::<ffi::MPI_Datatype>::uninit();
        // SAFETY: `lengths` and `offsets` hold `blocks.len()` ints each (a count
        // within `c_int`, checked by the builder), `element` is a predefined or
        // committed datatype and `datatype` a valid out-pointer.
        let rc = unsafe {
            ffi::MPI_Type_indexed(
                blocks.len() as c_int,
                lengths.as_ptr(),
                offsets.as_ptr(),
                element,
                datatype.as_mut_ptr(),
            )
        };
        check("MPI_Type_indexed", rc)?;
        // SAFETY: MPI_Type_indexed succeeded, so it wrote the handle.
        let datatype = unsafe { datatype.assume_init() };
        let mut layout = Layout { datatype, buffer };
        // SAFETY: a datatype just created by this layout, committed once.
        check("MPI_Type_commit", unsafe {
            ffi::MPI_Type_commit(&mut layout.datatype)
        })?;
        Ok(layout)
    }

    pub(crate) fn as_raw(&self) -> ffi::MPI_Datatype {
        self.datatype
    }

    /// Which of the lent buffers the message is in.
    pub(crate) fn buffer(&self) -> usize {
        self.buffer
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        // SAFETY: a datatype created by `new` and freed once, here; MPI keeps it
        // alive for any request still referring to it (the set frees its requests
        // first anyway).
        unsafe {
            ffi::MPI_Type_free(&mut self.datatype);
        }
    }
}

/// One message of the builder: peer, tag, buffer and blocks, in message order.
struct Spec {
    peer: Rank,
    tag: i32,
    buffer: usize,
    blocks: Vec<Range<usize>>,
}

/// Builder of an [`InPlaceSet`]; start it with [`InPlaceSet::builder`].
#[must_use = "a builder does nothing until build() is called"]
pub struct InPlaceSetBuilder<'c, T: Element> {
    comm: &'c dyn Communicator,
    lens: Vec<usize>,
    sends: Vec<Spec>,
    recvs: Vec<Spec>,
    _element: std::marker::PhantomData<T>,
}

/// Persistent sends and receives of blocks of buffers lent to each round (see the
/// [module documentation](self)).
///
/// Not `Send` or `Sync`, like [`PersistentSet`].
pub struct InPlaceSet<T: Element> {
    set: PersistentSet<'static, T>,
    lens: Vec<usize>,
    /// The buffer addresses the requests were created for (empty before the
    /// first round).
    bound: Vec<*mut T>,
    /// This round's buffer addresses (kept to reuse its allocation).
    given: Vec<*mut T>,
}

impl<T: Element> InPlaceSet<T> {
    /// Starts a builder of messages over buffers of the lengths `lens` (in
    /// elements; [`run`](Self::run) is given that many buffers of those lengths).
    /// The set duplicates `comm` at [`build`](InPlaceSetBuilder::build).
    pub fn builder<'c, C: Communicator>(comm: &'c C, lens: &[usize]) -> InPlaceSetBuilder<'c, T> {
        InPlaceSetBuilder {
            comm,
            lens: lens.to_vec(),
            sends: Vec::new(),
            recvs: Vec::new(),
            _element: std::marker::PhantomData,
        }
    }

    /// The set's own communicator (a duplicate, with `MPI_ERRORS_RETURN`).
    pub fn comm(&self) -> &SimpleCommunicator {
        self.set.comm()
    }

    /// Number of sends in the set.
    pub fn num_sends(&self) -> usize {
        self.set.num_sends()
    }

    /// Number of receives in the set.
    pub fn num_recvs(&self) -> usize {
        self.set.num_recvs()
    }

    /// One round over `buffers` (as many as the set was built for, of those
    /// lengths, in that order): starts every send and receive, straight from and
    /// into the buffers, and waits for all of them. The buffers are borrowed for
    /// the call only; MPI is done with them when it returns.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a wrong
    /// number or length of buffers (nothing is started: the peers' matching
    /// messages stay pending, so a caller that cannot provide its buffers should
    /// run the round on stand-ins of the right lengths); an MPI error of a start
    /// or completion, after which the set refuses to run again.
    pub fn run<'b>(&mut self, buffers: impl IntoIterator<Item = &'b mut [T]>) -> Result<()>
    where
        T: 'b,
    {
        self.given.clear();
        let mut count = 0;
        let mut lengths_match = true;
        for b in buffers {
            if count < self.lens.len() {
                lengths_match &= b.len() == self.lens[count];
                self.given.push(b.as_mut_ptr());
            }
            count += 1;
        }
        if count != self.lens.len() || !lengths_match {
            return Err(invalid(
                "InPlaceSet::run",
                format!(
                    "{count} buffers given, the set is built for {} of lengths {:?}",
                    self.lens.len(),
                    self.lens
                ),
            ));
        }
        if self.given != self.bound {
            self.set.rebind(&self.given)?;
            std::mem::swap(&mut self.bound, &mut self.given);
        }
        // The `&'b mut` borrows of the buffers outlive this call, so no one else
        // touches them until `run` (start and wait) returns.
        self.set.run()
    }
}

impl<T: Element> std::fmt::Debug for InPlaceSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InPlaceSet")
            .field("buffers", &self.lens)
            .field("sends", &self.set.num_sends())
            .field("recvs", &self.set.num_recvs())
            .finish()
    }
}

impl<'c, T: Element> InPlaceSetBuilder<'c, T> {
    /// Adds a send to rank `dest` with `tag` of the elements `blocks` of buffer
    /// `buffer`, in that order (blocks may repeat or overlap).
    pub fn send(
        mut self,
        dest: Rank,
        tag: i32,
        buffer: usize,
        blocks: impl IntoIterator<Item = Range<usize>>,
    ) -> Self {
        self.sends.push(spec(dest, tag, buffer, blocks));
        self
    }

    /// Adds a receive from rank `src` with `tag` into the elements `blocks` of
    /// buffer `buffer`, in that order (no overlap with any other receive block or
    /// any send block of that buffer). The incoming message may be shorter.
    pub fn recv(
        mut self,
        src: Rank,
        tag: i32,
        buffer: usize,
        blocks: impl IntoIterator<Item = Range<usize>>,
    ) -> Self {
        self.recvs.push(spec(src, tag, buffer, blocks));
        self
    }

    /// Checks the blocks, builds the datatypes and the set. **Collective** over
    /// the builder's communicator, like [`PersistentSetBuilder::build`]: if any
    /// rank's arguments are wrong, every rank gets an error.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a buffer
    /// number out of range, a block outside its buffer, a buffer longer than
    /// `i32::MAX` elements, a receive block overlapping another receive block or
    /// a send block, and for the arguments [`PersistentSetBuilder::build`]
    /// refuses (peer, tag).
    pub fn build(self) -> Result<InPlaceSet<T>> {
        let Self {
            comm,
            lens,
            sends,
            recvs,
            _element,
        } = self;
        let mut builder = PersistentSetBuilder::<T>::over(comm);
        let mut checked = check_blocks(&lens, &sends, &recvs);
        if checked.is_ok() {
            let element = T::equivalent_datatype();
            let messages = recvs.iter().map(|m| (false, m));
            for (send, m) in messages.chain(sends.iter().map(|m| (true, m))) {
                match Layout::new(element.as_raw(), &m.blocks, m.buffer) {
                    Ok(layout) => {
                        builder = builder.lent(send, layout, lens[m.buffer], m.peer, m.tag);
                    }
                    Err(e) => {
                        checked = Err(e);
                        break;
                    }
                }
            }
        }
        let set = builder.build_checked(checked)?;
        Ok(InPlaceSet {
            set,
            bound: Vec::with_capacity(lens.len()),
            given: Vec::with_capacity(lens.len()),
            lens,
        })
    }
}

fn spec(
    peer: Rank,
    tag: i32,
    buffer: usize,
    blocks: impl IntoIterator<Item = Range<usize>>,
) -> Spec {
    Spec {
        peer,
        tag,
        buffer,
        blocks: blocks.into_iter().filter(|b| !b.is_empty()).collect(),
    }
}

/// The builder's checks of the blocks (see [`InPlaceSetBuilder::build`]).
fn check_blocks(lens: &[usize], sends: &[Spec], recvs: &[Spec]) -> Result<()> {
    let call = "InPlaceSet::build";
    if let Some(len) = lens.iter().find(|&&len| len > c_int::MAX as usize) {
        return Err(invalid(
            call,
            format!("a buffer of {len} elements exceeds the MPI count limit"),
        ));
    }
    for (what, messages) in [("send", sends), ("recv", recvs)] {
        for (i, m) in messages.iter().enumerate() {
            let Some(&len) = lens.get(m.buffer) else {
                return Err(invalid(
                    call,
                    format!("{what} {i}: buffer {} of {}", m.buffer, lens.len()),
                ));
            };
            if let Some(b) = m.blocks.iter().find(|b| b.end > len) {
                return Err(invalid(
                    call,
                    format!(
                        "{what} {i}: block {b:?} outside buffer {} of {len} elements",
                        m.buffer
                    ),
                ));
            }
            if m.blocks.len() > c_int::MAX as usize {
                return Err(invalid(call, format!("{what} {i}: too many blocks")));
            }
        }
    }
    for buffer in 0..lens.len() {
        let blocks_of = |messages: &[Spec]| -> Vec<Range<usize>> {
            messages
                .iter()
                .filter(|m| m.buffer == buffer)
                .flat_map(|m| m.blocks.iter().cloned())
                .collect()
        };
        let mut received = blocks_of(recvs);
        received.sort_unstable_by_key(|b| b.start);
        if let Some(w) = received.windows(2).find(|w| w[1].start < w[0].end) {
            return Err(invalid(
                call,
                format!(
                    "receive blocks {:?} and {:?} of buffer {buffer} overlap",
                    w[0], w[1]
                ),
            ));
        }
        for sent in blocks_of(sends) {
            // The receive blocks are sorted and disjoint: only the last one
            // starting before `sent` ends can overlap it.
            let k = received.partition_point(|r| r.start < sent.end);
            if let Some(r) = k.checked_sub(1).map(|k| &received[k]) {
                if r.end > sent.start {
                    return Err(invalid(
                        call,
                        format!(
                            "send block {sent:?} overlaps receive block {r:?} of buffer {buffer}"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
