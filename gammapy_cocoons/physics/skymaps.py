"""Pixel integrals of the projected source density on any sky grid (the spatial part of Eq. 8).

Near the plane the column density changes on angular scales of z0 / d ~ 0.3 deg (Green's
z0 = 83 pc seen from across the Galaxy), smaller than most map pixels, so pixel-centre values
are not pixel averages. This module integrates *exactly in latitude* and smoothly in longitude::

    G(l, b) = int_0^b db' cos b' int ds rho(s; l, b') = int_0^b db' int dd rho      (b >= 0)

is tabulated once per source distribution on a longitude x latitude grid (fine near b = 0) and
interpolated with bicubic splines. A pixel is then int dl [G(l, b_top(l)) - G(l, b_bottom(l))]:
exact l-b boxes for aligned Galactic CAR maps, exact diamonds in (l, sin b) for the equatorial
zone of HEALPix, and latitude-averaged sub-samples for everything else.

The table is one matrix product. In the variables (l, b, d = s cos b) of
:mod:`.lineofsight`, G(l, b_j) = int dd f(r(d, l)) W(d; 0, b_j) with W the latitude weight.
W does not depend on l, so on a distance grid shared by all longitudes G = A @ W with
A[i, k] = w_k f(r(d_k, l_i)). The grid has interval ends at the kinks of W (d = h / tan b_j),
the Sun's ladder and d = r_sun (the l = 0 cusp); the disc exit d_exit(l), which differs per
longitude, is handled by a partial Gauss-Legendre rule on its interval, mapped back onto the
interval's nodes by Lagrange interpolation (W is smooth inside an interval).

Units: radians, kpc; G in s-1 kpc-2 rad (like :func:`.lineofsight.band_integral`).
"""
from collections import OrderedDict

import numpy as np
from scipy import ndimage

from .lineofsight import _gauss_legendre, disc_exit_distance, galactocentric_radius

__all__ = [
    "LatitudeTable", "ColumnTable", "column_tables", "line_of_sight_columns", "line_of_sight_samples", "latitude_table", "healpix_children", "box_integrals", "grid_box_integrals", "healpix_integrals",
    "subsampled_integrals",
]

_TABLE_CACHE = OrderedDict()
_PAD = 12  # periodic padding of the longitude axis: the spline prefilter edge effect decays as 0.27^n


def _latitude_grid(scale_deg, step_at_plane_deg):
    """Absolute latitudes [rad] b = s sinh(y), y uniform from 0 to pi/2: steps of
    ``step_at_plane_deg`` at the plane growing to ~(90 / s) times that at the pole.

    The map y(b) = asinh(b / s) is analytic, so the cubic spline in y is evaluated at exact
    fractional indices.
    """
    scale = np.radians(scale_deg)
    y_max = np.arcsinh(0.5 * np.pi / scale)
    n = int(np.ceil(y_max * scale_deg / step_at_plane_deg))
    step = y_max / n
    return scale * np.sinh(np.arange(n + 1) * step), scale, step


def _lagrange_matrix(x_from, x_to):
    """L[..., q, p]: Lagrange basis p on nodes ``x_from`` (n,) evaluated at ``x_to`` (..., m)."""
    n = x_from.size
    diff = x_to[..., :, None] - x_from[None, :]  # (..., m, n)
    basis = np.ones(x_to.shape + (n,))
    for p in range(n):
        for r in range(n):
            if r != p:
                basis[..., p] *= diff[..., r] / (x_from[p] - x_from[r])
    return basis


