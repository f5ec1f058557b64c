"""
LHAASO inner and outer: cocoons plus the diffuse emission
=========================================================

A joint fit of the LHAASO-KM2A inner and outer points with the cocoons and the embedded
conventional diffuse emission (DGE), built by hand: what ``gammapy-cocoons fit`` and
:func:`gammapy_cocoons.analysis.fitting.build_lhaaso_fit` do.
"""

import matplotlib.pyplot as plt
import astropy.units as u
from gammapy.datasets import Datasets
from gammapy.modeling import Fit
from gammapy.modeling.models import PowerLawNormSpectralModel, SkyModel

from gammapy_cocoons import CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
from gammapy_cocoons.datasets import load_flux_points
from gammapy_cocoons.dge import conventional_dge
from gammapy_cocoons.analysis.fitting import SpectralFluxPointsDataset
from gammapy_cocoons.analysis.plotting import plot_sed

# %%
# The models
# ----------
# The cocoons (the paper's fiducial values as the start) and the embedded conventional DGE
# ("base min": gas x CR sea x AAfrag, a HEALPix template; see the DGE page).

cocoons = SkyModel(spectral_model=CocoonSpectralModel(chi0=0.4 * u.Unit("g cm-2"), r0=20 * u.TV),
                   spatial_model=CocoonSpatialModel(), name="cocoons")
dge = conventional_dge("min")

# %%
# One dataset per region
# ----------------------
# The points are region fluxes (intensity x solid angle), so the model is the region integral of
# each SkyModel. The cocoon parameters and one DGE normalisation are shared by the regions (a
# PowerLawNormSpectralModel per region would give each its own); the inner predictions are
# scaled by 0.65 for the LHAASO source mask, as in the paper. ``SpectralFluxPointsDataset`` is a
# gammapy ``FluxPointsDataset`` that evaluates these spectral-only models directly, the same
# numbers at half the cost (gammapy's own builds a new ``SkyModel`` on every evaluation).

datasets, norms = [], {"all regions": PowerLawNormSpectralModel()}
for name, scale in (("inner", 0.65), ("outer", 1.0)):
    points = load_flux_points(f"lhaaso-km2a-2023-{name}")
    print(name, points.meta["reference"])
    dge_here = SkyModel(spectral_model=norms["all regions"], spatial_model=dge.spatial_model, name=f"dge-{name}")
    region = points.meta["region"]
    total = (RegionFluxSpectralModel(cocoons, region=region, scale=scale)
             + RegionFluxSpectralModel(dge_here, region=region, scale=scale))
    model = SkyModel(spectral_model=total, name=name)
    datasets.append(SpectralFluxPointsDataset(data=points, models=model, name=name))
datasets = Datasets(datasets)

# %%
# The fit
# -------
# chi0, R0 and the DGE norm with gammapy's ``Fit``.

result = Fit().run(datasets)
spectral = cocoons.spectral_model
print(f"success={result.success} stat={result.total_stat:.2f} for {sum(d.mask.sum() for d in datasets)} points")
print(f"chi0 = {spectral.chi0.value:.2f} +- {spectral.chi0.error:.2f} g cm-2, "
      f"R0 = {spectral.r0.value:.0f} +- {spectral.r0.error:.0f} TV")
for name, norm in norms.items():
    print(f"DGE norm {name}: {norm.norm.value:.2f} +- {norm.norm.error:.2f}")

# %%
# How much do the cocoons matter?
# -------------------------------
# Refit without them (chi0 = 0) and compare.

best = result.total_stat
saved = {p: p.value for p in datasets.models.parameters.unique_parameters}
spectral.chi0.value, spectral.chi0.frozen, spectral.r0.frozen = 0.0, True, True
null = Fit().optimize(datasets).total_stat
print(f"TS of the cocoons = {null - best:.1f}")
for parameter, value in saved.items():
    parameter.value = value
spectral.chi0.frozen = spectral.r0.frozen = False

# %%
# The SEDs
# --------
# With their components, per sr as in the paper's Fig. 2.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, dataset in zip(axes, datasets):
    plot_sed(ax, dataset)
fig.tight_layout()
plt.show()
