//! Checks a demo's inputs before it runs: the files it will write and the
//! memory its problem needs, agreed by every rank.
//!
//! A demo that would fail at its end (an `--output` in a missing directory)
//! or half-way through (a grid that does not fit in memory, a count beyond
//! MPI's 32-bit limit) finds it here, before the first step: every rank
//! returns the same message, rank 0 prints it and every rank exits non-zero.
//!
//! ```no_run
//! use quicklb_examples::preflight;
//! let universe = mpi::initialize().unwrap();
//! let world = universe.world();
//! let path = std::path::Path::new("out/b.png");
//! let verdict = preflight::agree(&world, preflight::check_output_file("--output", path));
//! let verdict = verdict.and_then(|()| preflight::check_memory(&world, Some(1 << 20), "the fields"));
//! if let Err(message) = verdict {
//!     eprintln!("demo: {message}");
//!     std::process::exit(2);
//! }
//! ```

use std::path::Path;

use mpi::collective::SystemOperation;
use mpi::topology::Communicator;
use mpi::traits::*;

/// Checks that `path` can be written as a file: its directory exists and
/// accepts a new file, and `path` is not a directory. `flag` names the
/// option in the message. Creates and removes a probe file next to `path`.
///
/// ```
/// use quicklb_examples::preflight::check_output_file;
/// let missing = std::env::temp_dir().join("no-such-dir-quicklb/b.png");
/// let err = check_output_file("--output", &missing).unwrap_err();
/// assert!(err.contains("--output") && err.contains("does not exist"), "{err}");
/// assert!(check_output_file("--npy", &std::env::temp_dir().join("b.npy")).is_ok());
/// ```
pub fn check_output_file(flag: &str, path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "{flag} {}: is a directory, expected a file name",
            path.display()
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    check_writable_dir(flag, path, dir)
}

/// Checks that `dir` is, or can be created as, a directory that accepts new
/// files; creates it (and its parents) if missing, as the demo would.
///
/// ```
/// use quicklb_examples::preflight::check_output_dir;
/// let file = std::env::temp_dir().join("quicklb-preflight-a-file");
/// std::fs::write(&file, b"x").unwrap();
/// assert!(check_output_dir("--png-dir", &file).is_err());
/// assert!(check_output_dir("--png-dir", &std::env::temp_dir()).is_ok());
/// ```
pub fn check_output_dir(flag: &str, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("{flag} {}: cannot create the directory: {e}", dir.display()))?;
    check_writable_dir(flag, dir, dir)
}

