#!/usr/bin/env bash
# Installs what quicklb needs to build and run MPI programs on Debian/Ubuntu:
# Open MPI (compiler wrappers, mpiexec, headers), MPICH beside it (mpicc.mpich,
# mpiexec.mpich: `cargo xtask test` also runs every MPI test against it),
# libclang for mpi-sys's bindgen, and pkg-config. Open MPI stays the default
# `mpicc`/`mpiexec`. Safe to run again: apt skips what is present.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libmpich-dev mpich libclang-dev pkg-config)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-mpi.sh: needs root to run apt-get; install these packages yourself:" >&2
    echo "    ${packages[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-mpi.sh: no apt-get on this machine; install the equivalents of:" >&2
    echo "    ${packages[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Debian ranks Open MPI above MPICH for the `mpi` and `mpirun` alternatives on
# amd64; pin them anyway, so that installing MPICH never changes the default.
if [ -e /usr/bin/mpicc.openmpi ]; then
    update-alternatives --quiet --set mpi /usr/bin/mpicc.openmpi
fi
if [ -e /usr/bin/mpirun.openmpi ]; then
    update-alternatives --quiet --set mpirun /usr/bin/mpirun.openmpi
fi
echo "install-mpi.sh: installed ${packages[*]}"
mpiexec --version | head -n 1
mpiexec.mpich --version | head -n 2 | tail -n 1
