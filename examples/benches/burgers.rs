//! Burgers benchmark: the time-stepping and the in-situ SVD of the burgers demo,
//! against numpy (the same explicit scheme vectorised) and three SVDs of the
//! same snapshot matrix: `numpy.linalg.svd` (full thin SVD) and the matching
//! peers, which compute only the first 4 modes as Rust does:
//! `scipy.sparse.linalg.svds(k = 4)` (ARPACK) and a randomized SVD in numpy
//! (range finder of 12 columns, one power iteration). The peers run on one
//! BLAS thread (`OPENBLAS_NUM_THREADS=1` unless set), like the one Rust rank.
//!
//! An MPI program: `cargo xtask bench burgers` runs it; by hand,
//! `cargo bench -p quicklb-examples --bench burgers --no-run`, then
//! `mpiexec -n N <binary> [--quick]`. Markdown on stdout, progress on stderr.
//! The numpy peer runs when the job has one rank (it needs the whole matrix,
//! which rank 0 writes to a temporary `.npy`); without python3 and numpy its
//! columns say why they are empty.

use std::process::Command;
use std::time::Instant;

use mpi::topology::Communicator;
use mpi::traits::*;
use ndarray::Array2;
use quicklb_examples::burgers::{
    block_range, distributed_svd, BurgersParams, LocalBurgers, MpiHalo, MpiSum, SvdOptions,
};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

struct Peer {
    solve_s: f64,
    svd_s: f64,
    svds_s: f64,
    rsvd_s: f64,
    sigma: Vec<f64>,
    sigma_svds: Vec<f64>,
    sigma_rsvd: Vec<f64>,
}

fn numpy_peer(
    matrix: &Array2<f64>,
    world: &impl Communicator,
    reps: usize,
) -> Result<Peer, String> {
    let path =
        std::env::temp_dir().join(format!("quicklb-burgers-bench-{}.npy", std::process::id()));
    quicklb_transport::write_npy(world, &path, matrix.view()).map_err(|e| e.to_string())?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/py/burgers.py");
    let mut command = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()));
    command.arg(script).arg(&path).arg(reps.to_string());
    for threads in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] {
        if std::env::var_os(threads).is_none() {
            command.env(threads, "1");
        }
    }
    let output = command
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"));
    let _ = std::fs::remove_file(&path);
    let output = output?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "numpy peer failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| -> Option<f64> {
        let rest = text.split(&format!("\"{name}\": ")).nth(1)?;
        rest.split([',', '}']).next()?.trim().parse().ok()
    };
    let list = |name: &str| -> Vec<f64> {
        text.split(&format!("\"{name}\": ["))
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .map(|list| {
                list.split(',')
                    .filter_map(|v| v.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Peer {
        solve_s: field("solve_s").ok_or("no solve time from the peer")?,
        svd_s: field("svd_s").ok_or("no SVD time from the peer")?,
        svds_s: field("svds_s").ok_or("no svds time from the peer")?,
        rsvd_s: field("rsvd_s").ok_or("no randomized SVD time from the peer")?,
        sigma: list("sigma"),
        sigma_svds: list("sigma_svds"),
        sigma_rsvd: list("sigma_rsvd"),
    })
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let reps = if quick { 2 } else { 7 };
    let params = BurgersParams::default();
    let (start, len) = block_range(params.n, size, rank);

    let (mut solve_times, mut svd_times) = (Vec::new(), Vec::new());
    let mut last = None;
    for rep in 0..reps {
        if rank == 0 {
            eprintln!("burgers bench: repetition {}/{reps}", rep + 1);
        }
        world.barrier();
        let clock = Instant::now();
        let mut local = LocalBurgers::new(params, start, len).expect("valid block");
        let mut halo = MpiHalo::new(&world).expect("halo requests");
        local.run(&mut halo, |_, _| Ok(())).expect("time stepping");
        world.barrier();
        solve_times.push(clock.elapsed().as_secs_f64());

        let clock = Instant::now();
        let pod = distributed_svd(&MpiSum(&world), local.snapshots(), 4, SvdOptions::default())
            .expect("SVD converges");
        world.barrier();
        svd_times.push(clock.elapsed().as_secs_f64());
        last = Some((local, pod));
    }
    let (local, pod) = last.expect("at least one repetition");
    let solve_s = median(solve_times);
    let svd_s = median(svd_times);

    let peer = if size == 1 {
        let x = local.snapshots();
        let matrix = Array2::from_shape_fn((x.nrows(), x.ncols()), |(i, j)| x[(i, j)]);
        numpy_peer(&matrix, &world, reps)
    } else {
        Err("runs with 1 rank only (it needs the whole snapshot matrix)".to_string())
    };

    if rank != 0 {
        return;
    }
    println!("| ranks | part | Rust (ms) | peer (ms) | peer / Rust |");
    println!("|---:|---|---:|---:|---:|");
    let row = |part: &str, rust: f64, peer: Option<f64>| match peer {
        Some(p) => println!(
            "| {size} | {part} | {:.2} | {:.2} | {:.2} |",
            rust * 1e3,
            p * 1e3,
            p / rust
        ),
        None => println!("| {size} | {part} | {:.2} | – | – |", rust * 1e3),
    };
    let peer_ok = peer.as_ref().ok();
    row(
        "solve, 2001 steps of N = 256 (numpy)",
        solve_s,
        peer_ok.map(|p| p.solve_s),
    );
    let svd = "SVD of the 2001 × 256 snapshots (Rust: 4 modes, distributed)";
    row(
        &format!("{svd}; peer: numpy full thin SVD"),
        svd_s,
        peer_ok.map(|p| p.svd_s),
    );
    row(
        &format!("{svd}; peer: scipy.sparse.linalg.svds, k = 4"),
        svd_s,
        peer_ok.map(|p| p.svds_s),
    );
    row(
        &format!("{svd}; peer: randomized SVD (numpy, 12 columns, 1 power iteration)"),
        svd_s,
        peer_ok.map(|p| p.rsvd_s),
    );
    println!();
    println!(
        "σ1..σ4 (Rust): {}; {} block Krylov passes over the snapshots",
        pod.sigma
            .iter()
            .map(|s| format!("{s:.6}"))
            .collect::<Vec<_>>()
            .join(", "),
        pod.passes
    );
    match &peer {
        Ok(p) => {
            let worst = |other: &[f64]| {
                if other.len() < pod.sigma.len() {
                    return f64::NAN;
                }
                pod.sigma
                    .iter()
                    .zip(other)
                    .map(|(a, b)| ((a - b) / b).abs())
                    .fold(0.0, f64::max)
            };
            println!(
                "σ1..σ4 relative to Rust's: numpy full SVD {:.1e}, svds {:.1e}, randomized {:.1e}.",
                worst(&p.sigma),
                worst(&p.sigma_svds),
                worst(&p.sigma_rsvd)
            );
            let slowest_ratio = [p.svds_s, p.rsvd_s]
                .iter()
                .fold(f64::INFINITY, |m, &t| m.min(t / svd_s));
            println!(
                "target: Rust's SVD >= 3x faster than each matching peer (svds, randomized): {:.2}x: {}",
                slowest_ratio,
                if slowest_ratio >= 3.0 { "met" } else { "NOT met" }
            );
        }
        Err(reason) => println!("numpy peer skipped: {reason}."),
    }
}
