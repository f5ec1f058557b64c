"""Nuclear cross sections of the boron network: fragmentation and total inelastic, on H and He.

All cross sections are the high-energy (>~ 5 GeV/n) values, constant in energy, in the
straight-ahead approximation (a fragment keeps its parent's kinetic energy per nucleon):

- Partial (fragmentation) cross sections on hydrogen: the bundled table
  ``data/cross_sections/fragmentation_high_energy.ecsv`` (Evoli et al., XS4GCRv2 fits to the
  measurements; its provenance is in the file). Short-lived "ghost" nuclei are folded into the
  isotope they decay into (:data:`GHOSTS`, C11 -> B11 by beta+ decay, 20 min): on Galactic time
  scales they are born as that isotope.
- Total inelastic on hydrogen: Letaw, Silberberg & Tsao (1983, ApJS 51, 271),
  sigma = 45 A^0.7 [1 + 0.016 sin(5.3 - 2.63 ln A)] mb, valid above ~2 GeV/n.
- Helium target: partial cross sections scale by 2.1 A^-0.055 (Ferrando et al. 1988, PRC 37,
  1490; A of the projectile); total inelastic ones by the geometric ratio
  [(A^1/3 + 4^1/3 - 1.12) / (A^1/3 + 1 - 1.12)]^2.

Not in the network: C10 -> B10 and Be11 -> B11 ghosts and parents heavier than O (Ne, Mg, Si,
Fe), which the table does not cover; C, N and O make most of the boron.
"""
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import astropy.units as u
from astropy.table import QTable

from ..constants import HELIUM_MASS_GEV, PROTON_MASS_G, PROTON_MASS_GEV

__all__ = [
    "Nucleus", "NUCLEI", "GHOSTS", "fragmentation_table", "inelastic_cross_section", "partial_cross_section",
    "get_nucleus", "TargetGas",
]


@dataclass(frozen=True)
class Nucleus:
    """An isotope: ``name`` like "C12", charge ``Z``, mass number ``A``."""

    name: str
    charge: int
    mass_number: int

    @property
    def mass_to_charge(self):
        """A / Z: rigidity R = (A / Z) p_n with p_n the momentum per nucleon [GV]."""
        return self.mass_number / self.charge


#: isotopes the boron network knows, by name
NUCLEI = {n.name: n for n in (
    Nucleus("O16", 8, 16), Nucleus("N14", 7, 14), Nucleus("C12", 6, 12), Nucleus("C11", 6, 11),
    Nucleus("B11", 5, 11), Nucleus("B10", 5, 10),
)}
#: short-lived isotope -> the isotope it decays into before it can travel or interact
GHOSTS = {"C11": "B11"}


def get_nucleus(name, argument="nucleus"):
    """The :class:`Nucleus` called ``name``; a ValueError naming ``argument`` otherwise."""
    if isinstance(name, Nucleus):
        return name
    if name not in NUCLEI:
        raise ValueError(f"{argument} must be one of {sorted(NUCLEI)}, got {name!r}")
    return NUCLEI[name]


@lru_cache(maxsize=1)
def fragmentation_table():
    """The bundled partial cross sections on hydrogen as a QTable (parent, fragment, sigma_h, fit)."""
    path = resources.files("gammapy_cocoons").joinpath("data", "cross_sections", "fragmentation_high_energy.ecsv")
    with resources.as_file(path) as filename:
        return QTable.read(filename, format="ascii.ecsv")


def inelastic_cross_section(nucleus, target="H"):
    """Total inelastic cross section [mb] of ``nucleus`` on ``target`` ("H" or "He")."""
    a = get_nucleus(nucleus).mass_number
    sigma_h = 45.0 * a**0.7 * (1.0 + 0.016 * np.sin(5.3 - 2.63 * np.log(a)))
    if target == "H":
        return sigma_h
    if target == "He":
        a3 = a ** (1.0 / 3.0)
        return sigma_h * ((a3 + 4.0 ** (1.0 / 3.0) - 1.12) / (a3 + 1.0 - 1.12)) ** 2
    raise ValueError(f"target must be 'H' or 'He', got {target!r}")


def partial_cross_section(parent, fragment, target="H"):
    """Cumulative cross section [mb] for ``parent`` -> ``fragment`` including the ghosts that decay into it."""
    parent, fragment = get_nucleus(parent, "parent"), get_nucleus(fragment, "fragment")
    sources = {fragment.name} | {ghost for ghost, daughter in GHOSTS.items() if daughter == fragment.name}
    table = fragmentation_table()
    rows = [(p == parent.name) and (f in sources) for p, f in zip(table["parent"], table["fragment"])]
    sigma = float(table["sigma_h"][np.array(rows, dtype=bool)].to_value(u.mbarn).sum())
    if target == "H":
        return sigma
    if target == "He":
        return sigma * 2.1 * parent.mass_number ** -0.055
    raise ValueError(f"target must be 'H' or 'He', got {target!r}")


@dataclass(frozen=True)
class TargetGas:
    """Interstellar gas of hydrogen plus ``helium_fraction`` helium atoms per hydrogen atom (by number).

    Grammage counts the mass of both. ``per_gram(sigma_h, sigma_he)`` turns a pair of cross
    sections [mb] into interactions per unit grammage [cm2 g-1]:
    (sigma_H + f sigma_He) / [m_p (1 + f m_He / m_p)]. ``helium_fraction = 0`` is the pure-hydrogen
    target of Eq. 7 (the gamma-ray model's convention, 1 / m_p).
    """

    helium_fraction: float = 0.1

    def __post_init__(self):
        f = float(self.helium_fraction)
        if not np.isfinite(f) or f < 0 or f > 1:
            raise ValueError(f"helium_fraction must be in [0, 1] (He atoms per H atom), got {self.helium_fraction!r}")

    @property
    def mass_per_hydrogen_g(self):
        """Gas mass per hydrogen atom [g]."""
        return PROTON_MASS_G * (1.0 + self.helium_fraction * HELIUM_MASS_GEV / PROTON_MASS_GEV)

    def per_gram(self, sigma_h_mb, sigma_he_mb):
        return (sigma_h_mb + self.helium_fraction * sigma_he_mb) * 1e-27 / self.mass_per_hydrogen_g

    def inelastic(self, nucleus):
        """Destruction rate per unit grammage [cm2 g-1] of ``nucleus``."""
        return self.per_gram(inelastic_cross_section(nucleus, "H"), inelastic_cross_section(nucleus, "He"))

    def partial(self, parent, fragment):
        """Production rate per unit grammage [cm2 g-1] of ``fragment`` (with its ghosts) from ``parent``."""
        return self.per_gram(partial_cross_section(parent, fragment, "H"), partial_cross_section(parent, fragment, "He"))
