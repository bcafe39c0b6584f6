//! Safe Rust over the parts of MPI that rsmpi (`mpi` 0.8) does not wrap.
//!
//! Work in progress: see the crate README.

pub mod abort;
pub mod error;
pub mod io;
pub mod persistent;
pub mod rma;
pub mod shared;

pub use abort::abort_on_panic;
pub use error::{Error, Result};
pub use io::{read_npy, write_npy, RowSplit};
pub use persistent::{proc_null, InFlight, PersistentSet, PersistentSetBuilder};
pub use rma::{Assert, Epoch, LockType, Window};
pub use shared::{node_map, split_shared, NodeMap, SharedArray, SharedView};
