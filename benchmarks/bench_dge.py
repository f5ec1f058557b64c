"""Benchmark of the embedded conventional DGE (issue 5). Prints a table of medians.

    python benchmarks/bench_dge.py [--repeat 3]

The HERMES example is looked for in shared/data/ above the working directory, or in
$GAMMAPY_COCOONS_SHARED_DATA (its rows read 0 s if it is not found).

Rows: building conventional_dge("min") cold in a fresh process (the five knee fits, the CR sea at
4 rigidity nodes, the HI weights along 88k lines of sight, the CO survey's weights and pixel means,
the dark gas, the emissivities, the ISRF + CMB transmission (and, again, the
transmission alone with its line-of-sight samples cached), the five variants' nside-128 cubes and their
envelope), with peak memory; as a baseline in the same run, the same geometry with one rigidity
node (an energy-independent CR sea); the data-driven fermi_pi0_dge once the embedded model is
built; the first LHAASO inner region flux; reading the HERMES example with read_dge against
gammapy's own reader; the joint LHAASO fit with errors (one shared DGE norm; median of 3 in the
process, after the DGE is built). In other fresh processes of the same
run: conventional_dge("min", components=("pi0", "ic", "bremsstrahlung")) cold (the hadronic
build, the electron sea, the IC and bremsstrahlung cubes), with its parts, BLAS on one thread as
in the command line (multi-threaded OpenBLAS stalls on busy cores: leggauss(400) 0.02 -> 2.5 s).
"""
import argparse
import json
import statistics
import subprocess
import sys

