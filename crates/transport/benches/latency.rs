//! Persistent point-to-point latency: quicklb-transport's `PersistentSet` against
//! the same loops in C (benches/c/latency.c, built with `mpicc`) and in mpi4py with
//! numpy buffers (benches/py/latency.py).
//!
//! Run under MPI with two ranks (`cargo xtask bench` does this):
//!
//! ```text
//! cargo bench -p quicklb-transport --bench latency --no-run
//! mpiexec -n 2 target/release/deps/latency-<hash> [--quick] [--reps N] [--no-c] [--no-python]
//! ```
//!
//! Method (OSU style): per message size, warm-up iterations, then timed iterations;
//! ping-pong reports half the mean round trip between ranks 0 and 1 (rank 0: start
//! its persistent send, wait, start its persistent receive, wait; rank 1 the
//! reverse); ring reports the mean time of one iteration where every rank starts a
//! send to its right and a receive from its left and waits for both. Each figure is
//! the best (minimum) of `--reps` short runs: on a shared machine noise only adds
//! time, so the minimum is the steadiest estimate of each implementation's cost.
//! The ratio Rust/C is the median over the runs of each run's pair (the Rust and
//! the C loop run back to back): two minima from different runs moved by several
//! per cent from launch to launch at 1 MiB.
//!
//! The C loops run in the same processes (the C file is built as a shared library
//! and loaded), alternating run by run with the Rust loops (and alternating which
//! goes first), so both see the same machine load. The mpi4py loops run in two
//! processes started with `MPI_Comm_spawn` while these ranks sleep; they report
//! back over the intercommunicator. A missing `mpicc`, `python3`, `mpi4py` or
//! `numpy` skips that column with a printed reason.
//!
//! Started without MPI (plain `cargo bench`), it prints how to run it and exits.

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use paired::{best, paired_ratio, PairedRatio};
use quicklb_transport::{PersistentSet, Result};

mod paired;

const SIZES: [usize; 4] = [8, 1024, 64 * 1024, 1024 * 1024];
/// Timed iterations of one run, per size. Runs are short and many (`--reps`,
/// default 60) and the best one is reported: on a loaded machine a short run has a
/// fair chance to see both ranks scheduled throughout.
const FULL_ITERS: [usize; 4] = [500, 500, 50, 5];
const FULL_REPS: usize = 60;
/// Runs of the Rust and C loops per size, as multiples of `--reps`: the sizes with
/// few iterations per run get more runs, so that the median of the paired ratios
/// rests on about as many round trips at 1 MiB as at 8 B (with 60 runs of 5 round
/// trips its 95 % interval was ±10-30 % under load).
const REPS_SCALE: [usize; 4] = [1, 1, 10, 100];

struct Config {
    iters: [usize; 4],
    reps: usize,
    quick: bool,
    c: bool,
    python: bool,
}

fn parse_args() -> Config {
    let mut cfg = Config {
        iters: FULL_ITERS,
        reps: FULL_REPS,
        quick: false,
        c: true,
        python: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => {
                cfg.iters = FULL_ITERS.map(|n| (n / 5).max(2));
                cfg.reps = 5;
                cfg.quick = true;
            }
            "--reps" => {
                cfg.reps = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r| r > 0)
                    .expect("--reps needs a positive integer");
            }
            "--no-c" => cfg.c = false,
            "--no-python" => cfg.python = false,
            // `cargo bench` passes `--bench`; filters and other harness flags are ignored.
            _ => {}
        }
    }
    cfg
}