class _CumulativeTable:
    """Spline interpolation of a latitude-cumulative integral G(l, b), odd in b.

    Subclasses fill ``self.lon`` (-pi..pi, uniform), ``self.lat`` (0..pi/2, uniform in
    asinh(b / scale)) and call :meth:`_set_values` with G on that grid.
    """

    def _set_grid(self, l_step_deg, b_step_deg, b_scale_deg=1.0):
        n_l = int(round(360.0 / l_step_deg))
        self.lon = np.linspace(-np.pi, np.pi, n_l + 1)
        self.lat, self._lat_scale, self._lat_step = _latitude_grid(b_scale_deg, b_step_deg)
        self.lat[-1] = 0.5 * np.pi

    def _set_values(self, values):
        #: G over the whole upper half sky, int dl G(l, pi/2)
        self.hemisphere = self._total(values)
        # cubic B-spline coefficients on the signed latitude grid (G is odd in b), with the
        # longitude axis padded periodically, for fast scattered evaluation
        signed = np.concatenate([-values[:, :0:-1], values], axis=1)
        self._lat_offset = self.lat.size - 1
        rows = values.shape[0] - 1  # the last longitude repeats the first
        padded = np.concatenate([signed[rows - _PAD:rows], signed[:rows], signed[:_PAD + 1]], axis=0)
        # mirror at b = +-90 deg is exact: dG/db = column x cos(b) is odd about the poles
        self._coefficients = ndimage.spline_filter(padded, order=3, mode="mirror")
        self._lon_step = self.lon[1] - self.lon[0]

    def _total(self, values):
        # periodic trapezoid in l is spectrally accurate for the smooth periodic G(l, pi/2);
        # the l = 0 cusp is mild (r^alpha with alpha ~ 1) and sits on a node
        top = values[:-1, -1]
        return float(np.sum(top) * (self.lon[1] - self.lon[0]))

    def __call__(self, lon, lat):
        """Signed G(l, b) = sign(b) G(l, |b|), l and b in radians (broadcast)."""
        lon, lat = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
        wrapped = np.mod(lon + np.pi, 2.0 * np.pi)
        lon_index = wrapped / self._lon_step + _PAD
        lat_index = np.arcsinh(lat / self._lat_scale) / self._lat_step + self._lat_offset
        coordinates = np.array([lon_index.ravel(), lat_index.ravel()])
        value = ndimage.map_coordinates(self._coefficients, coordinates, order=3, prefilter=False, mode="mirror")
        return value.reshape(lon.shape)

    def band(self, lon, lat1, lat2):
        """int_{lat1}^{lat2} db int dd rho at longitudes ``lon`` (radians)."""
        return self(lon, lat2) - self(lon, lat1)


