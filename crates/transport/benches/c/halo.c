/*
 * The C peer of quicklb-transport's 2-rank halo benchmark (benches/halo.rs): the
 * messages of one halo exchange step, in plain MPI, without packing.
 *
 * The Rust bench builds this file with `mpicc -O2 -shared -fPIC -DQLB_NO_MAIN`
 * and calls qlb_c_halo() in-process, alternating with its own loops, so both run
 * in the same processes, on the same MPI library, under the same load. Built
 * without -DQLB_NO_MAIN it is also a standalone program:
 *
 *     mpicc -O2 -o halo_c halo.c && mpiexec -n 2 ./halo_c [count] [steps]
 *
 * One step: the persistent receives, then the persistent sends, of `count`
 * doubles to and from each peer (MPI_Startall over all requests, receives first,
 * as quicklb's PersistentSet orders them), then MPI_Waitall. For the 2-rank row
 * slabs of the halo bench there is one peer (the other rank) and count is both
 * ghost rows: 2 * cols (5-point) or 2 * (cols + 2) (corners included).
 * Result: mean seconds per step on this rank, after `warmup` untimed steps and a
 * barrier.
 */
#include <mpi.h>
#include <stdlib.h>

#define QLB_MAX_PEERS 8

double qlb_c_halo(MPI_Comm comm, int npeers, const int *peers, int count, int steps,
                  int warmup)
{
    if (npeers > QLB_MAX_PEERS || count < 0)
        return -1.0;
    MPI_Request reqs[2 * QLB_MAX_PEERS];
    size_t n = (size_t)(count > 0 ? count : 1);
    double *sbuf = malloc(sizeof(double) * n * (size_t)(npeers > 0 ? npeers : 1));
    double *rbuf = malloc(sizeof(double) * n * (size_t)(npeers > 0 ? npeers : 1));
    for (size_t i = 0; i < n * (size_t)npeers; i++) {
        sbuf[i] = (double)i;
        rbuf[i] = 0.0;
    }
    for (int p = 0; p < npeers; p++)
        MPI_Recv_init(rbuf + (size_t)p * n, count, MPI_DOUBLE, peers[p], 0, comm, &reqs[p]);
    for (int p = 0; p < npeers; p++)
        MPI_Send_init(sbuf + (size_t)p * n, count, MPI_DOUBLE, peers[p], 0, comm,
                      &reqs[npeers + p]);
    double t0 = 0.0;
    for (int i = 0; i < warmup + steps; i++) {
        if (i == warmup) {
            MPI_Barrier(comm);
            t0 = MPI_Wtime();
        }
        MPI_Startall(2 * npeers, reqs);
        MPI_Waitall(2 * npeers, reqs, MPI_STATUSES_IGNORE);
    }
    double per_step = (MPI_Wtime() - t0) / (steps > 0 ? steps : 1);
    for (int r = 0; r < 2 * npeers; r++)
        MPI_Request_free(&reqs[r]);
    free(sbuf);
    free(rbuf);
    return per_step;
}

#ifndef QLB_NO_MAIN
#include <stdio.h>
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int count = argc > 1 ? atoi(argv[1]) : 1024;
    int steps = argc > 2 ? atoi(argv[2]) : 10000;
    if (size != 2) {
        if (rank == 0)
            fprintf(stderr, "run with 2 ranks\n");
        MPI_Finalize();
        return 1;
    }
    int peer = 1 - rank;
    double t = qlb_c_halo(MPI_COMM_WORLD, 1, &peer, count, steps, steps / 10);
    if (rank == 0)
        printf("%d doubles each way: %.3f us per step\n", count, t * 1e6);
    MPI_Finalize();
    return 0;
}
#endif
