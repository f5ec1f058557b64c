"""Gamma-ray absorption by pair production on the interstellar radiation field and the CMB.

Breit-Wheeler cross section (e.g. Gould & Schreder 1967, Phys. Rev. 155, 1404) for photons of
energies E and eps colliding with Mandelstam s = 2 E eps (1 - cos theta)::

    sigma(s) = (3 sigma_T / 16) (1 - b^2) [2 b (b^2 - 2) + (3 - b^4) ln((1 + b) / (1 - b))],
    b = sqrt(1 - 4 m_e^2 / s)   (s > 4 m_e^2).

For an isotropic photon gas n(eps) the absorption coefficient is
kappa(E) = int deps n(eps) (1/2) int dcos (1 - cos) sigma(s), which with u = 4 E eps becomes::

    kappa(E) = 1 / (8 E^2) int deps n(eps) / eps^2 Phi(4 E eps),   Phi(u) = int_{4 m_e^2}^{u} s sigma(s) ds .

The photons (isotropic at every point: the field's anisotropy is neglected) are

* the CMB, a black body of T = 2.7255 K (Fixsen 2009, ApJ 707, 916): kappa_CMB(E) = pi / (E^2
  (hc)^3) int deps Phi(4 E eps) / (exp(eps / kT) - 1), the same everywhere. Its shortest mean free
  path, ~7 kpc, is at E ~ 2.2 PeV;
* starlight and dust emission, the GALPROP v54 ISRF (:mod:`gammapy_cocoons.physics.isrf`, Porter
  et al. 2008) without its CMB (replaced by the black body above, never counted twice). Between
  the file's wavelengths (0.1 dex) the photon density is a power law, resolved on a grid 8 times
  finer; in space it is bilinear in (R, abs(z)) on the file's grid (R = 0.25-20.25 kpc, abs(z) <= 5
  kpc) and beyond it falls from the grid's edge as the inverse square of the Galactocentric
  distance (the Galaxy seen from outside). Absorption on it peaks near 100-150 TeV (dust infrared).

So kappa(E; R, z) = kappa_CMB(E) + sum_k W(E, eps_k) n(eps_k; R, z), one matrix product over the
photon energies. The field is factorised once (:func:`isrf_basis`: n(eps; R, z) = sum_m u_m(eps)
c_m(R, z) as seen by the kernel W, rank 16, every optical depth over 40 kpc exact to 1e-4). An
optical depth along any path is then the path integrals of the few c_m (geometry only) times
per-energy coefficients a_m(E) = sum_k W(E, eps_k) u_m(eps_k), plus kappa_CMB times the path
length (:class:`Attenuation`).

:func:`optical_depth` integrates kappa along the line of sight from the Sun (R_sun = 8.5 kpc, z = 0).
Neutrinos are never absorbed. Units: GeV, cm; absorption coefficients in kpc-1.
"""
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import astropy.units as u

from ..constants import KPC_CM

__all__ = ["pair_production_cross_section", "cmb_absorption_coefficient", "absorption_coefficient",
           "optical_depth", "CMB_TEMPERATURE_K", "ENERGY_RANGE", "R_SUN_KPC"]

SIGMA_T_CM2 = 6.6524587321e-25
ELECTRON_MASS_GEV = 0.51099895e-3
HC_GEV_CM = 1.239841984e-13
BOLTZMANN_GEV_K = 8.617333262e-14
#: CMB temperature [K], Fixsen (2009)
CMB_TEMPERATURE_K = 2.7255
#: gamma-ray energies of :func:`optical_depth` (those of the emission engine)
ENERGY_RANGE = (0.1 * u.GeV, 1e8 * u.GeV)
#: the Sun's Galactocentric radius [kpc] of :func:`optical_depth` (z_sun = 0)
R_SUN_KPC = 8.5

