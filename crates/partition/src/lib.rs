//! Load-balancing planners for uneven MPI workloads, pure and MPI-free.
//!
//! `p` ranks; rank `r` owns cells with weights `w[r][i] >= 0`. Cells never
//! change owner: a planner decides which cells each rank *lends* to which
//! helper rank. A rank's load is its own weight minus its exports plus its
//! imports; quality is `max load / average`, bounded below by
//! `max(w_max, W / p)`. Every function here is deterministic (fixed summation
//! order, ties broken by rank then cell index), so every rank computes the
//! same plan from the same gathered numbers.
//!
//! # Planners and the data they need
//!
//! | planner | needs on every rank | bound |
//! |---|---|---|
//! | [`Transfer`] (default) | the `p` rank loads (one allgather), plus each rank's **own** weights locally | `max load <= W/p + w_max` |
//! | [`Greedy`] | all cell weights (QUICKLB ships them around a ring) | none |
//! | [`Sort`] | all cell weights (QUICKLB sends them to the partner) | none |
//! | [`Sort2`] | all cell weights and the node map | none |
//! | [`DlbFoam`] (DLBFoam's) | the `p` rank loads (one allgather), plus each sender's **own** weights | no rank above its own load or the mean, whichever is higher |
//!
//! All implement [`DistributedPlanner`]: one rank's own weights and the
//! gathered rank loads (plus every cell weight, for QUICKLB's planners) in,
//! that rank's [`LocalPlan`] (cells lent, with their helper; owners it
//! borrows from) out. This is what the facade runs on every rank;
//! [`plan_all`] runs it for every rank of a whole [`Problem`] in one process.
//! All also implement [`Planner`], which takes a whole [`Problem`] and returns
//! a whole [`Plan`] (the same plans; use it when all weights are at hand:
//! tests, benchmarks, small jobs). A planner written only against [`Planner`]
//! becomes a [`DistributedPlanner`] as [`WholeProblem`]`(planner)`.
//! [`Metrics`] scores a plan.
//!
//! [`ReplanPolicy`] decides *when* to plan again ([`Replan`]: by hand, every
//! `n` steps, or automatically from the measured imbalance and the measured
//! cost of a plan), from [`StepFigures`] every rank agrees on.
//!
//! # Using [`Transfer`] at scale (the facade's recipe)
//!
//! 1. Each rank computes `rank_load(my_weights)` ([`rank_load`]) and the ranks
//!    allgather the `p` loads.
//! 2. Every rank calls [`Transfer::transfers`]`(&loads, nodes, previous)` and
//!    gets the same [`Transfers`]: moves `(sender, helper, amount)`.
//! 3. A sender calls [`Transfer::select_exports`] on its own weights to pick
//!    which cells go to which helper.
//! 4. A helper knows its senders from [`Transfers::incoming`], but not how
//!    many cells each sends: each sender sends each of its helpers the number
//!    of cells of that pair (one integer per pair) before the cell data.
//!
//! For re-planning, pass the previous [`Transfers`] (every rank has them) and
//! the rank's previous exports; unchanged weights then move nothing.
//!
//! ```
//! use quicklb_partition::{rank_load, Metrics, Planner, Problem, Transfer, Weights};
//!
//! let mine: Vec<Vec<f64>> = vec![vec![2.0; 50], vec![1.0; 10], vec![0.5; 40]];
//!
//! // Whole-problem API.
//! let weights = Weights::from_ranks(&mine).unwrap();
//! let plan = Transfer::default().plan(&Problem::new(weights.clone())).unwrap();
//! let m = Metrics::compute(&weights, &plan).unwrap();
//! assert!(m.max_load <= m.average + weights.max_cell());
//!
//! // The same plan, the way the facade computes it on each rank.
//! let loads: Vec<f64> = mine.iter().map(|w| rank_load(w)).collect(); // allgather
//! let planner = Transfer::default();
//! let t = planner.transfers(&loads, None, None).unwrap();
//! for r in 0..3 {
//!     let exports = planner.select_exports(r, &mine[r], &t, None).unwrap();
//!     assert_eq!(exports, plan.exports(r));
//! }
//! ```

mod dlbfoam;
mod error;
mod local;
mod model;
pub mod quicklb;
mod replan;
mod split;
mod transfer;

pub use dlbfoam::{DlbFoam, Operation};
pub use error::Error;
pub use local::{
    plan_all, Borrow, Borrows, DistributedPlanner, LocalInput, LocalPlan, WholeProblem,
};
pub use model::{
    check_weights, rank_load, Export, Import, Metrics, NodeMap, Plan, Planner, Problem, Weights,
};
pub use quicklb::{Greedy, Sort, Sort2, StopRule};
pub use replan::{
    AutoReplan, Decision, KeepReason, Replan, ReplanPolicy, ReplanReason, StepFigures,
};
pub use split::{even_block, even_block_owner};
pub use transfer::{Move, Transfer, Transfers};

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
