//! The configuration: [`Algorithm`] (each planner with its own knobs), the
//! [`Builder`] that collects options, and the validated [`Config`] every rank
//! agrees on (by digest) when the balancer is built.

use std::marker::PhantomData;
use std::time::Duration;

use bytemuck::Pod;
use mpi::topology::Communicator;
use quicklb_partition::{
    DistributedPlanner, DlbFoam, Greedy, NodeMap, Replan, Sort, Sort2, Transfer,
};

use crate::balancer::LoadBalancer;
use crate::dynamic::Dynamic;
use crate::error::Result;

/// Which planner decides the loans, with its parameters.
///
/// The QUICKLB planners ([`Greedy`], [`Sort`], [`Sort2`]) need every cell weight
/// of every rank: `partition()` gathers them (`MPI_Allgatherv`). The default,
/// [`Transfer`], needs only the `p` rank loads (part of the one small allgather
/// every `partition()` does) and each rank's own weights; it is within one cell
/// of the optimum (`max load <= W/p + w_max`).
///
/// Each variant holds its planner's own parameter type: set them there
/// (`Algorithm::Transfer(Transfer { tolerance: 1e-3, ..Transfer::default() })`)
/// or with the [`Builder`]'s QUICKLB shorthands.
///
/// ```
/// use quicklb::Algorithm;
/// assert_eq!(Algorithm::default().name(), "Transfer");
/// assert_eq!(Algorithm::sort2().name(), "Sort2");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
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
    /// DLBFoam's planner: ranks sorted by load, the most loaded sends to the
    /// least loaded, each rank only a sender or a receiver, each sender lending a
    /// prefix of its cells ([`DlbFoam`]); needs only the rank loads.
    DlbFoam(DlbFoam),
    /// Any other [`DistributedPlanner`], e.g. a whole-problem
    /// [`Planner`](quicklb_partition::Planner) wrapped in
    /// [`WholeProblem`](quicklb_partition::WholeProblem); see [`Algorithm::custom`].
    Custom(&'static (dyn DistributedPlanner + Send + Sync)),
}

impl PartialEq for Algorithm {
    /// Same variant and same parameters (custom planners: same `Debug` text).
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
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

    /// [`Algorithm::DlbFoam`] with DLBFoam's defaults (operations under 1 % of
    /// the mean load dropped).
    pub fn dlbfoam() -> Self {
        Algorithm::DlbFoam(DlbFoam::default())
    }

    /// A planner of your own (kept for the life of the program, so that
    /// `Algorithm` stays `Copy`: call it once per planner, not per step).
    /// A whole-problem planner plugs in through
    /// [`WholeProblem`](quicklb_partition::WholeProblem) (it then gets every
    /// cell weight of every rank at each `partition()`):
    ///
    /// ```
    /// use quicklb::partition::{Greedy, WholeProblem};
    /// use quicklb::Algorithm;
    /// let mine = Algorithm::custom(WholeProblem(Greedy::default()));
    /// assert_eq!(mine.name(), "Greedy");
    /// assert!(mine.needs_all_weights());
    /// ```
    pub fn custom(planner: impl DistributedPlanner + Send + Sync + 'static) -> Self {
        Algorithm::Custom(Box::leak(Box::new(planner)))
    }

    /// Every built-in algorithm with its defaults, [`Algorithm::Off`] first.
    pub fn all() -> [Algorithm; 6] {
        [
            Algorithm::Off,
            Algorithm::transfer(),
            Algorithm::greedy(),
            Algorithm::sort(),
            Algorithm::sort2(),
            Algorithm::dlbfoam(),
        ]
    }

