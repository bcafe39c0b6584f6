//! Single-core stencil throughput, in Mcell-updates/s, with its peers measured
//! in the same run: numpy slicing (the QUICKLB example's expression), scipy's
//! `convolve2d(..., boundary='wrap', mode='same')` (via `benches/py/`), a
//! memory copy of the same array as the bandwidth reference, and the kernels'
//! own vector loop copying the field's interior (`copy_interior`: one load and
//! one store per vector), the ceiling of a safe-Rust kernel against that
//! reference.
//!
//! `cargo bench -p quicklb-stencil --bench stencil [-- --quick]`: prints a
//! markdown table. `--quick` uses the in-cache grids (64²–256²) and takes
//! seconds; the full run (64² … 4096²) takes about a minute on a quiet machine.
//! Grid sizes given as arguments (`-- 64 512`) replace either list; `RxC`
//! (`-- 12x128`) is a grid of R rows and C columns, without the Python peers. The Python
//! peers are skipped, with the reason printed, if `python3` (or
//! `$QUICKLB_PYTHON`) or numpy is missing.

use std::collections::HashMap;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use ndarray::Array2;
use quicklb_stencil::{copy_interior, fill_halo, laplacian, Boundary, Diffusion, Stencil};

/// Best Mcell/s of each kernel (one call updates `cells` cells).
///
/// Each kernel gets a batch of calls lasting at least `batch` (one call if a
/// call is longer), then the kernels' batches are timed in interleaved rounds
/// until `budget` is spent (at least `MIN_ROUNDS` rounds), and each keeps its
/// best batch. Short batches and many rounds let the best batch of each fall
/// where no other process took the core, so the ratios of kernels measured in
/// one run stay meaningful on a busy machine.
fn rates(
    cells: usize,
    batch: Duration,
    budget: Duration,
    kernels: &mut [&mut dyn FnMut()],
) -> Vec<f64> {
    const MIN_ROUNDS: usize = 10;
    const MAX_ROUNDS: usize = 1000;
    let mut numbers = Vec::new();
    for f in kernels.iter_mut() {
        f();
        let mut number = 1u32;
        loop {
            let t = Instant::now();
            for _ in 0..number {
                f();
            }
            if t.elapsed() >= batch || number > 1 << 20 {
                break;
            }
            number *= 2;
        }
        numbers.push(number);
    }
    let mut best = vec![Duration::MAX; kernels.len()];
    let start = Instant::now();
    for round in 0..MAX_ROUNDS {
        if round >= MIN_ROUNDS && start.elapsed() >= budget {
            break;
        }
        for ((f, &number), best) in kernels.iter_mut().zip(&numbers).zip(best.iter_mut()) {
            let t = Instant::now();
            for _ in 0..number {
                f();
            }
            *best = (*best).min(t.elapsed() / number);
        }
    }
    best.iter()
        .map(|b| cells as f64 / b.as_secs_f64() / 1e6)
        .collect()
}

/// Runs the Python peers; returns per size their rates, or why they were skipped.
fn python_peers(
    sizes: &[usize],
    quick: bool,
) -> Result<HashMap<usize, HashMap<String, f64>>, String> {
    let python = std::env::var("QUICKLB_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/py/stencil_numpy.py");
    let mut cmd = Command::new(&python);
    cmd.arg(script);
    if quick {
        cmd.arg("--quick");
    }
    cmd.args(sizes.iter().map(|n| n.to_string()));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{python} {script} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut rows = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // Flat JSON of numbers: {"n": 256, "numpy5": 1.5, ...}
        let mut row = HashMap::new();
        for field in line.trim_matches(|c| c == '{' || c == '}').split(',') {
            let mut kv = field.split(':');
            let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                continue;
            };
            if let Ok(v) = v.trim().parse::<f64>() {
                row.insert(k.trim().trim_matches('"').to_string(), v);
            }
        }
        if let Some(&n) = row.get("n") {
            rows.insert(n as usize, row);
        }
    }
    Ok(rows)
}

