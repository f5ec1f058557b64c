"""Benchmark of the gammapy models and sky templates (issue 4). Prints a table of medians.

    python benchmarks/bench_models.py [--repeat 5]

Rows:
* templates, cold: a fresh Python process builds the cocoon SkyModel and a pixel-integrated
  cube (a) on the full-plane WCS grid 360 x 20 deg at 0.1 deg with 20 energies, (b) on an
  all-sky HEALPix nside 256 grid with 20 energies; peak memory of that process.
* templates, warm: the same cubes again in one process (the geometry table is cached).
* baseline (same run): gammapy's own SpatialModel.integrate_geom rule (pixel-centre values
  x solid angle) on the full-plane WCS grid, with its error on the LHAASO-inner flux.
* spectral model: one call at 15 energies after a parameter change, against gammapy's
  ExpCutoffPowerLawSpectralModel in the same run; error band (evaluate_error, 50 energies).
* fit: gammapy Fit of RegionFluxSpectralModel (chi0, r0 free) to 15 simulated flux points,
  errors included (Fit.run computes the covariance).
* likelihood: one evaluation of the joint LHAASO fit statistic (inner + outer, embedded DGE)
  after a parameter change, with the package's SpectralFluxPointsDataset and with gammapy's
  FluxPointsDataset on the same data and models (baseline, same run).
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
import json, resource, time, sys
t0 = time.perf_counter()
import astropy.units as u
from gammapy.maps import HpxGeom, MapAxis, WcsGeom
from gammapy.modeling.models import SkyModel
from gammapy_cocoons import CocoonSpatialModel, CocoonSpectralModel
from gammapy_cocoons.templates import make_cube
axis = MapAxis.from_energy_bounds("1 GeV", "1 PeV", 20, name="energy_true")
t1 = time.perf_counter()
sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="cocoons")
if sys.argv[1] == "wcs":
    geom = WcsGeom.create(skydir=(0, 0), width=(360, 20), binsz=0.1, frame="galactic", proj="CAR", axes=[axis])
else:
    geom = HpxGeom.create(nside=256, frame="galactic", axes=[axis])
cube = make_cube(sky, geom, progress=False)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "cold": t2 - t1,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cold(kind, repeat):
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", COLD, kind], capture_output=True, text=True,
                                  check=True).stdout)
        for _ in range(repeat)
    ]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def warm(repeat):
    from gammapy.maps import HpxGeom, MapAxis, WcsGeom
    from gammapy.modeling.models import SkyModel

    from gammapy_cocoons import CocoonSpatialModel, CocoonSpectralModel
    from gammapy_cocoons.templates import make_cube

    axis = MapAxis.from_energy_bounds("1 GeV", "1 PeV", 20, name="energy_true")
    sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="cocoons")
    wcs = WcsGeom.create(skydir=(0, 0), width=(360, 20), binsz=0.1, frame="galactic", proj="CAR", axes=[axis])
    hpx = HpxGeom.create(nside=256, frame="galactic", axes=[axis])
    make_cube(sky, wcs, progress=False)
    out = {}
    for name, geom in (("wcs", wcs), ("hpx", hpx)):
        times = timeit.repeat(lambda: make_cube(sky, geom, progress=False), number=1, repeat=repeat)
        out[name] = statistics.median(times)
    return out


def baseline():
    """gammapy's SpatialModel.integrate_geom (pixel centres x solid angle), same grid."""
    from gammapy.maps import WcsGeom
    from gammapy.modeling.models import SpatialModel

    from gammapy_cocoons import LHAASO_INNER, CocoonEmission, CocoonSpatialModel

    model = CocoonSpatialModel()
    geom = WcsGeom.create(skydir=(0, 0), width=(360, 20), binsz=0.1, frame="galactic", proj="CAR")
    t0 = time.perf_counter()
    centre = SpatialModel.integrate_geom(model, geom, oversampling_factor=1)
    t1 = time.perf_counter()
    exact = model.integrate_geom(geom)
    t2 = time.perf_counter()
    inner = geom.region_mask([LHAASO_INNER]).data
    em = CocoonEmission()
    truth = (em.sky_integral(LHAASO_INNER) / em.sky_integral()).to_value("")
    return {
        "baseline_s": t1 - t0,
        "baseline_error": centre.data[inner].sum() / truth - 1,
        "package_s": t2 - t1,
        "package_error": exact.data[inner].sum() / truth - 1,
    }


def spectral(repeat):
    import astropy.units as u
    from gammapy.modeling.models import ExpCutoffPowerLawSpectralModel

    from gammapy_cocoons import CocoonSpectralModel

    energy = np.geomspace(1, 100, 15) * u.TeV
    model = CocoonSpectralModel()
    model(energy)
    ecpl = ExpCutoffPowerLawSpectralModel()
    values = iter(np.tile(np.linspace(10, 50, 100), 10000))

    def cocoon_call():
        model.r0.value = next(values)
        model(energy)

    def ecpl_call():
        ecpl.index.value = 2.0 + 0.01 * next(values)
        ecpl(energy)

    out = {}
    for name, fn in (("cocoon", cocoon_call), ("ecpl", ecpl_call)):
        number = 500
        out[name] = statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number
    model.chi0.error, model.r0.error = 0.05, 4.0
    band_energy = np.geomspace(1, 100, 50) * u.TeV
    model.evaluate_error(band_energy)
    out["error_band"] = statistics.median(
        timeit.repeat(lambda: model.evaluate_error(band_energy), number=1, repeat=repeat)
    )
    return out


