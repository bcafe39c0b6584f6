//! `cargo xtask mpi-test`: every MPI test program under every rank count.
//!
//! Convention: an MPI test program is a `[[test]]` target named `mpi_*` with
//! `harness = false` and `test = false` (so plain `cargo test` skips it). It
//! passes by exiting 0 on every rank; it fails by panicking (after
//! `quicklb_transport::abort_on_panic()`, which aborts the whole job).
//!
//! `--mpi` picks the MPI libraries: the default one (`mpicc`, `mpiexec`: Open MPI
//! in CI), MPICH installed beside it (`mpicc.mpich`, `mpiexec.mpich`; programs
//! built in `<target>/mpich` with `MPICC=mpicc.mpich`), or both, one after the
//! other, with the same rank counts, time limits and clean-up.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::cargo;
use crate::mpirun::{self, Job, Outcome};
use crate::setup::{self, Mpi};

/// Which MPI libraries to build and run the MPI tests with.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpiChoice {
    /// The default `mpicc` / `mpiexec` (Open MPI on Debian when both are installed).
    Openmpi,
    /// MPICH beside it: `mpicc.mpich`, `mpiexec.mpich`, target dir `<target>/mpich`.
    Mpich,
    /// Both, the default one first.
    Both,
}

/// Options of `mpi-test` (and of `test`, which ends with it).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Rank counts to run each program with.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4")]
    pub ranks: Vec<usize>,
    /// Time limit of one run, in seconds; the whole job is killed at it.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Build the MPI test programs in release mode.
    #[arg(long)]
    pub release: bool,
    /// MPI libraries to test with [default: openmpi for `mpi-test`, both for `test`].
    #[arg(long, value_enum)]
    pub mpi: Option<MpiChoice>,
    /// Run only the programs whose `package/name` contains this text.
    pub filter: Option<String>,
}

/// Builds the MPI test programs of the whole workspace and returns them (and
/// only them: building tests also builds each package's binaries).
pub fn build(release: bool, mpi: &Mpi) -> anyhow::Result<Vec<cargo::Artifact>> {
    let mut args = vec!["test", "--workspace", "--no-run", "--test", "mpi_*"];
    if release {
        args.push("--release");
    }
    Ok(
        cargo::build_executables_with(&args, &mpi.build_environment())?
            .into_iter()
            .filter(|a| a.target.starts_with("mpi_") && a.kinds.iter().any(|k| k == "test"))
            .collect(),
    )
}

/// Builds and runs the MPI tests with every library `args.mpi` (or `default_choice`)
/// names; fails if any run failed, after all have run.
pub fn run(default: &Mpi, args: &Args, default_choice: MpiChoice) -> anyhow::Result<()> {
    if args.ranks.is_empty() || args.ranks.contains(&0) {
        bail!("--ranks needs rank counts of at least 1, e.g. --ranks 1,2,3,4");
    }
    let libraries = match args.mpi.unwrap_or(default_choice) {
        MpiChoice::Openmpi => vec![default.clone()],
        MpiChoice::Mpich => vec![setup::mpich(default)?],
        MpiChoice::Both => vec![default.clone(), setup::mpich(default)?],
    };
    let mut failures = Vec::new();
    let mut timings = Vec::new();
    for mpi in &libraries {
        let start = Instant::now();
        let result = run_with(mpi, args);
        timings.push(format!(
            "{}: {:.0} s (build and runs)",
            mpi.label(),
            start.elapsed().as_secs_f64()
        ));
        if let Err(error) = result {
            failures.push(format!("{}: {error:#}", mpi.label()));
        }
    }
    if libraries.len() > 1 {
        println!(
            "xtask: mpi-test wall time per library: {}",
            timings.join("; ")
        );
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// Builds and runs the MPI tests with one library.
fn run_with(mpi: &Mpi, args: &Args) -> anyhow::Result<()> {
    let programs: Vec<_> = build(args.release, mpi)?
        .into_iter()
        .filter(|program| {
            let name = format!("{}/{}", program.package, program.target);
            args.filter
                .as_ref()
                .is_none_or(|f| name.contains(f.as_str()))
        })
        .collect();
    if programs.is_empty() {
        bail!("no MPI test program matches {:?}", args.filter);
    }
    println!(
        "xtask: mpi-test: {} programs x ranks {:?}, {} s limit each, {}",
        programs.len(),
        args.ranks,
        args.timeout,
        mpi.version_line
    );

    let (mut passed, mut failed) = (0, 0);
    for program in &programs {
        for &ranks in &args.ranks {
            let finished = mpirun::run(
                mpi,
                &Job {
                    executable: &program.executable,
                    args: &[],
                    ranks,
                    timeout: Duration::from_secs(args.timeout),
                    env: &[],
                    tag_output: true,
                },
            )?;
            let verdict = match finished.outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
                Outcome::TimedOut => "TIMEOUT",
            };
            println!(
                "{:<44} n={ranks}  {:>7.2}s  {verdict}",
                format!("{}/{}", program.package, program.target),
                finished.elapsed.as_secs_f64()
            );
            if finished.outcome == Outcome::Passed && finished.leftovers.is_empty() {
                passed += 1;
            } else {
                failed += 1;
                print!("{}", mpirun::failure_excerpt(&finished.output, 40));
                if !finished.leftovers.is_empty() {
                    println!("    | left processes behind: {:?}", finished.leftovers);
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed ({})", mpi.label());
    if failed > 0 {
        bail!("{failed} MPI test runs failed");
    }
    Ok(())
}
