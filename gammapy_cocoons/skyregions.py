"""Sky regions for Eq. 8: `regions` objects turned into exact longitude-latitude interval sets.

The line-of-sight integrals need, for each Galactic longitude, the latitude intervals inside
the region, and the longitudes where that set changes (interval ends of the longitude rule).
Supported exactly: ``RectangleSkyRegion`` in the galactic frame with angle 0 (an l-b box, the
convention of the LHAASO and Fermi-LAT diffuse analyses), ``CircleSkyRegion`` in any frame,
and ``CompoundSkyRegion`` built from them with ``|``, ``&`` and ``^``. :func:`mask_out` builds
"region without these parts" from those operators.
"""
import operator

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, CompoundSkyRegion, RectangleSkyRegion, SkyRegion

__all__ = ["LHAASO_INNER", "LHAASO_OUTER", "mask_out", "to_lb_region", "AllSky", "region_to_dict", "region_from_dict"]

#: LHAASO-KM2A inner Galaxy, 15 < l < 125 deg, ``|b| < 5`` deg (Cao et al. 2023, 2025)
LHAASO_INNER = RectangleSkyRegion(
    center=SkyCoord(70.0, 0.0, unit="deg", frame="galactic"), width=110 * u.deg, height=10 * u.deg
)
#: LHAASO-KM2A outer Galaxy, 125 < l < 235 deg, ``|b| < 5`` deg (Cao et al. 2023, 2025)
LHAASO_OUTER = RectangleSkyRegion(
    center=SkyCoord(180.0, 0.0, unit="deg", frame="galactic"), width=110 * u.deg, height=10 * u.deg
)

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


def _intersect(a, b):
    out = []
    for lo1, hi1 in a:
        for lo2, hi2 in b:
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if hi > lo:
                out.append((lo, hi))
    return _merge(out)


def _subtract(a, b):
    out = []
    for lo, hi in a:
        pieces = [(lo, hi)]
        for blo, bhi in b:
            next_pieces = []
            for plo, phi in pieces:
                if bhi <= plo or blo >= phi:
                    next_pieces.append((plo, phi))
                    continue
                if blo > plo:
                    next_pieces.append((plo, blo))
                if bhi < phi:
                    next_pieces.append((bhi, phi))
            pieces = next_pieces
        out.extend(pieces)
    return _merge(out)


_SET_OPERATIONS = {
    operator.or_: lambda a, b: _merge(a + b),
    operator.and_: _intersect,
    operator.xor: lambda a, b: _subtract(_merge(a + b), _intersect(a, b)),
}


class AllSky:
    """The whole sky as a longitude-latitude region."""

    key = ("all-sky",)

    def longitude_breaks(self):
        return np.array([])

    def latitude_intervals(self, l):
        return [[(-_HALF_PI, _HALF_PI)] for _ in np.atleast_1d(l)]

    def contains(self, l, b):
        """Membership of points (l, b) [rad] (arrays broadcast)."""
        return np.ones(np.broadcast(np.asarray(l), np.asarray(b)).shape, dtype=bool)

    def bounds(self):
        """(l_center, half_width, b_min, b_max) [rad] of a box holding the region."""
        return 0.0, np.pi, -_HALF_PI, _HALF_PI


class LBBox:
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

    def latitude_intervals(self, l):
        inside = np.abs(_wrap(np.atleast_1d(l) - self.l_center)) <= self.half_width
        interval = [(self.b_min, self.b_max)] if self.b_max > self.b_min else []
        return [list(interval) if flag else [] for flag in inside]

    def contains(self, l, b):
        """Membership of points (l, b) [rad] (arrays broadcast): the l-b box, not a sky rectangle."""
        l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
        return (np.abs(_wrap(l - self.l_center)) <= self.half_width) & (b >= self.b_min) & (b <= self.b_max)

    def bounds(self):
        """(l_center, half_width, b_min, b_max) [rad]."""
        return self.l_center, min(self.half_width, np.pi), self.b_min, self.b_max