fn main() -> Result<()> {
    let cfg = parse_args();
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let rank = world.rank();
    if world.size() < 2 {
        println!(
            "latency bench: needs 2 MPI ranks; run it as\n  \
             mpiexec -n 2 {} [--quick]\n(or `cargo xtask bench`). Skipped.",
            std::env::args().next().unwrap_or_default()
        );
        return Ok(());
    }

    let c_lib = if cfg.c {
        load_c(&world)
    } else {
        Err("--no-c".into())
    };

    let mut rows = Vec::new();
    for ((&bytes, &iters), &scale) in SIZES.iter().zip(&cfg.iters).zip(&REPS_SCALE) {
        let warmup = iters / 10 + 1;
        let (mut rust_pp, mut c_pp, mut rust_ring, mut c_ring) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut pp = PingPong::new(&world, bytes)?;
        let mut ring = Ring::new(&world, bytes)?;
        for rep in 0..cfg.reps * scale {
            // Alternate which implementation goes first, so neither gains from order.
            let c_first = rep % 2 == 1;
            if let (true, Ok(c)) = (c_first, &c_lib) {
                c_pp.push(c.pingpong(&world, bytes, iters, warmup));
                c_ring.push(c.ring(&world, bytes, iters, warmup));
            }
            rust_pp.push(pp.run(&world, iters, warmup)?);
            rust_ring.push(ring.run(&world, iters, warmup)?);
            if let (false, Ok(c)) = (c_first, &c_lib) {
                c_pp.push(c.pingpong(&world, bytes, iters, warmup));
                c_ring.push(c.ring(&world, bytes, iters, warmup));
            }
        }
        rows.push(Row {
            bytes,
            rust_pp: best(&rust_pp),
            c_pp: (!c_pp.is_empty()).then(|| best(&c_pp)),
            pp_ratio: paired_ratio(&rust_pp, &c_pp),
            rust_ring: best(&rust_ring),
            c_ring: (!c_ring.is_empty()).then(|| best(&c_ring)),
            ring_ratio: paired_ratio(&rust_ring, &c_ring),
            py_pp: None,
            py_ring: None,
        });
    }

    let python = if cfg.python {
        run_mpi4py(&world, &cfg)
    } else {
        Err("--no-python".into())
    };
    if let Ok(py) = &python {
        for (i, row) in rows.iter_mut().enumerate() {
            row.py_pp = Some(py[2 * i]);
            row.py_ring = Some(py[2 * i + 1]);
        }
    }

    if rank == 0 {
        print_table(&world, &cfg, &rows, &c_lib, &python);
    }
    Ok(())
}

struct Row {
    bytes: usize,
    rust_pp: f64,
    c_pp: Option<f64>,
    /// Rust/C over the repetitions, pair by pair.
    pp_ratio: Option<PairedRatio>,
    rust_ring: f64,
    c_ring: Option<f64>,
    /// Rust/C over the repetitions, pair by pair.
    ring_ratio: Option<PairedRatio>,
    py_pp: Option<f64>,
    py_ring: Option<f64>,
}

/// Ping-pong between ranks 0 and 1 with two one-message persistent sets per rank.
struct PingPong {
    rank: i32,
    send: PersistentSet<'static, u8>,
    recv: PersistentSet<'static, u8>,
}

impl PingPong {
    fn new(world: &SimpleCommunicator, bytes: usize) -> Result<Self> {
        let rank = world.rank();
        let peer = match rank {
            0 => 1,
            1 => 0,
            _ => quicklb_transport::proc_null(),
        };
        // One duplicated communicator (collective); the second set shares it, so the
        // sends of one rank match the receives of the other whatever set they are in.
        let (send, recv) = if rank == 1 {
            let recv = PersistentSet::builder(world)
                .recv_owned(vec![0u8; bytes], peer, 1)
                .build()?;
            let send = recv
                .sibling_builder()
                .send_owned(vec![b'a'; bytes], peer, 1)
                .build()?;
            (send, recv)
        } else {
            let send = PersistentSet::builder(world)
                .send_owned(vec![b'a'; bytes], peer, 1)
                .build()?;
            let recv = send
                .sibling_builder()
                .recv_owned(vec![0u8; bytes], peer, 1)
                .build()?;
            (send, recv)
        };
        Ok(PingPong { rank, send, recv })
    }

