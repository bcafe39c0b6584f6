//! The distributed planner: what one rank decides from the numbers it has.
//!
//! Every rank of an MPI job calls [`DistributedPlanner::plan_rank`] with its own
//! cell weights and the gathered rank loads (plus, for planners that say they
//! need them, every cell weight of every rank) and gets its [`LocalPlan`]: the
//! cells it lends, with their helper, and the ranks it borrows from. Whole-problem
//! planning ([`plan_all`]) is the same call made for every rank in one process.

use crate::model::{Export, NodeMap, Plan, Planner, Problem, Weights};
use crate::transfer::Transfers;
use crate::Error;

/// What one rank knows when it plans.
#[derive(Debug, Clone, Copy)]
pub struct LocalInput<'a> {
    /// This rank.
    pub rank: usize,
    /// This rank's cell weights, in cell order.
    pub own: &'a [f64],
    /// Every rank's load ([`crate::rank_load`] of its weights), gathered.
    pub loads: &'a [f64],
    /// Every cell weight of every rank, gathered: `Some` exactly when the
    /// planner's [`DistributedPlanner::needs_all_weights`] is true.
    pub all: Option<&'a Weights>,
    /// The node of every rank, if known.
    pub nodes: Option<&'a NodeMap>,
    /// This rank's plan in use, for planners that warm-start from it.
    pub previous: Option<&'a LocalPlan>,
}

/// The cells a rank computes for one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Borrow {
    /// The rank that owns the cells.
    pub owner: usize,
    /// How many of its cells this rank computes.
    pub cells: usize,
}

/// What a rank borrows, as far as its planner can tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Borrows {
    /// The owners and their cell counts (sorted by owner, counts > 0).
    Known(Vec<Borrow>),
    /// Only the owners that may lend to this rank (sorted): how many cells each
    /// lends is known to the owner alone ([`LocalPlan::lent_to`]), so the caller
    /// asks them (one small message per pair in the facade; [`plan_all`] looks
    /// them up in the owners' plans).
    Ask(Vec<usize>),
}

/// One rank's part of a plan: the cells it lends and what it borrows.
///
/// ```
/// use quicklb_partition::{DistributedPlanner, LocalInput, Transfer};
/// let own = [5.0, 1.0, 2.0, 4.0];
/// let loads = [12.0, 0.0];
/// let input = LocalInput { rank: 0, own: &own, loads: &loads, all: None, nodes: None, previous: None };
/// let plan = Transfer::default().plan_rank(&input).unwrap();
/// assert_eq!(plan.lent_to(), vec![(1, 2)]); // cells 0 and 1 (weight 6) go to rank 1
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPlan {
    exports: Vec<Export>,
    borrows: Borrows,
    told: Vec<usize>,
    transfers: Option<Transfers>,
}

impl LocalPlan {
    /// The plan that lends and borrows nothing.
    pub fn empty() -> Self {
        LocalPlan {
            exports: Vec::new(),
            borrows: Borrows::Known(Vec::new()),
            told: Vec::new(),
            transfers: None,
        }
    }

    /// A plan from its exports (any order; sorted here) and borrows.
    pub fn new(mut exports: Vec<Export>, borrows: Borrows) -> Self {
        if !exports.is_sorted() {
            exports.sort_unstable();
        }
        LocalPlan {
            exports,
            borrows,
            told: Vec::new(),
            transfers: None,
        }
    }

    /// Records the helpers that list this rank in their [`Borrows::Ask`]:
    /// each expects a count from it, even a count of 0.
    pub fn with_told(mut self, mut helpers: Vec<usize>) -> Self {
        helpers.sort_unstable();
        helpers.dedup();
        self.told = helpers;
        self
    }

    /// The helpers that expect a count from this rank (see [`Borrows::Ask`]).
    pub fn told(&self) -> &[usize] {
        &self.told
    }

    /// Attaches the rank-level transfers it was made from (Transfer planner).
    pub fn with_transfers(mut self, transfers: Transfers) -> Self {
        self.transfers = Some(transfers);
        self
    }

    /// The cells lent, sorted by cell index.
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// The cells lent, sorted by cell index, without a copy.
    pub fn into_exports(self) -> Vec<Export> {
        self.exports
    }

    /// What this rank borrows.
    pub fn borrows(&self) -> &Borrows {
        &self.borrows
    }

    /// The rank-level transfers, if the plan came from [`crate::Transfer`].
    pub fn transfers(&self) -> Option<&Transfers> {
        self.transfers.as_ref()
    }

    /// Number of cells lent to each helper, `(helper, cells)` sorted by helper.
    /// `O(e log e)` for `e` exports.
    pub fn lent_to(&self) -> Vec<(usize, usize)> {
        let mut helpers: Vec<usize> = self.exports.iter().map(|e| e.helper).collect();
        helpers.sort_unstable();
        let mut out: Vec<(usize, usize)> = Vec::new();
        for h in helpers {
            match out.last_mut() {
                Some((last, n)) if *last == h => *n += 1,
                _ => out.push((h, 1)),
            }
        }
        out
    }

    /// Replaces `Borrows::Ask` by the counts the owners answered.
    pub fn set_borrows(&mut self, borrows: Vec<Borrow>) {
        self.borrows = Borrows::Known(borrows);
    }
}

