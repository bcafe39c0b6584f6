//! The [`LoadBalancer`]: the cycle `partition()` (plan, build the loans) then
//! `iterate()` (one step), tying the stages together: [`config`](crate::config),
//! [`plan`](crate::plan), [`loans`](crate::loans), [`step`](crate::step).

use std::cell::RefCell;
use std::time::Instant;

use bytemuck::Pod;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use quicklb_partition::{Export, LocalPlan, NodeMap};

use crate::agree::{agree, share_text};
use crate::config::{nodes_digest, Algorithm, Builder, Config};
use crate::dynamic::{Dynamic, Sharing};
use crate::error::{Error, Result};
use crate::loans::Loans;
use crate::plan;
use crate::replan::Replanner;
use crate::step::{self, Pace};
use crate::store::CellStore;
use crate::watchdog::{arm, Watchdog};

/// Largest number of cells timed together.
const MAX_BLOCK: usize = 4096;
/// Numbers each rank contributes to the allgather of `build()`.
const BUILD_ROW: usize = 9;

/// Timings of the last [`LoadBalancer::iterate`] on this rank, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepStats {
    /// Measured compute time of this rank's own cells computed here.
    pub compute_own: f64,
    /// Measured compute time of the borrowed cells computed here.
    pub compute_borrowed: f64,
    /// Time spent waiting for messages (lent cells' results, borrowed cells).
    pub wait: f64,
    /// Wall time of the whole call.
    pub total: f64,
    /// Number of own cells computed by other ranks.
    pub cells_lent: usize,
    /// Number of other ranks' cells computed here.
    pub cells_borrowed: usize,
    /// Own cells computed by other ranks of the node through dynamic sharing
    /// ([`Dynamic::OnNode`]).
    pub cells_given: usize,
    /// Other ranks' cells computed here through dynamic sharing.
    pub cells_taken: usize,
    /// Compute time of the cells taken (seconds).
    pub compute_taken: f64,
    /// Chunks this rank claimed through dynamic sharing (of its own cells and
    /// of others'): the claim traffic, one atomic compare-and-swap each.
    pub claims: usize,
}

impl StepStats {
    /// Compute time spent on this rank (own, borrowed and taken cells).
    pub fn busy(&self) -> f64 {
        self.compute_own + self.compute_borrowed + self.compute_taken
    }
}

/// What the last `partition()` decided on this rank.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanStats {
    pub(crate) partitioned: bool,
    pub(crate) load_before: f64,
    pub(crate) load_planned: f64,
    pub(crate) cells_lent: usize,
    pub(crate) bytes_lent: usize,
    pub(crate) cells_borrowed: usize,
    pub(crate) seconds: f64,
    pub(crate) pairs_out: usize,
    /// Heaviest local cell weight the plan was made with.
    pub(crate) w_max: f64,
}

/// Totals over the life of the balancer on this rank.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) steps: u64,
    pub(crate) partitions: u64,
    pub(crate) planning: f64,
    pub(crate) wait: f64,
}

/// The cell weights and how they are measured.
#[derive(Debug)]
struct Costs {
    /// Weight of every local cell: measured cost of the last step (seconds),
    /// smoothed if asked, or the user's initial weights.
    weights: Vec<f64>,
    /// The smoothed weights (empty unless smoothing < 1).
    smoothed: Vec<f64>,
    /// Whether `smoothed` holds a measurement yet.
    measured: bool,
    /// Cells per clock read in the next step.
    block: usize,
}

/// An error of one rank's `iterate()` that every rank returns at the next
/// collective call.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    CellCount { expected: usize, actual: usize },
    Panicked(String),
}

