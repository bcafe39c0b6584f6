"""Peers of the Rust stencil benchmark: numpy slicing and scipy convolve2d.

Usage: python3 stencil_numpy.py [--quick] N [N ...]
Prints one JSON object per line: {"n": N, "numpy5": Mcell/s, "scipy5": Mcell/s,
"scipy9": Mcell/s, "copy": Mcell/s}. Exits with status 2 if numpy is absent.
"""

import json
import sys
import time

try:
    import numpy as np
except ImportError:
    print("numpy not installed", file=sys.stderr)
    sys.exit(2)
try:
    from scipy.signal import convolve2d
except ImportError:
    convolve2d = None


def best_rate(fn, cells, min_time):
    """Best Mcell/s over several timed batches of calls."""
    fn()
    number = 1
    while True:
        t = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t
        if dt >= min_time / 5 or number > 1 << 20:
            break
        number *= 2
    best = dt / number
    # Calls of a second or more (scipy at 4096²) get fewer repeats, to keep the
    # full run within its time budget.
    for _ in range(4 if best < 0.5 else 2):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return cells / best / 1e6


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    sizes = [int(a) for a in args if a != "--quick"]
    min_time = 0.05 if quick else 0.5
    rng = np.random.default_rng(1)
    k5 = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    k9 = np.array([[0.05, 0.2, 0.05], [0.2, -1.0, 0.2], [0.05, 0.2, 0.05]])
    for n in sizes:
        a = rng.random((n + 2, n + 2))
        inner = np.ascontiguousarray(a[1:-1, 1:-1])
        out = np.empty_like(inner)
        cells = n * n
        row = {"n": n}
        # The QUICKLB example's expression (allocates its result, as written there).
        row["numpy5"] = best_rate(
            lambda: a[:-2, 1:-1] + a[1:-1, :-2] - 4 * a[1:-1, 1:-1] + a[1:-1, 2:] + a[2:, 1:-1],
            cells,
            min_time,
        )
        if convolve2d is not None:
            row["scipy5"] = best_rate(lambda: convolve2d(inner, k5, boundary="wrap", mode="same"), cells, min_time)
            row["scipy9"] = best_rate(lambda: convolve2d(inner, k9, boundary="wrap", mode="same"), cells, min_time)
        row["copy"] = best_rate(lambda: np.copyto(out, inner), cells, min_time)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