class LatitudeTable(_CumulativeTable):
    """G(l, b) for one source distribution: exact latitude integrals at any longitude.

    Parameters
    ----------
    dist : SourceDistribution
    l_step_deg : float
        Longitude step of the table [deg].
    b_step_deg : float
        Latitude step at the plane [deg]; the grid is uniform in asinh(b / 1 deg).
    n_nodes : int
        Gauss-Legendre nodes per distance interval.
    """

    def __init__(self, dist, l_step_deg=0.2, b_step_deg=0.01, n_nodes=4):
        self.dist = dist
        self._set_grid(l_step_deg, b_step_deg)
        self._set_values(self._compute(n_nodes))

    def _distance_grid(self, n_nodes):
        dist = self.dist
        d_max = dist.r_sun + dist.r_max
        with np.errstate(divide="ignore"):
            kinks = dist.h / np.tan(self.lat[1:])
        ends = np.concatenate([
            [0.0, dist.r_sun, d_max],
            dist.z0 * 2.0 ** np.arange(-4, 9),
            np.arange(0.5, d_max, 0.5),
            kinks,
        ])
        ends = np.unique(ends[(ends >= 0) & (ends <= d_max)])
        ends = ends[np.concatenate([[True], np.diff(ends) > 1e-9])]
        x, w = _gauss_legendre(n_nodes)
        a, b = ends[:-1, None], ends[1:, None]
        half = 0.5 * (b - a)
        nodes = (a + half + half * x).ravel()
        weights = (half * w).ravel()
        return ends, nodes, weights, x, w

    def _compute(self, n_nodes):
        dist = self.dist
        ends, d, wd, x, w = self._distance_grid(n_nodes)
        l = self.lon[:, None]
        d_exit = disc_exit_distance(dist, self.lon)
        interval = np.clip(np.searchsorted(ends, d_exit, side="left") - 1, 0, ends.size - 2)
        node_interval = np.repeat(np.arange(ends.size - 1), n_nodes)

        f = dist.radial(galactocentric_radius(dist, d[None, :], l))
        a_matrix = np.where(node_interval[None, :] < interval[:, None], wd * f, 0.0)

        # the exit interval: Gauss-Legendre on [a, d_exit], mapped onto the interval's nodes
        a = ends[interval]
        b = ends[interval + 1]
        half_part = 0.5 * (d_exit - a)
        d_part = (a + half_part)[:, None] + half_part[:, None] * x
        w_part = half_part[:, None] * w
        f_part = dist.radial(galactocentric_radius(dist, d_part, l))
        x_part = 2.0 * (d_part - a[:, None]) / (b - a)[:, None] - 1.0
        lagrange = _lagrange_matrix(x, x_part)  # (n_l, q, p)
        contribution = np.einsum("iq,iqp->ip", w_part * f_part, lagrange)
        columns = interval[:, None] * n_nodes + np.arange(n_nodes)
        np.put_along_axis(a_matrix, columns, contribution, axis=1)

        return dist.norm * (a_matrix @ self._cumulative_latitude_weight(d))

    def _cumulative_latitude_weight(self, d, n_band=3):
        """W(d; 0, b_j) = int_0^{min(b_j, atan(h/d))} exp(-d tan(b) / z0) db for all grid b_j.

        Summed band by band (Gauss-Legendre, ``n_band`` nodes) up to the disc top atan(h/d),
        where the exponent is at most h/z0: every band integrand is smooth.
        """
        dist = self.dist
        lat = self.lat
        x, w = _gauss_legendre(n_band)
        k = (d / dist.z0)[:, None, None]
        lo, hi = lat[:-1], lat[1:]
        half = 0.5 * (hi - lo)
        beta = (lo + half)[:, None] + half[:, None] * x
        bands = np.sum(w * np.exp(-k * np.tan(beta)), axis=-1) * half  # (n_d, n_bands)
        top = np.arctan2(dist.h, d)
        # bands entirely below the disc top count fully; the one holding it partially
        full = hi[None, :] <= top[:, None]
        cumulative = np.concatenate([np.zeros((d.size, 1)), np.cumsum(np.where(full, bands, 0.0), axis=1)], axis=1)
        n_full = np.sum(full, axis=1)  # index of the band holding the top
        partial_lo = lat[n_full]
        partial_half = 0.5 * (np.minimum(top, lat[-1]) - partial_lo)
        beta = (partial_lo + partial_half)[:, None] + partial_half[:, None] * x
        partial = np.sum(w * np.exp(-(d / dist.z0)[:, None] * np.tan(beta)), axis=-1) * partial_half
        above = np.arange(lat.size)[None, :] > n_full[:, None]
        return cumulative + np.where(above, partial[:, None], 0.0)


