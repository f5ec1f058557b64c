"""RegionFluxSpectralModel: a SkyModel integrated over a sky region, as a SpectralModel.

gammapy's ``FluxPointsDataset`` compares a spectral model in cm-2 s-1 TeV-1 with flux points.
Measurements of diffuse emission are intensities averaged over a region; multiplied by the
region's solid angle they are region fluxes, and this model predicts exactly that quantity
(Eq. 8 over the region) from any SkyModel while sharing its Parameter objects, so several
regions (inner and outer Galaxy) fit jointly with one set of cocoon parameters.
"""
from collections import OrderedDict

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.maps import MapAxis, WcsGeom
from regions import CompoundSkyRegion
from gammapy.modeling.models import SkyModel, SpectralModel

from .._validation import positive_float
from ..physics import lineofsight
from ..physics.skymaps import healpix_children
from ..skyregions import LBCircle, LBCompound, mask_out, region_from_dict, region_to_dict, to_lb_region
from .spatial import CocoonSpatialModel, _all_sky

__all__ = ["RegionFluxSpectralModel"]

_FLUX_UNIT = u.Unit("cm-2 s-1 TeV-1")
_FRACTIONS = OrderedDict()
_GRID_DEG = 0.05  # pixel size for regions / spatial models without an exact rule


def _cocoon_fraction(dist, lb_region):
    """Fraction of the all-sky line-of-sight integral inside a region, cached."""
    key = (dist, lb_region.key)
    if key not in _FRACTIONS:
        _FRACTIONS[key] = lineofsight.sky_integral(dist, lb_region) / _all_sky(dist)
        if len(_FRACTIONS) > 256:
            _FRACTIONS.popitem(last=False)
    return _FRACTIONS[key]


def _cocoon_transmission(dist, lb_region, energy):
    """Emission-weighted CMB transmission of the cocoons in a region at ``energy`` (any shape)."""
    from ..physics.absorption import cmb_absorption_coefficient

    e = energy.to_value("GeV")
    unique, inverse = np.unique(np.ravel(e), return_inverse=True)
    key = (dist, lb_region.key, "transmission", unique.tobytes())
    if key not in _FRACTIONS:
        kappa = cmb_absorption_coefficient(unique)
        result = np.ones(unique.size)
        absorbed = kappa * 2.0 * dist.r_max > 1e-7
        if np.any(absorbed):
            total = lineofsight.sky_integral(dist, lb_region)
            if total > 0:
                result[absorbed] = lineofsight.sky_integral(dist, lb_region, kappa=kappa[absorbed]) / total
        _FRACTIONS[key] = result
        if len(_FRACTIONS) > 256:
            _FRACTIONS.popitem(last=False)
    return _FRACTIONS[key][inverse].reshape(np.shape(e))


def _collapse(value):
    """A constant array of parameter samples as one value (others are left to fail clearly)."""
    value = u.Quantity(value)
    if value.size > 1 and np.all(value == value.flat[0]):
        return value.flat[0]
    return value


def _region_grid(region, binsz=_GRID_DEG):
    """A Galactic CAR grid of ``binsz`` covering ``region`` and the mask of pixels inside it.

    Regions with an exact l-b form (Galactic boxes, circles and their compounds) are read as l-b
    sets, the same definition as the cocoons' integrals and :meth:`RegionFluxSpectralModel.solid_angle`
    (a ``RectangleSkyRegion`` is an l-b box, not a tangent-plane rectangle).
    """
    if region is None:
        geom = WcsGeom.create(skydir=(0, 0), width=(360, 180), binsz=binsz, frame="galactic", proj="CAR")
        return geom, np.ones(geom.data_shape, dtype=bool)
    lb = _exact_lb(region)
    if lb is not None:
        l_center, half_width, b_min, b_max = (np.degrees(v) for v in lb.bounds())
        n_lon = max(1, int(np.ceil(2 * half_width / binsz)))
        n_lat = max(1, int(np.ceil((b_max - b_min) / binsz)))
        geom = WcsGeom.create(skydir=(l_center, 0.5 * (b_min + b_max)), npix=(n_lon, n_lat),
                              binsz=(2 * half_width / n_lon, (b_max - b_min) / n_lat), frame="galactic", proj="CAR")
        coords = geom.get_coord()
        mask = lb.contains(coords.lon.to_value("rad"), coords.lat.to_value("rad"))
        return geom, mask
    first = region
    while isinstance(first, CompoundSkyRegion):
        first = first.region1
    centre = first.center.galactic
    # a whole-sky grid centred on the region, so that its pixel footprint does not wrap
    full = WcsGeom.create(skydir=(centre.l.deg, 0.0), width=(360, 180), binsz=binsz, frame="galactic", proj="CAR")
    box = region.to_pixel(full.wcs).bounding_box
    ny, nx = full.data_shape
    xs = slice(max(box.ixmin, 0), min(box.ixmax, nx))
    ys = slice(max(box.iymin, 0), min(box.iymax, ny))
    centre_pix = (0.5 * (xs.start + xs.stop - 1), 0.5 * (ys.start + ys.stop - 1))
    position = full.pix_to_coord(centre_pix)
    width = ((xs.stop - xs.start) * binsz, (ys.stop - ys.start) * binsz)
    geom = WcsGeom.create(
        skydir=SkyCoord(position[0], position[1], unit="deg", frame="galactic"),
        width=width, binsz=binsz, frame="galactic", proj="CAR",
    )
    mask = region.contains(geom.get_coord().skycoord, geom.wcs)
    return geom, mask


