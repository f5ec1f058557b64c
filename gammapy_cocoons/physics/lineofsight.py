"""Line-of-sight integrals of the source density: the geometric part of Eq. 8.

Eq. 8 needs int dOmega int ds rho over a sky region. With galactic longitude l, latitude b and
the projected distance d = s cos b, the volume element is dOmega ds = dl db dd, so::

    int dOmega int ds rho = int dl int dd f(r(d, l)) W(d),
    W(d) = int_{b in region, |d tan b| <= h} exp(-d |tan b| / z0) db,

with r(d, l)^2 = r_sun^2 + d^2 - 2 r_sun d cos l. Inside the disc ``d |tan b| <= h``, so the
exponent never exceeds h / z0 (1.2 for the paper's values): nothing in these integrands is
sharp, and the kinks (the disc top at d = h / tan b_edge, the tangent point d = r_sun cos l,
the Sun at d = 0) are interval ends of a piecewise Gauss-Legendre rule. W(d) has a closed form
through the complex exponential integral, used where the latitude range reaches ``|tan b| > 1``
(nearby high-latitude lines of sight); elsewhere a Gauss-Legendre rule in b is exact to
machine precision and much cheaper.

Units: lengths in kpc, angles in radians, rho in s-1 kpc-3; sky integrals in s-1 kpc-2 sr and
columns in s-1 kpc-2 sr-1.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

__all__ = [
    "Quadrature",
    "disc_exit_distance",
    "galactocentric_radius",
    "latitude_weight",
    "band_integral",
    "column_density",
    "sky_integral",
    "sky_transmission",
    "solid_angle",
]


@dataclass(frozen=True)
class Quadrature:
    """Node counts of the line-of-sight quadrature (defaults converge to better than 1e-6).

    Parameters
    ----------
    n_distance : int
        Gauss-Legendre nodes per distance interval.
    n_latitude : int
        Gauss-Legendre nodes per latitude band (where the closed form is not used).
    nodes_per_degree : float
        Longitude nodes per degree of each longitude interval.
    n_longitude_min : int
        Minimum longitude nodes per interval.
    """

    n_distance: int = 8
    n_latitude: int = 8
    nodes_per_degree: float = 0.5
    n_longitude_min: int = 12

    def refined(self, factor=2):
        """A rule with ``factor`` times more nodes everywhere (for convergence checks)."""
        return Quadrature(
            n_distance=self.n_distance * factor,
            n_latitude=self.n_latitude * factor,
            nodes_per_degree=self.nodes_per_degree * factor,
            n_longitude_min=self.n_longitude_min * factor,
        )


DEFAULT_QUADRATURE = Quadrature()


@lru_cache(maxsize=32)
def _gauss_legendre(n):
    x, w = np.polynomial.legendre.leggauss(n)
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


def _piecewise_nodes(breakpoints, n):
    """Gauss-Legendre nodes and weights on each interval between sorted ``breakpoints`` (.., K).

    Returns arrays of shape (.., (K - 1) * n); empty intervals get zero weight.
    """
    x, w = _gauss_legendre(n)
    a = breakpoints[..., :-1, None]
    b = breakpoints[..., 1:, None]
    half = 0.5 * (b - a)
    nodes = (a + half) + half * x
    weights = half * w
    shape = breakpoints.shape[:-1] + (-1,)
    return nodes.reshape(shape), weights.reshape(shape)


def galactocentric_radius(dist, d, l):
    """Galactocentric radius [kpc] at projected distance ``d`` [kpc] along longitude ``l`` [rad]."""
    r2 = dist.r_sun**2 + d * d - 2.0 * dist.r_sun * d * np.cos(l)
    return np.sqrt(np.maximum(r2, 0.0))


def disc_exit_distance(dist, l):
    """Projected distance [kpc] from the Sun to the disc's outer radius along longitude ``l``."""
    l = np.asarray(l, dtype=float)
    return dist.r_sun * np.cos(l) + np.sqrt(dist.r_max**2 - (dist.r_sun * np.sin(l)) ** 2)


