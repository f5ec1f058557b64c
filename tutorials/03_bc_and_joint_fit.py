"""
B/C and one chi0 for cosmic rays and gamma rays
===============================================

B/C with galactic and cocoon grammage (the paper's Fig. 1) on the nuclear network from Ni down
to B, fitted to AMS-02, then fitted jointly with the LHAASO gamma rays with one chi0 Parameter.
chi0 is the mass grammage of the cocoon gas (ISM: H + He) in both models, so one chi0 means one
gas in both terms.
"""

import matplotlib.pyplot as plt
import astropy.units as u
from gammapy.datasets import Datasets
from gammapy.modeling import Fit

from gammapy_cocoons import BoronCarbonModel
from gammapy_cocoons.analysis.bcfit import (BC_OVERLAY_DATA, CosmicRayRatioDataset, build_bc_fit,
                                            share_cocoon_parameters)
from gammapy_cocoons.datasets import load_ratio
from gammapy_cocoons.analysis.fitting import build_lhaaso_fit
from gammapy_cocoons.analysis.plotting import plot_bc

# %%
# The model
# ---------
# Thin-disc transport plus cocoons; B/C at a few rigidities, split into its two parts.

model = BoronCarbonModel()  # chi0 = 0.4 g cm-2, R0 = 20 TV, exponential law (Eq. 6)
rigidity = [20, 200, 2000] * u.GV
galactic, cocoon = model.components(rigidity)
for r, g, c in zip(rigidity, galactic, cocoon):
    print(f"R = {r:6.0f}: B/C = {g + c:.4f}, of which cocoons {c / (g + c):.0%}")

# %%
# AMS-02 B/C as a gammapy dataset
# -------------------------------
# Points below 20 GV are masked: energy losses and reacceleration are neglected.

ams = CosmicRayRatioDataset(load_ratio("ams02-bc-2021"), models=model)
print(ams)
print(f"chi2 before the fit: {ams.stat_sum():.1f}")

# %%
# The B/C fit, the paper's set-up
# -------------------------------
# AMS-02 B/C 2018 and C/O; chi0, D0 and the source O/C free, delta fixed at 0.62.

datasets, model = build_bc_fit()
fit = Fit()
result = fit.optimize(datasets)
fit.covariance(datasets)
print(f"B/C fit: chi2 = {result.total_stat:.1f}, chi0 = {model.chi0.value:.2f} +- {model.chi0.error:.2f} g cm-2")

# %%
# One chi0 for B/C and LHAASO
# ---------------------------
# The B/C model takes the cocoon model's chi0 and R0 Parameter objects.

gamma, cocoons, norms = build_lhaaso_fit()
cocoons.spectral_model.chi0.value = model.chi0.value
share_cocoon_parameters(model, cocoons.spectral_model)  # refuses two different cocoon gases
joint = Datasets(list(gamma) + list(datasets))
result = Fit().optimize(joint)
print(f"joint fit: stat = {result.total_stat:.1f} "
      f"(gamma {sum(d.stat_sum() for d in gamma):.1f}, B/C {sum(d.stat_sum() for d in datasets):.1f}), "
      f"chi0 = {model.chi0.value:.2f} g cm-2, R0 = {model.r0.value:.0f} TV")

# %%
# Fig. 1
# ------
# B/C against kinetic energy per nucleon as the paper draws it, and the rigidity view.

fig = plot_bc(model, datasets, overlay=BC_OVERLAY_DATA, views=("kinetic_energy_per_nucleon", "rigidity"))
plt.show()
galactic, cocoon = model.components([1000] * u.GeV, quantity="kinetic_energy_per_nucleon")
print(f"cocoon share of B/C at 1 TeV/n: {cocoon[0] / (galactic[0] + cocoon[0]):.0%}")
