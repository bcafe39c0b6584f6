//! Making sure MPI and libclang are there, installing them where we can.

use std::fmt;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use crate::cargo::workspace_root;

/// The Debian packages that provide what quicklb needs.
const PACKAGES: &str = "libopenmpi-dev openmpi-bin libclang-dev pkg-config";

/// The Debian packages of MPICH, installed beside Open MPI for `--mpi mpich`.
pub const MPICH_PACKAGES: &str = "libmpich-dev mpich";

/// Debian's names of MPICH's compiler wrapper and launcher when it is installed
/// beside Open MPI (which keeps `mpicc` and `mpiexec`).
const MPICH_MPICC: &str = "mpicc.mpich";
const MPICH_MPIEXEC: &str = "mpiexec.mpich";

/// Which MPI library `mpiexec` belongs to; they differ in flags and variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    OpenMpi,
    Mpich,
    Unknown,
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Implementation::OpenMpi => "Open MPI",
            Implementation::Mpich => "MPICH",
            Implementation::Unknown => "unknown MPI",
        })
    }
}

/// What we learnt about one MPI installation.
#[derive(Debug, Clone)]
pub struct Mpi {
    pub implementation: Implementation,
    /// The first line of `mpiexec --version`.
    pub version_line: String,
    /// Its launcher (`mpiexec`, `mpiexec.mpich`).
    pub mpiexec: String,
    /// Its compiler wrapper (`mpicc`, `mpicc.mpich`); mpi-sys's build script
    /// (build-probe-mpi) runs `$MPICC -show` to find headers and libraries.
    pub mpicc: String,
    /// Where programs built against it go: `None` for cargo's own target dir,
    /// else a directory of its own, so that the two builds never mix.
    pub target_dir: Option<std::path::PathBuf>,
}

impl Mpi {
    /// Environment for every `mpiexec` we start: Open MPI refuses to run as root
    /// or with more ranks than cores unless told.
    pub fn environment(&self) -> Vec<(&'static str, &'static str)> {
        match self.implementation {
            Implementation::OpenMpi => vec![
                ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
                ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
                ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
            ],
            _ => Vec::new(),
        }
    }

    /// Environment for cargo builds against this MPI (none for the default one).
    pub fn build_environment(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        match &self.target_dir {
            None => Vec::new(),
            Some(dir) => vec![
                ("MPICC", self.mpicc.clone().into()),
                ("CARGO_TARGET_DIR", dir.clone().into_os_string()),
            ],
        }
    }

    /// A short name for reports: `Open MPI`, `MPICH`.
    pub fn label(&self) -> String {
        self.implementation.to_string()
    }

    /// The flag that prefixes each output line with its rank, if we know it.
    pub fn tag_output_flag(&self) -> Option<&'static str> {
        match self.implementation {
            Implementation::OpenMpi => Some("--tag-output"),
            Implementation::Mpich => Some("-prepend-rank"),
            Implementation::Unknown => None,
        }
    }
}

/// Checks for mpicc, mpiexec and libclang; installs them when missing and we
/// are root on a machine with apt; otherwise fails naming what to install.
pub fn ensure() -> anyhow::Result<Mpi> {
    let missing = missing_tools();
    if !missing.is_empty() {
        let root = nix::unistd::geteuid().is_root();
        if root && on_path("apt-get") {
            println!(
                "setup: missing {}; installing {PACKAGES} with ci/install-mpi.sh",
                missing.join(", ")
            );
            let script = workspace_root().join("ci/install-mpi.sh");
            let status = Command::new("bash")
                .arg(&script)
                .status()
                .with_context(|| format!("could not run {}", script.display()))?;
            if !status.success() {
                bail!("{} failed; install {PACKAGES} by hand", script.display());
            }
            let still_missing = missing_tools();
            if !still_missing.is_empty() {
                bail!(
                    "still missing after installing: {}",
                    still_missing.join(", ")
                );
            }
        } else {
            bail!(
                "missing {}. Install an MPI library with its compiler wrappers and \
                 libclang, e.g. on Debian/Ubuntu: sudo apt-get install {PACKAGES} \
                 (MPICH works too: mpich libmpich-dev). Set LIBCLANG_PATH if libclang \
                 is installed somewhere unusual.",
                missing.join(", ")
            );
        }
    }
    detect()
}

