//! The Gray-Scott reaction-diffusion demo: QUICKLB's example in Rust, with the
//! per-cell chemistry load-balanced by [`quicklb`].
//!
//! An `N × N` periodic grid is split in row slabs over the ranks
//! ([`Decomposition::row_slabs`]: `N/p` rows each, one more on the first
//! `N % p` ranks). The fields `A` and `B` of a rank live in its segment of a
//! [`SharedArray`] of the node, each as a halo-padded `(rows + 2) × (N + 2)`
//! block. Each step, in the QUICKLB example's order:
//!
//! 1. fill the ghosts (from the neighbours' shared segments, or by persistent
//!    messages when the ranks span several nodes) and compute `LA`, `LB`, the
//!    5-point Laplacians of the current fields;
//! 2. integrate the chemistry of every cell over one time unit
//!    ([`Chemistry::integrate`], adaptive RODAS3, rtol 1e-4): active cells need
//!    many steps, cells at rest one; this is the imbalance the balancer removes
//!    by lending cells to less busy ranks;
//! 3. `A += 0.1·LA`, `B += 0.05·LB`.
//!
//! The cells are read and written in place in the shared fields through
//! [`PaddedCells`], a [`CellStore`] over the padded layout: no copy of the
//! domain, only the lent cells travel.
//!
//! # Initial state and its scaling with `N`
//!
//! `A = 1`, `B = 0`, except `A = 0.5`, `B = 0.25` in the block of rows
//! `N/2 − h_r .. N/2 + h_r` and columns `N/2 − h_c .. N/2 + h_c` (half-open,
//! integer division) with `h_r = round(3N/30)` and `h_c = round(10N/30)` (at
//! least 1, halves rounded up, the block clipped to the grid). At `N = 30` this
//! is exactly QUICKLB's rows 12..18 and columns 5..25; at `N = 256` rows
//! 102..154 and columns 43..213. See [`seed_block`].
//!
//! # Measuring with and without balancing in one run
//!
//! Step 0 and every `compare_every`-th step after it are *probe* steps: the
//! chemistry runs without balancing (through quicklb's `Algorithm::Off`
//! path, the same loop as balanced steps: each rank computes its own cells,
//! each cell timed), which measures the unbalanced step on the same simulation and
//! gives the balancer fresh per-cell costs. The other steps are balanced; the
//! balancer re-plans before the first balanced step and then every
//! `partition_every` balanced steps, from the costs measured by the last step.
//! The probes are spread over the run, so both kinds of step see the pattern
//! at the same stages. [`Simulation::summary`] averages, per kind of step, the
//! step time (slowest rank), the chemistry time of the busiest rank, and the
//! imbalance `max/avg` of the ranks' chemistry time *before* lending (each
//! rank's own cells, measured wherever they were computed) and *after* (the
//! time each rank actually spent), and the same two imbalances counted in
//! integrator steps (the work itself, immune to other processes sharing the
//! cores). Step 0 is left out of the averages when
//! there are other probes (warm-up). Which ranks compute a cell never changes
//! its result: balanced and unbalanced runs give bitwise the same fields.
//!
//! # Cell weights
//!
//! By default ([`CostModel::Steps`]) the balancer plans with each cell's
//! integrator step count in the last step: every RODAS3 step costs the same
//! few hundred flops, so this is the cell's work, the same on every machine,
//! and unaffected by other processes when cores are oversubscribed. The count
//! travels back with each lent cell (cells are `[a, b, cost]`).
//! [`CostModel::Time`] plans with measured compute times instead, as QUICKLB
//! does.

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use quicklb::{Algorithm, CellStore, LoadBalancer, Replan};
use quicklb_stencil::halo::{all_on_one_node, MessageHalo, SharedHalo};
use quicklb_stencil::{fill_halo, laplacian, split, Boundary, Decomposition, Stencil};
use quicklb_transport::{split_shared, SharedArray};

use crate::chemistry::{Chemistry, ChemistryError, GrayScottCell};
use crate::step_stats::summarize;
pub use crate::step_stats::{PhaseStats, StepRecord, Summary};

/// Diffusion coefficient of `A` per step (`A += D_A · LA`).
pub const D_A: f64 = 0.1;
/// Diffusion coefficient of `B` per step (`B += D_B · LB`).
pub const D_B: f64 = 0.05;
/// Time integrated by the chemistry of each cell per step.
pub const REACTION_TIME: f64 = 1.0;

