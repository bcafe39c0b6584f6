//! A premixed H2/air flame on a 2-D grid with detailed chemistry, the
//! chemistry of every cell load-balanced by quicklb (see
//! `quicklb_examples::flame`), and the reactor on its own (`flame ignition`).
//!
//! ```text
//! mpiexec -n 2 flame --size 64 --steps 100 --output-dir out
//! flame ignition --mechanism gri30.yaml --mixture "CH4:1, O2:2, N2:7.52" --temperature 1200
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use mpi::topology::Communicator;
use quicklb_examples::colormap::{field_image, finite_range};
use quicklb_examples::flame::{
    self, algorithm_by_name, check_output_dir, initial::KERNELS, Config, CostModel, FlameError,
    HaloKind, Physics, ALGORITHMS, DEFAULT_MIXTURE, DEFAULT_TEMPERATURE,
};
use quicklb_examples::progress::Progress;
use quicklb_kinetics::{Mechanism, ReactorOptions};

/// A premixed hydrogen/air flame on an N×N grid split in row slabs over MPI
/// ranks: diffusion of temperature and species (one constant diffusivity),
/// then the detailed chemistry of every cell (an adiabatic constant-pressure
/// reactor per cell, stiff and adaptive), load-balanced by quicklb. Two hot
/// kernels off-centre ignite and burn on some ranks and not others.
///
/// `flame` alone is `flame run`. Rank 0 shows a progress bar, writes PNGs
/// and .npy files of T and of a radical (OH, else H), and prints a table of
/// the step time, the chemistry time and the imbalance without and with
/// balancing, measured in the same run. `flame ignition` runs the reactor
/// alone for any mechanism, mixture, temperature and pressure.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The flame on the grid (the default).
    Run(RunArgs),
    /// One adiabatic constant-pressure reactor from T0 until it has burnt:
    /// prints the ignition delay (time of the largest dT/dt) and the
    /// equilibrium temperature, to compare with your own tools.
    Ignition(IgnitionArgs),
}

/// The gas and the reactor's tolerances, shared by both subcommands.
#[derive(Args, Debug, Clone)]
struct Gas {
    /// A Cantera YAML mechanism (e.g. gri30.yaml); default: the bundled H2/O2 mechanism.
    #[arg(long)]
    mechanism: Option<PathBuf>,
    /// The fresh mixture in mole ratios, "SPECIES:ratio, ...".
    #[arg(long, default_value = DEFAULT_MIXTURE)]
    mixture: String,
    /// Pressure, Pa.
    #[arg(long, default_value_t = 101_325.0, allow_negative_numbers = true)]
    pressure: f64,
    /// Relative tolerance of the reactor.
    #[arg(long)]
    rtol: Option<f64>,
    /// Absolute tolerance of the reactor.
    #[arg(long)]
    atol: Option<f64>,
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    #[command(flatten)]
    gas: Gas,
    /// Temperature of the fresh mixture, K (preheated: at 600 K fresh cells
    /// cost one integrator step, burning ones tens).
    #[arg(long, default_value_t = DEFAULT_TEMPERATURE, allow_negative_numbers = true)]
    temperature: f64,
    /// Peak temperature of the two ignition kernels, K.
    #[arg(long, default_value_t = 1500.0, allow_negative_numbers = true)]
    kernel_temperature: f64,
    /// Grid size N (N×N cells).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Number of steps (each: diffusion, then chemistry over --dt).
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Grid spacing, m.
    #[arg(long, default_value_t = 50e-6, allow_negative_numbers = true)]
    dx: f64,
    /// Time step, s.
    #[arg(long, default_value_t = 5e-6, allow_negative_numbers = true)]
    dt: f64,
    /// The one diffusivity of heat and all species, m²/s.
    #[arg(long, default_value_t = 5e-5, allow_negative_numbers = true)]
    diffusivity: f64,
    /// The balancer's algorithm.
    #[arg(long, default_value = "transfer", value_parser = PossibleValuesParser::new(ALGORITHMS.iter().map(|(name, _)| *name)))]
    algorithm: String,
    /// Run every step without balancing.
    #[arg(long)]
    no_balance: bool,
    /// Share what is still uneven after the planned loans while each balanced
    /// step runs (ranks of a node take chunks of busy ranks' cells).
    #[arg(long)]
    dynamic: bool,
    /// Re-plan the loans every this many balanced steps.
    #[arg(long, default_value_t = 1)]
    partition_every: usize,
    /// Let the balancer re-plan by itself: `auto` (when the measured imbalance
    /// pays for a plan) or a period N (every N balanced steps); replaces
    /// --partition-every.
    #[arg(long, value_parser = quicklb_examples::cli::parse_replan)]
    replan: Option<quicklb::Replan>,
    /// Run step 0 and every this many steps without balancing, to measure the
    /// unbalanced step time in the same run (0: step 0 only).
    #[arg(long, default_value_t = 10)]
    compare_every: usize,
    /// How ghosts are filled.
    #[arg(long, value_enum, default_value_t = HaloKind::Auto)]
    halo: HaloKind,
    /// Cell weights the balancer plans with: the integrator steps (the work)
    /// forecast for the next step, those of the last step, measured compute
    /// time, or the forecast of time from the steps weighted by a fitted
    /// time per step (calibrated).
    #[arg(long, value_enum, default_value_t = CostModel::Forecast)]
    cost: CostModel,
    /// Directory (must exist) for flame-T.png, flame-<radical>.png and their .npy files.
    #[arg(long, default_value = ".")]
    output_dir: PathBuf,
    /// Pixels per cell side in the PNGs (default: enough for about 512 pixels).
    #[arg(long)]
    scale: Option<u32>,
}

