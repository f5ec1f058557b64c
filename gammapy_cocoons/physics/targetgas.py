"""The gas cosmic rays cross (in the cocoons and in the Galaxy), and what a grammage counts.

One convention for the whole package (B/C, gamma rays, neutrinos, the population): a grammage
chi [g cm-2] is the **mass column of the gas, hydrogen and helium**. With y helium atoms per
hydrogen atom (by number) the gas weighs m_p (1 + 4 y) per hydrogen atom (nucleon masses: the
0.7 % mass defect of He-4 is neglected, 0.2 % of the gas mass at y = 0.1; the DGE counts its gas
the same way), so a grammage chi holds

    a hydrogen column  N_H  = chi / ((1 + 4 y) m_p)   and a helium column  N_He = y N_H ;

a cosmic ray crossing it makes (sigma_H + y sigma_He) chi / ((1 + 4 y) m_p) interactions, and in
gas of n_H hydrogen atoms per cm3 it accumulates chi in the time chi / ((1 + 4 y) m_p n_H c).

Named targets (:data:`TARGETS`):

- ``"ism"``: y = 0.1, the interstellar gas (the B/C transport of Evoli et al. 2019 and the DGE);
  1.40 m_p per hydrogen atom. The package's default cocoon gas.
- ``"hydrogen"``: y = 0, the target of the paper's Eq. 7 (pure hydrogen on chi / m_p) and Eq. 9
  (chi / (m_p n_gas c)).

A number in [0, 1] is the general form: that He/H ratio by number.
"""
from dataclasses import dataclass
import numbers

import numpy as np

from ..constants import C_CM_S, MB_CM2, PROTON_MASS_G

__all__ = ["TARGETS", "ISM_HELIUM_FRACTION", "TargetGas", "resolve_target", "target_helium_fraction",
           "describe_target"]

#: He/H by number of the interstellar gas (Evoli et al. 2019; the DGE's gas)
ISM_HELIUM_FRACTION = 0.1
#: named cocoon gases: He/H by number
TARGETS = {"ism": ISM_HELIUM_FRACTION, "hydrogen": 0.0}


def resolve_target(target, name="target"):
    """The canonical form of a target: "ism", "hydrogen", or another He/H by number (float in [0, 1]).

    A number equal to a named target's He/H becomes that name. Anything else is refused with a
    ValueError (TypeError for a non-number) that names the argument ``name``.
    """
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(f"{name} must be one of {sorted(TARGETS)} or a helium fraction He/H by number in "
                             f"[0, 1], got {target!r}")
        return target
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, numbers.Real):
        raise TypeError(f"{name} must be one of {sorted(TARGETS)} or a helium fraction He/H by number in [0, 1], "
                        f"got {target!r}")
    value = float(target)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} (a helium fraction He/H by number) must be within [0, 1], got {target!r}")
    for key, fraction in TARGETS.items():
        if value == fraction:
            return key
    return value


def target_helium_fraction(target, name="target"):
    """He/H by number of ``target`` (see :func:`resolve_target`)."""
    target = resolve_target(target, name)
    return TARGETS[target] if isinstance(target, str) else target


def describe_target(target):
    """One phrase for outputs: what the gas is and what chi0 counts in it."""
    target = resolve_target(target)
    if target == "hydrogen":
        return ("pure hydrogen (target 'hydrogen'), chi0 = m_p x hydrogen column: the paper's Eq. 7 and Eq. 9 "
                "as written")
    y = target_helium_fraction(target)
    label = "ISM gas (target 'ism'" if target == "ism" else f"gas (target {y:g}"
    return (f"{label}: H + He, He/H = {y:g} by number), chi0 = its mass grammage = {1 + 4 * y:.2f} m_p x "
            "hydrogen column")


@dataclass(frozen=True)
class TargetGas:
    """Gas of hydrogen plus ``helium_fraction`` helium atoms per hydrogen atom (module docstring).

    A grammage counts the mass of both, m_p (1 + 4 y) per hydrogen atom. ``helium_fraction = 0``
    is a pure-hydrogen target.
    """

    helium_fraction: float = ISM_HELIUM_FRACTION

    def __post_init__(self):
        f = float(self.helium_fraction) if isinstance(self.helium_fraction, numbers.Real) else np.nan
        if not np.isfinite(f) or f < 0 or f > 1:
            raise ValueError(f"helium_fraction must be in [0, 1] (He atoms per H atom), got {self.helium_fraction!r}")
        object.__setattr__(self, "helium_fraction", f)

    @classmethod
    def from_target(cls, target, name="target"):
        """The gas of a named target or a He/H number (:func:`resolve_target`)."""
        return cls(target_helium_fraction(target, name))

    @property
    def target(self):
        """The canonical target: "ism", "hydrogen" or the He/H number."""
        return resolve_target(self.helium_fraction)

    @property
    def mass_per_hydrogen_g(self):
        """Gas mass per hydrogen atom [g], m_p (1 + 4 y)."""
        return PROTON_MASS_G * (1.0 + 4.0 * self.helium_fraction)

    @property
    def columns(self):
        """(target nucleus, column per unit grammage in units of 1/m_p) pairs: ("p", 1 / (1 + 4 y)) and
        ("He", y / (1 + 4 y)); only ("p", 1) for pure hydrogen."""
        if self.helium_fraction > 0:
            hydrogen = 1.0 / (1.0 + 4.0 * self.helium_fraction)
            return (("p", hydrogen), ("He", self.helium_fraction * hydrogen))
        return (("p", 1.0),)

    def hydrogen_column(self, grammage):
        """Hydrogen atoms per cm2 [cm-2] in ``grammage`` [g cm-2]."""
        return np.asarray(grammage, dtype=float) / self.mass_per_hydrogen_g

    def per_gram(self, sigma_h_mb, sigma_he_mb):
        """Interactions per unit grammage [cm2 g-1] of a nucleus with cross sections [mb] on H and He:
        (sigma_H + y sigma_He) / (m_p (1 + 4 y))."""
        return (sigma_h_mb + self.helium_fraction * sigma_he_mb) * MB_CM2 / self.mass_per_hydrogen_g

    def accumulation_time(self, grammage, n_hydrogen):
        """Time [s] to cross ``grammage`` [g cm-2] at speed c in gas of ``n_hydrogen`` H atoms per cm3."""
        return np.asarray(grammage, dtype=float) / (self.mass_per_hydrogen_g * np.asarray(n_hydrogen, float) * C_CM_S)
