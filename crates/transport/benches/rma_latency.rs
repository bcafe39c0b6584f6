//! RMA latency of `quicklb_transport::rma` against C and mpi4py, in the same run.
//!
//! Run under two ranks: `mpiexec -n 2 <bench binary> [--quick]` (built with
//! `cargo bench -p quicklb-transport --bench rma_latency --no-run`).
//!
//! Rows: put, get and accumulate (`MPI_SUM`) of 8 bytes (one `f64`), each in a
//! fence epoch per iteration (`fence`: all ranks fence, rank 0 does the operation)
//! and in an exclusive lock epoch per iteration (`lock`: rank 0 locks rank 1, does
//! the operation, unlocks; rank 1 waits). OSU-style: untimed warm-up, then timed
//! iterations, in many short repetitions (300 of 500 iterations; `--quick`: 20 of
//! 500). Each repetition runs the Rust loop and the C loop back to back, in an
//! order that alternates, so each pair sees the same machine.
//!
//! - The times (µs per epoch) are the best repetition of each: on a loaded machine
//!   a run of a fraction of a millisecond has a fair chance to see both ranks
//!   scheduled throughout, which keeps preemption out of the minimum.
//! - The ratio Rust/C is the median over the repetitions of each pair's ratio, with
//!   the half-width of its 95 % confidence interval (distribution-free, from the
//!   order statistics of the pair ratios): a ratio of two minima taken from
//!   different repetitions moved by several per cent from run to run under load,
//!   while the paired median is within about 1 %.
//!
//! Peers:
//! - C: `benches/c/rma_latency.c`, compiled at start-up with `mpicc -shared` (or
//!   `$MPICC`) and called in-process through `dlopen`, so it runs in the same
//!   processes on the same MPI library.
//! - mpi4py: `benches/py/rma_latency.py` with numpy buffers, launched by rank 0 as
//!   a separate `mpiexec -n 2 python3 …` job (`$MPIEXEC`, `$PYTHON`) after the Rust
//!   and C rows, while rank 1 sleeps; skipped with a reason if python3 lacks
//!   mpi4py or numpy, or the launch fails.
//!
//! Rank 0 prints a markdown table with the ratios Rust/C and mpi4py/Rust.

mod c_peer;
mod paired;

use std::ffi::{c_int, c_void};
use std::process::Command;
use std::time::Duration;

use mpi::collective::SystemOperation;
use mpi::ffi;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use paired::{best, paired_ratio};
use quicklb_transport::rma::{LockType, Window};

const OPS: [&str; 3] = ["put", "get", "accumulate"];
const SYNCS: [&str; 2] = ["fence", "lock"];

type CRma = unsafe extern "C" fn(ffi::MPI_Comm, c_int, c_int, c_int, c_int) -> f64;

/// Compiles the C peer into a shared library private to this rank and loads it.
fn load_c(rank: i32) -> Result<CRma, String> {
    let sym = c_peer::load("rma_latency.c", c"qlb_c_rma", rank)?;
    // SAFETY: `qlb_c_rma` is defined in rma_latency.c with exactly the signature of
    // `CRma`: (MPI_Comm, int, int, int, int) -> double.
    Ok(unsafe { std::mem::transmute::<*mut c_void, CRma>(sym) })
}

