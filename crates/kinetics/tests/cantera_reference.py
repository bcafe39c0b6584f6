"""Cantera reference for quicklb-kinetics: ignition delay (time of max dT/dt) of an
adiabatic constant-pressure reactor, equilibrium temperature (equilibrate('HP')),
and the wall time of one ignition with ReactorNet.advance.

Prints one JSON object per line. Used by tests/cantera.rs and benches/ignition.rs.

    python3 cantera_reference.py MECH --mixture "H2:2, O2:1, N2:3.76" \
        --temperatures 1000 1100 1200 [--pressure 101325] [--t-end 0.01]
        [--rtol 1e-10 --atol 1e-20] [--time REPEATS]
"""

import argparse
import json
import time

import cantera as ct


def make_reactor(gas):
    try:
        return ct.IdealGasConstPressureReactor(gas, clone=False)
    except TypeError:  # Cantera before 3.2 has no `clone`
        return ct.IdealGasConstPressureReactor(gas)


def dtdt(gas):
    """dT/dt of the adiabatic constant-pressure reactor at the gas state."""
    wdot = gas.net_production_rates  # kmol/m^3/s
    h = gas.partial_molar_enthalpies  # J/kmol
    return -float((h * wdot).sum()) / (gas.density * gas.cp_mass)


def parabola_peak(p0, p1, p2):
    """Vertex of the parabola through three (t, d) points, p1 the largest."""
    u0, u2 = p0[0] - p1[0], p2[0] - p1[0]
    if not (u0 < 0.0 < u2):
        return p1[0]
    s0 = (p0[1] - p1[1]) / u0
    s2 = (p2[1] - p1[1]) / u2
    alpha = (s0 - s2) / (u0 - u2)
    if not alpha < 0.0:
        return p1[0]
    beta = s0 - alpha * u0
    return p1[0] + min(max(-beta / (2.0 * alpha), u0), u2)


def ignition(mech, mixture, t0, p, t_end, rtol, atol):
    gas = ct.Solution(mech)
    gas.TPX = t0, p, mixture
    r = make_reactor(gas)
    net = ct.ReactorNet([r])
    net.rtol, net.atol = rtol, atol
    points = [(0.0, dtdt(gas))]
    while net.time < t_end:
        net.step()
        points.append((net.time, dtdt(gas)))
    i = max(range(len(points)), key=lambda j: points[j][1])
    if 0 < i < len(points) - 1:
        delay = parabola_peak(points[i - 1], points[i], points[i + 1])
    else:
        delay = points[i][0]
    return delay, gas.T, len(points) - 1


def equilibrium(mech, mixture, t0, p):
    gas = ct.Solution(mech)
    gas.TPX = t0, p, mixture
    gas.equilibrate("HP")
    return gas.T


def timed_advance(mech, mixture, t0, p, t_end, rtol, atol, repeats):
    """Best wall time of one full ignition: ReactorNet.advance(t_end) from a fresh reactor
    (and the mean CPU time of this thread per ignition, which load from other processes
    does not inflate)."""
    gas = ct.Solution(mech)
    best = float("inf")
    cpu = 0.0
    steps = 0
    for _ in range(repeats):
        gas.TPX = t0, p, mixture
        r = make_reactor(gas)
        net = ct.ReactorNet([r])
        net.rtol, net.atol = rtol, atol
        start = time.perf_counter()
        cpu_start = time.thread_time()
        net.advance(t_end)
        cpu += time.thread_time() - cpu_start
        best = min(best, time.perf_counter() - start)
        try:
            steps = int(net.solver_stats["steps"])
        except Exception:  # noqa: BLE001 - stats are informative only
            steps = -1
    return best, gas.T, steps, cpu / repeats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mechanism")
    ap.add_argument("--mixture", required=True)
    ap.add_argument("--temperatures", type=float, nargs="+", required=True)
    ap.add_argument("--pressure", type=float, default=ct.one_atm)
    ap.add_argument("--t-end", type=float, default=0.01)
    ap.add_argument("--rtol", type=float, default=1e-10)
    ap.add_argument("--atol", type=float, default=1e-20)
    ap.add_argument("--time", type=int, default=0, help="time ReactorNet.advance, best of N")
    a = ap.parse_args()
    for t0 in a.temperatures:
        out = {"mechanism": a.mechanism, "T0": t0, "cantera": ct.__version__}
        if a.time:
            secs, t_final, steps, cpu = timed_advance(
                a.mechanism, a.mixture, t0, a.pressure, a.t_end, a.rtol, a.atol, a.time
            )
            out.update(seconds=secs, final_temperature=t_final, steps=steps, cpu_seconds=cpu)
        else:
            delay, t_final, steps = ignition(
                a.mechanism, a.mixture, t0, a.pressure, a.t_end, a.rtol, a.atol
            )
            out.update(
                delay=delay,
                final_temperature=t_final,
                steps=steps,
                equilibrium_temperature=equilibrium(a.mechanism, a.mixture, t0, a.pressure),
            )
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
