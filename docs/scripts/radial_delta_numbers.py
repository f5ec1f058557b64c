"""Print the numbers of the radial-delta (KRA-gamma) CR sea quoted in docs/dge.md.

CR density in the plane averaged over 3 < r < 5 kpc over the local one, for protons of total
energy 10 GeV, 1 TeV and 100 TeV, for the default sea and KRA-gamma (two local normalisations);
the spectral index of the embedded DGE (ConventionalDGE's default knee variant, no free parameter)
in the LHAASO inner and outer regions (15 < l < 125 and 125 < l < 235 deg, abs(b) < 5 deg, means of
nside-128 pixels), the inner ridge and the Galactic centre, against the local emissivity's; the
GeV validation ratios over the Fermi-LAT pi0 template; and the costs.
Run from the repository root (about 2 minutes): ``python docs/scripts/radial_delta_numbers.py``.
"""
import time

import astropy.units as u
import healpy as hp
import numpy as np

from gammapy_cocoons.dge.conventional import ConventionalDGE
from gammapy_cocoons.dge.crsea import CosmicRaySea
from gammapy_cocoons.dge.radial_delta import RadialDeltaSea, kra_gamma_sea
from gammapy_cocoons.dge.validation import validation_ratios

PROTON_MASS = 0.938272


class _Model:  # the two attributes validation_ratios reads
    def __init__(self, cube):
        self.spatial_model = type("S", (), {"map": cube})()


def ring(sea, rigidity, r_min=3.0, r_max=5.0):
    r = np.linspace(r_min, r_max, 81)
    return np.sum(r * sea(r, 0 * r, rigidity)) / np.sum(r)


t = time.perf_counter()
RadialDeltaSea()
build = time.perf_counter() - t
seas = {"default (uniform delta = 0.62)": CosmicRaySea(), "KRA-gamma, local slope of the B/C fit": kra_gamma_sea(),
        "KRA-gamma literal (B = 0.21)": kra_gamma_sea(0.21)}

print("| CR sea | 10 GeV | 1 TeV | 100 TeV |")
print("|---|---|---|---|")
for label, sea in seas.items():
    cells = [f"{ring(sea, np.sqrt(e**2 - PROTON_MASS**2)):.2f}" for e in (10.0, 1e3, 1e5)]
    print(f"| {label} | " + " | ".join(cells) + " |")

# gamma rays: -dlnI/dlnE from the cube at E / 1.5 and 1.5 E, region means of nside-128 pixels
centres = np.array([10.0, 1e3, 2.5e4])
energies = np.sort(np.concatenate([centres / 1.5, centres * 1.5, [2.8, 8.9, 1e5]]))
lon, lat = hp.pix2ang(128, np.arange(hp.nside2npix(128)), lonlat=True)
lon = np.where(lon > 180, lon - 360, lon)
regions = {"LHAASO inner (15 < l < 125, abs(b) < 5)": (lon >= 15) & (lon < 125) & (np.abs(lat) < 5),
           "LHAASO outer (125 < l < 235, abs(b) < 5)": ((lon >= 125) | (lon < -125)) & (np.abs(lat) < 5),
           "inner ridge (abs(l) < 30, abs(b) < 2)": (np.abs(lon) < 30) & (np.abs(lat) < 2),
           "Galactic centre (abs(l) < 5, abs(b) < 1)": (np.abs(lon) < 5) & (np.abs(lat) < 1)}


def index(values):
    lo = np.searchsorted(energies, centres / 1.5 * (1 - 1e-9))
    hi = np.searchsorted(energies, centres * 1.5 * (1 - 1e-9))
    return -np.log(values[hi] / values[lo]) / np.log(2.25)


costs, means, checks = {}, {}, {}
for label, sea in seas.items():
    if "literal" in label:
        continue
    dge = ConventionalDGE(sea=sea)
    t = time.perf_counter()
    dge.hi_weights, dge.h2_tables
    costs[label] = time.perf_counter() - t
    cube = dge.cube(energies * u.GeV, nside=128)
    local = dge.emissivity(energies)
    means[label] = {name: cube.data[:, inside].astype(float).mean(axis=1) for name, inside in regions.items()}
    ratios = validation_ratios(_Model(cube), [3.0, 10.0])
    checks[label] = f"{ratios['inner'][0]:.2f} / {ratios['outer'][0]:.2f} ({ratios['inner'][1]:.2f} / {ratios['outer'][1]:.2f})"

default, kra = list(means)
print(f"\nknee variant {dge.variant}; local emissivity index at 10 GeV / 1 TeV / 25 TeV (both seas): "
      + " / ".join(f"{x:.2f}" for x in index(local)))
print("\n| region | index at 10 GeV, default / KRA-gamma | 1 TeV | 25 TeV | KRA-gamma / default at 10 GeV, 1 TeV, 25 TeV, 100 TeV |")
print("|---|---|---|---|---|")
pick = [np.argmin(np.abs(energies - e)) for e in (10.0 / 1.5, 1e3 / 1.5, 2.5e4 / 1.5, 1e5)]
for name in regions:
    a, b = index(means[default][name]), index(means[kra][name])
    flux = means[kra][name] / means[default][name]
    print(f"| {name} | " + " | ".join(f"{x:.2f} / {y:.2f}" for x, y in zip(a, b)) + " | "
          + ", ".join(f"{flux[i]:.2f}" for i in pick) + " |")
print("\nGeV validation over the Fermi pi0 template, inner / outer at 3 GeV (10 GeV): "
      + "; ".join(f"{label}: {check}" for label, check in checks.items()))
print(f"\nbuilding RadialDeltaSea() (24 nodes, 0.1 x 0.05 kpc): {build:.2f} s")
for label, cost in costs.items():
    print(f"DGE geometry (HI weights, H2 tables) with {label}: {cost:.1f} s")