#[derive(Args, Debug)]
struct IgnitionArgs {
    #[command(flatten)]
    gas: Gas,
    /// Initial temperature, K.
    #[arg(long, default_value_t = 1000.0, allow_negative_numbers = true)]
    temperature: f64,
    /// Integrate up to this time, s.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    t_end: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Ignition(args)) => ignition(&args),
        Some(Command::Run(args)) => run_main(&args),
        None => run_main(&cli.run),
    }
}

impl Gas {
    fn mechanism(&self) -> Result<Mechanism, FlameError> {
        flame::load_mechanism(self.mechanism.as_deref())
    }

    fn mass_fractions(&self, mech: &Mechanism) -> Result<Vec<f64>, FlameError> {
        flame::mixture_mass_fractions(mech, &self.mixture)
    }

    fn reactor(&self) -> Result<ReactorOptions, FlameError> {
        let mut options = ReactorOptions::default();
        for (name, value, slot) in [
            ("--rtol", self.rtol, &mut options.rtol),
            ("--atol", self.atol, &mut options.atol),
        ] {
            if let Some(v) = value {
                if !(v.is_finite() && v > 0.0) {
                    return Err(FlameError::InvalidArgument(format!(
                        "{name} {v}: must be a positive number"
                    )));
                }
                *slot = v;
            }
        }
        Ok(options)
    }
}

/// `flame ignition`: one reactor, no MPI.
fn ignition(args: &IgnitionArgs) -> ExitCode {
    match try_ignition(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flame ignition: {e}");
            ExitCode::from(2)
        }
    }
}

fn try_ignition(args: &IgnitionArgs) -> Result<(), FlameError> {
    let mech = args.gas.mechanism()?;
    let y = args.gas.mass_fractions(&mech)?;
    let options = args.gas.reactor()?;
    for (name, v) in [
        ("--temperature", args.temperature),
        ("--pressure", args.gas.pressure),
        ("--t-end", args.t_end),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(FlameError::InvalidArgument(format!(
                "{name} {v}: must be a positive number"
            )));
        }
    }
    let source = args
        .gas
        .mechanism
        .as_ref()
        .map_or_else(|| "bundled H2/O2".to_string(), |p| p.display().to_string());
    println!(
        "flame ignition: {source} ({} species), {}, T0 = {} K, p = {} Pa, rtol {:e}, atol {:e}",
        mech.num_species(),
        args.gas.mixture,
        args.temperature,
        args.gas.pressure,
        options.rtol,
        options.atol
    );
    let start = Instant::now();
    let ign = quicklb_kinetics::ignition(
        &mech,
        &y,
        args.temperature,
        args.gas.pressure,
        options,
        args.t_end,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let t_eq =
        quicklb_kinetics::equilibrium_temperature(&mech, &y, args.temperature, args.gas.pressure)?;
    println!(
        "ignition delay (max dT/dt): {:.6e} s = {:.4} ms",
        ign.delay,
        ign.delay * 1e3
    );
    println!(
        "temperature at t = {} s: {:.2} K",
        args.t_end, ign.final_temperature
    );
    println!("equilibrium temperature (adiabatic, constant pressure): {t_eq:.2} K");
    println!(
        "integrator steps: {}, wall time {:.3} ms",
        ign.steps,
        seconds * 1e3
    );
    Ok(())
}

fn run_main(args: &RunArgs) -> ExitCode {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    quicklb_examples::preflight::finish(&world, "flame", run(&world, args), |e| e.is_input_error())
}

