//! The loans of the plan in use: which cells travel where, their message
//! buffers and persistent requests (built once per `partition()`), and packing
//! cells into and out of those buffers.

use mpi::topology::SimpleCommunicator;
use quicklb_partition::{Borrow, Export};
use quicklb_transport::PersistentSet;

use crate::store::CellStore;

/// Tag of the messages carrying lent cells to their helper.
const TAG_FORWARD: i32 = 1;
/// Tag of the messages carrying results and costs back to the owner.
const TAG_RETURN: i32 = 2;
/// Bytes of a measured cost appended to each returned cell.
pub(crate) const COST_BYTES: usize = std::mem::size_of::<f64>();
/// The cost a helper sends back for a cell it did not compute (its `compute`
/// panicked): the owner keeps its cell as it was.
pub(crate) const NOT_COMPUTED: f64 = f64::NAN;
/// Largest message of one pair, in bytes (MPI counts are `int`).
const MAX_MESSAGE: usize = i32::MAX as usize;

/// The cells lent to one helper: `cells[first..first + n]` of [`Layout::cells`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LentGroup {
    pub(crate) helper: usize,
    pub(crate) first: usize,
    pub(crate) n: usize,
}

/// Where this rank's lent cells go, grouped by helper (pure: no MPI).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Layout {
    /// Lent cell indices, grouped by helper (ascending), cells ascending.
    pub(crate) cells: Vec<usize>,
    pub(crate) groups: Vec<LentGroup>,
    /// Per group: the weight of its cells.
    pub(crate) weight: Vec<f64>,
}

impl Layout {
    /// Groups `exports` (sorted by cell) by helper, cells ascending in each
    /// group: a counting sort, `O(e + h)` for `e` exports and helpers below `h`.
    pub(crate) fn new(exports: &[Export], weights: &[f64]) -> Self {
        let Some(top) = exports.iter().map(|e| e.helper).max() else {
            return Layout::default();
        };
        let mut start = vec![0usize; top + 2];
        for e in exports {
            start[e.helper + 1] += 1;
        }
        for h in 0..=top {
            start[h + 1] += start[h];
        }
        let mut layout = Layout {
            cells: vec![0; exports.len()],
            ..Layout::default()
        };
        for h in 0..=top {
            let n = start[h + 1] - start[h];
            if n > 0 {
                layout.groups.push(LentGroup {
                    helper: h,
                    first: start[h],
                    n,
                });
            }
        }
        let mut weight = vec![0.0f64; top + 1];
        let mut next = start;
        for e in exports {
            layout.cells[next[e.helper]] = e.cell;
            next[e.helper] += 1;
            weight[e.helper] += weights[e.cell];
        }
        layout.weight = layout.groups.iter().map(|g| weight[g.helper]).collect();
        layout
    }

    /// Cells and weight lent to `helper` (binary search).
    pub(crate) fn lent_to(&self, helper: usize) -> (usize, f64) {
        match self.groups.binary_search_by_key(&helper, |g| g.helper) {
            Ok(k) => (self.groups[k].n, self.weight[k]),
            Err(_) => (0, 0.0),
        }
    }

    /// Checks that every message of this rank's loans fits the MPI count
    /// limit (lent cells out, results and costs back; the helper's buffers have
    /// the same sizes, so the owner's check covers the pair).
    pub(crate) fn check_sizes(&self, cell_bytes: usize) -> Result<(), String> {
        for g in &self.groups {
            let bytes = (g.n as u128) * (cell_bytes + COST_BYTES) as u128;
            if bytes > MAX_MESSAGE as u128 {
                return Err(format!(
                    "lending {} cells of {cell_bytes} bytes to rank {} needs messages of {bytes} \
                     bytes, which exceed the MPI count limit ({MAX_MESSAGE} bytes per message); \
                     use smaller cells or more ranks",
                    g.n, g.helper
                ));
            }
        }
        Ok(())
    }
}

/// The plan in use on this rank: the layout, what it borrows, and the
/// persistent requests of every `iterate()`.
#[derive(Debug)]
pub(crate) struct Loans {
    pub(crate) layout: Layout,
    pub(crate) is_lent: Vec<bool>,
    pub(crate) borrowed: Vec<Borrow>,
    /// Sends of lent cells (one per helper), receives of their results.
    pub(crate) lent: PersistentSet<'static, u8>,
    /// Receives of borrowed cells (one per owner).
    pub(crate) inbound: PersistentSet<'static, u8>,
    /// Sends of borrowed cells' results (one per owner).
    pub(crate) outbound: PersistentSet<'static, u8>,
    /// The helper of each lent cell, sorted by cell.
    pub(crate) exports: Vec<Export>,
}