def _template_energy_axis(spatial):
    """The energy axis of a template spatial model's map, or None."""
    template = getattr(spatial, "map", None)
    if template is None:
        return None
    for name in ("energy_true", "energy"):
        if name in template.geom.axes.names:
            return template.geom.axes[name]
    return None


def _exact_lb(region):
    """The exact l-b form of a region, or None for shapes only a pixel grid can integrate."""
    try:
        return to_lb_region(region)
    except (TypeError, ValueError):
        return None


def _diamond_fractions(lb, nside, ipix, nest, n_nodes=24):
    """Fraction of each equatorial HEALPix pixel (a diamond in (l, sin b)) inside an l-b region.

    Gauss-Legendre in l over each half of the diamond of the length of [z_lo, z_hi] inside the
    region's latitude intervals at that longitude.
    """
    import healpy as hp

    theta, phi = hp.pix2ang(nside, ipix, nest=nest)
    z_c = np.cos(theta)
    half_width, half_height = np.pi / (4.0 * nside), 2.0 / (3.0 * nside)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    t = 0.5 * (x + 1.0)
    fractions = np.zeros(ipix.size)
    for side in (-1.0, 1.0):
        lon = np.mod(phi[:, None] + side * half_width * t + np.pi, 2 * np.pi) - np.pi
        extent = half_height * (1.0 - t)
        z_lo, z_hi = z_c[:, None] - extent, z_c[:, None] + extent
        intervals = lb.latitude_intervals(lon.ravel())
        inside = np.zeros(lon.size)
        for k, (lo, hi, bands) in enumerate(zip(z_lo.ravel(), z_hi.ravel(), intervals)):
            for b1, b2 in bands:
                inside[k] += max(0.0, min(hi, np.sin(b2)) - max(lo, np.sin(b1)))
        fractions += (inside.reshape(lon.shape) * 0.5 * w).sum(axis=1) * half_width
    # the diamond's area is 2 half_width half_height
    fractions /= 2.0 * half_width * half_height
    # a longitude edge of the region inside a pixel is a step in l: integrate those piecewise
    for i in np.nonzero(_has_break(lb, phi, -half_width, half_width))[0]:
        def z_range(d, zc=z_c[i]):
            extent = half_height * (1.0 - np.abs(d) / half_width)
            return zc - extent, zc + extent

        fractions[i] = _piecewise_fraction(lb, phi[i], -half_width, half_width, z_range, extra=(0.0,))
    return fractions


def _has_break(lb, phi_c, dphi_lo, dphi_hi):
    """Pixels whose longitude range (centre ``phi_c`` + [dphi_lo, dphi_hi], radians) holds a
    longitude break of the region."""
    breaks = np.asarray(lb.longitude_breaks(), float)
    if breaks.size == 0:
        return np.zeros(np.shape(phi_c), dtype=bool)
    rel = np.mod(breaks[None, :] - np.asarray(phi_c)[..., None] + np.pi, 2 * np.pi) - np.pi
    lo, hi = np.broadcast_arrays(np.asarray(dphi_lo, float), np.asarray(dphi_hi, float), np.asarray(phi_c))[:2]
    return np.any((rel > lo[..., None]) & (rel < hi[..., None]), axis=-1)


