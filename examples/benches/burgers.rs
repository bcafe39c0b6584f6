//! Burgers benchmark: the time-stepping and the in-situ SVD of the burgers demo,
//! against numpy (the same explicit scheme vectorised, and `numpy.linalg.svd` of
//! the same snapshot matrix).
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
    sigma: Vec<f64>,
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
    let output = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(script)
        .arg(&path)
        .arg(reps.to_string())
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
    let sigma = text
        .split("\"sigma\": [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .map(|list| {
            list.split(',')
                .filter_map(|v| v.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Ok(Peer {
        solve_s: field("solve_s").ok_or("no solve time from the peer")?,
        svd_s: field("svd_s").ok_or("no SVD time from the peer")?,
        sigma,
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
    println!("| ranks | part | Rust (ms) | numpy (ms) | numpy / Rust |");
    println!("|---:|---|---:|---:|---:|");
    let row = |part: &str, rust: f64, numpy: Option<f64>| match numpy {
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
        "solve, 2001 steps of N = 256",
        solve_s,
        peer_ok.map(|p| p.solve_s),
    );
    row(
        "SVD of the 2001 × 256 snapshots (Rust: 4 modes, distributed; numpy: full thin SVD)",
        svd_s,
        peer_ok.map(|p| p.svd_s),
    );
    println!();
    println!(
        "σ1..σ4 (Rust): {}",
        pod.sigma
            .iter()
            .map(|s| format!("{s:.6}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match &peer {
        Ok(p) => {
            let worst = pod
                .sigma
                .iter()
                .zip(&p.sigma)
                .map(|(a, b)| ((a - b) / b).abs())
                .fold(0.0, f64::max);
            println!("numpy's σ1..σ4 agree to {worst:.1e} relative.");
        }
        Err(reason) => println!("numpy peer skipped: {reason}."),
    }
}
