"""The interstellar radiation field (ISRF): photon densities for pair absorption and inverse Compton.

The GALPROP v54 ISRF (Porter & Strong 2005, ICRC 4, 77; Porter, Moskalenko, Strong, Orlando &
Bouchet 2008, ApJ 682, 400), the file DRAGON2 and HERMES read, bundled as
``data/isrf/MilkyWay_DR0.5_DZ0.1_DPHI10_RMAX20_ZMAX5_galprop_format.fits.gz`` (provenance in
data/README.md): axisymmetric, lambda u_lambda [eV cm-3] on Galactocentric R = 0.25-20.25 kpc
(0.5 kpc), z = -5..5 kpc (0.1 kpc, symmetric in z) and 56 wavelengths 0.0912-2.88e4 micron
(0.1 dex), for starlight ("optical"), dust ("infrared") and the CMB. The file's CMB is replaced
here by the exact black body of T = 2.7255 K (Fixsen 2009), so it is never counted twice.

Photons are taken as isotropic (stated wherever the field is used). Per unit ln(eps),
eps = h c / lambda, the photon number density is

    dn / d ln eps = lambda u_lambda / eps     [cm-3]

Between grid points the field is bilinear in (R, abs(z)) and log-linear in eps; beyond the grid in
R and abs(z) it is held at the grid's edge (the field falls slowly there: at R = 20 kpc the optical
and infrared densities are 3 % and 5 % of the solar ones), which overestimates it slightly.
Units: kpc, GeV for photon energies, cm-3.
"""
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["RadiationField", "galprop_isrf", "COMPONENTS", "cmb_number_density", "CMB_TEMPERATURE_K",
           "ISRF_FILE"]

#: the components of the field; "cmb" is the exact black body
COMPONENTS = ("optical", "infrared", "cmb")
#: CMB temperature [K], Fixsen (2009, ApJ 707, 916)
CMB_TEMPERATURE_K = 2.7255
#: the bundled GALPROP v54 file
ISRF_FILE = "MilkyWay_DR0.5_DZ0.1_DPHI10_RMAX20_ZMAX5_galprop_format.fits.gz"

_HC_GEV_MICRON = 1.239841984e-9  # h c [GeV micron]
_HC_GEV_CM = 1.239841984e-13
_BOLTZMANN_GEV_K = 8.617333262e-14


def cmb_number_density(eps_gev, temperature=CMB_TEMPERATURE_K):
    """Black-body photon density per ln(eps), 8 pi eps^3 / (h c)^3 / (exp(eps / kT) - 1) [cm-3]."""
    eps = np.asarray(eps_gev, float)
    x = eps / (_BOLTZMANN_GEV_K * temperature)
    with np.errstate(over="ignore"):
        bose = np.where(x < 700.0, np.exp(-x) / -np.expm1(-np.minimum(x, 700.0)), 0.0)
    return 8.0 * np.pi * eps**3 / _HC_GEV_CM**3 * bose