/// A planner every rank runs on its own numbers (see the [module docs](self)).
///
/// Implemented by [`crate::Transfer`] (needs only the rank loads),
/// [`crate::Greedy`], [`crate::Sort`] and [`crate::Sort2`] (need all cell
/// weights), and, through [`WholeProblem`], by any whole-problem [`Planner`].
/// `Debug` is required because its text identifies the planner and its
/// parameters: ranks compare a digest of it to detect that they were configured
/// differently.
pub trait DistributedPlanner: std::fmt::Debug {
    /// Checks the parameters (the facade calls it when it is built, on every
    /// rank, so a bad value is an error even where the planner would not run).
    fn check(&self) -> Result<(), Error>;

    /// Whether [`LocalInput::all`] must hold every cell weight of every rank.
    fn needs_all_weights(&self) -> bool;

    /// This rank's plan. Deterministic: every rank given the same gathered
    /// numbers makes decisions that fit together.
    fn plan_rank(&self, input: &LocalInput<'_>) -> Result<LocalPlan, Error>;

    /// A short name for tables and logs.
    fn name(&self) -> &'static str;
}

/// A whole-problem [`Planner`] used as a [`DistributedPlanner`]: every rank
/// gets all cell weights, plans the whole problem and keeps its own part.
///
/// ```
/// use quicklb_partition::{plan_all, Greedy, Planner, Problem, Weights, WholeProblem};
/// let pb = Problem::new(Weights::from_ranks([vec![1.0; 6], vec![1.0; 2]]).unwrap());
/// let whole = Greedy::default().plan(&pb).unwrap();
/// assert_eq!(plan_all(&WholeProblem(Greedy::default()), &pb, None).unwrap(), whole);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WholeProblem<P>(pub P);

impl<P: Planner + std::fmt::Debug> DistributedPlanner for WholeProblem<P> {
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }

    fn needs_all_weights(&self) -> bool {
        true
    }

    fn plan_rank(&self, input: &LocalInput<'_>) -> Result<LocalPlan, Error> {
        plan_rank_from_whole(&self.0, input)
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// Runs a whole-problem planner on the gathered weights and keeps `input.rank`'s
/// part (exports and borrow counts).
pub(crate) fn plan_rank_from_whole(
    planner: &impl Planner,
    input: &LocalInput<'_>,
) -> Result<LocalPlan, Error> {
    let all = input.all.ok_or(Error::MissingWeights)?;
    if input.rank >= all.num_ranks() {
        return Err(Error::RankOutOfRange {
            rank: input.rank,
            ranks: all.num_ranks(),
        });
    }
    let mut problem = Problem::new(all.clone());
    if let Some(n) = input.nodes {
        problem = problem.with_nodes(n.clone())?;
    }
    let plan = planner.plan(&problem)?;
    let mut borrows: Vec<Borrow> = Vec::new();
    for im in plan.imports(input.rank) {
        match borrows.last_mut() {
            Some(b) if b.owner == im.owner => b.cells += 1,
            _ => borrows.push(Borrow {
                owner: im.owner,
                cells: 1,
            }),
        }
    }
    Ok(LocalPlan::new(
        plan.exports(input.rank).to_vec(),
        Borrows::Known(borrows),
    ))
}

/// Whole-problem planning with a [`DistributedPlanner`]: `plan_rank` for every
/// rank of `problem` (with all weights when the planner needs them), the
/// borrow counts of [`Borrows::Ask`] resolved from the owners' plans.
/// `previous` is the plan in use, for warm starts (its exports become each
/// rank's [`LocalInput::previous`]).
///
/// ```
/// use quicklb_partition::{plan_all, Planner, Problem, Transfer, Weights};
/// let pb = Problem::new(Weights::from_ranks([vec![2.0; 50], vec![1.0; 10], vec![]]).unwrap());
/// assert_eq!(plan_all(&Transfer::default(), &pb, None).unwrap(), Transfer::default().plan(&pb).unwrap());
/// ```
pub fn plan_all(
    planner: &dyn DistributedPlanner,
    problem: &Problem,
    previous: Option<&Plan>,
) -> Result<Plan, Error> {
    planner.check()?;
    let w = problem.weights();
    let p = w.num_ranks();
    Plan::check_previous(previous, p)?;
    let loads = w.rank_loads();
    let all = planner.needs_all_weights().then_some(w);
    let mut transfers = None;
    let mut exports = Vec::with_capacity(p);
    let mut known = Vec::new();
    for rank in 0..p {
        let prev_local = previous.map(|pl| {
            let mut l = LocalPlan::new(pl.exports(rank).to_vec(), Borrows::Ask(Vec::new()));
            l.transfers = pl.transfers().cloned();
            l
        });
        let local = planner.plan_rank(&LocalInput {
            rank,
            own: w.rank(rank),
            loads: &loads,
            all,
            nodes: problem.nodes(),
            previous: prev_local.as_ref(),
        })?;
        if transfers.is_none() {
            transfers = local.transfers.clone();
        }
        if let Borrows::Known(b) = local.borrows {
            known.push((rank, b));
        }
        exports.push(local.exports);
    }
    let plan = Plan::from_exports(exports);
    // A planner that states its borrows must agree with the owners' exports.
    for (rank, borrows) in known {
        let mut counted: Vec<Borrow> = Vec::new();
        for im in plan.imports(rank) {
            match counted.last_mut() {
                Some(b) if b.owner == im.owner => b.cells += 1,
                _ => counted.push(Borrow {
                    owner: im.owner,
                    cells: 1,
                }),
            }
        }
        if counted != borrows {
            return Err(Error::PlanMismatch(format!(
                "rank {rank} expects to borrow {borrows:?} but its owners lend it {counted:?}"
            )));
        }
    }
    Ok(match transfers {
        Some(t) => plan.with_transfers(t),
        None => plan,
    })
}