def _piecewise_fraction(lb, phi_c, dphi_lo, dphi_hi, z_range, extra=(), n_nodes=24):
    """Fraction of one pixel inside an l-b region: Gauss-Legendre in longitude on pieces split at the
    region's longitude breaks (and at ``extra`` kinks of the pixel), exact in z = sin b.
    ``z_range(dphi)`` gives the pixel's (z_lo, z_hi) at longitudes phi_c + dphi."""
    breaks = np.asarray(lb.longitude_breaks(), float)
    rel = np.mod(breaks - phi_c + np.pi, 2 * np.pi) - np.pi
    cuts = [c for c in list(rel) + list(extra) if dphi_lo < c < dphi_hi]
    edges = np.unique(np.concatenate([[dphi_lo], cuts, [dphi_hi]]))
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    inside_total = area = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        half = 0.5 * (b - a)
        d = a + half + half * x
        z_lo, z_hi = z_range(d)
        lon = np.mod(phi_c + d + np.pi, 2 * np.pi) - np.pi
        inside = np.zeros(d.size)
        for k, (zl, zh, bands) in enumerate(zip(z_lo, z_hi, lb.latitude_intervals(lon))):
            for b1, b2 in bands:
                inside[k] += max(0.0, min(zh, np.sin(b2)) - max(zl, np.sin(b1)))
        inside_total += half * np.sum(w * inside)
        area += half * np.sum(w * np.maximum(z_hi - z_lo, 0.0))
    return inside_total / area if area > 0 else 0.0


def _healpix_region_integral(template, region, children_order=4):
    """int_region I dOmega for every energy of a HEALPix template, from its own pixels.

    Pixels whose centre and neighbours are all inside count fully; pixels on the region's edge
    count by the fraction of their 4**children_order sub-pixels inside. Pixels without data
    inside the region are refused.
    """
    import healpy as hp

    geom = template.geom
    image = geom.to_image()
    nside = int(np.squeeze(geom.nside))
    ipix = image.get_idx(flat=True)[0]
    values = template.quantity.reshape((-1, ipix.size))
    lb = _exact_lb(region) if geom.frame == "galactic" else None
    if region is None:
        weights = np.ones(ipix.size)
    elif lb is not None:
        weights = _healpix_lb_weights(lb, nside, ipix, geom.nest, children_order)
    else:
        grid, _ = _region_grid(region, binsz=0.5)
        lon, lat = hp.pix2ang(nside, ipix, nest=geom.nest, lonlat=True)
        coords = SkyCoord(lon, lat, unit="deg", frame=geom.frame)
        inside = region.contains(coords, grid.wcs)
        # full-sky lookup of the parent mask to find edge pixels through their neighbours
        full = np.zeros(hp.nside2npix(nside), dtype=np.int8)
        full[ipix] = inside
        neighbours = hp.get_all_neighbours(nside, ipix, nest=geom.nest)
        neighbour_inside = np.where(neighbours >= 0, full[np.maximum(neighbours, 0)], 0)
        edge = (neighbour_inside.max(axis=0) != neighbour_inside.min(axis=0)) | (
            neighbour_inside.max(axis=0) != inside
        )
        weights = inside.astype(float)
        if np.any(edge):
            clon, clat, _ = healpix_children(nside, ipix[edge], geom.nest, children_order)
            cinside = region.contains(SkyCoord(clon.ravel(), clat.ravel(), unit="deg", frame=geom.frame), grid.wcs)
            weights[edge] = cinside.reshape(clon.shape).mean(axis=1)
    used = weights > 0
    if np.any(~np.isfinite(values[:, used])):
        raise ValueError(
            "region extends beyond the spatial model's coverage (pixels without data inside it, e.g. a "
            "partial-sky DGE map)"
        )
    omega = hp.nside2pixarea(nside) * u.sr
    return np.sum(values[:, used] * weights[used], axis=1) * omega


