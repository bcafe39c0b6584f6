//! DLBFoam's planner: [`DlbFoam`], the chemistry load balancing of
//! DLBFoam (Tekgül et al., "DLBFoam: An open-source dynamic load balancing
//! model for fast reacting flow simulations in OpenFOAM", Computer Physics
//! Communications 267, 2021), so its users can compare it with the others.

use crate::local::{Borrows, DistributedPlanner, LocalInput, LocalPlan};
use crate::model::{check_weights, Export, Plan, Planner, Problem};
use crate::Error;

/// One rank-level operation of [`DlbFoam`]: `sender` lends cells worth at
/// most `amount` to `receiver`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Operation {
    /// The rank that lends (its load is above the mean).
    pub sender: usize,
    /// The rank that computes the lent cells (its load is below the mean).
    pub receiver: usize,
    /// The weight to lend, `min(surplus, deficit)` when it was created.
    pub amount: f64,
}

/// DLBFoam's planner: from the `p` rank loads alone (one all-gather), the
/// most loaded rank sends to the least loaded one, and each sender lends a
/// prefix of its cells.
///
/// # Algorithm
///
/// 1. *Rank level* ([`DlbFoam::operations`], the same on every rank). With
///    the mean load `A = W / p`, the ranks above `A` (senders) are sorted by
///    load, most loaded first, and those below (receivers) least loaded
///    first; ties go to the lower rank. The current sender sends the current
///    receiver `min(surplus, deficit)`; whichever of the two reaches `A`
///    gives way to the next one. So every rank is a sender or a receiver,
///    never both, and there are at most `senders + receivers - 1`
///    operations. Operations of at most `min_fraction × A` (1 % by
///    default, as in DLBFoam) are then dropped: their imbalance stays.
/// 2. *Cell level* ([`DlbFoam::select_exports`], each sender on its own
///    weights). The sender cuts a prefix of its cells into consecutive
///    runs, one per operation in creation order: a run grows while its sum
///    stays within the operation's amount, and the next run starts at the
///    cell that did not fit. An operation never receives more than its
///    amount, so a receiver never ends above `A`; what a sender lends is a
///    prefix of its cells, as DLBFoam sends the first problems of its list.
///
/// A sender ends at or below its own load and a receiver at or below `A`,
/// so no rank ends above the unbalanced maximum. Unlike [`crate::Transfer`]
/// nothing bounds what a sender keeps above `A`: each run can fall short of
/// its amount by up to one cell, and operations of 1 % or less are dropped.
///
/// # Data needed
///
/// The `p` rank loads on every rank (computed with [`crate::rank_load`]),
/// and each sender's own weights. A receiver knows its senders from the
/// operations; the number of cells of each pair is only known to the sender.
///
/// ```
/// use quicklb_partition::{rank_load, DlbFoam, Metrics, Planner, Problem, Weights};
///
/// // Rank 0 burns (cells 10x heavier), ranks 1 and 2 are cold.
/// let mine: Vec<Vec<f64>> = vec![vec![10.0; 30], vec![1.0; 30], vec![1.0; 30]];
/// let weights = Weights::from_ranks(&mine)?;
/// let plan = DlbFoam::default().plan(&Problem::new(weights.clone()))?;
/// let m = Metrics::compute(&weights, &plan)?;
/// assert!(m.imbalance < 1.1); // from 2.5
/// assert!(plan.exports(0).iter().enumerate().all(|(i, e)| e.cell == i)); // a prefix
///
/// // The same plan, the way each rank computes it: one all-gather of loads.
/// let loads: Vec<f64> = mine.iter().map(|w| rank_load(w)).collect();
/// let planner = DlbFoam::default();
/// let ops = planner.operations(&loads)?;
/// assert_eq!((ops[0].sender, ops[0].receiver), (0, 1));
/// for (r, w) in mine.iter().enumerate() {
///     assert_eq!(planner.select_exports(r, w, &ops)?, plan.exports(r));
/// }
/// # Ok::<(), quicklb_partition::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DlbFoam {
    /// Operations whose amount is at most `min_fraction` times the mean load
    /// are dropped. Finite, in `[0, 1)`. Default `0.01` (DLBFoam's 1 %).
    pub min_fraction: f64,
}

impl Default for DlbFoam {
    fn default() -> Self {
        DlbFoam { min_fraction: 0.01 }
    }
}

impl DlbFoam {
    fn check(&self) -> Result<(), Error> {
        let f = self.min_fraction;
        if !(f.is_finite() && (0.0..1.0).contains(&f)) {
            return Err(Error::InvalidParameter {
                name: "min_fraction",
                value: f,
                reason: "must be finite, >= 0 and < 1",
            });
        }
        Ok(())
    }