COLD = r"""
import json, resource, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import astropy.units as u
from gammapy_cocoons import LHAASO_INNER, RegionFluxSpectralModel
from gammapy_cocoons.dge import conventional_dge, read_dge
t1 = time.perf_counter()
model = conventional_dge("min")
t2 = time.perf_counter()
from gammapy_cocoons.dge import fermi_pi0_dge
fermi_pi0_dge("min")
t_pi0 = time.perf_counter() - t2
import healpy as hp
import numpy as np
from gammapy_cocoons.dge.conventional import _DEFAULT_ENERGIES, _MAX_PATH_KPC, _variant, default_model
from gammapy_cocoons.physics.absorption import Attenuation
lon, lat = hp.pix2ang(128, np.arange(hp.nside2npix(128)), lonlat=True)
absorbed = Attenuation(_DEFAULT_ENERGIES).kappa_max * _MAX_PATH_KPC > 1e-6
t = time.perf_counter()
default_model(_variant("min")).transmission(_DEFAULT_ENERGIES[absorbed], lon, lat)
t_transmission = time.perf_counter() - t
from gammapy_cocoons.dge.conventional import ConventionalDGE
from gammapy_cocoons.dge.crsea import CosmicRaySea
t = time.perf_counter()
four = ConventionalDGE("icetop")
four.hi_weights, four.h2_tables
t_four_nodes = time.perf_counter() - t
one = ConventionalDGE("icetop", sea=CosmicRaySea(rigidity_nodes=(1e6,)))
one.hi_weights, one.h2_tables
t_one_node = time.perf_counter() - t - t_four_nodes
t2 = time.perf_counter()
RegionFluxSpectralModel(model, region=LHAASO_INNER)([1, 10, 100] * u.TeV)
t3 = time.perf_counter()
import os
from pathlib import Path
name = "models/hermes_format_example/hermes-VariableMin-pi0-Htot_CMZ_nside256.fits.gz"
roots = [os.environ.get("GAMMAPY_COCOONS_SHARED_DATA", "")]
roots += [str(p / "shared" / "data") for p in [Path.cwd(), *Path.cwd().parents]]
path = next((str(Path(r) / name) for r in roots if r and (Path(r) / name).exists()), None)
if path is not None:
    read_dge(path)
t4 = time.perf_counter()
if path is not None:
    from gammapy.modeling.models.utils import read_hermes_cube
    read_hermes_cube(path)
t5 = time.perf_counter()
from gammapy.modeling import Fit
from gammapy_cocoons.analysis.fitting import build_lhaaso_fit
datasets, cocoons, norms = build_lhaaso_fit()
datasets.stat_sum()
fits = []
for _ in range(3):
    cocoons.spectral_model.chi0.value, cocoons.spectral_model.r0.value = 0.4, 20.0
    for norm in norms.values():
        norm.norm.value = 1.0
    t = time.perf_counter()
    assert Fit().run(datasets).success
    fits.append(time.perf_counter() - t)
print(json.dumps({"import": t1 - t0, "build": t2 - t1 - t_pi0 - t_one_node - t_four_nodes - t_transmission,
                  "pi0": t_pi0, "transmission": t_transmission, "n_absorbed": int(absorbed.sum()),
                  "one_node": t_one_node, "four_nodes": t_four_nodes,
                  "region": t3 - t2, "read": t4 - t3, "gammapy_read": t5 - t4,
                  "fit": sorted(fits)[1],
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


COLD_LEPTONS = r"""
import json, resource, time, warnings
warnings.filterwarnings("ignore")
import numpy
from gammapy_cocoons._threads import limit_blas_threads
limiter = limit_blas_threads()  # BLAS on one thread, as the command line and the tests run
from gammapy_cocoons.dge import conventional_dge
from gammapy_cocoons.dge.conventional import default_model
t0 = time.perf_counter()
conventional_dge("min")
t1 = time.perf_counter()
default_model(conventional_dge.__globals__["_variant"]("min")).electron_sea._solution
t2 = time.perf_counter()
conventional_dge("min", components=("ic",))
t3 = time.perf_counter()
conventional_dge("min", components=("bremsstrahlung",))
t4 = time.perf_counter()
conventional_dge("min", components=("pi0", "ic", "bremsstrahlung"))
t5 = time.perf_counter()
print(json.dumps({"hadronic": t1 - t0, "sea": t2 - t1, "ic": t3 - t2, "brems": t4 - t3, "all": t5 - t0,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [json.loads(subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1]) for _ in range(args.repeat)]
    m = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    leptons = [json.loads(subprocess.run([sys.executable, "-c", COLD_LEPTONS], capture_output=True, text=True,
                                         check=True).stdout.strip().splitlines()[-1]) for _ in range(args.repeat)]
    lm = {key: statistics.median(r[key] for r in leptons) for key in leptons[0]}
    print(f"# gammapy-cocoons DGE benchmark, medians of {args.repeat} fresh processes")
    rows = [
        ("import gammapy_cocoons + gammapy", f"{m['import']:.2f} s", ""),
        ("cold conventional_dge('min'): fits, CR sea, HI/CO geometry, dark gas, absorption, cube", f"{m['build']:.2f} s", "< 10 s"),
        (f"  its transmission ({m['n_absorbed']:.0f} energies, nside 128), samples cached", f"{m['transmission']:.2f} s", ""),
        ("  its geometry (HI weights, H2 tables) with 4 rigidity nodes", f"{m['four_nodes']:.2f} s", ""),
        ("  baseline: the same with one node (energy-independent sea)", f"{m['one_node']:.2f} s", ""),
        ("  fermi_pi0_dge('min') once the embedded model is built", f"{m['pi0']:.2f} s", ""),
        ("  first LHAASO-inner region flux of it (3 energies)", f"{m['region']:.2f} s", ""),
        ("read_dge(HERMES example, nside 256, 18 energies)", f"{m['read']:.2f} s", ""),
        ("gammapy read_hermes_cube on the same file (baseline)", f"{m['gammapy_read']:.2f} s", ""),
        ("joint LHAASO fit (chi0, R0, one DGE norm) with errors, DGE built", f"{m['fit']:.2f} s", "< 3 s"),
        ("peak memory of the process", f"{m['maxrss_mb']:.0f} MB", "< 1 GB"),
        ("cold conventional_dge('min', components=pi0 + ic + bremsstrahlung)", f"{lm['all']:.2f} s", "< 20 s"),
        ("  its hadronic part (the default DGE, same process)", f"{lm['hadronic']:.2f} s", ""),
        ("  the electron sea (losses, (r, z, E) solve)", f"{lm['sea']:.2f} s", ""),
        ("  the IC cube (emissivities, lines of sight)", f"{lm['ic']:.2f} s", ""),
        ("  the bremsstrahlung cube (electron-weighted gas columns)", f"{lm['brems']:.2f} s", ""),
        ("  peak memory of that process", f"{lm['maxrss_mb']:.0f} MB", ""),
    ]
    for name, value, target in rows:
        print(f"{name:72s} {value:>9s} {target:>7s}")


if __name__ == "__main__":
    main()
