"""
The cocoons as gammapy models
=============================

The cocoons as a gammapy ``SkyModel``: region fluxes, a joint fit with gammapy's ``Fit``, YAML
round trips and FITS sky templates. Files go into ``cocoons-tutorial-02/`` in the current
directory.
"""

from pathlib import Path

import numpy as np
import astropy.units as u
from astropy.table import Table
from gammapy.datasets import Datasets, FluxPointsDataset
from gammapy.estimators import FluxPoints
from gammapy.maps import HpxGeom, Map, MapAxis, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import Models, SkyModel

from gammapy_cocoons import (
    LHAASO_INNER,
    LHAASO_OUTER,
    CocoonSpatialModel,
    CocoonSpectralModel,
    RegionFluxSpectralModel,
)
from gammapy_cocoons.templates import make_cube, write_cube

outdir = Path("cocoons-tutorial-02")
outdir.mkdir(exist_ok=True)

# %%
# A SkyModel
# ----------
# All-sky flux (spectral) times normalised morphology (spatial).

cocoons = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="cocoons")
print(cocoons.spectral_model.parameters.to_table()["name", "value", "unit", "frozen"])

# %%
# Region fluxes
# -------------
# Eq. 8 over the LHAASO regions; the region models share the cocoon Parameter objects. 0.65 is
# the paper's factor for the LHAASO source mask in the inner region.

inner = RegionFluxSpectralModel(cocoons, region=LHAASO_INNER, scale=0.65)
outer = RegionFluxSpectralModel(cocoons, region=LHAASO_OUTER)
energy = np.geomspace(1, 100, 5) * u.TeV
print("inner E^2 I [GeV cm-2 s-1 sr-1]:", (energy**2 * inner.intensity(energy)).to_value("GeV cm-2 s-1 sr-1"))

# %%
# A joint fit of simulated points
# -------------------------------
# chi0 and R0 fitted to simulated inner and outer points (tutorial 04 fits the LHAASO data).

rng = np.random.default_rng(0)


def simulated_points(model, name):
    flux = model(energy)
    table = Table({"e_ref": energy, "dnde": flux * (1 + 0.1 * rng.standard_normal(energy.size)),
                   "dnde_err": 0.1 * flux}, meta={"SED_TYPE": "dnde"})
    return FluxPointsDataset(data=FluxPoints.from_table(table), models=SkyModel(spectral_model=model, name=name),
                             name=name)


datasets = Datasets([simulated_points(inner, "inner"), simulated_points(outer, "outer")])
cocoons.spectral_model.chi0.value = 0.2
result = Fit().run(datasets)
chi0 = cocoons.spectral_model.chi0
print(f"fit success={result.success}: chi0 = {chi0.value:.3f} +- {chi0.error:.3f} g cm-2 (simulated with 0.4)")

# %%
# YAML
# ----
# Models round-trip through YAML (import gammapy_cocoons before ``Models.read``).

Models([cocoons]).write(outdir / "cocoons.yaml", overwrite=True)
print("read back:", Models.read(outdir / "cocoons.yaml")[0].spectral_model.tag[0])

# %%
# Sky templates
# -------------
# Pixel-integrated cubes on WCS and HEALPix grids, written as FITS in three conventions.

axis = MapAxis.from_energy_bounds("100 GeV", "100 TeV", 3, name="energy_true")
wcs = make_cube(cocoons, WcsGeom.create(skydir=(0, 0), width=(360, 20), binsz=0.5, frame="galactic", axes=[axis]))
hpx = make_cube(cocoons, HpxGeom.create(nside=32, frame="galactic", axes=[axis]))
for cube, name, fmt in ((wcs, "cocoons_gadf.fits", "gadf"), (wcs, "cocoons_fermi.fits", "fermi"),
                        (hpx, "cocoons_healpix.fits", "healpix")):
    path = write_cube(cube, outdir / name, format=fmt, overwrite=True)
    print(f"wrote {fmt:8s} {path}")
flux = (hpx.quantity * hpx.geom.to_image().solid_angle()).sum(axis=-1)
print("HEALPix cube flux / all-sky model flux:", (flux / cocoons.spectral_model(axis.center)).to_value(""))
print("gadf cube read back:", Map.read(outdir / "cocoons_gadf.fits").geom.data_shape)
