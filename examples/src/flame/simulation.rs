//! One rank's part of the distributed flame: fields, halo, diffusion, and the
//! balanced chemistry of its cells.

use std::path::Path;
use std::time::{Duration, Instant};

use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use quicklb::{Algorithm, LoadBalancer};
use quicklb_kinetics::{Mechanism, Reactor};
use quicklb_stencil::halo::{all_on_one_node, MessageHalo, SharedHalo};
use quicklb_stencil::{laplacian, split, Boundary, Decomposition, Stencil};
use quicklb_transport::{split_shared, SharedArray};

use super::calibration::StepTimeFit;
use super::cells::{cell_values, cost_slot, step_size_slot, PaddedCells};
use super::config::{Config, CostModel, HaloKind};
use super::error::{FlameError, Result};
use super::forecast::forecast_work;
use super::initial::initial_temperature;
use crate::step_stats::{summarize, StepRecord, Summary};

/// The walls of the box: zero flux of heat and species.
pub const BOUNDARY: Boundary = Boundary::Reflecting;

/// How long a waiting rank sleeps between tests of its messages when the
/// ranks on its node outnumber the cores: a spinning wait would take the core
/// a computing rank needs, and a chemistry step lasts milliseconds.
const OVERSUBSCRIBED_POLL: Duration = Duration::from_micros(50);

/// Whether the `node_ranks` ranks sharing this rank's node outnumber its cores.
fn oversubscribed(node_ranks: usize) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    node_ranks > cores
}

/// A running flame simulation, whatever its cell size (see [`super::build`]).
pub trait FlameRun {
    /// One step: ghosts, diffusion of every field, then the chemistry of
    /// every cell over `dt` (balanced or not). **Collective.**
    fn step(&mut self) -> Result<StepRecord>;
    /// Every step's measurements on this rank.
    fn records(&self) -> &[StepRecord];
    /// The settings.
    fn config(&self) -> &Config;
    /// This rank's rows.
    fn decomposition(&self) -> &Decomposition;
    /// Averages of the records over ranks and steps. **Collective.**
    fn summary(&self) -> Summary;
    /// This rank's rows of field `f` (0: temperature, `1 + k`: `Y_k`).
    fn local_field(&self, f: usize) -> Array2<f64>;
    /// The whole field `f` on rank 0 (`None` elsewhere). **Collective.**
    fn gather_field(&self, f: usize) -> Option<Array2<f64>>;
    /// Writes field `f` (`N × N`, float64) to a `.npy` file with collective
    /// MPI-IO, each rank its rows. **Collective.**
    fn write_npy(&self, f: usize, path: &Path) -> Result<()>;
}

enum Halo {
    Shared(SharedHalo),
    Messages(MessageHalo),
}

/// One rank's part of the simulation, with cells of `N` values
/// (`N >= cell_values(species)`).
pub struct Simulation<const N: usize>
where
    [f64; N]: bytemuck::Pod,
{
    comm: SimpleCommunicator,
    decomp: Decomposition,
    config: Config,
    halo: Halo,
    /// `[T | Y_0 | … | Y_{K-1}]`, each halo-padded, in this rank's segment.
    fields: SharedArray<f64>,
    padded_len: usize,
    species: usize,
    lap: Array2<f64>,
    reactor: Reactor,
    balancer: Option<LoadBalancer<[f64; N]>>,
    /// Runs the unbalanced steps: quicklb's `Algorithm::Off`, never
    /// partitioned (nothing lent, every cell timed), the same loop.
    unbalanced: LoadBalancer<[f64; N]>,
    /// Per-cell step size the integrator starts the next step with (0: none
    /// yet, the integrator's first-step heuristic).
    step_sizes: Vec<f64>,
    /// Per-cell integrator steps of the last step.
    costs: Vec<f64>,
    /// Per-cell integrator steps of the step before the last.
    before: Vec<f64>,
    /// The work forecast for the next step ([`CostModel::Forecast`]).
    forecast: Vec<f64>,
    /// The forecast's working copy (its median), reused every step.
    scratch: Vec<f64>,
    /// Time per cell and per integrator step ([`CostModel::Calibrated`]).
    time_fit: StepTimeFit,
    step: usize,
    balanced_steps: usize,
    records: Vec<StepRecord>,
}