/// The Rust loop of one row; mean microseconds per iteration on rank 0.
fn rust_rma(
    world: &SimpleCommunicator,
    op: usize,
    sync: usize,
    iters: usize,
    warmup: usize,
) -> f64 {
    let rank = world.rank();
    let target = if world.size() > 1 { 1 } else { 0 };
    let mut win = Window::<f64>::allocate(world, 1).expect("MPI_Win_allocate");
    let origin = [1.0f64];
    let mut dst = [0.0f64];
    let mut t0 = 0.0;
    world.barrier();
    if sync == 0 {
        for i in 0..warmup + iters {
            if i == warmup {
                t0 = mpi::time();
            }
            win.fence(|e| {
                if rank != 0 {
                    return Ok(());
                }
                match op {
                    0 => e.put(&origin, target, 0),
                    1 => e.get(&mut dst, target, 0),
                    _ => e.accumulate(&origin, target, 0, SystemOperation::sum()),
                }
            })
            .expect("fence epoch");
        }
    } else if rank == 0 {
        for i in 0..warmup + iters {
            if i == warmup {
                t0 = mpi::time();
            }
            win.lock(target, LockType::Exclusive, |e| match op {
                0 => e.put(&origin, target, 0),
                1 => e.get(&mut dst, target, 0),
                _ => e.accumulate(&origin, target, 0, SystemOperation::sum()),
            })
            .expect("lock epoch");
        }
    }
    let us = (mpi::time() - t0) * 1e6 / iters as f64;
    world.barrier();
    us
}

