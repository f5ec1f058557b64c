"""Benchmark of SuperLU's column ordering in the two transport solvers (issue 25). Prints a table.

    python benchmarks/bench_solvers.py [--repeat 5]

The matrices are the ones the package factorises: the 24 box-balance systems of the radial-delta
sea (``kra_gamma_sea()``, 16 000 unknowns each, :mod:`gammapy_cocoons.physics.transport2d`) and
the 137 BDF2 steps of the embedded DGE's electron sea (2 880 unknowns,
:mod:`gammapy_cocoons.physics.diffusionloss`), captured once. Each round factorises and solves all
of them with every ordering, in turn (alternating order between rounds): the package's
(``PERMUTATION``, minimum degree on A^T + A) against SuperLU's default COLAMD, the baseline of the
same run. Medians of the rounds' CPU time, the factors' size (entries of L + U, summed) and the
largest difference of the solutions from COLAMD's, relative to each solution's maximum.
"""
import argparse
import statistics
import time

import numpy as np
from scipy.sparse import linalg


def _captured():
    """{solver: [(matrix, right-hand side)]} of the two solvers' real systems."""
    from gammapy_cocoons.dge.conventional import default_model
    from gammapy_cocoons.dge.radial_delta import RadialDeltaSea
    from gammapy_cocoons.physics import diffusionloss, transport2d

    systems = {"radial-delta sea": [], "electron sea": []}
    spsolve, splu = transport2d.linalg.spsolve, diffusionloss.splinalg.splu

    def spsolve_captured(matrix, rhs, **options):
        systems["radial-delta sea"].append((matrix, rhs))
        return spsolve(matrix, rhs, **options)

    def splu_captured(matrix, **options):
        systems["electron sea"].append((matrix, np.ones(matrix.shape[0])))
        return splu(matrix, **options)

    transport2d.linalg.spsolve, diffusionloss.splinalg.splu = spsolve_captured, splu_captured
    try:
        RadialDeltaSea()
        default_model().electron_sea.injection  # noqa: B018 (solves the sea)
    finally:
        transport2d.linalg.spsolve, diffusionloss.splinalg.splu = spsolve, splu
    return systems


def _solve_all(systems, ordering):
    start = time.process_time()
    size, solutions = 0, []
    for matrix, rhs in systems:
        factors = linalg.splu(matrix, permc_spec=ordering)
        solutions.append(factors.solve(rhs))
        size += factors.L.nnz + factors.U.nnz
    return time.process_time() - start, size, solutions


def main():
    from gammapy_cocoons.physics import transport2d

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    orderings = (transport2d.PERMUTATION, "COLAMD")
    print(f"# SuperLU orderings: CPU medians of {args.repeat} rounds")
    print(f"{'systems':28s} {'ordering':14s} {'CPU':>8s} {'L+U entries':>12s} {'max rel diff':>13s}")
    for name, systems in _captured().items():
        times, fill, solutions = {o: [] for o in orderings}, {}, {}
        for k in range(args.repeat):
            for ordering in (orderings if k % 2 == 0 else orderings[::-1]):
                seconds, fill[ordering], solutions[ordering] = _solve_all(systems, ordering)
                times[ordering].append(seconds)
        diff = max(np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(*solutions.values()))
        for ordering in orderings:
            note = f"{diff:13.1e}" if ordering != "COLAMD" else f"{'(baseline)':>13s}"
            print(f"{name + f' ({len(systems)})':28s} {ordering:14s} {statistics.median(times[ordering]):7.2f}s "
                  f"{fill[ordering]:12d} {note}")


if __name__ == "__main__":
    main()
