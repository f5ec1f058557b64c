"""Sky templates: pixel-integrated intensity cubes of any SkyModel, written as FITS.

:func:`make_cube` gives a gammapy `Map` of the mean intensity in every pixel (the pixel
integral of the model divided by the pixel solid angle) at the nodes of an energy axis.
:func:`write_cube` writes it in three conventions that common tools read:

- ``"gadf"``: gammapy's own (``Map.read``);
- ``"fermi"``: the Fermi-LAT map-cube convention of the Galactic diffuse model
  (``gll_iem``): CAR in Galactic coordinates, intensity in cm-2 s-1 MeV-1 sr-1 in the
  primary HDU, an ``ENERGIES`` table in MeV; read by ``TemplateSpatialModel.read`` and the
  Fermi tools' ``MapCubeFunction``;
- ``"healpix"``: RING ordering, Galactic, one binary-table column per energy (``ENERGY1``, ...)
  in cm-2 s-1 TeV-1 sr-1, energies in MeV in an ``ENERGIES`` table after it: the Fermi-LAT
  HEALPix template convention (``HPX_CONV = FGST-TEMPLATE``), read by gammapy's ``Map.read``, by
  ``healpy.read_map(path, field=None)`` and by :func:`~gammapy_cocoons.dge.read_dge`; pixels
  outside a partial cube hold healpy's ``UNSEEN``.

Every format reads back with :func:`~gammapy_cocoons.dge.read_dge` (tested round trips).
"""
import logging
from pathlib import Path

import numpy as np
import astropy.units as u
from astropy.io import fits
from gammapy.maps import HpxGeom, Map, MapAxis, WcsGeom
from gammapy.modeling.models import SkyModel

from ._files import check_outputs, publish

__all__ = ["make_cube", "write_cube", "CUBE_FORMATS", "INTENSITY_UNIT"]

log = logging.getLogger(__name__)

CUBE_FORMATS = ("gadf", "fermi", "healpix")
INTENSITY_UNIT = u.Unit("cm-2 s-1 TeV-1 sr-1")


def _energy_axis(geom):
    for name in ("energy_true", "energy"):
        if name in geom.axes.names:
            return geom.axes[name]
    raise ValueError("geom must have an energy axis ('energy_true'), e.g. MapAxis.from_energy_bounds(..., name='energy_true')")


def make_cube(sky_model, geom, progress=None):
    """Mean intensity of ``sky_model`` in every pixel of ``geom`` [cm-2 s-1 TeV-1 sr-1].

    Parameters
    ----------
    sky_model : `~gammapy.modeling.models.SkyModel`
        Model with spectral and spatial parts (e.g. cocoons, a DGE template).
    geom : `~gammapy.maps.WcsGeom` or `~gammapy.maps.HpxGeom`
        Geometry with one energy axis; the cube is evaluated at the axis nodes (centres).
    progress : bool or None
        Progress bar for the pixel integrals (None: only for large maps on a terminal).

    Returns
    -------
    `~gammapy.maps.Map`
        Same geometry, axis named ``energy_true``, unit cm-2 s-1 TeV-1 sr-1. The sum of
        intensity x pixel solid angle is the model's flux in the map.
    """
    if not isinstance(sky_model, SkyModel):
        raise TypeError(f"sky_model must be a gammapy SkyModel, got {type(sky_model).__name__}")
    if not isinstance(geom, (WcsGeom, HpxGeom)):
        raise TypeError(f"geom must be a WcsGeom or HpxGeom (for regions use RegionFluxSpectralModel), "
                        f"got {type(geom).__name__}")
    if sky_model.spatial_model is None:
        raise ValueError("sky_model needs a spatial model to make a sky template")
    axis = _energy_axis(geom)
    if len(geom.axes) != 1:
        raise ValueError(f"geom must have exactly one (energy) axis, got {geom.axes.names}")
    if axis.name != "energy_true":
        axis = axis.copy(name="energy_true")
        geom = geom.to_image().to_cube([axis])
    energy = axis.center
    spectrum = sky_model.spectral_model(energy).reshape((-1,) + (1,) * (len(geom.data_shape) - 1))
    integrals = _spatial_integrals(sky_model.spatial_model, geom, progress)
    omega = geom.to_image().solid_angle()
    scale = (spectrum.unit * integrals.unit / omega.unit).to(INTENSITY_UNIT)
    # spectrum x integrals / omega in place in the integrals' own (new) array: one cube in memory
    data = integrals.value
    if data.shape != geom.data_shape or data.dtype != np.float64 or not data.flags.writeable:
        data = np.array(np.broadcast_to(data, geom.data_shape), dtype=np.float64)
    data *= spectrum.value
    data /= omega.value
    if scale != 1.0:
        data *= scale
    return Map.from_geom(geom, data=data, unit=INTENSITY_UNIT)