    /// The rank-level operations from the `p` rank loads, in creation order
    /// (most loaded sender first). Pure: every rank gets the same operations
    /// from the same gathered loads.
    ///
    /// Errors: [`Error::NoRanks`] for no loads, [`Error::InvalidLoad`] for a
    /// NaN, infinite or negative load, [`Error::TotalOverflow`],
    /// [`Error::InvalidParameter`] for a bad `min_fraction`.
    ///
    /// ```
    /// use quicklb_partition::DlbFoam;
    /// let ops = DlbFoam::default().operations(&[9.0, 1.0, 3.0, 7.0]).unwrap();
    /// // mean 5: rank 0 (+4) sends to rank 1 (-4), rank 3 (+2) to rank 2 (-2)
    /// let pairs: Vec<_> = ops.iter().map(|o| (o.sender, o.receiver, o.amount)).collect();
    /// assert_eq!(pairs, [(0, 1, 4.0), (3, 2, 2.0)]);
    /// // an operation under 1 % of the mean is dropped
    /// assert!(DlbFoam::default().operations(&[100.5, 99.5]).unwrap().is_empty());
    /// ```
    pub fn operations(&self, loads: &[f64]) -> Result<Vec<Operation>, Error> {
        self.check()?;
        if loads.is_empty() {
            return Err(Error::NoRanks);
        }
        for (rank, &value) in loads.iter().enumerate() {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::InvalidLoad { rank, value });
            }
        }
        let mut total = 0.0;
        for &l in loads {
            total += l;
        }
        if !total.is_finite() {
            return Err(Error::TotalOverflow);
        }
        let mean = total / loads.len() as f64;
        let mut senders: Vec<usize> = (0..loads.len()).filter(|&r| loads[r] > mean).collect();
        let mut receivers: Vec<usize> = (0..loads.len()).filter(|&r| loads[r] < mean).collect();
        // Most loaded sender first, least loaded receiver first; ties by rank.
        senders.sort_by(|&a, &b| loads[b].total_cmp(&loads[a]).then(a.cmp(&b)));
        receivers.sort_by(|&a, &b| loads[a].total_cmp(&loads[b]).then(a.cmp(&b)));
        let mut surplus: Vec<f64> = senders.iter().map(|&r| loads[r] - mean).collect();
        let mut deficit: Vec<f64> = receivers.iter().map(|&r| mean - loads[r]).collect();
        let threshold = self.min_fraction * mean;
        let mut ops = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < senders.len() && j < receivers.len() {
            let amount = surplus[i].min(deficit[j]);
            surplus[i] -= amount;
            deficit[j] -= amount;
            if amount > 0.0 && amount > threshold {
                ops.push(Operation {
                    sender: senders[i],
                    receiver: receivers[j],
                    amount,
                });
            }
            // `amount` is the smaller side, which is now exactly 0 (both
            // when they were equal), so a pointer moves every round.
            if surplus[i] <= 0.0 {
                i += 1;
            }
            if deficit[j] <= 0.0 {
                j += 1;
            }
        }
        Ok(ops)
    }

    /// The cells `rank` lends under `ops`, from its own weights: a prefix of
    /// its cells, cut in consecutive runs, one per operation in creation
    /// order; each run is as long as its running sum stays within the
    /// operation's amount, and the next run starts at the cell that did not
    /// fit (DLBFoam's `timesToProblemCounts`). Empty for a receiver. Pure:
    /// the per-rank half of [`Planner::plan`].
    ///
    /// Errors: [`Error::InvalidWeight`] for a NaN, infinite or negative weight.
    pub fn select_exports(
        &self,
        rank: usize,
        weights: &[f64],
        ops: &[Operation],
    ) -> Result<Vec<Export>, Error> {
        check_weights(rank, weights)?;
        let mut exports = Vec::new();
        let mut next = 0;
        for op in ops.iter().filter(|o| o.sender == rank) {
            // DLBFoam's count_while: the run continues while the running sum
            // stays within the amount; the next operation starts where this
            // one stopped.
            let mut sum = 0.0;
            while let Some(&w) = weights.get(next) {
                sum += w;
                if sum > op.amount {
                    break;
                }
                exports.push(Export {
                    cell: next,
                    helper: op.receiver,
                });
                next += 1;
            }
        }
        Ok(exports)
    }
}

impl Planner for DlbFoam {
    fn plan(&self, problem: &Problem) -> Result<Plan, Error> {
        let w = problem.weights();
        let loads = w.rank_loads();
        let ops = self.operations(&loads)?;
        let mut exports = vec![Vec::new(); w.num_ranks()];
        for op in &ops {
            if exports[op.sender].is_empty() {
                exports[op.sender] = self.select_exports(op.sender, w.rank(op.sender), &ops)?;
            }
        }
        Ok(Plan::from_exports(exports))
    }

    fn name(&self) -> &'static str {
        "DLBFoam"
    }
}

/// DLBFoam as every rank runs it in an MPI job: the operations from the gathered
/// rank loads alone (no cell weights travel), then a sender's own prefix of cells.
/// A receiver knows its senders but not how many cells each lends, so it asks them
/// ([`Borrows::Ask`]).
impl DistributedPlanner for DlbFoam {
    fn check(&self) -> Result<(), Error> {
        DlbFoam::check(self)
    }

    fn needs_all_weights(&self) -> bool {
        false
    }

    fn plan_rank(&self, input: &LocalInput<'_>) -> Result<LocalPlan, Error> {
        let p = input.loads.len();
        if input.rank >= p {
            return Err(Error::RankOutOfRange {
                rank: input.rank,
                ranks: p,
            });
        }
        let ops = self.operations(input.loads)?;
        let exports = self.select_exports(input.rank, input.own, &ops)?;
        let mut senders: Vec<usize> = ops
            .iter()
            .filter(|o| o.receiver == input.rank)
            .map(|o| o.sender)
            .collect();
        senders.sort_unstable();
        senders.dedup();
        let receivers: Vec<usize> = ops
            .iter()
            .filter(|o| o.sender == input.rank)
            .map(|o| o.receiver)
            .collect();
        Ok(LocalPlan::new(exports, Borrows::Ask(senders)).with_told(receivers))
    }

    fn name(&self) -> &'static str {
        "DLBFoam"
    }
}
