"""Peer of the Rust Gray-Scott benchmark: the QUICKLB example's program without
QUICKLB, in plain numpy and scipy on one process.

Each step, as in the Rust demo (examples/src/gray_scott.rs):
  LA, LB = 5-point Laplacians of A and B (np.roll, periodic);
  every cell's chemistry over one time unit with
    scipy.integrate.solve_ivp(method='BDF', rtol=1e-4)
  (default atol, finite-difference Jacobian, as the QUICKLB example);
  A += 0.1 * LA; B += 0.05 * LB.
Initial state: A = 1, B = 0, and A = 0.5, B = 0.25 in rows N/2-hr..N/2+hr and
columns N/2-hc..N/2+hc with hr = round(3N/30), hc = round(10N/30) (at least 1,
clipped), i.e. rows 12..18 and columns 5..25 at N = 30.

Usage: python3 gray_scott.py N STEPS OUT.npy
Writes A and B stacked, shape (2N, N) float64, to OUT.npy and prints one JSON
line: {"n": N, "steps": STEPS, "seconds": total, "per_step": seconds per step,
"nfev": right-hand side evaluations}. Exits with status 2 if numpy or scipy is
missing.
"""

import json
import sys
import time

try:
    import numpy as np
    from scipy.integrate import solve_ivp
except ImportError as e:
    print(f"numpy/scipy not installed: {e}", file=sys.stderr)
    sys.exit(2)

FEED, KILL = 0.0545, 0.062
D_A, D_B = 0.1, 0.05


def seed_block(n):
    half_rows = max((3 * n + 15) // 30, 1)
    half_cols = max((10 * n + 15) // 30, 1)
    c = n // 2
    return (max(c - half_rows, 0), min(c + half_rows, n)), (
        max(c - half_cols, 0),
        min(c + half_cols, n),
    )


def rhs(t, y):
    a, b = y
    ab2 = a * b * b
    return [-ab2 + FEED * (1.0 - a), ab2 - (FEED + KILL) * b]


def laplacian(u):
    return (
        np.roll(u, 1, axis=0)
        + np.roll(u, -1, axis=0)
        + np.roll(u, 1, axis=1)
        + np.roll(u, -1, axis=1)
        - 4.0 * u
    )


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(1)
    n, steps, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    a = np.ones((n, n))
    b = np.zeros((n, n))
    (r0, r1), (c0, c1) = seed_block(n)
    a[r0:r1, c0:c1] = 0.5
    b[r0:r1, c0:c1] = 0.25
    nfev = 0
    start = time.perf_counter()
    for step in range(steps):
        la = laplacian(a)
        lb = laplacian(b)
        for i in range(n):
            for j in range(n):
                sol = solve_ivp(rhs, (0.0, 1.0), [a[i, j], b[i, j]], method="BDF", rtol=1e-4)
                nfev += sol.nfev
                a[i, j], b[i, j] = sol.y[0, -1], sol.y[1, -1]
        a += D_A * la
        b += D_B * lb
        print(f"gray_scott.py: step {step + 1}/{steps}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    np.save(out, np.vstack([a, b]))
    print(
        json.dumps(
            {
                "n": n,
                "steps": steps,
                "seconds": seconds,
                "per_step": seconds / max(steps, 1),
                "nfev": nfev,
            }
        )
    )


if __name__ == "__main__":
    main()
