//! The MPI patterns of the tutorials, each a small demo: the logic lives here so
//! that the binary (`src/bin/<name>.rs`) and its MPI test (`tests/mpi_<name>.rs`)
//! run the same code.
//!
//! | module | binary | what it shows |
//! |---|---|---|
//! | [`ring`] | `ring` | persistent send/receive around a ring of ranks |
//! | [`rma`] | `rma` | one-sided put, accumulate and get under fence, lock, and post/start/complete/wait |
//! | [`async_gd`] | `async-gd` | asynchronous gradient descent through a window on rank 0 (passive locks) |
//! | [`producer_consumer`] | `producer-consumer` | a master hands out tasks of any size; workers probe for any tag |
//! | [`array_add`] | `array-add` | A + B scattered and gathered with varying counts |
//! | [`parallel_io`] | `parallel-io` | collective `.npy` write of a row-distributed array, read back and checked |
//!
//! Every `run` is collective over the communicator it is given and returns a
//! summary; rank 0's summary carries the gathered, printable result.

pub mod array_add;
pub mod async_gd;
pub mod parallel_io;
pub mod producer_consumer;
pub mod ring;
pub mod rma;

/// Errors of the pattern demos.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call of quicklb-transport failed.
    #[error(transparent)]
    Transport(#[from] quicklb_transport::Error),
    /// A collective call of quicklb-transport that agrees on errors failed on every
    /// rank (e.g. an unwritable path for the `.npy` file).
    #[error("{0}")]
    Collective(quicklb_transport::Error),
    /// A parameter the demo cannot work with (same on every rank).
    #[error("invalid parameter: {0}")]
    Invalid(String),
    /// A result did not check out (a bug, or a broken MPI library).
    #[error("check failed: {0}")]
    Check(String),
}

/// Result of the pattern demos.
pub type Result<T> = std::result::Result<T, Error>;

/// Ends a demo binary: `Ok` prints nothing more and exits 0. An
/// [`Error::Invalid`] (a bad parameter, detected identically on every rank) is
/// printed by rank 0 and exits with code 2 on every rank; an [`Error::Collective`]
/// likewise, with code 1. Any other error may be
/// local to one rank while the others wait in a collective, so it is printed and
/// the whole job is aborted (`MPI_Abort`, code 1).
pub fn finish<C: mpi::topology::Communicator>(
    comm: &C,
    demo: &str,
    result: Result<()>,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e @ Error::Invalid(_)) => {
            if comm.rank() == 0 {
                eprintln!("{demo}: {e}");
            }
            std::process::ExitCode::from(2)
        }
        Err(e @ Error::Collective(_)) => {
            if comm.rank() == 0 {
                eprintln!("{demo}: {e}");
            }
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{demo}: rank {}: {e}", comm.rank());
            comm.abort(1)
        }
    }
}

/// SplitMix64: a tiny, seeded, platform-independent generator, so that every rank
/// can produce its part of the demos' data (e.g. row `i` of a matrix) without
/// communication and the same data comes out for any number of ranks.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for stream `stream` of seed `seed` (e.g. one stream per row).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut g = SplitMix64(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        g.next_u64();
        g
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[-1, 1)`.
    pub fn uniform(&mut self) -> f64 {
        // 53 random bits scaled to [0, 1), then mapped to [-1, 1).
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        2.0 * unit - 1.0
    }
}

/// The contiguous block `(first, count)` of `n` items that rank `rank` of `size`
/// holds when the items are split as evenly as possible: the first `n % size` ranks
/// get one more. Counts may be 0 when `n < size`.
pub fn even_block(n: usize, rank: usize, size: usize) -> (usize, usize) {
    // The workspace's one block split, from quicklb-partition.
    let block = quicklb::partition::even_block(n, size, rank);
    (block.start, block.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_blocks_tile_the_range() {
        for n in 0..20 {
            for size in 1..6 {
                let mut next = 0;
                for r in 0..size {
                    let (first, count) = even_block(n, r, size);
                    assert_eq!(first, next);
                    next += count;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let a: Vec<f64> = (0..100).map(|_| SplitMix64::new(7, 3).uniform()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut g = SplitMix64::new(7, 3);
        let v: Vec<f64> = (0..1000).map(|_| g.uniform()).collect();
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.1, "mean {mean}");
        assert_ne!(
            SplitMix64::new(7, 3).next_u64(),
            SplitMix64::new(7, 4).next_u64()
        );
    }
}
