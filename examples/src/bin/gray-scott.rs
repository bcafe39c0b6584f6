//! Gray-Scott reaction-diffusion with the per-cell chemistry load-balanced by
//! quicklb: the QUICKLB example in Rust (see `quicklb_examples::gray_scott`).
//!
//! ```text
//! mpiexec -n 4 gray-scott --size 256 --steps 2000 --output b.png --npy b.npy
//! ```
//!
//! Rank 0 shows a progress bar (plain lines when stderr is not a terminal),
//! writes the PNG of `B`, and prints a table of the step time and the
//! imbalance without and with balancing, measured in the same run (step 0 and
//! every `--compare-every`-th step run without balancing).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mpi::topology::Communicator;
use quicklb::Replan;
use quicklb_examples::chemistry::Chemistry;
use quicklb_examples::cli::parse_replan;
use quicklb_examples::colormap::{field_image, finite_range};
use quicklb_examples::gray_scott::{
    seed_block, AlgorithmName, Config, CostModel, GrayScottError, HaloKind, Simulation,
};
use quicklb_examples::preflight;
use quicklb_examples::progress::Progress;

/// Gray-Scott reaction-diffusion on an N×N periodic grid split in row slabs
/// over MPI ranks, with the stiff per-cell chemistry (adaptive Rosenbrock,
/// rtol 1e-4) load-balanced by quicklb.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Grid size N (N×N cells). 30 is the QUICKLB example's case.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Number of steps (each: diffusion Laplacians, one time unit of chemistry, update).
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// The balancer's algorithm.
    #[arg(long, value_enum, default_value_t = AlgorithmName::Transfer)]
    algorithm: AlgorithmName,
    /// Run every step without balancing.
    #[arg(long)]
    no_balance: bool,
    /// Re-plan the loans every this many balanced steps.
    #[arg(long, default_value_t = 10)]
    partition_every: usize,
    /// Let the balancer re-plan by itself: `auto` (when the measured imbalance
    /// pays for a plan) or a period N (every N balanced steps); replaces
    /// --partition-every.
    #[arg(long, value_parser = parse_replan)]
    replan: Option<Replan>,
    /// Run step 0 and every this many steps without balancing, to measure the
    /// unbalanced step time in the same run (0: step 0 only).
    #[arg(long, default_value_t = 10)]
    compare_every: usize,
    /// How ghosts are filled.
    #[arg(long, value_enum, default_value_t = HaloKind::Auto)]
    halo: HaloKind,
    /// Cell weights the balancer plans with: integrator steps (the work) or
    /// measured compute time.
    #[arg(long, value_enum, default_value_t = CostModel::Steps)]
    cost: CostModel,
    /// Write B as a PNG (viridis colormap) to this file.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Pixels per cell side in the PNG (default: enough for about 512 pixels).
    #[arg(long)]
    scale: Option<u32>,
    /// Write B (N×N float64) to this .npy file, collectively with MPI-IO.
    #[arg(long)]
    npy: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    preflight::finish(&world, "gray-scott", run(&world, &args), |e| {
        matches!(e, GrayScottError::InvalidArgument(_))
    })
}

/// Everything that would fail later, found before the first step and agreed
/// by every rank: the settings, the output paths (checked by rank 0, which
/// writes the PNG and opens the `.npy`) and the memory of the grid.
/// **Collective.**
fn preflight<C: Communicator>(
    world: &C,
    args: &Args,
    config: &Config,
) -> Result<(), GrayScottError> {
    let ranks = world.size() as usize;
    Simulation::check(config, ranks)?;
    preflight::agree_outputs(
        world,
        &[
            args.output
                .as_deref()
                .map(|p| preflight::Output::File("--output", p)),
            args.npy
                .as_deref()
                .map(|p| preflight::Output::File("--npy", p)),
        ],
    )
    .and_then(|()| {
        preflight::check_memory(
            world,
            Simulation::memory_per_rank(config, ranks),
            &format!("a {n}x{n} grid over {ranks} ranks", n = args.size),
        )
    })
    .map_err(GrayScottError::InvalidArgument)
}

fn run<C: Communicator>(world: &C, args: &Args) -> Result<(), GrayScottError> {
    let root = world.rank() == 0;
    let config = Config {
        size: args.size,
        algorithm: (!args.no_balance).then(|| args.algorithm.algorithm()),
        partition_every: args.partition_every,
        replan: args.replan.unwrap_or(Replan::Manual),
        compare_every: args.compare_every,
        halo: args.halo,
        cost: args.cost,
        chemistry: Chemistry::default(),
    };
    preflight(world, args, &config)?;
    let mut sim = Simulation::new(world, config)?;
    if root {
        let (rows, cols) = seed_block(args.size);
        println!(
            "gray-scott: {n}x{n} periodic grid, {p} ranks ({r} rows each or one more), {steps} steps, {mode}",
            n = args.size,
            p = world.size(),
            r = args.size / world.size() as usize,
            steps = args.steps,
            mode = if args.no_balance {
                "no balancing".to_string()
            } else {
                format!(
                    "balancer {} (re-plan {}; unbalanced steps: 0{})",
                    args.algorithm.algorithm().name(),
                    match args.replan {
                        None => format!("every {} balanced steps", args.partition_every),
                        Some(r) => format!("{} by iterate()", r.name()),
                    },
                    if args.compare_every > 0 {
                        format!(" and every {}th", args.compare_every)
                    } else {
                        String::new()
                    }
                )
            }
        );
        println!(
            "gray-scott: initial A = 0.5, B = 0.25 in rows {}..{}, columns {}..{}; A = 1, B = 0 elsewhere",
            rows.start, rows.end, cols.start, cols.end
        );
    }
    let progress = Progress::new("gray-scott", root, args.steps);
    for s in 0..args.steps {
        let rec = sim.step()?;
        progress.step(s + 1, args.steps, rec.wall * 1e3);
    }
    progress.finish();

    let summary = sim.summary();
    let fields = sim.gather();
    if let Some(path) = &args.npy {
        sim.write_npy_b(path)?;
        if root {
            println!(
                "gray-scott: wrote B to {} (collective MPI-IO)",
                path.display()
            );
        }
    }
    if let Some((a, b)) = fields {
        let (bmin, bmax) = finite_range(b.view());
        let (amin, amax) = finite_range(a.view());
        println!();
        println!(
            "after {} steps: A in [{amin:.4}, {amax:.4}], B in [{bmin:.4}, {bmax:.4}], mean B {:.6}",
            summary.steps,
            b.mean().unwrap_or(0.0)
        );
        println!();
        print!("{}", summary.table());
        println!(
            "\nmean time per step over all {} steps: {:.2} ms (slowest rank)",
            summary.steps,
            summary.time_per_step * 1e3
        );
        if let Some(path) = &args.output {
            let scale = args
                .scale
                .unwrap_or_else(|| (512 / args.size.max(1)).max(1) as u32);
            field_image(b.view(), None, scale)
                .save(path)
                .map_err(|e| GrayScottError::Io(format!("cannot write {}: {e}", path.display())))?;
            println!(
                "gray-scott: wrote B to {} (viridis, B from {bmin:.4} to {bmax:.4})",
                path.display()
            );
        }
    }
    Ok(())
}
