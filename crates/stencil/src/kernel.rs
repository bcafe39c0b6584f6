//! Serial kernels: stencils, boundaries, the Laplacian and the explicit
//! diffusion step.
//!
//! Arrays carry a one-cell halo: a grid of `ny × nx` cells is stored as an
//! `(ny + 2) × (nx + 2)` array whose outer ring holds ghost values, filled by
//! [`fill_halo`] (one process) or by the halo exchange (MPI). The kernels read
//! the ghosts and write the interior only.
//!
//! Hot loops work on row slices of equal length, so they carry no bounds
//! checks and the compiler vectorises them. With the cargo feature `rayon`,
//! large grids are split into bands of rows run on rayon's threads; every
//! cell's value is computed by the same expression either way, so results are
//! bitwise the same with and without threads.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Slice};

use crate::error::{Error, Result};
use crate::sweep;

/// The 3×3 weights of the QUICKLB example's 9-point Laplacian: corners 0.05,
/// edges 0.2, centre −1 (they sum to zero).
pub const NINE_POINT_WEIGHTS: [[f64; 3]; 3] =
    [[0.05, 0.2, 0.05], [0.2, -1.0, 0.2], [0.05, 0.2, 0.05]];

/// The 3×3 weights of the 5-point Laplacian.
pub const FIVE_POINT_WEIGHTS: [[f64; 3]; 3] = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]];

/// A 3×3 stencil, applied as a correlation: `L(u)[i][j] = Σ w[a][b] · u[i+a-1][j+b-1]`
/// (for the symmetric Laplacians this equals a convolution; to reproduce
/// `scipy.signal.convolve2d(u, k)` with an asymmetric `k`, pass `k` flipped
/// along both axes).
///
/// Each variant fixes its order of floating-point operations (documented on
/// the variant), so a reference loop written in the same order gives the same
/// bits.
///
/// ```
/// use quicklb_stencil::Stencil;
/// let s = Stencil::weights([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])?;
/// assert_eq!(s.to_weights(), quicklb_stencil::FIVE_POINT_WEIGHTS);
/// assert!(Stencil::weights([[f64::NAN; 3]; 3]).is_err());
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stencil {
    /// The 5-point Laplacian, computed as
    /// `up + left - 4·centre + right + down`, left to right: the order of the
    /// numpy expression `A[:-2,1:-1] + A[1:-1,:-2] - 4*A[1:-1,1:-1] + A[1:-1,2:] + A[2:,1:-1]`.
    FivePoint,
    /// The QUICKLB 9-point Laplacian ([`NINE_POINT_WEIGHTS`]), computed as
    /// `0.2·(up + left + right + down) + 0.05·(up_left + up_right + down_left + down_right) - centre`.
    NinePoint,
    /// General weights `w[row][col]`, computed as the left-to-right sum
    /// `w[0][0]·u_ul + w[0][1]·u_u + w[0][2]·u_ur + w[1][0]·u_l + … + w[2][2]·u_dr`
    /// (row-major order). Build it with [`Stencil::weights`], which checks
    /// the weights are finite.
    Weights([[f64; 3]; 3]),
}

impl Stencil {
    /// A general 3×3 stencil; [`Error::NonFinite`] if a weight is NaN or infinite.
    pub fn weights(w: [[f64; 3]; 3]) -> Result<Self> {
        let s = Stencil::Weights(w);
        s.validate()?;
        Ok(s)
    }

    /// Checks that every weight is finite.
    ///
    /// ```
    /// use quicklb_stencil::Stencil;
    /// assert!(Stencil::NinePoint.validate().is_ok());
    /// assert!(Stencil::Weights([[f64::INFINITY; 3]; 3]).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        for value in self.to_weights().into_iter().flatten() {
            finite("stencil weight", value)?;
        }
        Ok(())
    }

    /// The stencil's 3×3 weights.
    pub fn to_weights(&self) -> [[f64; 3]; 3] {
        match self {
            Stencil::FivePoint => FIVE_POINT_WEIGHTS,
            Stencil::NinePoint => NINE_POINT_WEIGHTS,
            Stencil::Weights(w) => *w,
        }
    }

    /// Whether the stencil reads the four diagonal neighbours (the halo
    /// corners matter only then).
    pub fn uses_corners(&self) -> bool {
        let w = self.to_weights();
        w[0][0] != 0.0 || w[0][2] != 0.0 || w[2][0] != 0.0 || w[2][2] != 0.0
    }
}

