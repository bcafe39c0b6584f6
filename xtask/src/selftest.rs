//! `cargo xtask mpi-selftest`: proof that the MPI harness cannot hang CI.
//!
//! It runs `mpi_smoke` with the faults it carries (`QUICKLB_SELFTEST`): a
//! deadlock must end as TIMEOUT at the limit with no process left, and a rank
//! that panics must end the job as FAILED within seconds.

use std::time::Duration;

use anyhow::{bail, Context};

use crate::mpi_test;
use crate::mpirun::{self, Job, Outcome};
use crate::setup::Mpi;

const DEADLOCK_LIMIT: Duration = Duration::from_secs(5);
/// Killing takes at most a polite 2 s and a forceful 5 s after the limit.
const KILL_GRACE: Duration = Duration::from_secs(8);
const PANIC_DEADLINE: Duration = Duration::from_secs(15);

pub fn run(mpi: &Mpi) -> anyhow::Result<()> {
    let smoke = mpi_test::build(false, mpi)?
        .into_iter()
        .find(|program| program.target == "mpi_smoke")
        .context("the mpi_smoke test program was not built")?;

    for ranks in [1, 2] {
        let finished = mpirun::run(
            mpi,
            &Job {
                executable: &smoke.executable,
                args: &[],
                ranks,
                timeout: DEADLOCK_LIMIT,
                env: &[("QUICKLB_SELFTEST", "deadlock")],
                tag_output: true,
            },
        )?;
        let leftovers = process_count_of(&smoke.executable);
        println!(
            "selftest: deadlock, n={ranks}: {:?} after {:.2}s, {leftovers} processes left",
            finished.outcome,
            finished.elapsed.as_secs_f64()
        );
        if finished.outcome != Outcome::TimedOut {
            bail!(
                "a deadlocked job ended as {:?}, not TimedOut",
                finished.outcome
            );
        }
        if finished.elapsed > DEADLOCK_LIMIT + KILL_GRACE {
            bail!("killing a deadlocked job took {:?}", finished.elapsed);
        }
        if leftovers > 0 || !finished.leftovers.is_empty() {
            bail!("a deadlocked job left {leftovers} processes behind");
        }
    }

    for ranks in [1, 3] {
        let finished = mpirun::run(
            mpi,
            &Job {
                executable: &smoke.executable,
                args: &[],
                ranks,
                timeout: Duration::from_secs(60),
                env: &[("QUICKLB_SELFTEST", "panic")],
                tag_output: true,
            },
        )?;
        println!(
            "selftest: panic, n={ranks}: {:?} after {:.2}s",
            finished.outcome,
            finished.elapsed.as_secs_f64()
        );
        if finished.outcome != Outcome::Failed {
            bail!(
                "a panicking job ended as {:?}, not Failed",
                finished.outcome
            );
        }
        if finished.elapsed > PANIC_DEADLINE {
            bail!("a panicking job took {:?} to fail", finished.elapsed);
        }
        if !finished.output.contains("self-test panic on rank") {
            bail!("the panic message is missing from the job's output");
        }
    }
    println!("selftest: ok");
    Ok(())
}

/// How many live processes run `executable` (by `/proc/PID/exe`).
fn process_count_of(executable: &std::path::Path) -> usize {
    let Ok(target) = executable.canonicalize() else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == target))
        .count()
}
