//! Ring: every rank passes a value to its right neighbour with persistent
//! requests, 5 iterations by default; rank r receives `left + 100 * iteration`
//! from its left neighbour. Rank 0 prints every rank's values, in rank order.
//! Runs with any number of ranks (with one, the rank is its own neighbour).

use clap::Parser;
use quicklb_examples::patterns::{self, ring};

/// Pass values around a ring of MPI ranks with persistent send/receive requests.
///
/// Uses quicklb-transport's PersistentSet (MPI_Send_init/MPI_Recv_init, started
/// every iteration). In iteration i, rank r sends r + 100*i to its right neighbour.
/// Rank 0 prints what each rank received, in rank order. Runs with any number of
/// ranks (alone, a rank is its own neighbour).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Number of trips around the ring.
    #[arg(long, default_value_t = 5)]
    iterations: usize,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let result = ring::run(&world, cli.iterations).map(|summary| {
        for line in summary.lines() {
            println!("{line}");
        }
    });
    patterns::finish(&world, "ring", result)
}