# fine photon-energy steps per step of the ISRF file (0.1 dex / 8), Gauss-Legendre nodes per fine step
_REFINE = 8
_KERNEL_NODES = 6
# the factorised field reproduces optical depths over _MAX_PATH_KPC to _TAU_TOLERANCE
_TAU_TOLERANCE = 1e-4
_MAX_PATH_KPC = 40.0
# path steps of the line-of-sight quadrature inside the ISRF grid [kpc], nodes per step
_PATH_STEP_KPC = 0.5
_PATH_NODES = 4
# energy coefficients kept per process
_COEFFICIENTS = OrderedDict()


@lru_cache(maxsize=16)
def _gauss_legendre(n):
    from scipy.special import roots_legendre  # 30x faster than numpy's leggauss at n = 400

    x, w = roots_legendre(n)
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


def pair_production_cross_section(s):
    """Breit-Wheeler sigma(s) [cm2] for Mandelstam s [GeV2] (0 below threshold)."""
    s = np.asarray(s, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        b2 = np.clip(1.0 - 4.0 * ELECTRON_MASS_GEV**2 / s, 0.0, 1.0)
        b = np.sqrt(b2)
        value = 3.0 * SIGMA_T_CM2 / 16.0 * (1.0 - b2) * (
            2.0 * b * (b2 - 2.0) + (3.0 - b2 * b2) * (np.log1p(b) - np.log1p(-b)))
    return np.where(s > 4.0 * ELECTRON_MASS_GEV**2, np.nan_to_num(value), 0.0)


@lru_cache(maxsize=1)
def _phi_table():
    """ln(u / 4 m^2) grid and Phi(u) = int_{4m^2}^u s sigma(s) ds [GeV4 cm2] (trapezoid in ln s,
    with the threshold behaviour sigma ~ b resolved by a grid dense near ln(u / 4m^2) = 0)."""
    threshold = 4.0 * ELECTRON_MASS_GEV**2
    x = np.concatenate([[0.0], np.geomspace(1e-10, 40.0, 20001)])
    s = threshold * np.exp(x)
    integrand = s * pair_production_cross_section(s) * s  # ds = s dx
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(x))])
    return x, cumulative


def _phi(u):
    x, table = _phi_table()
    ratio = np.log(np.maximum(np.asarray(u, float) / (4.0 * ELECTRON_MASS_GEV**2), 1.0))
    # beyond the table (u > 2e17 x 4m^2): sigma ~ ln(s)/s, Phi grows as ln^2, never reached here
    return np.interp(ratio, x, table)


def cmb_absorption_coefficient(energy_gev, temperature=CMB_TEMPERATURE_K, n_nodes=400):
    """kappa(E) [kpc-1] of gamma rays of energy [GeV] in an isotropic black body."""
    energy = np.atleast_1d(np.asarray(energy_gev, float))
    if np.any(~np.isfinite(energy)) or np.any(energy <= 0):
        raise ValueError(f"energy must be finite and > 0 GeV, got {energy_gev!r}")
    kt = BOLTZMANN_GEV_K * temperature
    threshold = ELECTRON_MASS_GEV**2 / energy  # eps above which 4 E eps > 4 m^2
    # Gauss-Legendre in ln(eps) from the threshold to 60 kT (the Bose factor is e^-60 there)
    x, w = _gauss_legendre(n_nodes)
    lo = np.log(threshold)
    hi = np.log(np.maximum(60.0 * kt, 2.0 * threshold))
    half = 0.5 * (hi - lo)
    ln_eps = (lo + half)[:, None] + half[:, None] * x
    eps = np.exp(ln_eps)
    # Bose factor 1 / (e^x - 1) = e^-x / (1 - e^-x), without overflow far above kT
    bose = np.exp(-eps / kt) / -np.expm1(-eps / kt)
    integrand = _phi(4.0 * energy[:, None] * eps) * bose * eps  # d eps = eps d ln eps
    integral = np.sum(integrand * w, axis=1) * half
    kappa_cm = np.pi / (energy**2 * HC_GEV_CM**3) * integral
    return (kappa_cm * KPC_CM).reshape(np.shape(energy_gev))


