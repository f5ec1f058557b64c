"""CocoonSpatialModel: the projected source density (Eq. 8's line-of-sight integral) on the sky."""
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.maps import Map, WcsGeom
from gammapy.modeling import Parameter
from gammapy.modeling.models import SpatialModel

from ..physics import lineofsight, skymaps
from ..physics.galaxy import SOURCE_DISTRIBUTIONS, get_source_distribution
from ..skyregions import to_lb_region
from ._keywords import check_parameter_keywords

__all__ = ["CocoonSpatialModel"]

_CHUNK = 20000  # lines of sight per vectorised column integral (bounds memory)
_CHUNK_PIXELS = 65536  # pixels per vectorised pixel-integral call
_LARGE_MAP = 400_000  # pixels above which a progress bar is shown by default
_NORMS = OrderedDict()


@lru_cache(maxsize=64)
def _distribution(profile, alpha, beta, z0):
    """The profile with these parameter values (cached: evaluated in every fit step)."""
    return get_source_distribution(profile).replace(alpha=alpha, beta=beta, z0=z0)


def _all_sky(dist):
    """int dOmega int ds rho over the whole sky [s-1 kpc-2 sr], cached per distribution."""
    if dist not in _NORMS:
        _NORMS[dist] = lineofsight.sky_integral(dist, to_lb_region(None))
        if len(_NORMS) > 32:
            _NORMS.popitem(last=False)
    return _NORMS[dist]