def _healpix_lb_weights(lb, nside, ipix, nest, children_order):
    """Fraction of each Galactic HEALPix pixel inside an l-b region.

    Pixels whose centre and neighbours are all inside count fully. Edge pixels, and every pixel
    within two pixel sizes of the region's bounds (so that a region smaller than a pixel is not
    lost), get their exact diamond fraction in the equatorial zone and an equal-area grid
    fraction (:func:`_polar_fractions`) in the polar caps.
    """
    import healpy as hp

    theta, phi = hp.pix2ang(nside, ipix, nest=nest)
    lon, lat = np.mod(phi + np.pi, 2 * np.pi) - np.pi, 0.5 * np.pi - theta
    inside = lb.contains(lon, lat)
    full = np.zeros(hp.nside2npix(nside), dtype=np.int8)
    full[ipix] = inside
    neighbours = hp.get_all_neighbours(nside, ipix, nest=nest)
    neighbour_inside = np.where(neighbours >= 0, full[np.maximum(neighbours, 0)], 0)
    edge = (neighbour_inside.max(axis=0) != neighbour_inside.min(axis=0)) | (neighbour_inside.max(axis=0) != inside)
    l_center, half_width, b_min, b_max = lb.bounds()
    margin = 2.0 * hp.nside2resol(nside)
    near = (lat >= b_min - margin) & (lat <= b_max + margin)
    if half_width < np.pi:
        stretch = margin / max(np.cos(min(max(abs(b_min), abs(b_max)) + margin, 0.5 * np.pi - 1e-6)), 1e-6)
        near &= np.abs(np.mod(lon - l_center + np.pi, 2 * np.pi) - np.pi) <= half_width + stretch
    edge |= near & ~inside
    weights = inside.astype(float)
    circles = [leaf for leaf in _leaves(lb) if isinstance(leaf, LBCircle)]
    if len(circles) > _MANY_CIRCLES:
        # many circles (source masks): the exact diamond fractions call every circle at every node;
        # edge pixels (also those a circle's rim crosses between pixel centres) are sampled instead
        candidates = np.nonzero(near | inside)[0]  # the region's box: rims elsewhere change nothing
        edge[candidates] |= _near_rims(circles, lon[candidates], lat[candidates], margin)
        if np.any(edge):
            weights[edge] = _sampled_fractions(lb, nside, ipix[edge], nest, children_order)
        return weights
    equatorial = np.abs(np.sin(lat)) < 2.0 / 3.0 - 1e-12
    diamond = edge & equatorial
    if np.any(diamond):
        weights[diamond] = _diamond_fractions(lb, nside, ipix[diamond], nest)
    polar = edge & ~equatorial
    if np.any(polar):
        weights[polar] = _polar_fractions(lb, nside, ipix[polar], nest)
    return weights


#: above this many circles in a region (source masks), edge pixels are sampled (:func:`_sampled_fractions`)
_MANY_CIRCLES = 8


def _leaves(lb):
    """The boxes and circles an l-b region is built from."""
    if isinstance(lb, LBCompound):
        return _leaves(lb.region1) + _leaves(lb.region2)
    return [lb]


def _near_rims(circles, lon, lat, margin):
    """Pixels (centres lon, lat [rad]) within ``margin`` [rad] of any circle's rim."""
    near = np.zeros(lon.shape, dtype=bool)
    cos_lat, sin_lat = np.cos(lat), np.sin(lat)
    for circle in circles:
        cos_sep = sin_lat * np.sin(circle.b0) + cos_lat * np.cos(circle.b0) * np.cos(lon - circle.l0)
        near |= np.abs(np.arccos(np.clip(cos_sep, -1.0, 1.0)) - circle.radius) <= margin
    return near


def _sampled_fractions(lb, nside, ipix, nest, children_order):
    """Fraction of each pixel inside an l-b region: the share of its 4**children_order sub-pixel
    centres inside (equal-area sub-pixels; 256 at the default order 4, so within 1/512 of a pixel
    per pixel for a straight edge, unbiased on average)."""
    clon, clat, _ = healpix_children(nside, ipix, nest, children_order)
    lon, lat = np.radians(np.mod(clon + 180.0, 360.0) - 180.0).ravel(), np.radians(clat).ravel()
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    return _contains(lb, lon, lat, xyz).reshape(clon.shape).mean(axis=1)


def _contains(lb, lon, lat, xyz):
    """``lb.contains(lon, lat)`` with circles tested on unit vectors (one dot product per point
    instead of the trigonometry of each circle: the 100 circles of the 1LHAASO masks)."""
    if isinstance(lb, LBCompound):
        return lb.op(_contains(lb.region1, lon, lat, xyz), _contains(lb.region2, lon, lat, xyz))
    if isinstance(lb, LBCircle):
        centre = np.array([np.cos(lb.b0) * np.cos(lb.l0), np.cos(lb.b0) * np.sin(lb.l0), np.sin(lb.b0)])
        return xyz @ centre >= np.cos(lb.radius)
    return lb.contains(lon, lat)