/// What the ghost cells around the whole domain hold.
///
/// ```
/// use ndarray::array;
/// use quicklb_stencil::{fill_halo, Boundary};
/// // A 3x3 grid in a 5x5 array with its halo.
/// let mut u = ndarray::Array2::<f64>::zeros((5, 5));
/// quicklb_stencil::interior_mut(u.view_mut()).assign(&array![[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]]);
/// fill_halo(u.view_mut(), Boundary::Periodic)?;
/// assert_eq!(u.row(0).to_vec(), vec![9., 7., 8., 9., 7.]);
/// fill_halo(u.view_mut(), Boundary::Reflecting)?;
/// assert_eq!(u.row(0).to_vec(), vec![1., 1., 2., 3., 3.]);
/// fill_halo(u.view_mut(), Boundary::Fixed(0.5))?;
/// assert_eq!(u.row(0).to_vec(), vec![0.5; 5]);
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Boundary {
    /// The domain wraps around: the ghost beyond the last cell is the first cell.
    Periodic,
    /// Zero-flux mirror, scipy's `boundary='symm'`: the ghost mirrors the edge
    /// cell itself (`u[-1] = u[0]`, `u[n] = u[n-1]`). With a symmetric
    /// stencil whose weights sum to zero, mass is conserved.
    Reflecting,
    /// Dirichlet: every ghost holds this value.
    Fixed(f64),
}

impl Boundary {
    /// Checks that a fixed value is finite.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Boundary::Fixed(v) => finite("boundary value", v),
            _ => Ok(()),
        }
    }

    /// Whether the domain wraps around.
    pub fn is_periodic(&self) -> bool {
        matches!(self, Boundary::Periodic)
    }
}

pub(crate) fn finite(what: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite { what, value })
    }
}

/// Checks that a halo-padded array is row-major with contiguous rows and at
/// least 3×3 (one interior cell).
fn check_padded(what: &'static str, shape: &[usize], strides: &[isize]) -> Result<()> {
    let (rows, cols) = (shape[0], shape[1]);
    if rows < 3 || cols < 3 {
        return Err(Error::GridTooSmall { rows, cols, min: 3 });
    }
    if strides[1] != 1 {
        return Err(Error::NotContiguous { what });
    }
    Ok(())
}

/// Checks that `out` is the interior's shape (`ny × nx` for a padded `u`) with
/// contiguous rows.
fn check_out(u: &ArrayView2<'_, f64>, out: &ArrayViewMut2<'_, f64>) -> Result<()> {
    let (ny, nx) = (u.nrows() - 2, u.ncols() - 2);
    if out.shape() != [ny, nx] {
        return Err(Error::Shape {
            what: "out",
            got: [out.nrows(), out.ncols()],
            expected: [ny, nx],
        });
    }
    if nx > 1 && out.strides()[1] != 1 {
        return Err(Error::NotContiguous { what: "out" });
    }
    Ok(())
}

/// Checks a global interior size against the 3×3 stencil.
pub(crate) fn check_grid(rows: usize, cols: usize) -> Result<()> {
    if rows < 3 || cols < 3 {
        return Err(Error::GridTooSmall { rows, cols, min: 3 });
    }
    Ok(())
}