def _accepts_progress(spatial_model):
    import inspect

    return "progress" in inspect.signature(spatial_model.integrate_geom).parameters


def _spatial_integrals(spatial, geom, progress=None):
    """Pixel integrals of a spatial model on ``geom`` (shape of geom.data_shape, unit sr x model)."""
    if _accepts_progress(spatial):  # the package's own models integrate WCS and HEALPix exactly
        return spatial.integrate_geom(geom, progress=progress).quantity
    from .models.region import _template_energy_axis

    nodes = _template_energy_axis(spatial)
    if nodes is not None:
        return _node_interpolated_integrals(spatial, geom, nodes.center)
    return _plain_integrals(spatial, geom)


def _plain_integrals(spatial, geom):
    if not geom.is_hpx:
        return spatial.integrate_geom(geom).quantity
    # gammapy's integrate_geom is WCS-only: on HEALPix, the value at the pixel centre x its solid angle
    from astropy.coordinates import SkyCoord

    image = geom.to_image()
    coords = image.get_coord()
    sky = SkyCoord(coords.lon, coords.lat, frame=image.frame).transform_to(spatial.frame)
    lon, lat = sky.spherical.lon, sky.spherical.lat
    if spatial.is_energy_dependent:
        energy = _energy_axis(geom).center.reshape((-1,) + (1,) * lon.ndim)
        values = spatial(lon, lat, energy=energy)
    else:
        values = spatial(lon, lat) * np.ones((_energy_axis(geom).nbin,) + (1,) * lon.ndim)
    return values * image.solid_angle()


