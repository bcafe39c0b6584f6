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

/// Builds a halo (by either path) for a decomposition, boundary, corner flag
/// and field count; returns only whether it succeeded.
pub type BuildHalo<'a> =
    dyn Fn(&Decomposition, Boundary, bool, usize) -> quicklb_stencil::Result<()> + 'a;

/// One rank (the last) is given another global setup than the others: a
/// 64x65 or 65x64 grid instead of 64x64, another process grid, boundary,
/// fixed value, corner flag or field count. Every rank must return the same
/// `Error::Disagreement` naming what differs, at construction; a
/// non-finite boundary on one rank is its own error and `OtherRank`
/// elsewhere. Then a matching setup still builds (nobody is left behind in
/// a collective).
pub fn check_disagreements<C: Communicator>(comm: &C, build: &BuildHalo<'_>) {
    use quicklb_stencil::Error;
    let (rank, size) = (comm.rank() as usize, comm.size() as usize);
    if size < 2 {
        return;
    }
    let odd = rank == size - 1;
    let slabs = |rows, cols| Decomposition::row_slabs(rows, cols, size, rank).unwrap();
    let base = slabs(64, 64);
    let columns = Decomposition::cartesian(64, 64, [1, size], rank).unwrap();
    type Case = (
        &'static str,
        Decomposition,
        Boundary,
        bool,
        usize,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "64x65 on one rank",
            if odd { slabs(64, 65) } else { base.clone() },
            Boundary::Periodic,
            false,
            1,
            "columns of the global grid",
        ),
        (
            "65x64 on one rank",
            if odd { slabs(65, 64) } else { base.clone() },
            Boundary::Periodic,
            true,
            1,
            "rows of the global grid",
        ),
        (
            "column slabs on one rank",
            if odd { columns } else { base.clone() },
            Boundary::Reflecting,
            false,
            1,
            "process grid",
        ),
        (
            "reflecting on one rank",
            base.clone(),
            if odd {
                Boundary::Reflecting
            } else {
                Boundary::Periodic
            },
            false,
            1,
            "boundary",
        ),
        (
            "another fixed value on one rank",
            base.clone(),
            Boundary::Fixed(if odd { 0.25 } else { 0.5 }),
            false,
            1,
            "fixed boundary value",
        ),
        (
            "corners on one rank",
            base.clone(),
            Boundary::Periodic,
            odd,
            1,
            "corner ghosts",
        ),
        (
            "two fields on one rank",
            base.clone(),
            Boundary::Periodic,
            false,
            if odd { 2 } else { 1 },
            "number of fields",
        ),
    ];
    for (name, d, boundary, corners, fields, what) in cases {
        match build(&d, boundary, corners, fields) {
            Err(Error::Disagreement { what: got }) => {
                assert!(got.contains(what), "{name}: rank {rank} blames {got:?}")
            }
            other => panic!("{name}: rank {rank} got {other:?}, expected a disagreement"),
        }
    }
    // A NaN boundary value on one rank only: its own error there, the
    // same refusal everywhere else (no rank waits for it).
    let boundary = Boundary::Fixed(if odd { f64::NAN } else { 0.5 });
    match build(&base, boundary, false, 1) {
        Err(Error::NonFinite { .. }) => assert!(odd),
        Err(Error::OtherRank { rank: r }) => assert!(!odd && r == size - 1),
        other => panic!("NaN boundary on one rank: rank {rank} got {other:?}"),
    }
    build(&base, Boundary::Periodic, true, 2).expect("a matching setup builds");
}