impl Loans {
    /// Builds the buffers and requests. **Collective** (the first set
    /// duplicates `comm` and agrees on its outcome; the two others share its
    /// communicator and are built locally, so the caller agrees on the
    /// result). Sizes must have been checked ([`Layout::check_sizes`]).
    pub(crate) fn build(
        comm: &SimpleCommunicator,
        cells: usize,
        cell_bytes: usize,
        exports: Vec<Export>,
        layout: Layout,
        borrowed: Vec<Borrow>,
    ) -> Result<Self, quicklb_transport::Error> {
        let mut b = PersistentSet::<u8>::builder(comm);
        for g in &layout.groups {
            b = b
                .send_owned(vec![0u8; g.n * cell_bytes], g.helper as i32, TAG_FORWARD)
                .recv_owned(
                    vec![0u8; g.n * (cell_bytes + COST_BYTES)],
                    g.helper as i32,
                    TAG_RETURN,
                );
        }
        let lent = b.build()?;
        let mut bin = lent.sibling_builder::<u8>();
        let mut bout = lent.sibling_builder::<u8>();
        for o in &borrowed {
            bin = bin.recv_owned(vec![0u8; o.cells * cell_bytes], o.owner as i32, TAG_FORWARD);
            bout = bout.send_owned(
                vec![0u8; o.cells * (cell_bytes + COST_BYTES)],
                o.owner as i32,
                TAG_RETURN,
            );
        }
        // The sibling builds are local: the caller agrees on the outcome.
        let inbound = bin.build()?;
        let outbound = bout.build()?;
        let mut is_lent = vec![false; cells];
        for &c in &layout.cells {
            is_lent[c] = true;
        }
        Ok(Loans {
            layout,
            is_lent,
            borrowed,
            lent,
            inbound,
            outbound,
            exports,
        })
    }

    /// Number of cells lent.
    pub(crate) fn num_lent(&self) -> usize {
        self.layout.cells.len()
    }

    /// Number of cells borrowed.
    pub(crate) fn num_borrowed(&self) -> usize {
        self.borrowed.iter().map(|b| b.cells).sum()
    }

    /// Copies the lent cells into their send buffers, without a copy of a cell
    /// on the stack.
    pub(crate) fn pack<S: CellStore + ?Sized>(&mut self, cells: &S, cell_bytes: usize) {
        for (k, g) in self.layout.groups.iter().enumerate() {
            let buf = self.lent.send_buf_mut(k);
            for (j, &i) in self.layout.cells[g.first..g.first + g.n].iter().enumerate() {
                cells.read_bytes(i, &mut buf[j * cell_bytes..(j + 1) * cell_bytes]);
            }
        }
    }

    /// Stores the returned results of the lent cells and their measured costs
    /// as their weights. Cells a helper could not compute stay as they were.
    pub(crate) fn unpack<S: CellStore + ?Sized>(
        layout: &Layout,
        lent: &PersistentSet<'static, u8>,
        cells: &mut S,
        weights: &mut [f64],
        cell_bytes: usize,
    ) {
        let stride = cell_bytes + COST_BYTES;
        for (k, g) in layout.groups.iter().enumerate() {
            let buf = lent.recv_buf(k);
            for (j, &i) in layout.cells[g.first..g.first + g.n].iter().enumerate() {
                let d = &buf[j * stride..(j + 1) * stride];
                let mut cost = [0u8; COST_BYTES];
                cost.copy_from_slice(&d[cell_bytes..]);
                let cost = f64::from_ne_bytes(cost);
                if cost.is_nan() {
                    continue;
                }
                cells.write_bytes(i, &d[..cell_bytes]);
                weights[i] = cost;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_groups_by_helper() {
        let exports = [
            Export { cell: 0, helper: 3 },
            Export { cell: 1, helper: 1 },
            Export { cell: 4, helper: 3 },
        ];
        let weights = [1.0, 2.0, 0.0, 0.0, 4.0];
        let l = Layout::new(&exports, &weights);
        assert_eq!(l.cells, vec![1, 0, 4]);
        assert_eq!(l.lent_to(3), (2, 5.0));
        assert_eq!(l.lent_to(1), (1, 2.0));
        assert_eq!(l.lent_to(2), (0, 0.0));
        assert!(l.check_sizes(1 << 20).is_ok());
        let err = l.check_sizes(1 << 30).unwrap_err();
        assert!(err.contains("exceed the MPI count limit"), "{err}");
    }
}
