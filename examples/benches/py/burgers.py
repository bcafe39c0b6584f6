"""Peer of the burgers benchmark: the same solve in numpy and numpy.linalg.svd
on the same snapshot matrix (read from the .npy the Rust benchmark wrote).

Prints one JSON object: median seconds of the numpy solve and of the SVD, the
first four singular values, and how far numpy's matrix is from Rust's.
"""
import json
import sys
import time

import numpy as np


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


def median_time(f, reps):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def main():
    path, reps = sys.argv[1], int(sys.argv[2])
    rust = np.load(path)
    solve_s, mine = median_time(solve, reps)
    svd_s, (_, s, _) = median_time(lambda: np.linalg.svd(rust, full_matrices=False), reps)
    print(json.dumps({
        "solve_s": solve_s,
        "svd_s": svd_s,
        "sigma": [float(v) for v in s[:4]],
        "max_matrix_difference": float(np.abs(mine - rust).max()) if mine.shape == rust.shape else None,
    }))


main()
