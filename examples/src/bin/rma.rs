//! One-sided communication: put under fence, accumulate under fence, get under
//! passive-target locks, and post/start/complete/wait. Rank 0 prints each step and
//! every rank's window. Runs with any number of ranks (alone, rank 0 puts into its
//! own window).

use clap::Parser;
use quicklb_examples::patterns::{self, rma};

/// One-sided MPI: put, accumulate and get in RMA windows under fence, locks and PSCW.
///
/// Rank 0 puts 42 into rank 1's window under fence (into its own when alone); all
/// ranks accumulate rank+1 into rank 0 under fence; every rank reads both with get
/// under shared passive-target locks; neighbours exchange with
/// post/start/complete/wait. Rank 0 prints each step and every rank's window. Runs
/// with any number of ranks.
#[derive(Parser)]
#[command(version)]
struct Cli {}

fn main() -> std::process::ExitCode {
    let _cli = Cli::parse();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let result = rma::run(&world).map(|summary| {
        for line in summary.lines() {
            println!("{line}");
        }
    });
    patterns::finish(&world, "rma", result)
}
