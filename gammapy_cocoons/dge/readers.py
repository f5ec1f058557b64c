"""Readers for published diffuse-emission (DGE) cubes, as gammapy SkyModels.

Supported layouts:

* HERMES HEALPix cubes (Dundovic et al. 2021), the layout of the De la Torre Luque et al. (2023)
  maps: an empty primary HDU and one binary table per energy, a single column with ``TUNIT1``
  (e.g. GeV^-1 m^-2 s^-1 sr^-1), the energy in the header key ``ENERGY`` in joules, HEALPix
  keys ``NSIDE``, ``ORDERING``, ``COORDSYS`` and, for partial skies, ``BAD_DATA`` pixels;
* anything gammapy's ``Map.read`` reads with an energy axis and an intensity unit: Fermi-LAT map
  cubes (``ENERGIES`` extension), gadf WCS or HEALPix cubes in any frame and projection, and every
  format :func:`gammapy_cocoons.templates.write_cube` writes (gadf, fermi, healpix; healpy's
  ``UNSEEN`` marks pixels without data).

The model is ``TemplateSpatialModel(cube, normalize=False)`` x ``PowerLawNormSpectralModel``;
pixels without data (the sentinel of a partial HERMES sky) become NaN, so predictions outside
the map's coverage are NaN rather than zero.
"""
import logging
from pathlib import Path

import numpy as np
import astropy.units as u
from astropy.io import fits
from gammapy.maps import HpxGeom, Map, MapAxis
from gammapy.modeling.models import PowerLawNormSpectralModel, TemplateSpatialModel

from ..models.sky import DeclaredUnitSkyModel

__all__ = ["read_dge", "read_hermes_cube", "read_map_cube"]

log = logging.getLogger(__name__)

_INTENSITY = u.Unit("cm-2 s-1 MeV-1 sr-1")
_FRAMES = {"G": "galactic", "C": "icrs", "Q": "icrs"}
#: healpy's UNSEEN; also used by HERMES for missing pixels when BAD_DATA is absent
_UNSEEN = -1.6375e30


def _intensity_unit(text, where):
    if text is None or not str(text).strip():
        raise ValueError(f"{where}: no unit given; a DGE cube needs an intensity unit such as GeV-1 cm-2 s-1 sr-1")
    try:
        unit = u.Unit(str(text).replace("^", "").replace("**", ""), format="generic")
    except ValueError:
        raise ValueError(f"{where}: cannot read the unit {text!r}") from None
    if not unit.is_equivalent(_INTENSITY):
        raise u.UnitConversionError(f"{where}: unit {text!r} is not an intensity (energy-1 area-1 time-1 sr-1)")
    return unit


def _is_hermes(hdulist):
    if len(hdulist) < 2:
        return False
    return all(
        isinstance(hdu, fits.BinTableHDU) and hdu.header.get("PIXTYPE") == "HEALPIX" and "ENERGY" in hdu.header
        for hdu in hdulist[1:]
    )


def read_hermes_cube(filename):
    """A HERMES HEALPix cube as a gammapy `~gammapy.maps.HpxNDMap` (energy_true axis, NaN = no data).

    Energies are read from each HDU's ``ENERGY`` key (joules) and sorted; the unit from ``TUNIT1``.
    """
    path = Path(filename)
    with fits.open(path) as hdulist:
        if not _is_hermes(hdulist):
            raise ValueError(f"{path}: not a HERMES cube (binary tables with PIXTYPE=HEALPIX and ENERGY keys)")
        layers, energies, unit, geometry = [], [], None, None
        for index, hdu in enumerate(hdulist[1:], start=1):
            header = hdu.header
            where = f"{path.name} HDU {index}"
            this_unit = _intensity_unit(header.get("TUNIT1", header.get("BUNIT")), where)
            nside = int(header["NSIDE"])
            ordering = str(header.get("ORDERING", "RING")).strip().upper()
            frame = _FRAMES.get(str(header.get("COORDSYS", "G")).strip().upper()[:1])
            if frame is None:
                raise ValueError(f"{where}: unknown COORDSYS {header.get('COORDSYS')!r}")
            this = (nside, ordering, frame)
            if geometry is not None and this != geometry:
                raise ValueError(f"{where}: HEALPix layout {this} differs from HDU 1 {geometry}")
            geometry = this
            unit = this_unit if unit is None else unit
            values = np.asarray(hdu.data.field(0), dtype=np.float32).ravel()
            if values.size != 12 * nside**2:
                raise ValueError(f"{where}: {values.size} pixels for NSIDE={nside} (implicit full-sky indexing expected)")
            bad = float(header.get("BAD_DATA", _UNSEEN))
            sentinel = np.isclose(values, bad, rtol=1e-6) | (np.isfinite(values) & (values <= -1e30))
            values = np.where(sentinel, np.nan, values)  # -inf is damage, refused below, not "no data"
            layers.append(values * np.float32((1 * this_unit).to_value(unit)))
            energy = header["ENERGY"]
            energies.append(float(energy))
    energies = (np.array(energies) * u.J).to(u.GeV)
    order = np.argsort(energies)
    if np.any(np.diff(energies[order]) <= 0):
        raise ValueError(f"{path}: repeated energies in the ENERGY keys")
    nside, ordering, frame = geometry
    axis = MapAxis.from_nodes(energies[order], name="energy_true", interp="log")
    geom = HpxGeom.create(nside=nside, nest=ordering.startswith("NEST"), frame=frame, axes=[axis])
    data = np.stack([layers[i] for i in order])
    return Map.from_geom(geom, data=data, unit=unit)


