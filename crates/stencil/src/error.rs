//! The crate's one error type.

/// Everything that can go wrong in `quicklb-stencil`.
///
/// Input errors (sizes, coefficients) are decided from values every rank has
/// (the global grid size, the number of ranks, the coefficients), so every
/// rank returns the same error without talking to the others.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The grid is smaller than the 3×3 stencil (fewer than `min` rows or
    /// columns; for a halo-padded array, fewer than 3 including the halo).
    #[error("grid of {rows}x{cols} is smaller than the {min}x{min} stencil")]
    GridTooSmall {
        /// Rows of the offending grid.
        rows: usize,
        /// Columns of the offending grid.
        cols: usize,
        /// The smallest allowed number of rows and columns.
        min: usize,
    },
    /// More ranks along an axis than grid rows (or columns) to give them.
    #[error("{ranks} ranks along {axis} but only {cells} {axis} to share")]
    TooManyRanks {
        /// Ranks along the axis.
        ranks: usize,
        /// Cells along the axis.
        cells: usize,
        /// `"rows"` or `"columns"`.
        axis: &'static str,
    },
    /// A coefficient (weight, diffusivity, time step, boundary value) is NaN
    /// or infinite.
    #[error("non-finite {what}: {value}")]
    NonFinite {
        /// Which coefficient.
        what: &'static str,
        /// Its value.
        value: f64,
    },
    /// Two arrays that must agree in shape do not.
    #[error("shape mismatch: {what} is {got:?}, expected {expected:?}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// Its shape.
        got: [usize; 2],
        /// The expected shape.
        expected: [usize; 2],
    },
    /// An array whose rows must be contiguous in memory (row-major, unit
    /// column stride) is not.
    #[error("{what} must be a row-major array with contiguous rows")]
    NotContiguous {
        /// Which array.
        what: &'static str,
    },
    /// The global grid is so large that its halo-padded array
    /// (`(rows + 2) × (cols + 2)` values of `f64`) could not be addressed.
    #[error("grid of {rows}x{cols} is too large: its halo-padded array of f64 does not fit in memory addresses")]
    GridTooLarge {
        /// Rows of the offending grid.
        rows: usize,
        /// Columns of the offending grid.
        cols: usize,
    },
    /// A process grid with an axis of zero ranks, or whose rank count
    /// `dims[0] × dims[1]` overflows.
    #[error("process grid {dims:?} is invalid: every axis needs at least one rank and the rank count must fit in usize")]
    InvalidProcessGrid {
        /// Ranks along rows and along columns.
        dims: [usize; 2],
    },
    /// A rank index outside the process grid it is given for.
    #[error("rank {rank} is out of range: the process grid {dims:?} has ranks 0..{ranks}")]
    RankOutOfRange {
        /// The rank asked for.
        rank: usize,
        /// The process grid.
        dims: [usize; 2],
        /// Ranks in the process grid.
        ranks: usize,
    },
    /// The ranks of one collective halo construction were given different
    /// global setups (grid shape, process grid, boundary, corner flag or
    /// number of fields). Every rank returns this same error.
    #[error("ranks disagree on {what}: every rank must build the halo with the same one")]
    Disagreement {
        /// What differs between ranks.
        what: &'static str,
    },
    /// A decomposition does not match the communicator (wrong number of ranks).
    #[error("decomposition for {expected} ranks used with {got} ranks")]
    RankCount {
        /// Ranks the decomposition was built for.
        expected: usize,
        /// Ranks actually present.
        got: usize,
    },
    /// The decomposition was built for another rank than this one.
    #[error("decomposition for rank {decomposition} used on rank {comm}")]
    WrongRank {
        /// This rank in the communicator.
        comm: usize,
        /// The rank the decomposition describes.
        decomposition: usize,
    },
    /// Another rank rejected its arguments to a collective call; this rank
    /// returns this instead of waiting for it forever.
    #[error("rank {rank} rejected its arguments to a collective halo call")]
    OtherRank {
        /// The (highest) rank that failed.
        rank: usize,
    },
    /// The shared-memory halo path was asked for but the ranks do not all
    /// share one node.
    #[error("shared-memory halo needs all ranks on one node")]
    NotOneNode,
    /// An MPI call failed.
    #[error(transparent)]
    Transport(#[from] quicklb_transport::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