/// The largest grid size the demo accepts: `N² <= 2^31 - 1` (see
/// [`Simulation::check`]).
pub const MAX_SIZE: usize = 46340;

/// Everything that can go wrong in the demo. Argument errors are decided from
/// values every rank has, so every rank returns the same one.
#[derive(Debug, thiserror::Error)]
pub enum GrayScottError {
    /// A size, rank count or option the demo cannot run with.
    #[error("{0}")]
    InvalidArgument(String),
    /// Decomposition, halo or kernel error.
    #[error("stencil: {0}")]
    Stencil(#[from] quicklb_stencil::Error),
    /// Shared memory, MPI-IO.
    #[error("transport: {0}")]
    Transport(#[from] quicklb_transport::Error),
    /// The load balancer.
    #[error("load balancer: {0}")]
    Balancer(#[from] quicklb::Error),
    /// The integration of a cell failed (on every rank; `detail` is the
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

/// Result of the demo's functions.
pub type Result<T, E = GrayScottError> = std::result::Result<T, E>;

/// The rows and columns of the initial `A = 0.5, B = 0.25` block for an
/// `n × n` grid (see the module docs for the scaling rule).
///
/// ```
/// use quicklb_examples::gray_scott::seed_block;
/// assert_eq!(seed_block(30), (12..18, 5..25)); // QUICKLB's case
/// assert_eq!(seed_block(256), (102..154, 43..213));
/// ```
pub fn seed_block(n: usize) -> (Range<usize>, Range<usize>) {
    let half_rows = ((3 * n + 15) / 30).max(1);
    let half_cols = ((10 * n + 15) / 30).max(1);
    let c = n / 2;
    (
        c.saturating_sub(half_rows)..(c + half_rows).min(n),
        c.saturating_sub(half_cols)..(c + half_cols).min(n),
    )
}

/// The initial `(A, B)` of global cell `(i, j)` of an `n × n` grid.
pub fn initial_value(n: usize, i: usize, j: usize) -> (f64, f64) {
    let (rows, cols) = seed_block(n);
    if rows.contains(&i) && cols.contains(&j) {
        (0.5, 0.25)
    } else {
        (1.0, 0.0)
    }
}

/// How ghosts are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HaloKind {
    /// Shared memory when all ranks share one node, messages otherwise.
    #[default]
    Auto,
    /// Read the neighbours' shared segments (all ranks on one node).
    Shared,
    /// Persistent messages (any cluster); fields still in a node-shared array.
    Messages,
}

/// The balancer's algorithms by name (for `--algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AlgorithmName {
    /// Rank-level transfers from the rank loads (quicklb's default).
    #[default]
    Transfer,
    /// QUICKLB's GREEDY (surplus travels around a ring).
    Greedy,
    /// QUICKLB's SORT (most loaded paired with least loaded).
    Sort,
    /// QUICKLB's SORT2 (SORT within each node, then across nodes).
    Sort2,
    /// DLBFoam's planner (sorted ranks, each only a sender or a receiver).
    Dlbfoam,
    /// The balancer's code path without lending (a reference point).
    Off,
}

impl AlgorithmName {
    /// The algorithm with its default parameters.
    pub fn algorithm(self) -> Algorithm {
        match self {
            AlgorithmName::Transfer => Algorithm::transfer(),
            AlgorithmName::Greedy => Algorithm::greedy(),
            AlgorithmName::Sort => Algorithm::sort(),
            AlgorithmName::Sort2 => Algorithm::sort2(),
            AlgorithmName::Dlbfoam => Algorithm::dlbfoam(),
            AlgorithmName::Off => Algorithm::Off,
        }
    }
}

/// What the balancer plans with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CostModel {
    /// Each cell's integrator steps (accepted + rejected) in the last step:
    /// the work itself, the same on every machine and unaffected by other
    /// processes sharing the cores (every RODAS3 step costs the same).
    #[default]
    Steps,
    /// Each cell's measured compute time in the last step (QUICKLB's way;
    /// noisy when cores are oversubscribed).
    Time,
}

/// Settings of a [`Simulation`]; the same on every rank.
#[derive(Clone, Debug)]
pub struct Config {
    /// Grid size `N` (the grid is `N × N`).
    pub size: usize,
    /// The balancer's algorithm; `None` runs every step without balancing.
    pub algorithm: Option<Algorithm>,
    /// Re-plan every this many balanced steps (at least 1), with
    /// `replan: Replan::Manual`.
    pub partition_every: usize,
    /// Who re-plans: `Manual` (default: this simulation, every
    /// `partition_every` balanced steps), or the balancer's `iterate` itself
    /// (`Replan::Every(n)`, `Replan::Auto`).
    pub replan: Replan,
    /// Run step 0 and every `compare_every`-th step without balancing, to
    /// measure the unbalanced step; 0: step 0 only.
    pub compare_every: usize,
    /// How ghosts are filled.
    pub halo: HaloKind,
    /// The cell weights the balancer plans with.
    pub cost: CostModel,
    /// Kinetics and tolerances.
    pub chemistry: Chemistry,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            size: 256,
            algorithm: Some(Algorithm::default()),
            partition_every: 10,
            replan: Replan::Manual,
            compare_every: 10,
            halo: HaloKind::Auto,
            cost: CostModel::Steps,
            chemistry: Chemistry::default(),
        }
    }
}