class ColumnTable(_CumulativeTable):
    """G(l, b) for any density rho(r, z) symmetric in z, from numerical line-of-sight columns.

    The column int ds rho is computed on the table grid (:func:`line_of_sight_columns`), then
    integrated over latitude with cumulative Simpson in asinh(b / 1 deg). Used for
    emissivities that are not of the factorised source-density form (e.g. gas x CRs);
    :func:`column_tables` builds several tables on one shared line-of-sight geometry.

    Parameters
    ----------
    density : callable
        rho(r, z) for arrays of Galactocentric radius and height [kpc] (any unit; G carries it
        times kpc).
    r_sun : float
        Galactocentric distance of the Sun [kpc].
    r_max, z_max : float
        rho is zero for ``r > r_max`` or ``|z| > z_max`` [kpc].
    z_breaks : sequence of float
        Heights [kpc] where the density changes character (scale heights).
    l_step_deg, b_step_deg : float
        Table grid: longitude step; latitude step at the plane.
    n_nodes : int
        Gauss-Legendre nodes per interval along the line of sight.
    """

    def __init__(self, density, r_sun, r_max, z_max, z_breaks=(0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
                 l_step_deg=1.0, b_step_deg=0.02, n_nodes=6, _values=None):
        self.density = density
        self.r_sun, self.r_max, self.z_max = float(r_sun), float(r_max), float(z_max)
        self.z_breaks = np.asarray(z_breaks, float)
        self.n_nodes = int(n_nodes)
        self._set_grid(l_step_deg, b_step_deg)
        if _values is None:
            lon, lat = np.meshgrid(self.lon, self.lat, indexing="ij")
            _values = self.column(lon.ravel(), lat.ravel()).reshape(lon.shape)
        self._set_values(self._cumulate(_values))

    def column(self, lon, lat):
        """int_0^s_exit rho ds [density x kpc] along (lon, lat) [rad] (1-d arrays)."""
        return line_of_sight_columns(
            [self.density], lon, lat, self.r_sun, self.r_max, self.z_max, self.z_breaks, self.n_nodes)[0]

    def _cumulate(self, column):
        """G(l, b_j) = int_0^b_j column cos b db by cumulative Simpson in y = asinh(b / scale)."""
        from scipy.integrate import cumulative_simpson

        y = np.arange(self.lat.size) * self._lat_step
        jacobian = self._lat_scale * np.cosh(y) * np.cos(self.lat)
        return cumulative_simpson(column * jacobian, dx=self._lat_step, axis=1, initial=0.0)


def column_tables(densities, r_sun, r_max, z_max, z_breaks=(0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
                  l_step_deg=1.0, b_step_deg=0.02, n_nodes=6):
    """One :class:`ColumnTable` per density, sharing the line-of-sight geometry (one pass).

    ``densities``: as in :func:`line_of_sight_columns` (a list, or one stacked callable).
    """
    grid = ColumnTable.__new__(ColumnTable)
    grid._set_grid(l_step_deg, b_step_deg)
    lon, lat = np.meshgrid(grid.lon, grid.lat, indexing="ij")
    columns = line_of_sight_columns(densities, lon.ravel(), lat.ravel(), r_sun, r_max, z_max, z_breaks, n_nodes)
    return [ColumnTable(None, r_sun, r_max, z_max, z_breaks, l_step_deg, b_step_deg, n_nodes,
                        _values=column.reshape(lon.shape))
            for column in columns]


def line_of_sight_samples(lon, lat, r_sun, r_max, z_max, z_breaks, n_nodes=6):
    """Quadrature nodes along the lines of sight (lon, lat) [rad] (1-d arrays): r, z, s and the
    weights ws [kpc], each of shape (n, m), for int_0^s_exit rho ds = sum ws rho(r, z).

    Piecewise Gauss-Legendre along s with interval ends on a geometric ladder from the Sun, where
    the line of sight crosses the heights ``z_breaks``, around the tangent point and at the exit
    of the cylinder ``r <= r_max``, ``|z| <= z_max`` [kpc].
    """
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    z_breaks = np.asarray(z_breaks, float)
    cos_b, sin_b = np.cos(lat), np.abs(np.sin(lat))
    d_exit = r_sun * np.cos(lon) + np.sqrt(r_max**2 - (r_sun * np.sin(lon)) ** 2)
    with np.errstate(divide="ignore"):
        s_exit = np.minimum(d_exit / cos_b, z_max / sin_b)
        crossings = z_breaks[None, :] / sin_b[:, None]
    tangent = r_sun * np.cos(lon) / cos_b
    ladder = 0.002 * 2.0 ** np.arange(15)
    ends = np.concatenate([
        np.zeros((lon.size, 1)),
        np.broadcast_to(ladder, (lon.size, ladder.size)),
        np.where(np.isfinite(crossings), crossings, 0.0),
        tangent[:, None] + np.array([-1.0, -0.25, 0.0, 0.25, 1.0]),
        s_exit[:, None],
    ], axis=1)
    ends = np.sort(np.clip(ends, 0.0, s_exit[:, None]), axis=1)
    x, w = _gauss_legendre(n_nodes)
    a, b = ends[:, :-1, None], ends[:, 1:, None]
    half = 0.5 * (b - a)
    s = (a + half + half * x).reshape(lon.size, -1)
    ws = (half * w).reshape(lon.size, -1)
    d = s * cos_b[:, None]
    z = s * np.sin(lat)[:, None]
    r = np.sqrt(np.maximum(r_sun**2 + d * d - 2.0 * r_sun * d * np.cos(lon)[:, None], 0.0))
    return r, z, s, ws


def line_of_sight_columns(densities, lon, lat, r_sun, r_max, z_max, z_breaks, n_nodes=6, chunk=128):
    """int_0^s_exit rho ds for each density along (lon, lat) [rad], shape (n_densities, n).

    ``densities`` is a list of callables rho(r, z), or one callable returning the stacked
    densities, shape (n_densities,) + r.shape (to share work between them). Quadrature:
    :func:`line_of_sight_samples`, in chunks of ``chunk`` lines of sight (cache-sized).
    """
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    if callable(densities):
        stacked = densities
    else:
        def stacked(r, z):
            return np.array([density(r, z) for density in densities])
    total = None
    for start in range(0, lon.size, chunk):
        part = slice(start, start + chunk)
        r, z, _, ws = line_of_sight_samples(lon[part], lat[part], r_sun, r_max, z_max, z_breaks, n_nodes)
        values = np.sum(ws * stacked(r, z), axis=-1)
        if total is None:
            total = np.zeros((values.shape[0], lon.size))
        total[:, part] = values
    return total


def latitude_table(dist):
    """The cached :class:`LatitudeTable` of a source distribution."""
    if dist not in _TABLE_CACHE:
        _TABLE_CACHE[dist] = LatitudeTable(dist)
        if len(_TABLE_CACHE) > 8:
            _TABLE_CACHE.popitem(last=False)
    _TABLE_CACHE.move_to_end(dist)
    return _TABLE_CACHE[dist]


def box_integrals(table, lon1, lon2, lat1, lat2, n_lon=3):
    """int_box dOmega int ds rho for l-b boxes [s-1 kpc-2 sr] (arrays broadcast).

    Exact in latitude; Gauss-Legendre with ``n_lon`` nodes in longitude (the profile varies
    on degrees in l). ``lon2 > lon1`` may cross +-pi.
    """
    lon1, lon2, lat1, lat2 = np.broadcast_arrays(*(np.asarray(v, float) for v in (lon1, lon2, lat1, lat2)))
    x, w = _gauss_legendre(n_lon)
    half = 0.5 * (lon2 - lon1)
    total = np.zeros(lon1.shape)
    for xi, wi in zip(x, w):
        total += wi * table.band(lon1 + half * (1.0 + xi), lat1, lat2)
    return total * half


def grid_box_integrals(table, lon_edges, lat_edges, n_lon=3):
    """Integrals [s-1 kpc-2 sr] over the l-b boxes of a grid, shape (n_lat, n_lon).

    ``lon_edges`` (increasing or decreasing, may cross +-pi when unwrapped) and ``lat_edges``
    [rad] are shared by all rows / columns, so G is evaluated once per (longitude node,
    latitude edge).
    """
    lon_edges = np.asarray(lon_edges, float)
    lat_edges = np.asarray(lat_edges, float)
    lo = np.minimum(lon_edges[:-1], lon_edges[1:])
    half = 0.5 * np.abs(np.diff(lon_edges))
    x, w = _gauss_legendre(n_lon)
    nodes = (lo + half)[:, None] + half[:, None] * x  # (n_columns, n_lon)
    g = table(nodes.ravel()[:, None], lat_edges[None, :])  # (n_columns * n_lon, n_edges)
    bands = np.diff(g, axis=1).reshape(lo.size, n_lon, lat_edges.size - 1)
    return (np.einsum("cnr,n->rc", bands, w) * half).reshape(lat_edges.size - 1, lo.size)


def healpix_integrals(table, nside, ipix, nest, n_half=4, plane_deg=10.0):
    """Pixel integrals [s-1 kpc-2 sr] of HEALPix pixels in Galactic coordinates.

    Equatorial-zone pixels (``|z| < 2/3``) are exact diamonds in (l, z = sin b): vertices at
    (l_c +- pi/(4 nside), z_c) and (l_c, z_c +- 2/(3 nside)) (Gorski et al. 2005), integrated
    exactly in z and with Gauss-Legendre nodes in l on each half: ``n_half`` within
    ``plane_deg`` of the plane, 2 further out where the profile is smooth. Polar-cap pixels
    (``|b| > 41.8 deg``) use 4 latitude-averaged sub-samples.
    """
    import healpy as hp

    ipix = np.asarray(ipix, dtype=np.int64)
    theta, phi = hp.pix2ang(nside, ipix, nest=nest)
    z = np.cos(theta)
    lon = np.mod(phi + np.pi, 2.0 * np.pi) - np.pi
    result = np.empty(ipix.shape)
    equatorial = np.abs(z) < 2.0 / 3.0 - 1e-12
    near_plane = np.abs(z) < np.sin(np.radians(plane_deg))
    for selection, n_nodes in ((equatorial & near_plane, n_half), (equatorial & ~near_plane, 2)):
        if np.any(selection):
            result[selection] = _diamond_integrals(table, nside, lon[selection], z[selection], n_nodes)

    polar = ~equatorial
    if np.any(polar):
        lon_c, lat_c, omega = healpix_children(nside, ipix[polar], nest, order=1)  # 4 per pixel
        values = subsampled_integrals(table, np.radians(lon_c), np.radians(lat_c), omega)
        result[polar] = values.sum(axis=-1)
    return result


def healpix_children(nside, ipix, nest, order):
    """Centres of the 4**order sub-pixels of each pixel: (lon, lat) [deg] of shape (n, 4**order)
    and the sub-pixel solid angle [sr]."""
    import healpy as hp

    ipix = np.asarray(ipix, dtype=np.int64)
    nested = ipix if nest else hp.ring2nest(nside, ipix)
    n_children = 4**order
    children = (nested[:, None] * n_children + np.arange(n_children)).ravel()
    lon, lat = hp.pix2ang(nside * 2**order, children, nest=True, lonlat=True)
    shape = (ipix.size, n_children)
    return lon.reshape(shape), lat.reshape(shape), hp.nside2pixarea(nside * 2**order)


def _diamond_integrals(table, nside, lon, z, n_half):
    half_width = np.pi / (4.0 * nside)
    half_height = 2.0 / (3.0 * nside)
    x, w = _gauss_legendre(n_half)
    t = 0.5 * (x + 1.0)  # nodes on [0, 1] from the centre to a side vertex
    extent = half_height * (1.0 - t)
    lat_lo = np.arcsin(z[:, None] - extent)
    lat_hi = np.arcsin(z[:, None] + extent)
    total = np.zeros(lon.shape)
    for sign in (-1.0, 1.0):
        band = table.band(lon[:, None] + sign * half_width * t, lat_lo, lat_hi)
        total += band @ (0.5 * w)
    return total * half_width


def subsampled_integrals(table, lon, lat, solid_angle):
    """Integrals over small cells [s-1 kpc-2 sr] from latitude averages at their centres.

    Each cell of ``solid_angle`` [sr] centred at (``lon``, ``lat``) [rad] gets the mean of the
    column over a latitude span of sqrt(solid_angle) at its centre longitude: exact in
    latitude to first order in the cell shape, for cells of any projection or frame.
    """
    lon, lat, solid_angle = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float), solid_angle)
    half = 0.5 * np.sqrt(solid_angle)
    lo = np.maximum(lat - half, -0.5 * np.pi)
    hi = np.minimum(lat + half, 0.5 * np.pi)
    mean = table.band(lon, lo, hi) / (np.sin(hi) - np.sin(lo))
    return mean * solid_angle
