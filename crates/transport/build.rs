//! Compiles `csrc/ops.c`, which exports the MPI operation handles `MPI_REPLACE` and
//! `MPI_NO_OP` (macros in `mpi.h`, not in rsmpi's shim), with the MPI compiler
//! wrapper found the way `mpi-sys` finds it (`MPICC`, then `mpicc`, then pkg-config).

fn main() {
    println!("cargo:rerun-if-changed=csrc/ops.c");
    println!("cargo:rerun-if-env-changed=MPICC");
    let lib = match build_probe_mpi::probe() {
        Ok(lib) => lib,
        Err(errors) => {
            for e in errors {
                println!("cargo:warning=MPI probe: {e}");
            }
            panic!("quicklb-transport: no MPI library found (set MPICC)");
        }
    };
    let mut build = cc::Build::new();
    build.file("csrc/ops.c");
    if let Some(mpicc) = lib.mpicc {
        build.compiler(mpicc);
    } else {
        for include in &lib.include_paths {
            build.include(include);
        }
    }
    build.compile("quicklb_transport_ops");
}