impl<const N: usize> std::fmt::Debug for Simulation<N>
where
    [f64; N]: bytemuck::Pod,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("cell", &N)
            .field("decomp", &self.decomp)
            .field("step", &self.step)
            .finish()
    }
}

impl<const N: usize> Simulation<N>
where
    [f64; N]: bytemuck::Pod,
{
    /// Sets up the fields (initial state), the halo exchange, the reactor and
    /// the balancer. **Collective** over `comm`.
    pub fn new<C: Communicator>(comm: &C, mech: &Mechanism, config: Config) -> Result<Self> {
        let (rank, ranks) = (comm.rank() as usize, comm.size() as usize);
        config.check(mech, ranks)?;
        let species = mech.num_species();
        if cell_values(species) > N {
            return Err(FlameError::InvalidArgument(format!(
                "{species} species do not fit a cell of {N} values"
            )));
        }
        let nfields = species + 1;
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
        let node = split_shared(comm)?;
        let (halo, mut fields) = if kind == HaloKind::Shared {
            let h = SharedHalo::new(comm, &decomp, BOUNDARY, false, nfields)?;
            let f = h.allocate(comm)?;
            (Halo::Shared(h), f)
        } else {
            let h = MessageHalo::new(comm, &decomp, BOUNDARY, false, nfields)?;
            let f = SharedArray::new(&node, nfields * padded_len)?;
            (Halo::Messages(h), f)
        };
        let [rows, cols] = decomp.local_shape();
        {
            let p = &config.physics;
            let first = decomp.rows().start;
            let local = fields.local_mut();
            for i in 0..rows {
                for j in 0..cols {
                    let at = (i + 1) * pc + j + 1;
                    local[at] =
                        initial_temperature(n, first + i, j, p.temperature, p.kernel_temperature);
                    for (k, &y) in p.mass_fractions.iter().enumerate() {
                        local[(k + 1) * padded_len + at] = y;
                    }
                }
            }
        }
        let wait_poll = oversubscribed(node.size() as usize).then_some(OVERSUBSCRIBED_POLL);
        let unbalanced = LoadBalancer::<[f64; N]>::builder(comm, rows * cols)
            .algorithm(Algorithm::Off)
            .wait_poll(wait_poll)
            .build()?;
        let balancer = match &config.algorithm {
            Some(alg) => Some(
                LoadBalancer::<[f64; N]>::builder(comm, rows * cols)
                    .algorithm(*alg)
                    .replan(config.replan)
                    .dynamic(config.dynamic)
                    .wait_poll(wait_poll)
                    .build()?,
            ),
            None => None,
        };
        Ok(Simulation {
            comm: comm.duplicate(),
            decomp,
            reactor: Reactor::new(mech, config.physics.reactor),
            config,
            halo,
            fields,
            padded_len,
            species,
            lap: Array2::zeros((rows, cols)),
            balancer,
            unbalanced,
            step_sizes: vec![0.0; rows * cols],
            costs: vec![0.0; rows * cols],
            before: vec![0.0; rows * cols],
            forecast: Vec::with_capacity(rows * cols),
            scratch: Vec::with_capacity(rows * cols),
            time_fit: StepTimeFit::new(),
            step: 0,
            balanced_steps: 0,
            records: Vec::new(),
        })
    }

    /// The balancer, if balancing.
    pub fn balancer(&self) -> Option<&LoadBalancer<[f64; N]>> {
        self.balancer.as_ref()
    }

    /// Whether step `s` runs without balancing.
    fn is_probe(&self, s: usize) -> bool {
        self.balancer.is_none()
            || s == 0
            || (self.config.compare_every > 0 && s.is_multiple_of(self.config.compare_every))
    }

    /// Ghosts, then `u += D·dt/dx² · ∇²u` for every field.
    fn diffuse(&mut self) -> Result<()> {
        let pl = self.padded_len;
        let [pr, pc] = self.decomp.padded_shape();
        match &mut self.halo {
            Halo::Shared(h) => h.exchange(&mut self.fields)?,
            Halo::Messages(h) => {
                let mut views: Vec<ArrayViewMut2<'_, f64>> = self
                    .fields
                    .local_mut()
                    .chunks_exact_mut(pl)
                    .map(|f| ArrayViewMut2::from_shape((pr, pc), f).expect("padded field"))
                    .collect();
                h.exchange_fields(&mut views)?;
            }
        }
        let sigma = self.config.physics.diffusion_number();
        for field in self.fields.local_mut().chunks_exact_mut(pl) {
            let view = ArrayView2::from_shape((pr, pc), &*field).expect("padded field");
            laplacian(&Stencil::FivePoint, view, self.lap.view_mut())?;
            add_scaled(field, &self.lap, sigma);
        }
        Ok(())
    }

    fn do_step(&mut self) -> Result<StepRecord> {
        let start = Instant::now();
        self.diffuse()?;

        let probe = self.is_probe(self.step);
        let [rows, cols] = self.decomp.local_shape();
        let (species, pressure, dt) = (
            self.species,
            self.config.physics.pressure,
            self.config.physics.dt,
        );
        let reactor = &mut self.reactor;
        let mut work = 0u64;
        let mut failure = None;
        let mut record = StepRecord {
            balanced: !probe,
            ..StepRecord::default()
        };
        // The weights this step plans with, from the last two steps' work
        // (before this step overwrites the last one's).
        let weights = planning_weights(
            self.config.cost,
            &self.costs,
            (self.step >= 2).then_some(&self.before[..]),
            &mut self.forecast,
            &mut self.scratch,
            &mut self.time_fit,
        );
        let weights = (!probe).then_some(weights).flatten();
        self.before.copy_from_slice(&self.costs);
        {
            let mut cells = PaddedCells::<N>::new(
                self.fields.local_mut(),
                &mut self.step_sizes,
                &mut self.costs,
                rows,
                cols,
            );
            let mut compute = |c: &mut [f64; N]| {
                react_cell(reactor, species, pressure, dt, c, &mut work, &mut failure)
            };
            if probe {
                // The balancer's own code path without lending: the same loop
                // and per-cell timing as the balanced steps.
                let off = &mut self.unbalanced;
                off.iterate(&mut cells, &mut compute)?;
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
                if self.config.replan != quicklb::Replan::Manual {
                    // iterate() plans when its policy says so, from these weights.
                    if let Some(w) = weights {
                        lb.set_weights(w)?;
                    }
                } else if self
                    .balanced_steps
                    .is_multiple_of(self.config.partition_every)
                {
                    let t = Instant::now();
                    if let Some(w) = weights {
                        lb.set_weights(w)?;
                    }
                    lb.partition()?;
                    record.planning = t.elapsed().as_secs_f64();
                }
                lb.iterate(&mut cells, &mut compute)?;
                record.busy = lb.last_step().busy();
                record.iterate = lb.last_step().total;
                record.own_load = lb.weights().iter().sum();
                record.lent = lb.num_lent();
                record.taken = lb.last_step().cells_taken;
                self.balanced_steps += 1;
            }
        }
        if self.config.cost == CostModel::Calibrated {
            let t = Instant::now();
            let times = match (probe, &self.balancer) {
                (false, Some(lb)) => lb.weights(),
                _ => self.unbalanced.weights(),
            };
            self.time_fit.update(&self.comm, &self.costs, times);
            record.planning += t.elapsed().as_secs_f64();
        }
        record.work = work;
        record.own_work = self.costs.iter().sum::<f64>() as u64;
        self.agree_on_failure(failure)?;
        record.wall = start.elapsed().as_secs_f64();
        self.records.push(record);
        self.step += 1;
        Ok(record)
    }

    /// Turns a chemistry failure on any rank into an error on every rank.
    fn agree_on_failure(&self, failure: Option<quicklb_kinetics::Error>) -> Result<()> {
        let Some(first) = crate::preflight::first_failing_rank(&self.comm, failure.is_some())
        else {
            return Ok(());
        };
        Err(FlameError::Chemistry {
            step: self.step,
            rank: first,
            detail: failure.map_or_else(String::new, |e| format!(": {e}")),
        })
    }
}

