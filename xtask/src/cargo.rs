//! Running cargo from xtask: the same cargo that runs us, at the workspace root.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// A `cargo` command at the workspace root, with the cargo that started xtask.
pub fn command() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    command
}

/// Runs `cargo ARGS` as one named step of a larger task; fails if it fails.
pub fn run_step(name: &str, args: &[&str]) -> anyhow::Result<()> {
    println!("xtask: {name}: cargo {}", args.join(" "));
    let status = command()
        .args(args)
        .status()
        .with_context(|| format!("could not start cargo for {name}"))?;
    if !status.success() {
        bail!("{name} failed (cargo {})", args.join(" "));
    }
    Ok(())
}

/// The workspace root: xtask's manifest sits one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// One executable built by cargo.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The package it belongs to.
    pub package: String,
    /// The target's name (`mpi_ring`, `gray-scott`, ...).
    pub target: String,
    /// The target's kinds (`test`, `bin`, `bench`, ...).
    pub kinds: Vec<String>,
    /// Where the executable is.
    pub executable: PathBuf,
}

/// Runs a cargo build command with `--message-format=json-render-diagnostics`
/// and returns the executables it produced, of every kind (building tests also
/// builds the package's binaries). Diagnostics go to the terminal.
pub fn build_executables(args: &[&str]) -> anyhow::Result<Vec<Artifact>> {
    build_executables_with(args, &[])
}

/// [`build_executables`] with extra environment for cargo (e.g. `MPICC` and
/// `CARGO_TARGET_DIR` of another MPI library).
pub fn build_executables_with(
    args: &[&str],
    env: &[(&str, std::ffi::OsString)],
) -> anyhow::Result<Vec<Artifact>> {
    let shown: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}={} ", v.to_string_lossy()))
        .collect();
    println!(
        "xtask: building: {}cargo {}",
        shown.concat(),
        args.join(" ")
    );
    let output = command()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("could not start cargo")?;
    if !output.status.success() {
        bail!("build failed: cargo {}", args.join(" "));
    }
    let mut artifacts = Vec::new();
    for line in output.stdout.split(|&b| b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let package_id = message["package_id"].as_str().unwrap_or_default();
        artifacts.push(Artifact {
            package: package_name(package_id),
            target: message["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            kinds: message["target"]["kind"]
                .as_array()
                .map(|kinds| {
                    kinds
                        .iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            executable: PathBuf::from(executable),
        });
    }
    artifacts.sort_by(|a, b| (&a.package, &a.target).cmp(&(&b.package, &b.target)));
    Ok(artifacts)
}

/// The package name in a cargo package id: `path+file:///…/crates/transport#quicklb-transport@0.1.0`
/// (or the older `quicklb-transport 0.1.0 (path+file://…)`).
fn package_name(package_id: &str) -> String {
    if let Some((url, fragment)) = package_id.rsplit_once('#') {
        // `#name@version`, or just `#version` when the name is the folder's.
        return match fragment.split_once('@') {
            Some((name, _version)) => name.to_string(),
            None => url.rsplit('/').next().unwrap_or(url).to_string(),
        };
    }
    package_id
        .split_whitespace()
        .next()
        .unwrap_or(package_id)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::package_name;

    #[test]
    fn package_names_from_both_id_formats() {
        assert_eq!(
            package_name("path+file:///w/crates/transport#quicklb-transport@0.1.0"),
            "quicklb-transport"
        );
        assert_eq!(
            package_name("quicklb-transport 0.1.0 (path+file:///w/crates/transport)"),
            "quicklb-transport"
        );
        assert_eq!(package_name("path+file:///w/xtask#0.1.0"), "xtask");
    }
}
