//! The demo's settings, their checks, and the balancer's algorithms by name.

use std::path::Path;

use quicklb::{Algorithm, Dynamic};
use quicklb_kinetics::{Mechanism, ReactorOptions};

use super::cells::cell_values;
use super::error::{FlameError, Result};

/// Makes an algorithm with its default parameters.
pub type MakeAlgorithm = fn() -> Algorithm;

/// The balancer's algorithms by name, for `--algorithm` and the benchmark.
/// Adding a planner is one line here.
pub const ALGORITHMS: &[(&str, MakeAlgorithm)] = &[
    ("transfer", Algorithm::transfer),
    ("greedy", Algorithm::greedy),
    ("sort", Algorithm::sort),
    ("sort2", Algorithm::sort2),
    ("dlbfoam", Algorithm::dlbfoam),
    ("off", || Algorithm::Off),
];

/// The algorithm called `name` in [`ALGORITHMS`] (with its default parameters).
///
/// ```
/// use quicklb_examples::flame::algorithm_by_name;
/// assert_eq!(algorithm_by_name("sort").map(|a| a.name()), Some(quicklb::Algorithm::sort().name()));
/// assert!(algorithm_by_name("nope").is_none());
/// ```
pub fn algorithm_by_name(name: &str) -> Option<Algorithm> {
    ALGORITHMS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, make)| make())
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

/// What the balancer plans with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CostModel {
    /// The work forecast for the step about to run ([`super::forecast`]),
    /// from each cell's integrator steps in the last two steps: the rank's
    /// growth spread over its lighter half, heavy cells that got cheaper
    /// cheaper still. While the flame spreads, this plans for the step it
    /// balances rather than the one before. Made for Transfer, which keeps
    /// the lighter half home; DLBFoam and Sort plan better with `Steps`.
    #[default]
    Forecast,
    /// Each cell's integrator steps (accepted + rejected) in the last step:
    /// the work itself, the same on every machine and unaffected by other
    /// processes sharing the cores.
    Steps,
    /// Each cell's measured compute time in the last step (QUICKLB's way).
    Time,
    /// The forecast of each cell's time, from its integrator steps in the
    /// last two steps weighted as `steps^exponent`, the exponent fitted to
    /// the measured times of every rank's cells ([`super::calibration`]):
    /// the plan balances time while the step counts drive it (a cold
    /// cell's few steps cost more each than a burning cell's many).
    Calibrated,
}

/// The gas, the grid spacing and the split time step.
///
/// Transport is one constant diffusivity for the temperature and every
/// species (unity Lewis number, no Soret effect, no flow): the demo is about
/// the chemistry's cost, not accurate flame speeds.
#[derive(Clone, Debug)]
pub struct Physics {
    /// Pressure, Pa (constant: each cell is an adiabatic constant-pressure reactor).
    pub pressure: f64,
    /// Temperature of the fresh mixture, K.
    pub temperature: f64,
    /// Peak temperature of the ignition kernels, K.
    pub kernel_temperature: f64,
    /// Mass fractions of the fresh mixture (one per species of the mechanism).
    pub mass_fractions: Vec<f64>,
    /// Grid spacing, m.
    pub dx: f64,
    /// Time step of the splitting (diffusion, then chemistry over `dt`), s.
    pub dt: f64,
    /// The one diffusivity of heat and species, m²/s.
    pub diffusivity: f64,
    /// Tolerances of the per-cell reactor.
    pub reactor: ReactorOptions,
}

impl Physics {
    /// Stoichiometric H2/air preheated to 600 K at 1 atm, kernels at 1500 K,
    /// 50 µm cells, 5 µs steps, 5e-5 m²/s (so `D·dt/dx² = 0.1`).
    ///
    /// At 600 K the fresh gas does not ignite on its own for seconds and its
    /// chemistry takes one integrator step per cell and step, so the
    /// igniting and burning cells are the expensive ones, as in the flows
    /// the balancer is for (`--temperature 300` works too).
    pub fn h2_air(mech: &Mechanism) -> Result<Self> {
        Ok(Physics {
            pressure: 101_325.0,
            temperature: DEFAULT_TEMPERATURE,
            kernel_temperature: 1500.0,
            mass_fractions: mech.mass_fractions(DEFAULT_MIXTURE)?,
            dx: 50e-6,
            dt: 5e-6,
            diffusivity: 5e-5,
            reactor: ReactorOptions::default(),
        })
    }

    /// The explicit diffusion number `D·dt/dx²` (the 5-point update is
    /// stable up to 0.25).
    pub fn diffusion_number(&self) -> f64 {
        self.diffusivity * self.dt / (self.dx * self.dx)
    }
}

/// The default temperature of the fresh mixture, K (see [`Physics::h2_air`]).
pub const DEFAULT_TEMPERATURE: f64 = 600.0;

