"""What the GeV template would make of the gas parameters, set honestly: on half of the cells only.

The defaults of the embedded DGE are literature values (X_CO = 2e20, Bolatto et al. 2013; optically
thin HI4PI; the dark-gas ratio calibrated on HI off the plane). This script shows what the
Fermi-LAT pi0 template (a GALPROP model fitted to GeV data) would ask for, setting each parameter on
the "even" 10-degree cells (l = 15-25, 35-45, ..., both latitude strips, 3 and 10 GeV: 44 cells) by
least squares in ln(model / template), and reports the agreement on the "odd" cells it did not see.
None of the values found here is a default. The dark-gas ratio acts at abs(b) >= 5 deg only, outside
the cells, so it is not set this way (it is calibrated on HI). Run from the repository root (a few
minutes): ``python docs/scripts/dge_gas_parameters.py``.
"""
import numpy as np
import astropy.units as u
from scipy.optimize import minimize_scalar

from gammapy_cocoons.dge.conventional import _DEFAULT_ENERGIES, ConventionalDGE
from gammapy_cocoons.dge.validation import validation_cells

_ENERGIES = _DEFAULT_ENERGIES[(_DEFAULT_ENERGIES > 2) & (_DEFAULT_ENERGIES < 12)]


class _Model:  # the attribute validation_cells reads
    def __init__(self, cube):
        self.spatial_model = type("S", (), {"map": cube})()


def cells(dge):
    return validation_cells(_Model(dge.cube(_ENERGIES * u.GeV, nside=128)), [3.0, 10.0])


def summary(label, table):
    out = []
    for half in ("even", "odd"):
        ratio = np.asarray(table["ratio"][table["half"] == half], float)
        out.append(f"{np.mean(np.abs(ratio - 1) <= 0.3):.0%} within 30 %, rms ln {np.sqrt(np.mean(np.log(ratio)**2)):.3f}")
    print(f"| {label} | " + " | ".join(out) + " |")


def main():
    print("| gas parameters | even cells (set on) | odd cells (test) |")
    print("|---|---|---|")
    default = cells(ConventionalDGE("icetop"))
    summary("defaults: X_CO = 2e20, optically thin HI", default)
    # X_CO: the cells are linear in X_CO (the DNM acts at abs(b) >= 5 deg only)
    no_h2 = cells(ConventionalDGE("icetop", x_co=0.0))
    even = default["half"] == "even"
    template = np.asarray(default["ratio"], float)  # model / template at X_CO = 2e20
    base = np.asarray(no_h2["ratio"], float)

    def ratio(x):
        return base + (x / 2e20) * (template - base)

    best = minimize_scalar(lambda x: np.sum(np.log(ratio(x)[even]) ** 2), bounds=(0.2e20, 10e20), method="bounded").x
    fitted = default.copy()
    fitted["ratio"] = ratio(best)
    summary(f"X_CO = {best:.3g} (set on the even cells)", fitted)
    # T_s: a scan (each value recomputes the HI opacity correction)
    scores = {}
    for t_s in (100.0, 150.0, 200.0, 300.0, 500.0):
        table = cells(ConventionalDGE("icetop", hi_spin_temperature=t_s))
        ratio_ts = np.asarray(table["ratio"], float)
        scores[t_s] = (np.sum(np.log(ratio_ts[even]) ** 2), table)
        summary(f"T_s = {t_s:g} K", table)
    t_best = min(scores, key=lambda k: scores[k][0])
    print(f"\nbest T_s on the even cells: {t_best:g} K (scan 100-500 K); best X_CO: {best:.3g} cm-2 (K km/s)-1")


if __name__ == "__main__":
    main()
