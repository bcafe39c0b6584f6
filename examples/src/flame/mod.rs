//! A premixed hydrogen/air flame on a 2-D grid, with the detailed chemistry of
//! every cell load-balanced by [`quicklb`]: the workload the balancer is for.
//!
//! An `N × N` box with zero-flux walls is split in row slabs over the ranks.
//! Each cell holds the temperature `T` and the mass fractions `Y_k` of the
//! mechanism's species ([`quicklb_kinetics`]; the bundled H2/O2 mechanism by
//! default, any Cantera YAML file with `--mechanism`), kept in the rank's
//! segment of a node-shared [`quicklb_transport::SharedArray`], each field
//! halo-padded. Each step is a Lie splitting over `dt`:
//!
//! 1. fill the ghosts (neighbours' shared segments, or persistent messages
//!    across nodes) and diffuse every field, `u += D·dt/dx² · ∇²u` with the
//!    5-point Laplacian of [`quicklb_stencil`]. **One constant diffusivity**
//!    `D` for heat and every species (unity Lewis number, no flow, no
//!    thermal expansion): a simple transport model, enough to carry a flame
//!    front, not to predict flame speeds;
//! 2. advance the chemistry of every cell over `dt` as an adiabatic
//!    constant-pressure reactor (a stiff implicit integrator, adaptive):
//!    cells in fresh gas need one or two integrator steps, igniting and
//!    burning cells tens to hundreds. The balancer lends cells of busy ranks
//!    to idle ones; the chemistry is most of the step.
//!
//! Two hot kernels start off-centre in the upper half ([`initial`]), so the
//! ignition and the flame fronts are on some ranks and not others.
//!
//! Step 0 and every `compare_every`-th step run the chemistry without
//! balancing, through quicklb's `Algorithm::Off` path (the same loop, each
//! cell timed): the table compares both kinds of step of the same run, in
//! time and in integrator steps (the work: accepted + rejected steps of the
//! reactor's default BDF integrator, each one or two right-hand sides and,
//! every few steps, a Jacobian and an LU; a cold cell takes one). Which rank computes a cell never
//! changes its result: balanced, unbalanced and [`serial`] runs give bitwise
//! the same fields.

pub mod calibration;
pub mod cells;
pub mod config;
pub mod error;
pub mod forecast;
pub mod initial;
pub mod serial;
pub mod simulation;

use mpi::topology::Communicator;
use quicklb_kinetics::Mechanism;

pub use crate::step_stats::{PhaseStats, StepRecord, Summary};
pub use config::{
    algorithm_by_name, check_output_dir, load_mechanism, mixture_mass_fractions, Config, CostModel,
    HaloKind, Physics, ALGORITHMS, DEFAULT_MIXTURE, DEFAULT_TEMPERATURE,
};
pub use error::{FlameError, Result};
pub use serial::serial;
pub use simulation::{FlameRun, Simulation};

/// Cell sizes the demo is built for (values per cell: `T`, the species, the
/// integrator's step size, the cost); a mechanism runs with the smallest
/// that holds [`cells::cell_values`] of its species.
pub const CELL_SIZES: [usize; 4] = [16, 32, 64, 128];

/// The largest mechanism cell: 125 species.
pub const MAX_CELL: usize = 128;

/// The simulation with the smallest cell that holds the mechanism.
/// **Collective** over `comm`.
pub fn build<C: Communicator>(
    comm: &C,
    mech: &Mechanism,
    config: Config,
) -> Result<Box<dyn FlameRun>> {
    config.check(mech, comm.size() as usize)?;
    let need = cells::cell_values(mech.num_species());
    Ok(if need <= 16 {
        Box::new(Simulation::<16>::new(comm, mech, config)?)
    } else if need <= 32 {
        Box::new(Simulation::<32>::new(comm, mech, config)?)
    } else if need <= 64 {
        Box::new(Simulation::<64>::new(comm, mech, config)?)
    } else {
        Box::new(Simulation::<128>::new(comm, mech, config)?)
    })
}

/// The radical to picture: `OH` if the mechanism has it, else `H`, with its
/// field index (`1 + species index`).
pub fn radical(mech: &Mechanism) -> Option<(&'static str, usize)> {
    ["OH", "H"]
        .into_iter()
        .find_map(|name| mech.species_index(name).map(|k| (name, k + 1)))
}

/// Makes a check done on every rank collective: if any rank failed, every
/// rank returns an error — its own, or [`FlameError::OtherRank`] with the
/// message of the lowest failing rank. Call it before any other collective
/// work, so a bad input ends every rank instead of hanging some.
/// **Collective.**
pub fn agree<C: Communicator, T>(comm: &C, local: Result<T>) -> Result<T> {
    match crate::preflight::first_failure(comm, local.as_ref().err()) {
        None => local,
        Some((rank, message)) => match local {
            Err(e) => Err(e),
            Ok(_) => Err(FlameError::OtherRank { rank, message }),
        },
    }
}