/// Fills the ghost ring of a halo-padded array `(ny + 2) × (nx + 2)` holding
/// the whole domain, for one process.
///
/// Columns first (left and right ghosts of the interior rows), then rows over
/// the full padded width, so the corners come out right for every boundary.
/// The halo exchange fills ghosts in the same order. The interior must be at
/// least 3×3 ([`Error::GridTooSmall`]); the array must be row-major.
/// See [`Boundary`] for an example.
pub fn fill_halo(mut u: ArrayViewMut2<'_, f64>, boundary: Boundary) -> Result<()> {
    check_padded("field", u.shape(), u.strides())?;
    check_grid(u.nrows() - 2, u.ncols() - 2)?;
    boundary.validate()?;
    let (ny, nx) = (u.nrows() - 2, u.ncols() - 2);
    for i in 1..=ny {
        let mut row = u.row_mut(i);
        let (left, right) = match boundary {
            Boundary::Periodic => (row[nx], row[1]),
            Boundary::Reflecting => (row[1], row[nx]),
            Boundary::Fixed(v) => (v, v),
        };
        row[0] = left;
        row[nx + 1] = right;
    }
    let rows = match boundary {
        Boundary::Periodic => [(0, ny), (ny + 1, 1)],
        Boundary::Reflecting => [(0, 1), (ny + 1, ny)],
        Boundary::Fixed(v) => {
            u.row_mut(0).fill(v);
            u.row_mut(ny + 1).fill(v);
            return Ok(());
        }
    };
    for (ghost, source) in rows {
        copy_row(u.view_mut(), source, ghost);
    }
    Ok(())
}

/// Copies row `from` of `u` onto row `to` (`from != to`), without allocating.
fn copy_row(u: ArrayViewMut2<'_, f64>, from: usize, to: usize) {
    if from < to {
        let (head, mut tail) = u.split_at(Axis(0), to);
        tail.row_mut(0).assign(&head.row(from));
    } else {
        let (mut head, tail) = u.split_at(Axis(0), from);
        head.row_mut(to).assign(&tail.row(0));
    }
}

/// The interior (`ny × nx`) of a halo-padded `(ny + 2) × (nx + 2)` array.
///
/// ```
/// let u = ndarray::Array2::<f64>::ones((5, 6));
/// assert_eq!(quicklb_stencil::interior(u.view()).shape(), &[3, 4]);
/// ```
pub fn interior<'a>(u: ArrayView2<'a, f64>) -> ArrayView2<'a, f64> {
    let mut u = u;
    let (r, c) = (u.nrows(), u.ncols());
    u.slice_axis_inplace(Axis(0), Slice::from(1..r.saturating_sub(1).max(1)));
    u.slice_axis_inplace(Axis(1), Slice::from(1..c.saturating_sub(1).max(1)));
    u
}

/// The mutable interior (`ny × nx`) of a halo-padded `(ny + 2) × (nx + 2)` array.
///
/// ```
/// let mut u = ndarray::Array2::<f64>::zeros((5, 6));
/// quicklb_stencil::interior_mut(u.view_mut()).fill(1.0);
/// assert_eq!(u.sum(), 12.0);
/// ```
pub fn interior_mut<'a>(mut u: ArrayViewMut2<'a, f64>) -> ArrayViewMut2<'a, f64> {
    let (r, c) = (u.nrows(), u.ncols());
    u.slice_axis_inplace(Axis(0), Slice::from(1..r.saturating_sub(1).max(1)));
    u.slice_axis_inplace(Axis(1), Slice::from(1..c.saturating_sub(1).max(1)));
    u
}

/// Applies `stencil` to a halo-padded field `u` (`(ny + 2) × (nx + 2)`, ghosts
/// filled) and writes `L(u)` for the interior into `out` (`ny × nx`; its rows
/// must be contiguous, so it may be the interior view of a padded array).
///
/// ```
/// use ndarray::Array2;
/// use quicklb_stencil::{fill_halo, laplacian, Boundary, Stencil};
/// let (ny, nx) = (4, 5);
/// let mut u = Array2::<f64>::zeros((ny + 2, nx + 2));
/// u[[2, 3]] = 1.0; // a point source
/// fill_halo(u.view_mut(), Boundary::Periodic)?;
/// let mut out = Array2::<f64>::zeros((ny, nx));
/// laplacian(&Stencil::FivePoint, u.view(), out.view_mut())?;
/// assert_eq!(out[[1, 2]], -4.0);
/// assert_eq!(out[[0, 2]], 1.0);
/// assert_eq!(out.sum(), 0.0);
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
pub fn laplacian(
    stencil: &Stencil,
    u: ArrayView2<'_, f64>,
    out: ArrayViewMut2<'_, f64>,
) -> Result<()> {
    stencil.validate()?;
    check_padded("field", u.shape(), u.strides())?;
    check_out(&u, &out)?;
    sweep::sweep(stencil, u, out, sweep::Laplacian);
    Ok(())
}