    /// A short name for tables and logs.
    pub fn name(&self) -> &'static str {
        match self.planner() {
            None => "Off",
            Some(p) => p.name(),
        }
    }

    /// Whether `partition()` gathers all cell weights for this algorithm.
    pub fn needs_all_weights(&self) -> bool {
        self.planner().is_some_and(|p| p.needs_all_weights())
    }

    /// The planner, `None` for [`Algorithm::Off`].
    pub fn planner(&self) -> Option<&dyn DistributedPlanner> {
        match self {
            Algorithm::Off => None,
            Algorithm::Transfer(t) => Some(t),
            Algorithm::Greedy(g) => Some(g),
            Algorithm::Sort(s) => Some(s),
            Algorithm::Sort2(s) => Some(s),
            Algorithm::DlbFoam(d) => Some(d),
            Algorithm::Custom(c) => Some(*c),
        }
    }
}

/// Builder of a [`LoadBalancer`]: start with [`LoadBalancer::builder`].
///
/// Nothing is checked until [`build`](Self::build), which validates every
/// option on every rank and agrees on the outcome: a bad value on one rank is
/// the same [`Error::Config`](crate::Error::Config) everywhere, and ranks built
/// with different algorithms, parameters, node maps or options get
/// [`Error::ConfigMismatch`](crate::Error::ConfigMismatch) everywhere.
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder<'c, C: Communicator, T> {
    pub(crate) comm: &'c C,
    pub(crate) cells: usize,
    pub(crate) algorithm: Algorithm,
    pub(crate) max_abs_li: Option<f64>,
    pub(crate) max_rel_li: Option<f64>,
    pub(crate) max_it: Option<usize>,
    pub(crate) stable: Option<bool>,
    pub(crate) weights: Option<Vec<f64>>,
    pub(crate) nodes: Option<Vec<usize>>,
    pub(crate) options: Options,
    pub(crate) _cell: PhantomData<fn() -> T>,
}

/// The options besides the algorithm, as given (validated by [`Options::check`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    pub(crate) abort_on_panic: bool,
    pub(crate) timing_block: f64,
    pub(crate) check_counts: bool,
    pub(crate) poll: Option<Duration>,
    pub(crate) smoothing: f64,
    pub(crate) watchdog: Option<Duration>,
    pub(crate) replan: Replan,
    pub(crate) dynamic: Dynamic,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            abort_on_panic: true,
            timing_block: 20e-6,
            check_counts: true,
            poll: None,
            smoothing: 1.0,
            watchdog: None,
            replan: Replan::Manual,
            dynamic: Dynamic::Off,
        }
    }
}

impl Options {
    fn check(&self) -> std::result::Result<(), String> {
        if !(self.timing_block.is_finite() && self.timing_block >= 0.0) {
            return Err(format!(
                "timing_block({}) must be finite and >= 0 seconds",
                self.timing_block
            ));
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(format!("smoothing({}) must be in (0, 1]", self.smoothing));
        }
        self.replan
            .check()
            .map_err(|e| format!("replan({:?}): {e}", self.replan))?;
        if self.watchdog.is_some_and(|d| d.is_zero()) {
            return Err("watchdog(Some(0 s)): the limit must be positive".into());
        }
        Ok(())
    }
}

impl<'c, C: Communicator, T: Pod> Builder<'c, C, T> {
    pub(crate) fn new(comm: &'c C, cells: usize) -> Self {
        Builder {
            comm,
            cells,
            algorithm: Algorithm::default(),
            max_abs_li: None,
            max_rel_li: None,
            max_it: None,
            stable: None,
            weights: None,
            nodes: None,
            options: Options::default(),
            _cell: PhantomData,
        }
    }

    /// The planner (default [`Algorithm::Transfer`]).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// QUICKLB's `max_abs_li` for Greedy, Sort and Sort2: stop when the largest
    /// relative imbalance `(load - avg) / avg` is below this (finite, `>= 0`).
    /// Any other algorithm: [`Error::Config`](crate::Error::Config) at build
    /// (Transfer's threshold is [`Transfer::min_imbalance`]).
    pub fn max_abs_li(mut self, value: f64) -> Self {
        self.max_abs_li = Some(value);
        self
    }

