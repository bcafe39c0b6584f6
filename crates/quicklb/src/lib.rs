//! Load balancing for uneven MPI workloads (the QUICKLB model, in Rust).
//!
//! A rank whose cells are expensive *lends* some of them to a less busy rank for
//! the heavy, per-cell part of a step (chemistry, a per-cell ODE, a particle
//! update), gets the results back, and keeps its own domain for everything else.
//! Cells never change owner and the user's data layout never changes.
//!
//! | item | what |
//! |---|---|
//! | [`LoadBalancer`] | the balancer: [`partition`](LoadBalancer::partition) (plan, build buffers and persistent requests), [`iterate`](LoadBalancer::iterate) (one step, every cell exactly once, costs measured), [`report`](LoadBalancer::report) |
//! | [`Builder`] | construction: algorithm, QUICKLB's `max_abs_li` / `max_rel_li` / `max_it`, initial weights, node map |
//! | [`Replan`], [`ReplanStats`] | when `iterate` re-plans by itself: `Manual` (default: you call `partition`), `Every(n)`, `Auto` (measured imbalance against the measured cost of a plan); what it did |
//! | [`Dynamic`] | sharing of what is still uneven after the planned loans while the step runs: `Off` (default) or `OnNode` (chunks claimed by atomics in node shared memory) |
//! | [`Algorithm`] | [`Transfer`] (default), QUICKLB's [`Greedy`], [`Sort`], [`Sort2`], or `Off` |
//! | [`CellStore`], [`Fields`] | where cells live: a slice of `Pod` cells, or separate fields indexed by one cell id |
//! | [`Report`] | per-rank loads, imbalance before/after, lower bound and gap, cells and bytes lent, planning and waiting time |
//! | [`Error`] | collective errors (every rank returns the same one) |
//!
//! The planners are [`quicklb_partition`]'s, the messages
//! [`quicklb_transport`]'s persistent requests; both crates are re-exported.
//!
//! ```no_run
//! use mpi::traits::*;
//! use quicklb::{Algorithm, LoadBalancer};
//!
//! let universe = mpi::initialize().unwrap();
//! let world = universe.world();
//! // Rank 0 has expensive cells.
//! let n = 100;
//! let mut cells = vec![[0.0f64, 1.0]; n];
//! let work = if world.rank() == 0 { 4000 } else { 1000 };
//! let mut lb = LoadBalancer::<[f64; 2]>::new(&world, n, Algorithm::default())?;
//! for _step in 0..10 {
//!     lb.partition()?;
//!     lb.iterate(&mut cells[..], |c| {
//!         for _ in 0..work {
//!             c[0] = (c[0] + c[1]).sin();
//!         }
//!     })?;
//! }
//! println!("{}", lb.report()?);
//! # Ok::<(), quicklb::Error>(())
//! ```

#![forbid(unsafe_code)]

mod agree;
mod balancer;
mod config;
mod dynamic;
mod error;
mod loans;
mod plan;
mod replan;
mod report;
mod step;
mod store;
mod watchdog;

pub use balancer::{LoadBalancer, StepStats};
pub use config::{Algorithm, Builder};
pub use dynamic::Dynamic;
pub use error::{Error, Result};
pub use plan::{dry_run, DryRun};
pub use replan::{ReplanRecord, ReplanStats};
pub use report::{CellReport, RankReport, Report};
pub use store::{CellStore, Fields};

pub use quicklb_partition::{
    AutoReplan, Decision, DistributedPlanner, Export, Greedy, KeepReason, Replan, ReplanPolicy,
    ReplanReason, Sort, Sort2, StepFigures, StopRule, Transfer, WholeProblem,
};

/// `bytemuck`, with the features cells need (`derive`, arrays of any length):
/// derive `Pod` for your cell type with
/// `#[derive(Clone, Copy, quicklb::bytemuck::Pod, quicklb::bytemuck::Zeroable)]`,
/// `#[bytemuck(crate = "quicklb::bytemuck")]` and `#[repr(C)]`.
pub use bytemuck;

/// The planners crate (pure, MPI-free).
pub use quicklb_partition as partition;
/// The MPI transport crate.
pub use quicklb_transport as transport;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
