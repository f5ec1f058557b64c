"""An embedded conventional DGE: the Galactic CR sea on the gas, with the cocoons' AAfrag machinery.

    I(E, l, b) = q(E) int ds f(r, z) n_H(r, z),
    q(E) = sum_i int dE_i J_i(E_i) [dsigma_i,p/dE + y dsigma_i,He/dE]    (per H atom, per sr)

* J_i: local interstellar H and He spectra fitted to AMS-02, DAMPE, CALET and one knee
  experiment (:mod:`.localspectra`);
* f(r, z): the CR density of pure diffusion from the disc sources in a cylindrical halo,
  1 at the Sun (:mod:`.crsea`); the same at every energy in this model;
* n_H = n_HI + 2 n_H2: Nakanishi & Sofue (:mod:`.gas`), ISM helium y = n_He / n_H = 0.1;
* dsigma/dE: AAfrag (p-p, p-He, He-p, He-He) with the low-energy fill of
  :mod:`gammapy_cocoons.physics.crosssections`.

It is not DRAGON + HERMES: no spiral arms, a single diffusion coefficient without advection or
energy losses, no inverse-Compton or bremsstrahlung component, and no gamma-ray absorption on the
CMB/ISRF (which removes ~10-30 % of the flux from the inner Galaxy at 1 PeV and less below
300 TeV). See docs/dge.md for the comparison with the measured spectra.
"""
import logging
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import astropy.units as u
from gammapy.maps import HpxGeom, Map, MapAxis
from gammapy.modeling.models import PowerLawNormSpectralModel, SkyModel, TemplateSpatialModel

from .._validation import choice
from ..constants import KPC_CM, PROTON_MASS_G
from ..physics import skymaps
from ..physics.crosssections import SECONDARIES, primary_energy_range
from ..physics.production import PrimaryGrid, _kernel_matrix
from .crsea import CosmicRaySea
from .gas import GasModel
from .localspectra import KNEE_VARIANTS, local_spectra

__all__ = ["ConventionalDGE", "conventional_dge", "DGE_VARIANTS"]

#: the paper's "base min / base max" and the knee experiment behind each
DGE_VARIANTS = ("min", "max") + tuple(KNEE_VARIANTS)
_SPECIES = (("H", "p", 1.0), ("He", "He", 4.0))


class ConventionalDGE:
    """The embedded conventional DGE for one knee variant (see the module documentation).

    Parameters
    ----------
    variant : str
        "kascade-grande" or "icetop" (the knee data of the local-spectrum fit).
    helium_fraction : float
        ISM helium n_He / n_H.
    gas : GasModel, optional
    sea : CosmicRaySea, optional
    per_decade : int
        Primary-energy grid density of the emissivity integral.
    """

    def __init__(self, variant="kascade-grande", helium_fraction=0.1, gas=None, sea=None, per_decade=32):
        self.variant = choice(variant, KNEE_VARIANTS, "variant")
        self.spectra = local_spectra(self.variant)
        self.helium_fraction = float(helium_fraction)
        if not 0 <= self.helium_fraction <= 1:
            raise ValueError(f"helium_fraction must be within [0, 1], got {helium_fraction!r}")
        self.gas = GasModel() if gas is None else gas
        self.sea = CosmicRaySea() if sea is None else sea
        self.per_decade = int(per_decade)
        self._table = None

    # -- spectra ------------------------------------------------------------------------------
    def emissivity(self, energy_gev, secondary="gamma"):
        """q(E) [GeV-1 s-1 sr-1 per H atom] at secondary energies [GeV] (1-d array)."""
        product, factor = SECONDARIES[choice(secondary, SECONDARIES, "secondary")]
        energy = np.ascontiguousarray(energy_gev, dtype=float)
        targets = (("p", 1.0), ("He", self.helium_fraction)) if self.helium_fraction > 0 else (("p", 1.0),)
        total = np.zeros(energy.size)
        for species, projectile, _ in _SPECIES:
            ranges = [primary_energy_range("aafrag", projectile, t) for t, _ in targets]
            grid = PrimaryGrid(max(r[0] for r in ranges), min(r[1] for r in ranges), self.per_decade)
            # cm2 g-1 per unit target column; x m_p gives cm2 per H atom
            matrix = _kernel_matrix("aafrag", product, projectile, targets, grid, energy) * PROTON_MASS_G
            flux = self.spectra.flux_total_energy(species, grid.energy) * 1e-4  # m-2 -> cm-2
            total += factor * (matrix @ flux)
        return total

    # -- geometry -----------------------------------------------------------------------------
    def density(self, r, z):
        """f_CR(r, z) n_H(r, z) [cm-3]: the CR-weighted hydrogen density."""
        return self.sea(r, z) * self.gas.hydrogen(r, z)

    @property
    def table(self):
        """Latitude-cumulative integral of the CR-weighted gas column (cached)."""
        if self._table is None:
            sun = self.sea.source_distribution.r_sun
            self._table = skymaps.ColumnTable(
                self.density, sun, min(self.sea.halo_radius, self.gas.r_max),
                min(self.sea.halo_height, self.gas.z_max),
                z_breaks=(0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2),
            )
        return self._table

    def column(self, lon, lat):
        """int ds f_CR n_H along (lon, lat) [rad] [cm-2] (point values)."""
        lon, lat = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
        return self.table.column(lon.ravel(), lat.ravel()).reshape(lon.shape) * KPC_CM

    def cube(self, energy, nside=128, secondary="gamma", geom=None):
        """Intensity cube [GeV-1 cm-2 s-1 sr-1] of pixel averages.

        By default on an all-sky Galactic HEALPix grid (RING, ``nside``); ``geom`` may be any
        image WcsGeom or HpxGeom instead (pixel integrals exact in latitude, see
        :mod:`gammapy_cocoons.physics.skymaps`).
        """
        from ..models.spatial import pixel_integrals_from_table

        energy = u.Quantity(energy, "GeV")
        axis = MapAxis.from_nodes(energy, name="energy_true", interp="log")
        if geom is None:
            geom = HpxGeom.create(nside=nside, nest=False, frame="galactic")
        image = geom.to_image()
        columns = pixel_integrals_from_table(self.table, image) / image.solid_angle().to_value("sr") * KPC_CM
        q = self.emissivity(energy.to_value("GeV"), secondary)
        data = (q.reshape((-1,) + (1,) * columns.ndim) * columns[None]).astype(np.float32)
        return Map.from_geom(image.to_cube([axis]), data=data, unit="GeV-1 cm-2 s-1 sr-1")


