//! Parallel I/O: every rank writes its rows of a distributed array into one `.npy`
//! file collectively (MPI-IO); the file is read back collectively with two
//! different row splits and by rank 0 with a plain read, and checked. Runs with
//! any number of ranks.

use std::path::PathBuf;

use clap::Parser;
use quicklb_examples::patterns::{self, parallel_io};

/// Collective MPI-IO: every rank writes its rows of one array into one .npy file.
///
/// The ROWS x COLS array (element (i, j) = i*COLS + j) is split in row blocks over
/// the ranks; the file is read back collectively with two different row splits and
/// by rank 0 with a plain read, and checked. numpy.load(OUTPUT) gives
/// arange(ROWS*COLS).reshape(ROWS, COLS). Runs with any number of ranks (ranks may
/// hold no rows).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Rows of the global array (split over the ranks).
    #[arg(long, default_value_t = 10)]
    rows: usize,
    /// Columns of the global array.
    #[arg(long, default_value_t = 6)]
    cols: usize,
    /// The file to write (replaced if it exists).
    #[arg(short, long, default_value = "parallel-io.npy")]
    output: PathBuf,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let rank = mpi::traits::Communicator::rank(&world);
    let result = parallel_io::run(&world, &cli.output, cli.rows, cli.cols).map(|summary| {
        if rank == 0 {
            for line in summary.lines() {
                println!("{line}");
            }
        }
    });
    patterns::finish(&world, "parallel-io", result)
}
