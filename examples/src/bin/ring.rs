//! Ring: every rank passes a value to its right neighbour, 5 iterations; rank r
//! receives `left + 100 * iteration` from its left neighbour. Printed per rank,
//! in rank order.

use clap::Parser;
use mpi::traits::*;

/// Pass values around a ring of MPI ranks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Number of trips around the ring.
    #[arg(long, default_value_t = 5)]
    iterations: i32,
}

fn main() {
    let cli = Cli::parse();
    let universe = mpi::initialize().expect("MPI initialises once");
    quicklb_transport::abort_on_panic();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    let right = (rank + 1) % size;
    let left = (rank + size - 1) % size;

    let mut received = Vec::with_capacity(cli.iterations as usize);
    for iteration in 0..cli.iterations {
        let value = rank + 100 * iteration;
        let mut incoming = -1i32;
        mpi::request::scope(|scope| {
            let recv = world
                .process_at_rank(left)
                .immediate_receive_into(scope, &mut incoming);
            let send = world.process_at_rank(right).immediate_send(scope, &value);
            recv.wait();
            send.wait();
        });
        assert_eq!(
            incoming,
            left + 100 * iteration,
            "rank {rank}, iteration {iteration}"
        );
        received.push(incoming);
    }

    // Output of different ranks reaches the terminal in no set order, so rank 0
    // gathers every rank's values and prints them in rank order.
    let root = world.process_at_rank(0);
    if rank == 0 {
        let mut all = vec![0i32; received.len() * size as usize];
        root.gather_into_root(&received[..], &mut all[..]);
        for (r, values) in all.chunks(received.len().max(1)).enumerate() {
            let left = (r as i32 + size - 1) % size;
            println!("rank {r} received {values:?} from rank {left}");
        }
    } else {
        root.gather_into(&received[..]);
    }
}
