"""B/C with galactic and cocoon grammage, and one chi0 for cosmic rays and gamma rays (Fig. 1).

Run with ``python tutorials/03_bc_and_joint_fit.py``; the test suite runs it too.
Files are written into a new temporary directory (printed at the end).
"""
import tempfile
from pathlib import Path

import astropy.units as u
from gammapy.datasets import Datasets
from gammapy.modeling import Fit

from gammapy_cocoons import BoronCarbonModel
from gammapy_cocoons.bcfit import CosmicRayRatioDataset, build_bc_fit
from gammapy_cocoons.datasets import load_ratio
from gammapy_cocoons.fitting import build_lhaaso_fit
from gammapy_cocoons.plotting import plot_bc

outdir = Path(tempfile.mkdtemp(prefix="cocoons-bc-"))

# 1. The model: thin-disc transport + cocoons; B/C at a few rigidities, split in its two parts
model = BoronCarbonModel()  # chi0 = 0.4 g cm-2, R0 = 20 TV, exponential law (Eq. 6)
rigidity = [20, 200, 2000] * u.GV
galactic, cocoon = model.components(rigidity)
for r, g, c in zip(rigidity, galactic, cocoon):
    print(f"R = {r:6.0f}: B/C = {g + c:.4f}, of which cocoons {c / (g + c):.0%}")

# 2. AMS-02 B/C as a gammapy dataset; points below 20 GV are masked (energy losses neglected)
ams = CosmicRayRatioDataset(load_ratio("ams02-bc-2021"), models=model)
print(ams)
print(f"chi2 before the fit: {ams.stat_sum():.1f}")

# 3. The B/C fit: AMS-02 B/C + C/O; chi0, D0, delta and the source O/C free
datasets, model = build_bc_fit()
fit = Fit()
result = fit.optimize(datasets)
fit.covariance(datasets)
print(f"B/C fit: stat = {result.total_stat:.1f}, chi0 = {model.chi0.value:.2f} +- {model.chi0.error:.2f} g cm-2")

# 4. One chi0 for B/C and the LHAASO gamma rays: give the B/C model the cocoon model's Parameter
gamma, cocoons, norms = build_lhaaso_fit()
cocoons.spectral_model.chi0.value = model.chi0.value
model.chi0 = cocoons.spectral_model.chi0
model.r0 = cocoons.spectral_model.r0
joint = Datasets(list(gamma) + list(datasets))
result = Fit().optimize(joint)
print(f"joint fit: stat = {result.total_stat:.1f} "
      f"(gamma {sum(d.stat_sum() for d in gamma):.1f}, B/C {sum(d.stat_sum() for d in datasets):.1f}), "
      f"chi0 = {model.chi0.value:.2f} g cm-2, R0 = {model.r0.value:.0f} TV")

# 5. Fig. 1: B/C against rigidity (AMS-02) and kinetic energy per nucleon (DAMPE, CALET)
fig = plot_bc(model, datasets, overlay=("dampe-bc-2022", "calet-bc-2022"))
fig.savefig(outdir / "bc_ratio.png", dpi=120)
galactic, cocoon = model.components([1000] * u.GeV, quantity="kinetic_energy_per_nucleon")
print(f"cocoon share of B/C at 1 TeV/n: {cocoon[0] / (galactic[0] + cocoon[0]):.0%}; figure in {outdir}")
