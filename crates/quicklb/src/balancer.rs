//! The [`LoadBalancer`], its [`Builder`] and the [`Algorithm`] choice.

use std::marker::PhantomData;
use std::time::Instant;

use bytemuck::Pod;
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use quicklb_partition::{
    check_weights, rank_load, Export, Greedy, Metrics, NodeMap, Planner, Problem, Sort, Sort2,
    Transfer, Transfers, Weights,
};
use quicklb_transport::PersistentSet;

use crate::error::{Error, Result};
use crate::store::CellStore;

/// Tag of the messages carrying lent cells to their helper.
const TAG_FORWARD: i32 = 1;
/// Tag of the messages carrying results and costs back to the owner.
const TAG_RETURN: i32 = 2;
/// Tag of the per-pair cell counts of the transfer planner.
const TAG_COUNT: i32 = 3;
/// Bytes of a measured cost appended to each returned cell.
const COST_BYTES: usize = std::mem::size_of::<f64>();
/// Largest number of cells timed together.
const MAX_BLOCK: usize = 4096;
/// Numbers each rank contributes to the allgather of `partition()`.
const INFO: usize = 6;

/// Which planner decides the loans, with its parameters.
///
/// The QUICKLB planners ([`Greedy`], [`Sort`], [`Sort2`]) need every cell weight
/// of every rank: `partition()` gathers them (`MPI_Allgatherv`). The default,
/// [`Transfer`], needs only the `p` rank loads (part of the one small allgather
/// every `partition()` does) and each rank's own weights; it is within one cell
/// of the optimum (`max load <= W/p + w_max`) and keeps loans stable when the
/// weights barely change.
///
/// ```
/// use quicklb::Algorithm;
/// assert_eq!(Algorithm::default().name(), "Transfer");
/// assert_eq!(Algorithm::sort2().name(), "Sort2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    /// Never lend (the same code path without balancing: a reference point).
    Off,
    /// The default planner: rank-level transfers from the rank loads, then each
    /// sender picks its own cells ([`Transfer`]).
    Transfer(Transfer),
    /// QUICKLB's GREEDY: surplus cells travel around a ring.
    Greedy(Greedy),
    /// QUICKLB's SORT: pair the most loaded rank with the least loaded, repeat.
    Sort(Sort),
    /// QUICKLB's SORT2: SORT inside each shared-memory node, then across nodes.
    Sort2(Sort2),
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::Transfer(Transfer::default())
    }
}

impl Algorithm {
    /// [`Algorithm::Transfer`] with default parameters.
    pub fn transfer() -> Self {
        Algorithm::Transfer(Transfer::default())
    }

    /// [`Algorithm::Greedy`] with QUICKLB's defaults.
    pub fn greedy() -> Self {
        Algorithm::Greedy(Greedy::default())
    }

    /// [`Algorithm::Sort`] with QUICKLB's defaults.
    pub fn sort() -> Self {
        Algorithm::Sort(Sort::default())
    }

    /// [`Algorithm::Sort2`] with QUICKLB's defaults.
    pub fn sort2() -> Self {
        Algorithm::Sort2(Sort2::default())
    }

    /// Every algorithm with its defaults, [`Algorithm::Off`] first.
    pub fn all() -> [Algorithm; 5] {
        [
            Algorithm::Off,
            Algorithm::transfer(),
            Algorithm::greedy(),
            Algorithm::sort(),
            Algorithm::sort2(),
        ]
    }

    /// A short name for tables and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Off => "Off",
            Algorithm::Transfer(_) => "Transfer",
            Algorithm::Greedy(_) => "Greedy",
            Algorithm::Sort(_) => "Sort",
            Algorithm::Sort2(_) => "Sort2",
        }
    }

    /// Whether `partition()` gathers all cell weights for this algorithm.
    pub fn needs_all_weights(&self) -> bool {
        matches!(
            self,
            Algorithm::Greedy(_) | Algorithm::Sort(_) | Algorithm::Sort2(_)
        )
    }
}

/// Builder of a [`LoadBalancer`]: start with [`LoadBalancer::builder`].
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder<'c, C: Communicator, T> {
    comm: &'c C,
    cells: usize,
    algorithm: Algorithm,
    max_abs_li: Option<f64>,
    max_rel_li: Option<f64>,
    max_it: Option<usize>,
    weights: Option<Vec<f64>>,
    nodes: Option<Vec<usize>>,
    abort_on_panic: bool,
    timing_block: f64,
    check_counts: bool,
    poll: Option<std::time::Duration>,
    stable: bool,
    smoothing: f64,
    _cell: PhantomData<fn() -> T>,
}

impl<'c, C: Communicator, T: Pod> Builder<'c, C, T> {
    /// The planner (default [`Algorithm::Transfer`]). The QUICKLB parameters set
    /// with [`max_abs_li`](Self::max_abs_li), [`max_rel_li`](Self::max_rel_li) and
    /// [`max_it`](Self::max_it) are applied to it at [`build`](Self::build).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// QUICKLB's `max_abs_li`: stop when the largest relative imbalance
    /// `(load - avg) / avg` is below this (Greedy, Sort, Sort2). For Transfer:
    /// lend nothing when the rank loads are already within this imbalance.
    pub fn max_abs_li(mut self, value: f64) -> Self {
        self.max_abs_li = Some(value);
        self
    }

