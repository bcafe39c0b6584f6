//! Array addition: rank 0 scatters A and B with varying counts, every rank adds
//! its piece, rank 0 gathers and checks C = A + B and prints it. Runs with any
//! number of ranks and any n (ranks may get no elements).

use clap::Parser;
use quicklb_examples::patterns::{self, array_add};

/// A + B scattered and gathered with varying counts (MPI_Scatterv / MPI_Gatherv).
///
/// Rank 0 holds A[i] = i and B[i] = 100 i, scatters them in pieces that differ by
/// at most one element when n is not a multiple of the number of ranks (ranks may
/// get none), every rank adds its piece, and rank 0 gathers, checks and prints C.
/// Runs with any number of ranks.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Length of the arrays.
    #[arg(short, long, default_value_t = 10)]
    n: usize,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let result = array_add::run(&world, cli.n).map(|summary| {
        for line in summary.lines() {
            println!("{line}");
        }
    });
    patterns::finish(&world, "array-add", result)
}
