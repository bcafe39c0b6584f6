//! `cargo xtask demo`: build the demos in release mode and run one under mpiexec.

use std::process::Command;

use anyhow::{bail, Context};

use crate::cargo;
use crate::setup::Mpi;

/// The main job, run when no demo is named: the flame with detailed
/// chemistry, the workload that shows the balancer best.
pub const MAIN_DEMO: &str = "flame";

/// The most ranks `demo` starts by default.
const MAX_DEFAULT_RANKS: usize = 4;

/// Options of `demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which demo to run (a binary of the quicklb-examples package).
    #[arg(default_value = MAIN_DEMO)]
    pub name: String,
    /// Number of MPI ranks (default: the machine's cores, at most 4).
    #[arg(short = 'n', long)]
    pub ranks: Option<usize>,
    /// Arguments passed to the demo (after `--`), e.g. `-- --help`.
    #[arg(last = true)]
    pub demo_args: Vec<String>,
}

pub fn run(mpi: &Mpi, args: &Args) -> anyhow::Result<()> {
    let ranks = args.ranks.unwrap_or_else(default_ranks);
    if ranks == 0 {
        bail!("-n needs at least 1 rank");
    }
    let demos = cargo::build_executables(&[
        "build",
        "--release",
        "--package",
        "quicklb-examples",
        "--bins",
    ])?;
    let demos: Vec<_> = demos
        .into_iter()
        .filter(|d| d.kinds.iter().any(|k| k == "bin"))
        .collect();
    let Some(demo) = demos.iter().find(|d| d.target == args.name) else {
        let names: Vec<&str> = demos.iter().map(|d| d.target.as_str()).collect();
        bail!(
            "no demo named {:?}; the demos are: {}",
            args.name,
            names.join(", ")
        );
    };
    println!(
        "xtask: mpiexec -n {} {} {}",
        ranks,
        demo.executable.display(),
        args.demo_args.join(" ")
    );
    let mut command = Command::new("mpiexec");
    command
        .arg("-n")
        .arg(ranks.to_string())
        .arg(&demo.executable)
        .args(&args.demo_args);
    for (key, value) in mpi.environment() {
        command.env(key, value);
    }
    let status = command.status().context("could not start mpiexec")?;
    if !status.success() {
        bail!("the {} demo failed ({status})", args.name);
    }
    Ok(())
}

/// As many ranks as the machine has cores, at most [`MAX_DEFAULT_RANKS`].
fn default_ranks() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_DEFAULT_RANKS)
}
