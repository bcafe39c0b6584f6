//! Ring: every rank passes a value to its right neighbour with persistent
//! requests ([`PersistentSet`]: one `MPI_Send_init` and one `MPI_Recv_init`,
//! started once per iteration). In iteration `it`, rank `r` sends
//! `r + 100 * it`, so it receives `left + 100 * it` from its left neighbour.
//! Rank 0 gathers every rank's values to print them in rank order.
//!
//! Any number of ranks works; with one rank, the rank is its own neighbour.

use mpi::topology::Communicator;
use mpi::traits::*;
use quicklb_transport::PersistentSet;

use super::{Error, Result};

/// Tag of the ring messages.
const TAG: i32 = 7;

/// What [`run`] did on one rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingSummary {
    /// Number of ranks.
    pub size: i32,
    /// The values this rank received, one per iteration.
    pub received: Vec<i64>,
    /// On rank 0: every rank's received values, indexed by rank. `None` elsewhere.
    pub table: Option<Vec<Vec<i64>>>,
}

/// The value rank `left` sends in iteration `it` (what its right neighbour receives).
pub fn expected(left: i32, it: usize) -> i64 {
    i64::from(left) + 100 * it as i64
}

/// The left neighbour of `rank` in a ring of `size` ranks.
pub fn left_of(rank: i32, size: i32) -> i32 {
    (rank + size - 1) % size
}

/// Runs `iterations` trips around the ring (collective over `comm`).
pub fn run<C: Communicator>(comm: &C, iterations: usize) -> Result<RingSummary> {
    let (rank, size) = (comm.rank(), comm.size());
    let right = (rank + 1) % size;
    let left = left_of(rank, size);

    // Built once; every iteration only starts and waits (MPI_Start/MPI_Wait).
    let mut ring = PersistentSet::builder(comm)
        .send_owned(vec![0i64; 1], right, TAG)
        .recv_owned(vec![-1i64; 1], left, TAG)
        .build()?;
    let mut received = Vec::with_capacity(iterations);
    for it in 0..iterations {
        ring.send_buf_mut(0)[0] = expected(rank, it);
        ring.start_all()?.wait()?;
        let got = ring.recv_buf(0)[0];
        if got != expected(left, it) {
            return Err(Error::Check(format!(
                "rank {rank}, iteration {it}: received {got} from rank {left}, expected {}",
                expected(left, it)
            )));
        }
        received.push(got);
    }

    // Output of different ranks reaches the terminal in no set order, so rank 0
    // gathers every rank's values and prints them in rank order.
    let root = comm.process_at_rank(0);
    let table = if rank == 0 {
        let mut all = vec![0i64; iterations * size as usize];
        root.gather_into_root(&received[..], &mut all[..]);
        Some(if iterations == 0 {
            vec![Vec::new(); size as usize]
        } else {
            all.chunks(iterations).map(<[i64]>::to_vec).collect()
        })
    } else {
        root.gather_into(&received[..]);
        None
    };
    Ok(RingSummary {
        size,
        received,
        table,
    })
}

impl RingSummary {
    /// The lines rank 0 prints: one per rank, in rank order.
    pub fn lines(&self) -> Vec<String> {
        let Some(table) = &self.table else {
            return Vec::new();
        };
        table
            .iter()
            .enumerate()
            .map(|(r, values)| {
                let left = left_of(r as i32, self.size);
                format!("rank {r} received {values:?} from rank {left}")
            })
            .collect()
    }
}
