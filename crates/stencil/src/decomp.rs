//! Domain decomposition of a global `rows × cols` grid over ranks: row slabs
//! (the QUICKLB example's split) and 2-D Cartesian blocks (the layout of MPI's
//! Cartesian communicator, row-major rank order). Pure: no MPI here.

use std::ops::Range;

use ndarray::{Array2, ArrayView2, Axis, Slice};

use crate::error::{Error, Result};
use crate::kernel::check_grid;

/// The `index`-th of `parts` near-equal pieces of `0..n`: piece `r` has
/// `n / parts` items plus one more if `r < n % parts` (the remainder goes to
/// the first pieces, as in the QUICKLB example).
///
/// ```
/// use quicklb_stencil::split;
/// assert_eq!(split(10, 3, 0), 0..4);
/// assert_eq!(split(10, 3, 1), 4..7);
/// assert_eq!(split(10, 3, 2), 7..10);
/// ```
///
/// Panics if `parts == 0` or `index >= parts`. This is the workspace's one
/// block split, [`quicklb_partition::even_block`] (also behind the `.npy`
/// reader's row slabs).
pub fn split(n: usize, parts: usize, index: usize) -> Range<usize> {
    quicklb_partition::even_block(n, parts, index)
}

/// A balanced 2-D process grid for `ranks` ranks, like `MPI_Dims_create(ranks, 2)`:
/// the two factors closest to each other, the larger first (`[ranks along
/// rows, ranks along columns]`).
///
/// ```
/// use quicklb_stencil::decomp::balanced_dims;
/// assert_eq!(balanced_dims(4), [2, 2]);
/// assert_eq!(balanced_dims(6), [3, 2]);
/// assert_eq!(balanced_dims(3), [3, 1]);
/// ```
pub fn balanced_dims(ranks: usize) -> [usize; 2] {
    let mut best = [ranks.max(1), 1];
    let mut f = 1;
    while f <= ranks / f {
        if ranks.is_multiple_of(f) {
            best = [ranks / f, f];
        }
        f += 1;
    }
    best
}

/// Which part of the global grid one rank owns, and who its neighbours are.
///
/// Ranks are laid out on a `dims[0] × dims[1]` process grid in row-major
/// order (`rank = coords[0] * dims[1] + coords[1]`, MPI's Cartesian order);
/// each axis of the global grid is cut with [`split`]. Row slabs are the case
/// `dims = [ranks, 1]`.
///
/// ```
/// use quicklb_stencil::Decomposition;
/// // 10 rows over 3 ranks: 4, 3, 3.
/// let d = Decomposition::row_slabs(10, 8, 3, 1)?;
/// assert_eq!(d.rows(), 4..7);
/// assert_eq!(d.cols(), 0..8);
/// assert_eq!(d.padded_shape(), [5, 10]);
/// assert_eq!(d.neighbour(0, -1, true), Some(0));
/// assert_eq!(d.neighbour(0, 1, false), Some(2));
///
/// // A 2x2 Cartesian split of 9x9.
/// let d = Decomposition::cartesian(9, 9, [2, 2], 3)?;
/// assert_eq!((d.rows(), d.cols()), (5..9, 5..9));
/// assert_eq!(d.neighbour(1, 1, false), None); // right edge of the domain
/// assert_eq!(d.neighbour(1, 1, true), Some(2)); // periodic wrap
///
/// assert!(Decomposition::row_slabs(3, 8, 4, 0).is_err()); // more ranks than rows
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decomposition {
    global: [usize; 2],
    dims: [usize; 2],
    rank: usize,
    coords: [usize; 2],
    rows: Range<usize>,
    cols: Range<usize>,
}

impl Decomposition {
    /// Row slabs: `ranks` ranks each own full-width consecutive rows.
    pub fn row_slabs(rows: usize, cols: usize, ranks: usize, rank: usize) -> Result<Self> {
        Self::cartesian(rows, cols, [ranks, 1], rank)
    }

    /// 2-D blocks on a `dims[0] × dims[1]` process grid.
    ///
    /// Errors (the same on every rank, as they depend only on the arguments):
    /// [`Error::GridTooSmall`] if the grid is under 3×3,
    /// [`Error::GridTooLarge`] if its halo-padded array of `f64` could not be
    /// addressed, [`Error::InvalidProcessGrid`] if an axis has no rank or the
    /// rank count overflows, [`Error::TooManyRanks`] if an axis has more ranks
    /// than cells, [`Error::RankOutOfRange`] if `rank` is not below
    /// `dims[0] * dims[1]`.
    ///
    /// ```
    /// use quicklb_stencil::{Decomposition, Error};
    /// assert!(matches!(
    ///     Decomposition::row_slabs(usize::MAX, 8, 1, 0),
    ///     Err(Error::GridTooLarge { .. })
    /// ));
    /// assert!(matches!(
    ///     Decomposition::cartesian(8, 8, [2, 2], 4),
    ///     Err(Error::RankOutOfRange { rank: 4, ranks: 4, .. })
    /// ));
    /// ```
    pub fn cartesian(rows: usize, cols: usize, dims: [usize; 2], rank: usize) -> Result<Self> {
        check_grid(rows, cols)?;
        // Every shape derived below (padded blocks, flat indices) is at most
        // the global padded array, so checking it once here keeps the rest
        // of the arithmetic in range.
        let padded_bytes = rows
            .checked_add(2)
            .zip(cols.checked_add(2))
            .and_then(|(r, c)| r.checked_mul(c))
            .and_then(|n| n.checked_mul(std::mem::size_of::<f64>()));
        if padded_bytes.is_none_or(|b| b > isize::MAX as usize) {
            return Err(Error::GridTooLarge { rows, cols });
        }
        let size = match dims[0].checked_mul(dims[1]) {
            Some(size) if size > 0 => size,
            _ => return Err(Error::InvalidProcessGrid { dims }),
        };
        for (axis, (&ranks, cells)) in dims.iter().zip([rows, cols]).enumerate() {
            if ranks > cells {
                let axis = if axis == 0 { "rows" } else { "columns" };
                return Err(Error::TooManyRanks { ranks, cells, axis });
            }
        }
        if rank >= size {
            return Err(Error::RankOutOfRange {
                rank,
                dims,
                ranks: size,
            });
        }
        let coords = [rank / dims[1], rank % dims[1]];
        Ok(Decomposition {
            global: [rows, cols],
            dims,
            rank,
            coords,
            rows: split(rows, dims[0], coords[0]),
            cols: split(cols, dims[1], coords[1]),
        })
    }

