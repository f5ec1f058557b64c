"""Benchmark of the embedded DGE's leptonic cube data (issue 25). Prints a table of medians.

    python benchmarks/bench_leptonic.py [--repeat 5] [--nside 128]

The bremsstrahlung and inverse-Compton data of a cold ``reproduce``'s Fig. 2 (the embedded DGE's
energies on an all-sky HEALPix image), each computed as the package computes them (bremsstrahlung by
the pi0 cube's blocked computation into float32, IC rounded to float32 block by block) and, as the baseline of the same
run, as they were computed before (the whole cube in double precision, then rounded to float32: for
bremsstrahlung the HI and H2 parts, their transmitted copies and their sum; its transmission made
once per call, as the previous code made it once per cube). The inputs they share (the
electron sea, the columns, the transmission on its grid of lines of sight) are computed once before
the rounds. CPU time (user +
system) and the peak of numpy's allocations (tracemalloc) per call; medians over the rounds, the two
ways alternating. The results are checked equal bit for bit.
"""
import argparse
import tracemalloc

import numpy as np
import astropy.units as u
from gammapy.maps import HpxGeom

from _medians import cpu_seconds, print_medians
from gammapy_cocoons.dge import conventional
from gammapy_cocoons.dge.leptonic import bremsstrahlung_columns, bremsstrahlung_node_emissivities, ic_intensity


def _bremsstrahlung_baseline(model, energy, image):
    """The previous computation: whole double-precision cubes, then float32."""
    hi, h2 = bremsstrahlung_columns(model, model.electron_sea, image)
    q = bremsstrahlung_node_emissivities(model.electron_sea, energy.to_value("GeV"))
    data_hi, data_h2 = np.tensordot(q.T, hi, axes=1), np.tensordot(q.T, h2, axes=1)
    absorbed = conventional._absorbed(energy.to_value("GeV"))
    if model.absorption and np.any(absorbed):
        coords = image.get_coord().skycoord.galactic
        t_hi, t_h2 = model.transmission(energy.to_value("GeV")[absorbed], coords.l.deg, coords.b.deg)
        data_hi[absorbed] *= t_hi
        data_h2[absorbed] *= t_h2
    return (data_hi + data_h2).astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nside", type=int, default=128)
    args = parser.parse_args()
    model = conventional.ConventionalDGE()
    energy = conventional._DEFAULT_ENERGIES * u.GeV
    image = HpxGeom.create(nside=args.nside, nest=False, frame="galactic").to_image()
    coords = image.get_coord().skycoord.galactic
    lon, lat = coords.l.deg, coords.b.deg

    def ic(dtype):
        return ic_intensity(model.electron_sea, energy.value, lon, lat, absorption=model.absorption, dtype=dtype)

    ways = {
        "bremsstrahlung, through the pi0 cube's blocks": lambda: model._bremsstrahlung_data(energy, image),
        "bremsstrahlung, baseline: whole float64 cubes": lambda: _bremsstrahlung_baseline(model, energy, image),
        "IC, rounded block by block": lambda: ic(np.float32),
        "IC, baseline: float64 cube, then float32": lambda: ic(np.float64).astype(np.float32),
    }
    results = {name: way() for name, way in ways.items()}  # the shared inputs, once
    names = list(ways)
    for a, b in ((0, 1), (2, 3)):
        if not np.array_equal(results[names[a]], results[names[b]]):
            raise AssertionError(f"{names[a]} and {names[b]} differ")
    runs = {name: [] for name in ways}
    for k in range(args.repeat):
        for name in (names if k % 2 == 0 else names[::-1]):
            tracemalloc.start()
            cpu = cpu_seconds()
            ways[name]()
            runs[name].append((cpu_seconds() - cpu, tracemalloc.get_traced_memory()[1] / 2**20))
            tracemalloc.stop()
    size = results[names[0]].nbytes / 2**20
    print(f"# bench_leptonic: nside {args.nside}, {energy.size} energies (a float32 cube of {size:.0f} MB); "
          f"medians of {args.repeat} rounds; equal bit for bit")
    print_medians(("data", "CPU", "peak of numpy's allocations"), runs, ("{:.2f} s", "{:.0f} MB"))


if __name__ == "__main__":
    main()