# -- the ISRF ----------------------------------------------------------------------------------
def photon_kernel(energy_gev, ln_eps):
    """W [kpc-1 cm3], shape (n_energies, n_eps): kappa(E) = sum_j W[E, j] n_j for an isotropic
    photon density n(ln eps) [cm-3 per unit ln eps] given at the increasing nodes ``ln_eps``
    (eps in GeV), linear in ln eps between them and zero outside. Exact integral of each hat
    function times Phi(4 E eps) / (8 E^2 eps^2), Gauss-Legendre on every step from the threshold."""
    energy = np.atleast_1d(np.asarray(energy_gev, float))
    x, w = _gauss_legendre(_KERNEL_NODES)
    lo, hi = ln_eps[:-1], ln_eps[1:]
    threshold = np.log(ELECTRON_MASS_GEV**2 / energy)[:, None]
    a = np.maximum(lo, threshold)
    half = 0.5 * np.maximum(hi - a, 0.0)
    t = (a + half)[..., None] + half[..., None] * x  # (n_energies, n_steps, nodes)
    eps = np.exp(t)
    g = _phi(4.0 * energy[:, None, None] * eps) / eps**2 * (half[..., None] * w)
    g /= 8.0 * energy[:, None, None] ** 2
    up = (t - lo[:, None]) / (hi - lo)[:, None]  # the hat of the step's upper node
    kernel = np.zeros((energy.size, ln_eps.size))
    kernel[:, :-1] += np.sum(g * (1.0 - up), axis=-1)
    kernel[:, 1:] += np.sum(g * up, axis=-1)
    return kernel * KPC_CM


def refine_spectra(ln_eps, density, factor=_REFINE):
    """Photon densities (n_eps, m) on a grid ``factor`` times finer in ln eps: a power law between
    neighbouring nodes where both are > 0, linear where one is 0. Returns (ln_eps_fine, fine)."""
    t = np.arange(factor) / factor
    lo, hi = density[:-1, None, :], density[1:, None, :]
    positive = (lo > 0) & (hi > 0)
    ratio = np.divide(hi, lo, out=np.ones(np.broadcast(lo, hi).shape), where=positive)
    tt = t[None, :, None]
    fine = np.where(positive, lo * ratio**tt, lo + (hi - lo) * tt).reshape(-1, density.shape[1])
    ln_fine = (ln_eps[:-1, None] + np.diff(ln_eps)[:, None] * t).ravel()
    return np.append(ln_fine, ln_eps[-1]), np.vstack([fine, density[-1:]])


