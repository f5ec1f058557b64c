"""Local (solar-circle) H and He spectra fitted to the bundled direct and air-shower data.

Each species follows a smoothly broken power law in rigidity R [GV]:

    J(R) = K (R / 1 TV)^-gamma  b(R; R_h, -Delta_h)  b(R; R_s, Delta_s)  b(R; R_k, Delta_k)
    b(R; R_b, Delta) = [1 + (R / R_b)^(1/w)]^(-Delta w)

a hardening at R_h (~ 500 GV, AMS-02/DAMPE), a softening at R_s (~ 15 TV, DAMPE/CALET) and the
knee at R_k. The break rigidities, the knee slope change and the smoothness w are shared by H and
He (rigidity-dependent features); K, gamma, Delta_h, Delta_s are per species. Solar modulation is
the force-field approximation with phi = 0.6 GV; only AMS-02 points above 20 GV enter.

The knee is constrained by one air-shower experiment, which defines the two variants that bracket
the knee data, as the "base min / max" models of De la Torre Luque et al. (2023):

* ``"kascade-grande"``: KASCADE-Grande light (H + He) component, QGSJET-II-04;
* ``"icetop"``: IceTop + IceCube H and He, SIBYLL-2.1.

Errors are statistical and systematic in quadrature, on the side of the model (asymmetric);
air-shower points above 100 PeV are not used. The fit (scipy least squares on the
relative residuals) runs once per variant and is cached.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize

from ..datasets import read_kiss_table
from ..physics.cosmicrays import HELIUM, PROTON

__all__ = ["LocalSpectra", "local_spectra", "KNEE_VARIANTS"]

PHI_GV = 0.6  # force-field potential for the AMS-02 2011-2018 period
_SPECIES = {"H": PROTON, "He": HELIUM}

#: air-shower data per variant: (file, species) where species "light" is H + He
KNEE_VARIANTS = {
    "kascade-grande": (("KASCADE-Grande_QGSJET-II-04_light_totalEnergy.txt", "light"),),
    "icetop": (
        ("IceTop_IceCube_SIBYLL-2.1_H_totalEnergy.txt", "H"),
        ("IceTop_IceCube_SIBYLL-2.1_He_totalEnergy.txt", "He"),
    ),
}
_DIRECT = (
    ("AMS-02_H_rigidity.txt", "H"),
    ("AMS-02_He_rigidity.txt", "He"),
    ("DAMPE2025_H_kineticEnergy.txt", "H"),
    ("DAMPE2025_He_kineticEnergy.txt", "He"),
    ("CALET_H_kineticEnergy.txt", "H"),
    ("CALET_He_kineticEnergy.txt", "He"),
)
_SHARED = ("log_r_h", "log_r_s", "log_r_k", "delta_k", "width")
_PER_SPECIES = ("log_k", "gamma", "delta_h", "delta_s")


def _rigidity_and_jacobian(x, quantity, species):
    """Rigidity [GV] and dX/dR for data binned in ``quantity`` (rigidity, kineticEnergy, totalEnergy)."""
    if quantity == "rigidity":
        return x, np.ones_like(x)
    total = x + species.mass if quantity == "kineticEnergy" else x
    momentum = np.sqrt(np.maximum(total**2 - species.mass**2, 0.0))
    rigidity = momentum / species.charge
    # dE/dR = Z p / E (kinetic and total energy differ by a constant)
    return rigidity, species.charge * momentum / total


def _broken(rigidity, break_rigidity, delta, width):
    return (1.0 + (rigidity / break_rigidity) ** (1.0 / width)) ** (-delta * width)


@dataclass(frozen=True)
class LocalSpectra:
    """Fitted local H and He spectra for one knee variant (see the module documentation).

    Attributes
    ----------
    variant : str
    parameters : dict
        Best-fit values (log10 of K in GV-1 m-2 s-1 sr-1 at 1 TV and of the break rigidities in GV).
    chi2, ndof : float, int
    """

    variant: str
    parameters: dict
    chi2: float
    ndof: int

    def flux_rigidity(self, species, rigidity):
        """Local interstellar J(R) [GV-1 m-2 s-1 sr-1] of "H" or "He"."""
        return _model(self.parameters, species, np.asarray(rigidity, float))

    def flux_total_energy(self, species, total_energy):
        """Local interstellar dN/dE [GeV-1 m-2 s-1 sr-1] at total energy per particle [GeV]."""
        sp = _SPECIES[species]
        rigidity, jacobian = _rigidity_and_jacobian(np.asarray(total_energy, float), "totalEnergy", sp)
        return self.flux_rigidity(species, rigidity) / jacobian


def _model(parameters, species, rigidity):
    p = parameters
    width = p["width"]
    k, gamma = p[f"{species}.log_k"], p[f"{species}.gamma"]
    value = 10.0**k * (rigidity / 1e3) ** -gamma
    value = value * _broken(rigidity, 10.0 ** p["log_r_h"], -p[f"{species}.delta_h"], width)
    value = value * _broken(rigidity, 10.0 ** p["log_r_s"], p[f"{species}.delta_s"], width)
    return value * _broken(rigidity, 10.0 ** p["log_r_k"], p["delta_k"], width)


def _modulated(parameters, species, quantity, x):
    """Model in the data's binning; force-field modulation for AMS-02 rigidities."""
    sp = _SPECIES[species]
    rigidity, jacobian = _rigidity_and_jacobian(x, quantity, sp)
    if quantity != "rigidity":
        return _model(parameters, species, rigidity) / jacobian
    # force field: J(T) = J_LIS(T + Z phi) T (T + 2m) / ((T + Z phi)(T + Z phi + 2m)), per particle
    momentum = rigidity * sp.charge
    kinetic = np.sqrt(momentum**2 + sp.mass**2) - sp.mass
    shifted = kinetic + sp.charge * PHI_GV
    p_lis = np.sqrt(shifted * (shifted + 2 * sp.mass))
    factor = kinetic * (kinetic + 2 * sp.mass) / (shifted * (shifted + 2 * sp.mass))
    # J_R = J_T dT/dR; dT/dR = Z p / E at each rigidity
    j_lis_r = _model(parameters, species, p_lis / sp.charge)
    jac_lis = sp.charge * p_lis / (shifted + sp.mass)
    jac = sp.charge * momentum / (kinetic + sp.mass)
    return j_lis_r / jac_lis * factor * jac


