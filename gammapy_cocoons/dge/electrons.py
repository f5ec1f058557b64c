"""The local electron + positron spectrum, fitted to the bundled direct and Cherenkov-telescope data.

One spectrum of e+ + e- (the DGE does not tell them apart) in total energy E [GeV]::

    J(E) = K (E / 100 GeV)^-gamma  b(E; E_h, -Delta_h, w)  b(E; E_b, Delta_b, w_b)
    b(E; E_x, Delta, w) = [1 + (E / E_x)^(1/w)]^(-Delta w)

a hardening at E_h (~ 50 GeV, the positron excess and the electron hardening) and the TeV break
at E_b (DAMPE 2017, H.E.S.S.). Solar modulation: the force field with one potential phi for all
data, J(E) = J_LIS(E + phi) E^2 / (E + phi)^2 (electrons are ultra-relativistic), with the
Gaussian prior phi = 0.6 +- 0.2 GV (the nuclei's 0.6 GV; the experiments' periods differ);
only data above :data:`E_MIN_GEV` enter, where the modulation is <~ 20 %. Below that the LIS is
the fitted spectrum continued (no Voyager data are bundled): uncertain by tens of percent at
1 GeV, which the bremsstrahlung at ~1 GeV inherits.

Each experiment has an energy-scale nuisance s (measured energy = (1 + s) true energy, so
J_meas(E) = J(E / (1 + s)) / (1 + s)) with a Gaussian prior of the width it quotes for its
absolute energy scale (:data:`ENERGY_SCALE_PRIORS`): AMS-02 2 %, CALET 2 %, DAMPE 1.5 %,
Fermi-LAT 5 % (+2 / -5 % quoted), VERITAS 20 % (an air-Cherenkov energy scale). Errors are
statistical and systematic in quadrature, on the side of the model (asymmetric); the fit is
scipy least squares on these residuals and the priors, run once and cached.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize

from ..datasets import read_kiss_table

__all__ = ["LocalElectrons", "local_electrons", "ELECTRON_DATA", "ENERGY_SCALE_PRIORS", "E_MIN_GEV"]

#: (file, experiment) of the local e+e- data
ELECTRON_DATA = (
    ("AMS-02_e+e-_rigidity.txt", "AMS-02"),
    ("CALET_e+e-_totalEnergy.txt", "CALET"),
    ("DAMPE_e+e-_totalEnergy.txt", "DAMPE"),
    ("FERMI_e+e-_totalEnergy.txt", "Fermi-LAT"),
    ("VERITAS_e+e-_totalEnergy.txt", "VERITAS"),
)
#: Gaussian prior widths of the energy-scale nuisances (fractions)
ENERGY_SCALE_PRIORS = {"AMS-02": 0.02, "CALET": 0.02, "DAMPE": 0.015, "Fermi-LAT": 0.05, "VERITAS": 0.20}
#: lowest energy of the fitted data [GeV]
E_MIN_GEV = 10.0
#: force-field prior [GV]
PHI_PRIOR_GV = (0.6, 0.2)
_SPECTRAL = ("log_k", "gamma", "log_e_h", "delta_h", "log_e_b", "delta_b", "w", "w_b", "phi")
_E_PIVOT = 100.0


def _broken(energy, e_x, delta, width):
    return (1.0 + (energy / e_x) ** (1.0 / width)) ** (-delta * width)


def _lis(p, energy):
    """J(E) [GeV-1 m-2 s-1 sr-1] for a parameter dict."""
    value = 10.0 ** p["log_k"] * (energy / _E_PIVOT) ** -p["gamma"]
    value = value * _broken(energy, 10.0 ** p["log_e_h"], -p["delta_h"], p["w"])
    return value * _broken(energy, 10.0 ** p["log_e_b"], p["delta_b"], p["w_b"])


@dataclass(frozen=True)
class LocalElectrons:
    """The fitted local e+e- spectrum (see the module documentation).

    Attributes
    ----------
    parameters : dict
        Best-fit spectral parameters (log10 K in GeV-1 m-2 s-1 sr-1 at 100 GeV, log10 of the
        break energies in GeV, phi in GV) and ``scale.<experiment>`` nuisances.
    errors : dict
        1-sigma errors from the Jacobian at the best fit.
    table : list of dict
        Per data set: experiment, n points, chi2, largest pull.
    chi2, ndof : float, int
        Totals (data and priors; ndof = points - free parameters).
    """

    parameters: dict
    errors: dict
    table: tuple
    chi2: float
    ndof: int

    #: the highest energy with data [GeV]: above it J is the fitted power law continued
    e_max_data: float = 7.5e3

    def flux(self, energy_gev):
        """Local interstellar J(E) [GeV-1 m-2 s-1 sr-1] at total energies [GeV] (finite, > 0)."""
        energy = np.asarray(energy_gev, float)
        if not (np.all(np.isfinite(energy)) and np.all(energy > 0)):
            raise ValueError(f"energy_gev must be finite and > 0 GeV, got {energy_gev!r}")
        return _lis(self.parameters, energy)

    def intensity(self, energy_gev):
        """J(E) in the package's internal units [GeV-1 cm-2 s-1 sr-1]."""
        return self.flux(energy_gev) * 1e-4

    def measured(self, experiment, energy_gev):
        """The model as experiment ``experiment`` sees it (modulation, its energy scale) [GeV-1 m-2 s-1 sr-1]."""
        return _measured(self.parameters, experiment, np.asarray(energy_gev, float))