    /// Half round trip in microseconds.
    fn run(&mut self, world: &SimpleCommunicator, iters: usize, warmup: usize) -> Result<f64> {
        world.barrier();
        let mut t0 = Instant::now();
        for i in 0..warmup + iters {
            if i == warmup {
                t0 = Instant::now();
            }
            match self.rank {
                0 => {
                    self.send.start_all()?.wait()?;
                    self.recv.start_all()?.wait()?;
                }
                1 => {
                    self.recv.start_all()?.wait()?;
                    self.send.start_all()?.wait()?;
                }
                _ => {}
            }
        }
        Ok(t0.elapsed().as_secs_f64() * 1e6 / (2.0 * iters as f64))
    }
}

/// Every rank sends right and receives from the left, each iteration.
struct Ring {
    set: PersistentSet<'static, u8>,
}

impl Ring {
    fn new(world: &SimpleCommunicator, bytes: usize) -> Result<Self> {
        let (rank, size) = (world.rank(), world.size());
        let set = PersistentSet::builder(world)
            .recv_owned(vec![0u8; bytes], (rank + size - 1) % size, 2)
            .send_owned(vec![b'a'; bytes], (rank + 1) % size, 2)
            .build()?;
        Ok(Ring { set })
    }

    /// Mean time per iteration in microseconds.
    fn run(&mut self, world: &SimpleCommunicator, iters: usize, warmup: usize) -> Result<f64> {
        world.barrier();
        let mut t0 = Instant::now();
        for i in 0..warmup + iters {
            if i == warmup {
                t0 = Instant::now();
            }
            self.set.start_all()?.wait()?;
        }
        Ok(t0.elapsed().as_secs_f64() * 1e6 / iters as f64)
    }
}

// ---------------------------------------------------------------------------------
// The C peer, loaded in-process.

type CLoop = unsafe extern "C" fn(ffi::MPI_Comm, c_int, c_int, c_int) -> f64;

struct CLib {
    pingpong: CLoop,
    ring: CLoop,
}

impl CLib {
    fn pingpong(&self, comm: &SimpleCommunicator, bytes: usize, iters: usize, warm: usize) -> f64 {
        // SAFETY: the function comes from our C file with this exact signature; it
        // only uses `comm` (a live communicator) and its own buffers.
        unsafe { (self.pingpong)(comm.as_raw(), bytes as c_int, iters as c_int, warm as c_int) }
    }

    fn ring(&self, comm: &SimpleCommunicator, bytes: usize, iters: usize, warm: usize) -> f64 {
        // SAFETY: as in `pingpong`.
        unsafe { (self.ring)(comm.as_raw(), bytes as c_int, iters as c_int, warm as c_int) }
    }
}

extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}
/// `RTLD_NOW | RTLD_GLOBAL` on Linux (glibc), macOS and the BSDs.
const RTLD_NOW_GLOBAL: c_int = 0x2 | 0x100;

/// Rank 0 builds the C file into a shared library with `mpicc`; every rank loads it.
fn load_c(world: &SimpleCommunicator) -> std::result::Result<CLib, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/c/latency.c");
    let out = bench_dir().join("libquicklb_c_latency.so");
    let mut status = 0u8;
    if world.rank() == 0 {
        let built = Command::new("mpicc")
            .args(["-O2", "-shared", "-fPIC", "-DQLB_NO_MAIN", "-o"])
            .arg(&out)
            .arg(&src)
            .status();
        status = match built {
            Ok(s) if s.success() => 1,
            Ok(_) => 2,
            Err(_) => 3,
        };
    }
    world.process_at_rank(0).broadcast_into(&mut status);
    match status {
        1 => {}
        2 => return Err("mpicc failed to build benches/c/latency.c".into()),
        _ => return Err("mpicc not found".into()),
    }
    let path = CString::new(out.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: `path` is a NUL-terminated path; loading our own library runs no
    // initialisers besides the C runtime's.
    let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW_GLOBAL) };
    if handle.is_null() {
        return Err(format!("dlopen({}) failed", out.display()));
    }
    let sym = |name: &str| -> std::result::Result<CLoop, String> {
        let cname = CString::new(name).expect("no NUL in symbol names");
        // SAFETY: `handle` is a live library handle; `cname` is NUL-terminated.
        let p = unsafe { dlsym(handle, cname.as_ptr()) };
        if p.is_null() {
            return Err(format!("symbol {name} missing"));
        }
        // SAFETY: the symbol is one of the two functions of latency.c, whose C
        // signature `double f(MPI_Comm, int, int, int)` is `CLoop`.
        Ok(unsafe { std::mem::transmute::<*mut c_void, CLoop>(p) })
    };
    Ok(CLib {
        pingpong: sym("qlb_c_pingpong")?,
        ring: sym("qlb_c_ring")?,
    })
}