impl<const N: usize> FlameRun for Simulation<N>
where
    [f64; N]: bytemuck::Pod,
{
    fn step(&mut self) -> Result<StepRecord> {
        self.do_step()
    }

    fn records(&self) -> &[StepRecord] {
        &self.records
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn decomposition(&self) -> &Decomposition {
        &self.decomp
    }

    fn summary(&self) -> Summary {
        summarize(
            &self.comm,
            &self.records,
            self.config.size,
            self.config
                .algorithm
                .as_ref()
                .map(|a| match self.config.dynamic {
                    quicklb::Dynamic::Off => a.name(),
                    _ => with_dynamic(a.name()),
                }),
        )
    }

    fn local_field(&self, f: usize) -> Array2<f64> {
        let [pr, pc] = self.decomp.padded_shape();
        let pl = self.padded_len;
        let field = &self.fields.local()[f * pl..(f + 1) * pl];
        let v = ArrayView2::from_shape((pr, pc), field).expect("padded field");
        quicklb_stencil::interior(v).to_owned()
    }

    fn gather_field(&self, f: usize) -> Option<Array2<f64>> {
        let local = self.local_field(f);
        gather_rows(
            &self.comm,
            local.as_slice().expect("standard layout"),
            self.config.size,
        )
    }

    fn write_npy(&self, f: usize, path: &Path) -> Result<()> {
        let local = self.local_field(f);
        quicklb_transport::write_npy(&self.comm, path, local.view())?;
        Ok(())
    }
}

/// The weights `cost` plans with, from the per-cell integrator steps of
/// the last step, `last`, and of the step before, `before` (`None` before
/// two steps have run); `None` for measured times (the balancer's own, set
/// after the unbalanced steps). The weights are written into `forecast`,
/// which they borrow.
fn planning_weights<'a>(
    cost: CostModel,
    last: &[f64],
    before: Option<&[f64]>,
    forecast: &'a mut Vec<f64>,
    scratch: &mut Vec<f64>,
    time_fit: &mut StepTimeFit,
) -> Option<&'a [f64]> {
    match cost {
        CostModel::Time => return None,
        CostModel::Steps => {
            forecast.clear();
            forecast.extend_from_slice(last);
        }
        CostModel::Forecast => forecast_work(last, before, forecast, scratch),
        CostModel::Calibrated => {
            let (last, before) = time_fit.time_weights(last, before);
            forecast_work(last, before, forecast, scratch);
        }
    }
    Some(forecast)
}