@contextmanager
def _quiet(logger_name):
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _variant(variant):
    variant = choice(variant, DGE_VARIANTS, "variant")
    if variant in KNEE_VARIANTS:
        return variant
    # "min" / "max": the knee variant with the lower / higher gamma-ray emissivity at 300 TeV
    q = {v: ConventionalDGE(v).emissivity(np.array([3e5]))[0] for v in KNEE_VARIANTS}
    ordered = sorted(q, key=q.get)
    return ordered[0] if variant == "min" else ordered[-1]


_DEFAULT_ENERGIES = np.geomspace(0.5, 5e6, 57)  # GeV, 8 per decade


@lru_cache(maxsize=8)
def _cached_cube(variant, secondary, nside):
    return ConventionalDGE(variant).cube(_DEFAULT_ENERGIES * u.GeV, nside=nside, secondary=secondary)


def conventional_dge(variant="min", secondary="gamma", nside=128, name=None):
    """The embedded conventional DGE as a gammapy SkyModel (template x PowerLawNormSpectralModel).

    Parameters
    ----------
    variant : str
        "min" / "max" (the knee variant with the lower / higher emissivity at 300 TeV, bracketing
        the knee data like the paper's "base min / max"), or "kascade-grande" / "icetop".
    secondary : str
        "gamma", "nu_per_flavour", "nu_all", or one neutrino species at the source.
    nside : int
        HEALPix resolution of the template (128: 0.46 deg pixels, pixel-averaged).
    name : str, optional
        Model name (default "dge-<variant>").

    Returns
    -------
    `~gammapy.modeling.models.SkyModel`
        Of the same kind as :func:`~gammapy_cocoons.dge.read_dge`; the cube covers 0.5 GeV -
        5 PeV at 8 energies per decade. Built once per (variant, secondary, nside) and cached.
    """
    knee = _variant(variant)
    choice(secondary, SECONDARIES, "secondary")
    if not isinstance(nside, (int, np.integer)) or nside < 8 or nside & (nside - 1):
        raise ValueError(f"nside must be a power of 2 >= 8, got {nside!r}")
    cube = _cached_cube(knee, secondary, int(nside))
    with _quiet("gammapy.modeling.models.spatial"):  # no file yet: written by whoever saves the models
        spatial = TemplateSpatialModel(cube, normalize=False)
    model = SkyModel(
        spectral_model=PowerLawNormSpectralModel(), spatial_model=spatial, name=name or f"dge-{variant}"
    )
    return model