class LBCircle:
    """Spherical cap of angular ``radius`` around (l0, b0) (radians)."""

    def __init__(self, l0, b0, radius):
        self.l0, self.b0, self.radius = float(l0), float(b0), float(radius)
        self.key = ("circle", self.l0, self.b0, self.radius)

    def longitude_breaks(self):
        if abs(self.b0) + self.radius >= _HALF_PI:
            return np.array([])  # the cap contains a pole: every longitude crosses it
        half = np.arcsin(np.sin(self.radius) / np.cos(self.b0))
        return _wrap([self.l0 - half, self.l0 + half])

    def latitude_intervals(self, l):
        # cos(sep) = sin b sin b0 + cos b cos b0 cos dl = C cos(b - phi) >= cos(radius)
        dl = np.atleast_1d(l) - self.l0
        a = np.sin(self.b0)
        c = np.cos(self.b0) * np.cos(dl)
        amplitude = np.hypot(a, c)
        phi = np.arctan2(a, c)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.cos(self.radius) / amplitude
        result = []
        for amp_ratio, centre in zip(ratio, phi):
            if not amp_ratio <= 1.0:
                result.append([])
                continue
            half = np.arccos(max(amp_ratio, -1.0))
            pieces = [(centre + shift - half, centre + shift + half) for shift in (-2 * np.pi, 0.0, 2 * np.pi)]
            result.append(_intersect(_merge(pieces), [(-_HALF_PI, _HALF_PI)]))
        return result

    def contains(self, l, b):
        """Membership of points (l, b) [rad]: angular separation from the centre <= radius."""
        l, b = np.broadcast_arrays(np.asarray(l, float), np.asarray(b, float))
        cos_sep = np.sin(b) * np.sin(self.b0) + np.cos(b) * np.cos(self.b0) * np.cos(l - self.l0)
        return cos_sep >= np.cos(self.radius)

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


class LBCompound:
    """Union, intersection or symmetric difference of two longitude-latitude regions."""

    def __init__(self, region1, region2, op):
        if op not in _SET_OPERATIONS:
            raise ValueError(f"unsupported region operator {op!r}: use |, & or ^")
        self.region1, self.region2, self.op = region1, region2, op
        self.key = (op.__name__, region1.key, region2.key)

    def longitude_breaks(self):
        return np.concatenate([self.region1.longitude_breaks(), self.region2.longitude_breaks()])

    def latitude_crossings(self, latitudes):
        """Longitudes [rad] where either part's boundary crosses one of ``latitudes`` [rad]."""
        return np.concatenate([_latitude_crossings(self.region1, latitudes),
                               _latitude_crossings(self.region2, latitudes)])

    def latitude_intervals(self, l):
        combine = _SET_OPERATIONS[self.op]
        first = self.region1.latitude_intervals(l)
        second = self.region2.latitude_intervals(l)
        return [combine(_merge(a), _merge(b)) for a, b in zip(first, second)]

    def contains(self, l, b):
        """Membership of points (l, b) [rad]: the set operation on the parts' memberships."""
        return self.op(self.region1.contains(l, b), self.region2.contains(l, b))

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


def to_lb_region(region, name="region"):
    """Convert a `regions` sky region (or None for the whole sky) to a longitude-latitude region.

    Raises
    ------
    TypeError
        If ``region`` is not a supported sky region.
    ValueError
        If a rectangle is rotated or not in the galactic frame.
    """
    if region is None:
        return AllSky()
    if isinstance(region, (AllSky, LBBox, LBCircle, LBCompound)):
        return region
    if isinstance(region, RectangleSkyRegion):
        frame = region.center.frame.name
        if frame != "galactic" or not np.isclose(region.angle.to_value(u.deg) % 180.0, 0.0):
            raise ValueError(
                f"{name}: a RectangleSkyRegion is read as a Galactic longitude-latitude box and must "
                f"be in the galactic frame with angle 0, got frame '{frame}' and angle {region.angle}"
            )
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
        return LBCompound(
            to_lb_region(region.region1, name), to_lb_region(region.region2, name), region.operator
        )
    if isinstance(region, SkyRegion):
        raise TypeError(
            f"{name}: {type(region).__name__} is not supported; use RectangleSkyRegion (galactic "
            "l-b box), CircleSkyRegion or CompoundSkyRegion combinations of them"
        )
    raise TypeError(f"{name} must be a regions SkyRegion or None (whole sky), got {type(region).__name__}")


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