    /// QUICKLB's `max_rel_li`: stop when a round improves the largest imbalance
    /// by less than this fraction (Sort, Sort2). For Transfer: the re-plan
    /// hysteresis ([`Transfer::tolerance`], default `5e-4`).
    pub fn max_rel_li(mut self, value: f64) -> Self {
        self.max_rel_li = Some(value);
        self
    }

    /// QUICKLB's `max_it`: the maximum number of rounds (Greedy, Sort, Sort2;
    /// Transfer has no rounds and ignores it).
    pub fn max_it(mut self, value: usize) -> Self {
        self.max_it = Some(value);
        self
    }

    /// Initial weights of the local cells, one per cell (default: all 1).
    /// Checked collectively at the first [`LoadBalancer::partition`].
    pub fn weights(mut self, weights: Vec<f64>) -> Self {
        self.weights = Some(weights);
        self
    }

    /// Overrides the node of every rank (`node_of[rank]`, any labels), e.g. to
    /// emulate several nodes on one machine. Default: the nodes found by the
    /// shared-memory split (`MPI_Comm_split_type`).
    pub fn nodes(mut self, node_of: Vec<usize>) -> Self {
        self.nodes = Some(node_of);
        self
    }

    /// Whether [`build`](Self::build) installs
    /// [`quicklb_transport::abort_on_panic`] (default `true`): a panic on any
    /// rank, e.g. in `compute`, then aborts the whole job with its message
    /// instead of leaving the other ranks waiting for ever.
    pub fn abort_on_panic(mut self, yes: bool) -> Self {
        self.abort_on_panic = yes;
        self
    }

    /// How finely compute time is measured (default `20e-6` s). Every cell
    /// is timed on its own when cells take at least this long on average
    /// (measured in the previous step); cheaper cells are timed in blocks of
    /// about this duration, each cell of a block getting the block's average,
    /// so that reading the clock (20 to 80 ns) stays a small fraction of the
    /// work. `0.0` times every cell on its own.
    pub fn timing_block(mut self, seconds: f64) -> Self {
        self.timing_block = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        self
    }

    /// Whether every `iterate()` checks collectively that each rank passes
    /// its declared number of cells (default `true`: one 8-byte allreduce per
    /// step, and [`Error::CellCount`] on every rank). With `false`, `iterate`
    /// does no collective at all; a wrong count then panics on its rank, which
    /// aborts the job (no rank hangs either way).
    pub fn check_counts(mut self, yes: bool) -> Self {
        self.check_counts = yes;
        self
    }

    /// How `iterate()` waits for messages: `None` (default) blocks in
    /// `MPI_Wait`, which busy-polls in most MPI libraries (the lowest latency
    /// on dedicated cores); `Some(d)` tests the requests and sleeps `d`
    /// between tests, leaving the core to other processes (for ranks that
    /// share cores, e.g. more ranks than cores). Applies to the cell-count
    /// check too (`MPI_Iallreduce` then).
    pub fn wait_poll(mut self, interval: Option<std::time::Duration>) -> Self {
        self.poll = interval;
        self
    }

    /// Transfer planner only: warm-start every `partition()` from the plan in
    /// use (keep the previous loans where they still fit, with the planner's
    /// hysteresis), so that small changes of the weights move few cells.
    /// Default `false`: every plan is fresh. Lent cells travel at every
    /// `iterate()` anyway, so stable loans save no communication here, and on
    /// noisy measured weights fresh plans are closer to the lower bound (see
    /// the crate README's benchmark).
    pub fn stable(mut self, yes: bool) -> Self {
        self.stable = yes;
        self
    }

    /// Smooths the measured costs: each cell's weight becomes
    /// `alpha * measured + (1 - alpha) * previous weight` (an exponential
    /// moving average over steps; the first measurement is taken as is).
    /// Default `1.0`: the last measurement only. Values below 1 damp timing
    /// noise for cells whose cost changes slowly. Clamped to `(0, 1]`.
    pub fn smoothing(mut self, alpha: f64) -> Self {
        self.smoothing = if alpha.is_finite() && alpha > 0.0 {
            alpha.min(1.0)
        } else {
            1.0
        };
        self
    }

