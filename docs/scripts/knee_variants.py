"""Print the tables of docs/dge.md on the knee variants: the local-spectrum fits (chi2 / ndof, the
largest log-space pull per data set, the energy scales), the gamma-ray emissivity at 10-1000 TeV,
the spread of the variants' H, He and H + He spectra over the knee data, and the TeV data / model
ratios of every variant and of the "min" / "max" envelope (reported, never fitted).

Run from the repository root (a few minutes: one nside-128 cube per variant):
``python docs/scripts/knee_variants.py``.
"""
import warnings

import numpy as np

from gammapy_cocoons import RegionFluxSpectralModel
from gammapy_cocoons._threads import limit_blas_threads
from gammapy_cocoons.analysis.fitting import MASK_SCALES
from gammapy_cocoons.analysis.reproduce import RATIO_DATASETS
from gammapy_cocoons.datasets import load_flux_points
from gammapy_cocoons.dge.conventional import DGE_VARIANTS, conventional_dge, default_model
from gammapy_cocoons.dge.localspectra import ENERGY_SCALE_PRIORS, KNEE_VARIANTS, local_spectra

warnings.filterwarnings("ignore")
limit_blas_threads()


def short(name):
    return name.replace("_totalEnergy.txt", "").replace("_kineticEnergy.txt", "").replace("_rigidity.txt", "")


print("## Fits (log-space pulls; chi2 of the data and the energy-scale priors)\n")
names = [short(n) for n, _ in KNEE_VARIANTS["lhaaso"]]  # header: the direct data, then "knee data"
first = local_spectra("lhaaso").fit_table()
direct = [short(n) for n in first["dataset"][:6]]
print("| variant | chi2 / ndof | " + " | ".join(direct) + " | knee data (max pull each) | "
      + " | ".join(f"s({e})" for e in ENERGY_SCALE_PRIORS) + " |")
print("|---" * (4 + len(direct) + len(ENERGY_SCALE_PRIORS)) + "|")
for variant in KNEE_VARIANTS:
    spectra = local_spectra(variant)
    table = spectra.fit_table()
    cells = [f"{p:.2f}" for p in table["max_abs_pull"][:6]]
    knee = ", ".join(f"{short(n)}: {p:.2f}" for n, p in zip(table["dataset"][6:], table["max_abs_pull"][6:]))
    scales = [f"{s:.3f} ({(s - 1) / ENERGY_SCALE_PRIORS[e][0]:+.1f} sigma)" for e, s in spectra.energy_scales.items()]
    print(f"| {variant} | {spectra.chi2:.1f} / {spectra.ndof} | " + " | ".join(cells) + f" | {knee} | "
          + " | ".join(scales) + " |")

print("\n## E^2.7 q(E) [GeV^1.7 s-1 sr-1 per H atom] x 1e27, gamma rays at the Sun\n")
energy = np.array([1e4, 3e4, 1e5, 2e5, 3e5, 1e6])
print("| variant | " + " | ".join(f"{e / 1e3:g} TeV" for e in energy) + " |")
print("|---" * (1 + energy.size) + "|")
for variant in KNEE_VARIANTS:
    q = default_model(variant).emissivity(energy) * energy**2.7 * 1e27
    print(f"| {variant} | " + " | ".join(f"{v:.2f}" for v in q) + " |")

print("\n## Spread of the variants over the knee data (H, He, H + He at 0.3 / 1 / 3 / 10 PeV total energy)\n")
e = np.array([3e5, 1e6, 3e6, 1e7])
for species in ("H", "He", "light"):
    parts = ("H", "He") if species == "light" else (species,)
    values = np.array([[sum(local_spectra(v).flux_total_energy(s, e) for s in parts)] for v in KNEE_VARIANTS])[:, 0]
    print(f"{species}: max / min = " + ", ".join(f"{x:.2f}" for x in values.max(0) / values.min(0)))

print("\n## TeV data / model (median, min-max over the points; inner model x 0.65)\n")
print("| DGE | " + " | ".join(RATIO_DATASETS) + " |")
print("|---" * (1 + len(RATIO_DATASETS)) + "|")
points = {name: load_flux_points(name) for name in RATIO_DATASETS}
for variant in DGE_VARIANTS:
    model = conventional_dge(variant)
    cells = []
    for name, fp in points.items():
        flux = RegionFluxSpectralModel(model, region=fp.meta["region"], scale=MASK_SCALES.get(name, 1.0))(fp.energy_ref)
        ratio = (fp.dnde.quantity.ravel() / flux).to_value("")
        cells.append(f"{np.median(ratio):.2f} ({ratio.min():.2f}-{ratio.max():.2f})")
    print(f"| {variant} | " + " | ".join(cells) + " |")
