//! Making sure MPI and libclang are there, installing them where we can.

use std::fmt;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use crate::cargo::workspace_root;

/// The Debian packages that provide what quicklb needs.
const PACKAGES: &str = "libopenmpi-dev openmpi-bin libclang-dev pkg-config";

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

/// What we learnt about the MPI installation.
#[derive(Debug, Clone)]
pub struct Mpi {
    pub implementation: Implementation,
    /// The first line of `mpiexec --version`.
    pub version_line: String,
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

fn detect() -> anyhow::Result<Mpi> {
    let output = Command::new("mpiexec")
        .arg("--version")
        .output()
        .context("could not run mpiexec --version")?;
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let implementation = if text.contains("Open MPI") || text.contains("OpenRTE") {
        Implementation::OpenMpi
    } else if text.contains("HYDRA") || text.contains("MPICH") {
        Implementation::Mpich
    } else {
        Implementation::Unknown
    };
    let version_line = text.lines().next().unwrap_or("").trim().to_string();
    Ok(Mpi {
        implementation,
        version_line,
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
