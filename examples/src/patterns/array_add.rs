//! Array addition, the scatter/gather tutorial: rank 0 holds `A` and `B` of
//! length `n`, scatters them in contiguous pieces (`MPI_Scatterv`), every rank
//! adds its pieces, and rank 0 gathers `C = A + B` (`MPI_Gatherv`). When `n` is
//! not a multiple of the number of ranks the pieces differ by one element (the
//! first `n % size` ranks get one more), and ranks may get none when `n < size`.
//!
//! Data: `A[i] = i`, `B[i] = 100 i`, so `C[i] = 101 i` exactly.

use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::Communicator;
use mpi::traits::*;
use mpi::Count;

use super::{even_block, Error, Result};

/// What [`run`] did on one rank.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayAddSummary {
    /// Length of the arrays.
    pub n: usize,
    /// Number of elements of every rank, indexed by rank.
    pub counts: Vec<usize>,
    /// Offset of every rank's first element, indexed by rank.
    pub displs: Vec<usize>,
    /// This rank's piece of `C`.
    pub local: Vec<f64>,
    /// On rank 0: `A`, `B` and the gathered `C`. `None` elsewhere.
    pub arrays: Option<[Vec<f64>; 3]>,
}

/// `A[i]`.
pub fn a(i: usize) -> f64 {
    i as f64
}

/// `B[i]`.
pub fn b(i: usize) -> f64 {
    100.0 * i as f64
}

/// Scatters `A` and `B`, adds, gathers `C` on rank 0 (collective over `comm`).
pub fn run<C: Communicator>(comm: &C, n: usize) -> Result<ArrayAddSummary> {
    let (rank, size) = (comm.rank() as usize, comm.size() as usize);
    if n > Count::MAX as usize {
        return Err(Error::Invalid(format!(
            "n = {n} exceeds an MPI count ({})",
            Count::MAX
        )));
    }
    let blocks: Vec<(usize, usize)> = (0..size).map(|r| even_block(n, r, size)).collect();
    let counts: Vec<Count> = blocks.iter().map(|&(_, c)| c as Count).collect();
    let displs: Vec<Count> = blocks.iter().map(|&(f, _)| f as Count).collect();
    let (_, mine) = blocks[rank];

    let root = comm.process_at_rank(0);
    let mut local_a = vec![0.0; mine];
    let mut local_b = vec![0.0; mine];
    let mut local_c = vec![0.0; mine];
    let arrays = if rank == 0 {
        let full_a: Vec<f64> = (0..n).map(a).collect();
        let full_b: Vec<f64> = (0..n).map(b).collect();
        root.scatter_varcount_into_root(
            &Partition::new(&full_a[..], &counts[..], &displs[..]),
            &mut local_a[..],
        );
        root.scatter_varcount_into_root(
            &Partition::new(&full_b[..], &counts[..], &displs[..]),
            &mut local_b[..],
        );
        add(&local_a, &local_b, &mut local_c);
        let mut full_c = vec![f64::NAN; n];
        {
            let mut parts = PartitionMut::new(&mut full_c[..], &counts[..], &displs[..]);
            root.gather_varcount_into_root(&local_c[..], &mut parts);
        }
        if let Some(i) = (0..n).find(|&i| full_c[i] != full_a[i] + full_b[i]) {
            return Err(Error::Check(format!(
                "C[{i}] = {} but A[{i}] + B[{i}] = {}",
                full_c[i],
                full_a[i] + full_b[i]
            )));
        }
        Some([full_a, full_b, full_c])
    } else {
        root.scatter_varcount_into(&mut local_a[..]);
        root.scatter_varcount_into(&mut local_b[..]);
        add(&local_a, &local_b, &mut local_c);
        root.gather_varcount_into(&local_c[..]);
        None
    };
    Ok(ArrayAddSummary {
        n,
        counts: blocks.iter().map(|&(_, c)| c).collect(),
        displs: blocks.iter().map(|&(f, _)| f).collect(),
        local: local_c,
        arrays,
    })
}

fn add(a: &[f64], b: &[f64], c: &mut [f64]) {
    for ((c, a), b) in c.iter_mut().zip(a).zip(b) {
        *c = a + b;
    }
}

/// At most `max` values of `v`, with `…` when cut.
fn preview(v: &[f64], max: usize) -> String {
    let shown: Vec<String> = v.iter().take(max).map(|x| format!("{x}")).collect();
    let more = if v.len() > max { ", …" } else { "" };
    format!("[{}{more}]", shown.join(", "))
}

impl ArrayAddSummary {
    /// The lines rank 0 prints (empty on other ranks).
    pub fn lines(&self) -> Vec<String> {
        let Some([a, b, c]) = &self.arrays else {
            return Vec::new();
        };
        let mut out = vec![format!(
            "array-add: n = {} over {} ranks, counts {:?}, displacements {:?}",
            self.n,
            self.counts.len(),
            self.counts,
            self.displs
        )];
        for (r, (&count, &first)) in self.counts.iter().zip(&self.displs).enumerate() {
            out.push(format!(
                "rank {r} added elements {first}..{} ({count})",
                first + count
            ));
        }
        out.push(format!("A     = {}", preview(a, 12)));
        out.push(format!("B     = {}", preview(b, 12)));
        out.push(format!("A + B = {}", preview(c, 12)));
        out.push(format!("checked: C[i] = A[i] + B[i] for all {} i", self.n));
        out
    }
}