/// Runs the mpi4py peer as its own 2-rank job; rank 0 only.
fn run_python(quick: bool) -> Result<Vec<f64>, String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import mpi4py, numpy"])
        .output()
        .map_err(|e| format!("{python} not runnable: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "`{python} -c 'import mpi4py, numpy'` failed (pip install mpi4py numpy)"
        ));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/py/rma_latency.py");
    let mpiexec = std::env::var("MPIEXEC").unwrap_or_else(|_| "mpiexec".into());
    let mut cmd = Command::new(&mpiexec);
    cmd.args(["-n", "2"]).arg(&python).arg(script).arg("--json");
    cmd.arg(format!("--reps={}", if quick { 3 } else { 10 }));
    if quick {
        cmd.arg("--quick");
    }
    // A fresh job: drop what this job's launcher exported to its ranks, keep the
    // user's settings (run-as-root permission, oversubscription, component choice).
    for (key, _) in std::env::vars() {
        let launcher = key.starts_with("PMIX_")
            || key.starts_with("PMI_")
            || key.starts_with("HYDRA_")
            || key.starts_with("MPI_LOCAL")
            || key.starts_with("OMPI_COMM_WORLD")
            || key.starts_with("OMPI_FIRST")
            || key.starts_with("OMPI_APP")
            || key.starts_with("OMPI_UNIVERSE")
            || key.starts_with("OMPI_FILE_LOCATION")
            || key.starts_with("OMPI_NUM_APP")
            || key.starts_with("OMPI_ARGV")
            || key.starts_with("OMPI_COMMAND")
            || key.starts_with("OMPI_MCA_ess")
            || key.starts_with("OMPI_MCA_orte")
            || key.starts_with("OMPI_MCA_pmix")
            || key.starts_with("OMPI_MCA_initial_wdir")
            || key.starts_with("OMPI_MCA_mpi_oversubscribe")
            || key.starts_with("OMPI_MCA_shmem_RUNTIME")
            || key.starts_with("OMPI_MCA_btl_vader_single")
            || key.starts_with("ORTE_");
        if launcher {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("{mpiexec} not runnable: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!("nested `{mpiexec} -n 2 {python}` failed: {first}"));
    }
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("no JSON in mpi4py output: {stdout}"))?;
    let mut values = Vec::new();
    for sync in SYNCS {
        for op in OPS {
            let key = format!("\"{op} {sync}\":");
            let at = line
                .find(&key)
                .ok_or_else(|| format!("no {op} {sync} in {line}"))?;
            let rest = &line[at + key.len()..];
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            values.push(
                rest[..end]
                    .trim()
                    .parse::<f64>()
                    .map_err(|e| format!("bad number for {op} {sync}: {e}"))?,
            );
        }
    }
    Ok(values)
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let rank = world.rank();
    let quick = std::env::args().any(|a| a == "--quick");
    let (iters, reps) = if quick { (500, 20) } else { (500, 300) };
    let warmup = iters / 10;

    // The C peer is collective: use it only if every rank could load it.
    let c = load_c(rank);
    let mut ok = 0i32;
    world.all_reduce_into(&i32::from(c.is_ok()), &mut ok, SystemOperation::min());
    let c_fn = match (&c, ok) {
        (Ok(f), 1) => Some(*f),
        _ => None,
    };

    // Per row (sync, op): every repetition's Rust and C time, in pairs.
    let mut rust_runs: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); OPS.len()]; SYNCS.len()];
    let mut c_runs: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); OPS.len()]; SYNCS.len()];
    for sync in 0..SYNCS.len() {
        for op in 0..OPS.len() {
            for rep in 0..reps {
                // Alternate which loop goes first, so neither gains from the order.
                let c_first = rep % 2 == 1;
                let run_c = || {
                    c_fn.map(|f| {
                        // SAFETY: the C function takes a valid communicator and plain
                        // ints, and is called collectively on every rank, like the
                        // Rust loop.
                        unsafe {
                            f(
                                world.as_raw(),
                                op as c_int,
                                sync as c_int,
                                iters as c_int,
                                warmup as c_int,
                            )
                        }
                    })
                };
                let c_before = if c_first { run_c() } else { None };
                let r = rust_rma(&world, op, sync, iters, warmup);
                let c_time = if c_first { c_before } else { run_c() };
                rust_runs[sync][op].push(r);
                if let Some(t) = c_time {
                    c_runs[sync][op].push(t);
                }
            }
        }
    }

    // mpi4py: rank 0 launches it; the others sleep (not spin) until it is done.
    let py = if rank == 0 {
        Some(run_python(quick))
    } else {
        None
    };
    quicklb_transport::sleeping_barrier(&world, Duration::from_millis(5));

    if rank == 0 {
        println!(
            "\nRMA latency, 8 B, {} ranks, {iters} iterations after {warmup} warm-up, {reps} repetitions: times the best (µs per epoch), Rust/C the median of the paired ratios\n",
            world.size()
        );
        println!("| operation | sync | Rust (µs) | C (µs) | Rust/C | ± (95 %) | mpi4py (µs) | mpi4py/Rust |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        let mut worst = [0.0f64; 2];
        for (s, sync) in SYNCS.iter().enumerate() {
            for (o, op) in OPS.iter().enumerate() {
                let r = best(&rust_runs[s][o]);
                let (c_us, c_ratio, c_spread) = match paired_ratio(&rust_runs[s][o], &c_runs[s][o])
                {
                    Some(ratio) => {
                        worst[s] = worst[s].max(ratio.median);
                        (
                            format!("{:.3}", best(&c_runs[s][o])),
                            format!("{:.3}", ratio.median),
                            format!("{:.1} %", 100.0 * ratio.half_width),
                        )
                    }
                    None => ("–".into(), "–".into(), "–".into()),
                };
                let (p_us, p_ratio) = match &py {
                    Some(Ok(v)) => {
                        let p = v[s * 3 + o];
                        (format!("{p:.3}"), format!("{:.2}", p / r))
                    }
                    _ => ("–".into(), "–".into()),
                };
                println!("| {op} | {sync} | {r:.3} | {c_us} | {c_ratio} | {c_spread} | {p_us} | {p_ratio} |");
            }
        }
        if c_fn.is_some() {
            println!();
            for (s, (sync, goal)) in SYNCS.iter().zip([1.03, 1.05]).enumerate() {
                println!(
                    "target: RMA under {sync}, Rust/C <= {goal}: worst of put/get/accumulate (median of paired ratios) {:.3}: {}",
                    worst[s],
                    if worst[s] <= goal { "met" } else { "NOT met" }
                );
            }
        }
        if let Err(e) = &c {
            println!("\nC peer skipped: {e}");
        } else if c_fn.is_none() {
            println!("\nC peer skipped: it could not be loaded on every rank");
        }
        if let Some(Err(e)) = &py {
            println!("\nmpi4py peer skipped: {e}");
        }
    }
}
