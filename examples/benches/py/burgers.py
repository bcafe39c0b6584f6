"""Peer of the burgers benchmark: the same solve in numpy, and three SVDs of
the same snapshot matrix (read from the .npy the Rust benchmark wrote):
numpy.linalg.svd (the full thin SVD), scipy.sparse.linalg.svds with k = 4
(ARPACK: the first 4 modes only, as Rust computes) and a randomized SVD
(Halko, Martinsson and Tropp: a range finder of k + 8 columns and one power
iteration, which brings the first 4 singular values to machine precision
like Rust's tolerance; Rust's block Krylov SVD uses blocks of k = 4 columns).

Each SVD is timed two ways, as the Rust side times its own: repeated on the
same matrix (Rust's, loaded once), and in situ: right after a numpy solve,
on the matrix that solve just produced (as the demo analyses its snapshots
when the time stepping ends).

Prints one JSON object: the seconds of every repetition of the numpy solve
and of each SVD both ways (the Rust benchmark takes the statistic, over
several runs of this script between its own repetitions), the first four
singular values of each SVD of Rust's matrix, and how far numpy's matrix is
from Rust's.
"""
import json
import sys
import time

import numpy as np
import scipy.sparse.linalg


def solve(n=256, nu=0.01, dt=0.001, t_end=2.0):
    x = 2 * np.pi * np.arange(n) / n
    dx = 2 * np.pi / n
    u = np.sin(x)
    snapshots = []
    t = 0.0
    while t < t_end:
        up, um = np.roll(u, -1), np.roll(u, 1)
        u = u + dt * (-u * (up - um) / (2 * dx) + nu * (up - 2 * u + um) / dx**2)
        t += dt
        snapshots.append(u)
    return np.array(snapshots)


def randomized_svd(a, k=4, oversampling=8, power_iterations=1, seed=0):
    """The first k singular triplets of a by a randomized range finder."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(a @ rng.standard_normal((a.shape[1], k + oversampling)))
    for _ in range(power_iterations):
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    u, s, vt = np.linalg.svd(q.T @ a, full_matrices=False)
    return q @ u[:, :k], s[:k], vt[:k]


def svds4(a):
    u, s, vt = scipy.sparse.linalg.svds(a, k=4)
    order = np.argsort(s)[::-1]
    return u[:, order], s[order], vt[order]


def timed(f, reps):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - start)
    return times, result


def timed_in_situ(f, reps):
    """Seconds of f(matrix) right after each of reps solves, on that solve's matrix."""
    times = []
    for _ in range(reps):
        matrix = solve()
        start = time.perf_counter()
        f(matrix)
        times.append(time.perf_counter() - start)
    return times


def main():
    path, reps = sys.argv[1], int(sys.argv[2])
    rust = np.load(path)
    solve_s, mine = timed(solve, reps)
    svd_s, (_, s, _) = timed(lambda: np.linalg.svd(rust, full_matrices=False), reps)
    svds_s, (_, s_svds, _) = timed(lambda: svds4(rust), reps)
    rsvd_s, (_, s_rsvd, _) = timed(lambda: randomized_svd(rust), reps)
    svd_in_situ_s = timed_in_situ(lambda a: np.linalg.svd(a, full_matrices=False), reps)
    svds_in_situ_s = timed_in_situ(svds4, reps)
    rsvd_in_situ_s = timed_in_situ(randomized_svd, reps)
    print(json.dumps({
        "solve_s": solve_s,
        "svd_s": svd_s,
        "svds_s": svds_s,
        "rsvd_s": rsvd_s,
        "svd_in_situ_s": svd_in_situ_s,
        "svds_in_situ_s": svds_in_situ_s,
        "rsvd_in_situ_s": rsvd_in_situ_s,
        "sigma": [float(v) for v in s[:4]],
        "sigma_svds": [float(v) for v in s_svds],
        "sigma_rsvd": [float(v) for v in s_rsvd],
        "max_matrix_difference": float(np.abs(mine - rust).max()) if mine.shape == rust.shape else None,
    }))


main()
