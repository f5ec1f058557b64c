"""An embedded conventional DGE: the Galactic CR sea on survey gas, with the cocoons' AAfrag machinery.

    I(E, l, b) = sum_j q_j(E) [N_HI(l, b) <f_j>_HI(l, b) + int ds f_j(r, z) 2 n_H2(r, z)] T(E, l, b)
    q_j(E) = sum_i int dE_i J_i(E_i) w_j(E_i) [dsigma_i,p/dE + y dsigma_i,He/dE]   (per H atom, per sr)

* J_i: local interstellar H and He spectra fitted to AMS-02, DAMPE, CALET and one knee
  experiment (:mod:`.localspectra`, one knee variant per model); "min" / "max" of
  :func:`conventional_dge` are the voxel-wise lower / upper envelope of the variants' cubes.
* f_j(r, z): the CR density, 1 at the Sun, of diffusion and advection from the disc sources in
  the halo of the B/C model's :class:`~gammapy_cocoons.physics.transport.GalacticTransport`
  (:mod:`.crsea`), at rigidity nodes j; w_j(E_i) interpolates between them in log(D/u), so the
  spatial shape may change with energy (sum_j w_j = 1, so q = sum_j q_j at the Sun).
* N_HI: the HI4PI column of each direction (:func:`.gas.hi4pi_columns`); <f_j>_HI is the CR
  density averaged along the line of sight with the 3-D HI model as weight: the model only
  distributes the observed column. Optional HI opacity (:mod:`.hi_opacity`) and dark neutral gas
  (:mod:`.darkgas`, distributed like the HI).
* H2: the Dame et al. (2001) CO survey (:mod:`.co`), N_H2 = X_CO W_CO, each direction's column
  distributed along the line of sight with the 3-D H2 model of :mod:`.gas` as weight (so also an
  X_CO(R) profile); the 3-D model itself where the survey has no data (the sum above is written
  for that case). X_CO = 2e20 cm-2 (K km/s)-1 by default (Bolatto et al. 2013).
  ISM helium y = n_He / n_H = 0.1 in the emissivity.
* dsigma/dE: AAfrag (p-p, p-He, He-p, He-He), each channel over its own primary range, with
  the low-energy p-p fill of :mod:`gammapy_cocoons.physics.crosssections`.
* T: the gamma-ray transmission, pair production on the GALPROP ISRF (starlight, dust) and the
  CMB (:mod:`gammapy_cocoons.physics.absorption`, isotropic photons), the optical depth from each
  emitting position to the Sun averaged along each line of sight with the emission as weight;
  neutrinos are not absorbed.

Components: "pi0" (above; the default, the paper's convention) and, one argument away, the
leptonic "ic" and "bremsstrahlung" of the electron sea (:mod:`.electrons`, :mod:`gammapy_cocoons.dge.leptonic`):
``ConventionalDGE(components=("pi0", "ic", "bremsstrahlung"))``; neutrinos are pi0 only.

It is not DRAGON + HERMES: no spiral arms and no reacceleration. See docs/dge.md for the validation on
the Fermi-LAT pi0 template and the comparison with the TeV-PeV data.
"""
import copy
import logging
import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from functools import cached_property, lru_cache

import numpy as np
import astropy.units as u

from .._validation import boolean, choice, healpix_nside
from ..constants import KPC_CM, PROTON_MASS_G
from ..physics import skymaps
from ..physics.absorption import Attenuation, cumulative_gauss_legendre, isrf_basis
from ..physics.cosmicrays import HELIUM, PROTON
from ..physics.crosssections import SECONDARIES
from ..physics.production import _kernel_matrix, channel_grids, target_columns
from .._cache import cache_directory
from .crsea import CosmicRaySea
from . import co as _co
from .diskcache import cached_cube, check_memory, cube_key
from .gas import GasModel, hi4pi_columns
from .localspectra import DEFAULT_VARIANT, KNEE_VARIANTS, fitted, local_spectra

__all__ = ["ConventionalDGE", "conventional_dge", "envelope_cubes", "DGE_VARIANTS", "ENVELOPES", "DGE_COMPONENTS"]

#: the envelopes of the knee variants (the paper's "base min / base max")
ENVELOPES = ("min", "max")
#: what :func:`conventional_dge` accepts: an envelope or one knee variant
DGE_VARIANTS = ENVELOPES + tuple(KNEE_VARIANTS)
#: emission components: pi0 decay (the default) and the electron sea's IC and bremsstrahlung
DGE_COMPONENTS = ("pi0", "ic", "bremsstrahlung")
_SPECIES = (("H", PROTON), ("He", HELIUM))
_HI_NSIDE = 64
# |b| below which the HI weights are averaged over 16 sub-directions of each survey pixel
_PLANE_DEG = 3.0
# lines of sight of the transmission grid [deg]: 2 deg in l, fine in |b| near the plane
_TRANSMISSION_LON = np.arange(0.0, 361.0, 2.0)
_TRANSMISSION_LAT = np.array([0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0,
                              16.0, 24.0, 32.0, 45.0, 60.0, 75.0, 90.0])
# samples along them: interval ends where the line crosses these heights [kpc], Gauss-Legendre
# nodes per interval, lines per chunk of the transmission (bounds its memory)
_TRANSMISSION_Z_BREAKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
_TRANSMISSION_NODES = 6
_TRANSMISSION_CHUNK = 256
# longest path through the halo [kpc]: kappa x this below 1e-6 means no absorption
_MAX_PATH_KPC = 40.0
# what ConventionalDGE uses of a CR sea (CosmicRaySea, RadialDeltaSea)
_SEA_INTERFACE = ("rigidity_nodes", "weights", "diffusion_length", "node_shape", "node_shapes",
                  "source_distribution", "halo_radius", "halo_height")
# lines of sight of the CO-survey weights [deg]: 1 deg in l, fine in abs(b) near the plane
_CO_LON = np.arange(0.0, 361.0, 1.0)
_CO_LAT = np.array([0.0, 0.0625, 0.125, 0.1875, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0,
                    4.0, 5.0, 6.0, 8.0, 10.0, 12.5, 15.0, 20.0, 25.0, 30.0, 40.0, 60.0, 90.0])
# lines of sight per chunk of the gas columns along them (bounds their temporaries to a few MB)
_SIGHT_CHUNK = 512
# pixels per block of the pi0 cube computation (bounds its temporaries to a few MB)
_CUBE_BLOCK = 1024
# HI weights, H2 tables, CO weights and columns per (gas, CR sea, survey, X_CO, ...), least recently used out
_GEOMETRY = OrderedDict()
_GEOMETRY_SIZE = 24


def _geometry_once(key, compute):
    """``compute()`` once per process for ``key`` (every input of the result), the last
    :data:`_GEOMETRY_SIZE` kept."""
    if key not in _GEOMETRY:
        _GEOMETRY[key] = compute()
        while len(_GEOMETRY) > _GEOMETRY_SIZE:
            _GEOMETRY.popitem(last=False)
    _GEOMETRY.move_to_end(key)
    return _GEOMETRY[key]


def _checked_energy(energy_gev):
    """Secondary energies [GeV] as a flat float array, refused outside the emissivity's range
    (the local spectra and AAfrag tables: 0.1 GeV - 1e8 GeV, as the cocoon engine's)."""
    from ..emission import ENERGY_RANGE

    energy = np.ascontiguousarray(np.atleast_1d(np.asarray(energy_gev, dtype=float)))
    lo, hi = (e.to_value("GeV") for e in ENERGY_RANGE)
    if energy.size == 0 or energy.ndim != 1 or not np.all((energy >= lo) & (energy <= hi)):
        raise ValueError(f"energy must be a non-empty 1-d array within {lo:g} - {hi:g} GeV, got {energy_gev!r}")
    return energy


def _checked_components(components, secondary="gamma"):
    """A validated tuple of component names (neutrinos: pi0 only)."""
    if isinstance(components, str):
        components = (components,)
    try:
        components = tuple(components)
    except TypeError:
        raise ValueError(f"components must be a sequence of names from {DGE_COMPONENTS}, got {components!r}") from None
    if not components or len(set(components)) != len(components) \
            or any(not isinstance(c, str) or c not in DGE_COMPONENTS for c in components):
        raise ValueError(f"components must be a non-empty selection (no repeats) of {DGE_COMPONENTS}, got {components!r}")
    if secondary != "gamma" and components != ("pi0",):
        raise ValueError(f"components must be ('pi0',) for neutrinos ({secondary!r}): electrons make no neutrinos, "
                         f"got {components!r}")
    return tuple(c for c in DGE_COMPONENTS if c in components)


def _mirrored_half(lon_grid):
    """How many of the longitudes ``lon_grid`` [deg] (0 to 360, uniform, l-major line grids) lie at or
    below 180 deg: the rest are mirror images (l -> 360 - l) of these."""
    return int(np.count_nonzero(lon_grid <= 180.0))


