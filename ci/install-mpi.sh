#!/usr/bin/env bash
# Installs what quicklb needs to build and run MPI programs on Debian/Ubuntu:
# Open MPI (compiler wrappers, mpiexec, headers), libclang for mpi-sys's
# bindgen, and pkg-config. Safe to run again: apt skips what is present.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libclang-dev pkg-config)

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
echo "install-mpi.sh: installed ${packages[*]}"
mpiexec --version | head -n 1