def _measured(p, experiment, energy):
    scale = 1.0 + p[f"scale.{experiment}"]
    true = energy / scale
    phi = p["phi"]
    return _lis(p, true + phi) * true**2 / (true + phi) ** 2 / scale


def electron_data():
    """The bundled e+e- points used by the fit: list of (experiment, E [GeV], J, error_lo, error_up)."""
    out = []
    for name, experiment in ELECTRON_DATA:
        table = read_kiss_table(name)
        keep = (table["y"] > 0) & (table["x"] >= E_MIN_GEV) & (table["error_lo"] > 0) & (table["error_up"] > 0)
        # x: rigidity [GV] (AMS-02) = total energy [GeV] for electrons to < 1e-8
        out.append((experiment, table["x"][keep], table["y"][keep], table["error_lo"][keep], table["error_up"][keep]))
    return out


def _names():
    return list(_SPECTRAL) + [f"scale.{e}" for _, e in ELECTRON_DATA]


@lru_cache(maxsize=1)
def local_electrons():
    """Fit (once) and return the :class:`LocalElectrons` (chi2 / ndof and the largest pull per
    data set in :attr:`LocalElectrons.table`)."""
    sets = electron_data()
    names = _names()
    experiments = [e for _, e in ELECTRON_DATA]

    def residuals(vector):
        p = dict(zip(names, vector))
        out = []
        for experiment, x, y, lo, up in sets:
            model = _measured(p, experiment, x)
            out.append((model - y) / np.where(model > y, up, lo))
        out.append([p[f"scale.{e}"] / ENERGY_SCALE_PRIORS[e] for e in experiments])
        out.append([(p["phi"] - PHI_PRIOR_GV[0]) / PHI_PRIOR_GV[1]])
        return np.concatenate(out)

    #        log_k  gamma  log_e_h delta_h log_e_b delta_b  w     w_b   phi
    # the hardening between 20 and 500 GeV, the break between 300 GeV and 5 TeV (within the data)
    start = [-2.35, 3.2, 2.0, 0.15, 2.95, 0.8, 0.3, 0.1, 0.6] + [0.0] * len(experiments)
    lower = [-4.0, 2.5, 1.3, 0.0, 2.5, 0.0, 0.05, 0.02, 0.0] + [-0.5] * len(experiments)
    upper = [-1.0, 4.0, 2.7, 1.0, 3.7, 3.0, 1.0, 1.0, 2.0] + [0.5] * len(experiments)
    result = optimize.least_squares(residuals, start, bounds=(lower, upper), x_scale="jac", max_nfev=20000)
    if not result.success:
        raise RuntimeError(f"local e+e- fit failed: {result.message}")
    p = dict(zip(names, result.x))
    try:
        covariance = np.linalg.pinv(result.jac.T @ result.jac)
        errors = dict(zip(names, np.sqrt(np.clip(np.diag(covariance), 0, None))))
    except np.linalg.LinAlgError:  # pragma: no cover
        errors = {n: np.nan for n in names}
    table = []
    for experiment, x, y, lo, up in sets:
        model = _measured(p, experiment, x)
        pulls = (y - model) / np.where(model > y, up, lo)
        table.append({"experiment": experiment, "n": int(x.size), "chi2": float(np.sum(pulls**2)),
                      "max_pull": float(pulls[np.argmax(np.abs(pulls))]),
                      "e_range_gev": (float(x.min()), float(x.max()))})
    chi2 = float(np.sum(result.fun**2))
    n_points = sum(t["n"] for t in table)
    return LocalElectrons(p, errors, tuple(table), chi2, int(n_points - len(start) + len(experiments) + 1),
                          e_max_data=float(max(t["e_range_gev"][1] for t in table)))
