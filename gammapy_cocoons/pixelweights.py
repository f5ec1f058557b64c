"""Region integrals of sky maps: the solid angle of every pixel inside a region.

One rule for every map the package reads or writes (HEALPix in any frame and ordering, full or
partial; WCS in any frame and projection) and every region (:mod:`.skyregions`: l-b boxes,
circles, their compounds, and rasterised shapes): a map is constant on its pixels (a pixel holds
the mean intensity over its area, as :func:`~gammapy_cocoons.templates.make_cube` writes it), and

    int_region I dOmega = sum_p I_p w_p,    w_p = solid angle of (pixel p inside the region).

A pixel whose centre is farther than its circumradius from the region's boundary
(``boundary_distance``) is wholly inside (w_p = its solid angle) or outside (0). For the pixels the
boundary cuts, w_p is integrated in the Galactic frame, where the regions are exact: the pixel's
outline (its corners and edges, transformed to Galactic longitude l and z = sin b) bounds, at each
longitude, an interval of z that is intersected exactly with the region's latitude intervals;
longitude is integrated by Gauss-Legendre on pieces split at the pixel's corners and at the
region's longitude breaks (steps). Pixels close to a Galactic pole, where (l, z) are singular, are
sub-sampled (4096 equal-area points). Pixel solid angles are exact: 4 pi / npix for HEALPix,
dl (sin b2 - sin b1) for cylindrical maps aligned with their frame, and otherwise the spherical
polygon through the pixel's corners and edge midpoints (shared by neighbours, so the pixels tile
the sky exactly).

With a constant map this gives intensity x the region's solid angle
(:func:`~gammapy_cocoons.physics.lineofsight.solid_angle`) in every frame and projection; the part
of the region the map does not cover (pixels a partial map lacks, pixels without data, sky beyond a
WCS map's edge) is returned so that callers can refuse it by name (:func:`region_integral`).
Weights are cached per (geometry, region).
"""
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import astropy.units as u

from .physics import lineofsight
from .skyregions import AllSky, _lonlat, _unit_vectors, _wrap, frame_to_galactic, to_lb_region

__all__ = ["PixelWeights", "pixel_weights", "pixel_solid_angles", "region_integral"]

#: pixels classified at once (bounds the memory)
_BLOCK = 1_000_000
#: edge pixels whose fractions are computed at once
_EDGE_BLOCK = 2048
#: Gauss-Legendre nodes per longitude piece of a pixel (sine substitution: square-root ends are exact)
_NODES = 8
#: the same for pixels near a Galactic pole, where a piece spans tens of degrees of longitude and
#: the region's and the outline's z(l) bend more (1 deg caps 1.5-2 deg from the pole on 3 deg ICRS CAR
#: pixels: up to 1.6e-4 off with 8 nodes, 5.2e-5 with 32; their outlines keep 128 points per edge)
_POLE_NODES = 32
#: (pixels x nodes x outline edges) of a pixel fraction's cross-sections computed at once (~32 MB a
#: float array: bounds the memory of pixels with many longitude pieces, those around a pole)
_CROSSING_ELEMENTS = 4_000_000
#: a pixel's outline pieces are checked for two boundary crossings down to this fraction of its side
#: (already the case for outlines drawn with 16 points per edge and more)
_SHORTEST_PIECE = 32
#: sub-samples (per side) of a pixel at the edge of a projection's domain
_POLE_SAMPLES = 64
_CACHE = OrderedDict()
_CACHE_SIZE = 16
#: a region the map covers to this fraction counts as covered (WCS maps: the pixel polygons'
#: rounding); anything more is refused by region_integral
COVERAGE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class PixelWeights:
    """Solid angles [sr] of the pixels of a map inside a region.

    Attributes
    ----------
    index : ndarray of int
        Flat indices into the map's image data (its own pixel order, also for partial HEALPix).
    weight : ndarray of float
        Solid angle [sr] of each of those pixels inside the region.
    solid_angle : float
        Solid angle of the region [sr].
    uncovered : float
        Solid angle of the region [sr] without pixels in the map (partial HEALPix, beyond a WCS
        map's edge); pixels without data are the caller's (:func:`region_integral`).
    """

    index: np.ndarray
    weight: np.ndarray
    solid_angle: float
    uncovered: float


# -- geometries ------------------------------------------------------------------------------------
#: pixels per side of the coarse cells classified first (HEALPix: 16 x 16 children of a coarse pixel)
_FACTOR = 16


