"""Galactic source density rho(r, z): Eqs. 1-2 of Ambrosone et al. (2025).

All published profiles used here share one form::

    rho(r, z) = A ((r + r1) / (r_sun + r1))^alpha exp(-beta (r - r_sun) / (r_sun + r1)) exp(-|z| / z0),

inside the cylinder ``r <= r_max``, ``|z| <= h``, and zero outside. ``r1 = 0`` is Green (2015), Eq. 1
of the paper. ``A`` is fixed by Eq. 2: the volume integral equals the source rate.

Internal units: kpc for lengths, s-1 for the rate, so rho is in s-1 kpc-3.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from ..constants import YR_S

__all__ = ["SourceDistribution", "SOURCE_DISTRIBUTIONS", "get_source_distribution"]


@dataclass(frozen=True)
class SourceDistribution:
    """Cylindrical source density of the Galactic disc (Eq. 1), normalised by Eq. 2.

    Parameters
    ----------
    alpha, beta : float
        Radial shape parameters (dimensionless).
    z0 : float
        Exponential scale height [kpc]. Default 0.083 (Green 2015).
    r_offset : float
        Radial offset r1 [kpc] (Yusifov & Kucuk 2004); 0 for the other profiles.
    r_sun : float
        Galactocentric distance of the Sun [kpc]. Default 8.5.
    r_max : float
        Radius R_G of the source cylinder [kpc]. Default 10.
    h : float
        Half-height of the source cylinder [kpc]. Default 0.1.
    rate_per_yr : float
        Source (supernova) rate R_SN [yr-1]. Default 1/30.
    name, reference : str
        Label and bibliographic reference of the profile.
    """

    alpha: float = 1.09
    beta: float = 3.87
    z0: float = 0.083
    r_offset: float = 0.0
    r_sun: float = 8.5
    r_max: float = 10.0
    h: float = 0.1
    rate_per_yr: float = 1.0 / 30.0
    name: str = "green2015"
    reference: str = "Green (2015), MNRAS 454, 1517"
    _norm: float = field(init=False, repr=False, compare=False, default=None)  # computed on first use

    def __post_init__(self):
        for name in ("z0", "r_sun", "r_max", "h", "rate_per_yr"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"SourceDistribution.{name} must be finite and > 0, got {value!r}")
        if not (np.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"SourceDistribution.beta must be finite and >= 0, got {self.beta!r}")
        if not (np.isfinite(self.alpha) and self.alpha > -2):
            raise ValueError(f"SourceDistribution.alpha must be finite and > -2, got {self.alpha!r}")
        if not (np.isfinite(self.r_offset) and self.r_offset >= 0):
            raise ValueError(f"SourceDistribution.r_offset must be >= 0 kpc, got {self.r_offset!r}")
        if self.r_max <= self.r_sun:
            # every line of sight must start inside the disc for the exit-distance geometry
            raise ValueError(
                f"SourceDistribution.r_max ({self.r_max} kpc) must exceed r_sun ({self.r_sun} kpc)"
            )

    @property
    def rate(self):
        """Source rate [s-1]."""
        return self.rate_per_yr / YR_S

    @property
    def norm(self):
        """The constant A of Eq. 1 [s-1 kpc-3], fixed by Eq. 2 (computed on first use: a profile with
        an offset needs a quadrature, and the bundled ones are built at import)."""
        if self._norm is None:
            object.__setattr__(self, "_norm", self.rate / self.unnormalised_volume_integral())
        return self._norm

    def radial(self, r):
        """Radial factor of Eq. 1 (dimensionless, 1 at r = r_sun), zero beyond r_max."""
        r = np.asarray(r, dtype=float)
        scale = self.r_sun + self.r_offset
        with np.errstate(divide="ignore", invalid="ignore"):
            shape = ((r + self.r_offset) / scale) ** self.alpha * np.exp(
                -self.beta * (r - self.r_sun) / scale
            )
        return np.where((r >= 0) & (r <= self.r_max), shape, 0.0)

    def vertical(self, z):
        """Vertical factor ``exp(-|z|/z0)``, zero for ``|z| > h``."""
        z = np.abs(np.asarray(z, dtype=float))
        return np.where(z <= self.h, np.exp(-z / self.z0), 0.0)

    def density(self, r, z):
        """Source density rho(r, z) [s-1 kpc-3] (Eq. 1 normalised by Eq. 2)."""
        return self.norm * self.radial(r) * self.vertical(z)

    def radial_integral(self):
        """``int_0^r_max r f(r) dr`` [kpc2]: closed form (incomplete gamma) for r_offset = 0."""
        if self.r_offset == 0:
            a = self.alpha + 2.0
            x_max = self.r_max / self.r_sun
            if self.beta * x_max < 1e-8:
                # beta -> 0 (the closed form divides by beta^a): int x^(a-1) e^(-beta (x-1)) dx to
                # first order in beta, relative error < 1e-16
                return self.r_sun**2 * x_max**a / a * (1.0 - self.beta * (a * x_max / (a + 1.0) - 1.0))
            return (
                self.r_sun**2 * np.exp(self.beta) * special.gamma(a)
                * special.gammainc(a, self.beta * x_max) / self.beta**a
            )
        from scipy import integrate  # only here: scipy.integrate costs 0.13 s to import (population uses none)

        value, _ = integrate.quad(
            lambda r: r * self.radial(r), 0.0, self.r_max, epsabs=0, epsrel=1e-12, limit=200
        )
        return value

    def vertical_integral(self):
        """``int_-h^h exp(-|z|/z0) dz`` [kpc]."""
        return 2.0 * self.z0 * -np.expm1(-self.h / self.z0)

    def unnormalised_volume_integral(self):
        """int dV f(r) g(z) over the cylinder [kpc3]."""
        return 2.0 * np.pi * self.radial_integral() * self.vertical_integral()

    def replace(self, **changes):
        """A copy with some fields changed (the normalisation is recomputed)."""
        fields = {
            key: getattr(self, key)
            for key in ("alpha", "beta", "z0", "r_offset", "r_sun", "r_max", "h", "rate_per_yr",
                        "name", "reference")
        }
        fields.update(changes)
        return SourceDistribution(**fields)


#: Published radial profiles. Only the radial shape differs; the vertical profile, the
#: cylinder and the rate are the paper's for all of them.
SOURCE_DISTRIBUTIONS = {
    "green2015": SourceDistribution(),
    "case1998": SourceDistribution(
        alpha=2.0, beta=3.53, name="case1998",
        reference="Case & Bhattacharya (1998), ApJ 504, 761 (SNR surface density)",
    ),
    "lorimer2006": SourceDistribution(
        alpha=1.9, beta=5.0, name="lorimer2006",
        reference="Lorimer et al. (2006), MNRAS 372, 777 (pulsars, model C)",
    ),
    "yusifov2004": SourceDistribution(
        alpha=1.64, beta=4.01, r_offset=0.55, name="yusifov2004",
        reference="Yusifov & Kucuk (2004), A&A 422, 545 (pulsars, Eq. 15)",
    ),
}


def get_source_distribution(value):
    """Return a :class:`SourceDistribution` from a name in ``SOURCE_DISTRIBUTIONS`` or an instance."""
    if isinstance(value, SourceDistribution):
        return value
    if isinstance(value, str) and value in SOURCE_DISTRIBUTIONS:
        return SOURCE_DISTRIBUTIONS[value]
    raise ValueError(
        f"source_distribution must be a SourceDistribution or one of "
        f"{sorted(SOURCE_DISTRIBUTIONS)}, got {value!r}"
    )