def _mirror_index(lon_grid):
    """Index into the first :func:`_mirrored_half` longitudes of ``lon_grid`` giving each longitude's
    own line (l <= 180 deg) or its mirror image's (360 - l)."""
    index = np.arange(lon_grid.size)
    index = np.where(lon_grid <= 180.0, index, lon_grid.size - 1 - index)
    if not np.allclose(lon_grid[index], np.minimum(lon_grid, 360.0 - lon_grid)):
        raise ValueError("the longitude grid must be uniform from 0 to 360 deg")
    return index


def _line_weights(lon_deg, lat_deg):
    """Where (l, b) [deg] falls in the transmission grid's lines of sight: the line k of its lower
    corner (l-major) and the single-precision fractions (ti, tj) in l and abs(b), each of lon's shape."""
    lon = np.mod(np.asarray(lon_deg, float), 360.0)
    lat = np.abs(np.asarray(lat_deg, float))
    i = np.clip(np.searchsorted(_TRANSMISSION_LON, lon, side="right") - 1, 0, _TRANSMISSION_LON.size - 2)
    j = np.clip(np.searchsorted(_TRANSMISSION_LAT, lat, side="right") - 1, 0, _TRANSMISSION_LAT.size - 2)
    ti = ((lon - _TRANSMISSION_LON[i]) / np.diff(_TRANSMISSION_LON)[i]).astype(np.float32)
    tj = ((lat - _TRANSMISSION_LAT[j]) / np.diff(_TRANSMISSION_LAT)[j]).astype(np.float32)
    return i * _TRANSMISSION_LAT.size + j, ti, tj


def _interpolate_lines(lines, k, ti, tj):
    """Bilinear values of ``lines`` (n_lines, m), one contiguous row per line of sight, at the
    :func:`_line_weights` (k, ti, tj): shape k.shape + (m,), single precision."""
    n_lat = _TRANSMISSION_LAT.size
    ti, tj = ti[..., None], tj[..., None]
    return (lines[k] * (1 - ti) + lines[k + n_lat] * ti) * (1 - tj) \
        + (lines[k + 1] * (1 - ti) + lines[k + n_lat + 1] * ti) * tj


def _bilinear_lines(grid, lon_deg, lat_deg):
    """Values of a transmission grid (k, n_energies, n_lines) at (l, b) [deg], bilinear in l and abs(b):
    a list of k arrays of shape (n_energies,) + lon.shape, single precision (the grid's)."""
    k, ti, tj = (np.ravel(w) for w in _line_weights(lon_deg, lat_deg))
    shape = (grid.shape[1],) + np.shape(lon_deg)
    out = []
    for g in grid:
        lines = np.ascontiguousarray(g.T)
        values = np.empty((grid.shape[1], k.size), np.float32)
        for start in range(0, k.size, _CUBE_BLOCK):  # cache-sized blocks of directions
            part = slice(start, start + _CUBE_BLOCK)
            values[:, part] = _interpolate_lines(lines, k[part], ti[part], tj[part]).T
        out.append(values.reshape(shape))
    return out


def _is_map(value):
    """Whether ``value`` is a gammapy Map (without importing gammapy for a value that cannot be one)."""
    if isinstance(value, (str, np.ndarray, list, tuple)):
        return False
    from gammapy.maps import Map

    return isinstance(value, Map)


