"""Cosmic-ray species and their injection spectrum per source: Eqs. 3-4 of Ambrosone et al. (2025).

    Q(p) = K (p / m c)^-gamma exp(-p / p_max),    4 pi int dp p^2 Q(p) T(p) = eps E_SN.

Internal units: GeV (c = 1), so p in GeV/c, Q(p) in (GeV/c)^-3 per source and the energy
spectrum Q^E(E) = 4 pi p^2 Q(p) dp/dE in GeV-1 per source, with E the total energy of the
nucleus (aafragpy's convention).
"""
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..constants import ERG_GEV, HELIUM_MASS_GEV, PROTON_MASS_GEV
from .._validation import positive_float

__all__ = ["Species", "PROTON", "HELIUM", "SPECIES", "Injection", "fiducial_injections"]


@dataclass(frozen=True)
class Species:
    """A cosmic-ray nucleus: ``name`` (aafragpy's primary label), mass [GeV], charge Z, mass number A."""

    name: str
    mass: float
    charge: int
    mass_number: int

    def momentum(self, total_energy):
        """Momentum [GeV/c] of a nucleus of total energy [GeV]."""
        e = np.asarray(total_energy, dtype=float)
        return np.sqrt(np.maximum(e * e - self.mass**2, 0.0))

    def rigidity(self, total_energy):
        """Rigidity R = p c / Z e [GV] of a nucleus of total energy [GeV]."""
        return self.momentum(total_energy) / self.charge


PROTON = Species("p", PROTON_MASS_GEV, 1, 1)
HELIUM = Species("He", HELIUM_MASS_GEV, 2, 4)
SPECIES = {"H": PROTON, "p": PROTON, "He": HELIUM}

#: E_SN = 1e51 erg [GeV]
E_SN_GEV = 1e51 * ERG_GEV


@lru_cache(maxsize=4)
def _gauss_legendre(n=24):
    return np.polynomial.legendre.leggauss(n)


def _energy_integral(species, index, p_max):
    """int_0^inf dp p^2 (p/m)^-index exp(-p/p_max) T(p) [GeV^4], by Gauss-Legendre in ln p.

    Pieces in u = ln(p/m): [-60, -3], [-3, 3], [3, u_c - 2], [u_c - 2, u_c], [u_c, u_c + 2],
    [u_c + 2, u_c + 4.5] with u_c = ln(p_max/m): the low-energy power law, the transition at
    p ~ m, the high-energy power law and the cut-off (exp(-90) beyond). 24 nodes per piece give
    1e-11 (checked against mpmath in the tests); all pieces are evaluated in one array call
    because fits recompute this whenever an injection index changes.
    """
    m = species.mass
    # an array of indices (parameter samples) gets two trailing axes for the quadrature
    index = np.asarray(index, dtype=float)[..., None, None]
    u_cut = np.log(p_max / m)
    edges = [-60.0, -3.0, 3.0]
    edges += [u for u in (u_cut - 2.0, u_cut, u_cut + 2.0, u_cut + 4.5) if u > edges[-1]]
    edges = np.array(edges)
    x, w = _gauss_legendre()
    half = 0.5 * np.diff(edges)[:, None]
    xx = np.exp((edges[:-1, None] + half) + half * x)
    # p^2 dp (p/m)^-index T = m^4 x^(3-index) (sqrt(1+x^2) - 1) du; sqrt(1+x^2)-1 = x^2/(sqrt(1+x^2)+1)
    kinetic = xx * xx / (np.sqrt(1.0 + xx * xx) + 1.0)
    integrand = xx ** (3.0 - index) * kinetic * np.exp(-xx * (m / p_max))
    return m**4 * np.sum(half * w * integrand, axis=(-2, -1))


@dataclass(frozen=True)
class Injection:
    """Injection spectrum per source of one species (Eqs. 3-4).

    Parameters
    ----------
    species : Species
    efficiency : float
        Fraction eps of E_SN given to this species (0 < eps <= 1).
    index : float
        Momentum-space slope gamma (the spectrum in energy is E^(2 - gamma)); 3 < gamma < 6.
    p_max : float or None
        Cut-off momentum [GeV/c]; None means Z PeV (the knee, paper's choice).
    e_sn : float
        Kinetic energy of a supernova [GeV]. Default 1e51 erg.
    """

    species: Species
    efficiency: float
    index: float
    p_max: float = None
    e_sn: float = E_SN_GEV
    _norm: float = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.species, str) and self.species in SPECIES:
            object.__setattr__(self, "species", SPECIES[self.species])
        if not isinstance(self.species, Species):
            raise TypeError(f"species must be a Species or one of {sorted(SPECIES)}, got {self.species!r}")
        positive_float(self.efficiency, "efficiency", upper=1.0)
        positive_float(self.e_sn, "e_sn")
        index = positive_float(self.index, "index")
        if not 3.0 < index < 6.0:
            raise ValueError(f"index (gamma of Eq. 4, momentum space) must be in (3, 6), got {index}")
        if self.p_max is None:
            object.__setattr__(self, "p_max", 1e6 * self.species.charge)
        positive_float(self.p_max, "p_max")
        object.__setattr__(self, "_norm", self.normalisation(self.efficiency, self.index))

    def normalisation(self, efficiency, index):
        """K of Eq. 4 [(GeV/c)^-3 per source] such that Eq. 3 holds."""
        return efficiency * self.e_sn / (4.0 * np.pi * _energy_integral(self.species, index, self.p_max))

    @property
    def norm(self):
        """K of Eq. 4 for this injection [(GeV/c)^-3 per source]."""
        return self._norm

    def dn_dp3(self, p):
        """Q(p) [(GeV/c)^-3 per source] at momentum p [GeV/c] (Eq. 4)."""
        p = np.asarray(p, dtype=float)
        return self.norm * (p / self.species.mass) ** -self.index * np.exp(-p / self.p_max)

    def dn_de(self, total_energy, efficiency=None, index=None):
        """Q^E(E) = 4 pi p^2 Q(p) dp/dE [GeV-1 per source] at total energy E [GeV].

        ``efficiency`` and ``index`` override the stored values (used by fits; the
        normalisation is recomputed, which costs a few microseconds).
        """
        e = np.asarray(total_energy, dtype=float)
        p = self.species.momentum(e)
        eff = self.efficiency if efficiency is None else efficiency
        idx = self.index if index is None else index
        if np.ndim(idx) == 0 and idx == self.index:
            # K is linear in eps: no new energy integral when only eps changes
            norm = self.norm * (np.asarray(eff) / self.efficiency)
        else:
            norm = self.normalisation(eff, idx)
        # 4 pi p^2 Q(p) dp/dE with dp/dE = E/p
        return 4.0 * np.pi * norm * p * e * (p / self.species.mass) ** -idx * np.exp(-p / self.p_max)

    def injected_energy(self):
        """4 pi int dp p^2 Q(p) T(p) [GeV]: equals eps E_SN by construction (Eq. 3)."""
        return 4.0 * np.pi * self.norm * _energy_integral(self.species, self.index, self.p_max)


def fiducial_injections():
    """The paper's H and He injection (Evoli et al. 2019 best fit): eps 5 % / 1.2 %, gamma 4.26 / 4.16."""
    return (
        Injection(PROTON, efficiency=0.05, index=4.26),
        Injection(HELIUM, efficiency=0.012, index=4.16),
    )