    /// The same decomposition seen from another rank.
    pub fn for_rank(&self, rank: usize) -> Result<Self> {
        Self::cartesian(self.global[0], self.global[1], self.dims, rank)
    }

    /// Global grid size `[rows, cols]`.
    pub fn global(&self) -> [usize; 2] {
        self.global
    }

    /// Process grid `[ranks along rows, ranks along columns]`.
    pub fn dims(&self) -> [usize; 2] {
        self.dims
    }

    /// Number of ranks.
    pub fn ranks(&self) -> usize {
        self.dims[0] * self.dims[1]
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// This rank's place on the process grid.
    pub fn coords(&self) -> [usize; 2] {
        self.coords
    }

    /// Global rows owned.
    pub fn rows(&self) -> Range<usize> {
        self.rows.clone()
    }

    /// Global columns owned.
    pub fn cols(&self) -> Range<usize> {
        self.cols.clone()
    }

    /// Owned cells `[rows, cols]`.
    pub fn local_shape(&self) -> [usize; 2] {
        [self.rows.len(), self.cols.len()]
    }

    /// Shape of the local array with its halo, `[rows + 2, cols + 2]`.
    pub fn padded_shape(&self) -> [usize; 2] {
        [self.rows.len() + 2, self.cols.len() + 2]
    }

    /// The rank at process-grid `coords`.
    pub fn rank_at(&self, coords: [usize; 2]) -> usize {
        coords[0] * self.dims[1] + coords[1]
    }

    /// The neighbour one step (`step` = −1 or +1) along `axis` (0: rows,
    /// 1: columns); `None` at the edge of a non-periodic domain. With one rank
    /// along a periodic axis, the neighbour is this rank itself.
    pub fn neighbour(&self, axis: usize, step: isize, periodic: bool) -> Option<usize> {
        let n = self.dims[axis] as isize;
        let mut c = self.coords[axis] as isize + step;
        if c < 0 || c >= n {
            if !periodic {
                return None;
            }
            c = c.rem_euclid(n);
        }
        let mut coords = self.coords;
        coords[axis] = c as usize;
        Some(self.rank_at(coords))
    }

    /// This rank's part of a global field (`rows × cols`, no halo), copied into
    /// a new halo-padded array with zero ghosts.
    pub fn scatter(&self, global: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        if global.shape() != self.global {
            return Err(Error::Shape {
                what: "global field",
                got: [global.nrows(), global.ncols()],
                expected: self.global,
            });
        }
        let [r, c] = self.padded_shape();
        let mut local = Array2::zeros((r, c));
        let mut part = global;
        part.slice_axis_inplace(Axis(0), Slice::from(self.rows.clone()));
        part.slice_axis_inplace(Axis(1), Slice::from(self.cols.clone()));
        crate::kernel::interior_mut(local.view_mut()).assign(&part);
        Ok(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_whose_padded_array_overflows_are_refused() {
        for (rows, cols) in [
            (usize::MAX, 8),
            (8, usize::MAX),
            (usize::MAX - 1, 3),
            (1 << 32, 1 << 32),
            // (rows + 2) (cols + 2) fits in usize but not its bytes.
            (1 << 31, 1 << 31),
        ] {
            assert_eq!(
                Decomposition::row_slabs(rows, cols, 1, 0),
                Err(Error::GridTooLarge { rows, cols }),
                "{rows} x {cols}"
            );
        }
        // Large but addressable: every shape is computed without overflow.
        let d = Decomposition::row_slabs(1 << 20, 1 << 20, 4, 3).unwrap();
        assert_eq!(d.padded_shape(), [(1 << 18) + 2, (1 << 20) + 2]);
    }

    #[test]
    fn process_grids_without_ranks_or_overflowing_are_refused() {
        for dims in [[0, 1], [1, 0], [usize::MAX, 2], [1 << 33, 1 << 33]] {
            assert_eq!(
                Decomposition::cartesian(16, 16, dims, 0),
                Err(Error::InvalidProcessGrid { dims })
            );
        }
    }

    #[test]
    fn a_rank_outside_the_process_grid_says_so() {
        let err = Decomposition::row_slabs(20, 20, 4, 4).unwrap_err();
        assert_eq!(
            err,
            Error::RankOutOfRange {
                rank: 4,
                dims: [4, 1],
                ranks: 4
            }
        );
        let text = err.to_string();
        assert!(text.contains("rank 4 is out of range"), "{text}");
        assert!(!text.contains("used with"), "{text}");
        let d = Decomposition::cartesian(9, 9, [2, 2], 0).unwrap();
        assert!(matches!(
            d.for_rank(7),
            Err(Error::RankOutOfRange { rank: 7, .. })
        ));
    }

    #[test]
    fn balanced_dims_of_large_counts_do_not_overflow() {
        let p = (1usize << 31) - 1; // prime: 2^31 - 1
        assert_eq!(balanced_dims(p), [p, 1]);
    }
}