@dataclass(frozen=True)
class _Basis:
    """The ISRF (optical + infrared) factorised: n(eps; R, z) = sum_m vectors[:, m] c_m(R, z).

    ``table`` holds c_m on the ISRF grid, shape (nz * nr, rank) (z-major); ``r0, dr, nr`` and
    ``dz, nz`` describe the uniform grid (z from 0)."""

    ln_eps: np.ndarray
    vectors: np.ndarray
    table: np.ndarray
    r0: float
    dr: float
    nr: int
    dz: float
    nz: int

    @property
    def rank(self):
        return self.vectors.shape[1]

    @property
    def r_edge(self):
        return self.r0 + self.dr * (self.nr - 1)

    @property
    def z_edge(self):
        return self.dz * (self.nz - 1)

    def at(self, r, z):
        """c_m at Galactocentric (r, z) [kpc] (broadcast arrays): shape + (rank,). Bilinear in (r,
        abs(z)) on the grid (held at r < r0); beyond it the edge value times (rho_edge / rho)^2."""
        r = np.asarray(r, float)
        z = np.abs(np.asarray(z, float))
        rc = np.clip(r, self.r0, self.r_edge)
        zc = np.minimum(z, self.z_edge)
        fr = (rc - self.r0) / self.dr
        fz = zc / self.dz
        i = np.minimum(fr.astype(np.int64), self.nr - 2)
        j = np.minimum(fz.astype(np.int64), self.nz - 2)
        tr = fr - i
        tz = fz - j
        k = j * self.nr + i
        value = np.take(self.table, k, axis=0)
        value *= ((1 - tr) * (1 - tz))[..., None]
        for offset, weight in ((1, tr * (1 - tz)), (self.nr, (1 - tr) * tz), (self.nr + 1, tr * tz)):
            value += np.take(self.table, k + offset, axis=0) * weight[..., None]
        outside = (r > self.r_edge) | (z > self.z_edge)
        if np.any(outside):
            with np.errstate(divide="ignore", invalid="ignore"):
                falloff = np.where(outside, (rc * rc + zc * zc) / (r * r + z * z), 1.0)
            value = value * falloff[..., None]
        return value

    def plane(self, r):
        """c_m at z = 0 and its slope d c_m / d abs(z) in the grid's first z cell, at radii r
        [kpc]: two arrays of shape r.shape + (rank,) (linear in r; beyond the grid 1 / r^2)."""
        r = np.asarray(r, float)
        rc = np.clip(r, self.r0, self.r_edge)
        fr = (rc - self.r0) / self.dr
        i = np.minimum(fr.astype(np.int64), self.nr - 2)
        tr = (fr - i)[..., None]
        t = self.table
        at_zero = np.take(t, i, axis=0) * (1 - tr) + np.take(t, i + 1, axis=0) * tr
        slope = (np.take(t, i + self.nr, axis=0) * (1 - tr) + np.take(t, i + self.nr + 1, axis=0) * tr - at_zero) / self.dz
        if np.any(r > self.r_edge):
            with np.errstate(divide="ignore", invalid="ignore"):
                falloff = np.where(r > self.r_edge, (rc / r) ** 2, 1.0)[..., None]
            at_zero, slope = at_zero * falloff, slope * falloff
        return at_zero, slope


@lru_cache(maxsize=1)
def isrf_basis():
    """The GALPROP ISRF (optical + infrared) factorised as :class:`_Basis` (computed once).

    The absorption coefficients kappa(E_i; x_j) at 8 energies per decade (10 GeV - 100 PeV, those
    that can reach an optical depth of 1e-4 over 40 kpc) and every grid position x_j, each row and
    column normalised, are decomposed (SVD); the leading right singular vectors span the positions,
    and projecting the photon spectra on them gives the spectral vectors. The rank is the smallest
    at which every kappa on a grid twice as dense in energy is reproduced to 2.5e-6 kpc-1 (an
    optical depth of 1e-4 over 40 kpc).
    """
    from .isrf import galprop_isrf

    field = galprop_isrf()
    density = field.density["optical"] + field.density["infrared"]  # (eps, z, r)
    n_eps, nz, nr = density.shape
    dr, dz = np.diff(field.r), np.diff(field.z)
    if not (np.allclose(dr, dr[0]) and np.allclose(dz, dz[0]) and field.z[0] == 0):
        raise ValueError("the ISRF grid must be uniform in R and z, starting at z = 0")
    ln_eps, fine = refine_spectra(np.log(field.eps), density.reshape(n_eps, -1))
    kappa = photon_kernel(np.geomspace(10.0, 1e8, 57), ln_eps) @ fine  # (energies, positions)
    kappa = kappa[kappa.max(axis=1) * _MAX_PATH_KPC > _TAU_TOLERANCE]
    scaled = kappa / np.sqrt(np.mean(kappa**2, axis=1, keepdims=True))
    norm = np.linalg.norm(scaled, axis=0)
    norm = np.where(norm > 0, norm, 1.0)
    scaled /= norm
    # right singular vectors of the scaled matrix, from its small Gram matrix (energies x energies)
    eigenvalues, eigenvectors = np.linalg.eigh(scaled @ scaled.T)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.maximum(eigenvalues[order], 1e-300), eigenvectors[:, order]
    rows = (eigenvectors.T @ scaled) / np.sqrt(eigenvalues)[:, None]  # (energies, positions)
    all_vectors = fine @ (rows.T / norm[:, None])  # (fine eps, energies)
    all_table = rows.T * norm[:, None]  # (positions, energies)
    check_kernel = photon_kernel(np.geomspace(10.0, 1e8, 113), ln_eps)
    exact = check_kernel @ fine
    projected = check_kernel @ all_vectors
    for rank in range(1, rows.shape[0] + 1):
        if np.max(np.abs(projected[:, :rank] @ all_table[:, :rank].T - exact)) * _MAX_PATH_KPC <= _TAU_TOLERANCE:
            break
    vectors, table = all_vectors[:, :rank], all_table[:, :rank]
    return _Basis(ln_eps=ln_eps, vectors=vectors, table=np.ascontiguousarray(table),
                  r0=float(field.r[0]), dr=float(dr[0]), nr=nr, dz=float(dz[0]), nz=nz)


