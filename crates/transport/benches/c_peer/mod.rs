//! Builds a benchmark's C peer (`benches/c/<file>`) with the MPI C compiler
//! into a shared library private to this rank and loads one of its functions,
//! so the C code runs in the same processes, on the same MPI library and
//! under the same load as the Rust loops it is compared with.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;
use std::process::Command;

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

const RTLD_NOW: c_int = 2;

/// Compiles `benches/c/<file>` (`$MPICC`, default `mpicc`, with
/// `-DQLB_NO_MAIN`) and returns the address of `symbol`, never null. The
/// caller turns it into a function pointer of the C definition's signature.
pub fn load(file: &str, symbol: &CStr, rank: i32) -> Result<*mut c_void, String> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches/c")
        .join(file);
    let stem = file.trim_end_matches(".c");
    let lib =
        std::env::temp_dir().join(format!("quicklb_{stem}_c_{}_{rank}.so", std::process::id()));
    let mpicc = std::env::var("MPICC").unwrap_or_else(|_| "mpicc".into());
    let out = Command::new(&mpicc)
        .args(["-O2", "-shared", "-fPIC", "-DQLB_NO_MAIN", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .map_err(|e| format!("{mpicc} not runnable: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{mpicc} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let name = CString::new(lib.to_string_lossy().into_owned()).map_err(|e| e.to_string())?;
    // SAFETY: `name` is a NUL-terminated path of a library we just built; loading it
    // runs no initialisers beyond the C runtime's.
    let handle = unsafe { dlopen(name.as_ptr(), RTLD_NOW) };
    let _ = std::fs::remove_file(&lib); // the mapping stays valid
    if handle.is_null() {
        // SAFETY: dlerror returns a NUL-terminated message after a failed dlopen.
        let msg = unsafe { CStr::from_ptr(dlerror()) };
        return Err(format!("dlopen failed: {}", msg.to_string_lossy()));
    }
    // SAFETY: a valid handle and a NUL-terminated symbol name.
    let sym = unsafe { dlsym(handle, symbol.as_ptr()) };
    if sym.is_null() {
        return Err(format!("symbol {} not found", symbol.to_string_lossy()));
    }
    Ok(sym)
}
