//! Diffusion stencils on `ndarray` views and the halo exchange that feeds them.
//!
//! - [`kernel`]: the 5-point and QUICKLB 9-point Laplacians and general 3×3
//!   stencils ([`Stencil`]), ghost cells for periodic, reflecting and fixed
//!   boundaries ([`Boundary`], [`fill_halo`]), and the explicit diffusion step
//!   `u += D·dt·L(u)` ([`Diffusion`], [`diffusion_step_into`]).
//! - [`decomp`]: row slabs and 2-D Cartesian blocks of a global grid
//!   ([`Decomposition`]), pure and MPI-free.
//! - [`halo`]: the ghost exchange between ranks, by persistent messages or by
//!   direct reads from shared memory.
//!
//! Fields are `f64` arrays with a one-cell halo: `ny × nx` cells live in an
//! `(ny + 2) × (nx + 2)` array.
//!
//! ```
//! use quicklb_stencil::ndarray::Array2;
//! use quicklb_stencil::{interior, Boundary, Diffusion, Stencil};
//! let mut u = Array2::<f64>::zeros((64 + 2, 64 + 2));
//! for i in 30..36 {
//!     for j in 30..36 {
//!         u[[i, j]] = 1.0;
//!     }
//! }
//! let mut diffusion = Diffusion::new(Stencil::FivePoint, 1.0, 0.2)?;
//! for _ in 0..100 {
//!     diffusion.step_with_boundary(u.view_mut(), Boundary::Periodic)?;
//! }
//! assert!((interior(u.view()).sum() - 36.0).abs() < 1e-10);
//! # Ok::<(), quicklb_stencil::Error>(())
//! ```

/// The `ndarray` (0.16) whose arrays and views the kernels take and the halo
/// exchange fills. Use it (`quicklb_stencil::ndarray::Array2`) instead of
/// adding `ndarray` yourself, or pin `ndarray = "0.16"`: another major
/// version is another type.
pub use ndarray;

pub mod decomp;
pub mod error;
pub mod halo;
pub mod kernel;
mod sweep;

pub use decomp::{split, Decomposition};
pub use error::{Error, Result};
pub use kernel::{
    copy_interior, diffusion_step_into, fill_halo, interior, interior_mut, laplacian, Boundary,
    Diffusion, Stencil, FIVE_POINT_WEIGHTS, NINE_POINT_WEIGHTS,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
