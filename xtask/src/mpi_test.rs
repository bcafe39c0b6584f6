//! `cargo xtask mpi-test`: every MPI test program under every rank count.
//!
//! Convention: an MPI test program is a `[[test]]` target named `mpi_*` with
//! `harness = false` and `test = false` (so plain `cargo test` skips it). It
//! passes by exiting 0 on every rank; it fails by panicking (after
//! `quicklb_transport::abort_on_panic()`, which aborts the whole job).

use std::time::Duration;

use anyhow::bail;

use crate::cargo;
use crate::mpirun::{self, Job, Outcome};
use crate::setup::Mpi;

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
    /// Run only the programs whose `package/name` contains this text.
    pub filter: Option<String>,
}

/// Builds the MPI test programs of the whole workspace and returns them (and
/// only them: building tests also builds each package's binaries).
pub fn build(release: bool) -> anyhow::Result<Vec<cargo::Artifact>> {
    let mut args = vec!["test", "--workspace", "--no-run", "--test", "mpi_*"];
    if release {
        args.push("--release");
    }
    Ok(cargo::build_executables(&args)?
        .into_iter()
        .filter(|a| a.target.starts_with("mpi_") && a.kinds.iter().any(|k| k == "test"))
        .collect())
}

pub fn run(mpi: &Mpi, args: &Args) -> anyhow::Result<()> {
    if args.ranks.is_empty() || args.ranks.contains(&0) {
        bail!("--ranks needs rank counts of at least 1, e.g. --ranks 1,2,3,4");
    }
    let programs: Vec<_> = build(args.release)?
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
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} MPI test runs failed");
    }
    Ok(())
}