    /// QUICKLB's `max_rel_li` for Sort and Sort2: stop when a round improves the
    /// largest imbalance by less than this fraction (finite, `>= 0`). Any other
    /// algorithm: an error at build (Transfer's hysteresis is
    /// [`Transfer::tolerance`]).
    pub fn max_rel_li(mut self, value: f64) -> Self {
        self.max_rel_li = Some(value);
        self
    }

    /// QUICKLB's `max_it` for Greedy, Sort and Sort2: the maximum number of
    /// rounds (at least 1). Any other algorithm: an error at build.
    pub fn max_it(mut self, value: usize) -> Self {
        self.max_it = Some(value);
        self
    }

    /// Transfer only ([`Transfer::stable`]): warm-start every `partition()`
    /// from the plan in use, so that small changes of the weights move few
    /// cells. Default `false`. Any other algorithm: an error at build.
    pub fn stable(mut self, yes: bool) -> Self {
        self.stable = Some(yes);
        self
    }

    /// Initial weights of the local cells, one per cell (default: all 1).
    /// Lengths are checked collectively at [`build`](Self::build), values at
    /// the first [`LoadBalancer::partition`].
    pub fn weights(mut self, weights: Vec<f64>) -> Self {
        self.weights = Some(weights);
        self
    }

    /// Overrides the node of every rank (`node_of[rank]`, any labels), e.g. to
    /// emulate several nodes on one machine. Default: the nodes found by the
    /// shared-memory split (`MPI_Comm_split_type`). Every rank must give the
    /// same map.
    pub fn nodes(mut self, node_of: Vec<usize>) -> Self {
        self.nodes = Some(node_of);
        self
    }

    /// Whether [`build`](Self::build) installs
    /// [`quicklb_transport::abort_on_panic`] (default `true`): a panic on any
    /// rank, e.g. in `compute`, then aborts the whole job with its message.
    /// With `false`, a panic in `compute` is caught by `iterate` (see
    /// [`LoadBalancer::iterate`]): that rank returns
    /// [`Error::ComputePanicked`](crate::Error::ComputePanicked) and every rank
    /// gets it at the next collective call.
    pub fn abort_on_panic(mut self, yes: bool) -> Self {
        self.options.abort_on_panic = yes;
        self
    }

    /// How finely compute time is measured (default `20e-6` s, finite and
    /// `>= 0`). Every cell is timed on its own when cells take at least this
    /// long on average (measured in the previous step); cheaper cells are timed
    /// in blocks of about this duration, each cell of a block getting the
    /// block's average. `0.0` times every cell on its own.
    pub fn timing_block(mut self, seconds: f64) -> Self {
        self.options.timing_block = seconds;
        self
    }

    /// Whether a rank that passes `iterate()` another number of cells than
    /// declared is reported to every rank (default `true`). The check costs
    /// nothing per step: the rank with the wrong count returns
    /// [`Error::CellCount`](crate::Error::CellCount) at once (it touches none
    /// of its cells but serves its messages, so nobody waits), and every rank
    /// returns the same error at the next collective call (`partition`,
    /// `report`, `write_info`). With `false` only that rank sees the error.
    pub fn check_counts(mut self, yes: bool) -> Self {
        self.options.check_counts = yes;
        self
    }

    /// How `iterate()` waits for messages: `None` (default) blocks in
    /// `MPI_Wait`, which busy-polls in most MPI libraries; `Some(d)` tests the
    /// requests and sleeps `d` between tests, leaving the core to other
    /// processes (for ranks that share cores).
    pub fn wait_poll(mut self, interval: Option<Duration>) -> Self {
        self.options.poll = interval;
        self
    }

    /// Smooths the measured costs: each cell's weight becomes
    /// `alpha * measured + (1 - alpha) * previous weight` (the first
    /// measurement is taken as is). Default `1.0`: the last measurement only.
    /// Must be in `(0, 1]`.
    pub fn smoothing(mut self, alpha: f64) -> Self {
        self.options.smoothing = alpha;
        self
    }

