"""Inverse-Compton and bremsstrahlung emission of the electron sea, as sky cubes for the DGE.

* IC: the emissivity j(E, r, z) [GeV-1 s-1 sr-1 cm-3] of the sea's J(E_e, r, z) on the GALPROP
  ISRF + CMB at every cell of the sea's grid (isotropic scattering; the Klein-Nishina kernel of
  :mod:`gammapy_cocoons.physics.radiation`), integrated along lines of sight on a grid in
  (l, abs(b)) (2 deg in l, fine in b near the plane) with the pair absorption exp(-tau(s)) on the
  ISRF and the CMB (:mod:`gammapy_cocoons.physics.absorption`, position-dependent, accumulated
  along the same quadrature nodes) inside the integral, then bilinear in (l, abs(b)) at the pixel centres. IC is smooth on the
  scale of a pixel except within ~0.5 deg of the plane at the highest energies (electrons
  confined near their sources), where pixel-centre values stand for pixel averages.
* Bremsstrahlung: like pi0, sum_k q_k(E) [N_HI <f_k>_HI + int f_k 2 n_H2 ds], with f_k the sea's
  shape J(E_k, r, z) / J(E_k, sun) at a few electron-energy nodes (linear in ln E_e between
  them, held beyond: above 1 TeV the bremsstrahlung is < 1 % of the pi0) and q_k the emissivity per H atom (screened cross sections on H and He) of
  the local spectrum's share at each node; the same HI survey, 3-D gas and ISRF + CMB transmission as
  the pi0 component of :class:`~gammapy_cocoons.dge.conventional.ConventionalDGE`.

Neutrinos: electrons make none; the leptonic components exist for gamma rays only.
"""
import copy
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..constants import KPC_CM
from ..physics import radiation, skymaps
from .electrons import ElectronSea, _bilinear

__all__ = ["LEPTONIC_COMPONENTS", "ic_emissivity", "ic_intensity", "bremsstrahlung_node_emissivities",
           "ElectronShapes", "BREMS_NODES_GEV", "LineOfSightGrid"]

#: the leptonic components of the DGE
LEPTONIC_COMPONENTS = ("ic", "bremsstrahlung")
#: electron energies [GeV] of the bremsstrahlung shape nodes
BREMS_NODES_GEV = (1.0, 10.0, 100.0, 1e3)
_LON = np.arange(0.0, 361.0, 2.0)
_LAT = np.array([0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0,
                 25.0, 32.0, 40.0, 50.0, 60.0, 75.0, 90.0])
_Z_BREAKS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.4, 3.2)
_NODES = 4  # Gauss-Legendre nodes per line-of-sight interval
_BLOCK = 2048  # directions per block of the interpolation onto pixels (bounds its temporaries)


def ic_emissivity(sea, gamma_energy, chunk=400):
    """IC emissivity j(E_g, z, r) [GeV-1 s-1 sr-1 cm-3] on the sea's cell centres, shape
    (n_gamma,) + grid.shape (ISRF + CMB, isotropic)."""
    from ..physics.isrf import galprop_isrf

    grid = sea.grid
    isrf = galprop_isrf()
    r, z = np.meshgrid(grid.r, grid.z)
    photons = isrf.number_density(r, z).reshape(isrf.eps.size, -1)  # (n_eps, P)
    electrons = sea.intensity(r, z).reshape(sea.energy.size, -1)  # (n_e, P)
    kernel = _ic_matrix(tuple(sea.energy), tuple(isrf.eps), tuple(np.asarray(gamma_energy, float)))
    out = np.empty((kernel.shape[0], photons.shape[1]))
    for start in range(0, photons.shape[1], chunk):
        part = slice(start, start + chunk)
        # (g, e, p) x (p, P) -> (g, e, P), then sum over e with the electrons
        per_electron = np.tensordot(kernel, photons[:, part], axes=1)
        out[:, part] = np.einsum("gep,ep->gp", per_electron, electrons[:, part])
    return out.reshape((-1,) + grid.shape)


@lru_cache(maxsize=4)
def _ic_matrix(electron_energy, photon_energy, gamma_energy):
    return radiation.ic_emissivity_matrix(np.array(electron_energy), np.array(photon_energy), np.array(gamma_energy))