def _distance_breakpoints(dist, tangent, d_end, extra=()):
    """Sorted interval ends in [0, d_end] for a radial integral along one line of sight.

    Ends: the Sun, a geometric ladder in units of z0 (the vertical scale that sets the
    latitude weight near the Sun), points around the ``tangent`` point (closest approach to
    the Galactic centre, where the r^alpha cusp of the profile sits for l -> 0), ``extra``
    kinks and the far end. All arguments are in the same length variable (d or s).
    """
    tangent = np.where(np.isfinite(tangent), tangent, 0.0)
    d_end = np.asarray(d_end, dtype=float)
    shape = tangent.shape
    ladder = dist.z0 * 2.0 ** np.arange(-4, 9)
    parts = [
        np.zeros(shape + (1,)),
        np.broadcast_to(ladder, shape + ladder.shape),
        tangent[..., None] + np.array([-1.0, -0.25, -0.05, 0.0, 0.05, 0.25, 1.0]),
        d_end[..., None],
    ]
    parts += [np.asarray(e, dtype=float)[..., None] for e in extra]
    points = np.concatenate([np.broadcast_to(p, shape + p.shape[-1:]) for p in parts], axis=-1)
    return np.sort(np.clip(points, 0.0, d_end[..., None]), axis=-1)


def latitude_weight(dist, d, beta1, beta2, n_latitude=8):
    """W(d) = int_{beta1}^{min(beta2, atan(h/d))} exp(-d tan(beta) / z0) dbeta.

    ``0 <= beta1 <= beta2 <= pi/2`` are absolute latitudes [rad] of one side of the plane;
    ``d`` [kpc] broadcasts against them. Returns radians.
    """
    d, beta1, beta2 = np.broadcast_arrays(
        np.asarray(d, float), np.asarray(beta1, float), np.asarray(beta2, float)
    )
    beta_top = np.minimum(beta2, np.arctan2(dist.h, d))
    valid = beta_top > beta1
    k = d / dist.z0
    weight = np.zeros(d.shape)

    # Gauss-Legendre where |tan b| <= 1 over the band: the integrand is smooth there
    narrow = valid & (beta_top <= np.pi / 4)
    if np.any(narrow):
        x, w = _gauss_legendre(n_latitude)
        lo, hi, kk = beta1[narrow], beta_top[narrow], k[narrow]
        half = 0.5 * (hi - lo)
        beta = (lo + half)[:, None] + half[:, None] * x
        weight[narrow] = half * np.sum(w * np.exp(-kk[:, None] * np.tan(beta)), axis=-1)

    # closed form elsewhere: with t = tan(b), 1/(1+t^2) = Im 1/(t - i), so
    # int e^{-kt} / (1 + t^2) dt = Im{ e^{-ik} [E1(k(t1 - i)) - E1(k(t2 - i))] }
    wide = valid & ~narrow
    if np.any(wide):
        kk = k[wide]
        t1 = np.tan(beta1[wide])
        t2 = np.tan(beta_top[wide])
        with np.errstate(invalid="ignore", over="ignore"):
            value = np.imag(
                np.exp(-1j * kk) * (special.exp1(kk * (t1 - 1j)) - special.exp1(kk * (t2 - 1j)))
            )
        # k -> 0 (a node at the Sun): the weight is the bare angle
        at_sun = kk < 1e-12
        value[at_sun] = (beta_top[wide] - beta1[wide])[at_sun]
        weight[wide] = value
    return weight


