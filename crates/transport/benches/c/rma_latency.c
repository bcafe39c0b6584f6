/*
 * The C peer of quicklb-transport's RMA latency benchmark: the same one-sided
 * loops as benches/rma_latency.rs, in plain MPI.
 *
 * The Rust bench builds this file with `mpicc -O2 -shared -fPIC -DQLB_NO_MAIN`
 * and calls qlb_c_rma() in-process, alternating with its own loops, so both run in
 * the same processes, on the same MPI library, under the same load. Built without
 * -DQLB_NO_MAIN it is also a standalone program:
 *
 *     mpicc -O2 -o rma_latency_c rma_latency.c && mpiexec -n 2 ./rma_latency_c [iters]
 *
 * Method (OSU style): `warmup` untimed iterations, then `iters` timed ones, on a
 * window of one 8-byte double per rank allocated with MPI_Win_allocate. Rank 0 is
 * the origin, rank 1 the target (with one rank, rank 0 targets itself).
 *  - fence: every iteration is one epoch on all ranks: MPI_Win_fence(0), the
 *    operation on rank 0, MPI_Win_fence(0).
 *  - lock: rank 0 does MPI_Win_lock(EXCLUSIVE, 1), the operation,
 *    MPI_Win_unlock(1) per iteration; the other ranks wait in a barrier.
 * op: 0 = MPI_Put, 1 = MPI_Get, 2 = MPI_Accumulate(MPI_SUM).
 * Result: mean time per iteration in microseconds, on rank 0.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int rma_op(int op, double *origin, int target, MPI_Win win)
{
    switch (op) {
    case 0:
        return MPI_Put(origin, 1, MPI_DOUBLE, target, 0, 1, MPI_DOUBLE, win);
    case 1:
        return MPI_Get(origin, 1, MPI_DOUBLE, target, 0, 1, MPI_DOUBLE, win);
    default:
        return MPI_Accumulate(origin, 1, MPI_DOUBLE, target, 0, 1, MPI_DOUBLE, MPI_SUM, win);
    }
}

double qlb_c_rma(MPI_Comm comm, int op, int sync, int iters, int warmup)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int target = size > 1 ? 1 : 0;
    double *base = NULL;
    MPI_Win win;
    MPI_Win_allocate(sizeof(double), sizeof(double), MPI_INFO_NULL, comm, &base, &win);
    *base = 0.0;
    double origin = 1.0;
    double t0 = 0.0;
    MPI_Barrier(comm);
    if (sync == 0) {
        for (int i = 0; i < warmup + iters; i++) {
            if (i == warmup)
                t0 = MPI_Wtime();
            MPI_Win_fence(0, win);
            if (rank == 0)
                rma_op(op, &origin, target, win);
            MPI_Win_fence(0, win);
        }
    } else if (rank == 0) {
        for (int i = 0; i < warmup + iters; i++) {
            if (i == warmup)
                t0 = MPI_Wtime();
            MPI_Win_lock(MPI_LOCK_EXCLUSIVE, target, 0, win);
            rma_op(op, &origin, target, win);
            MPI_Win_unlock(target, win);
        }
    }
    double us = (MPI_Wtime() - t0) * 1e6 / iters;
    MPI_Barrier(comm);
    MPI_Win_free(&win);
    return us;
}

#ifndef QLB_NO_MAIN
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int iters = argc > 1 ? atoi(argv[1]) : 10000;
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *ops[] = {"put", "get", "accumulate"};
    const char *syncs[] = {"fence", "lock"};
    for (int sync = 0; sync < 2; sync++)
        for (int op = 0; op < 3; op++) {
            double us = qlb_c_rma(MPI_COMM_WORLD, op, sync, iters, iters / 10);
            if (rank == 0)
                printf("%s %s %.3f us\n", ops[op], syncs[sync], us);
        }
    MPI_Finalize();
    return 0;
}
#endif
