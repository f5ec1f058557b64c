"""Benchmark of region integrals of maps (issue 24 item 1, issue 25). Prints a table of medians.

    python benchmarks/bench_regions.py [--repeat 3] [--before main] [--skip-slow]

"before" is the previous implementation (models/region.py of git revision ``--before``, loaded from
git into this process), "after" the package's :func:`~gammapy_cocoons.pixelweights.region_integral`,
on the same maps in the same run: once uncached (first call for a geometry and region) and once
cached. Every map is constant, 1 cm-2 s-1 TeV-1 sr-1, so the error of each rule is its integral
over the region's solid angle minus one (the property of issue 24 item 1). Rows:

* Galactic HEALPix nside 256 (20 energies): LHAASO inner, LHAASO outer, LHAASO inner without three
  source discs (circles), a 10 deg box at b = 60 deg;
* the same in the ICRS frame (the HERMES ``COORDSYS = C`` case);
* Galactic CAR 0.125 deg full-sky cube (20 energies): LHAASO inner, a box at b = 60 deg, and the
  whole sky. The "before" rule resamples the sky on a 0.05 deg grid at every energy: for the whole
  sky it runs in a separate process limited to 6 GB of address space (it needs more than 24 GB
  and was killed by the system), ``--skip-slow`` leaves it out;
* peak memory (tracemalloc) of each call.
"""
import argparse
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import astropy.units as u  # noqa: E402
from astropy.coordinates import SkyCoord  # noqa: E402
from gammapy.maps import HpxGeom, Map, MapAxis, WcsGeom  # noqa: E402
from gammapy.modeling.models import TemplateSpatialModel  # noqa: E402
from regions import CircleSkyRegion, RectangleSkyRegion  # noqa: E402

import gammapy_cocoons.pixelweights as pixelweights  # noqa: E402
from gammapy_cocoons.physics.lineofsight import solid_angle  # noqa: E402
from gammapy_cocoons.skyregions import LHAASO_INNER, LHAASO_OUTER, mask_out, to_lb_region  # noqa: E402


def load_before(revision):
    """models/region.py of ``revision`` as a module of this package (its imports resolve here)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:gammapy_cocoons/models/region.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("gammapy_cocoons.models._region_before")
    sys.path.insert(0, str(ROOT))
    module.__package__ = "gammapy_cocoons.models"
    exec(compile(source, "region_before.py", "exec"), module.__dict__)
    return module


def measure(function, repeat):
    """(median seconds, peak MB of the first call, result)."""
    tracemalloc.start()
    start = time.perf_counter()
    result = function()
    first = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    times = [first] + [timeit(function) for _ in range(repeat - 1)]
    return statistics.median(times), peak / 2**20, result


WHOLE_SKY = r"""
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
sys.path.insert(0, sys.argv[1])
sys.argv = sys.argv[:1] + sys.argv[2:]
import numpy as np
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import TemplateSpatialModel
import bench_regions
before = bench_regions.load_before(sys.argv[1])
axis = MapAxis.from_energy_bounds("1 GeV", "1 PeV", 20, name="energy_true")
geom = WcsGeom.create(skydir=(0, 0), width=(360, 180), binsz=0.125, frame="galactic", proj="CAR", axes=[axis])
cube = Map.from_geom(geom, data=np.ones(geom.data_shape, dtype=np.float32), unit="cm-2 s-1 TeV-1 sr-1")
start = time.perf_counter()
try:
    value = before._pixelised_region_integral(TemplateSpatialModel(cube, normalize=False, filename="b"), None, axis.center)
    print(time.perf_counter() - start, float(np.max(np.abs(value.value / (4 * np.pi) - 1))))
except MemoryError:
    print(time.perf_counter() - start, "MemoryError")
