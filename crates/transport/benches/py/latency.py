"""The mpi4py peer of quicklb-transport's latency benchmark (benches/latency.rs).

The same persistent ping-pong and ring loops as benches/c/latency.c, with numpy
buffers. The Rust bench starts it with MPI_Comm_spawn (2 processes) and receives
the results over the parent intercommunicator; it can also run on its own:

    mpiexec -n 2 python3 latency.py [iters_8B iters_1KiB iters_64KiB iters_1MiB reps]

Results: per size, the best (minimum) over `reps` runs of half the mean round trip
(ping-pong) and of the mean time per ring iteration, in microseconds.
"""
import sys

from mpi4py import MPI
import numpy as np

SIZES = [8, 1024, 65536, 1048576]


def pingpong(comm, sbuf, rbuf, iters, warmup):
    rank = comm.Get_rank()
    peer = 1 if rank == 0 else 0
    send = comm.Send_init(sbuf, dest=peer, tag=1)
    recv = comm.Recv_init(rbuf, source=peer, tag=1)
    comm.Barrier()
    t0 = 0.0
    for i in range(warmup + iters):
        if i == warmup:
            t0 = MPI.Wtime()
        if rank == 0:
            send.Start()
            send.Wait()
            recv.Start()
            recv.Wait()
        elif rank == 1:
            recv.Start()
            recv.Wait()
            send.Start()
            send.Wait()
    us = (MPI.Wtime() - t0) * 1e6 / (2.0 * iters)
    send.Free()
    recv.Free()
    return us


def ring(comm, sbuf, rbuf, iters, warmup):
    rank, size = comm.Get_rank(), comm.Get_size()
    reqs = [
        comm.Recv_init(rbuf, source=(rank + size - 1) % size, tag=2),
        comm.Send_init(sbuf, dest=(rank + 1) % size, tag=2),
    ]
    comm.Barrier()
    t0 = 0.0
    for i in range(warmup + iters):
        if i == warmup:
            t0 = MPI.Wtime()
        MPI.Prequest.Startall(reqs)
        MPI.Request.Waitall(reqs)
    us = (MPI.Wtime() - t0) * 1e6 / iters
    for r in reqs:
        r.Free()
    return us


def main():
    args = [int(a) for a in sys.argv[1:]]
    iters = args[:4] if len(args) >= 4 else [500, 500, 50, 5]
    reps = args[4] if len(args) >= 5 else 60
    comm = MPI.COMM_WORLD
    results = []
    for nbytes, n in zip(SIZES, iters):
        warm = n // 10 + 1
        # Buffers are allocated once per size, as on the Rust and C sides.
        sbuf = np.full(nbytes, 97, dtype=np.uint8)
        rbuf = np.zeros(nbytes, dtype=np.uint8)
        pp = [pingpong(comm, sbuf, rbuf, n, warm) for _ in range(reps)]
        rg = [ring(comm, sbuf, rbuf, n, warm) for _ in range(reps)]
        results += [min(pp), min(rg)]
    parent = MPI.Comm.Get_parent()
    if parent != MPI.COMM_NULL:
        if comm.Get_rank() == 0:
            parent.Send(np.array(results, dtype=np.float64), dest=0, tag=77)
        parent.Disconnect()
    elif comm.Get_rank() == 0:
        print("| bytes | ping-pong (us) | ring (us) |\n|---:|---:|---:|")
        for i, nbytes in enumerate(SIZES):
            print(f"| {nbytes} | {results[2 * i]:.3f} | {results[2 * i + 1]:.3f} |")


if __name__ == "__main__":
    main()