def read_map_cube(filename):
    """Any map cube gammapy reads (Fermi map cube, gadf WCS/HEALPix) with energy and intensity."""
    path = Path(filename)
    try:
        cube = Map.read(path)
    except Exception as error:  # gammapy raises many types for unknown layouts
        raise ValueError(f"{path}: unknown DGE layout ({type(error).__name__}: {error})") from None
    names = cube.geom.axes.names
    if "energy" in names and "energy_true" not in names:
        cube = cube.copy(geom=cube.geom.rename_axes(["energy"], ["energy_true"]))
    if cube.geom.axes.names != ["energy_true"]:
        raise ValueError(f"{path}: a DGE cube needs exactly one energy axis, got axes {names}")
    unit = cube.unit if str(cube.unit) else None
    _intensity_unit(unit, path.name)
    # healpy's UNSEEN marks pixels without data (a partial HEALPix cube of write_cube): NaN, like HERMES
    unseen = np.isclose(cube.data, _UNSEEN, rtol=1e-6)
    if np.any(unseen):
        cube = cube.copy(data=np.where(unseen, np.nan, cube.data))
    return cube


def _check_intensities(data, path):
    """Refuse negative or infinite intensities (NaN marks pixels without data): a DGE is a sum of
    emission, never negative, and an infinity would make every region flux infinite."""
    bad = np.isinf(data) | (data < 0)
    if np.any(bad):
        first = data[bad].flat[0]
        raise ValueError(f"{path}: {int(bad.sum())} of {data.size} cube values are negative or infinite (first: "
                         f"{first:g}); a DGE intensity must be >= 0 (NaN marks pixels without data)")
    with np.errstate(invalid="ignore"):
        if not np.any(data > 0):
            # a fit would leave its norm at the prior and call that a DGE (found by the issue-24 fuzz run)
            raise ValueError(f"{path}: every cube value is zero or without data; a DGE cube must hold emission "
                             "somewhere")


def read_dge(filename, name=None):
    """A published DGE cube as a gammapy `SkyModel` (template x PowerLawNormSpectralModel).

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        HERMES HEALPix cube or any map cube gammapy reads (see the module documentation).
    name : str, optional
        Model name (default: the file name without extensions).

    Returns
    -------
    `~gammapy.modeling.models.SkyModel`
        ``spatial_model`` is a ``TemplateSpatialModel(normalize=False)`` holding the intensity
        cube (energy_true axis); ``spectral_model`` a ``PowerLawNormSpectralModel`` (norm 1).
        Use it with :class:`~gammapy_cocoons.RegionFluxSpectralModel` for region fluxes.
    """
    path = Path(filename)
    if not path.exists():
        raise FileNotFoundError(f"filename: {str(path)!r} does not exist")
    try:
        with fits.open(path) as hdulist:
            hermes = _is_hermes(hdulist)
    except OSError as error:
        raise ValueError(f"{path}: not a FITS file ({error})") from None
    cube = read_hermes_cube(path) if hermes else read_map_cube(path)
    coverage = np.isfinite(cube.data[0])
    if not np.any(coverage):
        raise ValueError(f"{path}: the cube has no valid pixels")
    _check_intensities(cube.data, path)
    log.info("read DGE cube %s: %s, %d energies, %.0f %% of pixels valid", path.name,
             "HERMES" if hermes else "map cube", cube.geom.axes[0].nbin, 100 * coverage.mean())
    spatial = TemplateSpatialModel(cube, normalize=False, filename=str(path))
    model_name = name or path.name.split(".")[0]
    return DeclaredUnitSkyModel(spectral_model=PowerLawNormSpectralModel(), spatial_model=spatial, name=model_name)