def _polar_fractions(lb, nside, ipix, nest, n_nodes=48, n_boundary=32):
    """Fraction of polar-cap HEALPix pixels inside an l-b region, as the diamonds: at Gauss-Legendre
    longitude nodes across the pixel, the pixel's extent in z = sin b (from its boundary polygon,
    4 x ``n_boundary`` points) is intersected with the region's latitude intervals, exactly in z.
    The few pixels that touch a pole use a fine equal-area grid."""
    import healpy as hp

    out = np.empty(ipix.size)
    theta_c, phi_c = hp.pix2ang(nside, ipix, nest=nest)
    corners = hp.boundaries(nside, ipix, step=n_boundary, nest=nest)  # (n, 3, 4 step)
    theta_v, phi_v = hp.vec2ang(np.moveaxis(corners, 1, 2).reshape(-1, 3))
    theta_v, phi_v = theta_v.reshape(ipix.size, -1), phi_v.reshape(ipix.size, -1)
    at_pole = (theta_v.min(axis=1) < 1e-6) | (theta_v.max(axis=1) > np.pi - 1e-6)
    # boundary polygon in (phi relative to the centre, z), closed
    dphi = np.mod(phi_v - phi_c[:, None] + np.pi, 2 * np.pi) - np.pi
    z = np.cos(theta_v)
    dphi = np.concatenate([dphi, dphi[:, :1]], axis=1)
    z = np.concatenate([z, z[:, :1]], axis=1)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    lo, hi = dphi.min(axis=1), dphi.max(axis=1)
    half = 0.5 * (hi - lo)
    nodes = (lo + half)[:, None] + half[:, None] * x  # (n, n_nodes)
    a_phi, b_phi = dphi[:, None, :-1], dphi[:, None, 1:]
    a_z, b_z = z[:, None, :-1], z[:, None, 1:]
    node = nodes[:, :, None]
    crossing = ((a_phi - node) * (b_phi - node) <= 0) & (a_phi != b_phi)
    with np.errstate(invalid="ignore", divide="ignore"):
        z_cross = a_z + (b_z - a_z) * (node - a_phi) / (b_phi - a_phi)
    z_lo = np.where(crossing, z_cross, np.inf).min(axis=2)
    z_hi = np.where(crossing, z_cross, -np.inf).max(axis=2)
    valid = np.isfinite(z_lo) & np.isfinite(z_hi) & (z_hi > z_lo)
    z_lo, z_hi = np.where(valid, z_lo, 0.0), np.where(valid, z_hi, 0.0)
    lon = np.mod(phi_c[:, None] + nodes + np.pi, 2 * np.pi) - np.pi
    intervals = lb.latitude_intervals(lon.ravel())
    inside = np.zeros(lon.size)
    for k, (zl, zh, bands) in enumerate(zip(z_lo.ravel(), z_hi.ravel(), intervals)):
        for b1, b2 in bands:
            inside[k] += max(0.0, min(zh, np.sin(b2)) - max(zl, np.sin(b1)))
    inside = inside.reshape(lon.shape)
    out = (inside @ w) / np.maximum((z_hi - z_lo) @ w, 1e-300)
    # a longitude edge of the region inside a pixel is a step in l: integrate those piecewise
    stepped = _has_break(lb, phi_c, lo, hi) & ~at_pole
    for i in np.nonzero(stepped)[0]:
        def z_range(d, i=i):
            cross = ((dphi[i, None, :-1] - d[:, None]) * (dphi[i, None, 1:] - d[:, None]) <= 0) & \
                (dphi[i, None, :-1] != dphi[i, None, 1:])
            with np.errstate(invalid="ignore", divide="ignore"):
                zc = z[i, None, :-1] + (z[i, None, 1:] - z[i, None, :-1]) * (d[:, None] - dphi[i, None, :-1]) \
                    / (dphi[i, None, 1:] - dphi[i, None, :-1])
            return np.where(cross, zc, np.inf).min(axis=1), np.where(cross, zc, -np.inf).max(axis=1)

        out[i] = _piecewise_fraction(lb, phi_c[i], lo[i], hi[i], z_range, extra=tuple(dphi[i]))
    if np.any(at_pole):
        out[at_pole] = _grid_fractions(lb, nside, ipix[at_pole], nest)
    return out