/// MPICH installed beside the default MPI, as Debian's `mpich` and
/// `libmpich-dev` packages do (`mpicc.mpich`, `mpiexec.mpich`), with programs
/// built in `<target>/mpich`. If the default MPI is MPICH itself, that one.
pub fn mpich(default: &Mpi) -> anyhow::Result<Mpi> {
    let present = || on_path(MPICH_MPICC) && on_path(MPICH_MPIEXEC);
    if !present() && default.implementation == Implementation::Mpich {
        return Ok(default.clone());
    }
    if !present() && nix::unistd::geteuid().is_root() && on_path("apt-get") {
        println!("setup: no {MPICH_MPIEXEC}; installing {MPICH_PACKAGES} with ci/install-mpi.sh");
        let script = workspace_root().join("ci/install-mpi.sh");
        let status = Command::new("bash")
            .arg(&script)
            .status()
            .with_context(|| format!("could not run {}", script.display()))?;
        if !status.success() {
            bail!(
                "{} failed; install {MPICH_PACKAGES} by hand",
                script.display()
            );
        }
    }
    if !present() {
        bail!(
            "MPICH is not installed beside {}: no {MPICH_MPICC} and {MPICH_MPIEXEC} on PATH \
             (Debian/Ubuntu: apt-get install {MPICH_PACKAGES}, or run ci/install-mpi.sh)",
            default.implementation
        );
    }
    let mut mpi = detect_program(MPICH_MPIEXEC)?;
    if mpi.implementation != Implementation::Mpich {
        bail!(
            "{MPICH_MPIEXEC} is not MPICH: {MPICH_MPIEXEC} --version says {:?}",
            mpi.version_line
        );
    }
    mpi.mpicc = MPICH_MPICC.into();
    mpi.target_dir = Some(cargo_target_dir().join("mpich"));
    Ok(mpi)
}

/// Cargo's target directory for this workspace: `$CARGO_TARGET_DIR` or `target`.
fn cargo_target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn detect() -> anyhow::Result<Mpi> {
    detect_program("mpiexec")
}

fn detect_program(mpiexec: &str) -> anyhow::Result<Mpi> {
    let output = Command::new(mpiexec)
        .arg("--version")
        .output()
        .with_context(|| format!("could not run {mpiexec} --version"))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let implementation = if text.contains("Open MPI") || text.contains("OpenRTE") {
        Implementation::OpenMpi
    } else if text.contains("HYDRA") || text.contains("MPICH") {
        Implementation::Mpich
    } else {
        Implementation::Unknown
    };
    // Hydra (MPICH) starts with "HYDRA build details:"; its version is a later line.
    let version_line = match implementation {
        Implementation::Mpich => text
            .lines()
            .find(|l| l.trim_start().starts_with("Version:"))
            .map(|l| {
                format!(
                    "MPICH {}",
                    l.trim_start().trim_start_matches("Version:").trim()
                )
            }),
        _ => None,
    }
    .unwrap_or_else(|| text.lines().next().unwrap_or("").trim().to_string());
    Ok(Mpi {
        implementation,
        version_line,
        mpiexec: mpiexec.into(),
        mpicc: "mpicc".into(),
        target_dir: None,
    })
}

fn missing_tools() -> Vec<&'static str> {
    let mut missing = Vec::new();
    for tool in ["mpicc", "mpiexec"] {
        if !on_path(tool) {
            missing.push(tool);
        }
    }
    if !libclang_present() {
        missing.push("libclang");
    }
    missing
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Looks where clang-sys (used by bindgen in mpi-sys) looks for `libclang.so`.
fn libclang_present() -> bool {
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("LIBCLANG_PATH") {
        dirs.push(path.into());
    }
    for base in ["/usr/lib", "/usr/lib64", "/usr/local/lib"] {
        dirs.push(base.into());
        dirs.push(Path::new(base).join("x86_64-linux-gnu"));
        dirs.push(Path::new(base).join("aarch64-linux-gnu"));
        if let Ok(entries) = std::fs::read_dir(base) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with("llvm") {
                    dirs.push(entry.path().join("lib"));
                }
            }
        }
    }
    dirs.iter().any(|dir| {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries.flatten().any(|entry| {
                    let name = entry.file_name().to_string_lossy().to_string();
                    name.starts_with("libclang")
                        && !name.starts_with("libclang-cpp")
                        && !name.starts_with("libclang_rt")
                        && name.contains(".so")
                })
            })
            .unwrap_or(false)
    })
}
