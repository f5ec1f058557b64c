"""The Galactic cosmic-ray sea: steady-state diffusion from the disc sources in a cylindrical halo.

Pure diffusion with a spatially constant coefficient D in a cylinder of radius R and half-height
H, free escape (n = 0) on its surface, sources in the thin disc with surface density
sigma(r) = int rho dz of the same source distribution as the cocoons (Eqs. 1-2)::

    div(D grad n) = -sigma(r) delta(z)

has the Bessel-series solution (e.g. Berezinskii et al. 1990, ch. 3)::

    n(r, z) = sum_k sigma_k / (2 D s_k) J0(nu_k r / R) sinh(s_k (H - |z|)) / cosh(s_k H),
    s_k = nu_k / R,   sigma_k = 2 / (R^2 J1(nu_k)^2) int_0^R r sigma(r) J0(nu_k r / R) dr,

with nu_k the zeros of J0. D only sets the normalisation and, without advection or losses, the
profile is the same at every energy: the spectrum is fixed by the local measurements
(:mod:`.localspectra`) and this module gives the shape n(r, z) / n(r_sun, 0). The tests check it
against a finite-difference solution of the same equation and against the slab limit
``n(z) / n(0) = 1 - |z| / H``.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, special

from ..physics.galaxy import SourceDistribution, get_source_distribution

__all__ = ["CosmicRaySea"]


@dataclass(frozen=True)
class CosmicRaySea:
    """Shape of the Galactic CR density, 1 at the Sun.

    Parameters
    ----------
    source_distribution : SourceDistribution or str
        Disc sources (default Green 2015, as the cocoons).
    halo_radius : float
        Radius R of the diffusion cylinder [kpc], > source radius.
    halo_height : float
        Half-height H of the halo [kpc].
    n_terms : int
        Bessel terms of the series.
    """

    source_distribution: SourceDistribution = field(default_factory=SourceDistribution)
    halo_radius: float = 20.0
    halo_height: float = 4.0
    n_terms: int = 300
    _table: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "source_distribution", get_source_distribution(self.source_distribution))
        dist = self.source_distribution
        if not (np.isfinite(self.halo_height) and self.halo_height > dist.h):
            raise ValueError(f"halo_height must exceed the source disc half-height {dist.h} kpc, got {self.halo_height!r}")
        if not (np.isfinite(self.halo_radius) and self.halo_radius > dist.r_max):
            raise ValueError(f"halo_radius must exceed the source radius {dist.r_max} kpc, got {self.halo_radius!r}")
        if int(self.n_terms) < 10:
            raise ValueError(f"n_terms must be >= 10, got {self.n_terms!r}")
        object.__setattr__(self, "_table", self._tabulate())

    # -- the series ---------------------------------------------------------------------------
    def _coefficients(self):
        """nu_k and the z = 0 amplitudes sigma_k / (2 s_k) (D = 1) of the series."""
        dist = self.source_distribution
        radius = self.halo_radius
        nu = special.jn_zeros(0, int(self.n_terms))
        # int_0^r_max r sigma(r) J0(nu r / R) dr: Gauss-Legendre on 0.05 kpc pieces resolves the
        # highest Bessel oscillation (wavelength 2 pi R / nu_max ~ 0.13 kpc for 300 terms)
        x, w = np.polynomial.legendre.leggauss(8)
        edges = np.linspace(0.0, dist.r_max, int(np.ceil(dist.r_max / 0.05)) + 1)
        half = 0.5 * np.diff(edges)[:, None]
        r = ((edges[:-1, None] + half) + half * x).ravel()
        weight = (half * w).ravel()
        sigma = dist.radial(r)  # the surface density up to a constant factor
        integrals = (weight * r * sigma) @ special.j0(np.outer(r, nu) / radius)
        sigma_k = 2.0 / (radius**2 * special.j1(nu) ** 2) * integrals
        s = nu / radius
        return nu, sigma_k / (2.0 * s)

    def _vertical(self, s, z):
        """sinh(s (H - z)) / cosh(s H) without overflow, for z in [0, H]."""
        height = self.halo_height
        return (np.exp(-s * z) - np.exp(-s * (2 * height - z))) / (1 + np.exp(-2 * s * height))

    def series(self, r, z):
        """n(r, z) from the Bessel series, D = 1, unnormalised (r, z in kpc; broadcast)."""
        nu, amplitude = self._coefficients()
        r, z = np.broadcast_arrays(np.asarray(r, float), np.abs(np.asarray(z, float)))
        s = nu / self.halo_radius
        terms = amplitude * special.j0(np.multiply.outer(r, nu) / self.halo_radius) * self._vertical(s, z[..., None])
        inside = (r <= self.halo_radius) & (z <= self.halo_height)
        return np.where(inside, np.sum(terms, axis=-1), 0.0)

    def _tabulate(self):
        # the series is separable: one matrix product on the (r, z) grid
        nu, amplitude = self._coefficients()
        s = nu / self.halo_radius
        r = np.linspace(0.0, self.halo_radius, int(round(self.halo_radius / 0.05)) + 1)
        z = np.linspace(0.0, self.halo_height, int(round(self.halo_height / 0.02)) + 1)
        radial = special.j0(np.outer(r, nu) / self.halo_radius) * amplitude
        values = radial @ self._vertical(s[:, None], z[None, :])
        sun = self.series(self.source_distribution.r_sun, 0.0)
        return r[1] - r[0], z[1] - z[0], np.maximum(values / sun, 0.0)

    # -- public -------------------------------------------------------------------------------
    def __call__(self, r, z):
        """n(r, z) / n(r_sun, 0), bilinear in a 0.05 x 0.02 kpc table; zero outside the halo."""
        dr, dz, table = self._table
        r, z = np.broadcast_arrays(np.asarray(r, float), np.abs(np.asarray(z, float)))
        coordinates = np.array([r.ravel() / dr, z.ravel() / dz])
        value = ndimage.map_coordinates(table, coordinates, order=1, mode="constant", cval=0.0)
        return value.reshape(r.shape)