    /// A time limit on the balancer's collective work (default `None`: no
    /// watchdog). When a `build`, `partition`, `report` or the messages of an
    /// `iterate` (not your `compute`) have not completed within `limit` — a
    /// rank that never joins, e.g. `partition()` called on some ranks only —
    /// a watchdog thread prints the call, the rank and the step to stderr and
    /// aborts the process, which ends the MPI job. An `iterate` waits for the
    /// results of its lent cells, i.e. for its helpers' compute: choose a
    /// limit well above the longest step. Every rank must give the same limit.
    /// The watchdog is one sleeping thread; arming it costs a mutex lock.
    pub fn watchdog(mut self, limit: Option<Duration>) -> Self {
        self.options.watchdog = limit;
        self
    }

    /// When `iterate()` re-plans by itself (default [`Replan::Manual`]: only
    /// when you call [`LoadBalancer::partition`]). With [`Replan::Every`]`(n)`
    /// it plans before the first step and every `n` steps; with
    /// [`Replan::Auto`] when the busiest rank of the last step was more than a
    /// threshold above the best any plan can do and the time a plan is
    /// predicted to save over the next steps exceeds what the last plan cost
    /// (see [`AutoReplan`](quicklb_partition::AutoReplan)). The figures of
    /// each step are agreed by two small non-blocking all-reduces in flight
    /// together (24 and 8 bytes; started at the end of a step, completed at
    /// the start of the next), so every rank takes the same decision. What it
    /// did: [`LoadBalancer::replan_stats`]. Every rank must give the same mode.
    ///
    /// ```no_run
    /// use mpi::traits::*;
    /// use quicklb::{LoadBalancer, Replan};
    ///
    /// let universe = mpi::initialize().unwrap();
    /// let world = universe.world();
    /// let mut cells = vec![1.0f64; 100];
    /// let mut lb = LoadBalancer::<f64>::builder(&world, cells.len())
    ///     .replan(Replan::auto())
    ///     .build()?;
    /// for _step in 0..100 {
    ///     // no partition(): iterate plans when it pays
    ///     lb.iterate(&mut cells[..], |c| *c = c.sqrt())?;
    /// }
    /// println!("{}", lb.replan_stats());
    /// # Ok::<(), quicklb::Error>(())
    /// ```
    pub fn replan(mut self, mode: Replan) -> Self {
        self.options.replan = mode;
        self
    }

    /// Dynamic sharing within a step (default [`Dynamic::Off`]: planned loans
    /// only). With [`Dynamic::OnNode`], what is still uneven after the planned
    /// loans is evened out while the step runs: each rank publishes its
    /// not-lent cells in node shared memory and computes them chunk by chunk;
    /// ranks of the node that are done take chunks of the busiest rank's
    /// remaining cells (claims by atomics, no help from its thread) and hand
    /// back results and measured costs, which feed the next `partition()`.
    /// Chunks follow guided self-scheduling (remaining / 2 ranks, smaller at the
    /// tail) and cover at least [`timing_block`](Self::timing_block) of work
    /// (few claims for cheap cells). [`LoadBalancer::last_step`] counts the
    /// cells given and taken and the claims. Every rank must give the same mode.
    pub fn dynamic(mut self, mode: Dynamic) -> Self {
        self.options.dynamic = mode;
        self
    }

    /// Creates the balancer. **Collective** over the communicator.
    ///
    /// # Errors
    /// The same on every rank: [`Error::Config`](crate::Error::Config) for an
    /// invalid option on some rank (the first such rank's message);
    /// [`Error::ConfigMismatch`](crate::Error::ConfigMismatch) if ranks were
    /// configured differently; [`Error::CellSize`](crate::Error::CellSize) if
    /// the cell types differ in size; [`Error::Length`](crate::Error::Length)
    /// for initial weights or a node map of the wrong length; transport errors.
    pub fn build(self) -> Result<LoadBalancer<T>> {
        LoadBalancer::from_builder(self)
    }
}

