//! The crate's error type.

/// Everything that can go wrong in a [`LoadBalancer`](crate::LoadBalancer).
///
/// Errors of collective calls ([`build`](crate::Builder::build),
/// [`partition`](crate::LoadBalancer::partition),
/// [`iterate`](crate::LoadBalancer::iterate), [`report`](crate::LoadBalancer::report))
/// are agreed on by all ranks: every rank returns the same error, so no rank is
/// left waiting for another that gave up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The planner rejected its input (see [`quicklb_partition::Error`]).
    #[error(transparent)]
    Partition(#[from] quicklb_partition::Error),
    /// An MPI operation of the transport layer failed.
    #[error(transparent)]
    Transport(#[from] quicklb_transport::Error),
    /// Ranks disagree on the size of a cell (`size_of::<T>()`): some rank built
    /// its balancer with another cell type.
    #[error("rank {rank} has cells of {bytes} bytes but rank 0 has cells of {expected} bytes")]
    CellSize {
        /// The first rank whose cell size differs from rank 0's.
        rank: usize,
        /// Its cell size in bytes.
        bytes: usize,
        /// Rank 0's cell size in bytes.
        expected: usize,
    },
    /// A cell weight (given by the user or estimated by a cost function) is
    /// NaN, infinite or negative.
    #[error("weight of cell {cell} on rank {rank} is {value}: weights must be finite and >= 0")]
    InvalidWeight {
        /// The first rank with a bad weight.
        rank: usize,
        /// The first bad cell on that rank.
        cell: usize,
        /// The bad value.
        value: f64,
    },
    /// `iterate` was given a different number of cells than the balancer was
    /// built for.
    #[error("rank {rank} was built for {expected} cells but iterate() got {actual}")]
    CellCount {
        /// The first rank with a wrong count.
        rank: usize,
        /// The number of cells declared at construction.
        expected: usize,
        /// The number of cells passed to `iterate`.
        actual: usize,
    },
    /// A local call got a slice of the wrong length (not collective: only the
    /// calling rank sees it, and no communication took place).
    #[error("expected {expected} values (one per local cell), got {actual}")]
    Length {
        /// The number of local cells.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// An option is invalid on some rank (reported on every rank at
    /// [`build`](crate::Builder::build)); no value is clamped or ignored.
    #[error("rank {rank}: invalid configuration: {reason}")]
    Config {
        /// The first rank with an invalid option.
        rank: usize,
        /// What is wrong.
        reason: String,
    },
    /// Ranks were built with different configurations (algorithm, its
    /// parameters, node map or options), which would make them take different
    /// collective paths.
    #[error("rank {rank} was built with another {what} than rank 0")]
    ConfigMismatch {
        /// The first rank that differs from rank 0.
        rank: usize,
        /// What differs.
        what: &'static str,
    },
    /// Something failed on one rank while building the plan's messages (e.g. a
    /// message above the MPI count limit); every rank returns it.
    #[error("rank {rank}: {message}")]
    OnRank {
        /// The first rank where it failed.
        rank: usize,
        /// Its error text.
        message: String,
    },
    /// `compute` panicked on a rank whose balancer does not abort on panics
    /// ([`Builder::abort_on_panic`](crate::Builder::abort_on_panic)`(false)`):
    /// that rank returns it from `iterate`, every rank at the next collective.
    #[error("compute panicked on rank {rank}: {message}")]
    ComputePanicked {
        /// The rank where it panicked.
        rank: usize,
        /// The panic message.
        message: String,
    },
    /// More cells in total than one MPI gather can address (`2^31 - 1`), for a
    /// planner or report that gathers every cell weight.
    #[error("{total} cells in total: gathering every cell weight is limited to 2^31 - 1 cells (use Algorithm::Transfer, which gathers only the rank loads)")]
    TooManyCells {
        /// Total number of cells over all ranks.
        total: u64,
    },
    /// Writing a report file failed (on rank 0; every rank returns it).
    #[error("could not write the report: {0}")]
    Io(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
