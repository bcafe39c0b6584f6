/*
 * The C peer of quicklb-transport's latency benchmark: the same persistent
 * ping-pong and ring loops as benches/latency.rs, in plain MPI.
 *
 * The Rust bench builds this file with `mpicc -O2 -shared -fPIC -DQLB_NO_MAIN`
 * and calls the two functions in-process, alternating with its own loops, so both
 * run in the same processes, on the same MPI library, under the same load.
 * Built without -DQLB_NO_MAIN it is also a standalone program:
 *
 *     mpicc -O2 -o latency_c latency.c && mpiexec -n 2 ./latency_c [iters]
 *
 * Method (OSU style): `warmup` untimed iterations, then `iters` timed ones.
 *  - ping-pong (ranks 0 and 1; other ranks idle): rank 0 starts its persistent
 *    send and waits, then starts its persistent receive and waits; rank 1 does the
 *    reverse. Result: half the mean round trip, in microseconds.
 *  - ring (all ranks): each iteration starts a persistent send to the right and a
 *    persistent receive from the left (MPI_Startall) and waits for both
 *    (MPI_Waitall). Result: mean time per iteration, in microseconds.
 * Both return the value on rank 0 (other ranks return what they measured).
 */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

/* Each loop has its own pair of buffers and its own persistent requests, created
 * when the message size (or communicator) changes and reused by every later call,
 * as the Rust side's ping-pong and ring each own their sets for all runs of a
 * size. So no run pays for fresh pages, neither loop starts on buffers the other
 * has just warmed, and no run gets freshly created requests (which made the C
 * 1 MiB ping-pong about 3 % faster than requests started run after run). */
struct qlb_loop {
    char *send, *recv;
    size_t cap;
    int bytes; /* size the requests were made for; -1: none */
    MPI_Comm comm;
    MPI_Request reqs[2]; /* receive, send */
};
static struct qlb_loop qlb_pingpong_loop = {.bytes = -1}, qlb_ring_loop = {.bytes = -1};

static void qlb_prepare(struct qlb_loop *l, MPI_Comm comm, int bytes, int from, int to, int tag)
{
    if (l->bytes == bytes && l->comm == comm)
        return;
    if (l->bytes >= 0) {
        MPI_Request_free(&l->reqs[0]);
        MPI_Request_free(&l->reqs[1]);
    }
    size_t need = bytes > 0 ? (size_t)bytes : 1;
    if (need > l->cap) {
        free(l->send);
        free(l->recv);
        l->send = malloc(need);
        l->recv = malloc(need);
        memset(l->send, 'a', need);
        memset(l->recv, 0, need);
        l->cap = need;
    }
    MPI_Recv_init(l->recv, bytes, MPI_BYTE, from, tag, comm, &l->reqs[0]);
    MPI_Send_init(l->send, bytes, MPI_BYTE, to, tag, comm, &l->reqs[1]);
    l->bytes = bytes;
    l->comm = comm;
}

double qlb_c_pingpong(MPI_Comm comm, int bytes, int iters, int warmup)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    int peer = rank == 0 ? 1 : 0;
    qlb_prepare(&qlb_pingpong_loop, comm, bytes, peer, peer, 1);
    MPI_Request *recv = &qlb_pingpong_loop.reqs[0], *send = &qlb_pingpong_loop.reqs[1];
    double t0 = 0.0;
    MPI_Barrier(comm);
    for (int i = 0; i < warmup + iters; i++) {
        if (i == warmup)
            t0 = MPI_Wtime();
        if (rank == 0) {
            MPI_Start(send);
            MPI_Wait(send, MPI_STATUS_IGNORE);
            MPI_Start(recv);
            MPI_Wait(recv, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Start(recv);
            MPI_Wait(recv, MPI_STATUS_IGNORE);
            MPI_Start(send);
            MPI_Wait(send, MPI_STATUS_IGNORE);
        }
    }
    return (MPI_Wtime() - t0) * 1e6 / (2.0 * iters);
}

double qlb_c_ring(MPI_Comm comm, int bytes, int iters, int warmup)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    qlb_prepare(&qlb_ring_loop, comm, bytes, (rank + size - 1) % size, (rank + 1) % size, 2);
    MPI_Request *reqs = qlb_ring_loop.reqs;
    double t0 = 0.0;
    MPI_Barrier(comm);
    for (int i = 0; i < warmup + iters; i++) {
        if (i == warmup)
            t0 = MPI_Wtime();
        MPI_Startall(2, reqs);
        MPI_Waitall(2, reqs, MPI_STATUSES_IGNORE);
    }
    return (MPI_Wtime() - t0) * 1e6 / iters;
}

#ifndef QLB_NO_MAIN
#include <stdio.h>
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int iters = argc > 1 ? atoi(argv[1]) : 10000;
    const int sizes[] = {8, 1024, 65536, 1048576};
    if (size < 2) {
        if (rank == 0)
            fprintf(stderr, "run with at least 2 ranks\n");
        MPI_Finalize();
        return 1;
    }
    if (rank == 0)
        printf("| bytes | ping-pong (us) | ring (us) |\n|---:|---:|---:|\n");
    for (int s = 0; s < 4; s++) {
        int n = sizes[s] > 8192 ? iters / 10 + 1 : iters;
        double pp = qlb_c_pingpong(MPI_COMM_WORLD, sizes[s], n, n / 10 + 1);
        double ring = qlb_c_ring(MPI_COMM_WORLD, sizes[s], n, n / 10 + 1);
        if (rank == 0)
            printf("| %d | %.3f | %.3f |\n", sizes[s], pp, ring);
    }
    MPI_Finalize();
    return 0;
}
#endif
