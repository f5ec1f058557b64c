"""DGE readers: HERMES HEALPix cubes and gammapy map cubes as SkyModels."""
from pathlib import Path

import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import SkyModel
from regions import CircleSkyRegion

from gammapy_cocoons import LHAASO_INNER, CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
from gammapy_cocoons.dge import read_dge, read_hermes_cube
from gammapy_cocoons.templates import make_cube, write_cube

hp = pytest.importorskip("healpy")

EXAMPLE = (
    Path(__file__).parents[2] / "shared" / "data" / "models" / "hermes_format_example"
    / "hermes-VariableMin-pi0-Htot_CMZ_nside256.fits.gz"
)
pytestmark = pytest.mark.filterwarnings("ignore:Map has NaN values")


def _hermes_file(path, values_per_energy, energies_gev, nside, unit="GeV^-1 m^-2 s^-1 sr^-1", ordering="RING",
                 coordsys="G", bad=None):
    """Write a synthetic file in the HERMES layout (one binary table per energy, ENERGY in J)."""
    hdus = [fits.PrimaryHDU()]
    for values, energy in zip(values_per_energy, energies_gev):
        column = fits.Column(name="TFLOAT", format="1E", unit=unit, array=np.asarray(values, np.float32))
        hdu = fits.BinTableHDU.from_columns([column], name="xtension")
        hdu.header.update({
            "PIXTYPE": "HEALPIX", "INDXSCHM": "IMPLICIT", "ORDERING": ordering, "COORDSYS": coordsys,
            "NSIDE": nside, "FIRSTPIX": 0, "LASTPIX": 12 * nside**2 - 1,
            "ENERGY": (energy * u.GeV).to_value(u.J),
        })
        if unit is None:
            hdu.header.remove("TUNIT1", ignore_missing=True)
        if bad is not None:
            hdu.header["BAD_DATA"] = bad
            hdu.header["OBJECT"] = "PARTIAL"
        hdus.append(hdu)
    fits.HDUList(hdus).writeto(path)
    return path


@pytest.mark.skipif(not EXAMPLE.exists(), reason="shared example file not present")
def test_example_agrees_with_gammapys_hermes_reader():
    from gammapy.modeling.models.utils import read_hermes_cube as gammapy_reader

    model = read_dge(EXAMPLE)
    reference = gammapy_reader(EXAMPLE)
    cube = model.spatial_model.map
    assert u.allclose(cube.geom.axes["energy_true"].center, reference.geom.axes["energy_true"].center, rtol=1e-12)
    valid = reference.data > -1e29  # gammapy keeps the BAD_DATA sentinel
    assert np.allclose(cube.quantity.to_value(reference.unit)[valid], reference.data[valid], rtol=1e-6)
    assert np.all(np.isnan(cube.data[~valid]))
    coords = SkyCoord([0.0, 1.0, -1.5], [0.0, 0.5, -0.3], unit="deg", frame="galactic")
    ours = model.spatial_model(coords.l, coords.b, energy=1 * u.GeV).to_value(reference.unit)
    theirs = reference.interp_by_coord({"skycoord": coords, "energy_true": 1 * u.GeV})
    assert np.allclose(ours, theirs, rtol=1e-6)
    assert model.spectral_model.norm.value == 1 and model.name.startswith("hermes-VariableMin")


def test_synthetic_hermes_full_sky_units_and_sorting(tmp_path):
    nside = 8
    npix = hp.nside2npix(nside)
    theta, phi = hp.pix2ang(nside, np.arange(npix))
    energies = [100.0, 1.0, 10.0]  # unsorted on purpose
    maps = [1e-4 * e**-2.7 * (1 + np.cos(theta) ** 2) for e in energies]
    path = _hermes_file(tmp_path / "synthetic.fits", maps, energies, nside)
    model = read_dge(path)
    cube = model.spatial_model.map
    assert u.allclose(cube.geom.axes["energy_true"].center, [1, 10, 100] * u.GeV)
    pixel = 100
    lon, lat = np.degrees(phi[pixel]), 90 - np.degrees(theta[pixel])
    for energy in (1.0, 10.0, 100.0):
        value = model.evaluate(lon * u.deg, lat * u.deg, energy * u.GeV)
        expected = 1e-4 * energy**-2.7 * (1 + np.cos(theta[pixel]) ** 2) * u.Unit("GeV-1 m-2 s-1 sr-1")
        assert u.isclose(value, expected, rtol=1e-5)  # float32 file; pixel centre, no interpolation error