    /// Creates the balancer. **Collective** over the communicator.
    ///
    /// # Errors
    /// On every rank: [`Error::CellSize`] if the ranks' cell types differ in
    /// size; [`Error::Length`] if some rank's initial weights or node map have
    /// the wrong length (reported as the first such rank's); transport errors.
    pub fn build(self) -> Result<LoadBalancer<T>> {
        if self.abort_on_panic {
            quicklb_transport::abort_on_panic();
        }
        let comm = self.comm.duplicate();
        let rank = comm.rank() as usize;
        let size = comm.size() as usize;
        let cell_bytes = std::mem::size_of::<T>();

        // Agree on the cell size and on the lengths of what the user gave.
        let weights_len = self.weights.as_ref().map_or(self.cells, Vec::len);
        let nodes_len = self.nodes.as_ref().map_or(size, Vec::len);
        let mine = [cell_bytes as u64, weights_len as u64, nodes_len as u64];
        let mut all = vec![0u64; 3 * size];
        comm.all_gather_into(&mine[..], &mut all[..]);
        let mut counts = vec![0u64; size];
        let mine_n = self.cells as u64;
        comm.all_gather_into(&mine_n, &mut counts[..]);
        for r in 0..size {
            if all[3 * r] != all[0] {
                return Err(Error::CellSize {
                    rank: r,
                    bytes: all[3 * r] as usize,
                    expected: all[0] as usize,
                });
            }
        }
        for r in 0..size {
            if all[3 * r + 1] != counts[r] {
                return Err(Error::Length {
                    expected: counts[r] as usize,
                    actual: all[3 * r + 1] as usize,
                });
            }
            if all[3 * r + 2] != size as u64 {
                return Err(Error::Length {
                    expected: size,
                    actual: all[3 * r + 2] as usize,
                });
            }
        }

        let node_of = match self.nodes {
            Some(n) => n,
            None => quicklb_transport::node_map(&comm)?.as_slice().to_vec(),
        };
        // Collective (duplicates the communicator once); every set of every
        // partition() is a sibling of this one, so building them is local.
        let anchor = PersistentSet::<u8>::builder(&comm).build()?;

        let mut algorithm = self.algorithm;
        let mut skip_below = 0.0;
        match &mut algorithm {
            Algorithm::Off => {}
            Algorithm::Transfer(t) => {
                if let Some(v) = self.max_rel_li {
                    t.tolerance = v;
                }
                if let Some(v) = self.max_abs_li {
                    skip_below = v;
                }
            }
            Algorithm::Greedy(g) => {
                if let Some(v) = self.max_abs_li {
                    g.max_abs_li = v;
                }
                if let Some(v) = self.max_it {
                    g.max_it = v;
                }
            }
            Algorithm::Sort(s) | Algorithm::Sort2(Sort2 { sort: s }) => {
                if let Some(v) = self.max_abs_li {
                    s.max_abs_li = v;
                }
                if let Some(v) = self.max_rel_li {
                    s.max_rel_li = v;
                }
                if let Some(v) = self.max_it {
                    s.max_it = v;
                }
            }
        }

        let n = self.cells;
        let empty = || -> Result<PersistentSet<'static, u8>> {
            Ok(anchor.sibling_builder::<u8>().build()?)
        };
        let (lent_set, in_set, out_set) = (empty()?, empty()?, empty()?);
        Ok(LoadBalancer {
            rank,
            size,
            cells: n,
            algorithm,
            skip_below,
            nodes: NodeMap::new(node_of),
            weights: self.weights.unwrap_or_else(|| vec![1.0; n]),
            exports: Vec::new(),
            transfers: None,
            lent_cells: Vec::new(),
            lent_groups: Vec::new(),
            is_lent: vec![false; n],
            borrowed_groups: Vec::new(),
            lent_set,
            in_set,
            out_set,
            plan_stats: PlanStats::default(),
            step: StepStats::default(),
            totals: Totals::default(),
            timing_block: self.timing_block,
            block: 1,
            check_counts: self.check_counts,
            poll: self.poll,
            stable: self.stable,
            smoothing: self.smoothing,
            smoothed: if self.smoothing < 1.0 {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            measured: false,
            comm,
            anchor,
            _cell: PhantomData,
        })
    }
}

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
}

impl StepStats {
    /// Compute time spent on this rank (own and borrowed cells).
    pub fn busy(&self) -> f64 {
        self.compute_own + self.compute_borrowed
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
    rank: usize,
    size: usize,
    cells: usize,
    algorithm: Algorithm,
    /// Transfer: lend nothing below this imbalance.
    skip_below: f64,
    nodes: NodeMap,
    /// Weight of every local cell: measured cost of the last step (seconds) or
    /// the user's initial weights.
    weights: Vec<f64>,
    /// This rank's exports of the plan in use, sorted by cell.
    exports: Vec<Export>,
    /// Transfer planner: rank-level transfers of the plan in use.
    transfers: Option<Transfers>,
    /// Lent cell indices grouped by helper, in packing order.
    lent_cells: Vec<usize>,
    /// Per helper: (helper, start in `lent_cells`, count).
    lent_groups: Vec<(usize, usize, usize)>,
    is_lent: Vec<bool>,
    /// Per owner we compute for: (owner, count).
    borrowed_groups: Vec<(usize, usize)>,
    /// Sends of lent cells (one per helper), receives of their results.
    lent_set: PersistentSet<'static, u8>,
    /// Receives of borrowed cells (one per owner).
    in_set: PersistentSet<'static, u8>,
    /// Sends of borrowed cells' results (one per owner).
    out_set: PersistentSet<'static, u8>,
    plan_stats: PlanStats,
    step: StepStats,
    totals: Totals,
    /// Seconds of compute per clock read (0: every cell).
    timing_block: f64,
    /// Cells per clock read in the next step.
    block: usize,
    /// Agree on the cell count at every iterate().
    check_counts: bool,
    /// Sleep between tests instead of blocking in MPI_Wait.
    poll: Option<std::time::Duration>,
    /// Transfer: warm-start each plan from the previous one.
    stable: bool,
    /// Weight of a new measurement in the cell weights (1: no smoothing).
    smoothing: f64,
    /// The smoothed weights (empty unless smoothing < 1).
    smoothed: Vec<f64>,
    /// Whether `smoothed` holds a measurement yet.
    measured: bool,
    comm: SimpleCommunicator,
    /// Owns the point-to-point communicator the sets share.
    anchor: PersistentSet<'static, u8>,
    _cell: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for LoadBalancer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadBalancer")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("cells", &self.cells)
            .field("algorithm", &self.algorithm)
            .field("lent", &self.lent_cells.len())
            .field("borrowed", &self.plan_stats.cells_borrowed)
            .finish()
    }
}

