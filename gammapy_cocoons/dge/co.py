"""Molecular hydrogen from the Dame et al. (2001) CO survey: W_CO, X_CO and their survey samples.

    N_H2(l, b) = X_CO W_CO(l, b)              (molecules; 2 N_H2 hydrogen atoms)

The survey (Dame, Hartmann & Thaddeus 2001, ApJ 547, 792; their Fig. 2, the whole-Galaxy
velocity-integrated CO(1-0) map, 0.125 deg CAR pixels, bundled verbatim as
``data/gas/Wco_DHT2001_-180_180.fits.gz``) is read with three known traps handled: its header
cards are not standard FITS (``verify("fix")``), it spans l = +185..-185 deg (the 40 columns
beyond abs(l) = 180 repeat the sky and are dropped) and it is NaN where not observed (kept: NaN
means "no data", never zero). abs(b) < 5 deg is covered everywhere, higher latitudes only around
the large local clouds. The survey is complete nonetheless: from far-infrared and 21-cm maps Dame et
al. (2001, abstract) find that only ~2 % of the CO emission at abs(b) < 32 deg lies outside their
sampling (the new observations of the unobserved area at abs(b) = 10-30 deg "do not substantially
change the DHT map", Dame & Thaddeus 2004, ASP Conf. 317, 66). So the DGE reads the survey's
unobserved pixels at abs(b) < 32 deg as no detectable CO (:data:`DAME2001_COMPLETE_LATITUDE`), and
only beyond that latitude (and for user maps, wherever they are NaN) as "no data": there the 3-D H2
model is used. The bundled dust maps confirm it (``docs/dge.md``): where the survey did not look,
the dust column exceeds the HI by 0.1-0.5e21 cm-2 on average, 2-3 times less than the 3-D model's H2.

X_CO: by default the Galactic disc value recommended by Bolatto, Wolfire & Leroy (2013, ARA&A 51,
207), 2e20 cm-2 (K km/s)-1 (their +-30 %); any constant, or a published radial profile
(:data:`X_CO_PROFILES`). The 3-D H2 model of :mod:`.gas` distributes each direction's column
along the line of sight (see :class:`~.conventional.ConventionalDGE`) and fills the directions
the survey did not observe.
"""
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import astropy.units as u

from .._validation import nonnegative_number

__all__ = ["dame2001_co", "X_CO_BOLATTO2013", "DAME2001_COMPLETE_LATITUDE", "X_CO_PROFILES", "x_co_profile", "CO_UNIT", "COSurvey",
           "co_survey"]

#: abs(b) [deg] below which the Dame et al. (2001) survey is complete (Dame et al. 2001: ~2 % of the CO
#: emission at abs(b) < 32 deg lies outside the sampling): unobserved pixels there hold no detectable CO
DAME2001_COMPLETE_LATITUDE = 32.0
#: Bolatto, Wolfire & Leroy (2013): X_CO in the Galactic disc [cm-2 (K km/s)-1]
X_CO_BOLATTO2013 = 2.0e20
CO_UNIT = u.Unit("K km s-1")
_X_CO_UNIT = u.Unit("cm-2 / (K km s-1)")

#: Radial X_CO(R) profiles: name -> (upper edges of R bins [kpc], X_CO per bin [cm-2 (K km/s)-1],
#: reference). "strong2004": Strong, Moskalenko, Reimer, Digel & Diehl (2004, A&A 422, L47), the
#: gradient that reconciled the EGRET longitude profile with SNR-like sources (R_sun = 8.5 kpc), as
#: DRAGON tabulates it ("galprop_2004"): 0.4, 0.6, 0.8, 1.5, 10 x 1e20 below 3.5, 5.5, 7.5, 9.5 kpc
#: and beyond. It was itself set on gamma-ray (EGRET) data.
X_CO_PROFILES = {
    "strong2004": ((3.5, 5.5, 7.5, 9.5, np.inf), (0.4e20, 0.6e20, 0.8e20, 1.5e20, 10.0e20),
                   "Strong et al. 2004, A&A 422, L47"),
}


