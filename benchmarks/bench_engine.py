"""Benchmark of the cocoon emission engine (issue 3). Prints a table of medians.

    python benchmarks/bench_engine.py [--repeat 5]

Rows:
* cold: a fresh Python process imports the package, builds CocoonEmission() and computes the
  LHAASO inner and outer intensities and the all-sky neutrino flux at 50 energies from 10 GeV
  to 1 PeV (import time reported separately; peak memory of that process).
* new spectrum: Eq. 7 re-evaluated for 30 energies after changing chi0 and R0 (cached kernel),
  and after changing the injection index (normalisation recomputed).
* baseline: the inner-region geometry of Eq. 8 by a direct method measured in the same run
  (pixel-centre sums on a 0.25 x 0.05 deg grid, trapezoid along the line of sight), with its
  error against the package's quadrature.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
import timeit

import numpy as np

COLD = r"""
import json, resource, time
t0 = time.perf_counter()
import numpy as np, astropy.units as u
from gammapy_cocoons import CocoonEmission, LHAASO_INNER, LHAASO_OUTER
t1 = time.perf_counter()
em = CocoonEmission()
energy = np.geomspace(10 * u.GeV, 1 * u.PeV, 50)
inner = em.intensity(energy, LHAASO_INNER)
outer = em.intensity(energy, LHAASO_OUTER)
nu = em.flux(energy, "nu_per_flavour")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "cold": t2 - t1,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cold(repeat):
    runs = [json.loads(subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True).stdout)
            for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def new_spectrum(repeat):
    from gammapy_cocoons import CocoonEmission
    from gammapy_cocoons.physics.grammage import ExponentialGrammage

    em = CocoonEmission()
    kernel = em.production_kernel(np.geomspace(10, 1e6, 30), "gamma")
    law = ExponentialGrammage(0.4, 2e4)
    shape = ExponentialGrammage.shape_of

    def change_grammage():
        kernel.evaluate(lambda r: 0.5 * shape(r, 3e4))

    def change_index():
        kernel.evaluate(law, indices=(4.3, 4.2))

    out = {}
    for name, fn in (("chi0, R0", change_grammage), ("injection index", change_index)):
        number = 2000
        times = timeit.repeat(fn, number=number, repeat=repeat)
        out[name] = statistics.median(times) / number
    return out


def baseline_inner():
    """Direct method: pixel-centre sum over (l, b), trapezoid in s."""
    from gammapy_cocoons.physics import lineofsight as los
    from gammapy_cocoons.physics.galaxy import SourceDistribution
    from gammapy_cocoons.skyregions import LHAASO_INNER, to_lb_region

    dist = SourceDistribution()
    t0 = time.perf_counter()
    dl, db = np.radians(0.25), np.radians(0.05)
    l = np.radians(15) + dl * (np.arange(440) + 0.5)
    b = np.radians(-5) + db * (np.arange(200) + 0.5)
    s = np.linspace(0, 20, 801)
    total = 0.0
    for li in l:
        L, B, S = li, b[:, None], s[None, :]
        rho = dist.density(los.galactocentric_radius(dist, S * np.cos(B), L), S * np.sin(B))
        total += np.sum(np.trapezoid(rho, s, axis=1) * np.cos(b)) * dl * db
    t1 = time.perf_counter()
    ours = los.sky_integral(dist, to_lb_region(LHAASO_INNER))
    t2 = time.perf_counter()
    return {"baseline_s": t1 - t0, "baseline_error": total / ours - 1, "package_s": t2 - t1}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    c = cold(args.repeat)
    n = new_spectrum(args.repeat)
    b = baseline_inner()
    print(f"# gammapy-cocoons engine benchmark, medians of {args.repeat} runs")
    print(f"{'measurement':58s} {'median':>12s} {'target':>10s}")
    print(f"{'import gammapy_cocoons (fresh process)':58s} {c['import']:11.3f}s {'':>10s}")
    print(f"{'cold: inner + outer intensities + all-sky nu, 50 energies':58s} {c['cold']:11.3f}s {'< 0.5 s':>10s}")
    print(f"{'peak memory of that process':58s} {c['maxrss_mb']:9.0f} MB {'< 1 GB':>10s}")
    for name, value in n.items():
        print(f"{'new spectrum, 30 energies, after changing ' + name:58s} {value * 1e3:10.4f}ms {'< 0.1 ms':>10s}")
    print(f"{'inner-region geometry, package quadrature (cached after)':58s} {b['package_s']:11.3f}s {'':>10s}")
    print(f"{'inner-region geometry, direct pixel sums (baseline)':58s} {b['baseline_s']:11.3f}s {'':>10s}")
    print(f"{'  baseline relative error':58s} {b['baseline_error']:12.2e} {'':>10s}")


if __name__ == "__main__":
    main()
