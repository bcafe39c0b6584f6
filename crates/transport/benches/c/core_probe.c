/*
 * The machine-state probe of quicklb-transport's 2-rank halo benchmark
 * (benches/halo.rs): the round trip of one cache line between the two ranks'
 * cores, with no MPI in the loop.
 *
 * On the 2-vCPU VM this project is measured on, that round trip is either
 * about 100 ns or about 450 ns, and switches between the two over tens of
 * seconds (where the host runs the two vCPUs; it is not a property of the
 * process). Every figure of the halo bench moves with it, messages more than
 * C messages, so the bench prints it beside them.
 *
 * Built like halo.c (`mpicc -O2 -shared -fPIC -DQLB_NO_MAIN`) and called
 * in-process through dlopen. qlb_core_round_trip(comm, rounds, trips) is
 * collective over the two ranks of `comm` (both on one node): rank 0 sets a
 * flag in a shared window to an odd value, rank 1 answers with the next even
 * one, `trips` times per round. Result: the best round's nanoseconds per round
 * trip on rank 0 (0 on rank 1), or a negative value if `comm` does not have
 * exactly two ranks on one node.
 */
#include <mpi.h>

double qlb_core_round_trip(MPI_Comm comm, int rounds, int trips)
{
    int size, rank, ok = 1, all_ok = 0;
    MPI_Comm node;
    MPI_Comm_size(comm, &size);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    int node_size;
    MPI_Comm_size(node, &node_size);
    ok = size == 2 && node_size == 2;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    if (!all_ok) {
        MPI_Comm_free(&node);
        return -1.0;
    }
    /* One cache line of rank 0, mapped by both. */
    int *flag;
    MPI_Win win;
    MPI_Win_allocate_shared(rank == 0 ? 64 : 0, 1, MPI_INFO_NULL, node, &flag, &win);
    MPI_Aint bytes;
    int unit;
    MPI_Win_shared_query(win, 0, &bytes, &unit, &flag);
    if (rank == 0)
        __atomic_store_n(flag, 0, __ATOMIC_RELEASE);
    MPI_Barrier(node);
    double best = -1.0;
    int value = 0;
    for (int r = 0; r < rounds; r++) {
        MPI_Barrier(node);
        double t0 = MPI_Wtime();
        for (int i = 0; i < trips; i++) {
            if (rank == 0) {
                __atomic_store_n(flag, value + 1, __ATOMIC_RELEASE);
                while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != value + 2)
                    ;
            } else {
                while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != value + 1)
                    ;
                __atomic_store_n(flag, value + 2, __ATOMIC_RELEASE);
            }
            value += 2;
        }
        double ns = (MPI_Wtime() - t0) * 1e9 / (trips > 0 ? trips : 1);
        if (best < 0.0 || ns < best)
            best = ns;
    }
    MPI_Barrier(node);
    MPI_Win_free(&win);
    MPI_Comm_free(&node);
    return rank == 0 ? best : 0.0;
}

#ifndef QLB_NO_MAIN
#include <stdio.h>
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    double ns = qlb_core_round_trip(MPI_COMM_WORLD, 200, 1000);
    if (rank == 0)
        printf("core-to-core round trip: %.0f ns\n", ns);
    MPI_Finalize();
    return ns < 0.0;
}
#endif
