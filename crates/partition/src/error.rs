//! The crate's error type.

/// Everything that can go wrong when building a problem or planning.
///
/// Every variant describes bad input; a valid input never produces an error.
/// Because planning is deterministic, every rank that calls a planner with
/// the same gathered numbers gets the same error, so the facade can return it
/// on every rank without a deadlock.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The problem has no ranks at all (`p == 0`).
    #[error("there must be at least one rank")]
    NoRanks,
    /// A cell weight is NaN, infinite or negative.
    #[error("weight of cell {cell} on rank {rank} is {value}: weights must be finite and >= 0")]
    InvalidWeight {
        /// Owner rank of the cell.
        rank: usize,
        /// Cell index on that rank.
        cell: usize,
        /// The offending value.
        value: f64,
    },
    /// A rank load given to the rank-level planner is NaN, infinite or negative.
    #[error("load of rank {rank} is {value}: loads must be finite and >= 0")]
    InvalidLoad {
        /// The rank.
        rank: usize,
        /// The offending value.
        value: f64,
    },
    /// The total weight overflowed to infinity.
    #[error("the total weight is not finite")]
    TotalOverflow,
    /// A rank -> node map whose length is not the number of ranks.
    #[error("node map has {actual} entries but there are {expected} ranks")]
    NodeMapLength {
        /// Number of ranks.
        expected: usize,
        /// Length of the node map.
        actual: usize,
    },
    /// A node numbering that is not `0..n` in the order of each node's
    /// lowest rank ([`crate::NodeMap::from_nodes`]).
    #[error("rank {rank} is on node {node} before node {next} appeared: nodes must be numbered 0.. in the order of their lowest rank")]
    NodeNumbering {
        /// The first rank out of order.
        rank: usize,
        /// Its node index.
        node: usize,
        /// The next node index expected.
        next: usize,
    },
    /// A per-rank cell count list whose sum does not match the weights given.
    #[error("cell counts add up to {expected} but {actual} weights were given")]
    CountMismatch {
        /// Sum of the counts.
        expected: usize,
        /// Number of weights.
        actual: usize,
    },
    /// A rank index outside `0..ranks`.
    #[error("rank {rank} is out of range for {ranks} ranks")]
    RankOutOfRange {
        /// The rank index.
        rank: usize,
        /// Number of ranks.
        ranks: usize,
    },
    /// A planner parameter out of its documented range.
    #[error("parameter `{name}` = {value} is out of range: {reason}")]
    InvalidParameter {
        /// Name of the field.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What the range is.
        reason: &'static str,
    },
    /// A planner that needs every cell weight of every rank was given only the
    /// rank loads ([`crate::LocalInput::all`] is `None`).
    #[error("this planner needs every cell weight of every rank (LocalInput::all)")]
    MissingWeights,
    /// A plan that does not fit the weights (wrong number of ranks, a cell out
    /// of range, a cell lent twice, a rank lending to itself, imports that do
    /// not mirror exports).
    #[error("plan does not fit the problem: {0}")]
    PlanMismatch(String),
}