def absorbed_latitude_weight(dist, d, beta1, beta2, p0, p1, n_latitude=8):
    """W(d) with absorption, int exp(-d tan(b) / z0 - tau(b, d)) db over the band of
    :func:`latitude_weight`, for the optical depths tau = (p0 + tan(b) p1) / cos(b) of
    :meth:`~gammapy_cocoons.physics.absorption.Attenuation.plane_depths` (p0, p1 of shape
    d.shape + (n_energies,)). Returns d.shape + (n_energies,) [rad].

    Gauss-Legendre in b where abs(tan b) <= 1 over the band; where it reaches beyond (d < h, next to
    the Sun) the unabsorbed closed form times exp(-p0), the in-plane path: paths there are shorter
    than sqrt(2) h, the difference is of order kappa h x their small share.
    """
    d, beta1, beta2 = np.broadcast_arrays(np.asarray(d, float), np.asarray(beta1, float), np.asarray(beta2, float))
    beta_top = np.minimum(beta2, np.arctan2(dist.h, d))
    valid = beta_top > beta1
    narrow = valid & (beta_top <= np.pi / 4)
    weight = np.zeros(d.shape + p0.shape[-1:])
    if np.any(narrow):
        x, w = _gauss_legendre(n_latitude)
        lo, hi = beta1[narrow], beta_top[narrow]
        half = 0.5 * (hi - lo)
        beta = (lo + half)[:, None] + half[:, None] * x
        tan_b, cos_b = np.tan(beta), np.cos(beta)
        tau = (p0[narrow][:, None, :] + tan_b[..., None] * p1[narrow][:, None, :]) / cos_b[..., None]
        emission = half[:, None] * w * np.exp(-d[narrow][:, None] * tan_b / dist.z0)
        weight[narrow] = np.einsum("nq,nqe->ne", emission, np.exp(-tau))
    wide = valid & ~narrow
    if np.any(wide):
        weight[wide] = (latitude_weight(dist, d[wide], beta1[wide], beta2[wide], n_latitude)[:, None]
                        * np.exp(-p0[wide]))
    return weight


def band_integral(dist, l, beta1, beta2, quadrature=DEFAULT_QUADRATURE, attenuation=None, s_min=0.0):
    """int dd rho-shape(r(d, l)) W(d) for latitude bands on one side of the plane.

    With ``attenuation`` (a :class:`~gammapy_cocoons.physics.absorption.Attenuation`) the
    integrand carries the transmission exp(-tau) of the ISRF and the CMB along each path from the
    Sun (:func:`absorbed_latitude_weight`; exact while the disc lies in the ISRF grid's first z
    cell, abs(z) <= 0.1 kpc, as the default h does) and the result gets a trailing energy axis.

    With ``s_min`` [kpc] > 0 only the sources farther than s_min from the Sun count: at projected
    distance d < s_min the band starts at the latitude arccos(d / s_min) (s = d / cos b), with
    interval ends where that meets the band's edges and the disc's top.

    Parameters
    ----------
    dist : SourceDistribution
    l : array
        Longitudes [rad].
    beta1, beta2 : array
        Absolute latitude bands 0 <= beta1 < beta2 <= pi/2 [rad], same shape as ``l``.

    Returns
    -------
    array
        int db int dd rho over the band at each longitude [s-1 kpc-2 rad], i.e. the integrand
        of the longitude integral.
    """
    l, beta1, beta2 = np.broadcast_arrays(
        np.asarray(l, float), np.asarray(beta1, float), np.asarray(beta2, float)
    )
    d_end = disc_exit_distance(dist, l)
    with np.errstate(divide="ignore"):
        kinks = (dist.h / np.tan(beta1), dist.h / np.tan(beta2))
    kinks = tuple(np.where(np.isfinite(k), k, 0.0) for k in kinks)
    s_min = float(s_min)
    if s_min > 0:
        kinks += (s_min * np.cos(beta1), s_min * np.cos(beta2), np.full(l.shape, s_min),
                  np.full(l.shape, np.sqrt(max(s_min**2 - dist.h**2, 0.0))))
    breakpoints = _distance_breakpoints(dist, dist.r_sun * np.cos(l), d_end, extra=kinks)
    d, wd = _piecewise_nodes(breakpoints, quadrature.n_distance)
    f = dist.radial(galactocentric_radius(dist, d, l[..., None]))
    low = beta1[..., None]
    if s_min > 0:
        low = np.maximum(low, np.arccos(np.clip(d / s_min, 0.0, 1.0)))
    if attenuation is None:
        w_lat = latitude_weight(dist, d, low, beta2[..., None], quadrature.n_latitude)
        return dist.norm * np.sum(wd * f * w_lat, axis=-1)
    p0, p1 = attenuation.plane_depths(l[..., None], d, wd, quadrature.n_distance, dist.r_sun)
    w_lat = absorbed_latitude_weight(dist, d, low, beta2[..., None], p0, p1, quadrature.n_latitude)
    return dist.norm * np.einsum("...d,...dk->...k", wd * f, w_lat)