impl<T: Pod> LoadBalancer<T> {
    /// A builder for a balancer of `cells` local cells (any number, 0 too) on
    /// `comm`, with the default [`Algorithm`].
    pub fn builder<C: Communicator>(comm: &C, cells: usize) -> Builder<'_, C, T> {
        Builder {
            comm,
            cells,
            algorithm: Algorithm::default(),
            max_abs_li: None,
            max_rel_li: None,
            max_it: None,
            weights: None,
            nodes: None,
            abort_on_panic: true,
            timing_block: 20e-6,
            check_counts: true,
            poll: None,
            stable: false,
            smoothing: 1.0,
            _cell: PhantomData,
        }
    }

    /// Shorthand for `builder(comm, cells).algorithm(algorithm).build()`.
    /// **Collective.**
    pub fn new<C: Communicator>(comm: &C, cells: usize, algorithm: Algorithm) -> Result<Self> {
        Self::builder(comm, cells).algorithm(algorithm).build()
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
        &self.algorithm
    }

    /// The node of every rank, as the planners see it.
    pub fn nodes(&self) -> &[usize] {
        self.nodes.node_of()
    }

    /// The current weight of every local cell: the measured compute time of the
    /// last `iterate` (seconds), or the initial weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
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
        self.weights.copy_from_slice(weights);
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
        for (i, w) in self.weights.iter_mut().enumerate() {
            *w = cost(&cells.load(i));
        }
        Ok(())
    }

    /// This rank's loans in the plan in use: which cell goes to which helper,
    /// sorted by cell.
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// Number of local cells lent in the plan in use.
    pub fn num_lent(&self) -> usize {
        self.lent_cells.len()
    }

    /// Number of other ranks' cells this rank computes in the plan in use.
    pub fn num_borrowed(&self) -> usize {
        self.plan_stats.cells_borrowed
    }

    /// Timings of the last `iterate()` on this rank.
    pub fn last_step(&self) -> &StepStats {
        &self.step
    }

    /// Wall time of the last `partition()` on this rank, in seconds.
    pub fn last_planning_time(&self) -> f64 {
        self.plan_stats.seconds
    }

    /// Drops the plan in use: nothing is lent until the next `partition()`.
    fn clear_plan(&mut self) -> Result<()> {
        self.lent_cells.clear();
        self.lent_groups.clear();
        self.is_lent.iter_mut().for_each(|x| *x = false);
        self.borrowed_groups.clear();
        self.lent_set = self.anchor.sibling_builder::<u8>().build()?;
        self.in_set = self.anchor.sibling_builder::<u8>().build()?;
        self.out_set = self.anchor.sibling_builder::<u8>().build()?;
        Ok(())
    }

    /// Plans the loans from the current weights and builds the message buffers
    /// and persistent requests used by every `iterate()` until the next call.
    /// **Collective.**
    ///
    /// One allgather of a few numbers per rank (load, cell count, cell size,
    /// weight check); the QUICKLB algorithms then also gather all cell weights.
    /// The Transfer planner plans the rank-level moves from the loads, each
    /// sender picks its cells locally (keeping the previous loans where they
    /// still fit), and each sender tells each of its helpers how many cells to
    /// expect (one message per pair).
    ///
    /// # Errors
    /// On every rank: [`Error::CellSize`], [`Error::InvalidWeight`] (NaN,
    /// infinite or negative weight on some rank), planner errors. After an
    /// error nothing is lent until a successful `partition()`.
    pub fn partition(&mut self) -> Result<()> {
        let start = Instant::now();
        let span = tracing::debug_span!("quicklb.partition", rank = self.rank);
        let _enter = span.enter();
        // The plan in use warm-starts the Transfer planner.
        let previous = std::mem::take(&mut self.exports);
        let transfers = self.transfers.take();
        self.clear_plan()?;
        self.plan_stats = PlanStats::default();
        let result = self.plan(previous, transfers);
        let seconds = start.elapsed().as_secs_f64();
        self.plan_stats.seconds = seconds;
        self.totals.planning += seconds;
        self.totals.partitions += 1;
        if let Err(e) = result {
            // Errors are agreed on by all ranks: they all clear their plan.
            self.clear_plan()?;
            self.plan_stats = PlanStats {
                seconds,
                ..PlanStats::default()
            };
            return Err(e);
        }
        tracing::debug!(
            rank = self.rank,
            algorithm = self.algorithm.name(),
            load_before = self.plan_stats.load_before,
            load_planned = self.plan_stats.load_planned,
            lent = self.plan_stats.cells_lent,
            borrowed = self.plan_stats.cells_borrowed,
            seconds,
            "quicklb partition"
        );
        Ok(())
    }

    fn plan(&mut self, previous: Vec<Export>, transfers: Option<Transfers>) -> Result<()> {
        let p = self.size;
        let me = self.rank;
        let cell_bytes = std::mem::size_of::<T>();

        // 1. The one small collective: loads, counts, cell size, weight check.
        let load = rank_load(&self.weights);
        let (bad_cell, bad_value) = match check_weights(me, &self.weights) {
            Ok(()) => (0u64, 0.0f64),
            Err(quicklb_partition::Error::InvalidWeight { cell, value, .. }) => {
                (cell as u64 + 1, value)
            }
            Err(e) => return Err(e.into()),
        };
        let w_max = self.weights.iter().fold(0.0f64, |m, &w| m.max(w));
        let mine: [u64; INFO] = [
            load.to_bits(),
            self.cells as u64,
            cell_bytes as u64,
            bad_cell,
            bad_value.to_bits(),
            w_max.to_bits(),
        ];
        let mut all = vec![0u64; INFO * p];
        self.comm.all_gather_into(&mine[..], &mut all[..]);
        let row = |r: usize| &all[INFO * r..INFO * (r + 1)];
        for r in 0..p {
            if row(r)[2] != row(0)[2] {
                return Err(Error::CellSize {
                    rank: r,
                    bytes: row(r)[2] as usize,
                    expected: row(0)[2] as usize,
                });
            }
        }
        for r in 0..p {
            if row(r)[3] != 0 {
                return Err(Error::InvalidWeight {
                    rank: r,
                    cell: row(r)[3] as usize - 1,
                    value: f64::from_bits(row(r)[4]),
                });
            }
        }
        let loads: Vec<f64> = (0..p).map(|r| f64::from_bits(row(r)[0])).collect();
        let counts: Vec<usize> = (0..p).map(|r| row(r)[1] as usize).collect();
        self.plan_stats.load_before = load;
        self.plan_stats.w_max = w_max;
        self.plan_stats.load_planned = load;
        self.plan_stats.partitioned = true;

        // 2. Plan: this rank's exports and, per owner, how many cells it computes.
        let mut imported_weight = 0.0;
        let mut borrowed: Vec<(usize, usize)> = Vec::new();
        let exports: Vec<Export> = match self.algorithm {
            Algorithm::Off => Vec::new(),
            Algorithm::Transfer(planner) => {
                let mut total = 0.0;
                let mut max = 0.0f64;
                for &l in &loads {
                    total += l;
                    max = max.max(l);
                }
                let avg = total / p as f64;
                if p == 1 || avg <= 0.0 || max / avg - 1.0 <= self.skip_below {
                    Vec::new()
                } else {
                    let transfers = if self.stable { transfers } else { None };
                    let t = planner.transfers(&loads, Some(&self.nodes), transfers.as_ref())?;
                    let prev = if transfers.is_some() {
                        Some(&previous[..])
                    } else {
                        None
                    };
                    let exports = planner.select_exports(me, &self.weights, &t, prev)?;
                    // Tell each helper how many cells (and how much weight) to expect.
                    let outgoing = t.outgoing(me);
                    let incoming: Vec<usize> = t.incoming(me).map(|m| m.sender).collect();
                    let mut b = self.anchor.sibling_builder::<u64>();
                    for m in outgoing {
                        let mut n = 0u64;
                        let mut w = 0.0;
                        for e in exports.iter().filter(|e| e.helper == m.helper) {
                            n += 1;
                            w += self.weights[e.cell];
                        }
                        b = b.send_owned(vec![n, f64::to_bits(w)], m.helper as i32, TAG_COUNT);
                    }
                    for &s in &incoming {
                        b = b.recv_owned(vec![0u64; 2], s as i32, TAG_COUNT);
                    }
                    let mut set = b.build()?;
                    set.run()?;
                    for (k, &s) in incoming.iter().enumerate() {
                        let msg = set.recv_buf(k);
                        if msg[0] > 0 {
                            borrowed.push((s, msg[0] as usize));
                            imported_weight += f64::from_bits(msg[1]);
                        }
                    }
                    self.transfers = Some(t);
                    exports
                }
            }
            Algorithm::Greedy(_) | Algorithm::Sort(_) | Algorithm::Sort2(_) => {
                let total_cells: usize = counts.iter().sum();
                let icounts: Vec<i32> = counts.iter().map(|&c| c as i32).collect();
                let mut displs = Vec::with_capacity(p);
                let mut acc = 0i32;
                for &c in &icounts {
                    displs.push(acc);
                    acc += c;
                }
                let mut flat = vec![0.0f64; total_cells];
                {
                    let mut part = PartitionMut::new(&mut flat[..], &icounts[..], &displs[..]);
                    self.comm
                        .all_gather_varcount_into(&self.weights[..], &mut part);
                }
                let weights = Weights::from_flat(flat, &counts)?;
                let problem = Problem::new(weights).with_nodes(self.nodes.clone())?;
                let plan = match self.algorithm {
                    Algorithm::Greedy(g) => g.plan(&problem)?,
                    Algorithm::Sort(s) => s.plan(&problem)?,
                    Algorithm::Sort2(s) => s.plan(&problem)?,
                    _ => unreachable!("matched above"),
                };
                for im in plan.imports(me) {
                    imported_weight += problem.weights().rank(im.owner)[im.cell];
                    match borrowed.last_mut() {
                        Some((o, n)) if *o == im.owner => *n += 1,
                        _ => borrowed.push((im.owner, 1)),
                    }
                }
                if tracing::enabled!(tracing::Level::TRACE) {
                    if let Ok(m) =
                        Metrics::compute_with_nodes(problem.weights(), &plan, Some(&self.nodes))
                    {
                        tracing::trace!(
                            rank = me,
                            imbalance = m.imbalance,
                            gap = m.gap,
                            "quicklb plan metrics"
                        );
                    }
                }
                plan.exports(me).to_vec()
            }
        };

        // 3. Buffers and persistent requests, built once for every iterate().
        let mut grouped = exports.clone();
        grouped.sort_unstable_by_key(|e| (e.helper, e.cell));
        let mut exported_weight = 0.0;
        for e in &grouped {
            exported_weight += self.weights[e.cell];
            self.is_lent[e.cell] = true;
            self.lent_cells.push(e.cell);
            match self.lent_groups.last_mut() {
                Some((h, _, n)) if *h == e.helper => *n += 1,
                _ => self
                    .lent_groups
                    .push((e.helper, self.lent_cells.len() - 1, 1)),
            }
        }
        let mut b = self.anchor.sibling_builder::<u8>();
        for &(h, _, n) in &self.lent_groups {
            b = b
                .send_owned(vec![0u8; n * cell_bytes], h as i32, TAG_FORWARD)
                .recv_owned(
                    vec![0u8; n * (cell_bytes + COST_BYTES)],
                    h as i32,
                    TAG_RETURN,
                );
        }
        self.lent_set = b.build()?;
        let mut bin = self.anchor.sibling_builder::<u8>();
        let mut bout = self.anchor.sibling_builder::<u8>();
        for &(o, n) in &borrowed {
            bin = bin.recv_owned(vec![0u8; n * cell_bytes], o as i32, TAG_FORWARD);
            bout = bout.send_owned(
                vec![0u8; n * (cell_bytes + COST_BYTES)],
                o as i32,
                TAG_RETURN,
            );
        }
        self.in_set = bin.build()?;
        self.out_set = bout.build()?;

        self.plan_stats.cells_lent = grouped.len();
        self.plan_stats.bytes_lent = grouped.len() * cell_bytes;
        self.plan_stats.cells_borrowed = borrowed.iter().map(|x| x.1).sum();
        self.plan_stats.pairs_out = self.lent_groups.len();
        self.plan_stats.load_planned = load - exported_weight + imported_weight;
        self.borrowed_groups = borrowed;
        self.exports = exports;
        Ok(())
    }

    /// One step: every local cell is computed exactly once by `compute`, here or
    /// on a helper rank. **Collective**: only the planned pairs exchange
    /// messages, plus one 8-byte non-blocking allreduce that checks the cell
    /// counts while the step runs (see [`Builder::check_counts`]).
    ///
    /// In order: pack the lent cells and start their messages, compute the own
    /// cells while they travel, compute the borrowed cells as they arrive and
    /// send their results and costs back, then unpack the results of the lent
    /// cells. Each cell's compute time becomes its weight for the next
    /// `partition()` (cheap cells are timed in blocks, see
    /// [`Builder::timing_block`]). No allocation.
    ///
    /// `compute` must depend only on the cell (it may run on another rank for
    /// lent cells). A panic in it aborts the job (see
    /// [`Builder::abort_on_panic`]).
    ///
    /// # Errors
    /// On every rank: [`Error::CellCount`] if some rank passes a number of cells
    /// other than declared. That rank touches none of its cells (it still
    /// computes the cells it borrowed, so nobody waits for ever); the other
    /// ranks have completed the step. Transport errors.
    pub fn iterate<S, F>(&mut self, cells: &mut S, mut compute: F) -> Result<()>
    where
        S: CellStore<Cell = T> + ?Sized,
        F: FnMut(&mut T),
    {
        let start = Instant::now();
        let span = tracing::trace_span!("quicklb.iterate", rank = self.rank);
        let _enter = span.enter();
        let actual = cells.len();
        if !self.check_counts {
            assert_eq!(
                actual, self.cells,
                "quicklb: iterate() got {actual} cells, the balancer was built for {}",
                self.cells
            );
        }
        let ok = actual == self.cells;
        if self.size == 1 && !ok {
            return Err(Error::CellCount {
                rank: 0,
                expected: self.cells,
                actual,
            });
        }
        let agree = self.check_counts && self.size > 1;
        let Self {
            weights,
            block,
            poll,
            lent_cells,
            lent_groups,
            is_lent,
            borrowed_groups,
            lent_set,
            in_set,
            out_set,
            comm,
            rank,
            ..
        } = self;
        let mut parts = StepParts {
            weights,
            block: *block,
            poll: *poll,
            lent_cells,
            lent_groups,
            is_lent,
            borrowed_groups,
            lent_set,
            in_set,
            out_set,
        };
        // The count check: lowest bad rank + 1 (min over ranks, MAX if none),
        // reduced while the step runs. A rank with a wrong count touches none
        // of its cells but still serves its messages, so nobody waits for ever.
        let mine = if ok { u64::MAX } else { *rank as u64 + 1 };
        let mut first = u64::MAX;
        let stepped = if agree {
            mpi::request::scope(|scope| {
                let req = comm.immediate_all_reduce_into(
                    scope,
                    &mine,
                    &mut first,
                    SystemOperation::min(),
                );
                let stepped = step::<T, S, F>(ok.then_some(cells), &mut compute, &mut parts);
                complete(req, parts.poll);
                stepped
            })
        } else {
            step::<T, S, F>(Some(cells), &mut compute, &mut parts)
        };
        let (compute_own, compute_borrowed, wait) = stepped?;
        if first != u64::MAX {
            let pair = [self.cells as u64, actual as u64];
            let mut all = vec![0u64; 2 * self.size];
            self.comm.all_gather_into(&pair[..], &mut all[..]);
            let r = first as usize - 1;
            return Err(Error::CellCount {
                rank: r,
                expected: all[2 * r] as usize,
                actual: all[2 * r + 1] as usize,
            });
        }
        if self.smoothing < 1.0 {
            let a = self.smoothing;
            for (w, s) in self.weights.iter_mut().zip(self.smoothed.iter_mut()) {
                if self.measured {
                    *w = a * *w + (1.0 - a) * *s;
                }
                *s = *w;
            }
            self.measured = true;
        }
        let cells_lent = self.lent_cells.len();
        // Cells per clock read for the next step: about `timing_block` seconds.
        let own = self.cells - cells_lent;
        if own > 0 && self.timing_block > 0.0 && compute_own > 0.0 {
            let per_cell = compute_own / own as f64;
            self.block = ((self.timing_block / per_cell) as usize).clamp(1, MAX_BLOCK);
        } else {
            self.block = 1;
        }
        self.step = StepStats {
            compute_own,
            compute_borrowed,
            wait,
            total: start.elapsed().as_secs_f64(),
            cells_lent,
            cells_borrowed: self.plan_stats.cells_borrowed,
        };
        self.totals.steps += 1;
        self.totals.wait += wait;
        Ok(())
    }

    /// Cells timed per clock read in the next `iterate()` (see
    /// [`Builder::timing_block`]).
    pub fn timing_stride(&self) -> usize {
        self.block
    }

    pub(crate) fn comm(&self) -> &SimpleCommunicator {
        &self.comm
    }

    pub(crate) fn plan_stats(&self) -> &PlanStats {
        &self.plan_stats
    }

    pub(crate) fn totals(&self) -> Totals {
        self.totals
    }

    pub(crate) fn computed_by(&self, cell: usize) -> usize {
        if self.is_lent[cell] {
            match self.exports.binary_search_by_key(&cell, |e| e.cell) {
                Ok(k) => self.exports[k].helper,
                Err(_) => self.rank,
            }
        } else {
            self.rank
        }
    }
}