/// A grid argument: `N` (N×N) or `RxC` (R rows, C columns).
fn grid(arg: String) -> Option<(usize, usize)> {
    match arg.split_once('x') {
        Some((rows, cols)) => Some((rows.parse().ok()?, cols.parse().ok()?)),
        None => arg.parse().ok().map(|n| (n, n)),
    }
}

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "–".into(),
    }
}

/// Which build of the row loops the library picks on this CPU.
fn row_kernel_code() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl")
        {
            return "run as AVX-512 code chosen at run time";
        }
        if has!("avx2") && has!("fma") {
            return "run as AVX2 code chosen at run time";
        }
    }
    "run as the build's baseline code (SSE2 on x86-64)"
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `N` is an N×N grid, `RxC` a grid of R rows and C columns (the Python
    // peers run on the square grids only).
    let chosen: Vec<(usize, usize)> = std::env::args().skip(1).filter_map(grid).collect();
    let sizes: Vec<(usize, usize)> = if !chosen.is_empty() {
        chosen
    } else if quick {
        [64, 128, 256].map(|n| (n, n)).to_vec()
    } else {
        [64, 128, 256, 512, 1024, 2048, 4096]
            .map(|n| (n, n))
            .to_vec()
    };
    let squares: Vec<usize> = sizes
        .iter()
        .filter(|(ny, nx)| ny == nx)
        .map(|&(n, _)| n)
        .collect();
    let batch = Duration::from_millis(1);
    let budget = Duration::from_millis(if quick { 300 } else { 2000 });

    let peers = python_peers(&squares, quick);
    if let Err(reason) = &peers {
        println!("numpy/scipy peers skipped: {reason}\n");
    }

    println!(
        "Single core, Mcell-updates/s (higher is better). copy = memcpy (`copy_from_slice`) of an f64 array of the same cell count: \
         it reads one array and writes another, 8 B + 8 B per cell, as each kernel does (the 5-point and 9-point kernels read the padded \
         field and write a second array; the in-place step reads and writes the same field). vector copy loop = the kernels' own vector loop \
         (`copy_interior`: the same run-time choice of vector code and column blocks) writing the centre of each vector of the same padded field \
         into the same output, one load and one store per vector: the ceiling of a safe-Rust kernel with ordinary stores. \
         Best batch of interleaved rounds, same process; row kernels {}.\n",
        row_kernel_code()
    );
    println!("| grid | Rust 5-pt | Rust 9-pt | Rust step 5-pt (in place) | numpy slicing 5-pt | scipy convolve2d 5-pt | scipy convolve2d 9-pt | copy | Rust 5-pt / numpy | Rust 5-pt / copy | Rust 9-pt / copy | Rust step / copy | vector copy loop / copy |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    // The lowest share of copy of each kernel over the sizes, with its size.
    let mut worst: [(f64, String); 3] = std::array::from_fn(|_| (f64::INFINITY, String::new()));
    // The lowest share of copy of the vector copy loop, over the in-cache
    // sizes (at most 256², 1 MiB a field) and over the rest.
    let mut ceiling: [(f64, String); 2] = std::array::from_fn(|_| (f64::INFINITY, String::new()));
    let mut numpy_1024 = None;
    for &(ny, nx) in &sizes {
        let cells = ny * nx;
        // The name of the grid and, for a square one, its side (the Python
        // peers' key and the size of the verdict lines).
        let (name, n) = if ny == nx {
            (format!("{nx}²"), nx)
        } else {
            (format!("{ny}×{nx}"), ny.max(nx))
        };
        let mut u = Array2::from_shape_fn((ny + 2, nx + 2), |(i, j)| {
            ((i * 31 + j * 17) % 101) as f64 / 101.0
        });
        fill_halo(u.view_mut(), Boundary::Periodic).expect("valid grid");
        let mut out5 = Array2::<f64>::zeros((ny, nx));
        let mut out9 = Array2::<f64>::zeros((ny, nx));
        let mut stepped = u.clone();
        // Tiny coefficient so many repeated steps stay finite and normal.
        let mut diffusion = Diffusion::with_coefficient(Stencil::FivePoint, 1e-3).expect("finite");
        let src = vec![1.0f64; cells];
        // Destination offset by 64 bytes from the allocation start: source and
        // destination at the same offset modulo 4 KiB make `rep movsb` crawl
        // on some CPUs (4K aliasing), which is not the bandwidth we want.
        let mut dst_buf = vec![0.0f64; cells + 8];
        let dst = &mut dst_buf[8..];
        let mut k5 = || {
            laplacian(&Stencil::FivePoint, black_box(u.view()), out5.view_mut()).expect("shapes");
            black_box(&out5);
        };
        let mut k9 = || {
            laplacian(&Stencil::NinePoint, black_box(u.view()), out9.view_mut()).expect("shapes");
            black_box(&out9);
        };
        let mut kstep = || {
            diffusion
                .step(black_box(stepped.view_mut()))
                .expect("shape")
        };
        let mut out_copy = Array2::<f64>::zeros((ny, nx));
        let mut kcopyloop = || {
            copy_interior(black_box(u.view()), out_copy.view_mut()).expect("shapes");
            black_box(&out_copy);
        };
        let mut kcopy = || {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        };
        let r = rates(
            cells,
            batch,
            budget,
            &mut [&mut k5, &mut k9, &mut kstep, &mut kcopyloop, &mut kcopy],
        );
        let (five, nine, step, copy_loop, copy) = (r[0], r[1], r[2], r[3], r[4]);
        let peer = |key: &str| {
            peers
                .as_ref()
                .ok()
                .filter(|_| ny == nx)
                .and_then(|p| p.get(&n))
                .and_then(|r| r.get(key))
                .copied()
        };
        let numpy = peer("numpy5");
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {:.0}% |",
            fmt(Some(five)),
            fmt(Some(nine)),
            fmt(Some(step)),
            fmt(numpy),
            fmt(peer("scipy5")),
            fmt(peer("scipy9")),
            fmt(Some(copy)),
            numpy.map_or("–".into(), |np| format!("{:.1}×", five / np)),
            100.0 * five / copy,
            100.0 * nine / copy,
            100.0 * step / copy,
            100.0 * copy_loop / copy,
        );
        let in_cache = usize::from(cells > 256 * 256);
        if copy_loop / copy < ceiling[in_cache].0 {
            ceiling[in_cache] = (copy_loop / copy, name.clone());
        }
        for (w, share) in worst
            .iter_mut()
            .zip([five / copy, nine / copy, step / copy])
        {
            if share < w.0 {
                *w = (share, name.clone());
            }
        }
        if (ny, nx) == (1024, 1024) {
            numpy_1024 = numpy.map(|np| five / np);
        }
    }
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    for ((name, goal), (share, n)) in [
        ("5-point", 0.70),
        ("9-point", 0.50),
        ("in-place step", 0.60),
    ]
    .into_iter()
    .zip(worst)
    {
        println!(
            "target: {name} >= {:.0}% of copy at every size: lowest {:.0}% at {n}: {}",
            100.0 * goal,
            100.0 * share,
            verdict(share >= goal)
        );
    }
    for ((share, n), sizes) in ceiling
        .into_iter()
        .zip(["in cache (64²–256²)", "beyond 256²"])
    {
        if n.is_empty() {
            continue;
        }
        let reason = if share < 0.70 {
            ": below the 5-point target, so with ordinary stores that target cannot be met there"
        } else {
            ""
        };
        println!(
            "note: vector copy loop, lowest share of copy {sizes}: {:.0}% at {n}{reason}",
            100.0 * share
        );
    }
    if let Some(x) = numpy_1024 {
        println!(
            "target: 5-point >= 4x numpy slicing at 1024²: {x:.1}x: {}",
            verdict(x >= 4.0)
        );
    }
}