def _grid_fractions(lb, nside, ipix, nest, n_grid=256):
    """Fraction inside an l-b region of pixels touching a pole: a fine equal-area (phi, z) grid."""
    import healpy as hp

    out = np.empty(ipix.size)
    t = (np.arange(n_grid) + 0.5) / n_grid
    for i, pixel in enumerate(ipix):
        theta_v, _ = hp.vec2ang(hp.boundaries(nside, pixel, step=4, nest=nest).T)
        z_lo, z_hi = np.cos(theta_v.max()), np.cos(theta_v.min())
        phi, z = np.meshgrid(2 * np.pi * t, z_lo + (z_hi - z_lo) * t, indexing="ij")
        theta = np.arccos(np.clip(z, -1.0, 1.0))
        in_pixel = hp.ang2pix(nside, theta, phi, nest=nest) == pixel
        inside = lb.contains(np.mod(phi + np.pi, 2 * np.pi) - np.pi, 0.5 * np.pi - theta)
        out[i] = np.sum(in_pixel & inside) / max(np.sum(in_pixel), 1)
    return out


def _check_template_coverage(spatial, region, grid):
    """Refuse a region that reaches pixels without data (NaN) of a template map.

    gammapy's map interpolation skips NaN pixels, so the check is made on the template's own
    pixel centres.
    """
    template = getattr(spatial, "map", None)
    if template is None or not np.any(np.isnan(template.data)):
        return
    image = template.geom.to_image()
    missing = np.any(np.isnan(template.data.reshape((-1,) + image.data_shape)), axis=0)
    if region is None:
        inside = np.ones(image.data_shape, dtype=bool)
    else:
        inside = region.contains(image.get_coord().skycoord, grid.wcs)
    if np.any(missing & inside):
        raise ValueError(
            "region extends beyond the spatial model's coverage (pixels without data inside it, e.g. a "
            "partial-sky DGE map)"
        )


def _pixelised_region_integral(spatial, region, energy=None):
    """int_region spatial dOmega on a 0.05 deg grid (pixel centres), per energy if given."""
    geom, mask = _region_grid(region)
    _check_template_coverage(spatial, region, geom)
    if energy is not None:
        flat = energy.ravel()
        unique, inverse = np.unique(flat.to_value("TeV"), return_inverse=True)
        axis = MapAxis.from_nodes(unique * u.TeV, name="energy_true", interp="log")
        values = u.Quantity(spatial.evaluate_geom(geom.to_cube([axis])))
        _check_coverage(values, mask)
        per_energy = np.sum(np.where(mask, values * geom.solid_angle(), 0), axis=(-2, -1))
        return per_energy[inverse].reshape(energy.shape)
    values = u.Quantity(spatial.evaluate_geom(geom))
    _check_coverage(values, mask)
    return np.sum(np.where(mask, values * geom.solid_angle(), 0))


def _check_coverage(values, mask):
    inside = np.broadcast_to(mask, values.shape)
    if not np.all(np.isfinite(values[inside])):
        raise ValueError(
            "region extends beyond the spatial model's coverage (NaN pixels inside it, e.g. a partial-sky DGE map)"
        )


