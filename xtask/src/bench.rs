//! `cargo xtask bench`: every benchmark of the workspace with its peer, merged
//! over repeated runs into one markdown file, `BENCHMARKS.md`.
//!
//! Each benchmark is a `[[bench]] harness = false` program that prints markdown
//! tables (its figures side by side with its peer's, and their ratio) on stdout
//! and accepts `--quick`. This driver builds them, starts each under `mpiexec`
//! with its rank count, runs it several times, and merges the runs cell by cell
//! into `median (min–max)` (see `tables`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cargo::{self, Artifact};
use crate::mpirun::{self, Job, Outcome};
use crate::setup::Mpi;
use crate::tables;

/// Options of `bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Small sizes and few repetitions: the whole run within minutes.
    #[arg(long)]
    pub quick: bool,
    /// Check the machinery, not the speed: debug build, one `--quick` run of
    /// each benchmark, no peer installation; fails unless every benchmark prints
    /// well-formed tables. Writes to target/bench-check.md, not BENCHMARKS.md.
    #[arg(long)]
    pub check: bool,
    /// Runs of each benchmark to merge (default: 3 with --quick, 5 without).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Where to write the report (default: BENCHMARKS.md at the workspace root).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Benchmark groups to run (default: all): partition, transport, stencil,
    /// balancer, gray-scott, kinetics, flame, burgers.
    pub names: Vec<String>,
}

/// One benchmark program.
struct Spec {
    group: &'static str,
    title: &'static str,
    package: &'static str,
    target: &'static str,
    ranks: usize,
}

const SPECS: &[Spec] = &[
    Spec {
        group: "partition",
        title: "Planners against coupe (plan time, imbalance, gap to the lower bound, cells moved)",
        package: "quicklb-partition",
        target: "summary",
        ranks: 1,
    },
    Spec {
        group: "transport",
        title: "Persistent point-to-point latency against C and mpi4py (2 ranks)",
        package: "quicklb-transport",
        target: "latency",
        ranks: 2,
    },
    Spec {
        group: "transport",
        title: "RMA latency against C and mpi4py (2 ranks)",
        package: "quicklb-transport",
        target: "rma_latency",
        ranks: 2,
    },
    Spec {
        group: "transport",
        title: "Halo exchange per step at 2 ranks, 512² row slabs, messages and shared memory against C messages of the same sizes",
        package: "quicklb-transport",
        target: "halo",
        ranks: 2,
    },
    Spec {
        group: "stencil",
        title: "Stencil kernels against numpy slicing, scipy convolve2d and a memory copy (1 core)",
        package: "quicklb-stencil",
        target: "stencil",
        ranks: 1,
    },
    Spec {
        group: "stencil",
        title: "Halo exchange per step, messages against shared memory (4 ranks)",
        package: "quicklb-stencil",
        target: "mpi_halo",
        ranks: 4,
    },
    Spec {
        group: "balancer",
        title: "Load balancer on the sleep workloads (steady and changing costs), per re-planning mode and planner, and without balancing (4 ranks)",
        package: "quicklb",
        target: "balance",
        ranks: 4,
    },
    Spec {
        group: "balancer",
        title: "Load balancer on the sleep workloads (steady and changing costs), per re-planning mode, and without balancing (2 ranks)",
        package: "quicklb",
        target: "balance",
        ranks: 2,
    },
    Spec {
        group: "gray-scott",
        title: "Gray-Scott end to end against the Python program (numpy + scipy BDF per cell), 1 rank",
        package: "quicklb-examples",
        target: "gray_scott",
        ranks: 1,
    },
    Spec {
        group: "gray-scott",
        title: "Gray-Scott end to end, 2 ranks",
        package: "quicklb-examples",
        target: "gray_scott",
        ranks: 2,
    },
    Spec {
        group: "gray-scott",
        title: "Gray-Scott end to end, 4 ranks",
        package: "quicklb-examples",
        target: "gray_scott",
        ranks: 4,
    },
    Spec {
        group: "kinetics",
        title: "One full ignition (adiabatic, constant pressure) against Cantera's ReactorNet at matched tolerances, 1 core",
        package: "quicklb-kinetics",
        target: "ignition",
        ranks: 1,
    },
    Spec {
        group: "flame",
        title: "Flame (H2/air, detailed chemistry) end to end, each planner against no balancing, 2 ranks",
        package: "quicklb-examples",
        target: "flame",
        ranks: 2,
    },
    Spec {
        group: "flame",
        title: "Flame (H2/air, detailed chemistry) end to end, each planner against no balancing, 4 ranks",
        package: "quicklb-examples",
        target: "flame",
        ranks: 4,
    },
    Spec {
        group: "burgers",
        title: "Burgers solve and in-situ SVD against numpy (1 rank: numpy.linalg.svd on the same matrix)",
        package: "quicklb-examples",
        target: "burgers",
        ranks: 1,
    },
    Spec {
        group: "burgers",
        title: "Burgers solve and distributed SVD, 4 ranks",
        package: "quicklb-examples",
        target: "burgers",
        ranks: 4,
    },
];

