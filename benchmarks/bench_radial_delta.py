"""Benchmark of the radial-delta (KRA-gamma) CR sea (issue 23, item 5d). Prints a table of medians.

    python benchmarks/bench_radial_delta.py [--repeat 3]

Rows, each in a fresh process: building RadialDeltaSea() (24 rigidity nodes, a finite-volume solve
on the 0.1 x 0.05 kpc grid each) against the default Bessel-series CosmicRaySea() (4 nodes) in the
same process; one solve; the second call of kra_gamma_sea() (cached per process); the geometry of a
ConventionalDGE (HI weights, H2 tables) with each sea; peak memory.
"""
import argparse
import json
import statistics
import subprocess
import sys

COLD = r"""
import json, resource, time
t0 = time.perf_counter()
from gammapy_cocoons.dge.conventional import ConventionalDGE
from gammapy_cocoons.dge.crsea import CosmicRaySea
from gammapy_cocoons.dge.radial_delta import RadialDeltaSea, kra_gamma_sea
t = time.perf_counter(); bessel = CosmicRaySea(); t_bessel = time.perf_counter() - t
t = time.perf_counter(); sea = kra_gamma_sea(); t_kra = time.perf_counter() - t
t = time.perf_counter(); kra_gamma_sea(); t_cached = time.perf_counter() - t
t = time.perf_counter(); RadialDeltaSea(rigidity_nodes=(1e3,)); t_one = time.perf_counter() - t
t = time.perf_counter(); d = ConventionalDGE("icetop", sea=bessel); d.hi_weights, d.h2_tables; t_geo_default = time.perf_counter() - t
t = time.perf_counter(); d = ConventionalDGE("icetop", sea=sea); d.hi_weights, d.h2_tables; t_geo_kra = time.perf_counter() - t
print(json.dumps({"bessel": t_bessel, "kra": t_kra, "cached": t_cached, "one": t_one,
                  "geo_default": t_geo_default, "geo_kra": t_geo_kra,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [json.loads(subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1]) for _ in range(args.repeat)]
    m = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(f"# gammapy-cocoons radial-delta CR sea benchmark, medians of {args.repeat} fresh processes")
    rows = [
        ("kra_gamma_sea(): 24 finite-volume solves (16k unknowns each), tables", f"{m['kra']:.2f} s", "a few s"),
        ("  baseline, same run: CosmicRaySea() (Bessel series, 4 nodes)", f"{m['bessel']:.2f} s", ""),
        ("  one node (RadialDeltaSea(rigidity_nodes=(1e3,)))", f"{m['one']:.3f} s", ""),
        ("  kra_gamma_sea() again (cached per process)", f"{m['cached'] * 1e6:.1f} us", ""),
        ("ConventionalDGE geometry (HI weights, H2 tables), default sea (4 nodes)", f"{m['geo_default']:.1f} s", ""),
        ("ConventionalDGE geometry with the KRA-gamma sea (24 nodes)", f"{m['geo_kra']:.1f} s", ""),
        ("peak memory of the process", f"{m['maxrss_mb']:.0f} MB", "< 1 GB"),
    ]
    for name, value, target in rows:
        print(f"{name:78s} {value:>9s} {target:>7s}")


if __name__ == "__main__":
    main()
