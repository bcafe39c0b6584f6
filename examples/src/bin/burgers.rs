//! 1-D viscous Burgers over MPI ranks, with an in-situ SVD of all its snapshots.
//!
//! ```text
//! mpiexec -n 4 burgers --png-dir out --npy modes.npy
//! ```
//!
//! Space is split in contiguous blocks over the ranks, with a halo exchange of
//! one point each side by persistent requests; every step's field stays in
//! memory. At the end the leading singular triplets of the `T × N` snapshot
//! matrix are computed across the ranks by block Krylov passes over the
//! snapshots (one all-reduce of a `T × modes` block per pass), without moving
//! the snapshots. Rank 0 prints σ1..σ4 and the energy captured by the
//! first 1, 2, 3 modes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use mpi::datatype::PartitionMut;
use mpi::topology::Communicator;
use mpi::traits::*;
use quicklb_examples::burgers::{
    block_range, distributed_svd, BurgersError, BurgersParams, LocalBurgers, MpiHalo, MpiSum,
    SvdOptions,
};
use quicklb_examples::plot::{heat_map, LinePlot};
use quicklb_examples::preflight;

/// 1-D viscous Burgers (u_t = -u u_x + ν u_xx on [0, 2π), periodic, u0 = sin x)
/// over MPI ranks, with an in-situ SVD of the snapshot matrix (no disk I/O).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Number of grid points.
    #[arg(long, default_value_t = 256)]
    n: usize,
    /// Viscosity ν.
    #[arg(long, default_value_t = 0.01)]
    nu: f64,
    /// Time step (forward Euler).
    #[arg(long, default_value_t = 0.001)]
    dt: f64,
    /// Step while t < t-end.
    #[arg(long, default_value_t = 2.0)]
    t_end: f64,
    /// Number of singular values printed and spatial modes written to --npy.
    #[arg(long, default_value_t = 4)]
    modes: usize,
    /// Write PNGs here: the field every --png-every steps and the first three spatial modes.
    #[arg(long)]
    png_dir: Option<PathBuf>,
    /// Steps between field PNGs.
    #[arg(long, default_value_t = 400)]
    png_every: usize,
    /// Write the spatial modes (N × modes, float64) to this .npy file.
    #[arg(long)]
    npy: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    preflight::finish(&world, "burgers", run(&world, &args), |e| {
        matches!(e, BurgersError::InvalidArgument(_))
    })
}

/// Gathers every rank's block of a distributed vector on rank 0 (collective).
fn gather_to_root<C: Communicator>(comm: &C, local: &[f64], n: usize) -> Vec<f64> {
    let size = comm.size() as usize;
    let root = comm.process_at_rank(0);
    if comm.rank() == 0 {
        let counts: Vec<i32> = (0..size)
            .map(|r| block_range(n, size, r).1 as i32)
            .collect();
        let displs: Vec<i32> = (0..size)
            .map(|r| block_range(n, size, r).0 as i32)
            .collect();
        let mut all = vec![0.0; n];
        let mut part = PartitionMut::new(&mut all[..], counts, displs);
        root.gather_varcount_into_root(local, &mut part);
        all
    } else {
        root.gather_varcount_into(local);
        Vec::new()
    }
}

fn save_png(img: &image::RgbImage, path: &Path) -> Result<(), BurgersError> {
    img.save(path)
        .map_err(|e| BurgersError::Io(format!("cannot write {}: {e}", path.display())))
}

/// Everything that would fail later, found before the first step and agreed
/// by every rank: the parameters, the output paths (checked by rank 0, which
/// writes the PNGs and opens the `.npy`; it creates `--png-dir`) and the
/// memory of the snapshots. **Collective.**
fn preflight<C: Communicator>(
    world: &C,
    args: &Args,
    params: &BurgersParams,
) -> Result<(), BurgersError> {
    let size = world.size() as usize;
    params.check(size)?;
    if args.modes == 0 {
        return Err(BurgersError::InvalidArgument("--modes must be > 0".into()));
    }
    if args.png_every == 0 {
        return Err(BurgersError::InvalidArgument(
            "--png-every must be > 0".into(),
        ));
    }
    preflight::agree_outputs(
        world,
        &[
            args.png_dir
                .as_deref()
                .map(|d| preflight::Output::Dir("--png-dir", d)),
            args.npy
                .as_deref()
                .map(|p| preflight::Output::File("--npy", p)),
        ],
    )
    .and_then(|()| {
        preflight::check_memory(
            world,
            params.memory_per_rank(size, args.modes.max(3)),
            "the snapshot matrix",
        )
    })
    .map_err(BurgersError::InvalidArgument)
}

