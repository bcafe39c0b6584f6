//! Agreeing on outcomes: an error on one rank becomes the same error on every
//! rank, so nobody waits for a rank that gave up.

use mpi::collective::SystemOperation;
use mpi::topology::Communicator;
use mpi::traits::{CommunicatorCollectives, Root};

/// Agrees on a local outcome: `Ok` on every rank, or `Err((rank, message))`
/// with the lowest failing rank and its message on every rank. **Collective**
/// (one `i32` all-reduce with `MPI_MAX`, plus two broadcasts on failure).
pub(crate) fn agree<C: Communicator>(
    comm: &C,
    local: std::result::Result<(), String>,
) -> std::result::Result<(), (usize, String)> {
    let p = comm.size();
    // The lowest failing rank r contributes p - r, the largest value.
    let mine: i32 = if local.is_err() { p - comm.rank() } else { 0 };
    let mut first: i32 = 0;
    comm.all_reduce_into(&mine, &mut first, SystemOperation::max());
    if first == 0 {
        return Ok(());
    }
    let root = (p - first) as usize;
    let text = share_text(comm, root, local.err().unwrap_or_default());
    Err((root, text))
}

/// Broadcasts `text` from `root` (the others' `text` is ignored). **Collective.**
pub(crate) fn share_text<C: Communicator>(comm: &C, root: usize, text: String) -> String {
    let mut bytes = text.into_bytes();
    let mut len = bytes.len() as u64;
    let root = comm.process_at_rank(root as i32);
    root.broadcast_into(&mut len);
    bytes.resize(len as usize, 0);
    if len > 0 {
        root.broadcast_into(&mut bytes[..]);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
