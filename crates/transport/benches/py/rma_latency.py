"""The mpi4py peer of quicklb-transport's RMA latency benchmark.

The same loops as benches/rma_latency.rs and benches/c/rma_latency.c, with numpy
buffers: a window of one float64 per rank (MPI.Win.Allocate), rank 0 the origin,
rank 1 the target (rank 0 itself with one rank).
  - fence: per iteration one epoch on all ranks: Fence(), the operation on rank 0,
    Fence().
  - lock: rank 0 does Lock(1, exclusive), the operation, Unlock(1) per iteration;
    the other ranks wait in a barrier.
Operations: Put, Get, Accumulate(SUM) of 8 bytes. `warmup` untimed iterations,
then `iters` timed ones; result: mean time per iteration in microseconds on
rank 0, the best of `--reps` repetitions (default 15 of 2000 iterations, 10 when
started by the Rust bench; --quick: 3 of 500).

    mpiexec -n 2 python3 rma_latency.py [--quick] [--json] [--reps=N]

Prints one line per row, or with --json one JSON object {"put fence": us, ...}.
"""
import json
import sys

import numpy as np
from mpi4py import MPI

OPS = ("put", "get", "accumulate")
SYNCS = ("fence", "lock")


def run(comm, op, sync, iters, warmup):
    rank, size = comm.Get_rank(), comm.Get_size()
    target = 1 if size > 1 else 0
    win = MPI.Win.Allocate(8, disp_unit=8, comm=comm)
    np.frombuffer(win.tomemory(), dtype=np.float64)[:] = 0.0
    origin = np.ones(1, dtype=np.float64)
    spec = [origin, 1, MPI.DOUBLE]
    tgt = (0, 1, MPI.DOUBLE)
    if op == "put":
        do = lambda: win.Put(spec, target, tgt)
    elif op == "get":
        do = lambda: win.Get(spec, target, tgt)
    else:
        do = lambda: win.Accumulate(spec, target, tgt, MPI.SUM)
    t0 = 0.0
    comm.Barrier()
    if sync == "fence":
        for i in range(warmup + iters):
            if i == warmup:
                t0 = MPI.Wtime()
            win.Fence(0)
            if rank == 0:
                do()
            win.Fence(0)
    elif rank == 0:
        for i in range(warmup + iters):
            if i == warmup:
                t0 = MPI.Wtime()
            win.Lock(target, MPI.LOCK_EXCLUSIVE)
            do()
            win.Unlock(target)
    us = (MPI.Wtime() - t0) * 1e6 / iters
    comm.Barrier()
    win.Free()
    return us


def main():
    quick = "--quick" in sys.argv
    iters = 500 if quick else 2000
    reps = 3 if quick else 15
    for arg in sys.argv:
        if arg.startswith("--reps="):
            reps = int(arg.split("=", 1)[1])
    warmup = iters // 10
    comm = MPI.COMM_WORLD
    results = {}
    for sync in SYNCS:
        for op in OPS:
            results[f"{op} {sync}"] = min(
                run(comm, op, sync, iters, warmup) for _ in range(reps)
            )
    if comm.Get_rank() == 0:
        if "--json" in sys.argv:
            print(json.dumps(results))
        else:
            for key, us in results.items():
                print(f"{key} {us:.3f} us")


if __name__ == "__main__":
    main()
