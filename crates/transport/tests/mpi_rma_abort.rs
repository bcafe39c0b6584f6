//! What happens when MPI may still hold lent memory: the job is aborted, never
//! resumed with the borrows ended. Each case runs in a child process of its own (a
//! singleton MPI job started by rank 0 of this program, with the launcher's
//! environment removed), and the test checks that the child was aborted with the
//! error text:
//! - `unlock`: the closing `MPI_Win_unlock` of a lock epoch fails (the epoch was
//!   already unlocked through the raw handle, which only `unsafe` code can do);
//! - `panic`: the closure of `Window::with_buffer` panics while the buffer is lent.
//!
//! Under the old behaviour the first returned `Err` (the buffers given back as if
//! MPI were done) and the second unwound out of the scope; both children exited 0.

use std::process::Command;

use quicklb_transport::rma::{LockType, Window};

const CASE: &str = "QUICKLB_RMA_ABORT_CASE";

fn main() {
    if let Ok(case) = std::env::var(CASE) {
        child(&case);
        return;
    }
    // Only the first rank of the launch runs the children; no MPI in this process.
    let rank = ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .unwrap_or_else(|| "0".into());
    if rank != "0" {
        return;
    }
    for (case, expected) in [
        ("unlock", "MPI_Win_unlock"),
        ("panic", "the closure panicked while the buffer was lent"),
    ] {
        let exe = std::env::current_exe().expect("own path");
        let mut command = Command::new(exe);
        for (key, _) in std::env::vars() {
            let launcher = ["OMPI_", "PMIX_", "PMI_", "HYDRA_", "MPIR_", "OPAL_"]
                .iter()
                .any(|p| key.starts_with(p));
            let keep = key.starts_with("OMPI_ALLOW_RUN_AS_ROOT");
            if launcher && !keep {
                command.env_remove(&key);
            }
        }
        let out = command.env(CASE, case).output().expect("child runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("returned normally"),
            "case {case}: the child went on after MPI may still hold its memory\n{stdout}\n{stderr}"
        );
        assert!(
            !out.status.success(),
            "case {case}: the child exited successfully\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.contains(expected) && stderr.contains("aborted"),
            "case {case}: expected an abort mentioning {expected:?}\n{stderr}"
        );
    }
    println!("mpi_rma_abort: a failing closing call and a panic in with_buffer abort the job");
}

fn child(case: &str) {
    let universe = mpi::initialize().expect("MPI initialises once (singleton)");
    let world = universe.world();
    match case {
        "unlock" => {
            let mut win = Window::<i64>::allocate(&world, 1).expect("allocate");
            let raw = win.as_raw();
            let result = win.lock(0, LockType::Exclusive, |_| {
                // SAFETY: deliberately ends the epoch behind the crate's back, so that
                // its own closing MPI_Win_unlock fails; `raw` is a live window locked
                // by this very epoch, and no RMA call is pending.
                unsafe { mpi::ffi::MPI_Win_unlock(0, raw) };
                Ok(())
            });
            println!("returned normally: {result:?}");
        }
        "panic" => {
            let mut buffer = vec![0i64; 4];
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Window::with_buffer(&world, &mut buffer, |_| -> quicklb_transport::Result<()> {
                    panic!("panic inside the scope")
                })
            }));
            println!("returned normally: {}", result.is_ok());
        }
        other => panic!("unknown case {other}"),
    }
}