class RegionFluxSpectralModel(SpectralModel):
    """Flux of ``sky_model`` integrated over ``region`` [cm-2 s-1 TeV-1], times ``scale``.

    Parameters
    ----------
    sky_model : `~gammapy.modeling.models.SkyModel`
        Any sky model with a spatial part; its Parameter objects are shared (not copied).
    region : `regions.SkyRegion` or None
        Region of the measurement (None: the whole sky). Galactic l-b boxes, circles and
        their compounds are integrated exactly for the cocoons (1e-6, the line-of-sight rule of
        Eq. 8); other spatial models (e.g. DGE templates) and other shapes on a 0.05 deg
        Galactic CAR grid of pixel centres.
    masks : sequence of `regions.SkyRegion`, optional
        Parts of the region left out (e.g. source masks); see
        :func:`~gammapy_cocoons.skyregions.mask_out`.
    scale : float
        Extra factor on the prediction, e.g. 0.65 for the LHAASO inner-Galaxy mask as in the
        paper (when the masks themselves are not modelled).
    absorption : bool
        Absorb the cocoons' gamma rays on the CMB along each line of sight of the region (the
        emission-weighted transmission of :meth:`~gammapy_cocoons.CocoonEmission.transmission`);
        default False, the paper's Eq. 8. Only for a `~gammapy_cocoons.CocoonSpatialModel` with
        gamma rays: the embedded DGE carries its own absorption, and neutrinos are never absorbed.
    """

    tag = ["RegionFluxSpectralModel", "region-flux"]

    def __init__(self, sky_model, region=None, masks=None, scale=1.0, absorption=False):
        if not isinstance(sky_model, SkyModel) or sky_model.spatial_model is None:
            raise TypeError("sky_model must be a gammapy SkyModel with a spatial model")
        if not isinstance(absorption, (bool, np.bool_)):
            raise TypeError(f"absorption must be True or False, got {absorption!r}")
        if absorption:
            if not isinstance(sky_model.spatial_model, CocoonSpatialModel):
                raise ValueError("absorption applies to the cocoon model (CocoonSpatialModel); DGE templates carry "
                                 "their own absorption")
            if getattr(sky_model.spectral_model, "secondary", "gamma") != "gamma":
                raise ValueError("absorption applies to gamma rays; neutrinos are never absorbed")
        self.absorption = bool(absorption)
        if masks:
            region = mask_out(region, *masks) if region is not None else None
            if region is None:
                raise ValueError("masks need a region to be cut out of")
        self.sky_model = sky_model
        self.region = region
        self.scale = positive_float(scale, "scale", allow_zero=True)
        super().__init__()

    @property
    def region(self):
        """The region integrated over; setting it recomputes every cached region integral."""
        return self._region

    @region.setter
    def region(self, region):
        self._lb_region = _exact_lb(region)
        if region is not None and self._lb_region is None:
            from regions import SkyRegion

            if not isinstance(region, SkyRegion):
                raise TypeError(f"region must be a regions SkyRegion or None (whole sky), got {type(region).__name__}")
            if not hasattr(region, "center") and not isinstance(region, CompoundSkyRegion):
                raise TypeError(f"region: {type(region).__name__} is not supported; use RectangleSkyRegion "
                                "(galactic l-b box), CircleSkyRegion or CompoundSkyRegion combinations of them")
        self._region = region
        self._template_integrals = OrderedDict()

    def __deepcopy__(self, memo):
        """A copy with its own Parameters that shares the wrapped model's template map: gammapy's
        ``Fit`` deep-copies the models for every optimisation and profile point, and a DGE cube is
        tens of MB (read-only here). The cached region integrals are shared too."""
        import copy

        template = getattr(self.sky_model.spatial_model, "map", None)
        if template is not None:
            memo.setdefault(id(template), template)
        memo.setdefault(id(self._template_integrals), self._template_integrals)
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    # -- parameters are the wrapped model's ---------------------------------------------------
    @property
    def parameters(self):
        return self.sky_model.parameters

    @property
    def _models(self):
        # lets gammapy's Models find (and re-link after reading YAML) the shared parameters
        return self.sky_model._models

    def __call__(self, energy):
        energy = u.Quantity(energy)
        if not energy.unit.is_equivalent(u.TeV):
            raise u.UnitConversionError(f"energy must be an energy, got unit '{energy.unit}'")
        if energy.size == 0 or not np.all(np.isfinite(energy.value)) or np.any(energy.value <= 0):
            raise ValueError(f"energy must be a non-empty array of finite energies > 0, got {energy!r}")
        # positional: a spectral and a spatial parameter may share a name (the ECPL's and Green's alpha)
        return self.evaluate(energy, *[p.quantity for p in self.parameters])

    # -- physics ------------------------------------------------------------------------------
    def solid_angle(self):
        """Solid angle of the region [sr]."""
        if self._lb_region is not None:
            return lineofsight.solid_angle(self._lb_region) * u.sr
        geom, mask = _region_grid(self.region)
        return np.sum(geom.solid_angle()[mask]).to(u.sr)

    def intensity(self, energy):
        """Mean intensity over the region [cm-2 s-1 TeV-1 sr-1] (without ``scale``)."""
        omega = self.solid_angle()
        if not omega.to_value(u.sr) > 0:
            raise ValueError("region has zero solid angle (empty or fully masked): no mean intensity")
        scale = self.scale
        try:
            self.scale = 1.0
            return self(energy) / omega
        finally:
            self.scale = scale

    def _spatial_integral(self, energy, spatial_values):
        """int_region spatial dOmega: a number (energy independent) or values per energy."""
        spatial = self.sky_model.spatial_model
        if isinstance(spatial, CocoonSpatialModel) and self._lb_region is not None:
            dist = spatial.distribution(**spatial_values)
            fraction = _cocoon_fraction(dist, self._lb_region)
            if self.absorption:
                fraction = fraction * _cocoon_transmission(dist, self._lb_region, u.Quantity(energy))
            return fraction * u.one
        template_axis = _template_energy_axis(spatial)
        if template_axis is not None:
            return self._template_node_interpolation(spatial, template_axis, u.Quantity(energy))
        if spatial.is_energy_dependent:
            e = u.Quantity(energy)
            key = ("energy", e.to_value("TeV").tobytes())
        else:
            e = None
            key = ("static", tuple(float(np.squeeze(u.Quantity(v).value)) for v in spatial_values.values()))
        if key not in self._template_integrals:
            self._template_integrals[key] = _pixelised_region_integral(spatial, self.region, e)
            if len(self._template_integrals) > 32:
                self._template_integrals.popitem(last=False)
        return self._template_integrals[key]

    def _template_node_interpolation(self, spatial, axis, energy):
        """Region integrals at the template's own energies, interpolated log-log in energy.

        gammapy interpolates HEALPix templates linearly in value between energies (a saw-tooth
        of ~15 % for an E^-2.7 cube at 8 energies per decade); at the nodes the spatial
        interpolation alone is used, and power laws between nodes are reproduced exactly.
        """
        key = ("nodes",)
        if key not in self._template_integrals:
            nodes = axis.center
            if spatial.map.geom.is_hpx:
                integrals = _healpix_region_integral(spatial.map, self.region)
            else:
                integrals = _pixelised_region_integral(spatial, self.region, nodes)
            self._template_integrals[key] = (nodes, integrals)
        nodes, integrals = self._template_integrals[key]
        x = np.log(energy.to_value(nodes.unit))
        lo, hi = np.log(nodes.value[0]), np.log(nodes.value[-1])
        if np.any(x < lo - 1e-9) or np.any(x > hi + 1e-9):
            raise ValueError(
                f"energy must be within the template's range {nodes[0]:.4g} - {nodes[-1]:.4g}"
            )
        values = integrals.value
        positive = values > 0
        if np.all(positive):
            result = np.exp(np.interp(x, np.log(nodes.value), np.log(values)))
        else:
            result = np.interp(x, np.log(nodes.value), values)
        return result * integrals.unit

    def evaluate(self, energy, *args, **kwargs):
        """Region flux [cm-2 s-1 TeV-1]; broadcasts over parameter samples like the wrapped model."""
        spectral = self.sky_model.spectral_model
        spectral_names = spectral.parameters.names
        spatial_names = self.sky_model.spatial_model.parameters.names
        if args:  # the SkyModel's parameters in order, spectral then spatial (names may repeat across them)
            spectral_values = dict(zip(spectral_names, args[:len(spectral_names)]))
            spatial_values = dict(zip(spatial_names, args[len(spectral_names):]))
            spectral_values.update({k: v for k, v in kwargs.items() if k in spectral_names})
        else:
            spectral_values = {name: kwargs[name] for name in spectral_names}
            spatial_values = {name: kwargs[name] for name in spatial_names}
        # frozen spatial parameters arrive as constant sample arrays from gammapy's error bands
        spatial_values = {name: _collapse(value) for name, value in spatial_values.items()}
        dnde = spectral.evaluate(energy, **spectral_values)
        # energy has a trailing axis of length 1 when parameters are sampled: broadcasts
        integral = self._spatial_integral(u.Quantity(energy), spatial_values)
        return (self.scale * dnde * integral).to(_FLUX_UNIT)


    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self, full_output=False):
        return {
            "spectral": {
                "type": self.tag[0],
                "region": region_to_dict(self.region),
                "scale": self.scale,
                "absorption": self.absorption,
                "model": self.sky_model.to_dict(full_output),
            }
        }

    @classmethod
    def from_dict(cls, data, **kwargs):
        spectral = data.get("spectral", data)
        sky_model = SkyModel.from_dict(spectral["model"])
        return cls(sky_model, region=region_from_dict(spectral.get("region")), scale=spectral.get("scale", 1.0),
                   absorption=bool(spectral.get("absorption", False)))
