"""Sky regions for Eq. 8: `regions` objects turned into exact longitude-latitude interval sets.

The line-of-sight integrals need, for each Galactic longitude, the latitude intervals inside
the region, and the longitudes where that set changes (interval ends of the longitude rule).
Exact forms: ``RectangleSkyRegion`` in the galactic frame with angle 0 (an l-b box, the
convention of the LHAASO and Fermi-LAT diffuse analyses), ``CircleSkyRegion`` in any frame,
and ``CompoundSkyRegion`` built from them with ``|``, ``&`` and ``^``. :func:`mask_out` builds
"region without these parts" from those operators. Every other shape (ellipses, polygons,
annuli, rotated or non-Galactic rectangles) is read in the tangent plane at its own centre, as
the `regions` package draws it, and rasterised once on a fine Galactic l-b grid
(:class:`LBRaster`, half a million cells over its bounding box): from then on it is an l-b
region like the others, so that every integral (cocoons, absorption, maps, solid angle,
population) uses the same shape.

Each l-b region gives, vectorised over longitudes, its latitude intervals as an array
(:meth:`latitude_interval_array`, shape (n, K, 2), empty intervals as (0, 0)), its membership
(:meth:`contains`), a lower bound on the angular distance of points to its boundary
(:meth:`boundary_distance`, for deciding which map pixels it cuts) and a box holding it
(:meth:`bounds`).
"""
import operator
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, CompoundSkyRegion, RectangleSkyRegion, SkyRegion

__all__ = ["LHAASO_INNER", "LHAASO_OUTER", "mask_out", "to_lb_region", "AllSky", "LBRaster", "region_to_dict",
           "region_from_dict", "frame_to_galactic"]

#: the LHAASO-KM2A regions (Cao et al. 2023, 2025): name -> (l centre, width, height) [deg]; the module
#: attributes LHAASO_INNER / LHAASO_OUTER are new objects at every access (module ``__getattr__``), so
#: that changing one cannot change another user's region or the bundled points' solid angle
_LHAASO_BOXES = {"LHAASO_INNER": (70.0, 110.0, 10.0), "LHAASO_OUTER": (180.0, 110.0, 10.0)}


def lhaaso_region(name):
    """A new RectangleSkyRegion of a LHAASO-KM2A region: "LHAASO_INNER" (15 < l < 125 deg) or
    "LHAASO_OUTER" (125 < l < 235 deg), ``|b| < 5`` deg (Cao et al. 2023, 2025)."""
    if name not in _LHAASO_BOXES:
        raise ValueError(f"name must be one of {sorted(_LHAASO_BOXES)}, got {name!r}")
    l_center, width, height = _LHAASO_BOXES[name]
    return RectangleSkyRegion(center=SkyCoord(l_center, 0.0, unit="deg", frame="galactic"),
                              width=width * u.deg, height=height * u.deg)


