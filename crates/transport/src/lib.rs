//! Safe Rust over the parts of MPI that rsmpi (`mpi` 0.8) does not wrap.
//!
//! | module | what |
//! |---|---|
//! | [`persistent`] | [`PersistentSet`]: persistent sends/receives (`MPI_Send_init`, `MPI_Recv_init`) started every step; buffers unreachable while in flight ([`InFlight`] guard) |
//! | [`in_place`] | [`InPlaceSet`]: persistent messages of blocks of buffers lent for one round (indexed datatypes, no packing), e.g. a halo's rows sent and received in place |
//! | [`shared`] | [`split_shared`] (the node communicator), [`shares_one_node`] (cached per communicator), [`node_map`] (rank → node), [`SharedArray`]: per-rank segments of one shared-memory window, read by every rank of the node through a [`SharedView`] after a collective sync |
//! | [`pool`] | [`ChunkPool`]: per-rank rounds of cells in node shared memory, claimed in chunks by atomics by their owner and by idle ranks of the node (dynamic work sharing, no MPI call per claim) |
//! | [`reduce`] | [`Reduction`]: a non-blocking all-reduce (`MPI_Iallreduce`) owning its buffers, started in one call and completed in a later one |
//! | [`rma`] | [`Window`] and [`Epoch`]: put/get/accumulate under fence, PSCW or passive-target locks |
//! | [`io`] | [`write_npy`] / [`read_npy`]: collective MPI-IO of a row-split 2-D `f64` array as `.npy` |
//! | [`info`] | [`Info`]: `MPI_Info` hints for the files and windows this crate creates, agreed across ranks where the call is collective |
//! | [`error`] | [`Error`]: typed MPI errors (`MPI_ERRORS_RETURN` is set on everything this crate creates) |
//! | [`abort`] | [`abort_on_panic`]: a panic on one rank aborts the whole job |
//!
//! Everything speaks rsmpi's types: any `mpi::topology::Communicator` goes in,
//! element types are rsmpi `Equivalence` types, and the communicators this crate
//! creates are `mpi::topology::SimpleCommunicator`s. Each module's documentation
//! states its safety rules; the crate README has the test list and the benchmark.
//!
//! ```no_run
//! use mpi::traits::*;
//! use quicklb_transport::{PersistentSet, SharedArray};
//!
//! let universe = mpi::initialize().unwrap();
//! quicklb_transport::abort_on_panic();
//! let world = universe.world();
//! let (rank, size) = (world.rank(), world.size());
//!
//! // A persistent exchange with the right neighbour, reused every step.
//! let mut halo = PersistentSet::builder(&world)
//!     .send_owned(vec![0.0f64; 8], (rank + 1) % size, 0)
//!     .recv_owned(vec![0.0f64; 8], (rank + size - 1) % size, 0)
//!     .build()?;
//! for step in 0..3 {
//!     halo.send_buf_mut(0).fill(step as f64);
//!     halo.start_all()?.wait()?;
//! }
//!
//! // A node-wide array: write your segment, sync, read anyone's.
//! let node = quicklb_transport::split_shared(&world)?;
//! let mut a = SharedArray::<f64>::new(&node, 4)?;
//! a.local_mut().fill(rank as f64);
//! let view = a.sync()?;
//! let _first = view.segment(0);
//! view.release()?;
//! # Ok::<(), quicklb_transport::Error>(())
//! ```

pub mod abort;
pub mod error;
mod idle;
pub mod in_place;
pub mod info;
pub mod io;
mod layout;
pub mod persistent;
pub mod pool;
pub mod reduce;
pub mod rma;
pub mod shared;

pub use abort::{abort_on_panic, initialize};
pub use error::{Error, NpyError, Result};
pub use idle::sleeping_barrier;
pub use in_place::{InPlaceSet, InPlaceSetBuilder};
pub use info::Info;
pub use io::{read_npy, write_npy, RowSplit};
pub use persistent::{proc_null, Element, InFlight, PersistentSet, PersistentSetBuilder};
pub use pool::{ChunkPool, Outputs, Stolen};
pub use reduce::Reduction;
pub use rma::{
    Epoch, FenceClose, FenceOpen, LockAssert, LockType, PostAssert, RmaOp, RmaRequest, StartAssert,
    Window,
};
pub use shared::{
    node_map, node_map_of_groups, shares_one_node, split_shared, NodeMap, SharedArray, SharedView,
};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