fn check_writable_dir(flag: &str, path: &Path, dir: &Path) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!(
            "{flag} {}: the directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    let probe = dir.join(format!(".quicklb-preflight-{}", std::process::id()));
    std::fs::File::create(&probe).map_err(|e| {
        format!(
            "{flag} {}: cannot create files in {}: {e}",
            path.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A path a demo will write, with the option that named it.
#[derive(Clone, Copy, Debug)]
pub enum Output<'a> {
    /// A file ([`check_output_file`]).
    File(&'a str, &'a Path),
    /// A directory, created if missing ([`check_output_dir`]).
    Dir(&'a str, &'a Path),
}

/// Checks the outputs a demo was given (`None`: the option was not given) on
/// rank 0, which writes them, in order, and agrees on the first failure
/// (**collective**): the same verdict on every rank.
pub fn agree_outputs<C: Communicator>(
    comm: &C,
    outputs: &[Option<Output<'_>>],
) -> Result<(), String> {
    let local = if comm.rank() == 0 {
        outputs
            .iter()
            .flatten()
            .try_for_each(|output| match *output {
                Output::File(flag, path) => check_output_file(flag, path),
                Output::Dir(flag, dir) => check_output_dir(flag, dir),
            })
    } else {
        Ok(())
    };
    agree(comm, local)
}

/// The lowest rank of `comm` where `failed` is true, the same on every rank
/// (**collective**: one all-reduce). The reduction runs on `i32` ranks with the
/// communicator size as "none": MPICH 4.0.2 compares `MPI_UINT64_T` as signed in
/// `MPI_MIN`, so a `u64::MAX` sentinel would win over every rank there.
pub fn first_failing_rank<C: Communicator>(comm: &C, failed: bool) -> Option<usize> {
    let size = comm.size();
    let mine = if failed { comm.rank() } else { size };
    let mut first = size;
    comm.all_reduce_into(&mine, &mut first, SystemOperation::min());
    (first < size).then_some(first as usize)
}

/// The lowest failing rank of `comm` and its error message, the same on
/// every rank (**collective**: one all-reduce, and two broadcasts when a rank
/// failed); `local` is this rank's error, if any.
pub fn first_failure<C: Communicator, E: std::fmt::Display>(
    comm: &C,
    local: Option<&E>,
) -> Option<(usize, String)> {
    let first = first_failing_rank(comm, local.is_some())?;
    let root = comm.process_at_rank(first as i32);
    let mut text = match local {
        Some(e) if comm.rank() as usize == first => e.to_string().into_bytes(),
        _ => Vec::new(),
    };
    let mut len = text.len() as u64;
    root.broadcast_into(&mut len);
    text.resize(len as usize, 0);
    root.broadcast_into(&mut text[..]);
    Some((first, String::from_utf8_lossy(&text).into_owned()))
}

/// Agrees on per-rank verdicts (**collective**): if any rank's `local` is an
/// error, every rank returns the message of the lowest such rank (the
/// others' are dropped); otherwise `Ok` everywhere.
pub fn agree<C: Communicator>(comm: &C, local: Result<(), String>) -> Result<(), String> {
    match first_failure(comm, local.as_ref().err()) {
        None => Ok(()),
        Some((_, message)) => Err(message),
    }
}

/// How a demo's `main` ends on every rank. `Ok` exits 0. An error that every
/// rank agreed on before the run (`agreed(&e)`: a bad input, found by the
/// checks of this module) is printed once, by rank 0, and every rank exits
/// with code 2. Any other error may be on this rank only while the others
/// wait in a collective: it is printed with the rank and the job aborts.
pub fn finish<C: Communicator, E: std::fmt::Display>(
    comm: &C,
    program: &str,
    result: Result<(), E>,
    agreed: impl Fn(&E) -> bool,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if agreed(&e) => {
            if comm.rank() == 0 {
                eprintln!("{program}: {e}");
            }
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{program}: rank {}: {e}", comm.rank());
            comm.abort(1)
        }
    }
}

/// This machine's available memory in bytes (`MemAvailable` of
/// `/proc/meminfo`), or `None` where that is not known.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Checks that every rank can have `need` bytes (for `what`, named in the
/// message) when the ranks of each node share its available memory
/// (**collective**): the same verdict on every rank, from the smallest
/// share. `need = None` stands for a size that overflowed `u64`. Without a
/// known amount of memory only an overflow is refused.
pub fn check_memory<C: Communicator>(
    comm: &C,
    need: Option<u64>,
    what: &str,
) -> Result<(), String> {
    let on_node = quicklb_transport::split_shared(comm)
        .map(|node| node.size() as u64)
        .unwrap_or(1)
        .max(1);
    let share = available_memory().map_or(u64::MAX, |m| m / on_node);
    let mut smallest = share;
    comm.all_reduce_into(&share, &mut smallest, SystemOperation::min());
    memory_verdict(need, smallest, what)
}

/// The verdict of [`check_memory`] for a share of `available` bytes per rank.
///
/// ```
/// use quicklb_examples::preflight::memory_verdict;
/// assert!(memory_verdict(Some(1 << 20), 1 << 30, "the grid").is_ok());
/// let err = memory_verdict(Some(1 << 40), 1 << 30, "the grid").unwrap_err();
/// assert!(err.contains("1024.0 GiB") && err.contains("the grid"), "{err}");
/// assert!(memory_verdict(None, u64::MAX, "the grid").is_err());
/// ```
pub fn memory_verdict(need: Option<u64>, available: u64, what: &str) -> Result<(), String> {
    const GIB: f64 = (1u64 << 30) as f64;
    match need {
        None => Err(format!(
            "{what} would need more than 2^64 bytes per rank: use a smaller size"
        )),
        Some(n) if n > available => Err(format!(
            "{what} would need {:.1} GiB per rank, but each rank has about {:.1} GiB \
             (the available memory of its node shared by its ranks): use a smaller size \
             or more ranks",
            n as f64 / GIB,
            available as f64 / GIB
        )),
        Some(_) => Ok(()),
    }
}