class _Healpix:
    """Pixels of a HEALPix geometry (any frame and ordering, full or partial). Coarse cells are the
    pixels of nside / 16, whose children are contiguous in NESTED order."""

    def __init__(self, geom):
        import healpy as hp

        image = geom.to_image()
        self.nside = int(np.squeeze(image.nside))
        self.nest = bool(image.nest)
        self.frame = image.frame
        self.rotation = frame_to_galactic(self.frame)
        self.npix = hp.nside2npix(self.nside)
        self.allsky = bool(image.is_allsky)
        self.map_pixels = None if self.allsky else np.asarray(image.get_idx(flat=True)[0], dtype=np.int64)
        self.area = hp.nside2pixarea(self.nside)
        self.radius = 1.01 * hp.max_pixrad(self.nside)
        self.factor = min(_FACTOR, self.nside)
        self.coarse_nside = self.nside // self.factor
        self.key = ("healpix", self.nside, self.nest, self.frame) + (
            ("all",) if self.allsky else (self.map_pixels.size, hash(self.map_pixels.tobytes())))
        self._local = None

    def coarse_cells(self):
        import healpy as hp

        n = hp.nside2npix(self.coarse_nside)
        for start in range(0, n, _BLOCK // 64):
            yield np.arange(start, min(start + _BLOCK // 64, n))

    def coarse_geometry(self, cells):
        import healpy as hp

        vectors = np.stack(hp.pix2vec(self.coarse_nside, cells, nest=True), axis=-1) @ self.rotation.T
        return vectors, np.full(cells.size, 1.01 * hp.max_pixrad(self.coarse_nside))

    def children(self, cells):
        import healpy as hp

        nested = (cells[:, None] * self.factor**2 + np.arange(self.factor**2)).ravel()
        return nested if self.nest else hp.nest2ring(self.nside, nested)

    def centres(self, pixels):
        import healpy as hp

        return np.stack(hp.pix2vec(self.nside, pixels, nest=self.nest), axis=-1) @ self.rotation.T

    def radii(self, pixels):
        return np.full(pixels.size, self.radius)

    def areas(self, pixels):
        return np.full(pixels.size, self.area)

    def outline(self, pixels, step=8):
        """Boundary points (n, 4 step, 3) in Galactic vectors, and the step (corners at 0, step, ...);
        ``step`` points per edge where the edges are curves in (l, z)."""
        import healpy as hp

        if self.frame == "galactic":  # equatorial-zone pixels are straight in (l, z), polar ones are not
            z = np.abs(np.cos(hp.pix2ang(self.nside, pixels, nest=self.nest)[0]))
            step = max(step, 16) if np.any(z > 2.0 / 3.0 - 1e-12) else 1
        vectors = np.asarray(hp.boundaries(self.nside, pixels, step=step, nest=self.nest))
        return np.moveaxis(vectors.reshape(pixels.size, 3, -1), 1, 2) @ self.rotation.T, step

    def samples(self, pixels):
        """Equal-area sub-samples (n, m, 3) in Galactic vectors and their weights (m,) summing to 1."""
        import healpy as hp

        order = int(np.log2(_POLE_SAMPLES))
        nested = pixels if self.nest else hp.ring2nest(self.nside, pixels)
        children = (nested[:, None] * 4**order + np.arange(4**order)).ravel()
        vectors = np.stack(hp.pix2vec(self.nside * 2**order, children, nest=True), axis=-1)
        vectors = vectors.reshape(pixels.size, -1, 3) @ self.rotation.T
        return vectors, np.full(vectors.shape[1], 1.0 / vectors.shape[1])

    def local(self, pixels):
        """Index of each global pixel in the map's data (-1 if the map lacks it)."""
        if self.allsky:
            return pixels
        if self._local is None:
            order = np.argsort(self.map_pixels)
            self._local = (self.map_pixels[order], order)
        sorted_pixels, order = self._local
        position = np.clip(np.searchsorted(sorted_pixels, pixels), 0, sorted_pixels.size - 1)
        return np.where(sorted_pixels[position] == pixels, order[position], -1)

    def all_areas(self):
        """Solid angle of each pixel of the map, in its data order."""
        return np.full(self.npix if self.allsky else self.map_pixels.size, self.area)


class _Wcs:
    """Pixels of a WCS image (any frame and projection); flat index iy * nx + ix. Coarse cells are
    blocks of 16 x 16 pixels."""

    def __init__(self, geom):
        image = geom.to_image()
        self.wcs = image.wcs
        self.ny, self.nx = image.data_shape
        self.frame = image.frame
        self.rotation = frame_to_galactic(self.frame)
        self.key = ("wcs", self.wcs.to_header_string(), self.nx, self.ny)
        self.separable = self._separable()
        self.unique_columns = self._unique_columns()
        self.nbx, self.nby = -(-self.nx // _FACTOR), -(-self.ny // _FACTOR)
        self._areas = None

    def _world(self, x, y):
        """Galactic unit vectors of pixel positions (NaN outside the projection's domain)."""
        with np.errstate(invalid="ignore"):
            lon, lat = self.wcs.wcs_pix2world(np.ravel(x), np.ravel(y), 0)
        vectors = _unit_vectors(np.radians(lon), np.radians(lat)) @ self.rotation.T
        return vectors.reshape(np.shape(x) + (3,))

    def _separable(self):
        """(longitude edges, latitude edges, longitude centres, latitude centres) [rad] if every pixel
        is a box in its frame's (lon, lat) (cylindrical maps aligned with their frame), else None.
        Columns beyond 180 deg of native longitude have no sky (NaN): their edges are extrapolated
        and :meth:`_valid_columns` leaves them out."""
        x = np.arange(self.nx + 1) - 0.5
        y = np.arange(self.ny + 1) - 0.5
        rows = [0.0, 0.5 * (self.ny - 1), self.ny - 1.0]
        with np.errstate(invalid="ignore"):
            lon = [self.wcs.wcs_pix2world(x, np.full(x.size, r), 0) for r in rows]
        finite = np.isfinite(lon[1][0])
        index = np.nonzero(finite)[0]
        if index.size < 2 or np.any(np.diff(index) != 1) or \
                not all(np.all(np.isfinite(lon_row[0]) == finite) for lon_row in lon):
            return None
        columns = [float(index[0]), 0.5 * (index[0] + index[-1] - 1), index[-1] - 1.0]  # columns with sky
        with np.errstate(invalid="ignore"):
            lat = [self.wcs.wcs_pix2world(np.full(y.size, c), y, 0) for c in columns]
        if not all(np.all(np.isfinite(a)) for pair in lat for a in pair):
            return None
        lon_edges = np.full(x.size, np.nan)
        lon_edges[finite] = np.unwrap(np.radians(lon[1][0][finite]))
        lat_edges = np.radians(lat[0][1])
        for lon_row, lat_row in zip(lon, lat):
            if np.max(np.abs(_wrap(np.radians(lon_row[0][finite]) - lon_edges[finite]))) > 1e-10 or \
                    np.ptp(lon_row[1][finite]) > 1e-9 or np.ptp(lat_row[0]) > 1e-9 or \
                    np.max(np.abs(np.radians(lat_row[1]) - lat_edges)) > 1e-10:
                return None
        step = np.diff(lon_edges[finite])
        if np.any(np.abs(lat_edges) > 0.5 * np.pi + 1e-9) or not (np.all(step > 0) or np.all(step < 0)):
            return None
        # edges without sky: continued with the mean step (only to keep the arithmetic finite)
        lon_edges = np.interp(np.arange(x.size), index, lon_edges[finite], left=np.nan, right=np.nan)
        mean = np.mean(step)
        lon_edges = np.where(np.arange(x.size) < index[0], lon_edges[index[0]] + (np.arange(x.size) - index[0]) * mean,
                             np.where(np.arange(x.size) > index[-1],
                                      lon_edges[index[-1]] + (np.arange(x.size) - index[-1]) * mean, lon_edges))
        with np.errstate(invalid="ignore"):
            lon_centres, _ = self.wcs.wcs_pix2world(np.arange(self.nx, dtype=float), np.full(self.nx, rows[1]), 0)
            _, lat_centres = self.wcs.wcs_pix2world(np.full(self.ny, np.rint(columns[1])), np.arange(self.ny, dtype=float), 0)
        self._sky_columns = finite[:-1] & finite[1:]
        self._first_edge = lon_edges[index[0]]
        return (lon_edges, np.clip(lat_edges, -0.5 * np.pi, 0.5 * np.pi), np.radians(lon_centres),
                np.radians(lat_centres))

    def _unique_columns(self):
        """Columns with sky, and for a separable map only its first 360 deg of longitude (a map
        wider than that would count part of the sky twice)."""
        if self.separable is None:
            return np.ones(self.nx, bool)
        lon_edges = self.separable[0]
        return self._sky_columns & (np.abs(lon_edges[1:] - self._first_edge) <= 2 * np.pi * (1 + 1e-12))

    def coarse_cells(self):
        n = self.nbx * self.nby
        for start in range(0, n, _BLOCK // 64):
            yield np.arange(start, min(start + _BLOCK // 64, n))

    def _cell_box(self, cells):
        """Pixel-space box [x0, x1] x [y0, y1] (pixel edges) of coarse cells, clipped to the image."""
        bx, by = cells % self.nbx, cells // self.nbx
        x0, y0 = bx * _FACTOR - 0.5, by * _FACTOR - 0.5
        return x0, np.minimum(x0 + _FACTOR, self.nx - 0.5), y0, np.minimum(y0 + _FACTOR, self.ny - 0.5)

    def coarse_geometry(self, cells):
        """Centres and circumradii (from 4 x 4 points on each side, plus 5 %) of coarse cells."""
        x0, x1, y0, y1 = self._cell_box(cells)
        t = np.linspace(0.0, 1.0, 5)
        xs = np.concatenate([t, np.ones(5), 1 - t, np.zeros(5)])
        ys = np.concatenate([np.zeros(5), t, np.ones(5), 1 - t])
        centre = self._world(0.5 * (x0 + x1), 0.5 * (y0 + y1))
        ring = self._world(x0[:, None] + (x1 - x0)[:, None] * xs, y0[:, None] + (y1 - y0)[:, None] * ys)
        cos = np.clip(np.sum(ring * centre[:, None, :], axis=-1), -1.0, 1.0)
        radius = 1.05 * np.max(np.arccos(np.where(np.isfinite(cos), cos, -1.0)), axis=1)
        bad = ~np.all(np.isfinite(centre), axis=-1)  # a cell whose centre lies outside the domain
        centre[bad] = (0.0, 0.0, 1.0)
        radius[bad] = np.pi
        return centre, radius

    def children(self, cells):
        x0, x1, y0, y1 = self._cell_box(cells)
        offsets = np.arange(_FACTOR)
        ix = (x0 + 0.5)[:, None, None] + offsets[None, None, :]
        iy = (y0 + 0.5)[:, None, None] + offsets[None, :, None]
        valid = (ix < x1[:, None, None]) & (iy < y1[:, None, None])
        pixels = (iy * self.nx + ix)[valid].astype(np.int64)
        return pixels[self.unique_columns[pixels % self.nx]]

    def _xy(self, pixels):
        return (pixels % self.nx).astype(float), (pixels // self.nx).astype(float)

    def centres(self, pixels):
        if self.separable is not None:
            lon_centres, lat_centres = self.separable[2:]
            return _unit_vectors(lon_centres[pixels % self.nx], lat_centres[pixels // self.nx]) @ self.rotation.T
        x, y = self._xy(pixels)
        return self._world(x, y)

    def radii(self, pixels):
        """Largest angle from each pixel's centre to its corners and edge midpoints, plus 2 % for
        curved edges (pixels at the edge of a projection's domain: its valid points, plus 50 %)."""
        x, y = self._xy(pixels)
        centre = self.centres(pixels)
        largest = np.zeros(pixels.size)
        partial = np.zeros(pixels.size, bool)
        offsets = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
        if self.separable is None:
            offsets += [(0.0, -0.5), (0.5, 0.0), (0.0, 0.5), (-0.5, 0.0)]
        for dx, dy in offsets:
            corner = self._corner(x + dx, y + dy)
            cos = np.clip(np.sum(corner * centre, axis=-1), -1.0, 1.0)
            valid = np.isfinite(cos)
            partial |= ~valid
            largest = np.maximum(largest, np.where(valid, np.arccos(np.where(valid, cos, 1.0)), 0.0))
        return np.where(partial, 1.5 * largest, 1.02 * largest)

    def _corner(self, x, y):
        """Galactic vectors of pixel corners (half-integer x, y) or other positions (non-separable)."""
        if self.separable is not None:
            lon_edges, lat_edges = self.separable[:2]
            return _unit_vectors(lon_edges[np.rint(x + 0.5).astype(np.int64)],
                                 lat_edges[np.rint(y + 0.5).astype(np.int64)]) @ self.rotation.T
        return self._world(x, y)

    def areas(self, pixels):
        if self.separable is not None:
            lon_edges, lat_edges = self.separable[:2]
            ix, iy = pixels % self.nx, pixels // self.nx
            return np.abs(lon_edges[ix + 1] - lon_edges[ix]) * np.abs(np.sin(lat_edges[iy + 1]) - np.sin(lat_edges[iy]))
        return self.all_areas()[pixels]

    def all_areas(self):
        """Solid angle of each pixel (flat), 0 for columns repeating the sky beyond 360 deg."""
        if self._areas is None:
            self._areas = (pixel_solid_angles_wcs(self) * self.unique_columns[None, :]).ravel()
        return self._areas

    def outline(self, pixels, step=8):
        step = 1 if (self.separable is not None and self.frame == "galactic") else step
        t = np.arange(step) / step - 0.5
        x, y = self._xy(pixels)
        # counter-clockwise in pixel space: bottom, right, top, left edges (corners at 0, step, ...)
        dx = np.concatenate([t, np.full(step, 0.5), -t, np.full(step, -0.5)])
        dy = np.concatenate([np.full(step, -0.5), t, np.full(step, 0.5), -t])
        if step == 1:
            return self._corner(x[:, None] + dx, y[:, None] + dy), step
        return self._world(x[:, None] + dx, y[:, None] + dy), step

    def samples(self, pixels):
        t = (np.arange(_POLE_SAMPLES) + 0.5) / _POLE_SAMPLES - 0.5
        x, y = self._xy(pixels)
        dx, dy = np.meshgrid(t, t)
        vectors = self._world(x[:, None] + dx.ravel(), y[:, None] + dy.ravel())
        return vectors, np.full(dx.size, 1.0 / dx.size)

    def local(self, pixels):
        return pixels


def pixel_solid_angles_wcs(pixels):
    """Exact solid angles (ny, nx) [sr] of the pixels of a :class:`_Wcs` (0 outside the projection).

    Separable maps: dlon (sin lat2 - sin lat1). Others: the Jacobian |n . (dn/dx x dn/dy)| of the
    projection integrated over each pixel by 2 x 2 Gauss-Legendre (central differences, 1e-3 pixel);
    a pixel at the edge of the projection's domain keeps the spherical triangles of its corners,
    edge midpoints and centre that lie inside it.
    """
    if pixels.separable is not None:
        lon_edges, lat_edges = pixels.separable[:2]
        return np.abs(np.diff(np.sin(lat_edges)))[:, None] * np.abs(np.diff(lon_edges))[None, :]
    out = np.zeros((pixels.ny, pixels.nx))
    rows = max(1, _BLOCK // (16 * pixels.nx))
    g, h = 0.5 / np.sqrt(3.0), 1e-3
    for start in range(0, pixels.ny, rows):
        stop = min(start + rows, pixels.ny)
        x, y = np.meshgrid(np.arange(pixels.nx, dtype=float), np.arange(start, stop, dtype=float))
        total = np.zeros(x.shape)
        for du in (-g, g):
            for dv in (-g, g):
                xp, xm = pixels._world(x + du + h, y + dv), pixels._world(x + du - h, y + dv)
                yp, ym = pixels._world(x + du, y + dv + h), pixels._world(x + du, y + dv - h)
                n = xp + xm + yp + ym
                n /= np.linalg.norm(n, axis=-1, keepdims=True)
                jacobian = np.abs(np.sum(n * np.cross((xp - xm) / (2 * h), (yp - ym) / (2 * h)), axis=-1))
                total += 0.25 * jacobian
        partial = ~np.isfinite(total)
        if np.any(partial):  # pixels whose centre has no sky are left out everywhere: 0
            partial &= np.all(np.isfinite(pixels._world(x, y)), axis=-1)
            total[~np.isfinite(total)] = 0.0
            total[partial] = _partial_areas(pixels, x[partial], y[partial])
        out[start:stop] = total
    return out


def _partial_areas(pixels, x, y):
    """Solid angles of pixels at the edge of a projection's domain: the spherical triangles (centre,
    two consecutive boundary points) whose vertices are all inside the domain."""
    ring = [(-0.5, -0.5), (0.0, -0.5), (0.5, -0.5), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5), (-0.5, 0.5), (-0.5, 0.0)]
    centre = pixels._world(x, y)
    points = [pixels._world(x + dx, y + dy) for dx, dy in ring]
    total = np.zeros(x.shape)
    for a, b in zip(points, points[1:] + points[:1]):
        area = _triangle_area(centre, a, b)
        total += np.where(np.isfinite(area), area, 0.0)
    return total


def _triangle_area(a, b, c):
    """Solid angle of spherical triangles with unit-vector vertices (..., 3) (Van Oosterom & Strackee 1983)."""
    triple = np.abs(np.sum(a * np.cross(b, c), axis=-1))
    denominator = 1.0 + np.sum(a * b, axis=-1) + np.sum(b * c, axis=-1) + np.sum(c * a, axis=-1)
    return 2.0 * np.arctan2(triple, denominator)


_GEOMETRIES = OrderedDict()


def _geometry(geom):
    """The pixel description of a geometry's image, cached (pixel solid angles are kept)."""
    from gammapy.maps import HpxGeom, WcsGeom

    if isinstance(geom, HpxGeom):
        pixels = _Healpix(geom)
    elif isinstance(geom, WcsGeom):
        pixels = _Wcs(geom)
    else:
        raise TypeError(f"geom must be a WcsGeom or HpxGeom, got {type(geom).__name__}")
    if pixels.key in _GEOMETRIES:
        _GEOMETRIES.move_to_end(pixels.key)
        return _GEOMETRIES[pixels.key]
    _GEOMETRIES[pixels.key] = pixels
    if len(_GEOMETRIES) > 8:
        _GEOMETRIES.popitem(last=False)
    return pixels


def pixel_solid_angles(geom):
    """Exact solid angle [sr] of every pixel of ``geom``'s image, in its data order (a Quantity of
    the image's data shape)."""
    pixels = _geometry(geom)
    if isinstance(pixels, _Healpix):
        return pixels.all_areas() * u.sr
    return pixel_solid_angles_wcs(pixels) * u.sr


# -- the region side -------------------------------------------------------------------------------
def _sorted_cuts(candidates, lo, hi):
    """Per row, the candidate cuts strictly inside (lo, hi), sorted, padded with hi: (n, m) (NaN
    candidates are ignored)."""
    with np.errstate(invalid="ignore"):
        inside = (candidates > lo[:, None]) & (candidates < hi[:, None])
    count = int(inside.sum(axis=1).max()) if inside.size else 0
    values = np.sort(np.where(inside, candidates, np.inf), axis=1)[:, :count]
    return np.where(np.isfinite(values), values, hi[:, None])


def _polygon_fractions(lb, centres, outline, step, nodes=_NODES):
    """Fraction of each pixel inside ``lb`` from its outline (n, V, 3) (Galactic unit vectors).

    At Gauss-Legendre longitude nodes the outline bounds an interval of z = sin b, intersected
    exactly with the region's intervals; longitude pieces end at the pixel's corners, at the
    region's longitude breaks, where the outline turns back in longitude and where it crosses the
    region's boundary (kinks); the cross-section is read with the even-odd rule. A pixel
    whose outline winds around a Galactic pole holds, at every longitude, the interval from its
    outline to the pole.
    """
    lc, _ = _lonlat(centres)
    lv, bv = _lonlat(outline)
    corner = np.zeros(lv.shape, bool)
    corner[:, 0::step] = True
    lv, bv, corner = _open_poles(lv, bv, corner)
    n, n_vertex = lv.shape
    z = np.sin(bv)
    z = np.concatenate([z, z[:, :1]], axis=1)
    # the outline's longitudes relative to the centre, unwrapped along the closed outline
    steps = _wrap(np.diff(np.concatenate([lv, lv[:, :1]], axis=1), axis=1))
    dphi = _wrap(lv[:, :1] - lc[:, None]) + np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    winding = dphi[:, -1] - dphi[:, 0]
    pole = np.where(np.abs(winding) > np.pi, np.sign(centres[:, 2]), 0.0)  # +1 north, -1 south, 0 none
    lo, hi = dphi.min(axis=1), dphi.max(axis=1)
    corners = np.where(corner, dphi[:, :-1], np.nan)
    # where the outline turns back in longitude the number of crossings changes (a square-root end)
    forward = np.diff(dphi, axis=1)
    turning = np.where(forward * np.roll(forward, 1, axis=1) <= 0, dphi[:, :-1], np.nan)
    candidates = [corners, turning, _boundary_crossings(lb, lc, dphi, z), _breaks_within(lb, lc, lo, hi)]
    edges = np.concatenate([lo[:, None], _sorted_cuts(np.concatenate(candidates, axis=1), lo, hi), hi[:, None]],
                           axis=1)
    x, w = lineofsight._gauss_legendre(nodes)
    theta = 0.5 * np.pi * x
    a, b = edges[:, :-1, None], edges[:, 1:, None]
    half = 0.5 * (b - a)
    nodes = ((a + half) + half * np.sin(theta)).reshape(n, -1)  # (n, pieces x nodes)
    weights = (half * np.cos(theta) * 0.5 * np.pi * w).reshape(n, -1)
    # the outline's cross-section at each node (even-odd rule): the z of the outline's edges crossing
    # the node's longitude, sorted and paired; a polar pixel's pole closes its one interval. In
    # chunks of nodes: the arrays are (pixels, nodes, outline edges), large for polar pixels
    a_phi, b_phi = dphi[:, None, :-1], dphi[:, None, 1:]
    a_z, b_z = z[:, None, :-1], z[:, None, 1:]
    area, inside = np.zeros(n), np.zeros(n)
    chunk = max(1, _CROSSING_ELEMENTS // max(n * n_vertex, 1))
    for first in range(0, nodes.shape[1], chunk):
        part = slice(first, first + chunk)
        node = nodes[:, part, None]
        crossing = ((a_phi <= node) & (node < b_phi)) | ((b_phi <= node) & (node < a_phi))
        with np.errstate(invalid="ignore", divide="ignore"):
            z_cross = np.where(crossing, a_z + (b_z - a_z) * (node - a_phi) / (b_phi - a_phi), np.nan)
        z_cross = np.concatenate([z_cross, np.where(pole != 0, pole, np.nan)[:, None, None]
                                  * np.ones((1, node.shape[1], 1))], axis=2)
        z_cross = np.sort(z_cross, axis=2)  # NaN last
        count = int(np.max(np.sum(np.isfinite(z_cross), axis=2))) if z_cross.size else 0
        count += count % 2
        pairs = z_cross[:, :, :max(count, 2)].reshape(n, node.shape[1], -1, 2)
        valid = np.all(np.isfinite(pairs), axis=-1)
        z_lo, z_hi = np.where(valid, pairs[..., 0], 0.0), np.where(valid, pairs[..., 1], 0.0)  # (n, nodes, m)
        intervals = np.sin(lb.latitude_interval_array(_wrap(lc[:, None] + nodes[:, part]).ravel()))
        intervals = intervals.reshape(n, node.shape[1], 1, -1, 2)
        overlap = np.clip(np.minimum(z_hi[..., None], intervals[..., 1])
                          - np.maximum(z_lo[..., None], intervals[..., 0]), 0.0, None).sum(axis=(-2, -1))
        area += np.sum(weights[:, part] * (z_hi - z_lo).sum(axis=-1), axis=1)
        inside += np.sum(weights[:, part] * overlap, axis=1)
    return np.where(area > 0, inside / np.where(area > 0, area, 1.0), 0.0)


def _open_poles(lon, lat, corner):
    """An outline vertex at a Galactic pole (a HEALPix polar pixel's corner, a TAN grid's corner at
    the pole) has no longitude: in (l, z) the pole is the line z = +-1. The outline reaches it at
    its previous vertex's longitude and leaves it at its next one's (one vertex at an arbitrary
    longitude cut a sliver of ~2e-5 of the pixel off both its area and the region's part of it):
    the first pole vertex of a row is doubled, the first of each run of them takes the longitude of
    the vertex before the run, the others that of the vertex after it. Every other row repeats a
    vertex (an edge of zero length), so that the arrays stay rectangular. Returns (lon, lat, corner)
    with one vertex more."""
    at_pole = np.abs(lat) >= 0.5 * np.pi - 1e-9
    if not np.any(at_pole):
        return lon, lat, corner
    n, count = lon.shape
    has_pole = at_pole.any(axis=1)
    k = np.where(has_pole, np.argmax(at_pole, axis=1), count - 1)  # the first pole vertex, or the last one
    index = np.arange(count + 1)[None, :]
    source = np.where(index <= k[:, None], index, index - 1)  # vertex k twice
    lon2, lat2, corner2, pole2 = (np.take_along_axis(a, source, axis=1) for a in (lon, lat, corner, at_pole))
    for row in np.nonzero(has_pole)[0]:  # a few polar pixels per call
        off = np.nonzero(~pole2[row])[0]
        if off.size == 0:
            continue
        for i in np.nonzero(pole2[row])[0]:
            j = np.searchsorted(off, i)
            before, after = off[j - 1], off[j % off.size]  # cyclically: the outline is closed
            lon2[row, i] = lon2[row, before] if not pole2[row, i - 1] else lon2[row, after]
    return lon2, lat2, corner2


def _breaks_within(lb, lc, lo, hi):
    """The region's longitude breaks inside each pixel's range lc + [lo, hi] (relative to lc), NaN
    padded (n, m): a search in the sorted breaks, so that a raster's thousand breaks stay cheap."""
    breaks = np.unique(_wrap(np.asarray(lb.longitude_breaks(), float)))
    if breaks.size == 0:
        return np.full((lc.size, 1), np.nan)
    turns = np.concatenate([breaks - 2 * np.pi, breaks, breaks + 2 * np.pi])  # a polar pixel spans 2 pi
    start = np.searchsorted(turns, lc + lo, side="right")
    stop = np.searchsorted(turns, lc + hi, side="left")
    m = max(int(np.max(stop - start)), 1)
    index = start[:, None] + np.arange(m)
    return np.where(index < stop[:, None], turns[np.minimum(index, turns.size - 1)] - lc[:, None], np.nan)


def _boundary_crossings(lb, lc, dphi, z, refine=4, iterations=40):
    """Longitudes (relative to ``lc``) where a pixel's closed outline (dphi, z) (n, V + 1) crosses the
    region's boundary, NaN padded (n, m): there the integrand has a kink. Each outline edge is
    checked at ``refine`` points. A piece between two points of the same membership longer than
    1 / :data:`_SHORTEST_PIECE` of the pixel's side (a HEALPix pixel's straight edges) is split in
    two, down to that length, unless the region's boundary is certainly off it (the two points'
    boundary distances, lower bounds, add up to more than the piece's length): so that a boundary
    entering and leaving between two points (a region's corner in a large pixel) is not missed. A
    change of membership is located by bisection."""
    n = dphi.shape[0]
    t = np.arange(refine + 1) / refine
    p0, dp = dphi[:, :-1], np.diff(dphi, axis=1)
    z0, dz = z[:, :-1], np.diff(z, axis=1)

    def point(rows, edges, t_value):
        phi = p0[rows, edges] + t_value * dp[rows, edges]
        return _wrap(lc[rows] + phi), np.arcsin(np.clip(z0[rows, edges] + t_value * dz[rows, edges], -1.0, 1.0))

    # the edges' check points, once: (n, V, refine + 1)
    rows, edges = (np.broadcast_to(x, p0.shape + (refine + 1,)) for x in np.indices(p0.shape)[..., None])
    l, b = point(rows, edges, t)
    inside = lb.contains(l, b)
    vectors = _unit_vectors(l, b)
    # the pieces between them, flat
    rows, edges = rows[..., 1:].ravel(), edges[..., 1:].ravel()
    k = np.broadcast_to(np.arange(refine), p0.shape + (refine,)).ravel()
    t_lo, t_hi = t[k], t[k + 1]
    in_lo, in_hi = inside[..., :-1].ravel(), inside[..., 1:].ravel()
    v_lo, v_hi = vectors[..., :-1, :].reshape(-1, 3), vectors[..., 1:, :].reshape(-1, 3)

    def chord_angle(a, b):
        return 2.0 * np.arcsin(np.clip(0.5 * np.linalg.norm(b - a, axis=-1), 0.0, 1.0))

    length = chord_angle(v_lo, v_hi)
    shortest = np.bincount(rows, weights=length, minlength=n) / (4 * _SHORTEST_PIECE)
    change = in_lo != in_hi
    found = [(rows[change], edges[change], t_lo[change], t_hi[change], in_lo[change])]
    open_ = ~change & (length > shortest[rows])
    rows, edges, t_lo, t_hi, in_lo, in_hi, v_lo, v_hi, length = (
        x[open_] for x in (rows, edges, t_lo, t_hi, in_lo, in_hi, v_lo, v_hi, length))
    d_lo = lb.boundary_distance(*point(rows, edges, t_lo))
    d_hi = lb.boundary_distance(*point(rows, edges, t_hi))
    while rows.size:
        # a piece is a straight line in (l, z): for these lengths at most ~1.1 times its chord's
        # angle; a boundary point on it would be within d_lo of one end and d_hi of the other
        split = d_lo + d_hi <= 1.1 * length + 1e-12
        rows, edges, t_lo, t_hi, in_lo, in_hi, d_lo, d_hi, v_lo, v_hi = (
            x[split] for x in (rows, edges, t_lo, t_hi, in_lo, in_hi, d_lo, d_hi, v_lo, v_hi))
        t_mid = 0.5 * (t_lo + t_hi)
        l, b = point(rows, edges, t_mid)
        in_mid, d_mid, v_mid = lb.contains(l, b), lb.boundary_distance(l, b), _unit_vectors(l, b)
        rows, edges = np.concatenate([rows, rows]), np.concatenate([edges, edges])
        t_lo, t_hi = np.concatenate([t_lo, t_mid]), np.concatenate([t_mid, t_hi])
        in_lo, in_hi = np.concatenate([in_lo, in_mid]), np.concatenate([in_mid, in_hi])
        d_lo, d_hi = np.concatenate([d_lo, d_mid]), np.concatenate([d_mid, d_hi])
        v_lo, v_hi = np.concatenate([v_lo, v_mid]), np.concatenate([v_mid, v_hi])
        length = chord_angle(v_lo, v_hi)
        change = in_lo != in_hi
        found.append((rows[change], edges[change], t_lo[change], t_hi[change], in_lo[change]))
        open_ = ~change & (length > shortest[rows])
        rows, edges, t_lo, t_hi, in_lo, in_hi, d_lo, d_hi, v_lo, v_hi, length = (
            x[open_] for x in (rows, edges, t_lo, t_hi, in_lo, in_hi, d_lo, d_hi, v_lo, v_hi, length))
    row, edge, lo_t, hi_t, start_inside = (np.concatenate(x) for x in zip(*found))
    if row.size == 0:
        return np.full((n, 1), np.nan)
    p0, dp, z0, dz = p0[row, edge], dp[row, edge], z0[row, edge], dz[row, edge]
    for _ in range(iterations):
        mid = 0.5 * (lo_t + hi_t)
        same = lb.contains(_wrap(lc[row] + p0 + mid * dp), np.arcsin(np.clip(z0 + mid * dz, -1.0, 1.0))) == start_inside
        lo_t, hi_t = np.where(same, mid, lo_t), np.where(same, hi_t, mid)
    crossing = p0 + 0.5 * (lo_t + hi_t) * dp
    # NaN-padded rows: the k-th crossing of each pixel in column k
    order = np.argsort(row, kind="stable")
    row, crossing = row[order], crossing[order]
    column = np.arange(row.size) - np.searchsorted(row, row)
    out = np.full((n, int(column.max()) + 1), np.nan)
    out[row, column] = crossing
    return out


#: the pixel radius [rad] up to which the outline's points per edge depend on latitude alone (HEALPix
#: nside >= 64, CAR pixels up to ~1.4 deg); wider pixels get more in proportion
_WIDE_PIXEL = np.radians(1.0)
#: and at most this many (a call's memory and time grow with its square)
_MAX_STEP = 256


def _edge_fractions(lb, pixels, geometry, centres, radii):
    """Fraction of each edge pixel inside ``lb``: the outline method (more points on the outline at
    high latitude, where the edges curve in (l, z)), or sub-samples for pixels at the edge of a
    projection's domain (the fraction of their valid samples)."""
    out = np.empty(pixels.size)
    _, b = _lonlat(centres)
    near_pole = 0.5 * np.pi - np.abs(b) <= 3.0 * radii
    step = np.select([near_pole, np.abs(b) < np.radians(45.0), np.abs(b) < np.radians(75.0)], [128, 16, 32], 64)
    # pixels wider than _WIDE_PIXEL: their curved edges get proportionally more points (the chords'
    # error falls as the square of the points), rounded up to a power of 2 (few outline calls)
    wide = (radii > _WIDE_PIXEL) & ~near_pole  # (a pixel around a pole: 128, its turning points grow fast)
    if np.any(wide):
        factor = 2.0 ** np.ceil(np.log2(radii[wide] / _WIDE_PIXEL))
        step = step.astype(int)
        step[wide] = np.minimum(step[wide] * factor, _MAX_STEP).astype(int)
    nodes = np.where(near_pole, _POLE_NODES, _NODES)
    for start in range(0, pixels.size, _EDGE_BLOCK):
        part = slice(start, start + _EDGE_BLOCK)
        p, c = pixels[part], centres[part]
        sampled = np.zeros(p.size, bool)
        result = np.empty(p.size)
        for value, n_nodes in sorted(set(zip(step[part].tolist(), nodes[part].tolist()))):
            chosen = np.nonzero((step[part] == value) & (nodes[part] == n_nodes))[0]
            # pixels per call: a call's arrays grow with the square of the points past 128 per edge
            block = max(1, _EDGE_BLOCK * 16 // value if value <= 128 else _EDGE_BLOCK * 16 * 128 // value**2)
            for first in range(0, chosen.size, block):
                index = chosen[first:first + block]
                outline, used = geometry.outline(p[index], int(value))
                finite = np.all(np.isfinite(outline), axis=(1, 2))
                sampled[index[~finite]] = True
                if np.any(finite):
                    result[index[finite]] = _polygon_fractions(lb, c[index[finite]], outline[finite], used,
                                                               n_nodes)
        index = np.nonzero(sampled)[0]
        for first in range(0, index.size, 64):
            chunk = index[first:first + 64]
            vectors, weights = geometry.samples(p[chunk])
            l, b_s = _lonlat(vectors)
            valid = np.all(np.isfinite(vectors), axis=-1)
            inside = np.zeros(valid.shape, bool)
            inside[valid] = lb.contains(l[valid], b_s[valid])
            total = (valid * weights).sum(axis=-1)
            result[chunk] = np.where(total > 0, (inside * weights).sum(axis=-1) / np.where(total > 0, total, 1.0), 0.0)
        out[part] = result
    return out


def _fine_weights(lb, geometry, pixels):
    """Solid angle [sr] inside ``lb`` of each pixel (0 for pixels outside a projection's domain)."""
    weight = np.zeros(pixels.size)
    centres = geometry.centres(pixels)
    finite = np.all(np.isfinite(centres), axis=-1)
    pixels, centres = pixels[finite], centres[finite]
    l, b = _lonlat(centres)
    radii = geometry.radii(pixels)
    edge = lb.boundary_distance(l, b) <= radii
    full = ~edge & lb.contains(l, b)
    areas = geometry.areas(pixels)
    inside = np.where(full, areas, 0.0)
    if np.any(edge):
        inside[edge] = areas[edge] * _edge_fractions(lb, pixels[edge], geometry, centres[edge], radii[edge])
    weight[finite] = inside
    return weight


def pixel_weights(geom, region=None):
    """Solid angle of every pixel of ``geom`` inside ``region`` (module docstring), cached.

    Parameters
    ----------
    geom : `~gammapy.maps.HpxGeom` or `~gammapy.maps.WcsGeom`
        Map geometry (non-spatial axes are ignored).
    region : `regions.SkyRegion`, l-b region or None
        None is the whole sky.

    Returns
    -------
    PixelWeights
    """
    geometry = _geometry(geom)
    lb = to_lb_region(region)
    key = (geometry.key, lb.key)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    solid_angle = 4.0 * np.pi if isinstance(lb, AllSky) else lineofsight.solid_angle(lb)
    if isinstance(lb, AllSky):
        weight = geometry.all_areas()
        keep = np.nonzero(weight > 0)[0]
        result = PixelWeights(keep, weight[keep], solid_angle, max(solid_angle - float(weight.sum()), 0.0))
    else:
        found, weights, missing = [], [], 0.0
        per_block = max(1, _BLOCK // _FACTOR**2)
        for cells in geometry.coarse_cells():
            centres, radii = geometry.coarse_geometry(cells)
            l, b = _lonlat(centres)
            edge = lb.boundary_distance(l, b) <= radii
            full = ~edge & lb.contains(l, b)
            for chosen, cut in ((cells[full], False), (cells[edge], True)):
                for start in range(0, chosen.size, per_block):
                    pixels = geometry.children(chosen[start:start + per_block])
                    weight = _fine_weights(lb, geometry, pixels) if cut else geometry.areas(pixels)
                    used = weight > 0
                    local = geometry.local(pixels[used])
                    missing += float(weight[used][local < 0].sum())
                    found.append(local[local >= 0])
                    weights.append(weight[used][local >= 0])
        index = np.concatenate(found) if found else np.zeros(0, np.int64)
        weight = np.concatenate(weights) if weights else np.zeros(0)
        if isinstance(geometry, _Wcs):
            # sky beyond a WCS map's edge has no pixels: what the region lacks
            missing = max(solid_angle - float(weight.sum()), 0.0)
        result = PixelWeights(index, weight, solid_angle, missing)
    _CACHE[key] = result
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def region_integral(sky_map, region=None, name="region"):
    """int_region I dOmega of a map for every non-spatial bin (a Quantity of unit map.unit x sr).

    Pixels without data (NaN) and sky the map does not cover count as uncovered; a region more
    than :data:`COVERAGE_TOLERANCE` uncovered is refused with a ValueError naming the fraction.
    Summed in blocks of pixels in double precision (bounded memory for large cubes).
    """
    weights = pixel_weights(sky_map.geom, region)
    image_shape = sky_map.geom.to_image().data_shape
    data = np.asarray(sky_map.data).reshape((-1, int(np.prod(image_shape))))
    total = np.zeros(data.shape[0])
    missing = np.zeros(data.shape[0])
    block = max(1, 4 * _BLOCK // max(data.shape[0], 1))
    for start in range(0, weights.index.size, block):
        index, weight = weights.index[start:start + block], weights.weight[start:start + block]
        contiguous = index.size and index[-1] - index[0] + 1 == index.size and np.all(np.diff(index) == 1)
        values = (data[:, index[0]:index[-1] + 1] if contiguous else data[:, index]).astype(float)
        finite = np.isfinite(values)
        if finite.all():
            total += values @ weight
        else:
            missing += (~finite) @ weight
            total += np.where(finite, values, 0.0) @ weight
    uncovered = weights.uncovered + float(np.max(missing, initial=0.0))
    if weights.solid_angle > 0 and uncovered > COVERAGE_TOLERANCE * weights.solid_angle:
        raise ValueError(
            f"{name} reaches beyond the map's coverage: {100 * uncovered / weights.solid_angle:.3g} % of its "
            f"{weights.solid_angle:.4g} sr has no data in the map (pixels the map lacks or NaN); use a region "
            "inside the map")
    return total.reshape(sky_map.geom.data_shape[:-len(image_shape)]) * sky_map.unit * u.sr