/// The validated configuration of a balancer.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) algorithm: Algorithm,
    pub(crate) options: Options,
}

impl Config {
    /// Applies the QUICKLB shorthands to the algorithm and checks everything.
    pub(crate) fn validate<C: Communicator, T>(
        b: &Builder<'_, C, T>,
    ) -> std::result::Result<Config, String> {
        let mut algorithm = b.algorithm;
        let name = algorithm.name();
        let misplaced = |what: &str, owner: &str| -> String {
            format!("{what} is a parameter of {owner}, not of {name}")
        };
        match &mut algorithm {
            Algorithm::Greedy(g) => {
                if let Some(v) = b.max_abs_li {
                    g.max_abs_li = v;
                }
                if let Some(v) = b.max_it {
                    g.max_it = v;
                }
                if b.max_rel_li.is_some() {
                    return Err(misplaced("max_rel_li", "Sort and Sort2"));
                }
            }
            Algorithm::Sort(s) | Algorithm::Sort2(Sort2 { sort: s }) => {
                if let Some(v) = b.max_abs_li {
                    s.max_abs_li = v;
                }
                if let Some(v) = b.max_rel_li {
                    s.max_rel_li = v;
                }
                if let Some(v) = b.max_it {
                    s.max_it = v;
                }
            }
            _ => {
                for (given, what) in [
                    (b.max_abs_li.is_some(), "max_abs_li"),
                    (b.max_rel_li.is_some(), "max_rel_li"),
                    (b.max_it.is_some(), "max_it"),
                ] {
                    if given {
                        return Err(misplaced(what, "Greedy, Sort and Sort2"));
                    }
                }
            }
        }
        match (&mut algorithm, b.stable) {
            (Algorithm::Transfer(t), Some(stable)) => t.stable = stable,
            (_, Some(_)) => return Err(misplaced("stable", "Transfer")),
            _ => {}
        }
        if let Some(planner) = algorithm.planner() {
            planner
                .check()
                .map_err(|e| format!("{}: {e}", planner.name()))?;
        }
        b.options.check()?;
        Ok(Config {
            algorithm,
            options: b.options.clone(),
        })
    }

    /// Digests of what every rank must agree on: the algorithm with its
    /// parameters, and the options that change collective behaviour.
    pub(crate) fn digests(&self) -> [u64; 2] {
        let o = &self.options;
        [
            digest(format!("{:?}", self.algorithm).as_bytes()),
            digest(
                format!(
                    "{:?} {:?} {:?} {:?}",
                    o.check_counts, o.watchdog, o.replan, o.dynamic
                )
                .as_bytes(),
            ),
        ]
    }
}

/// Digest of a node map (FNV-1a over its labels).
pub(crate) fn nodes_digest(nodes: &NodeMap) -> u64 {
    let mut bytes = Vec::with_capacity(8 * nodes.len());
    for &n in nodes.node_of() {
        bytes.extend_from_slice(&(n as u64).to_le_bytes());
    }
    digest(&bytes)
}

/// FNV-1a, 64 bits: the same on every machine.
fn digest(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_tell_parameters_apart() {
        let c = |a: Algorithm| Config {
            algorithm: a,
            options: Options::default(),
        };
        let base = c(Algorithm::sort()).digests();
        assert_eq!(base, c(Algorithm::sort()).digests());
        assert_ne!(base[0], c(Algorithm::sort2()).digests()[0]);
        let other = Sort {
            max_it: 3,
            ..Sort::default()
        };
        assert_ne!(base[0], c(Algorithm::Sort(other)).digests()[0]);
        assert_ne!(
            nodes_digest(&NodeMap::new(vec![0, 0])),
            nodes_digest(&NodeMap::new(vec![0, 1]))
        );
    }
}