def __getattr__(name):
    if name in _LHAASO_BOXES:
        return lhaaso_region(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_HALF_PI = 0.5 * np.pi


def _wrap(angle):
    """Angle in [-pi, pi)."""
    return (np.asarray(angle, float) + np.pi) % (2 * np.pi) - np.pi


def _merge(intervals):
    """Sorted, non-overlapping version of a list of (lo, hi) intervals."""
    merged = []
    for lo, hi in sorted(i for i in intervals if i[1] > i[0]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _empty(n, k=1):
    return np.zeros((n, k, 2))


def _compact(lo, hi, keep):
    """Kept segments (n, m) (sorted, touching or apart) merged into intervals (n, K, 2), K the
    largest count in any row; empty slots are (0, 0)."""
    n, m = lo.shape
    if m == 0 or not np.any(keep):
        return _empty(n)
    previous_keep = np.concatenate([np.zeros((n, 1), bool), keep[:, :-1]], axis=1)
    previous_hi = np.concatenate([np.full((n, 1), -np.inf), hi[:, :-1]], axis=1)
    start = keep & ~(previous_keep & (previous_hi >= lo))
    interval = np.cumsum(start, axis=1) - 1
    k = int(interval[keep].max()) + 1 if np.any(keep) else 1
    rows = np.broadcast_to(np.arange(n)[:, None], (n, m))
    next_keep = np.concatenate([keep[:, 1:], np.zeros((n, 1), bool)], axis=1)
    next_lo = np.concatenate([lo[:, 1:], np.full((n, 1), np.inf)], axis=1)
    end = keep & ~(next_keep & (hi >= next_lo))
    out = np.zeros((n, k, 2))
    out[rows[start], interval[start], 0] = lo[start]
    out[rows[end], interval[end], 1] = hi[end]
    return out


def _inside(intervals, x):
    """Whether x (n, m) lies in any interval of intervals (n, K, 2) (half-open [lo, hi))."""
    lo, hi = intervals[:, None, :, 0], intervals[:, None, :, 1]
    return np.any((lo <= x[..., None]) & (x[..., None] < hi), axis=-1)


def _combine(a, b, op):
    """Set operation ``op`` (operator.or_, and_, xor) of interval arrays a, b (n, K, 2), row by row.

    Rows where either side is empty are decided without sorting (a union of many small circles is
    empty on most rows: its cost stays linear in the number of circles)."""
    a_any = np.any(a[..., 1] > a[..., 0], axis=1)
    b_any = np.any(b[..., 1] > b[..., 0], axis=1)
    both = a_any & b_any
    if np.all(both):
        return _combine_rows(a, b, op)
    # one side empty: a | b and a ^ b are the other side, a & b is empty (empty slots may stay
    # between intervals: every reader skips them)
    combined = _combine_rows(a[both], b[both], op) if np.any(both) else _empty(0)
    k = max(combined.shape[1], a.shape[1], b.shape[1]) if op is not operator.and_ else combined.shape[1]
    out = np.zeros((a.shape[0], k, 2))
    if op is not operator.and_:
        out[:, :a.shape[1]] = np.where(a_any[:, None, None], a, 0.0)
        only_b = b_any & ~a_any
        out[only_b, :b.shape[1]] = b[only_b]
    out[both] = 0.0
    out[both, :combined.shape[1]] = combined
    return out


def _combine_rows(a, b, op):
    n = a.shape[0]
    # empty slots (0, 0) are no interval ends: they go last, so that touching pieces merge
    a_ends = np.where((a[..., 1] > a[..., 0])[..., None], a, np.inf).reshape(n, -1)
    b_ends = np.where((b[..., 1] > b[..., 0])[..., None], b, np.inf).reshape(n, -1)
    ends = np.sort(np.concatenate([a_ends, b_ends], axis=1), axis=1)
    lo, hi = ends[:, :-1], ends[:, 1:]
    with np.errstate(invalid="ignore"):
        mid = 0.5 * (lo + hi)
        keep = op(_inside(a, mid), _inside(b, mid)) & (hi > lo) & np.isfinite(hi)
    return _compact(np.where(keep, lo, 0.0), np.where(keep, hi, 0.0), keep)


def _union_of_intervals(regions, l):
    """Latitude interval array (n, K, 2) of the union of ``regions`` at longitudes ``l`` (1-D):
    their sparse intervals sorted by row and start, merged where they overlap or touch."""
    order = np.argsort(_wrap(l), kind="stable")
    wrapped_order = (_wrap(l)[order], order)
    parts = [region.sparse_intervals(l, wrapped_order) if isinstance(region, LBCircle) else region.sparse_intervals(l)
             for region in regions]
    rows = np.concatenate([p[0] for p in parts])
    lo = np.concatenate([p[1] for p in parts])
    hi = np.concatenate([p[2] for p in parts])
    if rows.size == 0:
        return _empty(l.size)
    order = np.lexsort((lo, rows))
    rows, lo, hi = rows[order], lo[order], hi[order]
    # the running maximum of hi within each row (rows shifted apart by more than pi, so that the
    # global running maximum never reaches across rows; used for comparisons only)
    reach = np.maximum.accumulate(hi + 4.0 * rows) - 4.0 * rows
    new_row = np.concatenate([[True], rows[1:] != rows[:-1]])
    start = new_row | np.concatenate([[True], lo[1:] > reach[:-1] + 1e-12])
    first = np.nonzero(start)[0]
    merged_lo = lo[first]
    merged_hi = np.maximum.reduceat(hi, first)
    merged_rows = rows[first]
    slot = np.arange(first.size) - np.searchsorted(merged_rows, merged_rows)
    out = np.zeros((l.size, int(slot.max()) + 1, 2))
    out[merged_rows, slot, 0] = merged_lo
    out[merged_rows, slot, 1] = merged_hi
    return out


def _interval_lists(array):
    """Interval array (n, K, 2) as lists of (lo, hi) per row (non-empty ones)."""
    return [[(float(lo), float(hi)) for lo, hi in row if hi > lo] for row in array]


def _intersect(a, b):
    out = []
    for lo1, hi1 in a:
        for lo2, hi2 in b:
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if hi > lo:
                out.append((lo, hi))
    return _merge(out)


_OPERATORS = (operator.or_, operator.and_, operator.xor)


def _unit_vectors(l, b):
    l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
    cos_b = np.cos(b)
    return np.stack([cos_b * np.cos(l), cos_b * np.sin(l), np.sin(b)], axis=-1)


class _LBRegion:
    """Shared interface: the list form of the latitude intervals from the array form."""

    def latitude_intervals(self, l):
        """Latitude intervals [rad] at each longitude ``l`` [rad], as lists of (b1, b2)."""
        return _interval_lists(self.latitude_interval_array(l))

    def longitude_breaks(self):
        return np.array([])

    def boundary_circles(self):
        """The circles the boundary lies on, as planes (unit normal n, offset c): n . x = c."""
        return []

    def sparse_intervals(self, l):
        """The non-empty latitude intervals at longitudes ``l`` (1-D, rad) as flat arrays
        (row, lo, hi): row indexes ``l``."""
        array = self.latitude_interval_array(l)
        rows, slots = np.nonzero(array[..., 1] > array[..., 0])
        return rows, array[rows, slots, 0], array[rows, slots, 1]


def _circle_intersections(first, second):
    """Longitudes [rad] of the points where circles of ``first`` meet circles of ``second`` (lists of
    (n, c) planes): where a compound's latitude extent has a kink. All pairs at once (a union of
    many source masks has thousands), in the order of the pairs, then of the two points."""
    if not first or not second:
        return np.zeros(0)
    n1, c1 = np.array([n for n, _ in first], float)[:, None, :], np.array([c for _, c in first], float)[:, None]
    n2, c2 = np.array([n for n, _ in second], float)[None, :, :], np.array([c for _, c in second], float)[None, :]
    d = np.sum(n1 * n2, axis=-1)  # (p, q)
    cross = np.cross(n1, n2)  # (p, q, 3)
    norm2 = np.sum(cross * cross, axis=-1)
    meet = norm2 >= 1e-24  # parallel planes: no crossing
    norm2 = np.where(meet, norm2, 1.0)
    a, b = (c1 - c2 * d) / norm2, (c2 - c1 * d) / norm2
    base = a[..., None] * n1 + b[..., None] * n2  # the point of the planes' line nearest the centre
    t2 = (1.0 - np.sum(base * base, axis=-1)) / norm2
    meet &= t2 >= 0  # the line misses the sphere
    root = np.sqrt(np.where(meet, t2, 0.0))
    points = base[..., None, :] + np.array([-1.0, 1.0])[:, None] * root[..., None, None] * cross[..., None, :]
    keep = meet[..., None] & (np.abs(points[..., 2]) < 1.0 - 1e-12)  # (p, q, 2)
    return np.arctan2(points[..., 1], points[..., 0])[keep]


class AllSky(_LBRegion):
    """The whole sky as a longitude-latitude region."""

    key = ("all-sky",)

    def latitude_interval_array(self, l):
        out = _empty(np.size(l))
        out[:, 0] = (-_HALF_PI, _HALF_PI)
        return out

    def contains(self, l, b):
        """Membership of points (l, b) [rad] (arrays broadcast)."""
        return np.ones(np.broadcast(np.asarray(l), np.asarray(b)).shape, dtype=bool)

    def boundary_distance(self, l, b):
        """Lower bound on the angular distance [rad] of points (l, b) to the region's boundary."""
        return np.full(np.broadcast(np.asarray(l), np.asarray(b)).shape, np.inf)

    def bounds(self):
        """(l_center, half_width, b_min, b_max) [rad] of a box holding the region."""
        return 0.0, np.pi, -_HALF_PI, _HALF_PI


class LBBox(_LBRegion):
    """Longitude-latitude box: |wrap(l - l_center)| <= half_width, b_min <= b <= b_max (radians)."""

    def __init__(self, l_center, half_width, b_min, b_max):
        self.l_center = float(l_center)
        self.half_width = float(half_width)
        self.b_min = max(float(b_min), -_HALF_PI)
        self.b_max = min(float(b_max), _HALF_PI)
        self.key = ("box", self.l_center, self.half_width, self.b_min, self.b_max)

    def longitude_breaks(self):
        if self.half_width >= np.pi:
            return np.array([])
        return _wrap([self.l_center - self.half_width, self.l_center + self.half_width])

    def boundary_circles(self):
        circles = [(np.array([0.0, 0.0, 1.0]), np.sin(b)) for b, edge in
                   ((self.b_min, self.b_min > -_HALF_PI), (self.b_max, self.b_max < _HALF_PI)) if edge]
        if self.half_width < np.pi:
            circles += [(np.array([-np.sin(e), np.cos(e), 0.0]), 0.0)
                        for e in (self.l_center - self.half_width, self.l_center + self.half_width)]
        return circles

    def latitude_interval_array(self, l):
        inside = np.abs(_wrap(np.ravel(l) - self.l_center)) <= self.half_width
        out = _empty(inside.size)
        if self.b_max > self.b_min:
            out[inside, 0] = (self.b_min, self.b_max)
        return out

    def contains(self, l, b):
        """Membership of points (l, b) [rad] (arrays broadcast): the l-b box, not a sky rectangle."""
        l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
        return (np.abs(_wrap(l - self.l_center)) <= self.half_width) & (b >= self.b_min) & (b <= self.b_max)

    def boundary_distance(self, l, b):
        """Lower bound on the angular distance [rad] to the box's edges. A meridian edge: at least the
        distance to its half great circle (pole to pole at the edge's longitude: to the great circle
        within 90 deg of the edge's longitude, to the nearer pole beyond) and to the box's latitude
        band; a parallel edge: at least the latitude difference and, outside the box's longitudes, the
        distance to the meridians' half circles (a path into the box's longitudes crosses one)."""
        l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
        out = np.full(l.shape, np.inf)
        meridians = np.full(l.shape, np.inf)
        if self.half_width < np.pi:
            band = np.maximum(np.maximum(self.b_min - b, b - self.b_max), 0.0)
            # |sin(l - edge)| for the edges l_center -+ half_width by the angle-sum formula (one sine
            # and one cosine for both), the distance to the nearer meridian circle by one arcsine
            offset = l - self.l_center
            sin_offset, cos_offset = np.sin(offset), np.cos(offset)
            sin_half, cos_half = np.sin(self.half_width), np.cos(self.half_width)
            cos_b, to_pole = np.abs(np.cos(b)), _HALF_PI - np.abs(b)
            meridians = np.full(l.shape, np.inf)
            for sign in (-1.0, 1.0):  # the edges l_center - half_width and l_center + half_width
                sin_edge = sin_offset * cos_half - sign * cos_offset * sin_half  # sin(l - edge)
                cos_edge = cos_offset * cos_half + sign * sin_offset * sin_half  # cos(l - edge)
                # beyond 90 deg of the edge's longitude the nearest point of its half circle is a pole
                half_circle = np.where(cos_edge >= 0.0, np.arcsin(np.clip(np.abs(sin_edge) * cos_b, 0.0, 1.0)),
                                       to_pole)
                meridians = np.minimum(meridians, half_circle)
            out = np.maximum(meridians, band)
            outside = cos_offset < cos_half  # abs(wrap(l - l_center)) > half_width
        else:
            outside = np.zeros(l.shape, bool)
        for level, exists in ((self.b_min, self.b_min > -_HALF_PI), (self.b_max, self.b_max < _HALF_PI)):
            if exists:
                parallel = np.abs(b - level)
                out = np.minimum(out, np.where(outside, np.maximum(parallel, meridians), parallel))
        return out

    def bounds(self):
        """(l_center, half_width, b_min, b_max) [rad]."""
        return self.l_center, min(self.half_width, np.pi), self.b_min, self.b_max


class LBCircle(_LBRegion):
    """Spherical cap of angular ``radius`` around (l0, b0) (radians)."""

    def __init__(self, l0, b0, radius):
        self.l0, self.b0, self.radius = float(l0), float(b0), float(radius)
        self.key = ("circle", self.l0, self.b0, self.radius)

    def longitude_breaks(self):
        if abs(self.b0) + self.radius >= _HALF_PI:
            return np.array([])  # the cap contains a pole: every longitude crosses it
        half = np.arcsin(np.sin(self.radius) / np.cos(self.b0))
        return _wrap([self.l0 - half, self.l0 + half])

    def boundary_circles(self):
        return [(_unit_vectors(self.l0, self.b0), np.cos(self.radius))]

    def latitude_interval_array(self, l):
        l = np.ravel(l)
        if abs(self.b0) + self.radius < _HALF_PI:
            # a cap away from the poles meets only the meridians within its half-width: the others
            # are empty rows, decided without the trigonometry (source masks are many small caps)
            half = np.arcsin(min(1.0, np.sin(self.radius) / np.cos(self.b0)))
            near = np.abs(_wrap(l - self.l0)) <= half * (1 + 1e-12) + 1e-15
            if not np.all(near):
                out = np.zeros((l.size, 1, 2))
                if np.any(near):
                    out[near] = self._interval_array(l[near])[:, :1]
                return out
        return self._interval_array(l)

    def sparse_intervals(self, l, wrapped_order=None):
        """As the base class; ``wrapped_order``: (sorted wrapped l, its argsort), shared by the
        caps of a union, so that each cap finds its meridians by bisection."""
        l = np.ravel(l)
        if abs(self.b0) + self.radius >= _HALF_PI:
            return super().sparse_intervals(l)
        half = np.arcsin(min(1.0, np.sin(self.radius) / np.cos(self.b0))) * (1 + 1e-12) + 1e-15
        if wrapped_order is None:
            rows = np.nonzero(np.abs(_wrap(l - self.l0)) <= half)[0]
        else:
            wrapped, order = wrapped_order
            start = float(_wrap(self.l0 - half))
            ranges = [(start, start + 2 * half)] if start + 2 * half <= np.pi else \
                [(start, np.pi), (-np.pi, start + 2 * half - 2 * np.pi)]
            rows = np.concatenate([order[np.searchsorted(wrapped, a, "left"):np.searchsorted(wrapped, b, "right")]
                                   for a, b in ranges])
        array = self._interval_array(l[rows])[:, 0]
        keep = array[:, 1] > array[:, 0]
        return rows[keep], array[keep, 0], array[keep, 1]

    def _interval_array(self, l):
        # cos(sep) = sin b sin b0 + cos b cos b0 cos dl = C cos(b - phi) >= cos(radius)
        dl = np.ravel(l) - self.l0
        a = np.sin(self.b0)
        c = np.cos(self.b0) * np.cos(dl)
        amplitude = np.hypot(a, c)
        phi = np.arctan2(a, c)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.cos(self.radius) / amplitude
        crossed = ratio <= 1.0
        half = np.where(crossed, np.arccos(np.clip(ratio, -1.0, 1.0)), 0.0)
        # the great circle through the meridian l and l + 180 deg, parametrised by b in (-pi, pi]:
        # shifted copies of the cap's arc, clipped to the meridian l (|b| <= pi/2)
        shifts = np.array([-2 * np.pi, 0.0, 2 * np.pi])
        lo = np.clip(phi[:, None] - half[:, None] + shifts, -_HALF_PI, _HALF_PI)
        hi = np.clip(phi[:, None] + half[:, None] + shifts, -_HALF_PI, _HALF_PI)
        keep = crossed[:, None] & (hi > lo)
        return _compact(lo, hi, keep)

    def contains(self, l, b):
        """Membership of points (l, b) [rad]: angular separation from the centre <= radius."""
        l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
        cos_sep = np.sin(b) * np.sin(self.b0) + np.cos(b) * np.cos(self.b0) * np.cos(l - self.l0)
        return cos_sep >= np.cos(self.radius)

    def boundary_distance(self, l, b):
        """Angular distance [rad] to the rim: |separation - radius|."""
        l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
        cos_sep = np.sin(b) * np.sin(self.b0) + np.cos(b) * np.cos(self.b0) * np.cos(l - self.l0)
        return np.abs(np.arccos(np.clip(cos_sep, -1.0, 1.0)) - self.radius)

    def latitude_crossings(self, latitudes):
        """Longitudes [rad] where the cap's rim crosses each of ``latitudes`` [rad] (where the ends of
        its latitude intervals pass a given latitude; the line-of-sight integrals split there)."""
        b = np.atleast_1d(np.asarray(latitudes, float))
        with np.errstate(divide="ignore", invalid="ignore"):
            cos_dl = (np.cos(self.radius) - np.sin(b) * np.sin(self.b0)) / (np.cos(b) * np.cos(self.b0))
        dl = np.arccos(cos_dl[np.abs(cos_dl) <= 1.0])
        return _wrap(np.concatenate([self.l0 - dl, self.l0 + dl]))

    def bounds(self):
        """(l_center, half_width, b_min, b_max) [rad] of a box holding the cap."""
        b_min, b_max = max(self.b0 - self.radius, -_HALF_PI), min(self.b0 + self.radius, _HALF_PI)
        if abs(self.b0) + self.radius >= _HALF_PI:
            return self.l0, np.pi, b_min, b_max
        return self.l0, float(np.arcsin(np.sin(self.radius) / np.cos(self.b0))), b_min, b_max


def _latitude_crossings(region, latitudes):
    """Longitudes [rad] where the ends of ``region``'s latitude intervals cross ``latitudes``: none
    for boxes and the whole sky (their ends are parallels of constant latitude)."""
    method = getattr(region, "latitude_crossings", None)
    return np.array([]) if method is None else np.asarray(method(latitudes), float)


class LBCompound(_LBRegion):
    """Union, intersection or symmetric difference of two longitude-latitude regions."""

    def __init__(self, region1, region2, op):
        if op not in _OPERATORS:
            raise ValueError(f"unsupported region operator {op!r}: use |, & or ^")
        self.region1, self.region2, self.op = region1, region2, op
        self.key = (op.__name__, region1.key, region2.key)

    def longitude_breaks(self):
        """The parts' breaks and the longitudes where their boundaries meet (kinks)."""
        crossings = _circle_intersections(self.region1.boundary_circles(), self.region2.boundary_circles())
        return np.concatenate([self.region1.longitude_breaks(), self.region2.longitude_breaks(), crossings])

    def boundary_circles(self):
        return self.region1.boundary_circles() + self.region2.boundary_circles()

    def latitude_interval_array(self, l):
        leaves = self._union_leaves()
        if len(leaves) > 2:
            # a union of many parts (source masks): every part's intervals at once, merged row by row
            return _union_of_intervals(leaves, np.ravel(l))
        return _combine(self.region1.latitude_interval_array(l), self.region2.latitude_interval_array(l), self.op)

    def _union_leaves(self):
        """The parts of a tree of unions (this region itself if it is no union)."""
        if self.op is not operator.or_:
            return [self]
        parts = []
        for region in (self.region1, self.region2):
            parts += region._union_leaves() if isinstance(region, LBCompound) else [region]
        return parts

    def latitude_crossings(self, latitudes):
        """Longitudes [rad] where either part's boundary crosses one of ``latitudes`` [rad]."""
        return np.concatenate([_latitude_crossings(self.region1, latitudes),
                               _latitude_crossings(self.region2, latitudes)])

    def contains(self, l, b):
        """Membership of points (l, b) [rad]: the set operation on the parts' memberships."""
        return self.op(self.region1.contains(l, b), self.region2.contains(l, b))

    def boundary_distance(self, l, b):
        """The compound's boundary lies on its parts' boundaries: the smaller distance."""
        return np.minimum(self.region1.boundary_distance(l, b), self.region2.boundary_distance(l, b))

    def bounds(self):
        """A box holding both parts (conservative for & and ^)."""
        boxes = [self.region1.bounds(), self.region2.bounds()]
        b_min, b_max = min(b[2] for b in boxes), max(b[3] for b in boxes)
        # the union of two longitude ranges on the circle: the shorter arc holding both
        (c1, h1), (c2, h2) = ((b[0], b[1]) for b in boxes)
        if h1 >= np.pi or h2 >= np.pi:
            return c1, np.pi, b_min, b_max
        offset = float(_wrap(c2 - c1))
        lo, hi = min(-h1, offset - h2), max(h1, offset + h2)
        half = 0.5 * (hi - lo)
        return (float(_wrap(c1 + 0.5 * (hi + lo))), np.pi, b_min, b_max) if half >= np.pi else \
            (float(_wrap(c1 + 0.5 * (hi + lo))), half, b_min, b_max)


@lru_cache(maxsize=16)
def frame_to_galactic(frame):
    """Rotation matrix M (3, 3) with v_galactic = M @ v_frame for unit vectors of ``frame`` (a frame
    name astropy knows: "icrs", "fk5", "galactic", ...)."""
    if frame == "galactic":
        return np.eye(3)
    basis = SkyCoord(x=[1.0, 0.0, 0.0], y=[0.0, 1.0, 0.0], z=[0.0, 0.0, 1.0], representation_type="cartesian",
                     frame=frame)
    matrix = np.array(basis.galactic.cartesian.xyz.value)
    matrix.flags.writeable = False
    return matrix


def _lonlat(vectors):
    """(lon, lat) [rad] of unit vectors (..., 3)."""
    return np.arctan2(vectors[..., 1], vectors[..., 0]), np.arcsin(np.clip(vectors[..., 2], -1.0, 1.0))


#: cells of a raster over its bounding box (the boundary is resolved to ~1/700 of the size)
RASTER_CELLS = 500_000
_RASTERS = OrderedDict()


class LBRaster(_LBRegion):
    """A region without an l-b form, sampled once on a Galactic l-b grid of cells.

    ``mask`` (n_b, n_l) marks the cells whose centre the region contains; cell (j, i) spans
    longitudes l_start + [i, i + 1] dl and latitudes b_start + [j, j + 1] db [rad]. From then on it is
    an exact l-b region (its cells' union): its latitude intervals, solid angle, membership and
    integrals agree with each other exactly.
    """

    def __init__(self, mask, l_start, dl, b_start, db, key):
        self.mask = np.asarray(mask, bool)
        self.l_start, self.dl, self.b_start, self.db = float(l_start), float(dl), float(b_start), float(db)
        self.key = key
        n_b, n_l = self.mask.shape
        padded = np.zeros((n_b + 2, n_l), dtype=np.int8)
        padded[1:-1] = self.mask
        step = np.diff(padded, axis=0)  # +1: a run starts at that row edge, -1: it ends there
        start_col, start_row = np.nonzero((step == 1).T)  # column by column, rows ascending
        end_col, end_row = np.nonzero((step == -1).T)
        counts = np.bincount(start_col, minlength=n_l)
        slot = np.arange(start_col.size) - np.repeat(np.cumsum(counts) - counts, counts)
        edges = self.b_start + self.db * np.arange(n_b + 1)
        self._columns = np.zeros((n_l, max(int(counts.max()), 1), 2))
        self._columns[start_col, slot, 0] = edges[start_row]
        self._columns[end_col, slot, 1] = edges[end_row]
        self._tree = None

    def _column(self, l):
        offset = np.mod(np.asarray(l, float) - self.l_start, 2 * np.pi)
        finite = np.isfinite(offset)
        column = np.floor(np.where(finite, offset, -1.0) / self.dl).astype(np.int64)
        return column, finite & (column >= 0) & (column < self.mask.shape[1])

    def longitude_breaks(self):
        n_l = self.mask.shape[1]
        change = np.any(self._columns[1:] != self._columns[:-1], axis=(1, 2))
        inner = self.l_start + self.dl * (1 + np.nonzero(change)[0])
        outer = [self.l_start, self.l_start + n_l * self.dl] if n_l * self.dl < 2 * np.pi - 1e-12 else []
        return np.unique(_wrap(np.concatenate([inner, outer])))

    def latitude_interval_array(self, l):
        column, valid = self._column(np.ravel(l))
        out = np.zeros((column.size,) + self._columns.shape[1:])
        out[valid] = self._columns[column[valid]]
        return out

    def contains(self, l, b):
        """Membership of points (l, b) [rad]: the mask of the cell holding them."""
        l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
        column, valid = self._column(l)
        row = np.floor(np.where(np.isfinite(b), b - self.b_start, -1.0) / self.db).astype(np.int64)
        valid &= (row >= 0) & (row < self.mask.shape[0])
        out = np.zeros(l.shape, bool)
        out[valid] = self.mask[row[valid], column[valid]]
        return out

    def boundary_distance(self, l, b):
        """Distance to the nearest cell on the raster's boundary minus a cell's half-diagonal."""
        from scipy.spatial import cKDTree

        l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
        if self._tree is None:
            mask = np.pad(self.mask, 1)
            boundary = self.mask & ~(mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:])
            rows, columns = np.nonzero(boundary)
            centres = _unit_vectors(self.l_start + (columns + 0.5) * self.dl, self.b_start + (rows + 0.5) * self.db)
            self._tree = cKDTree(centres if len(centres) else np.array([[np.inf] * 3]))
        chord, _ = self._tree.query(_unit_vectors(l, b).reshape(-1, 3))
        angle = 2.0 * np.arcsin(np.clip(0.5 * chord, 0.0, 1.0))
        angle = np.where(np.isfinite(chord), angle, np.inf)
        return (angle - 0.5 * np.hypot(self.dl, self.db)).reshape(l.shape)

    def bounds(self):
        """(l_center, half_width, b_min, b_max) [rad] of the raster's box."""
        half = 0.5 * self.mask.shape[1] * self.dl
        return (float(_wrap(self.l_start + half)), min(half, np.pi), self.b_start,
                self.b_start + self.mask.shape[0] * self.db)


def _tangent_plane(region, name):
    """(centre SkyCoord, TAN WCS at it in the region's frame, the region as a pixel region)."""
    from astropy.wcs.utils import celestial_frame_to_wcs

    center = getattr(region, "center", None)
    if center is None and hasattr(region, "vertices"):
        vectors = region.vertices.cartesian.xyz.value
        mean = vectors.mean(axis=1)
        center = SkyCoord(*mean, representation_type="cartesian", frame=region.vertices.frame)
        center = SkyCoord(center.spherical.lon, center.spherical.lat, frame=region.vertices.frame)
    if center is None:
        raise TypeError(f"{name}: {type(region).__name__} has neither a centre nor vertices; use a "
                        "RectangleSkyRegion, CircleSkyRegion, EllipseSkyRegion, PolygonSkyRegion or compounds")
    wcs = celestial_frame_to_wcs(center.frame, projection="TAN")
    spherical = center.spherical
    wcs.wcs.crval = [spherical.lon.to_value(u.deg), spherical.lat.to_value(u.deg)]
    wcs.wcs.crpix = [0.0, 0.0]
    wcs.wcs.cdelt = [-1.0 / 3600.0, 1.0 / 3600.0]
    return center, wcs, region.to_pixel(wcs)


def _raster(region, name):
    """The :class:`LBRaster` of a region without an l-b form (cached on its DS9 description)."""
    try:
        description = region.serialize(format="ds9")
    except Exception:  # shapes the DS9 writer does not know
        description = repr(region)
    key = ("raster", type(region).__name__, description)
    if key in _RASTERS:
        _RASTERS.move_to_end(key)
        return _RASTERS[key]
    from regions import PixCoord

    center, wcs, pixel_region = _tangent_plane(region, name)
    frame = center.frame.name
    to_galactic = frame_to_galactic(frame)
    box = pixel_region.bounding_box
    x0, x1, y0, y1 = box.ixmin - 1.0, box.ixmax + 1.0, box.iymin - 1.0, box.iymax + 1.0
    # 1" pixels: the bounding box must stay well inside the tangent plane's hemisphere
    if max(abs(x0), abs(x1), abs(y0), abs(y1)) * np.pi / 180.0 / 3600.0 > np.tan(np.radians(80.0)):
        raise ValueError(f"{name}: {type(region).__name__} reaches beyond 80 deg of its centre; shapes without "
                         "an l-b form are read in the tangent plane at their centre and must be smaller")
    t = np.linspace(0.0, 1.0, 257)
    perimeter = np.concatenate([np.stack([x0 + (x1 - x0) * t, np.full_like(t, y0)]),
                                np.stack([np.full_like(t, x1), y0 + (y1 - y0) * t]),
                                np.stack([x1 - (x1 - x0) * t, np.full_like(t, y1)]),
                                np.stack([np.full_like(t, x0), y1 - (y1 - y0) * t])], axis=1)
    lon, lat = wcs.wcs_pix2world(perimeter[0], perimeter[1], 0)
    l, b = _lonlat(_unit_vectors(np.radians(lon), np.radians(lat)) @ to_galactic.T)
    b_min, b_max = float(b.min()), float(b.max())
    # a Galactic pole inside the box: every longitude, up to the pole
    poles = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]) @ to_galactic  # in the region's frame
    plon, plat = _lonlat(poles)
    px, py = wcs.wcs_world2pix(np.degrees(plon), np.degrees(plat), 0)
    towards = poles @ _unit_vectors(center.spherical.lon.to_value(u.rad), center.spherical.lat.to_value(u.rad)) > 0
    in_box = towards & (px >= x0) & (px <= x1) & (py >= y0) & (py <= y1)
    if in_box[0]:
        b_max = _HALF_PI
    if in_box[1]:
        b_min = -_HALF_PI
    if np.any(in_box):
        l_start, width = -np.pi, 2 * np.pi
    else:  # the shortest arc holding every longitude of the perimeter: the complement of the largest gap
        ls = np.sort(np.mod(l, 2 * np.pi))
        gaps = np.diff(np.concatenate([ls, [ls[0] + 2 * np.pi]]))
        largest = int(np.argmax(gaps))
        l_start = ls[(largest + 1) % ls.size]
        width = 2 * np.pi - gaps[largest]
    # cells of about equal solid angle: db in latitude, db / cos(b) in longitude at the box's middle
    area = width * (np.sin(b_max) - np.sin(b_min))
    db = np.sqrt(area / RASTER_CELLS)
    cos_mid = max(np.cos(0.5 * (b_min + b_max)), 0.05)
    n_l = int(np.clip(np.ceil(width / (db / cos_mid)), 16, 8192))
    n_b = int(np.clip(np.ceil((b_max - b_min) / db), 16, 8192))
    dl, db = width / n_l, (b_max - b_min) / n_b
    lc = l_start + (np.arange(n_l) + 0.5) * dl
    bc = b_min + (np.arange(n_b) + 0.5) * db
    vectors = _unit_vectors(lc[None, :], bc[:, None]) @ to_galactic  # to the region's frame
    lon, lat = _lonlat(vectors)
    facing = vectors @ _unit_vectors(center.spherical.lon.to_value(u.rad), center.spherical.lat.to_value(u.rad)) > 0.05
    x, y = wcs.wcs_world2pix(np.degrees(lon).ravel(), np.degrees(lat).ravel(), 0)
    mask = np.asarray(pixel_region.contains(PixCoord(x, y))).reshape(lon.shape) & facing
    raster = LBRaster(mask, l_start, dl, b_min, db, key)
    _RASTERS[key] = raster
    if len(_RASTERS) > 32:
        _RASTERS.popitem(last=False)
    return raster