@dataclass(frozen=True)
class LineOfSightGrid:
    """Lines of sight on a (l, abs(b)) grid [deg] through the sea's halo (the model is symmetric in z)."""

    r_sun: float
    r_max: float
    z_max: float

    def intensity(self, emissivity_table, r_axis, z_axis, energy=None, chunk=64):
        """int ds j exp(-tau(s)) [GeV-1 cm-2 s-1 sr-1] on the grid, shape (n_E, n_lon, n_lat), for j
        tabulated as (n_E, n_z, n_r) on (z_axis, r_axis) [kpc]. tau is the pair-production optical
        depth on the ISRF and the CMB at the gamma-ray ``energy`` [GeV] (n_E; None: no absorption),
        accumulated along the same quadrature nodes as the emission."""
        from ..physics.absorption import Attenuation, cumulative_gauss_legendre, isrf_basis
        from .conventional import _mirror_index, _mirrored_half

        # the lines at l and 360 - l see the same (axisymmetric) Galaxy: l <= 180 deg computed, mirrored
        half = _mirrored_half(_LON)
        lon, lat = np.meshgrid(np.radians(_LON[:half]), np.radians(_LAT), indexing="ij")
        lon, lat = lon.ravel(), lat.ravel()
        out = np.empty((emissivity_table.shape[0], lon.size))
        attenuation = None
        if energy is not None:
            attenuation = Attenuation(np.asarray(energy, float))
            absorbed = attenuation.kappa_max * 2.0 * (self.r_sun + self.r_max) > 1e-7
            attenuation = attenuation if np.any(absorbed) else None
        stacked = np.ascontiguousarray(emissivity_table.reshape(emissivity_table.shape[0], -1).T)
        for start in range(0, lon.size, chunk):
            part = slice(start, start + chunk)
            r, z, s, ws = skymaps.line_of_sight_samples(lon[part], lat[part], self.r_sun, self.r_max, self.z_max,
                                                        _Z_BREAKS, n_nodes=_NODES)
            values = _bilinear(emissivity_table, r_axis, z_axis, r, z, stacked)  # (n_E, n, m)
            if attenuation is not None:
                columns = cumulative_gauss_legendre(isrf_basis().at(r, z), ws, _NODES)
                depth = attenuation.depth(columns, s)  # (n, m, n_E)
                values = values * np.exp(-np.moveaxis(depth, -1, 0))
            out[:, part] = np.sum(values * ws[None], axis=-1) * KPC_CM
        return out.reshape(-1, half, _LAT.size)[:, _mirror_index(_LON)]


def ic_intensity(sea, gamma_energy, lon_deg, lat_deg, absorption=True, dtype=np.float64):
    """IC intensity [GeV-1 cm-2 s-1 sr-1] at directions (lon, lat) [deg] (pixel centres), shape
    (n_gamma,) + lon.shape (see the module documentation). ``dtype``: of the result, float64 or
    float32 (computed in double precision, rounded block by block: a cube's float32 data without a
    float64 cube first)."""
    from .._validation import boolean

    absorption = boolean(absorption, "absorption")
    try:
        resolved = None if dtype is None else np.dtype(dtype)  # (np.dtype(None) is float64)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in ("float64", "float32"):
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
    energy = np.atleast_1d(np.asarray(gamma_energy, float))
    j = ic_emissivity(sea, energy)
    grid = sea.grid
    # pad as the sea's own table: the mid-plane held, zero on the halo's surface
    padded = np.zeros((j.shape[0], j.shape[1] + 2, j.shape[2] + 1))
    padded[:, 1:-1, :-1] = j
    padded[:, 0, :-1] = j[:, 0]
    r_axis = np.concatenate([grid.r, [grid.r_faces[-1]]])
    z_axis = np.concatenate([[0.0], grid.z, [grid.z_faces[-1]]])
    sight = LineOfSightGrid(sea.sea.source_distribution.r_sun, grid.r_faces[-1], grid.z_faces[-1])
    table = sight.intensity(padded, r_axis, z_axis, energy if absorption else None)
    # bilinear in (l, abs(b)) for every energy at once (one cell search, contiguous rows), in
    # cache-sized blocks of directions
    lon = np.mod(np.asarray(lon_deg, float), 360.0)
    lat = np.abs(np.asarray(lat_deg, float))
    lon, lat = np.broadcast_arrays(lon, lat)
    table = table.transpose(0, 2, 1)
    stacked = np.ascontiguousarray(table.reshape(table.shape[0], -1).T)
    out = np.empty((table.shape[0], lon.size), resolved)
    flat_lon, flat_lat = lon.ravel(), lat.ravel()
    for start in range(0, lon.size, _BLOCK):
        part = slice(start, start + _BLOCK)
        out[:, part] = _bilinear(table, _LON, _LAT, flat_lon[part], flat_lat[part], stacked)
    return out.reshape((table.shape[0],) + lon.shape)


# -- bremsstrahlung -----------------------------------------------------------------------------
def _node_indices(sea):
    return tuple(int(np.argmin(np.abs(np.log(sea.energy / e)))) for e in BREMS_NODES_GEV)


def _node_weights(sea):
    """w_k(E_e) (n_nodes, n_E): linear in ln E_e between the nodes, held beyond."""
    nodes = np.log(sea.energy[list(_node_indices(sea))])
    x = np.clip(np.log(sea.energy), nodes[0], nodes[-1])
    out = np.zeros((nodes.size, x.size))
    j = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, nodes.size - 2)
    t = (x - nodes[j]) / (nodes[j + 1] - nodes[j])
    out[j, np.arange(x.size)] = 1.0 - t
    out[j + 1, np.arange(x.size)] += t
    return out


