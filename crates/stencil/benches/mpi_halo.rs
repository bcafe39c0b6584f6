//! Halo-exchange cost per step, messages (persistent requests) vs shared
//! memory (direct SharedArray reads), for row slabs and a 2-D Cartesian split.
//! An MPI program: build with `cargo bench -p quicklb-stencil --bench mpi_halo --no-run`
//! and run the printed binary under `mpiexec -n 4 <binary> [--quick]`
//! (under `cargo bench` it runs as one rank). Prints a markdown table on rank 0.

use std::time::Instant;

use mpi::collective::SystemOperation;
use mpi::traits::*;
use ndarray::Array2;
use quicklb_stencil::decomp::balanced_dims;
use quicklb_stencil::halo::{MessageHalo, SharedHalo};
use quicklb_stencil::{Boundary, Decomposition, Diffusion, Stencil};

/// Seconds per call of `f`: `batches` batches of `per_batch` calls, each
/// batch timed on the slowest rank; the best batch (least disturbed by other
/// processes on the machine) is returned.
fn per_step<C: Communicator>(
    comm: &C,
    batches: usize,
    per_batch: usize,
    mut f: impl FnMut(),
) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..batches {
        comm.barrier();
        let t = Instant::now();
        for _ in 0..per_batch {
            f();
        }
        let mine = t.elapsed().as_secs_f64() / per_batch as f64;
        let mut worst = 0.0;
        comm.all_reduce_into(&mine, &mut worst, SystemOperation::max());
        best = best.min(worst);
    }
    best
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 512 } else { 4096 };
    let (batches, per_batch) = if quick { (5, 10) } else { (20, 20) };
    let boundary = Boundary::Periodic;

    if rank == 0 {
        println!("Halo exchange per step, {size} ranks, {n}² periodic grid, slowest rank, best of several batches, µs (lower is better).\n");
        println!("| decomposition | stencil | messages | shared memory | messages sent per rank | one 5-pt step of the local block |");
        println!("|---|---|---|---|---|---|");
    }
    for (name, dims) in [
        ("row slabs", [size, 1]),
        ("2-D Cartesian", balanced_dims(size)),
    ] {
        let d = Decomposition::cartesian(n, n, dims, rank).expect("valid decomposition");
        let mut u = Array2::<f64>::zeros(d.padded_shape());
        let mut diffusion = Diffusion::with_coefficient(Stencil::FivePoint, 1e-3).expect("finite");
        let compute = per_step(&world, 3, 3, || {
            diffusion.step(u.view_mut()).expect("shape")
        });
        for (label, corners) in [("5-point", false), ("9-point (corners)", true)] {
            let mut msg = MessageHalo::new(&world, &d, boundary, corners, 1).expect("halo");
            let sent = msg.num_messages();
            let t_msg = per_step(&world, batches, per_batch, || {
                msg.exchange(u.view_mut()).expect("exchange")
            });
            let mut shared = SharedHalo::new(&world, &d, boundary, corners, 1).expect("one node");
            let mut array = shared.allocate(&world).expect("shared array");
            let t_shm = per_step(&world, batches, per_batch, || {
                shared.exchange(&mut array).expect("exchange")
            });
            let mut max_sent = 0usize;
            world.all_reduce_into(&sent, &mut max_sent, SystemOperation::max());
            if rank == 0 {
                println!(
                    "| {name} {}×{} | {label} | {:.1} | {:.1} | {max_sent} | {:.0} |",
                    dims[0],
                    dims[1],
                    t_msg * 1e6,
                    t_shm * 1e6,
                    compute * 1e6
                );
            }
        }
    }
}