/// A [`CellStore`] over two halo-padded fields: cell `i` is interior cell
/// `(i / cols, i % cols)` of `A` and `B`, read and written in place.
///
/// A cell travels as `[a, b, cost]`: the compute writes the cell's integrator
/// step count into `cost`, and storing the cell back files it in `costs[i]`,
/// so the owner learns the work of its lent cells too.
#[derive(Debug)]
pub struct PaddedCells<'a> {
    a: &'a mut [f64],
    b: &'a mut [f64],
    costs: &'a mut [f64],
    rows: usize,
    cols: usize,
}

impl<'a> PaddedCells<'a> {
    /// Wraps padded fields of `(rows + 2) × (cols + 2)` (row-major) and the
    /// `rows × cols` per-cell costs.
    ///
    /// # Panics
    /// If a field or the costs do not have that length.
    pub fn new(
        a: &'a mut [f64],
        b: &'a mut [f64],
        costs: &'a mut [f64],
        rows: usize,
        cols: usize,
    ) -> Self {
        let len = (rows + 2) * (cols + 2);
        assert!(
            a.len() == len && b.len() == len && costs.len() == rows * cols,
            "PaddedCells: fields of {} and {} values, expected {len}; {} costs, expected {}",
            a.len(),
            b.len(),
            costs.len(),
            rows * cols
        );
        PaddedCells {
            a,
            b,
            costs,
            rows,
            cols,
        }
    }

    /// The per-cell costs (integrator steps) filed by [`CellStore::store`].
    pub fn costs(&self) -> &[f64] {
        self.costs
    }

    #[inline]
    fn index(&self, i: usize) -> usize {
        (i / self.cols + 1) * (self.cols + 2) + i % self.cols + 1
    }
}

impl CellStore for PaddedCells<'_> {
    type Cell = [f64; 3];
    #[inline]
    fn len(&self) -> usize {
        self.rows * self.cols
    }
    #[inline]
    fn load(&self, i: usize) -> [f64; 3] {
        let k = self.index(i);
        [self.a[k], self.b[k], 0.0]
    }
    #[inline]
    fn store(&mut self, i: usize, cell: [f64; 3]) {
        let k = self.index(i);
        self.a[k] = cell[0];
        self.b[k] = cell[1];
        self.costs[i] = cell[2];
    }
}

/// Integrates one cell; counts its steps into `work`, keeps the first error.
///
/// Never inlined, so the balanced and the unbalanced paths run the very same
/// machine code per cell and their times compare fairly.
#[inline(never)]
fn react_cell(
    chem: &Chemistry,
    c: &mut [f64; 3],
    work: &mut u64,
    failure: &mut Option<ChemistryError>,
) {
    let mut cell = GrayScottCell { a: c[0], b: c[1] };
    match chem.integrate(&mut cell, REACTION_TIME) {
        Ok(steps) => {
            *work += u64::from(steps.total());
            *c = [cell.a, cell.b, f64::from(steps.total())];
        }
        Err(e) => {
            failure.get_or_insert(e);
        }
    }
}