/// Copies the interior of a halo-padded field `u` (`(ny + 2) × (nx + 2)`)
/// into `out` (`ny × nx`, contiguous rows), with the kernels' own vector loop
/// over the same column blocks: one load and one store per vector, the
/// fastest any kernel that reads the field and writes another array with
/// ordinary stores can run (the stencil bench measures it as that ceiling).
///
/// ```
/// use ndarray::Array2;
/// let u = Array2::from_shape_fn((5, 7), |(i, j)| (10 * i + j) as f64);
/// let mut out = Array2::<f64>::zeros((3, 5));
/// quicklb_stencil::copy_interior(u.view(), out.view_mut())?;
/// assert_eq!(out, quicklb_stencil::interior(u.view()));
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
pub fn copy_interior(u: ArrayView2<'_, f64>, out: ArrayViewMut2<'_, f64>) -> Result<()> {
    check_padded("field", u.shape(), u.strides())?;
    check_out(&u, &out)?;
    sweep::copy_interior(u, out);
    Ok(())
}

/// Writes one explicit diffusion step of a halo-padded field into another
/// array: `out = u + coef · L(u)` on the interior (`coef = D·dt`), where `u` is
/// `(ny + 2) × (nx + 2)` with its ghosts filled and `out` is `ny × nx` (e.g.
/// the interior view of a second padded array, for double buffering).
///
/// Each cell is `centre + coef * L` with `L` computed as documented on
/// [`Stencil`]; [`Diffusion::step`] computes the same bits in place.
///
/// ```
/// use ndarray::Array2;
/// use quicklb_stencil::{diffusion_step_into, fill_halo, Boundary, Stencil};
/// let mut a = Array2::<f64>::zeros((6, 6));
/// let mut b = a.clone();
/// a[[3, 3]] = 1.0;
/// for _ in 0..10 {
///     fill_halo(a.view_mut(), Boundary::Periodic)?;
///     diffusion_step_into(&Stencil::FivePoint, 0.1, a.view(), quicklb_stencil::interior_mut(b.view_mut()))?;
///     std::mem::swap(&mut a, &mut b);
/// }
/// assert!((quicklb_stencil::interior(a.view()).sum() - 1.0).abs() < 1e-14);
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
pub fn diffusion_step_into(
    stencil: &Stencil,
    coef: f64,
    u: ArrayView2<'_, f64>,
    out: ArrayViewMut2<'_, f64>,
) -> Result<()> {
    stencil.validate()?;
    finite("diffusion coefficient D*dt", coef)?;
    check_padded("field", u.shape(), u.strides())?;
    check_out(&u, &out)?;
    sweep::sweep(stencil, u, out, sweep::Step { coef });
    Ok(())
}

/// The explicit diffusion step `u += D·dt·L(u)`, in place, with a scratch
/// buffer kept between steps (a few rows; allocated on the first step and
/// again only if the grid grows).
///
/// ```
/// use ndarray::Array2;
/// use quicklb_stencil::{Boundary, Diffusion, Stencil};
/// let (ny, nx) = (32, 32);
/// let mut u = Array2::<f64>::zeros((ny + 2, nx + 2));
/// u[[16, 16]] = 1.0;
/// let mut diffusion = Diffusion::new(Stencil::NinePoint, 1.0, 0.2)?;
/// for _ in 0..50 {
///     diffusion.step_with_boundary(u.view_mut(), Boundary::Reflecting)?;
/// }
/// let interior = quicklb_stencil::interior(u.view());
/// assert!((interior.sum() - 1.0).abs() < 1e-13); // mass is conserved
/// assert!(interior[[15, 15]] > 0.0 && interior[[15, 15]] < 1.0);
/// # Ok::<(), quicklb_stencil::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Diffusion {
    stencil: Stencil,
    coef: f64,
    scratch: Vec<f64>,
}