pub fn run(mpi: &Mpi, args: &Args) -> anyhow::Result<()> {
    let groups: Vec<&str> = {
        let mut g: Vec<&str> = SPECS.iter().map(|s| s.group).collect();
        g.dedup();
        g
    };
    for name in &args.names {
        if !groups.contains(&name.as_str()) {
            bail!(
                "no benchmark group {name:?}; the groups are: {}",
                groups.join(", ")
            );
        }
    }
    let chosen: Vec<&Spec> = SPECS
        .iter()
        .filter(|s| args.names.is_empty() || args.names.iter().any(|n| n == s.group))
        .collect();
    let quick = args.quick || args.check;
    let runs = if args.check {
        1
    } else {
        args.runs.unwrap_or(if quick { 3 } else { 5 }).max(1)
    };
    let timeout = Duration::from_secs(if quick { 300 } else { 1800 });
    let started = std::time::Instant::now();
    let output = if args.check {
        cargo::workspace_root().join("target/bench-check.md")
    } else {
        args.output
            .clone()
            .unwrap_or_else(|| cargo::workspace_root().join("BENCHMARKS.md"))
    };
    // A run of some groups updates their sections and keeps the others, so a
    // long full run need not be repeated to refresh one benchmark; it keeps
    // the duration of the last run of every group that the file records, so
    // the file always says how long a full run takes. Checked before anything
    // runs: the kept sections must come from this machine.
    let previous = if args.names.is_empty() {
        None
    } else {
        std::fs::read_to_string(&output).ok()
    };
    if let Some(why) = previous
        .as_deref()
        .filter(|_| !args.check)
        .and_then(|text| other_machine(text, &cpu_description()))
    {
        bail!("{why}");
    }

    if !args.check {
        // mpi4py, numpy and scipy are the peers of several benchmarks, cantera of
        // the ignition benchmark; a benchmark whose peer is missing skips that
        // column and says why.
        crate::python::ensure(
            "bench",
            &["mpi4py", "numpy", "scipy", "cantera"],
            &["mpi4py", "numpy", "scipy", "cantera"],
        );
    }
    let built = if args.check {
        cargo::build_executables(&["build", "--workspace", "--benches"])?
    } else {
        cargo::build_executables(&["bench", "--workspace", "--no-run"])?
    };

    let mut document = String::new();
    let mut problems = Vec::new();
    for spec in chosen {
        let section_started = std::time::Instant::now();
        println!(
            "xtask: bench: {}/{} ({runs} runs)",
            spec.package, spec.target
        );
        let _ = writeln!(document, "\n## {}: {}\n", spec.group, spec.title);
        let Some(program) = find(&built, spec) else {
            let reason = format!(
                "skipped: no bench target {}/{} in the workspace yet",
                spec.package, spec.target
            );
            println!("  {reason}");
            let _ = writeln!(document, "{reason}.");
            continue;
        };
        let mut reports = Vec::new();
        for run in 1..=runs {
            let finished = mpirun::run(
                mpi,
                &Job {
                    executable: &program.executable,
                    args: &bench_args(quick),
                    ranks: spec.ranks,
                    timeout,
                    env: &[],
                    tag_output: false,
                },
            )?;
            println!(
                "  run {run}/{runs}: {:?} in {:.1}s",
                finished.outcome,
                finished.elapsed.as_secs_f64()
            );
            if finished.outcome != Outcome::Passed {
                print!("{}", mpirun::failure_excerpt(&finished.output, 30));
                problems.push(format!(
                    "{}/{} run {run}: {:?}",
                    spec.package, spec.target, finished.outcome
                ));
                break;
            }
            reports.push(tables::parse(&finished.stdout));
        }
        if reports.is_empty() {
            let _ = writeln!(document, "failed: see the xtask output.");
            continue;
        }
        let merged = tables::merge(&reports);
        if let Err(why) = tables::check_well_formed(&merged) {
            problems.push(format!("{}/{}: {why}", spec.package, spec.target));
        }
        let _ = writeln!(
            document,
            "`mpiexec -n {} {} {}`, {} run{} merged, {}, took {:.0} s.\n",
            spec.ranks,
            spec.target,
            bench_args(quick).join(" "),
            reports.len(),
            if reports.len() == 1 { "" } else { "s" },
            command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            section_started.elapsed().as_secs_f64()
        );
        for table in &merged.tables {
            document += &tables::render(table);
            document.push('\n');
        }
        for note in &merged.notes {
            let _ = writeln!(document, "> {note}");
        }
    }

    let what = if args.names.is_empty() {
        "every group".to_string()
    } else {
        args.names.join(", ")
    };
    let took = format!(
        "{what}: {:.1} min, the build and the peers' setup included",
        started.elapsed().as_secs_f64() / 60.0
    );
    let every_group = match &previous {
        None if args.names.is_empty() => Some(took.clone()),
        None => None,
        Some(text) => header_row(text, EVERY_GROUP_ROW),
    };
    document = header(mpi, quick, runs, &took, every_group.as_deref()) + &document;
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if let Some(previous) = &previous {
        document = splice_sections(previous, &document);
    }
    std::fs::write(&output, &document)
        .with_context(|| format!("could not write {}", output.display()))?;
    println!("xtask: bench: wrote {}", output.display());
    if !problems.is_empty() {
        bail!("benchmarks with problems:\n  {}", problems.join("\n  "));
    }
    Ok(())
}

