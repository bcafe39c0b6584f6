//! The flame demo's one error type.

/// Everything that can go wrong in the flame demo. Input errors are found
/// before the run and agreed by every rank ([`crate::flame::agree`]), so every
/// rank returns one and exits.
#[derive(Debug, thiserror::Error)]
pub enum FlameError {
    /// A size, rank count, number or option the demo cannot run with.
    #[error("{0}")]
    InvalidArgument(String),
    /// The mechanism file or the mixture (unknown species, not a mechanism).
    #[error("{0}")]
    Kinetics(#[from] quicklb_kinetics::Error),
    /// An input error found on another rank (its message is printed there).
    #[error("rank {rank} rejected the input: {message}")]
    OtherRank {
        /// Lowest rank that failed.
        rank: usize,
        /// Its message, as far as this rank knows it.
        message: String,
    },
    /// Decomposition, halo or kernel error.
    #[error("stencil: {0}")]
    Stencil(#[from] quicklb_stencil::Error),
    /// Shared memory, MPI-IO.
    #[error("transport: {0}")]
    Transport(#[from] quicklb_transport::Error),
    /// The load balancer.
    #[error("load balancer: {0}")]
    Balancer(#[from] quicklb::Error),
    /// The reactor failed on a cell (reported on every rank; `detail` is the
    /// failing rank's error on that rank).
    #[error("chemistry failed at step {step} on rank {rank}{detail}")]
    Chemistry {
        /// The step.
        step: usize,
        /// Lowest rank on which a cell failed.
        rank: usize,
        /// `": <error>"` on the failing rank, empty elsewhere.
        detail: String,
    },
    /// Writing an output file.
    #[error("{0}")]
    Io(String),
}

impl FlameError {
    /// Whether this is an input error (found before the run, the same on
    /// every rank): the binary prints it once and exits with status 2.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            FlameError::InvalidArgument(_) | FlameError::Kinetics(_) | FlameError::OtherRank { .. }
        )
    }
}

/// Result of the flame demo's functions.
pub type Result<T, E = FlameError> = std::result::Result<T, E>;
