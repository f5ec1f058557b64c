"""
Quick start: the cocoon emission from Python
============================================

The gamma rays and neutrinos of cosmic rays trapped in cocoons around their sources
(Ambrosone et al. 2025, Eqs. 1-10), computed with :class:`gammapy_cocoons.CocoonEmission`.
"""

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

from gammapy_cocoons import LHAASO_INNER, LHAASO_OUTER, CocoonEmission, mask_out

# %%
# The paper's fiducial set-up
# ---------------------------
# Green (2015) sources, H and He injection, chi0 = 0.4 g cm-2, R0 = 20 TV, and the paper's Eq. 7
# target, pure hydrogen on chi0 / m_p (the package's default is ISM gas, H + He, whose mass
# grammage chi0 is: ``CocoonEmission()``). Eq. 8 averaged over the LHAASO regions gives their
# mean intensity; times E^2 it is the SED of the paper's Fig. 2.

em = CocoonEmission(target="hydrogen")
energy = np.geomspace(10 * u.GeV, 100 * u.TeV, 9)
for name, region in (("inner", LHAASO_INNER), ("outer", LHAASO_OUTER)):
    sed = (energy**2 * em.intensity(energy, region)).to("GeV cm-2 s-1 sr-1")
    print(f"{name:5s} E^2 I [GeV cm-2 s-1 sr-1]:", np.array2string(sed.value, precision=2))

# %%
# Neutrinos
# ---------
# All-sky neutrinos, one flavour at Earth (nu + anti-nu, 1:1:1 after oscillations), IceCube's
# convention.

nu = (energy**2 * em.flux(energy, "nu_per_flavour")).to("GeV cm-2 s-1")
print("nu per flavour E^2 Phi [GeV cm-2 s-1]:", np.array2string(nu.value, precision=2))

# %%
# Other grammage laws (Appendix B)
# --------------------------------

for law, r0 in (("kraichnan", 1 * u.TV), ("bohm", 10 * u.TV)):
    other = CocoonEmission(grammage=law, r0=r0)
    ratio = other.intensity(energy, LHAASO_INNER) / em.intensity(energy, LHAASO_INNER)
    print(f"{law} (R0 = {r0}) / exponential:", np.array2string(ratio.value, precision=2))

# %%
# Regions with masks
# ------------------
# The inner region without a 3 deg circle around l = 40 deg.

hole = CircleSkyRegion(SkyCoord(40, 0, unit="deg", frame="galactic"), 3 * u.deg)
masked = mask_out(LHAASO_INNER, hole)
print("masked solid angle:", em.solid_angle(masked), "of", em.solid_angle(LHAASO_INNER))

# %%
# Eqs. 9 and 10
# -------------
# How long the cosmic rays must stay, and how large the cocoons may be before they fill the disc
# (n_gas = 1 hydrogen atom per cm3; pure hydrogen as in the paper's Eq. 9: 2.5e5 yr, 120 pc).

print("confinement time:", em.confinement_time(1 / u.cm**3).to("yr"))
print("largest cocoon radius:", em.maximum_cocoon_radius(1 / u.cm**3).to("pc"))