def _hi_survey(hi_columns):
    """Validated HI column map: (values [cm-2] RING Galactic, nside)."""
    import healpy as hp

    if isinstance(hi_columns, str):
        choice(hi_columns, ("hi4pi",), "hi_columns")
        values = hi4pi_columns()
    elif _is_map(hi_columns):
        geom = hi_columns.geom
        if not geom.is_hpx or geom.frame != "galactic" or geom.is_regular is False or geom.axes:
            raise ValueError("hi_columns must be an all-sky HEALPix image in the Galactic frame")
        if not hi_columns.unit.is_equivalent("cm-2"):
            raise ValueError(f"hi_columns must have a column-density unit (cm-2), got '{hi_columns.unit}'")
        values = hi_columns.quantity.to_value("cm-2").astype(float)
        if geom.nest:
            values = hp.reorder(values, n2r=True)
    else:
        values = np.asarray(hi_columns, dtype=float)
    if values.ndim != 1 or not hp.isnpixok(values.size):
        raise ValueError(f"hi_columns must be one all-sky HEALPix map (12 nside^2 values), got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("hi_columns must be finite and >= 0 everywhere")
    return values, hp.npix2nside(values.size)


class ConventionalDGE:
    """The embedded conventional DGE for one knee variant (see the module documentation).

    Parameters
    ----------
    variant : str
        One knee variant of the local spectra, a key of
        :data:`~gammapy_cocoons.dge.localspectra.KNEE_VARIANTS` (default "lhaaso").
    helium_fraction : float
        ISM helium n_He / n_H.
    gas : GasModel, optional
        3-D gas model (its H2 and the HI distribution along the line of sight).
    sea : CosmicRaySea, optional
        The CR sea (default: the B/C transport with the Case & Bhattacharya 1998 sources); any
        object with its interface (e.g. :class:`~.radial_delta.RadialDeltaSea`).
    hi_columns : "hi4pi", HEALPix Map or array
        All-sky HI column map [cm-2], Galactic, RING if an array.
    hi_spin_temperature : float, optional
        Spin temperature [K] of the approximate isothermal HI opacity correction
        (:mod:`.hi_opacity`); None (default): the optically thin survey columns.
    x_co : float, Quantity or str
        CO-to-H2 factor [cm-2 (K km/s)-1] of the survey and of the 3-D H2 model (which is read as the
        W_CO distribution of Nakanishi & Sofue, ``gas.h2 / gas.x_co``); default 2e20 (Bolatto et al.
        2013), or a radial profile of :data:`.co.X_CO_PROFILES` ("strong2004").
    co_survey : "dame2001", gammapy Map or None
        The W_CO survey (a Map: a Galactic image in K km/s, NaN where not observed); None: the 3-D
        H2 model everywhere (the model before the survey was bundled).
    dark_gas : "planck", "sfd", HEALPix Map or None
        Dark neutral gas from a dust map (:mod:`.darkgas`, Grenier et al. 2005) at abs(b) >= 5 deg:
        "planck" (default, the Planck 2013 radiance E(B-V)), "sfd" (Schlegel et al. 1998), a HEALPix
        Map of E(B-V); None: no dark gas (and the 3-D H2 model wherever the CO survey has no data).
    dark_gas_ratio : float or Quantity, optional
        N_H / E(B-V) [cm-2 mag-1] of the dark-gas recipe; None: calibrated on the HI off the plane.
    heavier_nuclei : bool
        Add the secondaries of cosmic rays and ISM nuclei heavier than He (:mod:`.nuclear`,
        Kachelriess et al. 2014): +11 % at 10 GeV, +14 % at 1 TeV (default True).
    absorption : bool
        Gamma-ray absorption on the ISRF and the CMB (default True; neutrinos are never absorbed).
    per_decade : int
        Primary-energy grid density of the emissivity integral.
    components : sequence of str
        Emission components of the gamma-ray cubes, from :data:`DGE_COMPONENTS`: "pi0" (default,
        the paper's convention), "ic", "bremsstrahlung" (the electron sea, :mod:`gammapy_cocoons.dge.leptonic`).
    electron_sea : ElectronSea, optional
        The electron sea of the leptonic components (default: the one of this CR sea and gas).
    """

    def __init__(self, variant=DEFAULT_VARIANT, helium_fraction=0.1, gas=None, sea=None, hi_columns="hi4pi",
                 absorption=True, per_decade=32, hi_spin_temperature=None, x_co=_co.X_CO_BOLATTO2013,
                 co_survey="dame2001", dark_gas="planck", dark_gas_ratio=None, heavier_nuclei=True,
                 components=("pi0",), electron_sea=None):
        self.variant = choice(variant, KNEE_VARIANTS, "variant")
        self.absorption = boolean(absorption, "absorption")
        self.heavier_nuclei = boolean(heavier_nuclei, "heavier_nuclei")
        self.spectra = local_spectra(self.variant)
        self.helium_fraction = float(helium_fraction)
        if not 0 <= self.helium_fraction <= 1:
            raise ValueError(f"helium_fraction must be within [0, 1], got {helium_fraction!r}")
        self.gas = GasModel() if gas is None else gas
        if not isinstance(self.gas, GasModel):
            raise ValueError(f"gas must be a GasModel, got {gas!r}")
        self.sea = _default_sea() if sea is None else sea
        if not all(hasattr(self.sea, name) for name in _SEA_INTERFACE):
            raise ValueError(f"sea must be a CosmicRaySea or have its interface ({', '.join(_SEA_INTERFACE)}), got {sea!r}")
        self.hi_columns, self.hi_nside = _hi_survey(hi_columns)
        self.hi_spin_temperature = hi_spin_temperature
        if hi_spin_temperature is not None:
            try:
                hi_spin_temperature = float(hi_spin_temperature)
            except (TypeError, ValueError):
                raise ValueError(f"hi_spin_temperature must be a temperature [K] > 10, got {hi_spin_temperature!r}") from None
            from .hi_opacity import hi_opacity_factors

            self.hi_columns = self.hi_columns * hi_opacity_factors(
                self.hi_columns, self.hi_nside, self.gas, self.sea.source_distribution.r_sun, hi_spin_temperature)
        self.x_co = _co.x_co_profile(x_co)
        self.co_survey = _co.co_survey(co_survey)
        self.dark_gas = None
        if dark_gas is not None:
            from .darkgas import DarkGas

            self.dark_gas = DarkGas.create(dark_gas, dark_gas_ratio, self)
        elif dark_gas_ratio is not None:
            raise ValueError("dark_gas_ratio needs a dust map: give dark_gas='sfd' or 'planck'")
        self.per_decade = int(per_decade)
        self.components = _checked_components(components)
        self._electron_sea = electron_sea
        if electron_sea is not None:
            from .electrons import ElectronSea

            if not isinstance(electron_sea, ElectronSea):
                raise ValueError(f"electron_sea must be an ElectronSea, got {electron_sea!r}")

    @property
    def electron_sea(self):
        """The electron sea of the leptonic components (built on first use, shared per CR sea and gas)."""
        if self._electron_sea is None:
            self._electron_sea = _shared_electron_sea(self.sea, self.gas, self.helium_fraction)
        return self._electron_sea

    # -- spectra ------------------------------------------------------------------------------
    def node_emissivities(self, energy_gev, secondary="gamma"):
        """q_j(E) [GeV-1 s-1 sr-1 per H atom], shape (n_nodes, n_energies): the emissivity of the
        part of the local spectrum assigned to each CR-sea node."""
        product, factor = SECONDARIES[choice(secondary, SECONDARIES, "secondary")]
        energy = _checked_energy(energy_gev)
        targets = target_columns(self.helium_fraction)
        # target_columns is per unit grammage (g); per H atom: x m_p (1 + 4y)
        per_atom = PROTON_MASS_G * (1.0 + 4.0 * self.helium_fraction)
        total = np.zeros((len(self.sea.rigidity_nodes), energy.size))
        for name, species in _SPECIES:
            for target, fraction, grid in channel_grids("aafrag", species.name, targets, self.per_decade):
                matrix = _kernel_matrix("aafrag", product, species.name, ((target, fraction),), grid, energy)
                flux = self.spectra.flux_total_energy(name, grid.energy) * 1e-4  # m-2 -> cm-2
                rigidity = species.rigidity(grid.energy)
                beta = species.momentum(grid.energy) / grid.energy
                weights = self.sea.weights(self.sea.diffusion_length(rigidity, beta))
                total += factor * per_atom * (weights * flux) @ matrix.T
        if self.heavier_nuclei:
            from .nuclear import heavier_nuclei_ratio

            total *= 1.0 + heavier_nuclei_ratio(energy, self.helium_fraction)
        return total

    def emissivity(self, energy_gev, secondary="gamma"):
        """q(E) [GeV-1 s-1 sr-1 per H atom] at the Sun, at secondary energies [GeV]."""
        return self.node_emissivities(energy_gev, secondary).sum(axis=0)

    def emissivity_components(self):
        """The gamma-ray emissivities per H atom at the Sun by process: {name: q(E [GeV]) [GeV-1 s-1
        sr-1]}. "pion": pi0 decay of H, He and heavier nuclei (if ``heavier_nuclei``);
        "bremsstrahlung": the local electrons and positrons of :attr:`electron_sea` on the same gas
        (H and He, screened cross sections; :mod:`gammapy_cocoons.dge.leptonic`)."""
        def bremsstrahlung(energy):
            from .leptonic import bremsstrahlung_node_emissivities

            return bremsstrahlung_node_emissivities(self.electron_sea, _checked_energy(energy)).sum(axis=0)

        return {"pion": lambda energy: self.emissivity(energy, "gamma"), "bremsstrahlung": bremsstrahlung}

    def local_emissivity(self, energy, components=("pion",)):
        """The local gamma-ray emissivity per H atom, dq/dE [s-1 sr-1 GeV-1], at the Sun.

        Parameters
        ----------
        energy : Quantity
            Gamma-ray energies (0.1 GeV - 100 PeV, any shape).
        components : sequence of str
            Processes to sum, from :meth:`emissivity_components` (default: pi0 decay only).

        Returns
        -------
        Quantity
            Of the shape of ``energy``, per H atom of the gas (He and heavier ISM nuclei included
            through the emissivity's targets), as Fermi-LAT local emissivities are quoted.
        """
        from .._validation import to_value

        value = to_value(energy, "GeV", "energy")
        available = self.emissivity_components()
        names = (components,) if isinstance(components, str) else tuple(components)
        if not names or any(name not in available for name in names):
            raise ValueError(f"components must be a non-empty sequence of {sorted(available)}, got {components!r}")
        flat = value.ravel()
        q = sum(available[name](flat) for name in names)
        return (q.reshape(value.shape) if value.ndim else q[0]) * u.Unit("s-1 sr-1 GeV-1")

    # -- geometry -----------------------------------------------------------------------------
    def _hi_density(self, r, z):
        """([n_HI], n_HI): the HI integrated alone and with the node shapes (:meth:`_sea_columns`)."""
        hi = self.gas.hi(r, z)
        return hi[None], hi

    def _co_emission(self, r, z):
        """W_CO per unit length (arbitrary scale): the 3-D H2 model read at its own X_CO."""
        return self.gas.h2(r, z) / self.gas.x_co

    def _h2_densities(self, r, z):
        """[f_0 2 n_H2, f_1 2 n_H2, ...] of the 3-D model at this DGE's X_CO(R)."""
        return self.sea.node_shapes(r, z) * (2.0 * self.x_co(r) * self._co_emission(r, z))

    def _co_density(self, r, z):
        """([w, X_CO w], X_CO w) with w the W_CO emission along the line of sight: integrated alone
        and with the node shapes (:meth:`_sea_columns`)."""
        w = self._co_emission(r, z)
        xw = self.x_co(r) * w
        return np.stack([w, xw]), xw

    @property
    def _geometry_key(self):
        # the geometry depends on the gas, the CR sea and the survey, not on the knee variant
        return (self.gas, self.sea, self.hi_nside, hash(self.hi_columns.tobytes()))

    @property
    def hi_weights(self):
        """<f_j>_HI per survey pixel, shape (n_nodes, n_pixels): the CR density along each line
        of sight averaged with the 3-D HI model as weight (16 sub-directions near the plane).
        Shared by every ConventionalDGE with the same gas, CR sea and survey (all knee variants)."""
        return self._shared("hi", self._compute_hi_weights)

    def _shared(self, kind, compute, extra=()):
        """The geometry ``kind`` of this gas, CR sea and survey, computed once per process."""
        return _geometry_once((kind,) + self._geometry_key + tuple(extra), compute)

    def _compute_hi_weights(self):
        import healpy as hp

        nside = self.hi_nside
        ipix = np.arange(hp.nside2npix(nside))
        lon, lat = hp.pix2ang(nside, ipix, lonlat=True)
        near = np.abs(lat) < _PLANE_DEG
        lon_c, lat_c, _ = skymaps.healpix_children(nside, ipix[near], nest=False, order=2)
        lon_all = np.concatenate([lon[~near], lon_c.ravel()])
        lat_all = np.abs(np.concatenate([lat[~near], lat_c.ravel()]))
        # the gas and the CR sea are symmetric about the plane and about the Galactic-centre line:
        # one line of sight per (min(l, 360 - l), abs(b)), shared by the HEALPix grid's mirror
        # directions (equal to ~1e-14 deg)
        key = np.stack([np.minimum(lon_all, 360.0 - lon_all), lat_all], axis=1)
        _, first, inverse = np.unique(np.round(key, 9), axis=0, return_index=True, return_inverse=True)
        columns = self._sea_columns(
            self._hi_density, np.radians(lon_all[first]), np.radians(lat_all[first]), self._r_max, self._z_max,
            z_breaks=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2), n_nodes=4)[:, inverse.ravel()]
        far = np.count_nonzero(~near)
        per_pixel = np.empty((columns.shape[0], ipix.size))
        per_pixel[:, ~near] = columns[:, :far]
        per_pixel[:, near] = columns[:, far:].reshape(columns.shape[0], -1, 16).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(per_pixel[0] > 0, per_pixel[1:] / per_pixel[0], 0.0)

    def _sea_columns(self, density, lon, lat, r_max, z_max, z_breaks, n_nodes, chunk=_SIGHT_CHUNK):
        """Line-of-sight integrals of a gas density and of it times each node shape of the CR sea,
        shape (n_plain + n_nodes, n): ``density(r, z)`` returns (plain, weight): the densities
        integrated as they are (n_plain, ...) and the one integrated with the node shapes, of r's
        shape. The quadrature of :func:`~gammapy_cocoons.physics.skymaps.line_of_sight_samples`,
        (lon, lat) [rad], ``chunk`` lines at a time; the node integrals without a (nodes x samples)
        temporary where the sea offers ``node_shape_integrals``."""
        r_sun = self.sea.source_distribution.r_sun
        integrals = getattr(self.sea, "node_shape_integrals", None)
        total = None
        for start in range(0, lon.size, chunk):
            part = slice(start, start + chunk)
            r, z, _, ws = skymaps.line_of_sight_samples(lon[part], lat[part], r_sun, r_max, z_max, z_breaks, n_nodes)
            plain, weight = density(r, z)
            weight = ws * weight
            nodes = integrals(r, z, weight) if integrals is not None else \
                np.sum(self.sea.node_shapes(r, z) * weight, axis=-1)
            values = np.concatenate([np.sum(ws * plain, axis=-1), nodes])
            if total is None:
                total = np.empty((values.shape[0], lon.size))
            total[:, part] = values
        return total

    @property
    def h2_tables(self):
        """One latitude-cumulative table of int ds f_j 2 n_H2 per node (exact pixel integrals);
        shared like :attr:`hi_weights`."""
        return self._shared("h2", self._compute_h2_tables, (self.x_co,))

    def _compute_h2_tables(self):
        return skymaps.column_tables(
            self._h2_densities, self.sea.source_distribution.r_sun,
            min(self._r_max, 20.0), min(self._z_max, 0.6),
            z_breaks=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64), n_nodes=4)

    @property
    def _r_max(self):
        return min(self.sea.halo_radius, self.gas.r_max)

    @property
    def _z_max(self):
        return min(self.sea.halo_height, self.gas.z_max)

    @property
    def co_weights(self):
        """The survey's H2 per W_CO along the lines of sight of an (l, abs(b)) grid [cm-2 (K km/s)-1],
        shape (1 + n_nodes, n_lon, n_lat): <X_CO>_w and <f_j X_CO>_w, averages with the W_CO
        emission w of the 3-D H2 model as weight (molecules). Shared like :attr:`hi_weights`."""
        return self._shared("co", self._compute_co_weights, (self.x_co,))

    @property
    def _co_sight_ends(self):
        """Where the lines of sight of :attr:`co_weights` start and end: the Sun's radius and the
        (r, z) limits [kpc]. <X_CO>_w (their plain row) depends on the CR sea through these only."""
        return self.sea.source_distribution.r_sun, min(self._r_max, 20.0), min(self._z_max, 1.0)

    def _compute_co_weights(self):
        # the lines at l and 360 - l see the same (axisymmetric) Galaxy: l <= 180 deg computed, mirrored
        half = _mirrored_half(_CO_LON)
        lon, lat = (np.radians(v).ravel() for v in np.meshgrid(_CO_LON[:half], _CO_LAT, indexing="ij"))
        _, r_max, z_max = self._co_sight_ends  # (r_sun: _sea_columns starts the lines at the sea's)
        columns = self._sea_columns(
            self._co_density, lon, lat, r_max, z_max,
            z_breaks=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64), n_nodes=4)
        with np.errstate(invalid="ignore", divide="ignore"):
            weights = np.where(columns[0] > 0, columns[1:] / columns[0], columns[1:2] * 0 + self.x_co.local)
        return weights.reshape(-1, half, _CO_LAT.size)[:, _mirror_index(_CO_LON)]

    def _co_factors(self, lon_deg, lat_deg, plain=False):
        """2 <f_j X_CO>_w at survey directions [cm-2 (K km/s)-1, hydrogen atoms], shape (n_nodes, n)
        (``plain``: 2 <X_CO>_w, shape (1, n); None: both, shape (1 + n_nodes, n)): bilinear in the
        (l, abs(b)) grid of :attr:`co_weights`."""
        grid = self.co_weights if plain is None else self.co_weights[:1] if plain else self.co_weights[1:]
        n_lat = _CO_LAT.size
        lon = np.mod(np.asarray(lon_deg, float), 360.0)
        lat = np.minimum(np.abs(np.asarray(lat_deg, float)), _CO_LAT[-1])
        i = np.minimum((lon / (_CO_LON[1] - _CO_LON[0])).astype(np.int64), _CO_LON.size - 2)
        tx = (lon - _CO_LON[i]) / (_CO_LON[i + 1] - _CO_LON[i])
        j = np.clip(np.searchsorted(_CO_LAT, lat, side="right") - 1, 0, n_lat - 2)
        ty = (lat - _CO_LAT[j]) / (_CO_LAT[j + 1] - _CO_LAT[j])
        rows = np.ascontiguousarray(grid.reshape(grid.shape[0], -1).T)  # one row per grid line: row gathers
        k = i * n_lat + j
        corners = ((k, (1 - tx) * (1 - ty)), (k + n_lat, tx * (1 - ty)), (k + 1, (1 - tx) * ty),
                   (k + n_lat + 1, tx * ty))
        value = np.empty((k.size, rows.shape[1]))  # direction-major, in chunks that stay in cache
        for start in range(0, k.size, _SIGHT_CHUNK * 32):
            part = slice(start, start + _SIGHT_CHUNK * 32)
            (k00, w00), (k10, w10), (k01, w01), (k11, w11) = ((c[part], w[part, None]) for c, w in corners)
            value[part] = 2.0 * (rows[k00] * w00 + rows[k10] * w10 + rows[k01] * w01 + rows[k11] * w11)
        return value.T

    @property
    def _co_sample_factors(self):
        """[2 <X_CO>_w, 2 <f_j X_CO>_w] at the survey's emitting samples, shape (1 + n_nodes, m) (a view
        of sample-major values: :func:`.co.survey_pixel_means` reads them a sample at a time)."""
        def compute():
            survey = self.co_survey
            index = survey.emitting
            lon, lat = survey.lon[index], survey.lat[index]
            # 1 + n_nodes values per emitting sample (0.6 million)
            return np.ascontiguousarray(self._co_factors(lon, lat, plain=None).T, dtype=np.float32)

        return self._shared("co_samples", compute, (self.x_co, self.co_survey.key)).T

    def _model_h2_columns(self, image, need=None):
        """The 3-D model's CR-weighted H2 columns (hydrogen atoms) [cm-2], pixel averages; on an all-sky
        Galactic HEALPix grid only where ``need`` (flat boolean mask) is true (zero elsewhere)."""
        from ..models.spatial import pixel_integrals_from_table

        if need is not None and not np.any(need):  # no table needed (the survey and the dust cover all)
            return np.zeros((len(self.sea.rigidity_nodes),) + image.data_shape)
        if need is not None and image.is_hpx and image.frame == "galactic" and image.is_allsky:
            nside = int(np.squeeze(image.nside))
            ipix = np.flatnonzero(need)
            values = np.zeros((len(self.h2_tables), need.size))
            if ipix.size:
                values[:, ipix] = [skymaps.healpix_integrals(t, nside, ipix, nest=image.nest) for t in self.h2_tables]
            return values.reshape((-1,) + image.data_shape) / (4.0 * np.pi / (12 * nside**2)) * KPC_CM
        omega = image.solid_angle().to_value("sr")
        return np.array([pixel_integrals_from_table(t, image) for t in self.h2_tables]) / omega * KPC_CM

    def h2_columns(self, geom):
        """CR-weighted H2 columns (hydrogen atoms, 2 N_H2) [cm-2] per node and pixel of an image
        geometry, shape (n_nodes,) + data shape, and the fraction of each pixel the CO survey
        observed: X_CO W_CO of the survey's pixels (averaged over the pixel), the 3-D model where
        the survey has no data (and, with dark gas, the dust does not trace the gas). Computed once
        per process for all-sky Galactic HEALPix grids."""
        image = geom.to_image()
        if image.is_hpx and image.frame == "galactic" and image.is_allsky:
            dust = None if self.dark_gas is None else self.dark_gas.trace_key
            key = (self.x_co, None if self.co_survey is None else self.co_survey.key, dust,
                   int(np.squeeze(image.nside)), bool(image.nest))
            return self._shared("h2_columns", lambda: self._compute_h2_columns(image), key)
        return self._compute_h2_columns(image)

    def _compute_h2_columns(self, image):
        if self.co_survey is None:
            return self._model_h2_columns(image), np.zeros(image.data_shape)
        means, covered = _co.survey_pixel_means(self.co_survey, image, self._co_factors, self._co_sample_factors[1:])
        if self.co_survey.name != "dame2001" and not np.any(covered > 0):
            raise ValueError("co_survey has no data in the region of the requested geometry")
        fill = 1.0 - covered
        if self.dark_gas is not None:
            # where the dust traces the gas, its residual over HI holds the unobserved H2 (no model)
            coords = image.get_coord().skycoord.galactic
            fill = fill * ~self.dark_gas.traces(np.ravel(coords.l.deg), np.ravel(coords.b.deg))
        model = self._model_h2_columns(image, need=fill > 0)
        shape = (-1,) + image.data_shape
        columns = np.maximum(means.reshape(shape), 0.0) + fill.reshape(image.data_shape) * model
        return columns, covered.reshape(image.data_shape)

    def survey_h2_columns(self, nside=64):
        """H2 columns of the CO survey alone (hydrogen atoms, 2 <X_CO>_w W_CO, no CR weighting) [cm-2],
        averaged over the pixels of an all-sky Galactic HEALPix RING grid (the dust maps' nside 64:
        the survey smoothed to their resolution), zero where it has no data. For the dark-gas recipe."""
        if self.co_survey is None:
            return np.zeros(12 * nside**2)
        # no CR weighting: shared by every CR sea whose lines of sight have the same ends (the embedded
        # DGE's and the radial-delta DGE's), not only by this sea's DGEs
        key = ("co_plain", self.gas, self.x_co, self.co_survey.key, nside) + self._co_sight_ends
        return _geometry_once(key, lambda: self._compute_survey_h2(nside))

    def _compute_survey_h2(self, nside):
        from gammapy.maps import HpxGeom

        geom = HpxGeom.create(nside=nside, nest=False, frame="galactic")

        def plain(lon_deg, lat_deg):
            return self._co_factors(lon_deg, lat_deg, plain=True)

        means, _ = _co.survey_pixel_means(self.co_survey, geom, plain, self._co_sample_factors[:1])
        columns = np.maximum(means[0], 0.0)
        columns.setflags(write=False)
        return columns

    def gas_columns(self, geom):
        """CR-weighted hydrogen columns [cm-2] per node and pixel of an image geometry, as
        (HI, H2), each of shape (n_nodes,) + image data shape: HI from the survey (with the dark
        gas if chosen), H2 from the CO survey and X_CO, the 3-D model where the survey has no data
        (pixel averages)."""
        image = geom.to_image()
        h2, _ = self.h2_columns(image)
        atomic = self.hi_columns if self.dark_gas is None else self.hi_columns + self.dark_gas.columns
        hi = self._survey_on_geom(self.hi_weights * atomic, image)
        return hi, h2

    @cached_property
    def _emission_along_sight(self):
        """Samples along the lines of sight of the transmission grid (abs(b) only: the 3-D model is
        symmetric in z): r, z, s [kpc], quadrature weights ws [kpc] and the emission weights (HI,
        H2) at the highest rigidity node."""
        lon = np.radians(_TRANSMISSION_LON[:_mirrored_half(_TRANSMISSION_LON)])  # l <= 180 deg (mirrored)
        lat = np.radians(_TRANSMISSION_LAT)
        grid_lon, grid_lat = (v.ravel() for v in np.meshgrid(lon, lat, indexing="ij"))
        r, z, s, ws = skymaps.line_of_sight_samples(
            grid_lon, grid_lat, self.sea.source_distribution.r_sun, self._r_max, self._z_max,
            z_breaks=_TRANSMISSION_Z_BREAKS, n_nodes=_TRANSMISSION_NODES)
        shape = self.sea.node_shape(len(self.sea.rigidity_nodes) - 1, r, z)
        return r, z, s, ws, ws * shape * self.gas.hi(r, z), ws * shape * 2.0 * self.gas.h2(r, z)

    def transmission(self, energy_gev, lon_deg, lat_deg):
        """Emission-weighted transmission <exp(-tau(s))> of the HI and the H2 emission, each of
        shape (n_energies,) + lon.shape, bilinear in a grid of lines of sight in l and abs(b).

        tau(E, s) is the optical depth from the emitting gas at distance s to the Sun, pair
        production on the GALPROP ISRF and the CMB with the absorption coefficient of each position
        (:mod:`gammapy_cocoons.physics.absorption`), integrated along the same quadrature nodes as
        the emission (:func:`~gammapy_cocoons.physics.absorption.cumulative_gauss_legendre`).
        """
        energy = np.ascontiguousarray(np.atleast_1d(np.asarray(energy_gev, float)))
        return _bilinear_lines(self._transmission_grid(energy), lon_deg, lat_deg)

    def _transmission_grid(self, energy):
        """The transmission of the HI and the H2 emission on the lines of sight of the grid, float32
        of shape (2, n_energies, n_lines); computed once per process for each gas, CR sea and energies."""
        return self._shared("transmission", lambda: self._compute_transmission_grid(energy), (energy.tobytes(),))

    def _compute_transmission_grid(self, energy):
        attenuation = Attenuation(energy)
        basis = isrf_basis()
        r, z, s, ws, hi, h2 = self._emission_along_sight
        n_lines = r.shape[0]
        grid = np.ones((2, attenuation.energy.size, n_lines))
        # tau = [columns, s] @ [coefficients, kappa_cmb], in single precision (the cube's)
        coefficients = np.vstack([attenuation.coefficients.T, attenuation.kappa_cmb]).astype(np.float32)
        for start in range(0, n_lines, _TRANSMISSION_CHUNK):
            part = slice(start, start + _TRANSMISSION_CHUNK)
            columns = cumulative_gauss_legendre(basis.at(r[part], z[part]), ws[part], _TRANSMISSION_NODES)
            path = np.concatenate([columns, s[part, :, None]], axis=-1).astype(np.float32)
            survive = path @ coefficients  # (lines, samples, energies)
            np.exp(-survive, out=survive)
            for k, weight in enumerate((hi[part], h2[part])):
                norm = weight.sum(axis=-1)
                values = np.matmul(weight[:, None, :].astype(np.float32), survive)[:, 0, :].T / np.maximum(norm, 1e-300)
                grid[k, :, part] = np.where(norm > 0, values, 1.0)
        # the lines at l > 180 deg: those at 360 - l (the Galaxy is symmetric about the centre line)
        index = _mirror_index(_TRANSMISSION_LON)
        grid = grid.reshape(2, -1, n_lines // _TRANSMISSION_LAT.size, _TRANSMISSION_LAT.size)[:, :, index]
        grid = np.ascontiguousarray(grid.reshape(2, attenuation.energy.size, -1), dtype=np.float32)
        grid.flags.writeable = False
        return grid

    def _survey_on_geom(self, maps, image):
        """Pixel averages of survey-grid maps (n, npix_survey) on an image geometry."""
        import healpy as hp

        nside = self.hi_nside
        if image.is_hpx and image.frame == "galactic":
            out_nside = int(np.squeeze(image.nside))
            ipix = image.get_idx(flat=True)[0]
            if out_nside <= nside:
                # each output pixel is the mean of the survey pixels inside it
                factor = (nside // out_nside) ** 2
                nested = hp.ring2nest(out_nside, ipix) if not image.nest else ipix
                children = nested[:, None] * factor + np.arange(factor)
                ring_children = hp.nest2ring(nside, children)
                return maps[:, ring_children].mean(axis=-1).reshape((-1,) + image.data_shape)
            lon, lat = hp.pix2ang(out_nside, ipix, nest=image.nest, lonlat=True)
            return maps[:, hp.ang2pix(nside, lon, lat, lonlat=True)].reshape((-1,) + image.data_shape)
        # WCS or another frame: mean over sub-pixels no larger than a quarter of a survey pixel
        scale = np.max(image.pixel_scales.to_value("deg")) if not image.is_hpx else \
            np.degrees(hp.nside2resol(int(np.squeeze(image.nside))))
        factor = int(np.clip(np.ceil(scale / (0.25 * np.degrees(hp.nside2resol(nside)))), 1, 16))
        if image.is_hpx:
            lon, lat, _ = skymaps.healpix_children(int(np.squeeze(image.nside)), image.get_idx(flat=True)[0],
                                                  image.nest, order=int(np.ceil(np.log2(factor))))
            from astropy.coordinates import SkyCoord

            coords = SkyCoord(lon, lat, unit="deg", frame=image.frame).galactic
            pix = hp.ang2pix(nside, coords.l.deg, coords.b.deg, lonlat=True)
            return maps[:, pix].mean(axis=-1).reshape((-1,) + image.data_shape)
        fine = image.upsample(factor)
        coords = fine.get_coord(frame="galactic")
        pix = hp.ang2pix(nside, coords.lon.to_value("deg"), coords.lat.to_value("deg"), lonlat=True)
        values = maps[:, pix]  # (n, ny f, nx f)
        ny, nx = image.data_shape
        return values.reshape(maps.shape[0], ny, factor, nx, factor).mean(axis=(2, 4))

    def cube(self, energy, nside=128, secondary="gamma", geom=None, components=None):
        """Intensity cube [GeV-1 cm-2 s-1 sr-1] of pixel averages, summed over ``components``
        (default :attr:`components`; neutrinos: pi0 only).

        By default on an all-sky Galactic HEALPix grid (RING, ``nside``); ``geom`` may be any
        image WcsGeom or HpxGeom instead.
        """
        cubes = self.component_cubes(energy, nside, secondary, geom, components)
        if len(cubes) == 1:
            return next(iter(cubes.values()))
        from gammapy.maps import Map

        total = sum(c.data.astype(float) for c in cubes.values())
        first = next(iter(cubes.values()))
        return Map.from_geom(first.geom, data=total.astype(np.float32), unit=first.unit)

    def component_cubes(self, energy, nside=128, secondary="gamma", geom=None, components=None):
        """One intensity cube per component (dict name -> Map), as :meth:`cube`."""
        from gammapy.maps import HpxGeom, Map, MapAxis

        components = self.components if components is None else components
        components = _checked_components(components, secondary)
        energy = u.Quantity(energy, "GeV")
        _checked_energy(energy.value)
        axis = MapAxis.from_nodes(energy, name="energy_true", interp="log")
        if geom is None:
            geom = HpxGeom.create(nside=nside, nest=False, frame="galactic")
        image = geom.to_image()
        check_memory(np.prod(image.data_shape), energy.size, "the embedded DGE cube",
                     None if image.is_hpx and image.is_allsky else "geom")
        out = {}
        for name in components:
            if name == "pi0":
                data = self._pi0_data(energy, image, secondary)
            elif name == "bremsstrahlung":
                data = self._bremsstrahlung_data(energy, image)
            else:
                data = self._ic_data(energy, image)
            out[name] = Map.from_geom(image.to_cube([axis]), data=data.astype(np.float32, copy=False),
                                      unit="GeV-1 cm-2 s-1 sr-1")
        return out

    def _bremsstrahlung_data(self, energy, image):
        """I = q^T [N_HI T_HI + N_H2 T_H2] with the electrons' node emissivities q and their columns N
        (:func:`~.leptonic.bremsstrahlung_columns`): the pi0 cube's computation on other columns."""
        from .leptonic import bremsstrahlung_columns, bremsstrahlung_node_emissivities

        columns = bremsstrahlung_columns(self, self.electron_sea, image)
        q = bremsstrahlung_node_emissivities(self.electron_sea, energy.to_value("GeV"))
        return self._gas_cube_data(energy, image, "gamma", [q], columns=columns)[0]

    def _ic_data(self, energy, image):
        from .leptonic import ic_intensity

        coords = image.get_coord().skycoord.galactic
        return ic_intensity(self.electron_sea, energy.to_value("GeV"), coords.l.deg, coords.b.deg,
                            absorption=self.absorption, dtype=np.float32)  # the cube's (no float64 copy)

    def _pi0_data(self, energy, image, secondary):
        emissivity = self.node_emissivities(energy.to_value("GeV"), secondary)
        return self._gas_cube_data(energy, image, secondary, [emissivity])[0]

    def _gas_cube_data(self, energy, image, secondary, emissivities, envelope=False, columns=None):
        """The cube data of emission from the gas, float32 of shape (n_energies,) + image data shape,
        for each node-emissivity matrix q (n_nodes, n_energies) of ``emissivities`` (knee variants of
        this model), or with ``envelope`` their voxel-wise (minimum, maximum). ``columns``: the (HI,
        H2) columns weighted by the node shapes, (n_nodes,) + image data shape (default
        :meth:`gas_columns`: pi0; the bremsstrahlung's are the electrons').

        I = q^T [N_HI T_HI + N_H2 T_H2] is computed in blocks of pixels (:data:`_CUBE_BLOCK`): the
        temporaries are a few MB and the outputs are the only full-size arrays, so the memory is
        the outputs' (4 bytes per voxel each) plus the columns, at any nside.
        """
        e = energy.to_value("GeV")
        columns = self.gas_columns(image) if columns is None else columns
        hi, h2 = (c.reshape(c.shape[0], -1) for c in columns)  # (n_nodes, n_pixels)
        npix = hi.shape[1]
        rows = None
        if secondary == "gamma" and self.absorption:
            absorbed = _absorbed(e)
            if np.any(absorbed):
                rows = np.flatnonzero(absorbed)
                if np.all(np.diff(rows) == 1):
                    rows = slice(rows[0], rows[-1] + 1)
                grid = self._transmission_grid(np.ascontiguousarray(e[absorbed]))
                lines = [np.ascontiguousarray(g.T) for g in grid]  # (n_lines, n_absorbed): row gathers
                coords = image.get_coord().skycoord.galactic
                where = _line_weights(np.ravel(coords.l.deg), np.ravel(coords.b.deg))
        q_t = [np.ascontiguousarray(np.asarray(q, float).T) for q in emissivities]
        outputs = [np.empty((e.size, npix), np.float32) for _ in range(2 if envelope else len(q_t))]
        # work arrays of one block, reused (contiguous views of the first n pixels' worth)
        work = [np.empty(e.size * min(_CUBE_BLOCK, npix)) for _ in range(4 if envelope else 2)]
        for start in range(0, npix, _CUBE_BLOCK):
            part = slice(start, min(start + _CUBE_BLOCK, npix))
            n = part.stop - part.start
            views = [w[:e.size * n].reshape(e.size, n) for w in work]
            data, data_h2 = views[:2]
            low, high = views[2:] if envelope else (None, None)
            if rows is not None:  # in double precision once for all variants (exact)
                t_hi, t_h2 = (np.array(_interpolate_lines(g, *(w[part] for w in where)).T, dtype=float, order="C")
                              for g in lines)
            hi_part, h2_part = np.ascontiguousarray(hi[:, part]), np.ascontiguousarray(h2[:, part])
            for k, q in enumerate(q_t):
                np.matmul(q, hi_part, out=data)
                np.matmul(q, h2_part, out=data_h2)
                if rows is not None:
                    data[rows] *= t_hi
                    data_h2[rows] *= t_h2
                data += data_h2
                if not envelope:
                    outputs[k][:, part] = data
                elif k == 0:
                    low[...] = data
                    high[...] = data
                else:
                    np.minimum(low, data, out=low)
                    np.maximum(high, data, out=high)
            if envelope:
                outputs[0][:, part], outputs[1][:, part] = low, high
        return [o.reshape((e.size,) + image.data_shape) for o in outputs]


def _absorbed(energy_gev):
    """Which energies [GeV] are absorbed anywhere in the Galaxy (an optical depth above 1e-6 over the
    longest path at the largest absorption coefficient): those the transmission grid covers."""
    return Attenuation(energy_gev).kappa_max * _MAX_PATH_KPC > 1e-6


#: the default CR sea of this process ("sea"), or one a forked copy of it made (install_prefetched)
_DEFAULT_SEA = {}


def _default_sea():
    if "sea" not in _DEFAULT_SEA:
        _DEFAULT_SEA["sea"] = CosmicRaySea()
    return _DEFAULT_SEA["sea"]


@lru_cache(maxsize=2)
def _shared_electron_sea(sea, gas, helium_fraction):
    from .electrons import ElectronSea

    return ElectronSea(sea=sea, gas=gas, helium_fraction=helium_fraction)


class _MissingFileFilter(logging.Filter):
    """Drops gammapy's warning that a template has no file, logged by one thread."""

    def __init__(self, thread):
        super().__init__()
        self.thread = thread

    def filter(self, record):
        return not (record.thread == self.thread and record.getMessage().startswith("The filename is not defined"))


@contextmanager
def _without_missing_file_warning():
    """Inside, this thread's ``TemplateSpatialModel`` of a built-in cube does not warn that it has no
    file (whoever saves the models writes one); gammapy's other warnings (its scan of the cube for
    negative, zero and NaN values) are shown, and other threads' messages are left alone."""
    logger = logging.getLogger("gammapy.modeling.models.spatial")
    dropped = _MissingFileFilter(threading.get_ident())
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


def _variant(variant):
    """A validated entry of :data:`DGE_VARIANTS`."""
    return choice(variant, DGE_VARIANTS, "variant")


_DEFAULT_ENERGIES = np.geomspace(0.5, 5e6, 57)  # GeV, 8 per decade


def default_model(variant=DEFAULT_VARIANT):
    """The shared ConventionalDGE of a knee variant with the default ingredients. The variants are
    copies of the default variant's model with their own local spectra (one gas, CR sea and
    survey; the geometry the default model holds when they are made is shared)."""
    return _default_model(choice(variant, KNEE_VARIANTS, "variant"))


@lru_cache(maxsize=None)
def _default_model(variant):
    if variant == DEFAULT_VARIANT:
        return ConventionalDGE(variant)
    return _for_variant(_default_model(DEFAULT_VARIANT), variant)


def _for_variant(model, variant):
    """``model`` with the local spectra of another knee variant: the same gas, CR sea, survey and
    options, sharing the geometry ``model`` holds (the cubes of two variants differ only by the
    node emissivities q_j)."""
    clone = copy.copy(model)
    clone.variant = choice(variant, KNEE_VARIANTS, "variant")
    clone.spectra = local_spectra(clone.variant)
    return clone


def _same(a, b):
    """Exact equality of call arguments (arrays element by element, geometries by ==)."""
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            _same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    try:
        return a is b or bool(a == b)
    except (TypeError, ValueError):
        return False


def _arrays(value):
    """The numpy arrays of ``value`` (an array, or a tuple or list of them, nested)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [a for item in value for a in _arrays(item)]
    return []


def _read_only(value):
    """``value`` with its arrays made read-only (a shared result must not be changed in place)."""
    for array in _arrays(value):
        array.flags.writeable = False
    return value


def _remembering(name):
    def method(self, *args, **kwargs):
        last = self._last_calls.get(name)
        if last is None or not _same(last[0], (args, kwargs)):
            result = _read_only(getattr(ConventionalDGE, name)(self, *args, **kwargs))
            last = ((copy.deepcopy(args), copy.deepcopy(kwargs)), result)
            self._last_calls[name] = last
        return last[1]

    method.__name__ = name
    method.__doc__ = getattr(ConventionalDGE, name).__doc__
    return method


class _SharedGeometry(ConventionalDGE):
    """A ConventionalDGE whose variant-independent steps (the gas columns on a geometry, the
    transmission) remember their last call, exact arguments as the key, and return that result
    read-only. Its copies (:func:`_for_variant`) share that memory: the knee variants' cubes
    compute them once."""

    gas_columns = _remembering("gas_columns")
    transmission = _remembering("transmission")


def _shared_geometry(model):
    shared = copy.copy(model)
    shared.__class__ = _SharedGeometry
    shared._last_calls = {}
    return shared


def envelope_cubes(model, energy, nside=128, secondary="gamma", geom=None, variants=None):
    """The voxel-wise lower and upper envelopes of the knee variants' cubes.

    Each variant's cube is ``model``'s with that variant's local spectra
    (:meth:`ConventionalDGE.cube`, same arguments); the envelopes take, in every pixel and at every
    energy, the lowest and the highest of them.

    Parameters
    ----------
    model : ConventionalDGE
        Gas, CR sea, survey and options shared by the variants (its own variant is one of them
        if listed).
    variants : sequence of str, optional
        Knee variants (default: all of :data:`~gammapy_cocoons.dge.localspectra.KNEE_VARIANTS`).

    Returns
    -------
    (low, high) : tuple of `~gammapy.maps.Map`
    """
    variants = tuple(KNEE_VARIANTS) if variants is None else tuple(variants)
    if not variants:
        raise ValueError("variants must name at least one knee variant")
    for v in variants:
        choice(v, KNEE_VARIANTS, "variants")
    if model.components == ("pi0",) or secondary != "gamma":
        from gammapy.maps import HpxGeom, Map, MapAxis

        # the cubes differ only by the node emissivities: one pass over the pixels for all variants
        energy = u.Quantity(energy, "GeV")
        _checked_energy(energy.value)
        choice(secondary, SECONDARIES, "secondary")
        image = (geom if geom is not None else HpxGeom.create(nside=nside, nest=False, frame="galactic")).to_image()
        check_memory(np.prod(image.data_shape), energy.size, "the embedded DGE envelopes",
                     None if image.is_hpx and image.is_allsky else "geom")
        emissivities = [_for_variant(model, v).node_emissivities(energy.value, secondary) for v in variants]
        low, high = model._gas_cube_data(energy, image, secondary, emissivities, envelope=True)
        cube = image.to_cube([MapAxis.from_nodes(energy, name="energy_true", interp="log")])
        return tuple(Map.from_geom(cube, data=d, unit="GeV-1 cm-2 s-1 sr-1") for d in (low, high))
    # other components: each variant's cube in full (the geometry is computed once)
    base = _shared_geometry(model)
    first = _for_variant(base, variants[0]).cube(energy, nside=nside, secondary=secondary, geom=geom)
    low, high = first, first.copy()
    for v in variants[1:]:
        data = _for_variant(base, v).cube(energy, nside=nside, secondary=secondary, geom=geom).data
        np.minimum(low.data, data, out=low.data)
        np.maximum(high.data, data, out=high.data)
    return low, high


def _cube_map(nside, data):
    """A cube of the built-in grid (all-sky HEALPix RING, :data:`_DEFAULT_ENERGIES`) holding ``data``."""
    from gammapy.maps import HpxGeom, Map, MapAxis

    axis = MapAxis.from_nodes(_DEFAULT_ENERGIES * u.GeV, name="energy_true", interp="log")
    geom = HpxGeom.create(nside=nside, nest=False, frame="galactic").to_cube([axis])
    return Map.from_geom(geom, data=data, unit="GeV-1 cm-2 s-1 sr-1")


def _cube_key(variant, secondary, nside, components):
    return cube_key("conventional_dge", _DEFAULT_ENERGIES, variant=variant, secondary=secondary, nside=nside,
                    components=list(components))


# the other envelope of a build, kept until it is asked for (when the disk cache is off)
_OTHER_ENVELOPE = {}


class _CubeMemory:
    """The cubes of :func:`conventional_dge` held in this process: like ``lru_cache(maxsize)`` (the
    least recently used goes first; ``cache_clear``), and :meth:`drop` forgets the entries a caller
    is done with (one component or secondary, not the others that models still hold)."""

    def __init__(self, function, maxsize=8):
        self._function, self._maxsize, self._entries = function, maxsize, OrderedDict()
        self.__wrapped__, self.__doc__ = function, function.__doc__

    def __call__(self, variant, secondary, nside, components=("pi0",)):
        key = (variant, secondary, nside, tuple(components))
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        cube = self._function(variant, secondary, nside, tuple(components))
        self._entries[key] = cube
        while len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)
        return cube

    def cache_clear(self):
        self._entries.clear()

    def holds(self, variant, secondary, nside, components=("pi0",)):
        """Whether this process holds that cube."""
        return (variant, secondary, nside, tuple(components)) in self._entries

    def drop(self, secondary=None, components=None):
        """Forget the held cubes of ``secondary`` and/or those holding any of ``components`` (all
        if both are None); returns how many. A model made from one keeps its own reference."""
        components = None if components is None else set(components)
        keys = [k for k in self._entries if (secondary is None or k[1] == secondary)
                and (components is None or components & set(k[3]))]
        for key in keys:
            del self._entries[key]
        return len(keys)


def cube_on_disk(variant="min", secondary="gamma", nside=128, components=("pi0",)):
    """Whether the disk cache holds the cube of :func:`conventional_dge` with these arguments (False
    without a disk cache): a caller can start building a missing one beside its other work."""
    from .._cache import _entry_name

    variant = _variant(variant)
    choice(secondary, SECONDARIES, "secondary")
    components = _checked_components(components, secondary)
    nside = healpix_nside(nside)
    directory = cache_directory()
    return directory is not None and (
        directory / _entry_name("dge-conventional", _cube_key(variant, secondary, nside, components))).is_file()


def cube_ready(variant="min", secondary="gamma", nside=128, components=("pi0",)):
    """Whether this process or the disk cache holds the cube of :func:`conventional_dge` with these
    arguments: a call would build nothing."""
    variant = _variant(variant)
    choice(secondary, SECONDARIES, "secondary")
    components = _checked_components(components, secondary)
    nside = healpix_nside(nside)
    return _cached_cube.holds(variant, secondary, nside, components) or \
        cube_on_disk(variant, secondary, nside, components)


def release_cubes(secondary=None, components=None):
    """Forget this process's in-memory cubes of :func:`conventional_dge` of ``secondary`` ("gamma",
    "nu_per_flavour", ...) and/or with any of ``components`` ("pi0", "ic", "bremsstrahlung"); all
    of them if both are None. Their memory is freed once no model holds them; a later call loads
    them again (from the disk cache when it has them). Returns the number of cubes forgotten."""
    # a misspelt name would forget nothing and say nothing: checked like conventional_dge's own
    if secondary is not None:
        choice(secondary, SECONDARIES, "secondary")
    if components is not None:
        components = _checked_components(components)
    return _cached_cube.drop(secondary, components)


def release_models():
    """Forget this process's default DGE models with their geometry (HI weights, H2 tables, CO
    columns of every CR sea) and electron seas, ~0.1-0.2 GB once cubes are built: a process that
    needs only the cubes (held by :func:`conventional_dge`, or on disk) frees it. A later build
    computes them again, but for the CO survey's plain H2 columns (no CR sea in them; 0.4 MB at
    the dust maps' nside, ~0.3 s to compute), which a later DGE with dark gas on the same gas, X_CO,
    survey and line-of-sight ends shares (the answer row's radial-delta DGE after the figures'
    cubes)."""
    for key in [k for k in _GEOMETRY if k[0] != "co_plain"]:
        del _GEOMETRY[key]
    _default_model.cache_clear()
    _shared_electron_sea.cache_clear()


def _cached_cube(variant, secondary, nside, components=("pi0",)):
    """The cube of :func:`conventional_dge`: in memory once per process, on disk once per machine
    (:mod:`.diskcache`), built only when neither has it."""
    if len(components) > 1:  # the sum of the cached component cubes
        from gammapy.maps import Map

        parts = [_cached_cube(variant, secondary, nside, (c,)) for c in components]
        total = sum(p.data.astype(float) for p in parts).astype(np.float32)
        total.flags.writeable = False  # shared by every model made from it, as the parts are
        return Map.from_geom(parts[0].geom, data=total, unit=parts[0].unit)
    other = _OTHER_ENVELOPE.pop((variant, secondary, nside), None) if components == ("pi0",) else None
    if other is not None:
        return _cube_map(nside, other)
    return _cube_map(nside, cached_cube("dge-conventional", _cube_key(variant, secondary, nside, components),
                                        lambda: _build_cube(variant, secondary, nside, components)))


_cached_cube = _CubeMemory(_cached_cube)


# -- the slow steps computed ahead by another process ---------------------------------------------------
#: a callable returning a prefetch_state() result made elsewhere, installed before this process's next
#: build (expect_prefetched)
_EXPECTED = None


def prefetch_state(variant="min", secondary="gamma", nside=128):
    """The slow steps of building ``conventional_dge(variant, secondary, nside)`` that do not depend
    on the cube, computed now as picklable data for :func:`install_prefetched`: the local-spectrum
    fits of the knee variants it needs, the default CR sea (its Bessel-series tables), the default
    model's HI weights and, for gamma rays, its transmission grid at the built-in energies. None if
    the disk cache or this process holds the cube already (nothing will be built). Imports no
    gammapy: a forked child computes it while its parent imports gammapy (the command line;
    :func:`expect_prefetched`)."""
    if cube_ready(variant, secondary, nside):
        return None
    variant = _variant(variant)
    # what the process this one was forked from holds already: not sent back
    held_fits, held_geometry, held_sea = set(fitted()), set(_GEOMETRY), "sea" in _DEFAULT_SEA
    for knee in (tuple(KNEE_VARIANTS) if variant in ENVELOPES else (variant,)):
        local_spectra(knee)
    # the default model's gas, CR sea and HI survey (the keys of the shared geometry) without its CO
    # survey and dust maps, which the HI weights and the transmission do not depend on
    model = ConventionalDGE(DEFAULT_VARIANT, co_survey=None, dark_gas=None)
    model.hi_weights
    if secondary == "gamma" and model.absorption:
        energy = (_DEFAULT_ENERGIES * u.GeV).to_value("GeV")  # as the build computes them
        model._transmission_grid(np.ascontiguousarray(energy[_absorbed(energy)]))
    # what this call made; each geometry entry with the writeable flags of its arrays (pickling drops
    # them, and the shared ones are read-only)
    geometry = [(key, value, [a.flags.writeable for a in _arrays(value)]) for key, value in _GEOMETRY.items()
                if key not in held_geometry]
    return {"fits": {k: v for k, v in fitted().items() if k not in held_fits},
            "sea": None if held_sea else _default_sea(), "geometry": geometry}


def install_prefetched(state):
    """Hold the results of :func:`prefetch_state` (made by a forked copy of this process: the same
    code, data and inputs, so the same numbers) as this process's own; None installs nothing. An
    entry this process holds already is kept."""
    if state is None:
        return
    if not (isinstance(state, dict) and set(state) == {"fits", "sea", "geometry"}):
        raise ValueError(f"state must be None or a result of prefetch_state (a dict of fits, sea and geometry), "
                         f"got {type(state).__name__}")
    from .localspectra import adopt_fits

    adopt_fits(state["fits"])
    if state["sea"] is not None:
        _DEFAULT_SEA.setdefault("sea", state["sea"])
    for key, value, writeable in state["geometry"]:
        if key not in _GEOMETRY:
            for array, flag in zip(_arrays(value), writeable):
                array.flags.writeable = flag
            _GEOMETRY[key] = value
    while len(_GEOMETRY) > _GEOMETRY_SIZE:
        _GEOMETRY.popitem(last=False)


def expect_prefetched(receive):
    """Have this process install ``receive()`` (a :func:`prefetch_state` result computed elsewhere,
    e.g. the ``result`` of a forked call) before its next cube build, or at :func:`adopt_prefetched`:
    called once, and only in this process (a process forked from it ignores it). A ``receive`` that
    raises leaves the build to compute everything itself. None forgets an expected result."""
    global _EXPECTED
    if receive is not None and not callable(receive):
        raise TypeError(f"receive must be callable or None, got {receive!r}")
    _EXPECTED = None if receive is None else (os.getpid(), receive)


def adopt_prefetched():
    """Install the expected prefetched state now (waiting for it), if there is one; returns whether
    one was installed. A caller about to fork workers that build cubes calls it first, so that they
    start with the state."""
    global _EXPECTED
    expected, _EXPECTED = _EXPECTED, None
    if expected is None or expected[0] != os.getpid():  # nothing, or another process's to receive
        return False
    receive = expected[1]
    try:
        state = receive()
        install_prefetched(state)
    except Exception as error:  # noqa: BLE001 - a lost head start, not an error: the build computes it
        logging.getLogger(__name__).debug("prefetched DGE state not received: %s", error)
        return False
    return state is not None


def _build_cube(variant, secondary, nside, components):
    check_memory(12 * nside**2, _DEFAULT_ENERGIES.size, "the embedded DGE cube")  # before any work
    adopt_prefetched()
    if variant in ENVELOPES and components == ("pi0",):
        # both envelopes come out of one pass: the other one goes to the disk cache too
        cubes = envelope_cubes(default_model(), _DEFAULT_ENERGIES * u.GeV, nside=nside, secondary=secondary)
        mine, other = (cube.data for cube in (cubes if variant == "min" else cubes[::-1]))
        name = ENVELOPES[1 - ENVELOPES.index(variant)]
        stored = cached_cube("dge-conventional", _cube_key(name, secondary, nside, components), lambda: other)
        if cache_directory() is None:
            _OTHER_ENVELOPE[(name, secondary, nside)] = stored
        return mine
    if variant in ENVELOPES:
        variant = DEFAULT_VARIANT  # the electron sea does not depend on the knee of the nuclei
    return default_model(variant).cube(_DEFAULT_ENERGIES * u.GeV, nside=nside, secondary=secondary,
                                       components=components).data


def conventional_dge(variant="min", secondary="gamma", nside=128, name=None, components=("pi0",)):
    """The embedded conventional DGE as a gammapy SkyModel (template x PowerLawNormSpectralModel).

    Parameters
    ----------
    variant : str
        "min" / "max": the voxel-wise lower / upper envelope of the cubes of all knee variants (at
        every energy and pixel, like the paper's "base min / max" band spanning the knee data);
        or one knee variant, a key of :data:`~gammapy_cocoons.dge.localspectra.KNEE_VARIANTS`
        ("lhaaso", "lhaaso-qgsjet", "lhaaso-sibyll", "icetop", "kascade-grande").
    secondary : str
        "gamma", "nu_per_flavour", "nu_all", or one neutrino species at the source.
    nside : int
        HEALPix resolution of the template (128: 0.46 deg pixels, pixel-averaged).
    name : str, optional
        Model name (default "dge-<variant>", with the components appended unless pi0 alone).
    components : sequence of str
        From :data:`DGE_COMPONENTS`: ("pi0",) (default, the paper's hadronic DGE), or any
        selection of "pi0", "ic", "bremsstrahlung" (gamma rays only), summed in one template.

    Returns
    -------
    `~gammapy.modeling.models.SkyModel`
        Of the same kind as :func:`~gammapy_cocoons.dge.read_dge`; the cube covers 0.5 GeV -
        5 PeV at 8 energies per decade. Built once per (variant, secondary, nside, components) and
        cached in memory and on disk (:mod:`.diskcache`: the user's cache directory, keyed on every
        input; "min" and "max" are built together, in one pass over the pixels for all knee variants).
        A build that would not fit in this machine's memory is refused with the estimate (ValueError).
    """
    variant = _variant(variant)
    choice(secondary, SECONDARIES, "secondary")
    components = _checked_components(components, secondary)
    cube = _cached_cube(variant, secondary, healpix_nside(nside), components)
    return _builtin_model(cube, name or "-".join(["dge", variant] + ([] if components == ("pi0",) else list(components))))


def _builtin_model(cube, name):
    """The SkyModel of a built-in cube (conventional, Fermi pi0, radial-delta): the cube, shared
    read-only, as a template (no file yet: whoever saves the models writes one) times a
    PowerLawNormSpectralModel."""
    from gammapy.modeling.models import PowerLawNormSpectralModel, TemplateSpatialModel

    from ..models.sky import DeclaredUnitSkyModel

    with _without_missing_file_warning():
        spatial = TemplateSpatialModel(cube, normalize=False, copy_data=False)
    return DeclaredUnitSkyModel(spectral_model=PowerLawNormSpectralModel(), spatial_model=spatial, name=name)