def _node_interpolated_integrals(spatial, geom, nodes):
    """Integrals at the template's own energies, interpolated log-log in energy between them.

    gammapy interpolates template maps linearly in value between energies, which biases a
    power law between nodes by up to a few per cent; a cube at the nodes has no such error.
    """
    energy = _energy_axis(geom).center
    x, xn = np.log(energy.to_value("TeV")), np.log(nodes.to_value("TeV"))
    if np.any(x < xn[0] - 1e-9) or np.any(x > xn[-1] + 1e-9):
        raise ValueError(f"geom energies {energy.min():.3g} - {energy.max():.3g} are outside the template's "
                         f"{nodes[0]:.3g} - {nodes[-1]:.3g}")
    lower = np.clip(np.searchsorted(xn, x, side="right") - 1, 0, xn.size - 2)
    needed = np.unique(np.concatenate([lower, lower + 1]))
    node_axis = MapAxis.from_nodes(nodes[needed], name="energy_true", interp="log")
    values = _plain_integrals(spatial, geom.to_image().to_cube([node_axis]))
    position = {node: i for i, node in enumerate(needed)}
    lo = values[[position[i] for i in lower]]
    hi = values[[position[i] for i in lower + 1]]
    weight = ((x - xn[lower]) / (xn[lower + 1] - xn[lower])).reshape((-1,) + (1,) * (values.ndim - 1))
    positive = (lo > 0) & (hi > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_mix = np.exp((1 - weight) * np.log(np.where(positive, lo.value, 1.0))
                         + weight * np.log(np.where(positive, hi.value, 1.0)))
    linear = (1 - weight) * lo.value + weight * hi.value
    return np.where(positive, log_mix, linear) * values.unit


def write_cube(cube, path, format="gadf", overwrite=False):
    """Write a cube from :func:`make_cube` to FITS.

    Parameters
    ----------
    cube : `~gammapy.maps.Map`
        Intensity cube with one energy axis.
    path : str or `~pathlib.Path`
        Output file. An existing file is never replaced unless ``overwrite=True``; the file
        is written to a temporary name in the same directory and published atomically
        (:func:`gammapy_cocoons._files.publish`).
    format : {"gadf", "fermi", "healpix"}
        See the module documentation. "fermi" needs a Galactic CAR WCS cube, "healpix" a
        Galactic HEALPix cube.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    `~pathlib.Path`
        The written file.
    """
    if not isinstance(cube, Map):
        raise TypeError(f"cube must be a gammapy Map (from make_cube), got {type(cube).__name__}")
    if format not in CUBE_FORMATS:
        raise ValueError(f"format must be one of {CUBE_FORMATS}, got {format!r}")
    path = Path(path)
    check_outputs([path], overwrite)
    axis = _energy_axis(cube.geom)
    try:
        cube.unit.to(INTENSITY_UNIT)  # checked, not converted: no copy of the cube for "gadf"
    except u.UnitConversionError:
        raise u.UnitConversionError(f"cube must be an intensity (cm-2 s-1 TeV-1 sr-1), got unit '{cube.unit}'") from None

    if format == "gadf":
        hdulist = cube.to_hdulist(format="gadf")
    elif format == "fermi":
        hdulist = _fermi_hdulist(cube, axis)
    else:
        intensity = cube.quantity if cube.unit == INTENSITY_UNIT else cube.quantity.to(INTENSITY_UNIT)
        hdulist = _healpix_hdulist(cube, axis, intensity)

    publish(path, lambda temporary: hdulist.writeto(temporary, overwrite=True), overwrite)
    log.info("wrote %s cube %s", format, path)
    return path


def _fermi_hdulist(cube, axis):
    geom = cube.geom
    if geom.is_hpx or geom.frame != "galactic" or geom.projection != "CAR":
        raise ValueError(
            "format='fermi' needs a Galactic CAR WCS cube (the Fermi-LAT map-cube convention); "
            f"got {'HEALPix' if geom.is_hpx else geom.projection} in frame {geom.frame!r}"
        )
    energy_mev = MapAxis.from_nodes(axis.center.to("MeV"), name="energy", interp="log")
    fermi_geom = geom.to_image().to_cube([energy_mev])
    # converted energy by energy into single precision: half a cube more in memory, not two cubes
    scale = cube.unit.to("cm-2 s-1 MeV-1 sr-1")
    data = np.empty(cube.data.shape, dtype=np.float32)
    for i, plane in enumerate(cube.data):
        data[i] = plane * scale
    fermi = Map.from_geom(fermi_geom, data=data, unit="cm-2 s-1 MeV-1 sr-1")
    return fermi.to_hdulist(format="fgst-template")


def _healpix_hdulist(cube, axis, intensity):
    import healpy as hp

    geom = cube.geom
    if not geom.is_hpx or geom.frame != "galactic":
        raise ValueError("format='healpix' needs a HEALPix cube in the galactic frame (make_cube on an HpxGeom)")
    nside = int(np.squeeze(geom.nside))
    npix = hp.nside2npix(nside)
    ipix = geom.to_image().get_idx(flat=True)[0]
    if not geom.nest:
        ring = ipix
    else:
        ring = hp.nest2ring(nside, ipix)
    values = intensity.to_value(INTENSITY_UNIT).reshape(axis.nbin, -1)
    columns = []
    for i in range(axis.nbin):
        full = np.full(npix, hp.UNSEEN)
        full[ring] = values[i]
        columns.append(fits.Column(name=f"ENERGY{i + 1}", format="D", unit=INTENSITY_UNIT.to_string("fits"), array=full))
    sky = fits.BinTableHDU.from_columns(columns, name="SKYMAP")
    sky.header.update({
        "PIXTYPE": ("HEALPIX", "HEALPIX pixelisation"),
        "ORDERING": ("RING", "pixel ordering scheme"),
        "COORDSYS": ("G", "Galactic"),
        "NSIDE": (nside, "resolution parameter"),
        "FIRSTPIX": 0,
        "LASTPIX": npix - 1,
        "INDXSCHM": ("IMPLICIT", "indexing: implicit or explicit"),
        "OBJECT": ("FULLSKY", "sky coverage"),
        "BUNIT": INTENSITY_UNIT.to_string("fits"),
        "HPX_CONV": ("FGST-TEMPLATE", "gammapy's name of this HEALPix convention"),
        "BANDSHDU": ("ENERGIES", "energies of the columns"),
    })
    energies = fits.BinTableHDU.from_columns(
        [fits.Column(name="ENERGY", format="D", unit="MeV", array=axis.center.to_value("MeV"))], name="ENERGIES"
    )
    return fits.HDUList([fits.PrimaryHDU(), sky, energies])
