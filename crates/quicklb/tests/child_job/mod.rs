//! Runs this test program again as a child MPI job, for tests whose point is a
//! job that fails: the harness expects every test program to exit 0, so the
//! failing job is the program's child, and the program checks how it ended.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a child job ended.
pub struct Finished {
    /// Whether every rank exited 0.
    pub success: bool,
    /// Its standard output and error, in that order.
    pub text: String,
    /// Wall time from the start of the launcher to its end.
    pub elapsed: Duration,
}

/// Starts this program under `mpiexec -n ranks` (or `$QUICKLB_MPIEXEC`, which
/// xtask sets to the launcher of the MPI it tests) with `marker=1` in the
/// environment, and waits for it; panics if it still runs after `give_up`
/// (the hang the test is there to rule out).
pub fn run(marker: &str, ranks: usize, give_up: Duration) -> Finished {
    let exe = std::env::current_exe().expect("own path");
    let mpiexec = std::env::var("QUICKLB_MPIEXEC").unwrap_or_else(|_| "mpiexec".into());
    let mut command = Command::new(mpiexec);
    command
        .args(["-n", &ranks.to_string()])
        .arg(&exe)
        .env(marker, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The launcher's variables of this (singleton-like) job would make the
    // child mpiexec think it runs inside it: keep only the user settings.
    for (key, _) in std::env::vars() {
        let launcher = key.starts_with("PMIX_")
            || key.starts_with("PMI_")
            || key.starts_with("HYDRA_")
            || key.starts_with("MPI_LOCAL")
            || (key.starts_with("OMPI_")
                && !key.starts_with("OMPI_ALLOW_RUN_AS_ROOT")
                && !key.starts_with("OMPI_MCA_rmaps_base_oversubscribe"));
        if launcher {
            command.env_remove(key);
        }
    }
    let start = Instant::now();
    let mut job = command.spawn().expect("start the child job");
    let status = loop {
        if let Some(status) = job.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > give_up {
            let _ = job.kill();
            panic!("the child job still runs after {give_up:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let output = job.wait_with_output().expect("output");
    Finished {
        success: status.success(),
        text: String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
        elapsed,
    }
}
