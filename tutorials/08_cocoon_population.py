"""
The discrete cocoons
====================

The cocoons behind the smooth emission: how many there are, how much the flux of a region
fluctuates from one realisation of the Galaxy to another, a sky map of one realisation, and how
many cocoons a survey would resolve (the 1LHAASO catalogue). See the "Discrete cocoons" page.
"""

import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
import numpy as np
import astropy.units as u
from astropy.table import QTable
from gammapy.maps import HpxGeom, MapAxis

from gammapy_cocoons import LHAASO_INNER, LHAASO_OUTER, CocoonEmission
from gammapy_cocoons.analysis.population import lhaaso_comparison
from gammapy_cocoons.population import CocoonPopulation

# %%
# The population
# --------------
# Born at R_SN = 1/30 per yr from the source density, each holding its cosmic rays for the
# confinement time tau_c(R) = chi_c(R) / (m n_gas c) (Eq. 5), n_gas hydrogen atoms per cm3 and m the
# gas mass per hydrogen atom (1.4 m_p for the default ISM gas, m_p with target="hydrogen"); 30 pc
# spheres.

pop = CocoonPopulation(CocoonEmission(), n_gas=1 * u.Unit("cm-3"), radius=30 * u.pc, seed=1)
print(f"cocoons alive: {pop.mean_number():.0f}; holding 20 TV: {pop.mean_number(20 * u.TV):.0f}; "
      f"holding 100 TV: {pop.mean_number(100 * u.TV):.0f}")
sample = pop.realise(300)
print("cocoons in the first realisations:", sample.n_alive[:5])

# %%
# Region fluxes
# -------------
# Their spread over the realisations against the population mean (the smooth model, corrected
# for the cocoons' size near the observer).

energy = np.geomspace(500, 5e4, 12) * u.GeV  # energies in GeV, as every figure of the package
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, (name, region) in zip(axes, (("inner", LHAASO_INNER), ("outer", LHAASO_OUTER))):
    low2, low, median, high, high2 = sample.quantiles(energy, region).to_value("GeV-1 cm-2 s-1")
    mean = pop.mean_flux(energy, region).to_value("GeV-1 cm-2 s-1")
    e2 = energy.to_value("GeV") ** 2
    ax.fill_between(energy.value, low2 * e2, high2 * e2, alpha=0.2, color="C0", label="95 % of realisations")
    ax.fill_between(energy.value, low * e2, high * e2, alpha=0.4, color="C0", label="68 %")
    ax.plot(energy.value, mean * e2, "k--", label="population mean")
    ax.set(xscale="log", yscale="log", xlabel="E [GeV]", ylabel="E$^2$ F [GeV cm$^{-2}$ s$^{-1}$]",
           title=f"cocoons, LHAASO {name} (n_gas 1 cm$^{{-3}}$, radius 30 pc)")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# One realisation on the sky
# --------------------------
# A HEALPix cube of one realisation, the same kind of map as the smooth templates (write it with
# ``gammapy_cocoons.templates.write_cube``).

axis = MapAxis.from_energy_bounds(1 * u.TeV, 10 * u.TeV, 1, name="energy_true")
cube = sample.cube(HpxGeom.create(nside=64, frame="galactic", axes=[axis]), index=0)
image = cube.slice_by_idx({"energy_true": 0})
peak = float(np.nanmax(image.data))
colours = plt.get_cmap("afmhot").with_extremes(bad="black", under="black")  # no cocoon: black
ax = image.plot(add_cbar=True, norm=LogNorm(vmin=1e-4 * peak, vmax=peak), cmap=colours,
                kwargs_colorbar={"label": r"intensity [cm$^{-2}$ s$^{-1}$ TeV$^{-1}$ sr$^{-1}$]"})
ax.figure.suptitle(f"One realisation of the cocoons, {axis.edges[0]:.0f} - {axis.edges[-1]:.0f}, Galactic "
                   "coordinates", y=0.92, fontsize=10)
plt.show()

# %%
# What a survey would resolve
# ---------------------------
# With a sensitivity of your own (flux threshold against angular size; here made up), and against
# the 1LHAASO catalogue, with its faintest fluxes as a proxy threshold.

sensitivity = QTable({"angular_size": [0.1, 0.5, 2.0] * u.deg,
                      "flux": [2e-14, 5e-14, 2e-13] * u.Unit("cm-2 s-1 TeV-1")})
seen = sample.detectable(sensitivity, 3 * u.TeV)
print(f"above the made-up sensitivity at 3 TeV: median {np.median(seen['number']):.0f} cocoons carrying "
      f"{np.median(seen['flux_fraction']):.1%} of the cocoon flux")
for name, entry in lhaaso_comparison(sample, realisations=100)["components"].items():
    low, high = entry["detectable_16_84"]
    print(f"1LHAASO {name} at {entry['energy_tev']:g} TeV: {entry['detectable_median']:.0f} ({low:.0f}-{high:.0f}) "
          f"cocoons above the faintest of its {entry['catalog_sources']} sources")