def to_lb_region(region, name="region"):
    """Convert a `regions` sky region (or None for the whole sky) to a longitude-latitude region.

    A Galactic ``RectangleSkyRegion`` with angle 0 is an l-b box, a ``CircleSkyRegion`` a spherical
    cap, a ``CompoundSkyRegion`` the set operation on its parts; any other shape (an ellipse, a
    polygon, a rotated or non-Galactic rectangle, ...) is read in the tangent plane at its centre
    and rasterised (:class:`LBRaster`).

    Raises
    ------
    TypeError
        If ``region`` is not a sky region.
    ValueError
        If a shape without an l-b form reaches beyond 80 deg of its centre.
    """
    if region is None:
        return AllSky()
    if isinstance(region, (AllSky, LBBox, LBCircle, LBCompound, LBRaster)):
        return region
    if isinstance(region, RectangleSkyRegion) and region.center.frame.name == "galactic" \
            and np.isclose(region.angle.to_value(u.deg) % 180.0, 0.0):
        center = region.center.galactic
        half_width = 0.5 * region.width.to_value(u.rad)
        half_height = 0.5 * region.height.to_value(u.rad)
        b = center.b.to_value(u.rad)
        return LBBox(center.l.wrap_at(180 * u.deg).to_value(u.rad), half_width, b - half_height, b + half_height)
    if isinstance(region, CircleSkyRegion):
        center = region.center.galactic
        return LBCircle(
            center.l.wrap_at(180 * u.deg).to_value(u.rad),
            center.b.to_value(u.rad),
            region.radius.to_value(u.rad),
        )
    if isinstance(region, CompoundSkyRegion):
        if region.operator not in _OPERATORS:
            raise ValueError(f"{name}: unsupported region operator {region.operator!r}: use |, & or ^")
        return LBCompound(
            to_lb_region(region.region1, name), to_lb_region(region.region2, name), region.operator
        )
    if isinstance(region, SkyRegion):
        return _raster(region, name)
    raise TypeError(f"{name} must be a regions SkyRegion or None (whole sky), got {type(region).__name__}")


