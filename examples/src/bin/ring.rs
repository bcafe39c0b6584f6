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

    for turn in 0..size {
        if turn == rank {
            println!("rank {rank} received {received:?} from rank {left}");
        }
        world.barrier();
    }
}