/// The load balancer: lends this rank's cells to less busy ranks for the heavy,
/// per-cell part of a step, and computes their cells in return.
///
/// `T` is the state of one cell (`bytemuck::Pod`: plain bytes, e.g. `[f64; 2]`
/// or a `#[repr(C)]` struct deriving `Pod`). Ownership never changes: the
/// user's cells stay where they are; lent cells are copied out, computed
/// elsewhere, and copied back within one [`iterate`](Self::iterate).
///
/// The cycle is [`partition`](Self::partition) (collective: share loads, plan,
/// build buffers and persistent requests) then any number of
/// [`iterate`](Self::iterate) calls (each cell computed exactly once, its time
/// measured and used as its weight for the next `partition`). Calling
/// `iterate` before any `partition` is allowed: nothing is lent.
///
/// # Example: the Gray-Scott reaction step
///
/// Cells of two `f64` (`a`, `b`) stored in two separate fields; the compute
/// integrates a stiff ODE per cell (here a few implicit Euler steps with one
/// Newton iteration each).
///
/// ```no_run
/// use mpi::traits::*;
/// use quicklb::{Algorithm, Fields, LoadBalancer};
///
/// fn react(c: &mut [f64; 2]) {
///     let (f, k, dt) = (0.037, 0.06, 1.0);
///     let [mut a, mut b] = *c;
///     for _ in 0..10 {
///         // implicit Euler for a' = -ab^2 + f(1-a), b' = ab^2 - (f+k)b
///         let ab2 = a * b * b;
///         a = (a + dt / 10.0 * (f - ab2 + 2.0 * ab2)) / (1.0 + dt / 10.0 * (f + b * b));
///         b = (b + dt / 10.0 * (a * b * b)) / (1.0 + dt / 10.0 * (f + k));
///     }
///     *c = [a, b];
/// }
///
/// let universe = mpi::initialize().unwrap();
/// let world = universe.world();
/// let n = 1000;
/// let (mut a, mut b) = (vec![1.0; n], vec![0.0; n]);
/// let mut lb = LoadBalancer::<[f64; 2]>::builder(&world, n)
///     .algorithm(Algorithm::transfer())
///     .build()?;
/// for step in 0..100 {
///     // ... diffusion of a and b with halo exchange, on the home rank ...
///     if step % 10 == 0 {
///         lb.partition()?; // collective: re-plan from the measured costs
///     }
///     lb.iterate(&mut Fields::new([&mut a[..], &mut b[..]]), react)?;
/// }
/// let report = lb.report()?; // collective
/// if world.rank() == 0 {
///     println!("{report}");
/// }
/// # Ok::<(), quicklb::Error>(())
/// ```
pub struct LoadBalancer<T> {
    comm: SimpleCommunicator,
    rank: usize,
    size: usize,
    cells: usize,
    config: Config,
    nodes: NodeMap,
    costs: Costs,
    /// The plan in use and its loans (`None`: nothing lent).
    plan: Option<(LocalPlan, Loans)>,
    stats: (PlanStats, StepStats, Totals),
    /// This rank's error of an `iterate()`, agreed at the next collective.
    pending: RefCell<Option<Pending>>,
    /// Where a borrowed cell is computed (on the heap: cells may be large).
    scratch: Box<T>,
    /// When `iterate()` re-plans by itself.
    replanner: Replanner,
    watchdog: Option<Watchdog>,
    /// The node's pool with [`Dynamic::OnNode`].
    sharing: Option<Sharing>,
}

impl<T> std::fmt::Debug for LoadBalancer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadBalancer")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("cells", &self.cells)
            .field("algorithm", &self.config.algorithm)
            .field("lent", &self.loans().map_or(0, Loans::num_lent))
            .field("borrowed", &self.stats.0.cells_borrowed)
            .finish()
    }
}

impl<T> LoadBalancer<T> {
    fn loans(&self) -> Option<&Loans> {
        self.plan.as_ref().map(|p| &p.1)
    }
}