/// Everything `flame run` needs, read and checked on every rank.
struct Setup {
    mech: Mechanism,
    config: Config,
    radical: (&'static str, usize),
}

fn setup(args: &RunArgs, ranks: usize) -> Result<Setup, FlameError> {
    let mech = args.gas.mechanism()?;
    let physics = Physics {
        pressure: args.gas.pressure,
        temperature: args.temperature,
        kernel_temperature: args.kernel_temperature,
        mass_fractions: args.gas.mass_fractions(&mech)?,
        dx: args.dx,
        dt: args.dt,
        diffusivity: args.diffusivity,
        reactor: args.gas.reactor()?,
    };
    let algorithm = algorithm_by_name(&args.algorithm).ok_or_else(|| {
        FlameError::InvalidArgument(format!("--algorithm {}: unknown", args.algorithm))
    })?;
    let config = Config {
        size: args.size,
        algorithm: (!args.no_balance).then_some(algorithm),
        dynamic: if args.dynamic {
            quicklb::Dynamic::OnNode
        } else {
            quicklb::Dynamic::Off
        },
        partition_every: args.partition_every,
        replan: args.replan.unwrap_or(quicklb::Replan::Manual),
        compare_every: args.compare_every,
        halo: args.halo,
        cost: args.cost,
        physics,
    };
    config.check(&mech, ranks)?;
    check_output_dir(&args.output_dir)?;
    let radical = flame::radical(&mech).ok_or_else(|| {
        FlameError::InvalidArgument("the mechanism has neither OH nor H to picture".into())
    })?;
    Ok(Setup {
        mech,
        config,
        radical,
    })
}

fn run<C: Communicator>(world: &C, args: &RunArgs) -> Result<(), FlameError> {
    let root = world.rank() == 0;
    let ranks = world.size() as usize;
    let Setup {
        mech,
        config,
        radical: (radical, radical_field),
    } = flame::agree(world, setup(args, ranks))?;
    let n = config.size;
    if root {
        let p = &config.physics;
        println!(
            "flame: {n}x{n} cells of {:.0} µm, {} species, {}; T = {} K, p = {} Pa; {} steps of {:.1} µs; D = {:e} m²/s for heat and every species (D·dt/dx² = {:.3})",
            p.dx * 1e6,
            mech.num_species(),
            args.gas.mixture,
            p.temperature,
            p.pressure,
            args.steps,
            p.dt * 1e6,
            p.diffusivity,
            p.diffusion_number()
        );
        let kernels: Vec<String> = KERNELS
            .iter()
            .map(|k| {
                format!(
                    "row {:.0}, column {:.0}, radius {:.1}",
                    k.row * n as f64,
                    k.col * n as f64,
                    (k.radius * n as f64).max(flame::initial::MIN_RADIUS)
                )
            })
            .collect();
        println!(
            "flame: kernels at {} K: {}",
            p.kernel_temperature,
            kernels.join("; ")
        );
        println!(
            "flame: {ranks} ranks in row slabs ({} rows each or one more), {}",
            n / ranks,
            match &config.algorithm {
                None => "no balancing".to_string(),
                Some(a) => format!(
                    "balancer {} (re-plan {}; unbalanced steps: 0{})",
                    a.name(),
                    match config.replan {
                        quicklb::Replan::Manual =>
                            format!("every {} balanced steps", config.partition_every),
                        r => format!("{} by iterate()", r.name()),
                    },
                    if config.compare_every > 0 {
                        format!(" and every {}th", config.compare_every)
                    } else {
                        String::new()
                    }
                ),
            }
        );
    }
    let mut sim = flame::build(world, &mech, config)?;
    let progress = Progress::new("flame", root, args.steps);
    for s in 0..args.steps {
        let rec = sim.step()?;
        progress.step(s + 1, args.steps, rec.wall * 1e3);
    }
    progress.finish();

    let summary = sim.summary();
    let dir = &args.output_dir;
    let t_npy = dir.join("flame-T.npy");
    let r_npy = dir.join(format!("flame-{radical}.npy"));
    sim.write_npy(0, &t_npy)?;
    sim.write_npy(radical_field, &r_npy)?;
    let temperature = sim.gather_field(0);
    let rad = sim.gather_field(radical_field);
    if let (Some(t), Some(r)) = (temperature, rad) {
        let (tmin, tmax) = finite_range(t.view());
        let (rmin, rmax) = finite_range(r.view());
        let burnt = t.iter().filter(|&&v| v > 0.5 * (tmin + tmax)).count();
        println!();
        println!(
            "after {} steps ({:.3} ms): T in [{tmin:.1}, {tmax:.1}] K, {burnt} of {} cells above {:.0} K, Y_{radical} up to {rmax:.3e}",
            summary.steps,
            summary.steps as f64 * args.dt * 1e3,
            n * n,
            0.5 * (tmin + tmax)
        );
        println!();
        print!("{}", summary.table());
        println!(
            "\nmean time per step over all {} steps: {:.2} ms (slowest rank)",
            summary.steps,
            summary.time_per_step * 1e3
        );
        let scale = args.scale.unwrap_or_else(|| (512 / n.max(1)).max(1) as u32);
        let t_png = dir.join("flame-T.png");
        let r_png = dir.join(format!("flame-{radical}.png"));
        save(&t, &t_png, scale)?;
        save(&r, &r_png, scale)?;
        println!(
            "flame: wrote {} (T, viridis, {tmin:.0} to {tmax:.0} K) and {} (Y_{radical}, {rmin:.2e} to {rmax:.2e})",
            t_png.display(),
            r_png.display()
        );
        println!(
            "flame: wrote {} and {} (N×N float64, collective MPI-IO)",
            t_npy.display(),
            r_npy.display()
        );
    }
    Ok(())
}

fn save(field: &ndarray::Array2<f64>, path: &Path, scale: u32) -> Result<(), FlameError> {
    field_image(field.view(), None, scale)
        .save(path)
        .map_err(|e| FlameError::Io(format!("cannot write {}: {e}", path.display())))
}