fn bench_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir)
}

// ---------------------------------------------------------------------------------
// The mpi4py peer, spawned.

/// Spawns 2 `python3 latency.py` processes and returns their 8 figures (ping-pong,
/// ring per size). These ranks sleep meanwhile so the children get the cores.
fn run_mpi4py(world: &SimpleCommunicator, cfg: &Config) -> std::result::Result<Vec<f64>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/py/latency.py");
    let mut ok = 0u8;
    if world.rank() == 0 {
        let probe = Command::new("python3")
            .args(["-c", "import mpi4py, numpy"])
            .output();
        ok = match probe {
            Ok(o) if o.status.success() => 1,
            Ok(_) => 2,
            Err(_) => 3,
        };
    }
    world.process_at_rank(0).broadcast_into(&mut ok);
    match ok {
        1 => {}
        2 => {
            return Err("python3 cannot import mpi4py and numpy (pip install mpi4py numpy)".into())
        }
        _ => return Err("python3 not found".into()),
    }

    let mut args: Vec<CString> =
        vec![CString::new(script.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?];
    for n in cfg.iters.iter().chain(std::iter::once(&cfg.reps)) {
        args.push(CString::new(n.to_string()).expect("digits"));
    }
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    argv.push(std::ptr::null_mut());
    let command = CString::new("python3").expect("no NUL");
    let mut errcodes = [0 as c_int; 2];
    // SAFETY: reading an immutable handle constant exported by the MPI shim.
    let mut inter: ffi::MPI_Comm = unsafe { ffi::RSMPI_COMM_NULL };
    let dup = world.duplicate();
    // SAFETY: `dup` is a live communicator we own; set the predefined
    // MPI_ERRORS_RETURN handler on it so a failed spawn comes back as a code.
    unsafe {
        ffi::MPI_Comm_set_errhandler(dup.as_raw(), ffi::RSMPI_ERRORS_RETURN);
    }
    // SAFETY: `command` and the NULL-terminated `argv` outlive the call; root 0 of
    // `dup` spawns 2 processes; `inter` and `errcodes` (2 entries) are valid
    // out-pointers. Collective over `dup`, called by every rank.
    let rc = unsafe {
        ffi::MPI_Comm_spawn(
            command.as_ptr(),
            argv.as_mut_ptr(),
            2,
            ffi::RSMPI_INFO_NULL,
            0,
            dup.as_raw(),
            &mut inter,
            errcodes.as_mut_ptr(),
        )
    };
    if rc != ffi::MPI_SUCCESS as c_int {
        return Err(format!("MPI_Comm_spawn of python3 failed (code {rc})"));
    }

    let mut results = vec![0f64; 2 * SIZES.len()];
    if world.rank() == 0 {
        let mut req: ffi::MPI_Request = unsafe_request_null();
        // SAFETY: `results` outlives the request, which is completed below before
        // `results` is read; `inter` is the live intercommunicator; rank 0 of the
        // remote group sends 8 doubles with tag 77.
        unsafe {
            ffi::MPI_Irecv(
                results.as_mut_ptr() as *mut c_void,
                results.len() as c_int,
                ffi::RSMPI_DOUBLE,
                0,
                77,
                inter,
                &mut req,
            );
        }
        sleep_until_done(&mut req);
    }
    // Everyone sleeps until rank 0 has the results, then disconnects (collective).
    let mut req: ffi::MPI_Request = unsafe_request_null();
    // SAFETY: `dup` is live; `req` is a valid out-pointer, completed just below.
    unsafe {
        ffi::MPI_Ibarrier(dup.as_raw(), &mut req);
    }
    sleep_until_done(&mut req);
    // SAFETY: `inter` is the intercommunicator from the spawn; the children
    // disconnect too.
    unsafe {
        ffi::MPI_Comm_disconnect(&mut inter);
    }
    world.process_at_rank(0).broadcast_into(&mut results[..]);
    Ok(results)
}