def column_density(dist, l, b, quadrature=DEFAULT_QUADRATURE):
    """int_0^s_exit rho ds along the line of sight (l, b) [s-1 kpc-2 sr-1].

    ``l`` and ``b`` are arrays of the same shape in radians.
    """
    l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
    cos_b = np.cos(b)
    sin_b = np.abs(np.sin(b))
    with np.errstate(divide="ignore"):
        s_exit = np.minimum(disc_exit_distance(dist, l) / cos_b, dist.h / sin_b)
        s_tangent = dist.r_sun * np.cos(l) / cos_b
    # the same interval ends as the band integral, expressed along s instead of d
    points = _distance_breakpoints(dist, s_tangent, s_exit)
    s, ws = _piecewise_nodes(points, quadrature.n_distance)
    d = s * cos_b[..., None]
    z = s * np.sin(b)[..., None]
    rho = dist.density(galactocentric_radius(dist, d, l[..., None]), z)
    return np.sum(ws * rho, axis=-1)


#: longitude intervals narrower than this [deg] (a raster's steps) get _NARROW_NODES nodes (regions of many breaks)
_NARROW_DEG = 0.2
_NARROW_NODES = 4
#: regions with more longitude breaks than this (rasterised shapes, many source masks) use the narrow rule
_MANY_BREAKS = 64


def _longitude_nodes(breaks, quadrature):
    """Nodes and weights in longitude [rad] between sorted ``breaks`` [rad].

    Each interval uses l = mid + half sin(theta) with Gauss-Legendre in theta: the sine
    substitution absorbs the square-root behaviour of the latitude extent at the edge of a
    circle, and is harmless for smooth integrands. In regions of many breaks (rasterised shapes, source
    masks), intervals narrower than _NARROW_DEG get _NARROW_NODES nodes.
    """
    nodes, weights = [], []
    narrow_rule = len(breaks) > _MANY_BREAKS
    for a, b in zip(breaks[:-1], breaks[1:]):
        width = b - a
        if width <= 0:
            continue
        half = 0.5 * width
        # a rasterised region has hundreds of narrow steps: few nodes each (still sine-substituted:
        # a narrow piece may end where a small circle's latitude extent has its square root)
        n = _NARROW_NODES if narrow_rule and np.degrees(width) < _NARROW_DEG else \
            max(quadrature.n_longitude_min, int(np.ceil(np.degrees(width) * quadrature.nodes_per_degree)))
        x, w = _gauss_legendre(n)
        theta = 0.5 * np.pi * x
        nodes.append(0.5 * (a + b) + half * np.sin(theta))
        weights.append(half * np.cos(theta) * 0.5 * np.pi * w)
    return np.concatenate(nodes), np.concatenate(weights)


def _split_bands(intervals_per_node):
    """Turn signed latitude intervals into one-sided bands (node index, beta1, beta2)."""
    index, lo, hi = [], [], []
    for i, intervals in enumerate(intervals_per_node):
        for b1, b2 in intervals:
            if b2 <= b1:
                continue
            if b1 >= 0:
                bands = [(b1, b2)]
            elif b2 <= 0:
                bands = [(-b2, -b1)]
            else:
                bands = [(0.0, -b1), (0.0, b2)]
            for band in bands:
                index.append(i)
                lo.append(band[0])
                hi.append(band[1])
    return np.array(index, dtype=int), np.array(lo, dtype=float), np.array(hi, dtype=float)


