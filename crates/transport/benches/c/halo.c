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
 * With rows > 0 the step is a whole halo exchange as a C code would write it, the
 * like-for-like peer of quicklb-stencil's MessageHalo: on a (rows+2) x (cols+2)
 * padded field, the periodic ghost columns are copied, the first and last
 * interior rows (count / 2 doubles each, corners included when count / 2 is
 * cols + 2) are packed into the send buffer before the start, and the received
 * rows are unpacked into the ghost rows after the wait. With rows = 0 it is the
 * bare ping-pong of the same messages (no packing).
 * With rows > 0 and indexed != 0 nothing is packed: the two rows go in place as
 * one message of an MPI_Type_indexed datatype of two blocks over the field, and
 * arrive straight into the ghost rows (the same message as MessageHalo's, whose
 * 9-point blocks differ only in taking the corners from the interior cells
 * that this code's ghost columns copy).
 * With fresh != 0 (and rows = 0) every step first rewrites the whole send buffer
 * (x = 0.5 x + 1), as a stencil rewrites the boundary rows a halo sends: the
 * sender's cache then holds the lines the receiver copies, freshly modified, as
 * in a real time loop (the peer sends lines nobody rewrote).
 * Result: mean seconds per step on this rank, after `warmup` untimed steps and a
 * barrier.
 */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

/* The periodic ghost columns of every interior row. */
static void ghost_columns(double *f, int rows, int cols)
{
    size_t w = (size_t)cols + 2;
    for (int r = 1; r <= rows; r++) {
        f[r * w] = f[r * w + (size_t)cols];
        f[r * w + (size_t)cols + 1] = f[r * w + 1];
    }
}

#define QLB_MAX_PEERS 8

double qlb_c_halo(MPI_Comm comm, int npeers, const int *peers, int count, int steps,
                  int warmup, int rows, int cols, int fresh, int indexed)
{
    if (npeers > QLB_MAX_PEERS || count < 0 || (rows > 0 && (npeers != 1 || count % 2 != 0)) ||
        (indexed && rows <= 0))
        return -1.0;
    size_t width = (size_t)count / 2, padded = (size_t)cols + 2;
    size_t offset = width == padded ? 0 : 1; /* corners included, or not */
    double *field = NULL;
    if (rows > 0) {
        field = malloc(sizeof(double) * ((size_t)rows + 2) * padded);
        for (size_t i = 0; i < ((size_t)rows + 2) * padded; i++)
            field[i] = (double)i;
    }
    MPI_Request reqs[2 * QLB_MAX_PEERS];
    size_t n = (size_t)(count > 0 ? count : 1);
    double *sbuf = malloc(sizeof(double) * n * (size_t)(npeers > 0 ? npeers : 1));
    double *rbuf = malloc(sizeof(double) * n * (size_t)(npeers > 0 ? npeers : 1));
    for (size_t i = 0; i < n * (size_t)npeers; i++) {
        sbuf[i] = (double)i;
        rbuf[i] = 0.0;
    }
    MPI_Datatype send_rows = MPI_DATATYPE_NULL, ghost_rows = MPI_DATATYPE_NULL;
    if (indexed) {
        /* The peer's top ghost row is this rank's last row, its bottom one the first. */
        int lengths[2] = {(int)width, (int)width};
        int sent[2] = {(int)(rows * padded + offset), (int)(padded + offset)};
        int ghosts[2] = {(int)offset, (int)(((size_t)rows + 1) * padded + offset)};
        MPI_Type_indexed(2, lengths, sent, MPI_DOUBLE, &send_rows);
        MPI_Type_indexed(2, lengths, ghosts, MPI_DOUBLE, &ghost_rows);
        MPI_Type_commit(&send_rows);
        MPI_Type_commit(&ghost_rows);
        MPI_Recv_init(field, 1, ghost_rows, peers[0], 0, comm, &reqs[0]);
        MPI_Send_init(field, 1, send_rows, peers[0], 0, comm, &reqs[1]);
    } else {
        for (int p = 0; p < npeers; p++)
            MPI_Recv_init(rbuf + (size_t)p * n, count, MPI_DOUBLE, peers[p], 0, comm, &reqs[p]);
        for (int p = 0; p < npeers; p++)
            MPI_Send_init(sbuf + (size_t)p * n, count, MPI_DOUBLE, peers[p], 0, comm,
                          &reqs[npeers + p]);
    }
    double t0 = 0.0;
    for (int i = 0; i < warmup + steps; i++) {
        if (i == warmup) {
            MPI_Barrier(comm);
            t0 = MPI_Wtime();
        }
        if (field)
            ghost_columns(field, rows, cols);
        if (field && !indexed) {
            memcpy(sbuf, field + padded + offset, width * sizeof(double));
            memcpy(sbuf + width, field + (size_t)rows * padded + offset, width * sizeof(double));
        }
        if (fresh)
            for (size_t k = 0; k < n * (size_t)npeers; k++)
                sbuf[k] = 0.5 * sbuf[k] + 1.0;
        MPI_Startall(2 * npeers, reqs);
        MPI_Waitall(2 * npeers, reqs, MPI_STATUSES_IGNORE);
        if (field && !indexed) {
            /* The peer's first row is this rank's bottom ghost row, its last the top. */
            memcpy(field + ((size_t)rows + 1) * padded + offset, rbuf, width * sizeof(double));
            memcpy(field + offset, rbuf + width, width * sizeof(double));
        }
    }
    double per_step = (MPI_Wtime() - t0) / (steps > 0 ? steps : 1);
    for (int r = 0; r < 2 * npeers; r++)
        MPI_Request_free(&reqs[r]);
    if (indexed) {
        MPI_Type_free(&send_rows);
        MPI_Type_free(&ghost_rows);
    }
    free(sbuf);
    free(rbuf);
    free(field);
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
    double t = qlb_c_halo(MPI_COMM_WORLD, 1, &peer, count, steps, steps / 10, 0, 0, 0, 0);
    double f = qlb_c_halo(MPI_COMM_WORLD, 1, &peer, count, steps, steps / 10, 0, 0, 1, 0);
    if (rank == 0)
        printf("%d doubles each way: %.3f us per step, %.3f us rewriting the send buffer\n",
               count, t * 1e6, f * 1e6);
    MPI_Finalize();
    return 0;
}
#endif