class Attenuation:
    """Optical depths at a set of gamma-ray energies [GeV] (1-d; internal float API).

    tau(E) = columns @ coefficients[E] + kappa_cmb(E) x path, with ``columns`` the path integrals
    of the ISRF basis (:func:`isrf_basis`) [cm-3 kpc]. ``kappa_max`` is the largest absorption
    coefficient anywhere in the Galaxy [kpc-1] at each energy.
    """

    def __init__(self, energy_gev):
        energy = np.ascontiguousarray(np.atleast_1d(np.asarray(energy_gev, float)))
        if energy.ndim != 1 or not np.all(np.isfinite(energy) & (energy > 0)):
            raise ValueError(f"energy must be a 1-d array of finite energies > 0 GeV, got {energy_gev!r}")
        self.energy = energy
        key = energy.tobytes()
        if key not in _COEFFICIENTS:
            basis = isrf_basis()
            coefficients = photon_kernel(energy, basis.ln_eps) @ basis.vectors  # (n_energies, rank)
            kappa_cmb = cmb_absorption_coefficient(energy)
            kappa_max = np.max(basis.table @ coefficients.T, axis=0) + kappa_cmb
            _COEFFICIENTS[key] = (coefficients, kappa_cmb, kappa_max)
            while len(_COEFFICIENTS) > 64:
                _COEFFICIENTS.popitem(last=False)
        self.coefficients, self.kappa_cmb, self.kappa_max = _COEFFICIENTS[key]

    def depth(self, columns, path):
        """tau [..., n_energies] from basis ``columns`` (..., rank) and path lengths [kpc] (...)."""
        return columns @ self.coefficients.T + np.multiply.outer(path, self.kappa_cmb)

    def kappa(self, r, z):
        """kappa [kpc-1] at Galactocentric (r, z) [kpc]: shape (n_energies,) + broadcast shape."""
        values = isrf_basis().at(r, z) @ self.coefficients.T + self.kappa_cmb
        return np.moveaxis(values, -1, 0)

    def plane_depths(self, lon, d, weights, n_nodes, r_sun=R_SUN_KPC):
        """In-plane optical-depth moments along rays of longitude ``lon`` [rad] at piecewise
        Gauss-Legendre nodes ``d`` [kpc] (weights ``weights``, ``n_nodes`` per interval, from the
        Sun): (p0, p1), each of shape d.shape + (n_energies,), with

            p0 = kappa_cmb d + int_0^d kappa_ISRF(R(d'), 0) dd',   p1 = int_0^d d' dkappa/dz(R(d')) dd'

        (dkappa/dz in the ISRF grid's first z cell). A path to projected distance d at latitude b
        has tau = (p0 + tan(b) p1) / cos(b), exact while it stays in that cell (abs(z) <= 0.1 kpc).
        """
        basis = isrf_basis()
        r = np.sqrt(np.maximum(r_sun**2 + d * d - 2.0 * r_sun * d * np.cos(lon), 0.0))
        at_zero, slope = basis.plane(r)
        moment0 = cumulative_gauss_legendre(at_zero, weights, n_nodes)
        moment1 = cumulative_gauss_legendre(slope * d[..., None], weights, n_nodes)
        return self.depth(moment0, d), moment1 @ self.coefficients.T