"""


def whole_sky_before(revision):
    """(seconds, peak MB (the limit if it failed), error) of the old whole-sky rule, in a process
    limited to 6 GB."""
    out = subprocess.run([sys.executable, "-c", WHOLE_SKY, str(Path(__file__).parent), revision],
                         capture_output=True, text=True).stdout.split()
    if len(out) < 2:
        return float("nan"), 6144.0, float("nan")
    if out[1] == "MemoryError":
        print(f"(before, whole sky: MemoryError at the 6 GB limit after {float(out[0]):.3g} s)", flush=True)
        return float(out[0]), 6144.0, float("nan")
    return float(out[0]), float("nan"), float(out[1])


def timeit(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", default="main")
    parser.add_argument("--skip-slow", action="store_true")
    args = parser.parse_args()
    before = load_before(args.before)
    axis = MapAxis.from_energy_bounds("1 GeV", "1 PeV", 20, name="energy_true")
    box60 = RectangleSkyRegion(SkyCoord(30, 60, unit="deg", frame="galactic"), 10 * u.deg, 10 * u.deg)
    discs = [CircleSkyRegion(SkyCoord(l, b, unit="deg", frame="galactic"), r * u.deg)
             for l, b, r in ((40, 1, 2), (80, -1, 3), (106, 2, 1.5))]
    masked = mask_out(LHAASO_INNER, *discs)
    maps = {
        "HEALPix 256 Galactic": HpxGeom.create(nside=256, frame="galactic", axes=[axis]),
        "HEALPix 256 ICRS": HpxGeom.create(nside=256, frame="icrs", axes=[axis]),
        "CAR 0.125 deg Galactic": WcsGeom.create(skydir=(0, 0), width=(360, 180), binsz=0.125, frame="galactic",
                                                 proj="CAR", axes=[axis]),
    }
    cases = [(name, label, region) for name in maps for label, region in
             (("LHAASO inner", LHAASO_INNER), ("LHAASO outer", LHAASO_OUTER), ("inner without 3 discs", masked),
              ("10 deg box at b = 60", box60), ("whole sky", None))
             if not (name.startswith("CAR") and label in ("LHAASO outer", "inner without 3 discs"))
             and not (name.startswith("HEALPix") and label == "whole sky")]
    print(f"| map | region | before | before error | after, first call | after, cached | after error | "
          f"peak MB before / after |")
    print("|---|---|---|---|---|---|---|---|")
    for name, label, region in cases:
        geom = maps[name]
        cube = Map.from_geom(geom, data=np.ones(geom.data_shape, dtype=np.float32), unit="cm-2 s-1 TeV-1 sr-1")
        omega = 4 * np.pi if region is None else solid_angle(to_lb_region(region))

        def old():
            if geom.is_hpx:
                return before._healpix_region_integral(cube, region)
            spatial = TemplateSpatialModel(cube, normalize=False, filename="bench.fits")
            return before._pixelised_region_integral(spatial, region, axis.center)

        def new():
            return pixelweights.region_integral(cube, region)

        def new_cold():
            pixelweights._CACHE.clear()
            pixelweights._GEOMETRIES.clear()
            return new()

        if name.startswith("CAR") and label == "whole sky":
            t_old, mem_old, err_old = (float("nan"),) * 3 if args.skip_slow else whole_sky_before(args.before)
        else:
            t_old, mem_old, value = measure(old, 1 if name.startswith("CAR") else args.repeat)
            err_old = float(np.max(np.abs(u.Quantity(value).to_value("cm-2 s-1 TeV-1") / omega - 1)))
        t_cold, mem_new, value = measure(new_cold, args.repeat)
        err_new = float(np.max(np.abs(value.to_value("cm-2 s-1 TeV-1") / omega - 1)))
        t_warm = statistics.median(timeit(new) for _ in range(max(args.repeat, 3)))
        print(f"| {name} | {label} | {t_old:.3g} s | {err_old:.1e} | {t_cold:.3g} s | {1e3 * t_warm:.3g} ms | "
              f"{err_new:.1e} | {mem_old:.0f} / {mem_new:.0f} |", flush=True)


if __name__ == "__main__":
    main()
