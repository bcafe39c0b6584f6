//! Running one MPI job under `mpiexec` with a time limit, and cleaning up after it.
//!
//! `mpiexec` is started through `setsid`, so it leads a new session; Open MPI
//! puts each rank in a process group of its own but they all stay in that
//! session. At the time limit the whole session is killed, found through
//! `/proc`, so a deadlocked job leaves no process behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::setup::Mpi;

/// One MPI job to run.
pub struct Job<'a> {
    pub executable: &'a Path,
    pub args: &'a [String],
    pub ranks: usize,
    pub timeout: Duration,
    /// Extra environment for the ranks.
    pub env: &'a [(&'a str, &'a str)],
    /// Prefix each output line with its rank (for reading failures); off for
    /// programs whose output is parsed.
    pub tag_output: bool,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    TimedOut,
}

/// A finished job: how it ended, how long it took, what it printed, and
/// whether any of its processes had to be killed after the end.
pub struct Finished {
    pub outcome: Outcome,
    pub elapsed: Duration,
    /// Standard output and standard error, in that order.
    pub output: String,
    /// Standard output alone.
    pub stdout: String,
    /// Processes of the job still alive after it was killed (should be none).
    pub leftovers: Vec<i32>,
}

/// Runs `job` to completion or to its time limit, capturing its stdout and
/// stderr (tagged by rank where asked and the MPI library supports it).
pub fn run(mpi: &Mpi, job: &Job<'_>) -> anyhow::Result<Finished> {
    let stdout_path = log_file_path(job.executable, job.ranks, "stdout");
    let stderr_path = log_file_path(job.executable, job.ranks, "stderr");
    let create = |path: &PathBuf| {
        File::create(path).with_context(|| format!("could not create {}", path.display()))
    };
    let mut command = Command::new("setsid");
    command
        .arg(&mpi.mpiexec)
        .arg("-n")
        .arg(job.ranks.to_string());
    if let (true, Some(flag)) = (job.tag_output, mpi.tag_output_flag()) {
        command.arg(flag);
    }
    command
        .arg(job.executable)
        .args(job.args)
        .stdin(Stdio::null())
        .stdout(create(&stdout_path)?)
        .stderr(create(&stderr_path)?)
        .env_remove("QUICKLB_SELFTEST")
        // Programs that start a child job of their own (the watchdog test) use
        // the launcher of the library they were built against.
        .env("QUICKLB_MPIEXEC", &mpi.mpiexec);
    for (key, value) in mpi.environment().into_iter().chain(job.env.iter().copied()) {
        command.env(key, value);
    }

    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start setsid {}", mpi.mpiexec))?;
    let session = child.id() as i32;
    let outcome = loop {
        if let Some(status) = child.try_wait()? {
            break if status.success() {
                Outcome::Passed
            } else {
                Outcome::Failed
            };
        }
        if start.elapsed() >= job.timeout {
            kill_session(session);
            let _ = child.wait();
            break Outcome::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    // A job that exited may still have stragglers (a rank ignoring SIGTERM).
    let leftovers = session_members(session);
    if !leftovers.is_empty() {
        kill_session(session);
    }
    let read_and_remove = |path: &PathBuf| {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let _ = std::fs::remove_file(path);
        text
    };
    let stdout = read_and_remove(&stdout_path);
    let output = stdout.clone() + &read_and_remove(&stderr_path);
    Ok(Finished {
        outcome,
        elapsed,
        output,
        stdout,
        leftovers,
    })
}

fn log_file_path(executable: &Path, ranks: usize, stream: &str) -> PathBuf {
    let name = executable
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "job".into());
    std::env::temp_dir().join(format!(
        "quicklb-xtask-{}-{name}-n{ranks}.{stream}",
        std::process::id()
    ))
}

/// Asks the session politely (SIGTERM lets mpiexec tear its ranks down), then
/// kills whatever is left of it.
fn kill_session(session: i32) {
    let _ = kill(Pid::from_raw(session), Signal::SIGTERM);
    let polite_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < polite_until && !session_members(session).is_empty() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let forceful_until = Instant::now() + Duration::from_secs(5);
    loop {
        let members = session_members(session);
        if members.is_empty() || Instant::now() >= forceful_until {
            break;
        }
        for pid in members {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live processes (not zombies) whose session id is `session`.
pub fn session_members(session: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // Fields after the parenthesised command name: state ppid pgrp session ...
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 3 && fields[0] != "Z" && fields[3] == session.to_string()
        })
        .collect()
}

/// The lines a failing job printed that matter most: those of the ranks that
/// reported a panic or an error, else the tail of everything.
pub fn failure_excerpt(output: &str, max_lines: usize) -> String {
    let failing_ranks: Vec<String> = output
        .lines()
        .filter(|line| line.contains("panicked") || line.contains("error"))
        .filter_map(rank_tag)
        .collect();
    let chosen: Vec<&str> = if failing_ranks.is_empty() {
        output.lines().collect()
    } else {
        output
            .lines()
            .filter(|line| rank_tag(line).is_none_or(|tag| failing_ranks.contains(&tag)))
            .collect()
    };
    let skip = chosen.len().saturating_sub(max_lines);
    chosen[skip..]
        .iter()
        .map(|line| format!("    | {line}\n"))
        .collect()
}

/// The rank tag of an output line: Open MPI's `[1,2]<stderr>:` gives `2`,
/// MPICH's `[2] ` gives `2`.
fn rank_tag(line: &str) -> Option<String> {
    let rest = line.strip_prefix('[')?;
    let (inside, _) = rest.split_once(']')?;
    let rank = inside.rsplit(',').next()?;
    rank.chars()
        .all(|c| c.is_ascii_digit())
        .then(|| rank.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_tags_of_both_libraries() {
        assert_eq!(rank_tag("[1,2]<stderr>:boom").as_deref(), Some("2"));
        assert_eq!(rank_tag("[3] hello").as_deref(), Some("3"));
        assert_eq!(rank_tag("no tag"), None);
        assert_eq!(rank_tag("[x,y] no"), None);
    }

    #[test]
    fn excerpt_keeps_the_failing_rank() {
        let output = "[1,0]<stdout>:fine\n[1,1]<stderr>:thread 'main' panicked at x\n\
                      [1,1]<stderr>:details\nMPI_ABORT was invoked\n";
        let excerpt = failure_excerpt(output, 10);
        assert!(!excerpt.contains("fine"));
        assert!(excerpt.contains("details"));
        assert!(excerpt.contains("MPI_ABORT"));
    }
}