#: air-shower points above this total energy [GeV] are left out (few events, the Galactic to
#: extragalactic transition; gamma rays below 10 PeV come from lower energies)
KNEE_E_MAX = 1e8


def _datasets(variant):
    sets = []
    for name, species in _DIRECT + KNEE_VARIANTS[variant]:
        table = read_kiss_table(name)
        quantity = table["meta"]["X Quantity"]
        keep = (table["y"] > 0) & (table["error_lo"] > 0) & (table["error_up"] > 0)
        if quantity == "rigidity":
            keep &= table["x"] > 20.0  # solar modulation beyond the force field below
        if quantity == "totalEnergy":
            keep &= table["x"] <= KNEE_E_MAX
        sets.append((name, species, quantity, table["x"][keep], table["y"][keep],
                     table["error_lo"][keep], table["error_up"][keep]))
    return sets


def _unpack(vector):
    names = list(_SHARED) + [f"{s}.{n}" for s in ("H", "He") for n in _PER_SPECIES]
    return dict(zip(names, vector))


def _prediction(parameters, species, quantity, x):
    if species == "light":
        return sum(_modulated(parameters, s, quantity, x) for s in ("H", "He"))
    return _modulated(parameters, species, quantity, x)


@lru_cache(maxsize=4)
def local_spectra(variant="kascade-grande"):
    """Fit (once) and return the :class:`LocalSpectra` of a knee variant."""
    if variant not in KNEE_VARIANTS:
        raise ValueError(f"variant must be one of {sorted(KNEE_VARIANTS)}, got {variant!r}")
    sets = _datasets(variant)

    def residuals(vector):
        parameters = _unpack(vector)
        out = []
        for _, species, quantity, x, y, error_lo, error_up in sets:
            model = _prediction(parameters, species, quantity, x)
            out.append((model - y) / np.where(model > y, error_up, error_lo))
        return np.concatenate(out)

    # shared: log R_h, log R_s, log R_k [GV], Delta_k, w; per species: log K, gamma, Delta_h, Delta_s
    start = [2.7, 4.2, 6.5, 1.0, 0.1] + [-4.4, 2.85, 0.2, 0.3] + [-5.4, 2.75, 0.2, 0.3]
    lower = [2.0, 3.3, 5.5, 0.2, 0.02] + [-7.0, 2.3, 0.0, 0.0] + [-8.0, 2.3, 0.0, 0.0]
    upper = [3.5, 5.0, 7.5, 3.0, 1.0] + [-2.0, 3.2, 1.2, 1.2] + [-3.0, 3.2, 1.2, 1.2]
    result = optimize.least_squares(residuals, start, bounds=(lower, upper), x_scale="jac", max_nfev=5000)
    if not result.success:
        raise RuntimeError(f"local-spectrum fit for variant {variant!r} failed: {result.message}")
    chi2 = float(np.sum(result.fun**2))
    ndof = int(result.fun.size - len(start))
    return LocalSpectra(variant, _unpack(result.x), chi2, ndof)
