//! Does passive-target RMA progress while the target makes no MPI call?
//!
//! Under `mpiexec -n 2`: rank 1 sleeps (or spins) for `--busy` seconds without
//! calling MPI; meanwhile rank 0 runs `fetch_and_op` + `flush` on rank 1's
//! counter in one `lock_all` epoch, and prints how long the first and the
//! median operation took. If the target must call MPI for progress, the first
//! operation waits about as long as the target is busy.
//!
//! ```sh
//! cargo build -p quicklb-transport --release --example rma_progress
//! mpiexec -n 2 target/release/examples/rma_progress [--spin] [--busy 1.0]
//! mpiexec -n 2 --mca osc pt2pt target/release/examples/rma_progress
//! ```

use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::traits::*;
use quicklb_transport::rma::Window;

fn main() -> quicklb_transport::Result<()> {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    assert_eq!(world.size(), 2, "run with mpiexec -n 2");
    let args: Vec<String> = std::env::args().collect();
    let spin = args.iter().any(|a| a == "--spin");
    let busy = args
        .iter()
        .position(|a| a == "--busy")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    let ops = 200;
    let mut win = Window::<u64>::allocate(&world, 1)?;
    world.barrier();
    if world.rank() == 1 {
        let t = Instant::now();
        if spin {
            while t.elapsed().as_secs_f64() < busy {
                std::hint::spin_loop();
            }
        } else {
            std::thread::sleep(Duration::from_secs_f64(busy));
        }
    } else {
        let one = 1u64;
        let mut fetched = vec![0u64; ops];
        let mut times = vec![0.0f64; ops];
        let start = Instant::now();
        win.lock_all(|e| {
            for (out, t) in fetched.iter_mut().zip(times.iter_mut()) {
                let t0 = Instant::now();
                e.fetch_and_op(&one, out, 1, 0, SystemOperation::sum())?;
                e.flush(1)?;
                *t = t0.elapsed().as_secs_f64();
            }
            Ok(())
        })?;
        let total = start.elapsed().as_secs_f64();
        let first = times[0];
        times.sort_by(f64::total_cmp);
        println!(
            "target {} for {busy:.2} s without MPI: {ops} fetch_and_op+flush in {:.3} s, \
             first {:.3} ms, median {:.1} µs, max {:.3} ms (tickets {}..{})",
            if spin { "spinning" } else { "sleeping" },
            total,
            first * 1e3,
            times[ops / 2] * 1e6,
            times[ops - 1] * 1e3,
            fetched[0],
            fetched[ops - 1]
        );
    }
    world.barrier();
    Ok(())
}
