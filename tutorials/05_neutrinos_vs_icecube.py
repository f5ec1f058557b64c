"""
Neutrinos against IceCube
=========================

Neutrinos from the cocoons and the diffuse emission against IceCube's Galactic-plane fits.
``gammapy-cocoons reproduce`` draws the same comparison as the paper's Fig. B.1.
"""

import matplotlib.pyplot as plt
import numpy as np
import astropy.units as u
from gammapy.modeling.models import SkyModel

from gammapy_cocoons import CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
from gammapy_cocoons.datasets import load_band
from gammapy_cocoons.dge import conventional_dge

energy = np.geomspace(300 * u.GeV, 300 * u.TeV, 40)
e2 = "GeV cm-2 s-1"

# %%
# The models
# ----------
# The same models as for gamma rays with ``secondary="nu_per_flavour"``: nu + anti-nu of one
# flavour at Earth, after oscillations (1:1:1), IceCube's convention.

cocoons = SkyModel(spectral_model=CocoonSpectralModel(secondary="nu_per_flavour"),
                   spatial_model=CocoonSpatialModel(), name="cocoons-nu")
dge = conventional_dge("min", secondary="nu_per_flavour")

# %%
# The whole sky
# -------------
# IceCube fits templates to the whole sky: integrate over it (``region=None``).

all_sky = {name: RegionFluxSpectralModel(model, region=None) for name, model in (("cocoons", cocoons), ("DGE", dge))}
sed = {name: (energy**2 * model(energy)).to_value(e2) for name, model in all_sky.items()}
sed["total"] = sed["cocoons"] + sed["DGE"]

# %%
# Gamma rays and neutrinos
# ------------------------
# They come from the same pions. For pp collisions the rule of thumb is
# E^2 Phi_nu,flavour(E) ~ 1/2 E^2 Phi_gamma(2E) (neutrinos carry about half the energy of the
# photons). AAfrag follows it to a few per cent well below the cut-off; near the cut-off the rule
# fails, as it assumes the secondaries take fixed fractions of the parent energy.

gamma = CocoonSpectralModel()
check = np.geomspace(100 * u.GeV, 10 * u.TeV, 5)
rule = 0.5 * (2 * check) ** 2 * gamma(2 * check)
print("cocoon nu / rule of thumb at", check, ":",
      np.array2string((check**2 * cocoons.spectral_model(check) / rule).to_value(""), precision=2))

# %%
# IceCube 2023
# ------------
# The three fits (per flavour, all sky), and where the model sits in each band.

fig, ax = plt.subplots(figsize=(6.4, 4.6))
for (name, label), color in zip((("pi0", "IceCube pi0"), ("kra5", "IceCube KRA-gamma 5"),
                                 ("kra50", "IceCube KRA-gamma 50")), ("C1", "C2", "C4")):
    band = load_band(f"icecube-2023-{name}")
    e_band = band["e_ref"].to_value("GeV")
    ax.fill_between(e_band, band["e2dnde_low"].to_value(e2), band["e2dnde_high"].to_value(e2), color=color,
                    alpha=0.3, lw=0, label=label)
    model_there = np.exp(np.interp(np.log(e_band), np.log(energy.to_value("GeV")), np.log(sed["total"])))
    print(f"{label:22s} model / best fit at {e_band[0] / 1e3:.0f}-{e_band[-1] / 1e3:.0f} TeV:",
          np.array2string((model_there / band["e2dnde"].to_value(e2))[::6], precision=2))
for name, color in (("cocoons", "C0"), ("DGE", "0.5"), ("total", "goldenrod")):
    ax.plot(energy.to_value("GeV"), sed[name], color=color, lw=2, label=name)
ax.set(xscale="log", yscale="log", ylim=(1e-10, 3e-6), xlabel="E [GeV]",
       ylabel="E$^2$ dN/dE per flavour, all sky [GeV cm$^{-2}$ s$^{-1}$]")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