def absorption_coefficient(energy_gev, r, z):
    """kappa(E; R, z) [kpc-1] on the ISRF (optical + infrared) and the CMB black body, isotropic
    photons, at energies [GeV] (1-d) and Galactocentric (r, z) [kpc] (broadcast): shape
    (n_energies,) + broadcast shape. Internal float API: :func:`optical_depth` is the public one."""
    return Attenuation(energy_gev).kappa(r, z)


@lru_cache(maxsize=16)
def _integration_matrix(n):
    """Q[i, j] = int_{-1}^{x_i} L_j(x) dx for the Lagrange polynomials L_j on the n Gauss-Legendre
    nodes x: the integral of the interpolating polynomial from the interval's start to each node."""
    from numpy.polynomial import legendre

    x, _ = _gauss_legendre(n)
    q = np.empty((n, n))
    for j in range(n):
        coefficients = legendre.legfit(x, np.eye(n)[j], n - 1)
        q[:, j] = legendre.legval(x, legendre.legint(coefficients, lbnd=-1.0))
    q.flags.writeable = False
    return q


def cumulative_gauss_legendre(values, weights, n_nodes):
    """int_0^{s_i} f ds at the nodes s_i of a piecewise Gauss-Legendre rule along the second-to-last
    axis of ``values`` (..., n_intervals * n_nodes, k) with ``weights`` (..., n_intervals * n_nodes):
    the completed intervals' sums plus, within an interval, the integral of the polynomial through
    its nodes (exact for polynomials of degree < n_nodes on each interval)."""
    _, w = _gauss_legendre(n_nodes)
    shape = values.shape
    f = values.reshape(shape[:-2] + (-1, n_nodes, shape[-1]))
    ws = weights.reshape(shape[:-2] + (-1, n_nodes))
    half = ws[..., :1] / w[0]  # each interval's half width
    totals = np.sum(f * ws[..., None], axis=-2)  # (..., n_intervals, k)
    before = np.cumsum(totals, axis=-2) - totals
    inner = np.einsum("ij,...jk->...ik", _integration_matrix(n_nodes), f) * half[..., None]
    return (before[..., None, :] + inner).reshape(shape)