fn run<C: Communicator>(world: &C, args: &Args) -> Result<(), BurgersError> {
    let (rank, size) = (world.rank(), world.size() as usize);
    let params = BurgersParams {
        n: args.n,
        nu: args.nu,
        dt: args.dt,
        t_end: args.t_end,
    };
    preflight(world, args, &params)?;
    let (start, len) = block_range(params.n, size, rank as usize);
    let mut local = LocalBurgers::new(params, start, len)?;
    let mut halo = MpiHalo::new(world)?;

    let started = std::time::Instant::now();
    let mut fields: Vec<(usize, Vec<f64>)> = Vec::new();
    // For the space-time picture: about 250 of the snapshots, gathered on rank 0.
    let stride = (params.num_steps() / 250).max(1);
    let mut spacetime: Vec<f64> = Vec::new();
    let want_png = args.png_dir.is_some();
    local.run(&mut halo, |step, field| {
        if want_png && (step % args.png_every == 0 || step % stride == 0) {
            let all = gather_to_root(world, field, params.n);
            if rank == 0 {
                if step % stride == 0 {
                    spacetime.extend_from_slice(&all);
                }
                if step % args.png_every == 0 {
                    fields.push((step, all));
                }
            }
        }
        Ok(())
    })?;
    let sim_time = started.elapsed();

    let started = std::time::Instant::now();
    let k = args.modes.max(3);
    let pod = distributed_svd(&MpiSum(world), local.snapshots(), k, SvdOptions::default())?;
    let svd_time = started.elapsed();

    // Spatial modes on rank 0 for the PNG, one gather per mode.
    let mut modes_global = Vec::new();
    if want_png {
        for m in 0..k {
            let col: Vec<f64> = (0..len).map(|i| pod.modes[(i, m)]).collect();
            modes_global.push(gather_to_root(world, &col, params.n));
        }
    }

    if rank == 0 {
        let steps = local.step();
        println!(
            "burgers: N = {}, nu = {}, dt = {}, {} steps to t = {:.6}, {} ranks",
            params.n,
            params.nu,
            params.dt,
            steps,
            steps as f64 * params.dt,
            size
        );
        println!(
            "snapshot matrix {} x {} kept in memory; time stepping {:.3} s, SVD {:.3} s ({} block Krylov passes)",
            steps,
            params.n,
            sim_time.as_secs_f64(),
            svd_time.as_secs_f64(),
            pod.passes
        );
        for (m, s) in pod.sigma.iter().take(args.modes).enumerate() {
            println!("sigma{} = {:.6}", m + 1, s);
        }
        for m in 1..=3.min(pod.sigma.len()) {
            println!(
                "energy captured by the first {m} mode{}: {:.6} %",
                if m == 1 { "" } else { "s" },
                100.0 * pod.energy_captured(m)
            );
        }

        if let Some(dir) = &args.png_dir {
            let two_pi = 2.0 * std::f64::consts::PI;
            // One y range for all field plots, so that they compare.
            let umax = fields
                .iter()
                .flat_map(|(_, f)| f.iter())
                .fold(0.0f64, |m, v| m.max(v.abs()));
            let y_range = Some((-1.05 * umax, 1.05 * umax));
            let mut overview = LinePlot::new(800, 450, (0.0, two_pi));
            for (step, field) in &fields {
                let label = format!("t = {:.1}", *step as f64 * params.dt);
                let path = dir.join(format!("field_step{step:05}.png"));
                let mut plot =
                    LinePlot::new(800, 450, (0.0, two_pi)).labelled_curve(field, label.clone());
                plot.y_range = y_range;
                save_png(&plot.render(), &path)?;
                overview = overview.labelled_curve(field, label);
            }
            save_png(&overview.render(), &dir.join("fields.png"))?;
            let mut plot = LinePlot::new(800, 450, (0.0, two_pi));
            for (m, mode) in modes_global.iter().take(3).enumerate() {
                plot = plot.labelled_curve(mode, format!("mode {}", m + 1));
            }
            save_png(&plot.render(), &dir.join("modes.png"))?;
            let frames = spacetime.len() / params.n;
            let map = heat_map(&spacetime, frames, params.n, 800, 520);
            save_png(&map, &dir.join("spacetime.png"))?;
            println!(
                "PNGs in {}: field_stepNNNNN.png (every {} steps), fields.png (all of them), \
                 modes.png (modes 1-3), spacetime.png (u(x, t): x across, t down)",
                dir.display(),
                args.png_every
            );
        }
    }

    if let Some(path) = &args.npy {
        // N × modes: every rank writes its rows (grid points) of the spatial
        // modes collectively (MPI-IO, quicklb-transport).
        let m = args.modes.min(pod.sigma.len());
        let rows = ndarray::Array2::from_shape_fn((len, m), |(i, c)| pod.modes[(i, c)]);
        quicklb_transport::write_npy(world, path, rows.view())?;
        if rank == 0 {
            println!(
                "modes written to {} ({} x {} float64, collective MPI-IO)",
                path.display(),
                params.n,
                m
            );
        }
    }
    Ok(())
}