@dataclass(frozen=True)
class XCOProfile:
    """X_CO(R) [cm-2 (K km/s)-1]: a constant or a tabulated step profile (hashable: a cache key)."""

    name: str
    edges: tuple
    values: tuple

    def __call__(self, r):
        if len(self.values) == 1:
            return self.values[0]
        r = np.asarray(r, float)
        index = np.searchsorted(np.asarray(self.edges), r, side="right")
        return np.asarray(self.values)[np.minimum(index, len(self.values) - 1)]

    @property
    def local(self):
        """X_CO at the solar circle (8.5 kpc)."""
        return float(np.asarray(self(8.5)))

    def describe(self):
        if len(self.values) == 1:
            return f"X_CO = {self.values[0]:.3g} cm-2 (K km/s)-1"
        return f"X_CO(R) of {X_CO_PROFILES[self.name][2]}"


def x_co_profile(x_co):
    """Validated X_CO: a number [cm-2 (K km/s)-1], a Quantity, or a name of :data:`X_CO_PROFILES`."""
    if isinstance(x_co, str):
        if x_co not in X_CO_PROFILES:
            raise ValueError(f"x_co must be a number [cm-2 (K km/s)-1] or one of {sorted(X_CO_PROFILES)}, "
                             f"got {x_co!r}")
        edges, values, _ = X_CO_PROFILES[x_co]
        return XCOProfile(x_co, tuple(edges), tuple(values))
    value = nonnegative_number(x_co, _X_CO_UNIT, "x_co", f" or one of {sorted(X_CO_PROFILES)}")
    return XCOProfile("constant", (np.inf,), (value,))


@lru_cache(maxsize=1)
def _dame2001_arrays():
    """(W_CO [K km/s] float32 (561, 2880) with NaN, l of the columns [deg], b of the rows [deg])."""
    from astropy.io import fits

    path = resources.files("gammapy_cocoons").joinpath("data", "gas", "Wco_DHT2001_-180_180.fits.gz")
    with resources.as_file(path) as filename, fits.open(filename) as hdul:
        hdul.verify("silentfix")  # CRVAL/CDELT/BSCALE cards are not FITS-standard strings
        header = hdul[0].header
        data = hdul[0].data.astype(np.float32)  # BSCALE/BZERO applied, BLANK -> NaN
    nx, ny = header["NAXIS1"], header["NAXIS2"]
    lon = header["CRVAL1"] + (np.arange(nx) + 1 - header["CRPIX1"]) * header["CDELT1"]
    lat = header["CRVAL2"] + (np.arange(ny) + 1 - header["CRPIX2"]) * header["CDELT2"]
    # +185..-185: keep 180 >= l > -180 (the 40 columns beyond repeat the sky)
    keep = (lon <= 180.0 + 1e-9) & (lon > -180.0 + 1e-9)
    data, lon = data[:, keep], lon[keep]
    data.setflags(write=False)
    return data, lon, lat, int(np.argmax(keep))


def dame2001_co():
    """The Dame et al. (2001) W_CO map [K km/s] as a gammapy WcsNDMap (Galactic CAR, 0.125 deg,
    2880 x 561 pixels, l = 180 .. -179.875, b = -35 .. 35; NaN where not observed)."""
    from astropy.wcs import WCS
    from gammapy.maps import Map, WcsGeom

    data, lon, lat, first = _dame2001_arrays()
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["GLON-CAR", "GLAT-CAR"]
    wcs.wcs.crval = [0.0, 0.0]
    wcs.wcs.cdelt = [lon[1] - lon[0], lat[1] - lat[0]]
    wcs.wcs.crpix = [np.argmin(np.abs(lon)) + 1.0, np.argmin(np.abs(lat)) + 1.0]
    geom = WcsGeom(wcs, npix=(data.shape[1], data.shape[0]))
    return Map.from_geom(geom, data=data.copy(), unit=CO_UNIT)