/// Gives `per` to every cell of a timed block that was computed here.
#[inline]
fn spread(weights: &mut [f64], lent: &[bool], per: f64) {
    for (w, &l) in weights.iter_mut().zip(lent) {
        if !l {
            *w = per;
        }
    }
}

/// Completes a round: `MPI_Wait`, or test-and-sleep with a poll interval.
fn finish(
    mut round: quicklb_transport::InFlight<'_, u8>,
    poll: Option<std::time::Duration>,
) -> Result<()> {
    match poll {
        None => round.wait()?,
        Some(d) => {
            while !round.test()? {
                std::thread::sleep(d);
            }
        }
    }
    Ok(())
}

/// The parts of a [`LoadBalancer`] one step works on.
struct StepParts<'a> {
    weights: &'a mut [f64],
    block: usize,
    poll: Option<std::time::Duration>,
    lent_cells: &'a [usize],
    lent_groups: &'a [(usize, usize, usize)],
    is_lent: &'a [bool],
    borrowed_groups: &'a [(usize, usize)],
    lent_set: &'a mut PersistentSet<'static, u8>,
    in_set: &'a mut PersistentSet<'static, u8>,
    out_set: &'a mut PersistentSet<'static, u8>,
}

/// One step's work and messages; without `cells` (wrong count on this rank)
/// only the messages and the borrowed cells. Returns the compute times of own
/// and borrowed cells and the time waited, in seconds.
fn step<T, S, F>(
    mut cells: Option<&mut S>,
    compute: &mut F,
    parts: &mut StepParts<'_>,
) -> Result<(f64, f64, f64)>
where
    T: Pod,
    S: CellStore<Cell = T> + ?Sized,
    F: FnMut(&mut T),
{
    let StepParts {
        weights,
        block,
        poll,
        lent_cells,
        lent_groups,
        is_lent,
        borrowed_groups,
        lent_set,
        in_set,
        out_set,
    } = parts;
    let (block, poll) = (*block, *poll);
    let (lent_cells, lent_groups, is_lent, borrowed_groups) =
        (*lent_cells, *lent_groups, *is_lent, *borrowed_groups);
    let sz = std::mem::size_of::<T>();

    // Pack the lent cells (without cells: send the stale buffers).
    for (k, &(_, first, n)) in lent_groups.iter().enumerate() {
        let Some(cells) = cells.as_deref() else {
            break;
        };
        let buf = lent_set.send_buf_mut(k);
        for (j, &i) in lent_cells[first..first + n].iter().enumerate() {
            buf[j * sz..(j + 1) * sz].copy_from_slice(bytemuck::bytes_of(&cells.load(i)));
        }
    }
    let lent_round = lent_set.start_all()?;
    let in_round = in_set.start_all()?;

    // Own cells, while the lent ones travel. The clock is read after every
    // `block` cells (1 unless cells are cheaper than `timing_block`).
    let block = block.max(1);
    let t0 = Instant::now();
    let mut t = t0;
    let mut in_block = 0usize;
    let mut block_start = 0usize;
    let own_cells = if cells.is_some() { is_lent.len() } else { 0 };
    for i in 0..own_cells {
        if is_lent[i] {
            continue;
        }
        let Some(cells) = cells.as_deref_mut() else {
            break;
        };
        cells.update(i, &mut *compute);
        in_block += 1;
        if in_block == block {
            let now = Instant::now();
            let per = (now - t).as_secs_f64() / in_block as f64;
            spread(
                &mut weights[block_start..=i],
                &is_lent[block_start..=i],
                per,
            );
            t = now;
            in_block = 0;
            block_start = i + 1;
        }
    }
    if in_block > 0 && cells.is_some() {
        let now = Instant::now();
        let per = (now - t).as_secs_f64() / in_block as f64;
        spread(&mut weights[block_start..], &is_lent[block_start..], per);
        t = now;
    }
    let compute_own = (t - t0).as_secs_f64();
    let mut wait = 0.0;

    // Borrowed cells: compute and send back.
    let mut compute_borrowed = 0.0;
    let out_round = if borrowed_groups.is_empty() {
        drop(in_round);
        None
    } else {
        let tw = Instant::now();
        finish(in_round, poll)?;
        wait += tw.elapsed().as_secs_f64();
        let stride = sz + COST_BYTES;
        for (k, &(_, n)) in borrowed_groups.iter().enumerate() {
            let src = in_set.recv_buf(k);
            let dst = out_set.send_buf_mut(k);
            let mut j0 = 0;
            while j0 < n {
                let j1 = (j0 + block).min(n);
                let tc = Instant::now();
                for j in j0..j1 {
                    let mut c: T = bytemuck::pod_read_unaligned(&src[j * sz..(j + 1) * sz]);
                    compute(&mut c);
                    dst[j * stride..j * stride + sz].copy_from_slice(bytemuck::bytes_of(&c));
                }
                let cost = tc.elapsed().as_secs_f64();
                compute_borrowed += cost;
                let per = (cost / (j1 - j0) as f64).to_ne_bytes();
                for j in j0..j1 {
                    dst[j * stride + sz..(j + 1) * stride].copy_from_slice(&per);
                }
                j0 = j1;
            }
        }
        Some(out_set.start_all()?)
    };

    // Results of the lent cells.
    let tw = Instant::now();
    finish(lent_round, poll)?;
    if let Some(r) = out_round {
        finish(r, poll)?;
    }
    wait += tw.elapsed().as_secs_f64();
    let stride = sz + COST_BYTES;
    for (k, &(_, first, n)) in lent_groups.iter().enumerate() {
        let Some(cells) = cells.as_deref_mut() else {
            break;
        };
        let buf = lent_set.recv_buf(k);
        for (j, &i) in lent_cells[first..first + n].iter().enumerate() {
            let d = &buf[j * stride..(j + 1) * stride];
            cells.store(i, bytemuck::pod_read_unaligned(&d[..sz]));
            let mut cost = [0u8; COST_BYTES];
            cost.copy_from_slice(&d[sz..]);
            weights[i] = f64::from_ne_bytes(cost);
        }
    }

    Ok((compute_own, compute_borrowed, wait))
}

/// Completes the count check's non-blocking allreduce.
fn complete<'a, S: mpi::request::Scope<'a>>(
    mut req: mpi::request::Request<'a, u64, S>,
    poll: Option<std::time::Duration>,
) {
    match poll {
        None => {
            req.wait_without_status();
        }
        Some(d) => loop {
            match req.test() {
                Ok(_) => break,
                Err(r) => {
                    req = r;
                    std::thread::sleep(d);
                }
            }
        },
    }
}