/// `u += coef · lap` on the interior of the padded field `u`.
fn add_scaled(u: &mut [f64], lap: &Array2<f64>, coef: f64) {
    let cols = lap.ncols();
    for (i, l) in lap.rows().into_iter().enumerate() {
        let row = &mut u[(i + 1) * (cols + 2) + 1..(i + 1) * (cols + 2) + 1 + cols];
        for (x, &d) in row.iter_mut().zip(l.iter()) {
            *x += coef * d;
        }
    }
}

enum Halo {
    Shared(SharedHalo),
    Messages(MessageHalo),
}

/// One rank's part of the distributed simulation.
pub struct Simulation {
    comm: SimpleCommunicator,
    decomp: Decomposition,
    config: Config,
    halo: Halo,
    /// `[A padded | B padded]` in this rank's segment.
    fields: SharedArray<f64>,
    padded_len: usize,
    lap_a: Array2<f64>,
    lap_b: Array2<f64>,
    balancer: Option<LoadBalancer<[f64; 3]>>,
    /// Runs the unbalanced steps: quicklb's `Algorithm::Off`, never
    /// partitioned (nothing lent, every cell timed).
    unbalanced: LoadBalancer<[f64; 3]>,
    /// Per-cell integrator steps of the last step.
    costs: Vec<f64>,
    step: usize,
    balanced_steps: usize,
    records: Vec<StepRecord>,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("decomp", &self.decomp)
            .field("config", &self.config)
            .field("step", &self.step)
            .finish()
    }
}

