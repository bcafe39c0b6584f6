//! `cargo xtask`: the build, test, demo and benchmark driver of the quicklb
//! workspace. It is the only place that starts `mpiexec`.
//!
//! It depends on no MPI crate, so it builds on a machine without MPI: that is
//! what lets `cargo xtask setup` install MPI in the first place.

mod bench;
mod cargo;
mod demo;
mod mpi_test;
mod mpirun;
mod python;
mod selftest;
mod setup;
mod tables;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build, test, demo and benchmark driver for quicklb.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check for mpicc, mpiexec and libclang; install them (Debian packages) when
    /// missing and running as root with apt, otherwise name what to install.
    Setup,
    /// Build every MPI test program (`tests/mpi_*.rs` of each crate) and run each
    /// under `mpiexec -n N` for every rank count, with a time limit per run
    /// (`--mpi mpich|both` also against MPICH, with `mpiexec.mpich`).
    MpiTest(mpi_test::Args),
    /// Check the MPI test harness itself: a deadlocked program is killed at its
    /// limit and reported TIMEOUT leaving no process behind, and a panicking rank
    /// fails the run within seconds.
    MpiSelftest,
    /// Everything CI checks: setup, rustfmt, clippy, `cargo test --workspace`,
    /// the harness self-test, every MPI test against the default MPI and MPICH
    /// (`--mpi` to choose), and `bench --check`.
    Test(mpi_test::Args),
    /// Build the demos in release mode and run one under mpiexec.
    Demo(demo::Args),
    /// Run every benchmark with its peer, several times, and write the merged
    /// tables (median and min–max) to BENCHMARKS.md.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::ensure().map(|mpi| {
            println!("setup: {} ({})", mpi.implementation, mpi.version_line);
        }),
        Command::MpiTest(args) => {
            setup::ensure().and_then(|mpi| mpi_test::run(&mpi, &args, mpi_test::MpiChoice::Openmpi))
        }
        Command::MpiSelftest => setup::ensure().and_then(|mpi| selftest::run(&mpi)),
        Command::Test(args) => test_all(&args),
        Command::Demo(args) => setup::ensure().and_then(|mpi| demo::run(&mpi, &args)),
        Command::Bench(args) => setup::ensure().and_then(|mpi| bench::run(&mpi, &args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn test_all(args: &mpi_test::Args) -> anyhow::Result<()> {
    let mpi = setup::ensure()?;
    cargo::run_step("rustfmt", &["fmt", "--all", "--", "--check"])?;
    cargo::run_step(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The kinetics crate's validation test compares against Cantera when it
    // imports, and says why it skips otherwise.
    python::ensure("test", &["cantera"], &["cantera"]);
    cargo::run_step("unit and doc tests", &["test", "--workspace"])?;
    selftest::run(&mpi)?;
    // Every MPI test against the default MPI and against MPICH, unless --mpi says
    // otherwise.
    mpi_test::run(&mpi, args, mpi_test::MpiChoice::Both)?;
    // Timings in CI are noise: this only proves every benchmark still runs and
    // prints well-formed tables (debug build, tiny sizes, one run).
    bench::run(
        &mpi,
        &bench::Args {
            quick: true,
            check: true,
            runs: None,
            output: None,
            names: Vec::new(),
        },
    )
}