class CocoonSpatialModel(SpatialModel):
    """Cocoon morphology: int ds rho(s; l, b) normalised to 1 over the sky [sr-1].

    The Galactic source density of Eq. 1 (Green 2015 by default) integrated along each line of
    sight, divided by its all-sky integral, in the Galactic frame and energy independent. The
    profile's ``alpha``, ``beta`` and ``z0`` are frozen parameters; changing them recomputes the
    geometry (cached on their values). The all-sky flux is the spectral model's.

    Pixel integrals (:meth:`integrate_geom`) are exact in latitude, where the thin disc
    (z0 = 83 pc) varies on less than a pixel, for WCS maps, HEALPix maps (which gammapy's own
    spatial models do not handle) and region geometries; :meth:`evaluate` gives point values.

    Parameters
    ----------
    profile : str
        Published profile for the radial offset and the starting values of alpha, beta, z0:
        "green2015" (default), "case1998", "lorimer2006", "yusifov2004".
    **kwargs
        Parameter values (alpha, beta, z0).
    """

    #: the unit of :meth:`evaluate`'s values (a SkyModel's unit check reads it: :mod:`.sky`)
    value_unit = u.Unit("sr-1")
    tag = ["CocoonSpatialModel", "cocoon-spatial"]

    # bounds where the pixel integrals keep the all-sky normalisation to 1e-5 (tested at the edges):
    # alpha < 0 is a cusp at the Galactic centre and z0 < 10 pc is thinner than the latitude table
    alpha = Parameter("alpha", 1.09, min=0.0, max=10.0, frozen=True)
    beta = Parameter("beta", 3.87, min=0.0, max=20.0, frozen=True)
    z0 = Parameter("z0", 0.083, unit="kpc", min=0.01, max=1.0, frozen=True)

    def __init__(self, profile="green2015", **kwargs):
        if not isinstance(profile, str) or profile not in SOURCE_DISTRIBUTIONS:
            raise ValueError(f"profile must be one of {sorted(SOURCE_DISTRIBUTIONS)}, got {profile!r}")
        self.profile = profile
        base = SOURCE_DISTRIBUTIONS[profile]
        kwargs.setdefault("alpha", base.alpha)
        kwargs.setdefault("beta", base.beta)
        kwargs.setdefault("z0", base.z0 * u.kpc)
        kwargs["frame"] = "galactic"
        check_parameter_keywords(self, kwargs)
        super().__init__(**kwargs)

    # -- geometry -------------------------------------------------------------------------
    @property
    def position(self):
        """The Galactic centre (the model covers the whole sky)."""
        return SkyCoord(0 * u.deg, 0 * u.deg, frame="galactic")

    @property
    def evaluation_radius(self):
        return None

    @property
    def _evaluation_geom(self):
        return WcsGeom.create(skydir=self.position, width=(360, 30), binsz=0.25, frame="galactic", proj="CAR")

    def _get_plot_map(self, geom):
        # pixel means (not centre values) on the Galactic plane by default
        geom = self._evaluation_geom if geom is None else geom.to_image()
        mean = self.integrate_geom(geom).quantity / geom.solid_angle()
        return Map.from_geom(geom, data=mean.to_value("sr-1"), unit="sr-1")

    def distribution(self, alpha=None, beta=None, z0=None):
        """The :class:`~gammapy_cocoons.physics.galaxy.SourceDistribution` for parameter values."""
        alpha = self.alpha.value if alpha is None else alpha
        beta = self.beta.value if beta is None else beta
        z0 = self.z0.quantity if z0 is None else z0
        values = [np.asarray(u.Quantity(v).to_value(unit)) for v, unit in ((alpha, ""), (beta, ""), (z0, "kpc"))]
        if any(v.size != 1 for v in values):
            raise ValueError(f"{type(self).__name__} parameters alpha, beta, z0 cannot be sampled (they are frozen)")
        for parameter, value in zip((self.alpha, self.beta, self.z0), values):
            low, high = (u.Quantity(b, parameter.unit).to_value("kpc" if parameter.name == "z0" else "")
                         for b in (parameter.min, parameter.max))
            if not (np.isfinite(value) and low <= value <= high):
                raise ValueError(f"{parameter.name} must be within [{parameter.min:g}, {parameter.max:g}] "
                                 f"{parameter.unit}, got {float(value):g}")
        return _distribution(self.profile, float(values[0]), float(values[1]), float(values[2]))

    def evaluate(self, lon, lat, alpha, beta, z0):
        """Projected density per steradian [sr-1] at Galactic (lon, lat) (point values)."""
        dist = self.distribution(alpha, beta, z0)
        lon, lat = np.broadcast_arrays(u.Quantity(lon).to_value(u.rad), u.Quantity(lat).to_value(u.rad))
        if np.any(~(np.abs(lat) <= 0.5 * np.pi + 1e-12)) or np.any(~np.isfinite(lon)):
            raise ValueError("lat must be within [-90, 90] deg and lon finite")
        flat_l, flat_b = lon.ravel(), lat.ravel()
        column = np.empty(flat_l.size)
        for start in range(0, flat_l.size, _CHUNK):
            part = slice(start, start + _CHUNK)
            column[part] = lineofsight.column_density(dist, flat_l[part], flat_b[part])
        return (column / _all_sky(dist)).reshape(lon.shape) * self.value_unit

    def evaluate_geom(self, geom):
        """Point values at the pixel centres of a WCS, HEALPix or region geometry [sr-1]."""
        coords = geom.to_image().get_coord().skycoord.galactic
        value = self(coords.l, coords.b)
        return value.reshape((1,) * (len(geom.data_shape) - value.ndim) + value.shape)

    def integrate_geom(self, geom, oversampling_factor=None, progress=None):
        """Pixel integrals (fractions of the all-sky total) as a `~gammapy.maps.Map`.

        Exact in latitude on every geometry; ``oversampling_factor`` sets the sub-pixel count
        per axis for WCS projections whose pixels are not Galactic l-b boxes (default: enough
        for 0.1 deg sub-pixels, at most 8). ``progress``: progress bar (None: large maps on
        a terminal only).
        """
        dist = self.distribution()
        norm = _all_sky(dist)
        if geom.is_region:
            try:
                lb = to_lb_region(geom.region)
            except TypeError:
                lb = None
            if lb is not None:
                value = lineofsight.sky_integral(dist, lb) / norm
                return Map.from_geom(geom, data=np.full(geom.data_shape, value), unit="")
            wcs_geom = geom.to_wcs_geom().to_image()
            image = pixel_integrals(dist, wcs_geom, oversampling_factor, progress) / norm
            mask = wcs_geom.region_mask([geom.region]).data
            return Map.from_geom(geom, data=np.full(geom.data_shape, np.sum(image[mask])), unit="")
        image = pixel_integrals(dist, geom.to_image(), oversampling_factor, progress) / norm
        data = np.broadcast_to(image, geom.data_shape).copy()
        return Map.from_geom(geom, data=data, unit="")

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self, full_output=False):
        data = super().to_dict(full_output)
        data["spatial"]["profile"] = self.profile
        return data

    @classmethod
    def from_dict(cls, data, **kwargs):
        spatial = data.get("spatial", data)
        if "profile" in spatial:
            kwargs["profile"] = spatial["profile"]
        if spatial.get("frame", "galactic") != "galactic":
            raise ValueError(f"{cls.__name__} is defined in the galactic frame, got frame {spatial['frame']!r}")
        data = {"spatial": {k: v for k, v in spatial.items() if k != "frame"}}
        return super().from_dict(data, **kwargs)