def bremsstrahlung_node_emissivities(sea, gamma_energy):
    """q_k(E) [GeV-1 s-1 sr-1 per H atom] of the local spectrum's share at each shape node,
    shape (n_nodes, n_gamma) (sum over k: the local emissivity)."""
    energy = np.atleast_1d(np.asarray(gamma_energy, float))
    matrix = radiation.bremsstrahlung_emissivity_matrix(sea.energy, energy, sea.helium_fraction)
    local = sea.local_intensity()
    return (_node_weights(sea) * local) @ matrix.T


@dataclass(frozen=True, eq=False)
class ElectronShapes:
    """The electron sea's shapes at the bremsstrahlung nodes, with the interface of
    :class:`~gammapy_cocoons.dge.crsea.CosmicRaySea` that the DGE's gas geometry uses."""

    electron_sea: ElectronSea

    def __hash__(self):
        return hash(("electron-shapes", self.electron_sea))

    def __eq__(self, other):
        return isinstance(other, ElectronShapes) and other.electron_sea == self.electron_sea

    @property
    def source_distribution(self):
        return self.electron_sea.sea.source_distribution

    @property
    def halo_radius(self):
        return self.electron_sea.sea.halo_radius

    @property
    def halo_height(self):
        return self.electron_sea.sea.halo_height

    @property
    def rigidity_nodes(self):
        return BREMS_NODES_GEV

    def node_shapes(self, r, z):
        return self.electron_sea.shape_at(_node_indices(self.electron_sea), r, z)

    def node_shape(self, node, r, z):
        return self.electron_sea.shape_at([_node_indices(self.electron_sea)[node]], r, z)[0]

    def node_shape_integrals(self, r, z, weights):
        return self.electron_sea.shape_integrals(_node_indices(self.electron_sea), r, z, weights)


#: HEALPix resolution of the electron-shape averages <f_k>_HI (the survey's columns are kept)
_BREMS_NSIDE = 32
#: finest HEALPix resolution of the bremsstrahlung H2 pixel integrals (finer pixels take their parent's mean)
_BREMS_H2_NSIDE = 64


def _h2_columns(tables, image):
    """Pixel-mean H2 columns [cm-2] of the electron-weighted tables on an image geometry: exact
    pixel integrals, on Galactic HEALPix grids finer than nside 64 those of the nside-64 parent
    (flux-conserving; the H2 bremsstrahlung is at most ~10 % of the pi0)."""
    import healpy as hp
    from gammapy.maps import HpxGeom

    from ..models.spatial import pixel_integrals_from_table

    if image.is_hpx and image.frame == "galactic" and int(np.squeeze(image.nside)) > _BREMS_H2_NSIDE:
        coarse = HpxGeom.create(nside=_BREMS_H2_NSIDE, nest=False, frame="galactic")
        values = np.array([pixel_integrals_from_table(t, coarse) for t in tables]) \
            / coarse.solid_angle().to_value("sr") * KPC_CM
        lon, lat = hp.pix2ang(int(np.squeeze(image.nside)), image.get_idx(flat=True)[0], nest=image.nest, lonlat=True)
        parent = hp.ang2pix(_BREMS_H2_NSIDE, lon, lat, lonlat=True)
        return values[:, parent].reshape((-1,) + image.data_shape)
    omega = image.solid_angle().to_value("sr")
    return np.array([pixel_integrals_from_table(t, image) for t in tables]) / omega * KPC_CM


def bremsstrahlung_columns(dge, electron_sea, image):
    """Electron-shape-weighted (HI, H2) columns [cm-2] of ``dge``'s gas on an image geometry,
    each (n_nodes,) + image shape: the pi0 machinery with the electrons' shapes, at a coarser
    resolution where only the (smooth) shapes enter: <f_k>_HI along the lines of sight of
    nside 32 (16 sub-directions within 3 deg of the plane), interpolated to the survey pixels
    and multiplied by the survey's own columns; the H2 tables on a 2 deg x 0.05 deg grid, their
    pixel integrals at nside <= 64 (:func:`_h2_columns`)."""
    import healpy as hp

    view = copy.copy(dge)
    view.sea = ElectronShapes(electron_sea)
    nside = dge.hi_nside

    def hi_weights():
        coarse = copy.copy(view)
        coarse.hi_nside = min(_BREMS_NSIDE, nside)
        coarse.hi_columns = hp.ud_grade(dge.hi_columns, coarse.hi_nside)
        weights = coarse._compute_hi_weights()
        if coarse.hi_nside == nside:
            return weights
        lon, lat = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
        return np.array([hp.get_interp_val(w, lon, lat, lonlat=True) for w in weights])

    def h2_tables():
        return skymaps.column_tables(
            view._h2_densities, view.sea.source_distribution.r_sun, min(view._r_max, 20.0), min(view._z_max, 0.6),
            z_breaks=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64), l_step_deg=2.0, b_step_deg=0.05, n_nodes=4)

    weights = dge._shared(("brems-hi", electron_sea), hi_weights)
    tables = dge._shared(("brems-h2", electron_sea), h2_tables)
    image = image.to_image()
    h2 = _h2_columns(tables, image)
    hi = dge._survey_on_geom(weights * dge.hi_columns, image)
    return hi, h2