impl Simulation {
    /// Checks the settings against the number of ranks (the same verdict on
    /// every rank, without communicating).
    ///
    /// Rank 0 gathers the whole `N × N` field, with MPI's 32-bit counts, so
    /// `N² <= 2^31 - 1` (`N <= 46340`).
    pub fn check(config: &Config, ranks: usize) -> Result<()> {
        let n = config.size;
        if n < 3 {
            return Err(GrayScottError::InvalidArgument(format!(
                "--size {n}: the grid must be at least 3x3 for the 5-point stencil"
            )));
        }
        if n.checked_mul(n)
            .is_none_or(|cells| cells > i32::MAX as usize)
        {
            return Err(GrayScottError::InvalidArgument(format!(
                "--size {n}: at most {MAX_SIZE} (rank 0 gathers the {n}x{n} field, and MPI counts \
                 its cells in 32 bits: N*N <= 2^31 - 1)"
            )));
        }
        if ranks > n {
            return Err(GrayScottError::InvalidArgument(format!(
                "{ranks} ranks but only {n} rows to split in row slabs: run with at most {n} ranks or a larger --size"
            )));
        }
        if config.partition_every == 0 {
            return Err(GrayScottError::InvalidArgument(
                "--partition-every must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// An upper estimate of the memory of the busiest rank (rank 0, which
    /// also gathers `A` and `B`), in bytes; `None` if it overflows `u64`.
    /// For [`crate::preflight::check_memory`] before a run.
    pub fn memory_per_rank(config: &Config, ranks: usize) -> Option<u64> {
        let n = config.size as u64;
        let rows = n.div_ceil(ranks.max(1) as u64);
        let padded = rows.checked_add(2)?.checked_mul(n.checked_add(2)?)?;
        let cells = rows.checked_mul(n)?;
        // Per cell: A and B with their halo (shared array), two Laplacians,
        // the cost, and the two balancers' cell states, weights and
        // buffers (about 12 values); rank 0 also holds the gathered A and B.
        let own = padded.checked_mul(2)?.checked_add(cells.checked_mul(15)?)?;
        let gathered = n.checked_mul(n)?.checked_mul(2)?;
        own.checked_add(gathered)?
            .checked_mul(std::mem::size_of::<f64>() as u64)
    }

    /// Sets up the fields (initial state), the halo exchange and the balancer.
    /// **Collective** over `comm`.
    pub fn new<C: Communicator>(comm: &C, config: Config) -> Result<Self> {
        let (rank, ranks) = (comm.rank() as usize, comm.size() as usize);
        Self::check(&config, ranks)?;
        let n = config.size;
        let decomp = Decomposition::row_slabs(n, n, ranks, rank)?;
        let kind = match config.halo {
            HaloKind::Auto => {
                if all_on_one_node(comm)? {
                    HaloKind::Shared
                } else {
                    HaloKind::Messages
                }
            }
            k => k,
        };
        let [pr, pc] = decomp.padded_shape();
        let padded_len = pr * pc;
        let (halo, mut fields) = if kind == HaloKind::Shared {
            let h = SharedHalo::new(comm, &decomp, Boundary::Periodic, false, 2)?;
            let f = h.allocate(comm)?;
            (Halo::Shared(h), f)
        } else {
            let h = MessageHalo::new(comm, &decomp, Boundary::Periodic, false, 2)?;
            let node = split_shared(comm)?;
            let f = SharedArray::new(&node, 2 * padded_len)?;
            (Halo::Messages(h), f)
        };
        let [rows, cols] = decomp.local_shape();
        {
            let first = decomp.rows().start;
            let (a, b) = fields.local_mut().split_at_mut(padded_len);
            for i in 0..rows {
                for j in 0..cols {
                    let (va, vb) = initial_value(n, first + i, j);
                    a[(i + 1) * pc + j + 1] = va;
                    b[(i + 1) * pc + j + 1] = vb;
                }
            }
        }
        let unbalanced = LoadBalancer::<[f64; 3]>::builder(comm, rows * cols)
            .algorithm(Algorithm::Off)
            .build()?;
        let balancer = match config.algorithm {
            Some(alg) => Some(
                LoadBalancer::<[f64; 3]>::builder(comm, rows * cols)
                    .algorithm(alg)
                    .replan(config.replan)
                    .build()?,
            ),
            None => None,
        };
        Ok(Simulation {
            comm: comm.duplicate(),
            decomp,
            config,
            halo,
            fields,
            padded_len,
            lap_a: Array2::zeros((rows, cols)),
            lap_b: Array2::zeros((rows, cols)),
            balancer,
            unbalanced,
            costs: vec![0.0; rows * cols],
            step: 0,
            balanced_steps: 0,
            records: Vec::new(),
        })
    }

    /// The decomposition (this rank's rows).
    pub fn decomposition(&self) -> &Decomposition {
        &self.decomp
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// The balancer, if balancing.
    pub fn balancer(&self) -> Option<&LoadBalancer<[f64; 3]>> {
        self.balancer.as_ref()
    }

    /// Every step's measurements on this rank.
    pub fn records(&self) -> &[StepRecord] {
        &self.records
    }

    /// Whether step `s` runs without balancing.
    fn is_probe(&self, s: usize) -> bool {
        self.balancer.is_none()
            || s == 0
            || (self.config.compare_every > 0 && s.is_multiple_of(self.config.compare_every))
    }

    /// One step: ghosts, Laplacians, chemistry (balanced or not), update.
    /// **Collective.**
    pub fn step(&mut self) -> Result<StepRecord> {
        let start = Instant::now();
        let pl = self.padded_len;
        let [pr, pc] = self.decomp.padded_shape();
        let [rows, cols] = self.decomp.local_shape();

        // 1. Ghosts and Laplacians of the current fields.
        match &mut self.halo {
            Halo::Shared(h) => h.exchange(&mut self.fields)?,
            Halo::Messages(h) => {
                let (a, b) = self.fields.local_mut().split_at_mut(pl);
                let a = ArrayViewMut2::from_shape((pr, pc), a).expect("padded field");
                let b = ArrayViewMut2::from_shape((pr, pc), b).expect("padded field");
                h.exchange_fields(&mut [a, b])?;
            }
        }
        {
            let local = self.fields.local();
            let a = ArrayView2::from_shape((pr, pc), &local[..pl]).expect("padded field");
            let b = ArrayView2::from_shape((pr, pc), &local[pl..]).expect("padded field");
            laplacian(&Stencil::FivePoint, a, self.lap_a.view_mut())?;
            laplacian(&Stencil::FivePoint, b, self.lap_b.view_mut())?;
        }

        // 2. Chemistry of every cell.
        let probe = self.is_probe(self.step);
        let chem = self.config.chemistry;
        let mut work = 0u64;
        let mut failure = None;
        let mut record = StepRecord {
            balanced: !probe,
            ..StepRecord::default()
        };
        {
            let (a, b) = self.fields.local_mut().split_at_mut(pl);
            let mut cells = PaddedCells::new(a, b, &mut self.costs, rows, cols);
            if probe {
                // The balancer's own code path without lending (Algorithm::Off,
                // never partitioned): the same loop and per-cell timing as the
                // balanced steps, so the two compare like with like.
                let off = &mut self.unbalanced;
                off.iterate(&mut cells, |c| {
                    react_cell(&chem, c, &mut work, &mut failure)
                })?;
                record.busy = off.last_step().busy();
                record.iterate = off.last_step().total;
                record.own_load = record.busy;
                if let (Some(lb), CostModel::Time) = (&mut self.balancer, self.config.cost) {
                    lb.set_weights(off.weights())?;
                }
            } else {
                let lb = self
                    .balancer
                    .as_mut()
                    .expect("balanced steps have a balancer");
                if self.config.replan != Replan::Manual {
                    // iterate() plans when its policy says so, from these weights.
                    if self.config.cost == CostModel::Steps {
                        lb.set_weights(cells.costs())?;
                    }
                } else if self
                    .balanced_steps
                    .is_multiple_of(self.config.partition_every)
                {
                    let t = Instant::now();
                    if self.config.cost == CostModel::Steps {
                        lb.set_weights(cells.costs())?;
                    }
                    lb.partition()?;
                    record.planning = t.elapsed().as_secs_f64();
                }
                lb.iterate(&mut cells, |c| {
                    react_cell(&chem, c, &mut work, &mut failure)
                })?;
                record.busy = lb.last_step().busy();
                record.iterate = lb.last_step().total;
                record.own_load = lb.weights().iter().sum();
                record.lent = lb.num_lent();
                self.balanced_steps += 1;
            }
        }
        record.work = work;
        record.own_work = self.costs.iter().sum::<f64>() as u64;
        self.agree_on_failure(failure)?;

        // 3. Diffusion.
        {
            let (a, b) = self.fields.local_mut().split_at_mut(pl);
            add_scaled(a, &self.lap_a, D_A);
            add_scaled(b, &self.lap_b, D_B);
        }
        record.wall = start.elapsed().as_secs_f64();
        self.records.push(record);
        self.step += 1;
        Ok(record)
    }

    /// Turns a chemistry failure on any rank into an error on every rank.
    fn agree_on_failure(&self, failure: Option<ChemistryError>) -> Result<()> {
        let Some(first) = crate::preflight::first_failing_rank(&self.comm, failure.is_some())
        else {
            return Ok(());
        };
        Err(GrayScottError::Chemistry {
            step: self.step,
            rank: first,
            detail: failure.map_or_else(String::new, |e| format!(": {e}")),
        })
    }

    /// This rank's rows of `A` and `B` (copies of the interiors).
    pub fn local_fields(&self) -> (Array2<f64>, Array2<f64>) {
        let [pr, pc] = self.decomp.padded_shape();
        let local = self.fields.local();
        let pl = self.padded_len;
        let interior = |f: &[f64]| {
            let v = ArrayView2::from_shape((pr, pc), f).expect("padded field");
            quicklb_stencil::interior(v).to_owned()
        };
        (interior(&local[..pl]), interior(&local[pl..]))
    }

    /// The whole `A` and `B` on rank 0 (`None` elsewhere). **Collective.**
    pub fn gather(&self) -> Option<(Array2<f64>, Array2<f64>)> {
        let (a, b) = self.local_fields();
        let n = self.config.size;
        let ga = gather_rows(&self.comm, a.as_slice().expect("standard layout"), n);
        let gb = gather_rows(&self.comm, b.as_slice().expect("standard layout"), n);
        match (ga, gb) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        }
    }

    /// Writes `B` (`N × N`, float64) to a `.npy` file with collective MPI-IO,
    /// each rank its rows. **Collective.**
    pub fn write_npy_b(&self, path: impl AsRef<Path>) -> Result<()> {
        let (_, b) = self.local_fields();
        quicklb_transport::write_npy(&self.comm, path, b.view())?;
        Ok(())
    }

    /// Averages the step records over ranks and steps. **Collective**; every
    /// rank gets the same summary.
    pub fn summary(&self) -> Summary {
        summarize(
            &self.comm,
            &self.records,
            self.config.size,
            self.config.algorithm.as_ref().map(|a| a.name()),
        )
    }
}

/// Gathers the row-major rows of an `n × n` field split in row slabs to rank 0.
fn gather_rows(comm: &SimpleCommunicator, local: &[f64], n: usize) -> Option<Array2<f64>> {
    let p = comm.size() as usize;
    let root = comm.process_at_rank(0);
    if comm.rank() == 0 {
        let counts: Vec<i32> = (0..p).map(|r| (split(n, p, r).len() * n) as i32).collect();
        let displs: Vec<i32> = (0..p).map(|r| (split(n, p, r).start * n) as i32).collect();
        let mut all = vec![0.0; n * n];
        let mut part = PartitionMut::new(&mut all[..], counts, displs);
        root.gather_varcount_into_root(local, &mut part);
        Some(Array2::from_shape_vec((n, n), all).expect("n*n values"))
    } else {
        root.gather_varcount_into(local);
        None
    }
}

/// The same simulation on one process, without MPI or balancing: the
/// reference the distributed runs must match bit for bit. Returns `(A, B)`.
pub fn serial(n: usize, steps: usize, chem: &Chemistry) -> Result<(Array2<f64>, Array2<f64>)> {
    Simulation::check(
        &Config {
            size: n,
            ..Config::default()
        },
        1,
    )?;
    let mut a = Array2::<f64>::zeros((n + 2, n + 2));
    let mut b = a.clone();
    for i in 0..n {
        for j in 0..n {
            let (va, vb) = initial_value(n, i, j);
            a[[i + 1, j + 1]] = va;
            b[[i + 1, j + 1]] = vb;
        }
    }
    let mut lap_a = Array2::<f64>::zeros((n, n));
    let mut lap_b = lap_a.clone();
    for step in 0..steps {
        fill_halo(a.view_mut(), Boundary::Periodic)?;
        fill_halo(b.view_mut(), Boundary::Periodic)?;
        laplacian(&Stencil::FivePoint, a.view(), lap_a.view_mut())?;
        laplacian(&Stencil::FivePoint, b.view(), lap_b.view_mut())?;
        for i in 1..=n {
            for j in 1..=n {
                let mut cell = GrayScottCell {
                    a: a[[i, j]],
                    b: b[[i, j]],
                };
                chem.integrate(&mut cell, REACTION_TIME).map_err(|e| {
                    GrayScottError::Chemistry {
                        step,
                        rank: 0,
                        detail: format!(": {e}"),
                    }
                })?;
                a[[i, j]] = cell.a;
                b[[i, j]] = cell.b;
            }
        }
        let (sa, sb) = (a.as_slice_mut().unwrap(), b.as_slice_mut().unwrap());
        add_scaled(sa, &lap_a, D_A);
        add_scaled(sb, &lap_b, D_B);
    }
    let a = quicklb_stencil::interior(a.view()).to_owned();
    let b = quicklb_stencil::interior(b.view()).to_owned();
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_block_scaling() {
        assert_eq!(seed_block(30), (12..18, 5..25));
        assert_eq!(seed_block(60), (24..36, 10..50));
        assert_eq!(seed_block(3), (0..2, 0..2));
        assert_eq!(seed_block(1), (0..1, 0..1));
        for n in 1..300 {
            let (r, c) = seed_block(n);
            assert!(!r.is_empty() && !c.is_empty() && r.end <= n && c.end <= n);
        }
    }

    #[test]
    fn padded_cells_index_the_interior() {
        let (rows, cols) = (2, 3);
        let mut a: Vec<f64> = (0..20).map(f64::from).collect();
        let mut b = vec![0.0; 20];
        let mut costs = vec![0.0; 6];
        let mut cells = PaddedCells::new(&mut a, &mut b, &mut costs, rows, cols);
        assert_eq!(cells.len(), 6);
        assert_eq!(cells.load(0)[0], 6.0);
        assert_eq!(cells.load(5)[0], 13.0);
        cells.store(4, [-1.0, -2.0, 7.0]);
        assert_eq!((a[12], b[12], costs[4]), (-1.0, -2.0, 7.0));
    }

    #[test]
    fn serial_conserves_nothing_silly() {
        let (a, b) = serial(10, 2, &Chemistry::default()).unwrap();
        assert!(a.iter().chain(b.iter()).all(|v| v.is_finite()));
        assert!(b.sum() > 0.0);
    }
}