fn unsafe_request_null() -> ffi::MPI_Request {
    // SAFETY: reading an immutable handle constant exported by the MPI shim.
    unsafe { ffi::RSMPI_REQUEST_NULL }
}

/// Polls `req` every millisecond, sleeping in between (a blocking wait would spin
/// and steal the cores from the spawned processes).
fn sleep_until_done(req: &mut ffi::MPI_Request) {
    loop {
        let mut flag: c_int = 0;
        // SAFETY: `req` is an active request; `flag` a valid out-pointer.
        unsafe {
            ffi::MPI_Test(req, &mut flag, ffi::RSMPI_STATUS_IGNORE);
        }
        if flag != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------

fn print_table(
    world: &SimpleCommunicator,
    cfg: &Config,
    rows: &[Row],
    c: &std::result::Result<CLib, String>,
    py: &std::result::Result<Vec<f64>, String>,
) {
    let f = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.2}"));
    let ratio = |a: Option<f64>, b: f64| a.map_or("–".to_string(), |a| format!("{:.2}", a / b));
    let size_name = |b: usize| match b {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    };
    println!(
        "\n### Persistent point-to-point latency (µs; mpiexec -n {}; best of {} runs per size, ×{:?}{}; Rust/C: median of the runs' paired ratios)\n",
        world.size(),
        cfg.reps,
        REPS_SCALE,
        if cfg.quick { ", --quick" } else { "" }
    );
    println!("| size | ping-pong Rust | C | Rust/C | mpi4py | mpi4py/Rust | ring Rust | C | Rust/C | mpi4py | mpi4py/Rust |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.2} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |",
            size_name(r.bytes),
            r.rust_pp,
            f(r.c_pp),
            f(r.pp_ratio.as_ref().map(|p| p.median)),
            f(r.py_pp),
            ratio(r.py_pp, r.rust_pp),
            r.rust_ring,
            f(r.c_ring),
            f(r.ring_ratio.as_ref().map(|p| p.median)),
            f(r.py_ring),
            ratio(r.py_ring, r.rust_ring),
        );
    }
    println!();
    if let Err(why) = c {
        println!("C column skipped: {why}");
    }
    if let Err(why) = py {
        println!("mpi4py column skipped: {why}");
    }
    let first = &rows[0];
    let last = &rows[rows.len() - 1];
    if let (Some(a), Some(b)) = (&first.pp_ratio, &last.pp_ratio) {
        println!(
            "target ping-pong Rust/C <= 1.05 (median of paired ratios, ± its 95 % interval): 8 B {:.3} ± {:.1} % {}, 1 MiB {:.3} ± {:.1} % {}",
            a.median,
            100.0 * a.half_width,
            verdict(a.median <= 1.05),
            b.median,
            100.0 * b.half_width,
            verdict(b.median <= 1.05)
        );
    }
    if let Some(p8) = first.py_pp {
        let s = p8 / first.rust_pp;
        println!(
            "target ping-pong mpi4py/Rust >= 2 at 8 B: {s:.2} {}",
            verdict(s >= 2.0)
        );
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "(met)"
    } else {
        "(NOT met)"
    }
}