def fit(repeat):
    import astropy.units as u
    from astropy.table import Table
    from gammapy.datasets import FluxPointsDataset
    from gammapy.estimators import FluxPoints
    from gammapy.modeling import Fit
    from gammapy.modeling.models import SkyModel

    from gammapy_cocoons import LHAASO_INNER, CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel

    sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="cocoons")
    model = RegionFluxSpectralModel(sky, region=LHAASO_INNER)
    energy = np.geomspace(1, 40, 15) * u.TeV
    flux = model(energy)
    rng = np.random.default_rng(1)
    table = Table({"e_ref": energy, "dnde": flux * (1 + 0.05 * rng.standard_normal(15)), "dnde_err": 0.05 * flux},
                  meta={"SED_TYPE": "dnde"})
    dataset = FluxPointsDataset(data=FluxPoints.from_table(table), models=SkyModel(spectral_model=model, name="inner"))

    def run():
        sky.spectral_model.chi0.value, sky.spectral_model.r0.value = 0.2, 10.0
        result = Fit().run(dataset)
        assert result.success

    run()
    return statistics.median(timeit.repeat(run, number=1, repeat=repeat))


def likelihood(repeat):
    from gammapy.datasets import Datasets, FluxPointsDataset

    from gammapy_cocoons.analysis.fitting import build_lhaaso_fit

    thin, cocoons, _ = build_lhaaso_fit()
    plain = Datasets([FluxPointsDataset(data=d.data, models=d.models, name=f"{d.name}-gammapy") for d in thin])
    values = iter(np.linspace(0.3, 0.5, 10**6))

    def evaluate(datasets):
        cocoons.spectral_model.chi0.value = next(values)
        return datasets.stat_sum()

    out = {}
    for name, datasets in (("thin", thin), ("gammapy", plain)):
        evaluate(datasets)
        out[name] = statistics.median(timeit.repeat(lambda: evaluate(datasets), number=100, repeat=repeat)) / 100
    cocoons.spectral_model.chi0.value = 0.4
    out["difference"] = abs(thin.stat_sum() - plain.stat_sum())
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    cw = cold("wcs", args.repeat)
    ch = cold("hpx", args.repeat)
    w = warm(args.repeat)
    b = baseline()
    s = spectral(args.repeat)
    f = fit(args.repeat)
    lk = likelihood(args.repeat)
    rows = [
        ("import gammapy_cocoons + gammapy (fresh process)", f"{cw['import']:.2f} s", ""),
        ("cold: full-plane WCS cube 360x20 deg, 0.1 deg, 20 energies", f"{cw['cold']:.2f} s", "< 3 s"),
        ("  peak memory of that process", f"{cw['maxrss_mb']:.0f} MB", "< 2 GB"),
        ("cold: HEALPix nside 256 all-sky cube, 20 energies", f"{ch['cold']:.2f} s", "< 3 s"),
        ("  peak memory of that process", f"{ch['maxrss_mb']:.0f} MB", "< 2 GB"),
        ("warm: full-plane WCS cube", f"{w['wcs']:.2f} s", ""),
        ("warm: HEALPix nside 256 cube", f"{w['hpx']:.2f} s", ""),
        ("full-plane pixel integrals, package (warm)", f"{b['package_s']:.2f} s", ""),
        ("  LHAASO-inner fraction error", f"{b['package_error']:.1e}", ""),
        ("full-plane pixel integrals, gammapy pixel centres (baseline)", f"{b['baseline_s']:.2f} s", ""),
        ("  LHAASO-inner fraction error", f"{b['baseline_error']:.1e}", ""),
        ("CocoonSpectralModel call, 15 energies, after a change", f"{s['cocoon'] * 1e3:.3f} ms", ""),
        ("ExpCutoffPowerLawSpectralModel call, 15 energies (same run)", f"{s['ecpl'] * 1e3:.3f} ms", ""),
        ("  ratio", f"{s['cocoon'] / s['ecpl']:.1f}", "a few"),
        ("evaluate_error, 50 energies, 24500 samples", f"{s['error_band']:.2f} s", ""),
        ("Fit of RegionFluxSpectralModel (chi0, r0) to 15 points, with errors", f"{f:.2f} s", "< 1 s"),
        ("joint LHAASO likelihood, one evaluation, SpectralFluxPointsDataset", f"{lk['thin'] * 1e3:.2f} ms", "< 3 ms"),
        ("  the same with gammapy's FluxPointsDataset (baseline)", f"{lk['gammapy'] * 1e3:.2f} ms", ""),
        ("  statistic difference", f"{lk['difference']:.1e}", "0"),
    ]
    print(f"# gammapy-cocoons models benchmark, medians of {args.repeat} runs")
    print(f"{'measurement':68s} {'median':>10s} {'target':>8s}")
    for name, value, target in rows:
        print(f"{name:68s} {value:>10s} {target:>8s}")


if __name__ == "__main__":
    main()
