"""Benchmark of the discrete cocoon population (issue 17). Prints a table of medians.

    python benchmarks/bench_population.py [--repeat 3]

Rows:
* 1000 realisations of the fiducial population (about 8400 cocoons each, n_gas = 1 cm-3,
  radius 30 pc): sampling, then all-sky, LHAASO inner and outer fluxes at 20 energies; target
  under 5 s in total and under 1 GB (peak memory of a fresh process).
* one realisation's HEALPix nside 256 cube with 20 energies: target under 3 s.
* baseline (same run): the same all-sky fluxes by a direct sum over the cocoons of their
  spectra (each cocoon's spectrum from the age table, no histogram), for 100 realisations.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

COLD = r"""
import json, resource, time
import numpy as np, astropy.units as u
from gammapy_cocoons import LHAASO_INNER, LHAASO_OUTER
from gammapy_cocoons.population import CocoonPopulation
pop = CocoonPopulation(seed=1)
energy = np.geomspace(1, 1000, 20) * u.TeV
pop.emission.production(energy)  # the cross-section kernel, built once per energy set
start = time.perf_counter()
sample = pop.realise(1000)
realised = time.perf_counter()
for region in (None, LHAASO_INNER, LHAASO_OUTER):
    sample.flux(energy, region)
done = time.perf_counter()
print(json.dumps({"realise": realised - start, "fluxes": done - realised, "total": done - start,
                  "cocoons": int(sample.n_alive.sum()),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cold():
    out = subprocess.run([sys.executable, "-c", COLD], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cube_and_baseline(repeat):
    import numpy as np
    import astropy.units as u
    from gammapy.maps import HpxGeom, MapAxis

    from gammapy_cocoons.population import CocoonPopulation

    pop = CocoonPopulation(seed=2)
    sample = pop.realise(100)
    axis = MapAxis.from_energy_bounds(1 * u.TeV, 1000 * u.TeV, 20, name="energy_true")
    geom = HpxGeom.create(nside=256, frame="galactic", axes=[axis])
    sample.cube(geom, 0)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sample.cube(geom, 0)
        times.append(time.perf_counter() - start)
    energy = axis.center
    start = time.perf_counter()
    fast = sample.flux(energy)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    per_cocoon = sample.cocoon_flux(energy).to_value("cm-2 s-1 TeV-1")
    direct = np.zeros((sample.n, energy.size))
    np.add.at(direct, sample.realisation, per_cocoon)
    t_direct = time.perf_counter() - start
    fast = fast.to_value("cm-2 s-1 TeV-1")
    scale = np.max(np.abs(direct), axis=0)
    lit = scale > 0  # energies where some realisation holds cocoons that emit
    error = float(np.max(np.abs(fast - direct)[:, lit] / scale[lit]))
    return statistics.median(times), t_fast, t_direct, error


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [cold() for _ in range(args.repeat)]
    cube, t_fast, t_direct, error = cube_and_baseline(args.repeat)
    rows = [
        ("1000 realisations: sampling (~8.4e6 cocoons)", f"{statistics.median(r['realise'] for r in runs):.2f} s", ""),
        ("  all-sky + inner + outer fluxes, 20 energies", f"{statistics.median(r['fluxes'] for r in runs):.2f} s", ""),
        ("  total", f"{statistics.median(r['total'] for r in runs):.2f} s", "< 5 s"),
        ("  peak memory of that process", f"{statistics.median(r['maxrss_mb'] for r in runs):.0f} MB", "< 1 GB"),
        ("one realisation's HEALPix nside 256 cube, 20 energies", f"{cube:.2f} s", "< 3 s"),
        ("all-sky fluxes of 100 realisations, histogram over the age table", f"{t_fast * 1e3:.0f} ms", ""),
        ("  the same by a direct sum over cocoons (baseline, same run)",
         f"{t_direct * 1e3:.0f} ms (max difference {error:.1e})", ""),
    ]
    print(f"{'measurement':66s} {'median':>26s} {'target':>8s}")
    for name, value, target in rows:
        print(f"{name:66s} {value:>26s} {target:>8s}")


if __name__ == "__main__":
    main()