@dataclass(frozen=True)
class RadiationField:
    """A tabulated axisymmetric radiation field (see the module documentation).

    Parameters
    ----------
    r, z : ndarray
        Increasing grids of Galactocentric radius and height z >= 0 [kpc] (the field is symmetric).
    eps : ndarray
        Increasing photon energies [GeV], log-spaced.
    density : dict
        component -> dn / d ln eps [cm-3], shape (eps.size, z.size, r.size); "cmb" is computed.
    """

    r: np.ndarray
    z: np.ndarray
    eps: np.ndarray
    density: dict = field(repr=False)

    def __post_init__(self):
        for name in ("r", "z", "eps"):
            grid = np.asarray(getattr(self, name), float)
            if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
                raise ValueError(f"{name} must be an increasing 1-d grid of finite values")
        if self.z[0] < 0 or self.r[0] < 0 or self.eps[0] <= 0:
            raise ValueError("r and z must be >= 0 kpc and eps > 0 GeV")
        shape = (self.eps.size, self.z.size, self.r.size)
        for name, values in self.density.items():
            if name not in COMPONENTS[:2]:
                raise ValueError(f"density components must be among {COMPONENTS[:2]}, got {name!r}")
            if np.shape(values) != shape or not np.all(np.isfinite(values)) or np.any(np.asarray(values) < 0):
                raise ValueError(f"density[{name!r}] must be finite, >= 0 and of shape {shape} (eps, z, r), "
                                 f"got shape {np.shape(values)}")

    @staticmethod
    def _components(components):
        components = (components,) if isinstance(components, str) else tuple(components)
        unknown = [c for c in components if c not in COMPONENTS]
        if unknown or not components:
            raise ValueError(f"components must be a non-empty selection of {COMPONENTS}, got {components!r}")
        return components

    def _weights(self, r, z):
        """Bilinear corner indices and weights in (R, abs(z)), positions clamped to the grid."""
        r = np.clip(np.asarray(r, float), self.r[0], self.r[-1])
        z = np.clip(np.abs(np.asarray(z, float)), self.z[0], self.z[-1])
        r, z = np.broadcast_arrays(r, z)
        i = np.clip(np.searchsorted(self.r, r, side="right") - 1, 0, self.r.size - 2)
        j = np.clip(np.searchsorted(self.z, z, side="right") - 1, 0, self.z.size - 2)
        tr = (r - self.r[i]) / (self.r[i + 1] - self.r[i])
        tz = (z - self.z[j]) / (self.z[j + 1] - self.z[j])
        return i, j, tr, tz

    def number_density(self, r, z, components=("optical", "infrared", "cmb")):
        """dn / d ln eps [cm-3] at the grid energies :attr:`eps`, summed over ``components``, at
        positions (r, z) [kpc] (broadcast): shape (eps.size,) + broadcast shape."""
        components = self._components(components)
        if not (np.all(np.isfinite(r)) and np.all(np.isfinite(z))):
            raise ValueError("r and z must be finite [kpc]")
        if np.any(np.asarray(r) < 0):
            raise ValueError("r must be >= 0 kpc (a Galactocentric radius)")
        i, j, tr, tz = self._weights(r, z)
        total = np.zeros((self.eps.size,) + i.shape)
        tabulated = [self.density[c] for c in components if c != "cmb"]
        if tabulated:
            table = np.sum(tabulated, axis=0)
            total += ((table[:, j, i] * (1 - tr) + table[:, j, i + 1] * tr) * (1 - tz)
                      + (table[:, j + 1, i] * (1 - tr) + table[:, j + 1, i + 1] * tr) * tz)
        if "cmb" in components:
            total += cmb_number_density(self.eps).reshape((-1,) + (1,) * i.ndim)
        return total

    def energy_density(self, r, z, components=("optical", "infrared", "cmb")):
        """Energy density [eV cm-3] at (r, z) [kpc], summed over ``components`` (trapezoid in ln eps)."""
        n = self.number_density(r, z, components)
        shape = (-1,) + (1,) * (n.ndim - 1)
        integrand = n * (self.eps * 1e9).reshape(shape)
        from scipy.integrate import trapezoid

        return trapezoid(integrand, np.log(self.eps), axis=0)


@lru_cache(maxsize=2)
def galprop_isrf(filename=None):
    """The bundled GALPROP v54 ISRF as a :class:`RadiationField` (read once; the CMB is the exact
    black body on the same energies, which hold all but 3e-4 of its energy). ``filename``: another
    file in the same GALPROP format (the default is the bundled one)."""
    from astropy.io import fits

    path = resources.files("gammapy_cocoons").joinpath("data", "isrf", ISRF_FILE) if filename is None else filename
    with resources.as_file(path) if filename is None else nullcontext(path) as name, fits.open(name) as hdul:
        header = hdul[0].header
        data = None if hdul[0].data is None else hdul[0].data.astype(float)  # (component, wavelength, z, R)
    if data is None or data.ndim != 4 or data.shape[0] != 3:
        raise ValueError(f"filename {path}: expected 4 axes (component, wavelength, z, R) with 3 components, "
                         f"got shape {None if data is None else data.shape}")

    def axis(n):
        return header[f"CRVAL{n}"] + header[f"CDELT{n}"] * np.arange(header[f"NAXIS{n}"])

    r, z, log_lambda = axis(1), axis(2), axis(3)
    if not np.allclose(data, data[:, :, ::-1, :], rtol=1e-6, atol=0):
        raise ValueError(f"filename {path}: the field is expected symmetric in z")
    upper = z >= -1e-9
    eps = _HC_GEV_MICRON / 10.0 ** log_lambda  # decreasing with wavelength
    order = np.argsort(eps)
    eps = eps[order]
    density = {}
    for k, name in enumerate(COMPONENTS[:2]):
        lambda_u = data[k][order][:, upper, :]  # (eps, z >= 0, R) [eV cm-3]
        density[name] = lambda_u / (eps[:, None, None] * 1e9)
    return RadiationField(r=r, z=np.abs(z[upper]), eps=eps, density=density)
