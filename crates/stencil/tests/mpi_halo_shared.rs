//! After 50 steps, the field distributed over the ranks with the shared-memory
//! halo (direct reads from a SharedArray, no messages) equals the serial field
//! bitwise: row slabs, a 2-D Cartesian split and column slabs; periodic,
//! reflecting and fixed boundaries; 5-point, 9-point and skewed 3×3 stencils;
//! two fields in one segment. A setup that differs on one rank (grid,
//! process grid, boundary, corners, fields) is the same error on every rank.

mod common;

use common::*;
use mpi::traits::*;
use ndarray::Array2;
use ndarray::Axis;
use quicklb_stencil::halo::{MessageHalo, SharedHalo};
use quicklb_stencil::{Boundary, Diffusion, Stencil};

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    check_bad_input(&world);
    // Different grids, boundaries or stencils on one rank: the same error
    // everywhere, at construction.
    check_disagreements(&world, &|d, boundary, corners, fields| {
        SharedHalo::new(&world, d, boundary, corners, fields).map(drop)
    });

    // An array that does not match the halo on the last rank: an error
    // there, no hang elsewhere.
    {
        let d = quicklb_stencil::Decomposition::row_slabs(20, 20, size, rank).unwrap();
        let mut halo =
            SharedHalo::new(&world, &d, quicklb_stencil::Boundary::Periodic, false, 1).unwrap();
        let mut good = halo.allocate(&world).unwrap();
        let len = if rank == size - 1 {
            5
        } else {
            halo.segment_len()
        };
        let mut odd = quicklb_stencil::halo::SharedArray::<f64>::new(&world, len).unwrap();
        // The last rank's segment is wrong; it and every rank reading from
        // it (its neighbours) get an error, the others none.
        let reads_last = size == 1 || rank == size - 2 || rank == 0;
        match halo.exchange(&mut odd) {
            Err(quicklb_stencil::Error::Shape { .. }) => assert!(rank == size - 1 || reads_last),
            Err(e) => panic!("unexpected {e}"),
            Ok(()) => assert!(rank != size - 1 && !reads_last),
        }
        halo.exchange(&mut good).unwrap();
    }

    let mut cases = 0;
    for (name, d) in decompositions(size, rank) {
        // One array per decomposition, shared by its nine halos: its length
        // depends on the decomposition only, each case overwrites all of it
        // (scatter pads with zero ghosts), and a shared-window allocation is a
        // few collectives that cost scheduler time slices with more ranks than
        // cores (MPICH's never yield).
        let mut fields: Option<quicklb_stencil::halo::SharedArray<f64>> = None;
        for boundary in boundaries() {
            for (stencil, coef) in stencils() {
                let globals = [initial(&d, 3), initial(&d, 4)];
                let expected = [
                    serial(&globals[0], stencil, coef, boundary),
                    serial(&globals[1], stencil, coef, boundary),
                ];
                let mut halo =
                    SharedHalo::new(&world, &d, boundary, stencil.uses_corners(), 2).unwrap();
                let fields = fields.get_or_insert_with(|| halo.allocate(&world).unwrap());
                for k in 0..2 {
                    halo.field_mut(fields, k)
                        .unwrap()
                        .assign(&d.scatter(globals[k].view()).unwrap());
                }
                let mut diffusion = Diffusion::with_coefficient(stencil, coef).unwrap();
                for _ in 0..STEPS {
                    halo.exchange(fields).unwrap();
                    for k in 0..2 {
                        diffusion.step(halo.field_mut(fields, k).unwrap()).unwrap();
                    }
                }
                for k in 0..2 {
                    let local: Array2<f64> = halo.field_mut(fields, k).unwrap().to_owned();
                    let bad = mismatches(&world, &d, &local, &expected[k]);
                    assert_eq!(
                        bad, 0,
                        "{name} {boundary:?} {stencil:?} field {k}: {bad} cells differ"
                    );
                }
                cases += 1;
            }
        }
    }
    // Fields kept in a SharedArray, ghosts exchanged by messages instead
    // (what a program does when it may run across nodes later).
    for (name, d) in decompositions(size, rank) {
        let (stencil, coef) = (Stencil::FivePoint, 0.2);
        let boundary = Boundary::Periodic;
        let globals = [initial(&d, 5), initial(&d, 6)];
        let halo = SharedHalo::new(&world, &d, boundary, false, 2).unwrap();
        let mut fields = halo.allocate(&world).unwrap();
        let mut messages = MessageHalo::new(&world, &d, boundary, false, 2).unwrap();
        let mut diffusion = Diffusion::with_coefficient(stencil, coef).unwrap();
        {
            let mut all = halo.fields_mut(&mut fields).unwrap();
            for (k, mut f) in all.axis_iter_mut(Axis(0)).enumerate() {
                f.assign(&d.scatter(globals[k].view()).unwrap());
            }
        }
        for _ in 0..STEPS {
            let mut all = halo.fields_mut(&mut fields).unwrap();
            let mut it = all.axis_iter_mut(Axis(0));
            let (mut u, mut v) = (it.next().unwrap(), it.next().unwrap());
            messages
                .exchange_fields(&mut [u.view_mut(), v.view_mut()])
                .unwrap();
            diffusion.step(u).unwrap();
            diffusion.step(v).unwrap();
        }
        for k in 0..2 {
            let local = halo.field(&fields, k).unwrap().to_owned();
            let expected = serial(&globals[k], stencil, coef, boundary);
            assert_eq!(
                mismatches(&world, &d, &local, &expected),
                0,
                "{name} messages over shared fields"
            );
        }
        cases += 1;
    }
    if rank == 0 {
        println!("mpi_halo_shared: {size} ranks, {cases} cases bitwise equal to serial");
    }
}