/// The default fresh mixture (mole ratios): stoichiometric H2/air.
pub const DEFAULT_MIXTURE: &str = "H2:2, O2:1, N2:3.76";

/// Settings of a simulation; the same on every rank.
#[derive(Clone, Debug)]
pub struct Config {
    /// Grid size `N` (the grid is `N × N`).
    pub size: usize,
    /// The balancer's algorithm; `None` runs every step without balancing.
    pub algorithm: Option<Algorithm>,
    /// Dynamic sharing within the balanced steps (`--dynamic`: on one node).
    pub dynamic: Dynamic,
    /// Re-plan every this many balanced steps (at least 1), with
    /// `replan: Replan::Manual`.
    pub partition_every: usize,
    /// Who re-plans: `Manual` (this simulation, every `partition_every`
    /// balanced steps), or the balancer's `iterate` itself
    /// (`Replan::Every(n)`, `Replan::Auto`).
    pub replan: quicklb::Replan,
    /// Run step 0 and every `compare_every`-th step without balancing, to
    /// measure the unbalanced step; 0: step 0 only.
    pub compare_every: usize,
    /// How ghosts are filled.
    pub halo: HaloKind,
    /// The cell weights the balancer plans with.
    pub cost: CostModel,
    /// The gas and the numerics.
    pub physics: Physics,
}

impl Config {
    /// The defaults of `flame run` for this mechanism (64 × 64, Transfer
    /// re-planning before every balanced step: the burning cells move every
    /// step and the plan is one small all-gather).
    pub fn new(mech: &Mechanism) -> Result<Self> {
        Ok(Config {
            size: 64,
            algorithm: Some(Algorithm::transfer()),
            dynamic: Dynamic::Off,
            partition_every: 1,
            replan: quicklb::Replan::Manual,
            compare_every: 10,
            halo: HaloKind::Auto,
            cost: CostModel::Forecast,
            physics: Physics::h2_air(mech)?,
        })
    }

    /// Checks the settings against the mechanism and the number of ranks:
    /// the same verdict on every rank, without communicating.
    pub fn check(&self, mech: &Mechanism, ranks: usize) -> Result<()> {
        let bad = |m: String| Err(FlameError::InvalidArgument(m));
        let n = self.size;
        if n < 3 {
            return bad(format!(
                "--size {n}: the grid must be at least 3x3 for the 5-point stencil"
            ));
        }
        if ranks > n {
            return bad(format!(
                "{ranks} ranks but only {n} rows to split in row slabs: run with at most {n} ranks or a larger --size"
            ));
        }
        if self.partition_every == 0 {
            return bad("--partition-every must be at least 1".into());
        }
        let p = &self.physics;
        for (name, v) in [
            ("--temperature", p.temperature),
            ("--kernel-temperature", p.kernel_temperature),
            ("--pressure", p.pressure),
            ("--dx", p.dx),
            ("--dt", p.dt),
            ("--diffusivity", p.diffusivity),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} {v}: must be a positive number"));
            }
        }
        let k = mech.num_species();
        if p.mass_fractions.len() != k {
            return bad(format!(
                "{} mass fractions for a mechanism of {k} species",
                p.mass_fractions.len()
            ));
        }
        if cell_values(k) > super::MAX_CELL {
            return bad(format!(
                "the mechanism has {k} species; the demo's largest cell holds {}",
                super::MAX_CELL - cell_values(0)
            ));
        }
        let sigma = p.diffusion_number();
        if sigma > 0.25 {
            return bad(format!(
                "diffusivity*dt/dx^2 = {sigma:.3} is above 0.25, where explicit 5-point diffusion is unstable: lower --dt or --diffusivity, or raise --dx"
            ));
        }
        Ok(())
    }
}

/// Checks that `dir` is an existing directory (for `--output-dir`).
pub fn check_output_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(FlameError::InvalidArgument(format!(
            "--output-dir {}: no such directory (create it first)",
            dir.display()
        )))
    }
}

/// The mechanism of `--mechanism` (a Cantera YAML file), or the bundled H2/O2
/// mechanism; a file that is not a mechanism is an input error naming it.
pub fn load_mechanism(path: Option<&Path>) -> Result<Mechanism> {
    match path {
        None => Ok(Mechanism::bundled_h2_o2()),
        Some(path) => Mechanism::from_file(path).map_err(|e| {
            FlameError::InvalidArgument(format!(
                "--mechanism {}: not a usable mechanism: {e}",
                path.display()
            ))
        }),
    }
}

/// The mass fractions of `--mixture` (mole ratios, `"H2:2, O2:1, N2:3.76"`);
/// an unknown species is an input error naming it.
pub fn mixture_mass_fractions(mech: &Mechanism, mixture: &str) -> Result<Vec<f64>> {
    mech.mass_fractions(mixture)
        .map_err(|e| FlameError::InvalidArgument(format!("--mixture {mixture:?}: {e}")))
}
