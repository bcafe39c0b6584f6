//! Producer–consumer: rank 0 hands out tasks of varying size one at a time;
//! workers probe for messages of any source and tag, compute, reply, and stop on
//! the stop message. Every task is done exactly once (checked). With one rank,
//! rank 0 does the tasks itself.

use clap::Parser;
use quicklb_examples::patterns::{self, producer_consumer};

/// Master/worker task farm with probes for any source and any tag.
///
/// Rank 0 hands out tasks (messages of 2 to 51 integers) one at a time; workers
/// find each message with a matched probe for any source and any tag, size the
/// buffer from the probe, compute, reply, and stop on an empty stop message. Rank 0
/// checks that every task was done exactly once and prints which rank did which.
/// Runs with any number of ranks; with one rank, rank 0 does every task itself.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Number of tasks.
    #[arg(short, long, default_value_t = 20)]
    tasks: usize,
    /// Cost of task t: TASK_MS * (t mod 4) milliseconds of sleep, so that workers
    /// finish at different times.
    #[arg(long, default_value_t = 2)]
    task_ms: u64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let result = producer_consumer::run(&world, cli.tasks, cli.task_ms).map(|summary| {
        for line in summary.lines() {
            println!("{line}");
        }
    });
    patterns::finish(&world, "producer-consumer", result)
}
