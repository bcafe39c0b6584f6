//! Shared by the MPI test programs: the cases, the serial reference and the
//! bitwise comparison.

#![allow(dead_code)]

use mpi::collective::SystemOperation;
use mpi::traits::*;
use ndarray::Array2;
use quicklb_stencil::{
    decomp::balanced_dims, interior, Boundary, Decomposition, Diffusion, Stencil,
};

pub const STEPS: usize = 50;

/// Asymmetric weights that sum to zero: catch a flipped orientation.
pub const SKEW: [[f64; 3]; 3] = [[0.1, 0.3, 0.05], [0.2, -1.1, 0.25], [0.02, 0.15, 0.03]];

pub fn boundaries() -> [Boundary; 3] {
    [
        Boundary::Periodic,
        Boundary::Reflecting,
        Boundary::Fixed(0.75),
    ]
}

pub fn stencils() -> [(Stencil, f64); 3] {
    [
        (Stencil::FivePoint, 0.2),
        (Stencil::NinePoint, 0.3),
        (Stencil::Weights(SKEW), 0.3),
    ]
}

/// Row slabs and a balanced 2-D split, for a grid that is not a multiple of
/// anything.
pub fn decompositions(size: usize, rank: usize) -> Vec<(&'static str, Decomposition)> {
    let (ny, nx) = (23, 17);
    vec![
        (
            "slabs",
            Decomposition::row_slabs(ny, nx, size, rank).unwrap(),
        ),
        (
            "cartesian",
            Decomposition::cartesian(ny, nx, balanced_dims(size), rank).unwrap(),
        ),
        (
            "columns",
            Decomposition::cartesian(ny, nx, [1, size], rank).unwrap(),
        ),
    ]
}

/// A deterministic, irregular global field (no halo).
pub fn initial(d: &Decomposition, seed: u64) -> Array2<f64> {
    let [ny, nx] = d.global();
    Array2::from_shape_fn((ny, nx), |(i, j)| {
        let x = (i as u64 * 7919 + j as u64 * 104_729 + seed * 15_485_863) % 1_000_003;
        x as f64 / 1_000_003.0
    })
}

/// The serial result after `STEPS` steps (no halo).
pub fn serial(
    global: &Array2<f64>,
    stencil: Stencil,
    coef: f64,
    boundary: Boundary,
) -> Array2<f64> {
    let (ny, nx) = global.dim();
    let mut u = Array2::zeros((ny + 2, nx + 2));
    quicklb_stencil::interior_mut(u.view_mut()).assign(global);
    let mut diffusion = Diffusion::with_coefficient(stencil, coef).unwrap();
    for _ in 0..STEPS {
        diffusion
            .step_with_boundary(u.view_mut(), boundary)
            .unwrap();
    }
    interior(u.view()).to_owned()
}

/// Number of cells of this rank's padded block `local` whose bits differ
/// from the serial field, summed over all ranks.
pub fn mismatches<C: Communicator>(
    comm: &C,
    d: &Decomposition,
    local: &Array2<f64>,
    serial: &Array2<f64>,
) -> i64 {
    let mut bad = 0i64;
    for (li, gi) in d.rows().enumerate() {
        for (lj, gj) in d.cols().enumerate() {
            if local[[li + 1, lj + 1]].to_bits() != serial[[gi, gj]].to_bits() {
                bad += 1;
            }
        }
    }
    let mut total = 0i64;
    comm.all_reduce_into(&bad, &mut total, SystemOperation::sum());
    total
}

/// Errors that every rank must see, decided without communication.
pub fn check_bad_input<C: Communicator>(comm: &C) {
    let (rank, size) = (comm.rank() as usize, comm.size() as usize);
    assert!(matches!(
        Decomposition::row_slabs(3 + size, 10, 4 + size, rank),
        Err(quicklb_stencil::Error::TooManyRanks { .. })
    ));
    assert!(matches!(
        Decomposition::cartesian(2, 10, [size, 1], rank),
        Err(quicklb_stencil::Error::GridTooSmall { .. })
    ));
}