@dataclass(frozen=True, eq=False)
class COSurvey:
    """A W_CO survey as samples: pixel centres (l in [-180, 180), b) [deg], solid angles [sr] and
    W_CO [K km/s] (NaN where not observed), and a nearest-pixel lookup for finer grids."""

    name: str
    lon: np.ndarray
    lat: np.ndarray
    area: np.ndarray
    value: np.ndarray
    lookup: object  # (lon, lat) [deg] -> W_CO of the nearest survey pixel, NaN outside

    @property
    def key(self):
        return self.name

    @property
    def observed(self):
        return np.isfinite(self.value)

    @property
    def emitting(self):
        """Indices of the samples with data and W_CO != 0 (the only ones that add to pixel sums)."""
        if "_emitting" not in self.__dict__:
            index = np.flatnonzero(np.isfinite(self.value) & (self.value != 0))
            object.__setattr__(self, "_emitting", index)
        return self.__dict__["_emitting"]


@lru_cache(maxsize=1)
def _dame2001_survey():
    data, lon, lat, _ = _dame2001_arrays()
    # complete at abs(b) < 32 deg: unobserved there = no detectable CO (see the module documentation)
    data = np.where(np.isnan(data) & (np.abs(lat)[:, None] < DAME2001_COMPLETE_LATITUDE), 0.0, data)
    grid_lon, grid_lat = np.meshgrid(lon, lat)
    step = np.radians(0.125)
    area = step * (np.sin(np.radians(grid_lat) + step / 2) - np.sin(np.radians(grid_lat) - step / 2))
    lon0, lat0 = lon[0], lat[0]

    def lookup(l, b):
        l = np.mod(np.asarray(l, float) + 180.0, 360.0) - 180.0
        b = np.asarray(b, float)
        ix = np.rint((lon0 - l) / 0.125).astype(int) % lon.size
        iy = np.rint((b - lat0) / 0.125).astype(int)
        inside = (iy >= 0) & (iy < lat.size)
        return np.where(inside, data[np.clip(iy, 0, lat.size - 1), ix], np.nan)

    return COSurvey("dame2001", grid_lon.ravel(), grid_lat.ravel(), area.ravel(), data.ravel(), lookup)


def _survey_from_map(co_map):
    """Samples of a user W_CO Map (WCS or HEALPix image, Galactic, K km/s-compatible)."""
    import hashlib

    from gammapy.maps import Map

    if not isinstance(co_map, Map):
        raise ValueError(f"co_survey must be 'dame2001', None or a gammapy Map of W_CO, got {co_map!r}")
    geom = co_map.geom
    if geom.frame != "galactic":
        raise ValueError(f"co_survey must be in the Galactic frame, got frame '{geom.frame}'")
    if geom.axes:
        raise ValueError("co_survey must be an image (no non-spatial axes)")
    if not co_map.unit.is_equivalent(CO_UNIT):
        raise ValueError(f"co_survey must have a W_CO unit (K km/s), got '{co_map.unit}'")
    values = co_map.quantity.to_value(CO_UNIT).astype(float)
    if not np.any(np.isfinite(values)):
        raise ValueError("co_survey holds no data (every pixel NaN)")
    coords = geom.get_coord()
    lon = np.mod(u.Quantity(coords.lon, u.deg).value.ravel() + 180.0, 360.0) - 180.0
    lat = u.Quantity(coords.lat, u.deg).value.ravel()
    area = np.broadcast_to(geom.solid_angle().to_value("sr"), geom.data_shape).ravel()

    def lookup(l, b):
        # the value of the pixel holding each direction, NaN outside the map
        return co_map.get_by_coord({"lon": np.asarray(l), "lat": np.asarray(b)}) * co_map.unit.to(CO_UNIT)

    # the values and where they are: two maps of the same numbers on other grids (HEALPix orderings,
    # other projections) are other surveys
    digest = hashlib.sha1()
    for array in (values, lon, lat, area):
        digest.update(np.ascontiguousarray(array, dtype=float).tobytes())
    digest = digest.hexdigest()[:16]
    return COSurvey(f"map:{digest}", lon, lat, area, values.ravel(), lookup)