def test_synthetic_hermes_nested_partial(tmp_path):
    nside = 8
    npix = hp.nside2npix(nside)
    ring = np.arange(npix, dtype=float)
    nested_values = ring[hp.nest2ring(nside, np.arange(npix))]  # value = ring index, stored NESTED
    bad = -1.6375e30
    partial = np.where(nested_values < 300, nested_values + 1.0, bad)
    path = _hermes_file(tmp_path / "partial.fits", [partial, 2 * partial], [1.0, 2.0], nside,
                        ordering="NESTED", bad=bad)
    cube = read_hermes_cube(path)
    assert cube.geom.nest
    values = cube.data[0]
    assert np.isnan(values).sum() == npix - 300
    # NEST pixel p holds ring index ring(p) + 1 where valid
    nest_index = cube.geom.to_image().get_idx(flat=True)[0]  # global NEST indices of the data
    expected = hp.nest2ring(nside, nest_index) + 1.0
    valid = np.isfinite(values)
    assert np.allclose(values[valid], expected[valid])


def test_region_flux_of_a_constant_map_is_intensity_times_solid_angle(tmp_path):
    nside = 64
    value = 3e-6  # GeV-1 m-2 s-1 sr-1
    path = _hermes_file(tmp_path / "flat.fits", [np.full(hp.nside2npix(nside), value)] * 2, [1.0, 1000.0], nside)
    model = read_dge(path)
    inner = RegionFluxSpectralModel(model, region=LHAASO_INNER)
    flux = inner([2.0, 500.0] * u.GeV)
    expected = value * u.Unit("GeV-1 m-2 s-1 sr-1") * inner.solid_angle()
    assert u.allclose(flux, expected, rtol=1e-3)
    assert inner.solid_angle().to_value("sr") == pytest.approx(0.33465, rel=1e-4)


def test_region_beyond_a_partial_map_is_refused(tmp_path):
    nside = 16
    npix = hp.nside2npix(nside)
    lon, lat = hp.pix2ang(nside, np.arange(npix), lonlat=True)
    values = np.where(np.abs(lat) < 10, 1e-6, -1.6375e30)
    path = _hermes_file(tmp_path / "band.fits", [values, values], [1.0, 10.0], nside, bad=-1.6375e30)
    model = read_dge(path)
    inside = CircleSkyRegion(SkyCoord(30, 0, unit="deg", frame="galactic"), 3 * u.deg)
    assert np.isfinite(RegionFluxSpectralModel(model, region=inside)(3 * u.GeV))
    beyond = CircleSkyRegion(SkyCoord(30, 12, unit="deg", frame="galactic"), 5 * u.deg)
    with pytest.raises(ValueError, match="coverage"):
        RegionFluxSpectralModel(model, region=beyond)(3 * u.GeV)


def test_fermi_and_gadf_cubes_read_back(tmp_path):
    axis = MapAxis.from_energy_bounds("1 GeV", "1 TeV", 3, name="energy_true")
    sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="c")
    cube = make_cube(sky, WcsGeom.create(skydir=(0, 0), width=(40, 10), binsz=0.5, frame="galactic", axes=[axis]))
    for fmt in ("fermi", "gadf"):
        model = read_dge(write_cube(cube, tmp_path / f"{fmt}.fits", format=fmt))
        assert u.allclose(model.evaluate_geom(cube.geom), cube.quantity, rtol=1e-5)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="filename"):
        read_dge(tmp_path / "missing.fits")
    text = tmp_path / "notes.fits"
    text.write_text("not a fits file")
    with pytest.raises(ValueError, match="FITS"):
        read_dge(text)
    table = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("X", "D", array=[1.0])])]).writeto(table)
    with pytest.raises(ValueError, match="unknown DGE layout"):
        read_dge(table)
    nside = 4
    no_unit = _hermes_file(tmp_path / "nounit.fits", [np.ones(12 * nside**2)], [1.0], nside, unit=None)
    with pytest.raises(ValueError, match="unit"):
        read_dge(no_unit)
    counts = _hermes_file(tmp_path / "counts.fits", [np.ones(12 * nside**2)], [1.0], nside, unit="count")
    with pytest.raises(u.UnitConversionError, match="intensity"):
        read_dge(counts)
    image = tmp_path / "image.fits"
    Map.create(skydir=(0, 0), width=2, binsz=1, frame="galactic", unit="cm-2 s-1 sr-1").write(image)
    with pytest.raises(ValueError, match="energy axis"):
        read_dge(image)