/// The sections of a report: the text before the first `## ` heading, then each
/// heading line with the text up to the next one.
fn sections(document: &str) -> (String, Vec<(String, String)>) {
    let mut preamble = String::new();
    let mut found: Vec<(String, String)> = Vec::new();
    for line in document.split_inclusive('\n') {
        if line.starts_with("## ") {
            found.push((line.trim_end().to_string(), String::new()));
        }
        match found.last_mut() {
            Some((_, body)) => body.push_str(line),
            None => preamble.push_str(line),
        }
    }
    (preamble, found)
}

/// `fresh` (a run of some groups) laid over `previous`: the fresh header, then every
/// benchmark in the order of [`SPECS`], from `fresh` where it ran, else from
/// `previous`.
fn splice_sections(previous: &str, fresh: &str) -> String {
    let (_, old) = sections(previous);
    let (header, new) = sections(fresh);
    let mut document = header;
    for spec in SPECS {
        let heading = format!("## {}: {}", spec.group, spec.title);
        let section = new
            .iter()
            .chain(old.iter())
            .find(|(h, _)| *h == heading)
            .map(|(_, body)| body);
        if let Some(body) = section {
            document.push_str(body);
        }
    }
    document
}

fn bench_args(quick: bool) -> Vec<String> {
    if quick {
        vec!["--quick".to_string()]
    } else {
        Vec::new()
    }
}

fn find<'a>(built: &'a [Artifact], spec: &Spec) -> Option<&'a Artifact> {
    built.iter().find(|a| {
        a.package == spec.package && a.target == spec.target && a.kinds.iter().any(|k| k == "bench")
    })
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The header row holding the duration of the last run of every group.
const EVERY_GROUP_ROW: &str = "duration of the last run of every group";

/// The value of the header row `label` in a written report, if it has one.
fn header_row(text: &str, label: &str) -> Option<String> {
    let prefix = format!("| {label} | ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.strip_suffix(" |"))
        .map(str::to_string)
}

/// The header row naming the machine's processor.
const CPU_ROW: &str = "CPU";

/// This machine's processor as the header gives it: model, cores, widest
/// vector extension and cache sizes. A cloud machine's model name alone
/// ("AMD EPYC") does not tell one generation from the next, and every
/// figure of the stencil and SVD kernels depends on the rest.
fn cpu_description() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, value)| value.trim().to_string())
    };
    let model = field("model name").unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let flags = field("flags").unwrap_or_default();
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    let vectors = if has("avx512f") {
        "AVX-512"
    } else if has("avx2") {
        "AVX2"
    } else {
        "no AVX2"
    };
    let cache = |index: u32| {
        std::fs::read_to_string(format!(
            "/sys/devices/system/cpu/cpu0/cache/index{index}/size"
        ))
        .ok()
        .map(|size| cache_size(size.trim()))
    };
    let mut text = format!("{model}, {cores} cores, {vectors}");
    if let Some(l2) = cache(2) {
        text += &format!(", L2 {l2} per core");
    }
    if let Some(l3) = cache(3) {
        text += &format!(", L3 {l3}");
    }
    text
}

/// `1024K` as `1 MiB`, `32768K` as `32 MiB`, `512K` as `512 KiB`.
fn cache_size(size: &str) -> String {
    match size.strip_suffix('K').and_then(|k| k.parse::<u64>().ok()) {
        Some(kib) if kib >= 1024 && kib % 1024 == 0 => format!("{} MiB", kib / 1024),
        Some(kib) => format!("{kib} KiB"),
        None => size.to_string(),
    }
}