def _progress(total, progress, description):
    """tqdm bar: shown if ``progress``; for None only on large maps and on a terminal."""
    from tqdm.auto import tqdm

    disable = (not progress) if progress is not None else (True if total < _LARGE_MAP else None)
    return tqdm(total=total, disable=disable, desc=description, unit="pix", leave=False)


def _chunked(function, n, progress, description, chunk):
    """Concatenate function(slice) over chunks of range(n) with a progress bar."""
    parts = []
    with _progress(n, progress, description) as bar:
        for start in range(0, n, chunk):
            part = slice(start, min(start + chunk, n))
            parts.append(function(part))
            bar.update(part.stop - part.start)
    return np.concatenate(parts) if parts else np.zeros(0)


def pixel_integrals(dist, geom, oversampling_factor=None, progress=None):
    """int_pixel dOmega int ds rho [s-1 kpc-2 sr] for every pixel of an image geometry."""
    return pixel_integrals_from_table(skymaps.latitude_table(dist), geom, oversampling_factor, progress)


def pixel_integrals_from_table(table, geom, oversampling_factor=None, progress=None):
    """Pixel integrals of a latitude-cumulative table G (units of G x sr) on an image geometry.

    HEALPix: exact diamonds (Galactic frame) or latitude-averaged children (other frames).
    WCS: exact l-b boxes for Galactic CAR maps aligned with the axes, latitude-averaged
    sub-pixels otherwise. Shape: the image's data shape.
    """
    if geom.is_hpx:
        nside = int(np.squeeze(geom.nside))
        ipix = geom.get_idx(flat=True)[0]
        if geom.frame == "galactic":
            values = _chunked(
                lambda part: skymaps.healpix_integrals(table, nside, ipix[part], nest=geom.nest),
                ipix.size, progress, "HEALPix pixels", _CHUNK_PIXELS,
            )
            return values.reshape(geom.data_shape)
        def children_sum(part):
            lon, lat, omega = skymaps.healpix_children(nside, ipix[part], geom.nest, order=2)
            coords = SkyCoord(lon, lat, unit="deg", frame=geom.frame).galactic
            values = skymaps.subsampled_integrals(table, coords.l.rad, coords.b.rad, omega)
            return values.sum(axis=-1)

        return _chunked(children_sum, ipix.size, progress, "HEALPix pixels", _CHUNK_PIXELS).reshape(geom.data_shape)

    edges = _aligned_galactic_edges(geom)
    if edges is not None:
        lon_edges, lat_edges = edges
        # one vectorised call: G at every (longitude node, latitude edge), ~0.5 s for 1e6 pixels
        return skymaps.grid_box_integrals(table, lon_edges, lat_edges)

    if oversampling_factor is None:
        scale = np.max(geom.pixel_scales.to_value("deg"))
        oversampling_factor = int(np.clip(np.ceil(scale / 0.1), 1, 8))
    f = int(oversampling_factor)
    fine = geom.upsample(f)
    coords = fine.get_coord(frame="galactic")
    lon = coords.lon.to_value("rad").ravel()
    lat = coords.lat.to_value("rad").ravel()
    omega = fine.solid_angle().to_value("sr").ravel()
    values = _chunked(
        lambda part: skymaps.subsampled_integrals(table, lon[part], lat[part], omega[part]),
        lon.size, progress, "map sub-pixels", _CHUNK_PIXELS,
    )
    values = np.where(np.isfinite(values), values, 0.0)
    ny, nx = geom.data_shape
    return values.reshape(ny, f, nx, f).sum(axis=(1, 3))


def _aligned_galactic_edges(geom):
    """(lon edges, lat edges) [rad, unwrapped] if the WCS pixels are Galactic l-b boxes, else None."""
    if geom.frame != "galactic" or geom.projection != "CAR":
        return None
    ny, nx = geom.data_shape
    x_edges = np.arange(nx + 1) - 0.5
    y_edges = np.arange(ny + 1) - 0.5
    xx, yy = np.meshgrid(x_edges, y_edges)
    lon, lat = geom.wcs.pixel_to_world_values(xx, yy)
    lon = np.unwrap(np.radians(lon), axis=1)
    lat = np.radians(lat)
    if not (np.allclose(lon, lon[:1], rtol=0, atol=1e-10) and np.allclose(lat, lat[:, :1], rtol=0, atol=1e-10)):
        return None
    return lon[0], lat[:, 0]