@pytest.mark.parametrize("value", [-1e-9, np.inf, -np.inf])
def test_negative_or_infinite_intensities_are_refused(tmp_path, value):
    """Issue 24 item 3: a cube with negative or infinite intensities was read and integrated (NaN,
    the pixels without data of a partial map, stays allowed)."""
    nside = 4
    values = np.full(12 * nside**2, 1e-6)
    values[5], values[7] = value, np.nan
    path = _hermes_file(tmp_path / "bad.fits", [values, values], [1.0, 10.0], nside)
    with pytest.raises(ValueError, match="bad.fits: 2 of .* negative or infinite"):
        read_dge(path)


def test_a_cube_without_emission_is_refused(tmp_path):
    """An all-zero cube was read, and a fit on it reported success with the DGE norm at its prior
    (the issue-24 fuzz run); zeros with pixels without data too."""
    nside = 4
    values = np.zeros(12 * nside**2)
    values[3] = np.nan
    path = _hermes_file(tmp_path / "zero.fits", [values, values], [1.0, 10.0], nside)
    with pytest.raises(ValueError, match="zero.fits: every cube value is zero"):
        read_dge(path)


@pytest.mark.parametrize("coordsys", ["G", "C"])
def test_hermes_cubes_in_any_frame_integrate_regions_exactly(tmp_path, coordsys):
    """Issue 24 item 1: a constant HERMES cube in the celestial frame (COORDSYS = C) gives intensity x
    solid angle over a Galactic box near the pole and the LHAASO region (2-8x off before)."""
    from regions import RectangleSkyRegion

    value = 3e-6  # GeV-1 m-2 s-1 sr-1
    path = _hermes_file(tmp_path / "flat.fits", [np.full(hp.nside2npix(16), value)] * 2, [1.0, 1000.0], 16,
                        coordsys=coordsys)
    model = read_dge(path)
    for region in (LHAASO_INNER, RectangleSkyRegion(SkyCoord(30, 80, unit="deg", frame="galactic"),
                                                     40 * u.deg, 10 * u.deg)):
        flux = RegionFluxSpectralModel(model, region=region)
        expected = value * u.Unit("GeV-1 m-2 s-1 sr-1") * flux.solid_angle()
        assert u.allclose(flux([2.0, 500.0] * u.GeV), expected, rtol=2e-5)  # 3.7 deg pixels: 1e-5


def test_spectrum_and_fit_refuse_a_region_beyond_a_users_cube(tmp_path):
    """Issue 24 item 2: a cube that covers part of the region is refused with the uncovered fraction
    (spectrum --dge FILE wrote dge = 0 and exited 0; the fit 'succeeded' with a norm of 1e-5)."""
    from click.testing import CliRunner

    from gammapy_cocoons.analysis.fitting import build_lhaaso_fit
    from gammapy_cocoons.cli import main

    axis = MapAxis.from_energy_bounds("10 GeV", "1 PeV", 3, name="energy_true")
    geom = WcsGeom.create(skydir=(40, 0), width=(50, 10), binsz=1.0, frame="galactic", axes=[axis])
    path = tmp_path / "part.fits"
    Map.from_geom(geom, data=np.full(geom.data_shape, 1e-12), unit="cm-2 s-1 TeV-1 sr-1").write(path)
    out = tmp_path / "s.ecsv"
    result = CliRunner().invoke(main, ["spectrum", "--region", "lhaaso-inner", "--dge", str(path), "--n-energies", "3",
                                       "--output", str(out)])
    assert result.exit_code == 2 and "%" in result.output and "coverage" in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()
    with pytest.raises(ValueError, match=r"beyond the map's coverage: 5\d(\.\d+)? %"):
        build_lhaaso_fit(datasets=("lhaaso-km2a-2023-inner",), dge=str(path))