/// Why a run of some groups cannot update `previous` (a written report) on
/// this machine: the sections it keeps were measured on another processor,
/// and a record mixing two machines would compare unlike figures.
fn other_machine(previous: &str, cpu: &str) -> Option<String> {
    let recorded = header_row(previous, CPU_ROW)?;
    (recorded != cpu).then(|| {
        format!(
            "the sections this run would keep were measured on another machine ({recorded}); \
             this one is {cpu}. Run every group (`cargo xtask bench`) for a record of one \
             machine, or write this run elsewhere with --output"
        )
    })
}

fn header(mpi: &Mpi, quick: bool, runs: usize, took: &str, every_group: Option<&str>) -> String {
    let cpu = cpu_description();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    let python = command_line(
        "python3",
        &["-c", "import sys, numpy, scipy, mpi4py; print(sys.version.split()[0], 'numpy', numpy.__version__, 'scipy', scipy.__version__, 'mpi4py', mpi4py.__version__)"],
    );
    let mut text = String::from("# quicklb benchmarks\n\n");
    text += if quick {
        "Written by `cargo xtask bench --quick`"
    } else {
        "Written by `cargo xtask bench`"
    };
    text += "; do not edit by hand. Every figure is the median over repeated runs of its \
             benchmark with the minimum and maximum in brackets, `median (min–max)`; \
             a figure the same in every run stands alone. Each benchmark runs its peer \
             in the same run, so ratios compare like with like.\n\n";
    let _ = writeln!(text, "| machine | |\n|---|---|");
    let _ = writeln!(
        text,
        "| date | {} |",
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(text, "| {CPU_ROW} | {cpu} |");
    let _ = writeln!(text, "| OS | {os} |");
    let _ = writeln!(
        text,
        "| MPI | {} ({}) |",
        mpi.implementation, mpi.version_line
    );
    let _ = writeln!(text, "| Rust | {} |", command_line("rustc", &["--version"]));
    let _ = writeln!(
        text,
        "| Python peers | {} |",
        if python.is_empty() {
            "not installed"
        } else {
            &python
        }
    );
    let _ = writeln!(
        text,
        "| mode of the latest run | {}, {runs} runs per benchmark (each section names its own run) |",
        if quick { "--quick" } else { "full" }
    );
    let _ = writeln!(text, "| duration of the latest run | {took} |");
    if let Some(full) = every_group {
        let _ = writeln!(text, "| {EVERY_GROUP_ROW} | {full} |");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duration_of_every_group_is_read_back() {
        let text =
            format!("| machine | |\n|---|---|\n| {EVERY_GROUP_ROW} | every group: 14.7 min |\n");
        assert_eq!(
            header_row(&text, EVERY_GROUP_ROW).as_deref(),
            Some("every group: 14.7 min")
        );
        assert_eq!(header_row("| date | x |\n", EVERY_GROUP_ROW), None);
    }

    #[test]
    fn cache_sizes_read_in_binary_units() {
        assert_eq!(cache_size("1024K"), "1 MiB");
        assert_eq!(cache_size("32768K"), "32 MiB");
        assert_eq!(cache_size("512K"), "512 KiB");
        assert_eq!(cache_size("odd"), "odd");
    }

    #[test]
    fn a_partial_run_refuses_a_record_of_another_machine() {
        let record = |cpu: &str| format!("| machine | |\n|---|---|\n| {CPU_ROW} | {cpu} |\n");
        let here = "AMD EPYC, 2 cores, AVX-512, L2 1 MiB per core, L3 32 MiB";
        assert_eq!(other_machine(&record(here), here), None);
        let why = other_machine(&record("AMD EPYC, 2 cores"), here).expect("another machine");
        assert!(
            why.contains("AMD EPYC, 2 cores") && why.contains(here),
            "{why}"
        );
        assert_eq!(other_machine("no header\n", here), None);
    }

    #[test]
    fn a_partial_run_replaces_only_its_sections() {
        let first = &SPECS[0];
        let second = SPECS.iter().find(|s| s.title != first.title).unwrap();
        let heading = |s: &Spec| format!("## {}: {}", s.group, s.title);
        let previous = format!(
            "# old header\n\n{}\n\nold first\n\n{}\n\nold second\n",
            heading(first),
            heading(second)
        );
        let fresh = format!("# new header\n\n{}\n\nnew second\n", heading(second));
        let spliced = splice_sections(&previous, &fresh);
        assert!(spliced.starts_with("# new header"));
        assert!(spliced.contains("old first"));
        assert!(spliced.contains("new second"));
        assert!(!spliced.contains("old second"));
        assert!(!spliced.contains("old header"));
        let (at_first, at_second) = (
            spliced.find(&heading(first)).unwrap(),
            spliced.find(&heading(second)).unwrap(),
        );
        assert!(at_first < at_second, "sections keep the order of SPECS");
    }
}