/// Advances one cell over `dt` from the step size it carries (and leaves
/// its next one there); counts its integrator steps into `work` and into the
/// cell's cost, keeps the first error.
///
/// Never inlined, so the balanced and the unbalanced paths run the very same
/// machine code per cell and their times compare fairly.
#[inline(never)]
fn react_cell<const N: usize>(
    reactor: &mut Reactor,
    species: usize,
    pressure: f64,
    dt: f64,
    c: &mut [f64; N],
    work: &mut u64,
    failure: &mut Option<quicklb_kinetics::Error>,
) {
    let mut step_size = c[step_size_slot(N)];
    match reactor.advance_from_step(&mut c[..=species], pressure, dt, &mut step_size) {
        Ok(stats) => {
            let steps = stats.steps + stats.rejected;
            *work += u64::from(steps);
            c[step_size_slot(N)] = step_size;
            c[cost_slot(N)] = f64::from(steps);
        }
        Err(e) => {
            failure.get_or_insert(e);
        }
    }
}

/// `u += coef · lap` on the interior of the padded field `u`.
pub(super) fn add_scaled(u: &mut [f64], lap: &Array2<f64>, coef: f64) {
    let cols = lap.ncols();
    for (i, l) in lap.rows().into_iter().enumerate() {
        let row = &mut u[(i + 1) * (cols + 2) + 1..(i + 1) * (cols + 2) + 1 + cols];
        for (x, &d) in row.iter_mut().zip(l.iter()) {
            *x += coef * d;
        }
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

/// The summary's name of `algorithm` with dynamic sharing.
fn with_dynamic(algorithm: &str) -> &'static str {
    match algorithm {
        "Off" => "dynamic only",
        "Transfer" => "Transfer + dynamic",
        "Greedy" => "Greedy + dynamic",
        "Sort" => "Sort + dynamic",
        "Sort2" => "Sort2 + dynamic",
        "DLBFoam" => "DLBFoam + dynamic",
        _ => "custom + dynamic",
    }
}
