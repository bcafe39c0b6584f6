//! Asynchronous gradient descent on a least-squares problem: workers accumulate
//! their shard's gradient into rank 0's window under passive locks, rank 0 updates
//! the parameters in its window, workers read them with get; a short synchronous
//! phase finishes. Rank 0 prints the error against the normal-equation solution.

use clap::Parser;
use quicklb_examples::patterns::{self, async_gd};

/// Asynchronous gradient descent through an RMA window on rank 0 (passive-target locks).
///
/// Workers (ranks 1..) get the parameters from rank 0's window, compute their
/// shard's gradient of ½|Ax - b|² and accumulate it into the window under a shared
/// lock; rank 0 applies whatever gradients arrived, with step 1/L, and puts the new
/// parameters. A synchronous phase (broadcast, reduce) then converges to tolerance,
/// and rank 0 prints the error against the normal-equation solution. Runs with any
/// number of ranks; with one, rank 0 plays both roles.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Rows of A (data points), split over the workers.
    #[arg(long, default_value_t = 400)]
    rows: usize,
    /// Columns of A (parameters).
    #[arg(long, default_value_t = 8)]
    cols: usize,
    /// Seed of the data.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Parameter updates rank 0 makes in the asynchronous phase.
    #[arg(long, default_value_t = 200)]
    updates: usize,
    /// Stop when |gradient| <= TOL * |Aᵀb| in the synchronous phase.
    #[arg(long, default_value_t = 1e-12)]
    tol: f64,
    /// Most steps of the synchronous phase.
    #[arg(long, default_value_t = 10_000)]
    max_sync_steps: usize,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let params = async_gd::AsyncGdParams {
        rows: cli.rows,
        cols: cli.cols,
        seed: cli.seed,
        updates: cli.updates,
        tol: cli.tol,
        max_sync_steps: cli.max_sync_steps,
    };
    let result = async_gd::run(&world, &params).map(|summary| {
        for line in summary.lines() {
            println!("{line}");
        }
    });
    patterns::finish(&world, "async-gd", result)
}