class PlaneDepths:
    """Optical depths from points near the Galactic plane to the Sun, tabulated (internal).

    The in-plane moments of :meth:`Attenuation.plane_depths` on a polar grid around the Sun
    (longitude steps of ``l_step_deg``, projected distance steps of ``d_step`` [kpc] up to
    ``d_max``; composite Gauss-Legendre in each step), read at the nearest longitude and linearly
    in distance: for many sources (a population) at once, within 2e-3 of the 3-D optical depths.
    Exact in z while the paths stay within abs(z) <= 0.1 kpc (the ISRF grid's first z cell).
    """

    def __init__(self, d_max, r_sun=R_SUN_KPC, l_step_deg=0.25, d_step=0.2):
        basis = isrf_basis()
        self.r_sun = float(r_sun)
        self.lon = np.radians(np.arange(0.0, 360.0, l_step_deg))
        self.d = np.arange(0.0, float(d_max) + 2.0 * d_step, d_step)
        x, w = _gauss_legendre(_PATH_NODES)
        nodes = (self.d[:-1, None] + 0.5 * d_step * (1.0 + x)).ravel()  # (steps x nodes,)
        r = np.sqrt(np.maximum(r_sun**2 + nodes**2 - 2.0 * r_sun * nodes * np.cos(self.lon)[:, None], 0.0))
        weights = np.tile(0.5 * d_step * w, self.d.size - 1)[:, None]
        at_zero, slope = basis.plane(r)
        moments = []
        for values in (at_zero, slope * nodes[:, None]):
            steps = (weights * values).reshape(self.lon.size, -1, _PATH_NODES, basis.rank).sum(axis=2)
            moments.append(np.concatenate([np.zeros((self.lon.size, 1, basis.rank)), np.cumsum(steps, axis=1)],
                                          axis=1))
        # (lon x d, 2 rank): the two moments side by side
        self.moments = np.concatenate(moments, axis=-1).reshape(-1, 2 * basis.rank)
        self._key = None

    def depth(self, energy_gev, lon, d, z):
        """tau (n_points, n_energies) to points at longitude ``lon`` [rad], projected distance ``d``
        and height ``z`` [kpc] (1-d arrays, d <= d_max) from the Sun."""
        attenuation = Attenuation(energy_gev)
        n = attenuation.energy.size
        if self._key != attenuation.energy.tobytes():
            rank = self.moments.shape[1] // 2
            tables = [self.moments[:, :rank] @ attenuation.coefficients.T,
                      self.moments[:, rank:] @ attenuation.coefficients.T]
            self._table = np.concatenate(tables, axis=1).astype(np.float32)  # (lon x d, 2 n)
            self._key = attenuation.energy.tobytes()
        step_l, step_d = self.lon[1] - self.lon[0], self.d[1] - self.d[0]
        i = np.rint(np.mod(lon, 2.0 * np.pi) / step_l).astype(np.int64) % self.lon.size
        d = np.clip(np.asarray(d, float), 0.0, self.d[-1])
        fd = d / step_d
        j = np.minimum(fd.astype(np.int64), self.d.size - 2)
        k = i * self.d.size + j
        # single precision throughout (tau to ~1e-6 relative)
        values = np.take(self._table, k, axis=0)
        values += (fd - j).astype(np.float32)[:, None] * (np.take(self._table, k + 1, axis=0) - values)
        with np.errstate(divide="ignore", invalid="ignore"):
            tan_b = np.where(d > 0, np.abs(z) / d, 0.0).astype(np.float32)
        tau = values[:, :n]
        tau += np.multiply.outer(d.astype(np.float32), attenuation.kappa_cmb.astype(np.float32))
        tau += tan_b[:, None] * values[:, n:]
        tau *= np.sqrt(1.0 + tan_b * tan_b)[:, None]
        return tau


# -- optical depths along lines of sight from the Sun -------------------------------------------
def _box_exit(lon, lat, r_sun, basis):
    """Path length [kpc] from the Sun to the edge of the ISRF grid along (lon, lat) [rad]."""
    cos_b, sin_b = np.cos(lat), np.abs(np.sin(lat))
    d_exit = r_sun * np.cos(lon) + np.sqrt(basis.r_edge**2 - (r_sun * np.sin(lon)) ** 2)
    with np.errstate(divide="ignore"):
        return np.minimum(d_exit / np.maximum(cos_b, 1e-300), basis.z_edge / sin_b)


def _line_columns(lon, lat, distance, r_sun, chunk=4096):
    """int_0^D c_m ds along lines of sight (lon, lat) [rad] to ``distance`` [kpc] (1-d arrays),
    shape (n, rank): composite Gauss-Legendre in steps <= 0.5 kpc inside the ISRF grid, and in
    ln(s) beyond it (where the field falls as 1/rho^2)."""
    basis = isrf_basis()
    x, w = _gauss_legendre(_PATH_NODES)
    out = np.zeros((lon.size, basis.rank))
    inside = np.minimum(distance, _box_exit(lon, lat, r_sun, basis))
    n_steps = max(1, int(np.ceil(inside.max(initial=0.0) / _PATH_STEP_KPC)))
    # beyond the grid: one 32-node rule in ln s (the 1 / rho^2 tail)
    xo, wo = _gauss_legendre(_PATH_NODES * 8)
    for start in range(0, lon.size, chunk):
        part = slice(start, start + chunk)
        l, b, d_in, d = lon[part, None], lat[part, None], inside[part, None], distance[part, None]
        t = ((np.arange(n_steps)[:, None] + 0.5 * (1.0 + x)) / n_steps).ravel()
        s = d_in * t
        ws = d_in * np.tile(0.5 * w, n_steps) / n_steps
        beyond = d > d_in
        if np.any(beyond):
            lo = np.log(np.maximum(d_in, 1e-12))
            half = 0.5 * (np.log(np.maximum(d, 1e-12)) - lo)
            so = np.exp(lo + half * (1.0 + xo))
            s = np.concatenate([s, np.where(beyond, so, 0.0)], axis=1)
            ws = np.concatenate([ws, np.where(beyond, half * wo * so, 0.0)], axis=1)
        dxy = s * np.cos(b)
        r = np.sqrt(np.maximum(r_sun**2 + dxy * dxy - 2.0 * r_sun * dxy * np.cos(l), 0.0))
        out[part] = np.einsum("ns,nsm->nm", ws, basis.at(r, s * np.sin(b)))
    return out