def is_exact(region):
    """Whether a region has an exact l-b form (boxes, circles and their compounds), not a raster."""
    lb = region if not isinstance(region, SkyRegion) and region is not None else to_lb_region(region)
    if isinstance(lb, LBRaster):
        return False
    if isinstance(lb, LBCompound):
        return is_exact(lb.region1) and is_exact(lb.region2)
    return True


def mask_out(region, *masks):
    """``region`` without the parts covered by ``masks``, as a `regions` CompoundSkyRegion.

    Built as ``region ^ (region & (mask1 | mask2 | ...))`` so that gammapy and `regions` read it
    like any other compound region.
    """
    if not masks:
        return region
    union = masks[0]
    for mask in masks[1:]:
        union = union | mask
    return region ^ (region & union)


_OPERATOR_NAMES = {operator.or_: "or", operator.and_: "and", operator.xor: "xor"}


def region_to_dict(region):
    """A YAML-friendly description of a sky region (None: the whole sky).

    Rectangles and circles keep their frame, centre and sizes in degrees; compound regions
    nest their two parts; any other shape is stored as its DS9 string.
    """
    if region is None:
        return None
    if isinstance(region, CompoundSkyRegion):
        if region.operator not in _OPERATOR_NAMES:
            raise ValueError(f"cannot serialise a region with operator {region.operator!r}")
        return {
            "operator": _OPERATOR_NAMES[region.operator],
            "region1": region_to_dict(region.region1),
            "region2": region_to_dict(region.region2),
        }
    if isinstance(region, (RectangleSkyRegion, CircleSkyRegion)):
        frame = region.center.frame.name
        spherical = region.center.spherical
        lon, lat = spherical.lon.wrap_at(360 * u.deg).to_value(u.deg), spherical.lat.to_value(u.deg)
        data = {"shape": "rectangle" if isinstance(region, RectangleSkyRegion) else "circle",
                "frame": frame, "lon": float(lon), "lat": float(lat)}
        if isinstance(region, RectangleSkyRegion):
            data.update(width=float(region.width.to_value(u.deg)), height=float(region.height.to_value(u.deg)),
                        angle=float(region.angle.to_value(u.deg)))
        else:
            data["radius"] = float(region.radius.to_value(u.deg))
        return data
    if isinstance(region, SkyRegion):
        return {"ds9": region.serialize(format="ds9")}
    raise TypeError(f"region must be a regions SkyRegion or None, got {type(region).__name__}")


def region_from_dict(data):
    """Inverse of :func:`region_to_dict`."""
    if data is None:
        return None
    if "operator" in data:
        names = {name: op for op, name in _OPERATOR_NAMES.items()}
        if data["operator"] not in names:
            raise ValueError(f"unknown region operator {data['operator']!r}; expected one of {sorted(names)}")
        return CompoundSkyRegion(
            region_from_dict(data["region1"]), region_from_dict(data["region2"]), names[data["operator"]]
        )
    if "ds9" in data:
        from regions import Regions

        return Regions.parse(data["ds9"], format="ds9")[0]
    center = SkyCoord(data["lon"], data["lat"], unit="deg", frame=data["frame"])
    if data.get("shape") == "rectangle":
        return RectangleSkyRegion(center=center, width=data["width"] * u.deg, height=data["height"] * u.deg,
                                  angle=data.get("angle", 0.0) * u.deg)
    if data.get("shape") == "circle":
        return CircleSkyRegion(center=center, radius=data["radius"] * u.deg)
    raise ValueError(f"cannot read a region from {data!r}")
