"""Benchmark of the B/C model and fits (issues 7 and 16). Prints a table of medians.

    python benchmarks/bench_bc.py [--repeat 7]

Rows:
* one B/C evaluation: BoronCarbonModel at the 67 AMS-02 2018 energies (the paper set-up's data)
  after a parameter change (what the fit calls), the full network of 80 isotopes; and the same
  densities by a dense linear solve per energy of the steady-state system (baseline, same run;
  it must agree to 1e-10).
* the B/C fit (paper set-up: AMS-02 B/C 2018 + C/O, 3 free parameters, with covariance), the
  ``bc`` command's work (fit, chi0 profile, variants), and the joint fit with the LHAASO points
  (after the DGE is built). Peak memory of the process is printed at the end.
"""
import argparse
import resource
import statistics
import time

import numpy as np

from gammapy_cocoons.analysis.bcfit import bc_variants, fit_bc, joint_fit
from gammapy_cocoons.datasets import load_ratio
from gammapy_cocoons.models.ratio import BoronCarbonModel


def dense_solve(network, t_n):
    """Densities (galactic + cocoon) by one dense solve per energy of the same linear system."""
    matrix, source = network.linear_system(t_n)
    return np.linalg.solve(matrix, source.sum(axis=0).T[..., None])[..., 0]


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
    energy = load_ratio("ams02-bc-2018")["x"]
    values = iter(np.linspace(0.3, 0.5, 10000))

    def evaluate():
        model.chi0.value = next(values)
        model.evaluate(energy, quantity="kinetic_energy_per_nucleon")

    t_eval = median_time(evaluate, 50 * args.repeat)
    network = model.network()
    t_n = energy.to_value("GeV")
    t_dense = median_time(lambda: dense_solve(network, t_n), args.repeat)
    dense = dense_solve(network, t_n)
    fast = network.densities(t_n)
    solved = np.array([sum(fast[n]) for n in network.species]).T
    error = np.max(np.abs(solved - dense) / np.abs(dense).max(axis=1, keepdims=True))
    t_fit = median_time(lambda: fit_bc(profile=False), args.repeat)
    t_profile = median_time(lambda: fit_bc(profile=True), 1)
    t_variants = median_time(bc_variants, 1)
    joint_fit()  # builds and caches the DGE
    t_joint = median_time(joint_fit, max(3, args.repeat // 2))
    rows = [
        ("one B/C evaluation, 67 AMS-02 energies, 80 isotopes, after a parameter change",
         f"{t_eval * 1e3:.2f} ms", "< 5 ms"),
        ("same densities by a dense 80x80 solve per energy (baseline, same run)",
         f"{t_dense * 1e3:.1f} ms (max difference {error:.1e})", ""),
        ("B/C fit, paper set-up: 3 free parameters, covariance and chi0 = 0 refit", f"{t_fit:.2f} s", "< 10 s"),
        ("the same with the chi0 profile (13 refits)", f"{t_profile:.1f} s", ""),
        ("the three variants (delta free, 2021 data, correlated systematics)", f"{t_variants:.1f} s", ""),
        ("joint fit with LHAASO inner + outer (DGE cached), covariance", f"{t_joint:.2f} s", ""),
    ]
    print("| measurement | median | target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
