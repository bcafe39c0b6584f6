//! Finding Cantera (python3 + the `cantera` package) for the tests that compare with it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Cantera's data directory (with `h2o2.yaml`, `gri30.yaml`), or why it is not available.
pub fn cantera_data_dir() -> Result<PathBuf, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import cantera, os; print(os.path.join(os.path.dirname(cantera.__file__), 'data'))",
        ])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 -c 'import cantera' failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if dir.join("gri30.yaml").is_file() {
        Ok(dir)
    } else {
        Err(format!("{} has no gri30.yaml", dir.display()))
    }
}

/// The bundled mechanism's file.
pub fn bundled_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mechanisms/h2o2_li2004.yaml")
}