impl<T: Pod> LoadBalancer<T> {
    /// A builder for a balancer of `cells` local cells (any number, 0 too) on
    /// `comm`, with the default [`Algorithm`].
    pub fn builder<C: Communicator>(comm: &C, cells: usize) -> Builder<'_, C, T> {
        Builder::new(comm, cells)
    }

    /// Shorthand for `builder(comm, cells).algorithm(algorithm).build()`.
    /// **Collective.**
    pub fn new<C: Communicator>(comm: &C, cells: usize, algorithm: Algorithm) -> Result<Self> {
        Self::builder(comm, cells).algorithm(algorithm).build()
    }

    pub(crate) fn from_builder<C: Communicator>(b: Builder<'_, C, T>) -> Result<Self> {
        if b.options.abort_on_panic {
            quicklb_transport::abort_on_panic();
        }
        let comm = b.comm.duplicate();
        let rank = comm.rank() as usize;
        let size = comm.size() as usize;
        let cell_bytes = std::mem::size_of::<T>();
        let config = Config::validate(&b);
        let watchdog = config
            .as_ref()
            .ok()
            .and_then(|c| c.options.watchdog)
            .map(|limit| Watchdog::start(rank, limit));
        let armed = arm(watchdog.as_ref(), "build()", 0);

        // One allgather: validity, sizes and lengths, and the digests of
        // everything the ranks must agree on.
        let digests = config.as_ref().map_or([0, 0], Config::digests);
        let given_nodes = b.nodes.as_ref().map(|n| NodeMap::new(n.clone()));
        let mine: [u64; BUILD_ROW] = [
            u64::from(config.is_err()),
            cell_bytes as u64,
            b.cells as u64,
            b.weights.as_ref().map_or(b.cells, Vec::len) as u64,
            u64::from(given_nodes.is_some()),
            given_nodes.as_ref().map_or(size, NodeMap::len) as u64,
            given_nodes.as_ref().map_or(0, nodes_digest),
            digests[0],
            digests[1],
        ];
        let mut all = vec![0u64; BUILD_ROW * size];
        comm.all_gather_into(&mine[..], &mut all[..]);
        let row = |r: usize| &all[BUILD_ROW * r..BUILD_ROW * (r + 1)];
        if let Some(r) = (0..size).find(|&r| row(r)[0] != 0) {
            let reason = share_text(&comm, r, config.err().unwrap_or_default());
            return Err(Error::Config { rank: r, reason });
        }
        let config = config.map_err(|reason| Error::Config { rank, reason })?;
        for r in 0..size {
            let x = row(r);
            if x[1] != row(0)[1] {
                return Err(Error::CellSize {
                    rank: r,
                    bytes: x[1] as usize,
                    expected: row(0)[1] as usize,
                });
            }
        }
        for r in 0..size {
            let x = row(r);
            if x[3] != x[2] {
                return Err(Error::Length {
                    expected: x[2] as usize,
                    actual: x[3] as usize,
                });
            }
            if x[4] != row(0)[4] {
                return Err(Error::ConfigMismatch {
                    rank: r,
                    what: "node map (given with Builder::nodes on some ranks only)",
                });
            }
            if x[5] != size as u64 {
                return Err(Error::Length {
                    expected: size,
                    actual: x[5] as usize,
                });
            }
        }
        let differs = [
            (6, "node map"),
            (7, "algorithm or algorithm parameters"),
            (8, "option (check_counts, watchdog, replan or dynamic)"),
        ];
        for r in 0..size {
            for &(k, what) in &differs {
                if row(r)[k] != row(0)[k] {
                    return Err(Error::ConfigMismatch { rank: r, what });
                }
            }
        }
        let nodes = match given_nodes {
            Some(n) => n,
            None => NodeMap::new(quicklb_transport::node_map(&comm)?.as_slice().to_vec()),
        };
        let replanner = Replanner::new(&comm, config.options.replan)?;
        let sharing = match config.options.dynamic {
            Dynamic::Off => None,
            Dynamic::OnNode => Some(Sharing::new(
                &comm,
                &nodes,
                b.cells,
                cell_bytes,
                config.options.timing_block,
            )?),
        };
        drop(armed);
        let n = b.cells;
        Ok(LoadBalancer {
            comm,
            rank,
            size,
            cells: n,
            nodes,
            costs: Costs {
                weights: b.weights.unwrap_or_else(|| vec![1.0; n]),
                smoothed: if config.options.smoothing < 1.0 {
                    vec![0.0; n]
                } else {
                    Vec::new()
                },
                measured: false,
                block: 1,
            },
            config,
            plan: None,
            stats: Default::default(),
            pending: RefCell::new(None),
            scratch: bytemuck::zeroed_box(),
            replanner,
            watchdog,
            sharing,
        })
    }

    /// This rank in the balancer's communicator.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Number of local cells (as declared at construction).
    pub fn num_cells(&self) -> usize {
        self.cells
    }

    /// The algorithm, with the parameters in effect.
    pub fn algorithm(&self) -> &Algorithm {
        &self.config.algorithm
    }

    /// The node of every rank, as the planners see it.
    pub fn nodes(&self) -> &[usize] {
        self.nodes.node_of()
    }

    /// The current weight of every local cell: the measured compute time of the
    /// last `iterate` (seconds), or the initial weights.
    pub fn weights(&self) -> &[f64] {
        &self.costs.weights
    }

    /// Replaces the weights used by the next `partition()`. Local (no
    /// communication); values are checked collectively at `partition()`.
    ///
    /// # Errors
    /// [`Error::Length`] (on this rank only) if `weights.len() != num_cells()`.
    pub fn set_weights(&mut self, weights: &[f64]) -> Result<()> {
        if weights.len() != self.cells {
            return Err(Error::Length {
                expected: self.cells,
                actual: weights.len(),
            });
        }
        self.costs.weights.copy_from_slice(weights);
        Ok(())
    }

    /// Sets the weights from a cost function of each cell (e.g. before the first
    /// measurement). Local; NaN or negative costs are reported collectively by
    /// the next `partition()` ([`Error::InvalidWeight`] on every rank).
    ///
    /// # Errors
    /// [`Error::Length`] (on this rank only) if `cells.len() != num_cells()`.
    pub fn estimate_weights<S, F>(&mut self, cells: &S, mut cost: F) -> Result<()>
    where
        S: CellStore<Cell = T> + ?Sized,
        F: FnMut(&T) -> f64,
    {
        if cells.len() != self.cells {
            return Err(Error::Length {
                expected: self.cells,
                actual: cells.len(),
            });
        }
        for (i, w) in self.costs.weights.iter_mut().enumerate() {
            cells.read_bytes(i, bytemuck::bytes_of_mut(&mut *self.scratch));
            *w = cost(&self.scratch);
        }
        Ok(())
    }

    /// This rank's loans in the plan in use: which cell goes to which helper,
    /// sorted by cell.
    pub fn exports(&self) -> &[Export] {
        self.loans().map_or(&[], |l| &l.exports)
    }

    /// Makes the next `iterate()` round of this rank's loan messages fail as
    /// `fault` says (a failing `MPI_Start` or completion), so that tests reach
    /// the abort path of a transport error inside `iterate()`, which a correct
    /// program cannot provoke. Returns whether this rank has loan messages to
    /// fail (a plan with loans or borrows).
    #[doc(hidden)]
    pub fn inject_transport_fault(&mut self, fault: quicklb_transport::persistent::Fault) -> bool {
        let Some((_, loans)) = self.plan.as_mut() else {
            return false;
        };
        if loans.exports.is_empty() && loans.borrowed.is_empty() {
            return false;
        }
        loans.lent.inject_fault(fault);
        loans.inbound.inject_fault(fault);
        loans.outbound.inject_fault(fault);
        true
    }

    /// Number of local cells lent in the plan in use.
    pub fn num_lent(&self) -> usize {
        self.loans().map_or(0, Loans::num_lent)
    }

    /// Number of other ranks' cells this rank computes in the plan in use.
    pub fn num_borrowed(&self) -> usize {
        self.loans().map_or(0, Loans::num_borrowed)
    }

    /// Timings of the last `iterate()` on this rank.
    pub fn last_step(&self) -> &StepStats {
        &self.stats.1
    }

    /// Wall time of the last `partition()` on this rank, in seconds.
    pub fn last_planning_time(&self) -> f64 {
        self.stats.0.seconds
    }

    /// Cells timed per clock read in the next `iterate()` (see
    /// [`Builder::timing_block`]).
    pub fn timing_stride(&self) -> usize {
        self.costs.block
    }

    /// Returns the error some rank's `iterate()` left to agree on, on every
    /// rank, and forgets it. **Collective** (one small allgather).
    pub(crate) fn settle(&self) -> Result<()> {
        let pending = self.pending.borrow_mut().take();
        let mine: [u64; 3] = match &pending {
            None => [0, 0, 0],
            Some(Pending::CellCount { expected, actual }) => [1, *expected as u64, *actual as u64],
            Some(Pending::Panicked(_)) => [2, 0, 0],
        };
        let mut all = vec![0u64; 3 * self.size];
        self.comm.all_gather_into(&mine[..], &mut all[..]);
        let Some(r) = (0..self.size).find(|&r| all[3 * r] != 0) else {
            return Ok(());
        };
        match all[3 * r] {
            1 => Err(Error::CellCount {
                rank: r,
                expected: all[3 * r + 1] as usize,
                actual: all[3 * r + 2] as usize,
            }),
            _ => {
                let text = match pending {
                    Some(Pending::Panicked(t)) => t,
                    _ => String::new(),
                };
                Err(Error::ComputePanicked {
                    rank: r,
                    message: share_text(&self.comm, r, text),
                })
            }
        }
    }

    /// Plans the loans from the current weights and builds the message buffers
    /// and persistent requests used by every `iterate()` until the next call.
    /// **Collective.**
    ///
    /// One allgather of a few numbers per rank (load, cell count, cell size,
    /// weight check, configuration digest) after the one that agrees on the
    /// errors of past `iterate()` calls; the QUICKLB algorithms then also gather
    /// all cell weights. Each rank runs the planner on these numbers
    /// ([`DistributedPlanner`](quicklb_partition::DistributedPlanner)), each
    /// owner tells each of its helpers how many cells to expect (one message per
    /// pair), and the loans are built and agreed on. `O(p + own cells)` per rank
    /// with the Transfer planner.
    ///
    /// # Errors
    /// On every rank: the error of an earlier `iterate()` on some rank
    /// ([`Error::CellCount`], [`Error::ComputePanicked`]); [`Error::CellSize`];
    /// [`Error::InvalidWeight`] (NaN, infinite or negative weight on some rank);
    /// [`Error::ConfigMismatch`] if this balancer meets another one on some
    /// rank; [`Error::TooManyCells`]; [`Error::OnRank`] for a planner error or a
    /// message of a loan above the MPI count limit. After an error nothing is
    /// lent until a successful `partition()`.
    pub fn partition(&mut self) -> Result<()> {
        self.replanner.caller_planned();
        self.plan_now()
    }

    /// `partition()`, for the caller or for the re-planning policy.
    pub(crate) fn plan_now(&mut self) -> Result<()> {
        let start = Instant::now();
        let span = tracing::debug_span!("quicklb.partition", rank = self.rank);
        let _enter = span.enter();
        let previous = self.plan.take().map(|p| p.0);
        self.stats.0 = PlanStats::default();
        let result = {
            let _armed = arm(self.watchdog.as_ref(), "partition()", self.stats.2.steps);
            self.settle().and_then(|()| self.plan(previous))
        };
        let seconds = start.elapsed().as_secs_f64();
        self.stats.0.seconds = seconds;
        self.stats.2.planning += seconds;
        self.stats.2.partitions += 1;
        match result {
            Ok(planned) => self.plan = planned,
            Err(e) => {
                self.stats.0 = PlanStats {
                    seconds,
                    ..PlanStats::default()
                };
                return Err(e);
            }
        }
        tracing::debug!(
            rank = self.rank,
            algorithm = self.config.algorithm.name(),
            load_before = self.stats.0.load_before,
            load_planned = self.stats.0.load_planned,
            lent = self.stats.0.cells_lent,
            borrowed = self.stats.0.cells_borrowed,
            seconds,
            "quicklb partition"
        );
        Ok(())
    }

    fn plan(&mut self, previous: Option<LocalPlan>) -> Result<Option<(LocalPlan, Loans)>> {
        let cell_bytes = std::mem::size_of::<T>();
        let weights = &self.costs.weights;
        let gathered = plan::gather(&self.comm, weights, cell_bytes, self.config.digests())?;
        let load = gathered.loads[self.rank];
        let s = &mut self.stats.0;
        s.load_before = load;
        s.load_planned = load;
        s.w_max = weights.iter().fold(0.0f64, |m, &w| m.max(w));
        s.partitioned = true;
        let Some(planner) = self.config.algorithm.planner() else {
            return Ok(None);
        };
        let all = if planner.needs_all_weights() {
            Some(plan::gather_weights(&self.comm, weights, &gathered.counts)?)
        } else {
            None
        };
        let planned = plan::plan_local(
            planner,
            self.rank,
            weights,
            &gathered.loads,
            all.as_ref(),
            &self.nodes,
            previous.as_ref(),
        )
        .and_then(|(plan, layout)| {
            layout
                .check_sizes(cell_bytes)
                .map_err(|message| Error::OnRank {
                    rank: self.rank,
                    message,
                })?;
            Ok((plan, layout))
        });
        let on_rank = |(rank, message)| Error::OnRank { rank, message };
        agree(
            &self.comm,
            planned.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        )
        .map_err(on_rank)?;
        let (plan, layout) = planned?;
        let sends = plan::counts_to_send(&plan, &layout);
        let (borrowed, imported) =
            plan::exchange_counts(&self.comm, &sends, &plan::owners_to_hear(&plan));
        let lent_weight: f64 = layout.weight.iter().sum();
        let groups = layout.groups.len();
        let built = Loans::build(
            &self.comm,
            self.cells,
            cell_bytes,
            plan.exports().to_vec(),
            layout,
            borrowed,
        );
        agree(
            &self.comm,
            built.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        )
        .map_err(on_rank)?;
        let loans = built?;
        let s = &mut self.stats.0;
        s.cells_lent = loans.num_lent();
        s.bytes_lent = loans.num_lent() * cell_bytes;
        s.cells_borrowed = loans.num_borrowed();
        s.pairs_out = groups;
        s.load_planned = load - lent_weight + imported;
        Ok(Some((plan, loans)))
    }

    /// One step: every local cell is computed exactly once by `compute`, here or
    /// on a helper rank. **Collective**: only the planned pairs exchange
    /// messages; nothing else is communicated.
    ///
    /// In order: pack the lent cells and start their messages, compute the own
    /// cells while they travel, compute the borrowed cells as they arrive and
    /// send their results and costs back, then unpack the results of the lent
    /// cells. Each cell's compute time becomes its weight for the next
    /// `partition()` (cheap cells are timed in blocks, see
    /// [`Builder::timing_block`]). No allocation, and no cell is copied to the
    /// stack (cells of any size work with slices and [`Fields`](crate::Fields)).
    ///
    /// `compute` must depend only on the cell (it may run on another rank for
    /// lent cells).
    ///
    /// With [`Builder::replan`] other than `Manual`, `iterate` first lets the
    /// policy decide from the agreed figures of the last step (every rank takes
    /// the same decision) and, if it says so, calls `partition()` itself; what
    /// it did is in [`replan_stats`](Self::replan_stats). After the step, it
    /// starts agreeing on this step's figures (`Replan::Auto`: two small
    /// non-blocking all-reduces, completed at the start of the next step).
    ///
    /// # Errors
    /// - [`Error::CellCount`] on a rank that passes another number of cells than
    ///   declared: it touches none of its cells (it still computes the cells it
    ///   borrowed and sends the stale copies of its lent ones, so nobody waits);
    ///   the other ranks complete the step and, with
    ///   [`Builder::check_counts`] (default), every rank returns the same error
    ///   at the next collective call.
    /// - A panic in `compute` aborts the job when the balancer installed
    ///   [`Builder::abort_on_panic`] (default). Otherwise it is caught: that
    ///   rank stops computing (the cell being computed may be left half
    ///   updated, cells after it are not computed, borrowed cells go back
    ///   unchanged and their owners keep their copies), still completes every
    ///   message of the step, and returns [`Error::ComputePanicked`]; every rank
    ///   returns it at the next collective call.
    /// - The errors of `partition()` when the re-planning policy plans: on
    ///   every rank, before any cell is computed.
    /// - An MPI error in the step's messages cannot be agreed on (the partner
    ///   ranks are already waiting): the rank prints it and aborts the job
    ///   (`MPI_Abort`). Sizes are checked at `partition()`, so a loan above the
    ///   MPI count limit is an agreed error there, never here.
    pub fn iterate<S, F>(&mut self, cells: &mut S, mut compute: F) -> Result<()>
    where
        S: CellStore<Cell = T> + ?Sized,
        F: FnMut(&mut T),
    {
        let start = Instant::now();
        let span = tracing::trace_span!("quicklb.iterate", rank = self.rank);
        let _enter = span.enter();
        self.replan_before_step()?;
        let actual = cells.len();
        let ok = actual == self.cells;
        let pace = Pace {
            block: self.costs.block,
            poll: self.config.options.poll,
            watchdog: self.watchdog.as_ref(),
            step: self.stats.2.steps,
        };
        let loans = self.plan.as_mut().map(|p| &mut p.1);
        let stepped = step::run(
            loans,
            self.sharing.as_mut(),
            &mut self.costs.weights,
            pace,
            &mut *self.scratch,
            ok.then_some(cells),
            &mut compute,
        );
        let times = match stepped {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "quicklb: rank {}: the messages of iterate() failed: {e}; aborting the job \
                     (its partners would wait for ever)",
                    self.rank
                );
                self.comm.abort(70)
            }
        };
        self.stats.2.steps += 1;
        self.replan_after_step(times.compute_own + times.compute_borrowed);
        if let Some(message) = times.panic {
            self.pending
                .borrow_mut()
                .get_or_insert(Pending::Panicked(message.clone()));
            return Err(Error::ComputePanicked {
                rank: self.rank,
                message,
            });
        }
        if !ok {
            if self.config.options.check_counts {
                self.pending.borrow_mut().get_or_insert(Pending::CellCount {
                    expected: self.cells,
                    actual,
                });
            }
            return Err(Error::CellCount {
                rank: self.rank,
                expected: self.cells,
                actual,
            });
        }
        self.measured(times.compute_own);
        let cells_lent = self.num_lent();
        self.stats.1 = StepStats {
            compute_own: times.compute_own,
            compute_borrowed: times.compute_borrowed,
            wait: times.wait,
            total: start.elapsed().as_secs_f64(),
            cells_lent,
            cells_borrowed: self.stats.0.cells_borrowed,
            cells_given: times.shared.given,
            cells_taken: times.shared.taken,
            compute_taken: times.shared.compute_taken,
            claims: times.shared.claims,
        };
        self.stats.2.wait += times.wait;
        Ok(())
    }

    /// After a step: smoothing of the measured weights, and the timing block
    /// of the next step.
    fn measured(&mut self, compute_own: f64) {
        let alpha = self.config.options.smoothing;
        let c = &mut self.costs;
        if alpha < 1.0 {
            for (w, s) in c.weights.iter_mut().zip(c.smoothed.iter_mut()) {
                if c.measured {
                    *w = alpha * *w + (1.0 - alpha) * *s;
                }
                *s = *w;
            }
            c.measured = true;
        }
        // Cells per clock read for the next step: about `timing_block` seconds.
        let own = self.cells - self.loans().map_or(0, Loans::num_lent);
        let tb = self.config.options.timing_block;
        self.costs.block = if own > 0 && tb > 0.0 && compute_own > 0.0 {
            ((tb / (compute_own / own as f64)) as usize).clamp(1, MAX_BLOCK)
        } else {
            1
        };
    }

    pub(crate) fn comm(&self) -> &SimpleCommunicator {
        &self.comm
    }

    pub(crate) fn replanner(&self) -> &Replanner {
        &self.replanner
    }

    pub(crate) fn replanner_mut(&mut self) -> &mut Replanner {
        &mut self.replanner
    }

    /// The policy's state and the watchdog, borrowed together.
    pub(crate) fn replan_parts(&mut self) -> (&mut Replanner, Option<&Watchdog>) {
        (&mut self.replanner, self.watchdog.as_ref())
    }

    pub(crate) fn watchdog(&self) -> Option<&Watchdog> {
        self.watchdog.as_ref()
    }

    pub(crate) fn plan_stats(&self) -> &PlanStats {
        &self.stats.0
    }

    pub(crate) fn totals(&self) -> Totals {
        self.stats.2
    }

    pub(crate) fn computed_by(&self, cell: usize) -> usize {
        let exports = self.exports();
        match exports.binary_search_by_key(&cell, |e| e.cell) {
            Ok(k) => exports[k].helper,
            Err(_) => self.rank,
        }
    }
}