def sky_integral(dist, lb_region, quadrature=DEFAULT_QUADRATURE, attenuation=None, s_min=0.0):
    """int_region dOmega int ds rho [s-1 kpc-2 sr] for a longitude-latitude region.

    ``lb_region`` provides ``longitude_breaks()`` (sorted, radians, within [-pi, pi]) and
    ``latitude_intervals(l)`` (per longitude, a list of (b1, b2) in radians); see
    :mod:`gammapy_cocoons.skyregions`. With ``attenuation``, the integrals with the transmission
    exp(-tau) along each line of sight, one per energy (:func:`band_integral`).
    With ``s_min`` [kpc], the sources farther than s_min only.
    """
    breaks = _all_longitude_breaks(lb_region)
    l, wl = _longitude_nodes(breaks, quadrature)
    index, beta1, beta2 = _split_bands(lb_region.latitude_intervals(l))
    if attenuation is not None:
        if index.size == 0:
            return np.zeros(attenuation.energy.size)
        values = band_integral(dist, l[index], beta1, beta2, quadrature, attenuation=attenuation, s_min=s_min)
        return np.sum(wl[index, None] * values, axis=0)
    if index.size == 0:
        return 0.0
    values = band_integral(dist, l[index], beta1, beta2, quadrature, s_min=s_min)
    return float(np.sum(wl[index] * values))


def sky_transmission(dist, lb_region, energy_gev, quadrature=DEFAULT_QUADRATURE, chunk=8):
    """Emission-weighted transmission of the sources in a region, int dOmega int ds rho exp(-tau) /
    int dOmega int ds rho, at gamma-ray energies [GeV] (1-d): pair production on the ISRF and the
    CMB (:mod:`gammapy_cocoons.physics.absorption`). 1 where the optical depth cannot reach 1e-7
    (below ~20 GeV) and for an empty region."""
    from .absorption import Attenuation

    energy = np.atleast_1d(np.asarray(energy_gev, float))
    result = np.ones(energy.size)
    # the longest path to a source: to the far edge of the disc
    absorbed = np.nonzero(Attenuation(energy).kappa_max * (dist.r_sun + dist.r_max) > 1e-7)[0]
    total = sky_integral(dist, lb_region, quadrature) if absorbed.size else 0.0
    if total > 0:
        for start in range(0, absorbed.size, chunk):
            part = absorbed[start:start + chunk]
            result[part] = sky_integral(dist, lb_region, quadrature, Attenuation(energy[part])) / total
    return result


def solid_angle(lb_region, quadrature=DEFAULT_QUADRATURE):
    """Solid angle [sr] of a longitude-latitude region, with the same longitude rule."""
    breaks = _all_longitude_breaks(lb_region)
    l, wl = _longitude_nodes(breaks, quadrature)
    total = 0.0
    for weight, intervals in zip(wl, lb_region.latitude_intervals(l)):
        for b1, b2 in intervals:
            total += weight * (np.sin(b2) - np.sin(b1))
    return float(total)


#: latitudes [rad] whose crossings by a region's slanted boundary (a circle's rim) split the longitude
#: integral: the band integral changes fastest in longitude where its end passes through the thin
#: source disc (a few tenths of a degree thick towards the inner Galaxy, degrees nearby)
_PLANE_CROSSINGS = np.radians([0.0, 0.1, -0.1, 0.3, -0.3, 1.0, -1.0, 3.0, -3.0, 10.0, -10.0])


def _all_longitude_breaks(lb_region):
    # the Galactic centre and anticentre are always interval ends: the column has a cusp at l = 0;
    # so are the longitudes where an interval's end crosses the disc (circles near the plane)
    crossings = getattr(lb_region, "latitude_crossings", None)
    extra = np.asarray(crossings(_PLANE_CROSSINGS), float) if crossings is not None else np.array([])
    breaks = np.concatenate([[-np.pi, 0.0, np.pi], np.asarray(lb_region.longitude_breaks(), float), extra])
    return np.unique(np.clip(breaks, -np.pi, np.pi))