impl Diffusion {
    /// A diffusion step with diffusivity `d` and time step `dt` (grid spacing 1;
    /// for spacing `h` pass `d / h²`). Errors if a weight, `d` or `dt` is not
    /// finite. (Stability of the explicit scheme, e.g. `d·dt ≤ 1/4` for the
    /// 5-point stencil, is the caller's business.)
    pub fn new(stencil: Stencil, d: f64, dt: f64) -> Result<Self> {
        stencil.validate()?;
        finite("diffusivity D", d)?;
        finite("time step dt", dt)?;
        Self::with_coefficient(stencil, d * dt)
    }

    /// A diffusion step `u += coef · L(u)`.
    pub fn with_coefficient(stencil: Stencil, coef: f64) -> Result<Self> {
        stencil.validate()?;
        finite("diffusion coefficient D*dt", coef)?;
        Ok(Diffusion {
            stencil,
            coef,
            scratch: Vec::new(),
        })
    }

    /// The stencil.
    pub fn stencil(&self) -> &Stencil {
        &self.stencil
    }

    /// `D·dt`.
    pub fn coefficient(&self) -> f64 {
        self.coef
    }

    /// One step on a halo-padded field whose ghosts are already filled (by
    /// [`fill_halo`] or a halo exchange). Only the interior changes. The field
    /// must be in standard (row-major, contiguous) layout.
    pub fn step(&mut self, mut u: ArrayViewMut2<'_, f64>) -> Result<()> {
        check_padded("field", u.shape(), u.strides())?;
        let (ny, nx) = (u.nrows() - 2, u.ncols() - 2);
        let w = nx + 2;
        let data = u
            .as_slice_mut()
            .ok_or(Error::NotContiguous { what: "field" })?;
        let nbands = sweep::bands(ny, nx);
        let per_band = ny.div_ceil(nbands);
        let nbands = ny.div_ceil(per_band);
        let per_scratch = sweep::STEP_SCRATCH_ROWS * w;
        let need = nbands * per_scratch;
        if self.scratch.len() < need {
            self.scratch.resize(need, 0.0);
        }
        let scratch = &mut self.scratch[..need];
        // Each band starts with a copy of the old row above it and of the
        // old row below it, taken before any band changes a row.
        for (b, s) in scratch.chunks_exact_mut(per_scratch).enumerate() {
            let first = 1 + b * per_band;
            let last = (first + per_band).min(ny + 1); // one past the band
            s[..w].copy_from_slice(&data[(first - 1) * w..first * w]);
            s[w..2 * w].copy_from_slice(&data[last * w..(last + 1) * w]);
        }
        let stencil = self.stencil;
        let coef = self.coef;
        let interior = &mut data[w..(ny + 1) * w];
        let band =
            move |(rows, s): (&mut [f64], &mut [f64])| sweep::step_band(&stencil, coef, w, rows, s);
        if nbands > 1 {
            #[cfg(feature = "rayon")]
            {
                use rayon::prelude::*;
                interior
                    .par_chunks_mut(per_band * w)
                    .zip(scratch.par_chunks_exact_mut(per_scratch))
                    .for_each(band);
                return Ok(());
            }
        }
        interior
            .chunks_mut(per_band * w)
            .zip(scratch.chunks_exact_mut(per_scratch))
            .for_each(band);
        Ok(())
    }

    /// [`fill_halo`] with `boundary`, then [`Diffusion::step`]: one step of a
    /// whole domain on one process.
    pub fn step_with_boundary(
        &mut self,
        mut u: ArrayViewMut2<'_, f64>,
        boundary: Boundary,
    ) -> Result<()> {
        fill_halo(u.view_mut(), boundary)?;
        self.step(u)
    }
}
