"""Differential production cross sections dsigma/dE(E_primary, E_secondary) [mb GeV-1].

Models (all through aafragpy):

* ``"aafrag"`` (default, as in the paper): AAfrag, Koldobskiy et al. (2021), PRD 104, 123027.
  Tables for p-p, He-p (and p-He, He-He for an ISM helium target); gamma rays and each
  neutrino flavour. Primary total energies 4 GeV (p) / 5 GeV (He) to 4e11 / 2.5e9 GeV.
  Below the tables (down to the pion threshold) the p-p channel is filled with Kafexhiu 2014
  (gamma rays) or Kamae 2006 (neutrinos), as the AAfrag authors recommend; without this the
  gamma-ray production would miss 8 % at 1 GeV (measured here; < 1e-4 above 3 GeV). The
  helium-target channels have no such extension (they start at 4-5 GeV).
* ``"kafexhiu2014"``: Kafexhiu et al. (2014), PRD 90, 123014, GEANT parameters; p-p, gamma
  rays only, from threshold.
* ``"kamae2006"``: Kamae et al. (2006), ApJ 647, 692; p-p, gamma rays and neutrinos, proton
  kinetic energy below 512 TeV (zero above, so fluxes above ~50 TeV are underestimated).

For the two p-p-only parametrisations a helium projectile is treated by superposition: a He
nucleus of total energy E acts as four nucleons of energy E/4 each,
dsigma_He-p(E) = 4 dsigma_pp(E/4). Applied to AAfrag's p-p table this reproduces AAfrag's own
He-p table to within 4-12 % (tested), below the ~15 % systematic the paper quotes.

All energies are total energies in GeV (of the whole nucleus for helium).
"""
import warnings

import numpy as np
import aafragpy

from ..constants import PROTON_MASS_GEV

__all__ = [
    "CROSS_SECTION_MODELS",
    "SECONDARIES",
    "differential_cross_section",
    "primary_energy_range",
]

CROSS_SECTION_MODELS = ("aafrag", "kafexhiu2014", "kamae2006")

#: public secondary name -> (aafragpy product code, factor). "nu_per_flavour" is the flux of one
#: flavour (nu + antinu) at Earth after 1:1:1 oscillation mixing: all flavours / 3.
SECONDARIES = {
    "gamma": ("gam", 1.0),
    "nu_all": ("nu_all", 1.0),
    "nu_per_flavour": ("nu_all", 1.0 / 3.0),
    "nu_e": ("nu_e", 1.0),
    "anu_e": ("anu_e", 1.0),
    "nu_mu": ("nu_mu", 1.0),
    "anu_mu": ("anu_mu", 1.0),
}

_KAMAE_PRODUCTS = {"gam", "nu_all", "nu_e", "anu_e", "nu_mu", "anu_mu"}
# p-p threshold for pion production: T_p = 0.2797 GeV
_PP_THRESHOLD_TOTAL = PROTON_MASS_GEV + 0.2797
_KAMAE_MAX_KINETIC = 512e3


def primary_energy_range(model, projectile, target):
    """(min, max) total primary energy [GeV] where ``model`` is defined for this channel."""
    nucleons = 4.0 if projectile == "He" else 1.0
    if model == "aafrag":
        e_min, e_max = _aafrag_table_range(projectile, target)
        if target == "p":
            e_min = nucleons * _PP_THRESHOLD_TOTAL  # low-energy fill, see the module docstring
        return e_min, e_max
    if model == "kamae2006":
        return nucleons * _PP_THRESHOLD_TOTAL, nucleons * (_KAMAE_MAX_KINETIC + PROTON_MASS_GEV)
    if model == "kafexhiu2014":
        return nucleons * _PP_THRESHOLD_TOTAL, nucleons * 1e7
    raise ValueError(f"cross_sections must be one of {list(CROSS_SECTION_MODELS)}, got {model!r}")


def _aafrag_table_range(projectile, target):
    data = aafragpy.open_data_files("gam", f"{projectile}-{target}")
    if data is None:
        raise ValueError(f"AAfrag has no table for the channel {projectile}-{target}")
    return data[0][0] / 1e9, data[0][-1] / 1e9


def _pp_parametrisation(model, product, e_primary, e_secondary):
    # both parametrisations divide by zero at the kinematic edge (the result there is 0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _pp_parametrisation_raw(model, product, e_primary, e_secondary)


def _pp_parametrisation_raw(model, product, e_primary, e_secondary):
    if model == "kafexhiu2014":
        if product != "gam":
            raise ValueError("cross_sections='kafexhiu2014' has gamma rays only; use 'aafrag' or 'kamae2006' for neutrinos")
        matrix, _, _ = aafragpy.get_cross_section_Kafexhiu2014(e_primary, e_secondary)
    else:
        if product not in _KAMAE_PRODUCTS:
            raise ValueError(f"cross_sections='kamae2006' has no product {product!r}")
        matrix, _, _ = aafragpy.get_cross_section_Kamae2006(product, e_primary, e_secondary)
    return np.nan_to_num(np.asarray(matrix, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)


def differential_cross_section(model, product, projectile, target, e_primary, e_secondary):
    """dsigma/dE [mb GeV-1], shape (len(e_primary), len(e_secondary)).

    Parameters
    ----------
    model : str
        One of :data:`CROSS_SECTION_MODELS`.
    product : str
        aafragpy product code ("gam", "nu_all", "nu_e", ...).
    projectile, target : str
        "p" or "He".
    e_primary, e_secondary : array
        Total energies [GeV]; primaries must lie in :func:`primary_energy_range`.
    """
    e_primary = np.atleast_1d(np.asarray(e_primary, dtype=float))
    e_secondary = np.atleast_1d(np.asarray(e_secondary, dtype=float))
    if model == "aafrag":
        table_min, _ = _aafrag_table_range(projectile, target)
        in_table = e_primary >= table_min * (1 - 1e-9)  # a grid may start exactly at the table edge
        matrix = np.zeros((e_primary.size, e_secondary.size))
        if np.any(in_table):
            result = aafragpy.get_cross_section(
                product, f"{projectile}-{target}", e_primary[in_table], e_secondary, outside_bounds="raise"
            )
            if result is None:
                raise ValueError(f"AAfrag has no table for {product} from {projectile}-{target}")
            matrix[in_table] = np.asarray(result[0], dtype=float).reshape(-1, e_secondary.size)
        if not np.all(in_table):
            if target != "p":
                raise ValueError(f"AAfrag {projectile}-{target} starts at {table_min} GeV total energy")
            low = "kafexhiu2014" if product == "gam" else "kamae2006"
            matrix[~in_table] = differential_cross_section(
                low, product, projectile, target, e_primary[~in_table], e_secondary
            )
        return np.nan_to_num(matrix, nan=0.0, posinf=0.0, neginf=0.0)
    if model not in CROSS_SECTION_MODELS:
        raise ValueError(f"cross_sections must be one of {list(CROSS_SECTION_MODELS)}, got {model!r}")
    if target != "p":
        raise ValueError(f"cross_sections={model!r} is p-p only: an ISM helium target needs 'aafrag'")
    if projectile == "p":
        return _pp_parametrisation(model, product, e_primary, e_secondary)
    if projectile == "He":
        return 4.0 * _pp_parametrisation(model, product, e_primary / 4.0, e_secondary)
    raise ValueError(f"unknown projectile {projectile!r}")