def _optical_depth(energy_gev, lon, lat, distance, r_sun=R_SUN_KPC):
    """tau for broadcast float arrays: energy [GeV], lon, lat [rad], distance [kpc]."""
    energy, lon, lat, distance = np.broadcast_arrays(energy_gev, lon, lat, distance)
    shape = energy.shape
    unique_e, index_e = np.unique(energy.ravel(), return_inverse=True)
    geometry = np.stack([lon.ravel(), lat.ravel(), distance.ravel()], axis=1)
    unique_g, index_g = np.unique(geometry, axis=0, return_inverse=True)
    index_g = np.ravel(index_g)
    attenuation = Attenuation(unique_e)
    columns = _line_columns(unique_g[:, 0], unique_g[:, 1], unique_g[:, 2], r_sun)
    tau = np.einsum("nm,nm->n", columns[index_g], attenuation.coefficients[index_e])
    tau += attenuation.kappa_cmb[index_e] * distance.ravel()
    return tau.reshape(shape)


def optical_depth(energy, l, b, distance):
    """Optical depth of the Galaxy to gamma rays from a source at (l, b) and ``distance``.

    tau(E) = int_0^D kappa(E; R(s), z(s)) ds along the line of sight from the Sun (R_sun = 8.5 kpc,
    z = 0), with kappa the pair-production absorption coefficient on the GALPROP v54 ISRF (optical
    and infrared) and the exact CMB black body (module documentation; isotropic photons). The
    transmission is exp(-tau). Zero below the pair threshold (about 20 GeV for the ISRF's
    ultraviolet); neutrinos are never absorbed.

    Parameters
    ----------
    energy : `~astropy.units.Quantity`
        Gamma-ray energies, within 0.1 GeV - 100 PeV.
    l, b : `~astropy.units.Quantity`
        Galactic longitude and latitude (angles), abs(b) <= 90 deg.
    distance : `~astropy.units.Quantity`
        Distance of the source (length), >= 0.

    Returns
    -------
    `~astropy.units.Quantity`
        Dimensionless optical depths, of the broadcast shape of the arguments.
    """
    from .._validation import to_value

    e = to_value(energy, "GeV", "energy")
    lo, hi = (x.to_value("GeV") for x in ENERGY_RANGE)
    if np.any(e < lo) or np.any(e > hi):
        raise ValueError(f"energy must be within {lo:g} - {hi:g} GeV, got {energy!r}")
    lon = to_value(l, "rad", "l")
    lat = to_value(b, "rad", "b")
    if np.any(np.abs(lat) > 0.5 * np.pi + 1e-12):
        raise ValueError(f"b must be within [-90, 90] deg, got {b!r}")
    d = to_value(distance, "kpc", "distance")
    if np.any(d < 0):
        raise ValueError(f"distance must be >= 0 kpc, got {distance!r}")
    try:
        np.broadcast_shapes(e.shape, lon.shape, lat.shape, d.shape)
    except ValueError:
        raise ValueError(f"energy, l, b and distance must broadcast, got shapes {e.shape}, {lon.shape}, "
                         f"{lat.shape}, {d.shape}") from None
    return _optical_depth(e, lon, lat, d) * u.one
