//! After 50 steps, the field distributed over the ranks with the message halo
//! (persistent requests) equals the serial field bitwise: row slabs, a 2-D
//! Cartesian split and column slabs; periodic, reflecting and fixed
//! boundaries; 5-point, 9-point and skewed 3×3 stencils; two fields exchanged
//! together. A setup that differs on one rank (grid, process grid,
//! boundary, corners, fields) is the same error on every rank.

mod common;

use common::*;
use mpi::traits::*;
use quicklb_stencil::{halo::MessageHalo, Decomposition, Diffusion, Error};

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    check_bad_input(&world);
    // Different grids, boundaries or stencils on one rank: the same error
    // everywhere, at construction.
    check_disagreements(&world, &|d, boundary, corners, fields| {
        MessageHalo::new(&world, d, boundary, corners, fields).map(drop)
    });
    // A decomposition for another number of ranks is refused on every rank.
    let wrong = Decomposition::row_slabs(20, 20, size + 1, rank).unwrap();
    assert!(matches!(
        MessageHalo::new(&world, &wrong, quicklb_stencil::Boundary::Periodic, true, 1),
        Err(Error::RankCount { .. })
    ));

    // Only rank 0 is given another rank's decomposition: every rank errors.
    if size > 1 {
        let d = Decomposition::row_slabs(20, 20, size, if rank == 0 { 1 } else { rank }).unwrap();
        let result = MessageHalo::new(&world, &d, quicklb_stencil::Boundary::Periodic, true, 1);
        match rank {
            0 => assert!(matches!(
                result,
                Err(Error::WrongRank {
                    comm: 0,
                    decomposition: 1
                })
            )),
            _ => assert!(matches!(result, Err(Error::OtherRank { rank: 0 }))),
        }
    }
    // A wrong field shape on the last rank: an error there, no hang elsewhere.
    {
        let d = Decomposition::row_slabs(20, 20, size, rank).unwrap();
        let mut halo =
            MessageHalo::new(&world, &d, quicklb_stencil::Boundary::Periodic, false, 1).unwrap();
        let mut u = ndarray::Array2::<f64>::zeros(d.padded_shape());
        let mut wrong = ndarray::Array2::<f64>::zeros((3, 3));
        if rank == size - 1 {
            assert!(matches!(
                halo.exchange(wrong.view_mut()),
                Err(Error::Shape { .. })
            ));
        } else {
            halo.exchange(u.view_mut()).unwrap();
        }
        halo.exchange(u.view_mut()).unwrap();
    }

    let mut cases = 0;
    for (name, d) in decompositions(size, rank) {
        for boundary in boundaries() {
            for (stencil, coef) in stencils() {
                let globals = [initial(&d, 1), initial(&d, 2)];
                let expected = [
                    serial(&globals[0], stencil, coef, boundary),
                    serial(&globals[1], stencil, coef, boundary),
                ];
                let mut halo =
                    MessageHalo::new(&world, &d, boundary, stencil.uses_corners(), 2).unwrap();
                let mut a = d.scatter(globals[0].view()).unwrap();
                let mut b = d.scatter(globals[1].view()).unwrap();
                let mut diffusion = Diffusion::with_coefficient(stencil, coef).unwrap();
                for _ in 0..STEPS {
                    halo.exchange_fields(&mut [a.view_mut(), b.view_mut()])
                        .unwrap();
                    diffusion.step(a.view_mut()).unwrap();
                    diffusion.step(b.view_mut()).unwrap();
                }
                for (k, (local, serial)) in [(&a, &expected[0]), (&b, &expected[1])]
                    .into_iter()
                    .enumerate()
                {
                    let bad = mismatches(&world, &d, local, serial);
                    assert_eq!(
                        bad, 0,
                        "{name} {boundary:?} {stencil:?} field {k}: {bad} cells differ"
                    );
                }
                // One field at a time, through the single-field entry point.
                let mut halo =
                    MessageHalo::new(&world, &d, boundary, stencil.uses_corners(), 1).unwrap();
                let mut a = d.scatter(globals[0].view()).unwrap();
                for _ in 0..STEPS {
                    halo.exchange(a.view_mut()).unwrap();
                    diffusion.step(a.view_mut()).unwrap();
                }
                assert_eq!(
                    mismatches(&world, &d, &a, &expected[0]),
                    0,
                    "{name} {boundary:?} {stencil:?}"
                );
                cases += 1;
            }
        }
    }
    if rank == 0 {
        println!("mpi_halo_messages: {size} ranks, {cases} cases bitwise equal to serial");
    }
}
