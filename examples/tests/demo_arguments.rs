//! The demo binaries refuse bad arguments before they run: a clear message
//! and exit code 2, within seconds, where they used to panic (`burgers
//! --t-end 0`), fail in MPI (`gray-scott --size 1000000`), be killed for
//! memory (`--size 18446744073709551615`) or report a missing output
//! directory only after the whole run.
//!
//! Each binary runs as one process (an MPI singleton, no `mpiexec`); the
//! agreement of the verdict over several ranks is tested by the MPI test
//! programs `mpi_burgers` and `mpi_gray_scott`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `binary` with `args`; returns its exit code and standard error.
/// Fails the test if it runs longer than a minute (the default runs take
/// many minutes in a debug build, so a check done after the run shows up
/// as a timeout).
fn run(binary: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = std::env::temp_dir();
    let mut child = Command::new(binary)
        .args(args)
        .current_dir(&dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo binary starts");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "{binary} {args:?} still running after 60 s: the check is not done before the run"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn missing_dir() -> PathBuf {
    std::env::temp_dir().join("quicklb-demo-arguments-no-such-dir")
}

fn assert_refused(binary: &str, args: &[&str], wanted: &[&str]) {
    let (code, stderr) = run(binary, args);
    assert_eq!(
        code,
        Some(2),
        "{binary} {args:?}: exit code, stderr:\n{stderr}"
    );
    for w in wanted {
        assert!(
            stderr.contains(w),
            "{binary} {args:?}: {w:?} not in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked"),
        "{binary} {args:?} panicked:\n{stderr}"
    );
}

const BURGERS: &str = env!("CARGO_BIN_EXE_burgers");
const GRAY_SCOTT: &str = env!("CARGO_BIN_EXE_gray-scott");

#[test]
fn burgers_without_a_step_is_refused() {
    assert_refused(
        BURGERS,
        &["--t-end", "0"],
        &["--t-end 0", "at least one snapshot"],
    );
    assert_refused(BURGERS, &["--dt", "1e-300"], &["steps"]);
}

#[test]
fn burgers_checks_its_outputs_first() {
    let npy = missing_dir().join("modes.npy");
    assert_refused(
        BURGERS,
        &["--npy", npy.to_str().unwrap()],
        &["--npy", "does not exist"],
    );
    let file = std::env::temp_dir().join("quicklb-demo-arguments-a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    assert_refused(
        BURGERS,
        &["--png-dir", file.to_str().unwrap()],
        &["--png-dir", "cannot create the directory"],
    );
}

#[test]
fn gray_scott_sizes_beyond_the_limits_are_refused() {
    assert_refused(
        GRAY_SCOTT,
        &["--size", "1000000", "--steps", "1"],
        &["--size 1000000", "46340"],
    );
    assert_refused(
        GRAY_SCOTT,
        &["--size", "18446744073709551615", "--steps", "1"],
        &["--size 18446744073709551615"],
    );
}

#[test]
fn gray_scott_checks_its_outputs_first() {
    let png = missing_dir().join("b.png");
    assert_refused(
        GRAY_SCOTT,
        &["--output", png.to_str().unwrap()],
        &["--output", "does not exist"],
    );
    let npy = missing_dir().join("b.npy");
    assert_refused(GRAY_SCOTT, &["--npy", npy.to_str().unwrap()], &["--npy"]);
    let dir = std::env::temp_dir();
    assert_refused(
        GRAY_SCOTT,
        &["--output", dir.to_str().unwrap()],
        &["is a directory"],
    );
}
