"""Benchmark of the B/C model and fits (issue 7). Prints a table of medians.

    python benchmarks/bench_bc.py [--repeat 7]

Rows:
* one B/C evaluation: BoronCarbonModel at the 67 AMS-02 rigidities after a parameter change
  (what the fit calls), and the same densities by a per-energy dense linear solve of the
  steady-state system (baseline, same run; it must agree to 1e-10).
* the B/C fit (AMS-02 B/C + C/O, 4 free parameters, with covariance) and the joint fit with the
  LHAASO points (after the DGE is built).
"""
import argparse
import statistics
import time

import numpy as np

from gammapy_cocoons.bcfit import fit_bc, joint_fit
from gammapy_cocoons.datasets import load_ratio
from gammapy_cocoons.models.ratio import BoronCarbonModel
from gammapy_cocoons.physics.spallation import NUCLEI
from gammapy_cocoons.physics.transport import kinetic_energy_per_nucleon, rigidity_of


def dense_solve(network, t_n):
    """Densities by one dense 5 x 5 solve per energy (the direct method)."""
    names = network.species
    beta = np.sqrt(1 - (0.931494 / (t_n + 0.931494)) ** 2)
    out = np.zeros((len(t_n), len(names)))
    for k, t in enumerate(t_n):
        matrix = np.zeros((len(names), len(names)))
        rhs = np.zeros(len(names))
        for i, name in enumerate(names):
            x = network.transport.grammage(rigidity_of(t, NUCLEI[name].mass_to_charge), beta[k])
            matrix[i, i] = 1 / x + network._inelastic[name]
            for j, parent in enumerate(names):
                matrix[i, j] -= network._partial.get((parent, name), 0.0)
            if name in network.primaries:
                rigidity = rigidity_of(t, 2.0)
                injection = network.abundances[name] * rigidity**-network.injection_index * 2.0 / beta[k] ** 2
                chi = network.cocoon_grammage(rigidity)
                sigma = network._inelastic[name]
                rhs[i] += injection * np.exp(-chi * sigma)
                for f, fragment in enumerate(names):
                    rhs[f] += injection * network._partial.get((name, fragment), 0.0) / sigma * -np.expm1(-chi * sigma)
        out[k] = np.linalg.solve(matrix, rhs)
    return out


def median_time(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    model = BoronCarbonModel()
    rigidity = load_ratio("ams02-bc-2021")["x"]
    values = iter(np.linspace(0.3, 0.5, 1000))

    def evaluate():
        model.chi0.value = next(values)
        model.evaluate(rigidity)

    t_eval = median_time(evaluate, 50 * args.repeat)
    network = model.network()
    t_n = kinetic_energy_per_nucleon(rigidity.to_value("GV"), 2.0)
    t_dense = median_time(lambda: dense_solve(network, t_n), args.repeat)
    dense = dense_solve(network, t_n)
    fast = network.densities(t_n)
    error = np.max(np.abs(np.array([sum(fast[n]) for n in network.species]).T / dense - 1))
    t_fit = median_time(lambda: fit_bc(profile=False), args.repeat)
    joint_fit()  # builds and caches the DGE
    t_joint = median_time(joint_fit, max(3, args.repeat // 2))
    rows = [
        ("one B/C evaluation, 67 AMS-02 rigidities, after a parameter change", f"{t_eval * 1e3:.2f} ms", "< 5 ms"),
        ("same densities by a dense 5x5 solve per energy (baseline, same run)",
         f"{t_dense * 1e3:.1f} ms (max difference {error:.1e})", ""),
        ("B/C fit: AMS-02 B/C + C/O, 4 free parameters, covariance and chi0 = 0 refit", f"{t_fit:.2f} s", "< 10 s"),
        ("joint fit with LHAASO inner + outer (DGE cached), covariance", f"{t_joint:.2f} s", ""),
    ]
    print("| measurement | median | target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