def co_survey(co_survey):
    """Validated CO survey: "dame2001" (the bundled map), a gammapy Map of W_CO, or None (no survey:
    the 3-D H2 model everywhere)."""
    if co_survey is None:
        return None
    if isinstance(co_survey, str):
        if co_survey != "dame2001":
            raise ValueError(f"co_survey must be 'dame2001', None or a gammapy Map of W_CO, got {co_survey!r}")
        return _dame2001_survey()
    return _survey_from_map(co_survey)


def pixel_index(image, lon, lat):
    """Flat pixel index of an image geometry for Galactic (lon, lat) [deg]; -1 outside it."""
    import healpy as hp

    if image.is_hpx and image.frame == "galactic" and image.is_allsky:
        index = hp.ang2pix(int(np.squeeze(image.nside)), lon, lat, nest=image.nest, lonlat=True)
        return index.astype(np.int64)
    from astropy.coordinates import SkyCoord

    coords = SkyCoord(lon, lat, unit="deg", frame="galactic")
    idx = image.coord_to_idx(coords)
    if image.is_hpx:
        return np.asarray(idx[0], dtype=np.int64)
    ix, iy = (np.asarray(i, dtype=np.int64) for i in idx[:2])
    outside = (ix < 0) | (iy < 0)
    flat = np.ravel_multi_index((np.where(outside, 0, iy), np.where(outside, 0, ix)), image.data_shape)
    return np.where(outside, -1, flat)


def survey_pixel_means(survey, image, factors, sample_factors=None):
    """Pixel means of W_CO x factors over the survey samples inside each pixel of an image geometry.

    ``factors(lon, lat)`` returns an array (n, m) for m directions [deg]; ``sample_factors``, if
    given, holds its values at the samples ``survey.emitting`` (computed once). Returns (means, covered):
    means (n, n_pixels) = sum(area W f) / sum(area) over all samples of the pixel (observed or
    not: the unobserved part contributes nothing), covered (n_pixels,) the observed fraction of the
    pixel's area. Pixels finer than the survey (no sample centre inside) take the nearest survey
    pixel at their centre.
    """
    from scipy import sparse

    npix = int(np.prod(image.data_shape))
    flat = pixel_index(image, survey.lon, survey.lat)
    inside = flat >= 0
    area_all = np.bincount(flat[inside], weights=survey.area[inside], minlength=npix)
    observed = inside & survey.observed
    area_obs = np.bincount(flat[observed], weights=survey.area[observed], minlength=npix)
    emitting = survey.emitting  # zeros add nothing to the sums
    keep = inside[emitting]
    use = emitting[keep]
    # (m, n): a row per sample
    values = (factors(survey.lon[use], survey.lat[use]) if sample_factors is None else sample_factors).T
    if sample_factors is not None:
        values = values[keep]
    # sums[:, p] = sum over the samples s in pixel p, in sample order, of values[s] area_s W_s: one sparse
    # (pixels x samples) product for all n rows (the same additions, in the same order, as a bincount)
    pixel = flat[use]
    order = np.argsort(pixel, kind="stable")
    weights = sparse.csr_matrix(((survey.area[use] * survey.value[use])[order], order,
                                 np.searchsorted(pixel[order], np.arange(npix + 1))), shape=(npix, use.size))
    sums = np.asarray(weights @ np.asarray(values, dtype=float)).T
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(area_all > 0, sums / area_all, 0.0)
        covered = np.where(area_all > 0, area_obs / area_all, 0.0)
    empty = np.flatnonzero(area_all == 0)
    if empty.size:
        coords = image.get_coord().skycoord.galactic
        lon = np.ravel(coords.l.deg)[empty]
        lat = np.ravel(coords.b.deg)[empty]
        value = survey.lookup(lon, lat)
        seen = np.isfinite(value)
        if np.any(seen):
            means[:, empty[seen]] = factors(lon[seen], lat[seen]) * value[seen]
            covered[empty[seen]] = 1.0
    return means, covered
