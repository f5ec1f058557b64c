"""
Your own diffuse-emission cube and your own flux points
=======================================================

The cocoons judged against a diffuse-emission (DGE) cube and flux points of your choice, end to
end. Here the "user's cube" is the embedded DGE exported to FITS and read back as a file, and the
"user's points" are a small ECSV table of intensities written by hand; with the published
DRAGON/HERMES maps or the LHAASO-WCDA points the steps are the same (see the DGE page). Files go
into ``cocoons-tutorial-07/`` in the current directory.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import astropy.units as u
from astropy.table import Table
from gammapy.maps import HpxGeom, MapAxis

from gammapy_cocoons import LHAASO_OUTER, CocoonEmission, RegionFluxSpectralModel
from gammapy_cocoons.datasets import read_flux_points
from gammapy_cocoons.dge import conventional_dge
from gammapy_cocoons.dge.select import dge_baseline
from gammapy_cocoons.analysis.fitting import build_lhaaso_fit
from gammapy_cocoons.analysis.plotting import plot_sed
from gammapy_cocoons.templates import make_cube, write_cube
from gammapy.modeling import Fit

outdir = Path("cocoons-tutorial-07")
outdir.mkdir(exist_ok=True)

# %%
# A DGE cube as a user's file
# ---------------------------
# Any gammapy map cube with an energy axis and an intensity unit will do. Here the embedded DGE
# on a HEALPix nside-64 grid, 1 TeV - 5 PeV (it must cover the points), written in gammapy's format.

axis = MapAxis.from_energy_bounds(1 * u.TeV, 5000 * u.TeV, 15, name="energy_true")
cube = make_cube(conventional_dge("min"), HpxGeom.create(nside=64, frame="galactic", axes=[axis]))
path = write_cube(cube, outdir / "my_dge.fits", format="gadf", overwrite=True)
baseline = dge_baseline(str(path))  # what --dge PATH does on the command line
print(baseline.label)

# %%
# Flux points as a user's ECSV table
# ----------------------------------
# Intensities per sr with their errors, for the LHAASO outer region. The values are made up: the
# fiducial cocoons plus 1.5 times the DGE, with 15 % scatter.

energy = np.geomspace(20, 500, 6) * u.TeV
rng = np.random.default_rng(7)
dge_outer = RegionFluxSpectralModel(baseline.min, region=LHAASO_OUTER).intensity(energy)
truth = CocoonEmission().intensity(energy, LHAASO_OUTER) + 1.5 * dge_outer
table = Table({"e_ref": energy, "dnde": truth * (1 + 0.15 * rng.standard_normal(energy.size)),
               "dnde_err": 0.15 * truth})
table.meta["reference"] = "made-up points for this tutorial (fiducial cocoons + 1.5 x DGE)"
table.write(outdir / "my_points.ecsv", format="ascii.ecsv", overwrite=True)
points = read_flux_points(outdir / "my_points.ecsv", region=LHAASO_OUTER, name="my-outer")
print(points.to_table(sed_type="dnde")["e_ref", "dnde", "dnde_errn", "dnde_errp"])

# %%
# The fit
# -------
# Cocoons + the user's DGE (one free norm) against the user's points and LHAASO-KM2A outer:
# ``gammapy-cocoons fit --dge cocoons-tutorial-07/my_dge.fits --datasets
# lhaaso-km2a-2023-outer --points cocoons-tutorial-07/my_points.ecsv:lhaaso-outer`` does the same.

datasets, cocoons, norms = build_lhaaso_fit(dge=str(path), datasets=("lhaaso-km2a-2023-outer",), points=[points])
result = Fit().run(datasets)
spectral = cocoons.spectral_model
print(f"success={result.success}, chi2 = {result.total_stat:.1f}; chi0 = {spectral.chi0.value:.2f} "
      f"+- {spectral.chi0.error:.2f} g cm-2, DGE norm {norms['all'].norm.value:.2f} +- {norms['all'].norm.error:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, dataset in zip(axes, datasets):
    plot_sed(ax, dataset, energy=np.geomspace(10, 1000, 60) * u.TeV)  # inside the cube's energies
fig.tight_layout()
plt.show()
