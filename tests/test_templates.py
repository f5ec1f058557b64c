"""Sky templates: make_cube and write_cube (gadf, Fermi map cube, HEALPix)."""
import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from gammapy.maps import HpxGeom, Map, MapAxis, WcsGeom
from gammapy.modeling.models import PowerLawNormSpectralModel, SkyModel, TemplateSpatialModel
from regions import RectangleSkyRegion

from gammapy_cocoons import LHAASO_INNER, CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
from gammapy_cocoons.templates import INTENSITY_UNIT, make_cube, write_cube

hp = pytest.importorskip("healpy")


@pytest.fixture(scope="module")
def sky():
    """The paper's cocoons on its Eq. 7 target, like the ``fiducial`` engine they are checked against."""
    return SkyModel(spectral_model=CocoonSpectralModel(target="hydrogen"), spatial_model=CocoonSpatialModel(),
                    name="cocoons")


@pytest.fixture(scope="module")
def axis():
    return MapAxis.from_energy_bounds("10 GeV", "100 TeV", 4, name="energy_true")


@pytest.fixture(scope="module")
def wcs_cube(sky, axis):
    geom = WcsGeom.create(skydir=(70, 0), width=(110, 10), binsz=0.5, frame="galactic", proj="CAR", axes=[axis])
    return make_cube(sky, geom)


@pytest.fixture(scope="module")
def hpx_cube(sky, axis):
    return make_cube(sky, HpxGeom.create(nside=64, frame="galactic", axes=[axis], nest=True))


def _map_flux(cube):
    omega = cube.geom.to_image().solid_angle()
    return (cube.quantity * omega).reshape(cube.data.shape[0], -1).sum(axis=-1)


def test_wcs_cube_conserves_the_region_flux(sky, wcs_cube, axis, fiducial):
    assert wcs_cube.unit == INTENSITY_UNIT
    assert wcs_cube.geom.axes.names == ["energy_true"]
    expected = fiducial.flux(axis.center, region=LHAASO_INNER)
    assert u.allclose(_map_flux(wcs_cube), expected, rtol=1e-5)


def test_healpix_cube_conserves_the_all_sky_flux(hpx_cube, axis, fiducial):
    assert u.allclose(_map_flux(hpx_cube), fiducial.flux(axis.center), rtol=1e-4)


def test_full_sky_car_cube_conserves_the_all_sky_flux(sky, axis, fiducial):
    geom = WcsGeom.create(skydir=(0, 0), width=(360, 180), binsz=1.0, frame="galactic", proj="CAR", axes=[axis])
    cube = make_cube(sky, geom)
    assert u.allclose(_map_flux(cube), fiducial.flux(axis.center), rtol=1e-4)


def test_cube_pixels_are_averages_not_centre_values(sky, axis, fiducial):
    """On the plane a 0.5 deg pixel average differs from its centre value (the z0 cusp at b = 0);
    far from it, it does not."""
    geom = WcsGeom.create(skydir=(20, 0), width=(1, 30), binsz=0.5, frame="galactic", proj="CAR", axes=[axis])
    cube = make_cube(sky, geom)
    coords = geom.to_image().get_coord()
    centre = fiducial.sky_intensity(axis.center, coords.lon, coords.lat).to(INTENSITY_UNIT)
    ratio = (cube.quantity / centre).to_value("")
    lat = coords.lat.to_value("deg")
    assert np.allclose(ratio[:, np.abs(lat) > 10], 1.0, rtol=2e-3)
    assert np.all(np.abs(ratio[:, np.abs(lat) < 0.5] - 1) > 0.01)


def test_gadf_round_trip(wcs_cube, tmp_path):
    path = write_cube(wcs_cube, tmp_path / "cube.fits")
    back = Map.read(path)
    assert u.allclose(back.quantity, wcs_cube.quantity, rtol=1e-12)
    assert back.geom.axes["energy_true"] == wcs_cube.geom.axes["energy_true"]


def test_fermi_map_cube_convention(wcs_cube, tmp_path, axis):
    path = write_cube(wcs_cube, tmp_path / "fermi.fits", format="fermi")
    with fits.open(path) as hdul:
        primary = hdul[0]
        assert primary.header["CTYPE1"] == "GLON-CAR" and primary.header["CTYPE2"] == "GLAT-CAR"
        assert u.Unit(primary.header["BUNIT"]) == u.Unit("cm-2 s-1 MeV-1 sr-1")
        assert primary.data.shape == wcs_cube.data.shape
        energies = hdul["ENERGIES"].data["ENERGY"]
        assert hdul["ENERGIES"].columns["ENERGY"].unit == "MeV"
        assert np.allclose(energies, axis.center.to_value("MeV"), rtol=1e-12)
        expected = wcs_cube.quantity.to_value("cm-2 s-1 MeV-1 sr-1")
        assert np.allclose(primary.data, expected, rtol=1e-6)  # float32, as the Fermi cubes
    template = TemplateSpatialModel.read(path, normalize=False)
    coords = wcs_cube.geom.get_coord()
    values = template.evaluate_geom(wcs_cube.geom)
    assert u.allclose(values, wcs_cube.quantity, rtol=1e-5)
    assert coords.skycoord.frame.name == "galactic"


def test_healpix_format_reads_with_healpy(hpx_cube, tmp_path, axis):
    path = write_cube(hpx_cube, tmp_path / "hpx.fits", format="healpix")
    maps = hp.read_map(path, field=None, nest=False)
    assert maps.shape == (axis.nbin, hp.nside2npix(64))
    header = fits.getheader(path, 1)
    assert header["ORDERING"] == "RING" and header["COORDSYS"] == "G"
    # gammapy's cube is NEST: compare pixel by pixel through the sky positions
    ipix_nest = hpx_cube.geom.to_image().get_idx(flat=True)[0]
    ring = hp.nest2ring(64, ipix_nest)
    assert np.allclose(maps[:, ring], hpx_cube.quantity.to_value(INTENSITY_UNIT), rtol=1e-12)
    energies = fits.getdata(path, "ENERGIES")["ENERGY"]
    assert np.allclose(energies, axis.center.to_value("MeV"))


def test_partial_healpix_cube_marks_unseen(sky, axis, tmp_path):
    geom = HpxGeom.create(nside=32, frame="galactic", axes=[axis], region="DISK(30, 0, 10)")
    cube = make_cube(sky, geom)
    maps = hp.read_map(write_cube(cube, tmp_path / "part.fits", format="healpix"), field=None)
    seen = maps[0] != hp.UNSEEN
    assert seen.sum() == geom.to_image().data_shape[-1]


def test_template_model_from_exported_cube_reproduces_the_sky_model(sky, wcs_cube, tmp_path, axis):
    """DGE-like use: a TemplateSpatialModel x PowerLawNorm from the file gives the same intensities."""
    path = write_cube(wcs_cube, tmp_path / "dge_like.fits")
    template = SkyModel(
        spectral_model=PowerLawNormSpectralModel(),
        spatial_model=TemplateSpatialModel.read(path, normalize=False),
        name="template",
    )
    geom = wcs_cube.geom
    assert u.allclose(template.evaluate_geom(geom), wcs_cube.quantity, rtol=1e-10)
    # at the cube's energies the template's region flux equals the cocoons' to the
    # pixelisation of the 0.5 deg map (interpolated on a 0.05 deg grid of pixel centres)
    region = RectangleSkyRegion(SkyCoord(70, 0, unit="deg", frame="galactic"), 100 * u.deg, 8 * u.deg)
    energy = axis.center[1:3]
    from_template = RegionFluxSpectralModel(template, region=region)(energy)
    from_cocoons = RegionFluxSpectralModel(sky, region=region)(energy)
    assert u.allclose(from_template, from_cocoons, rtol=0.02)


def test_write_cube_refuses_to_overwrite_and_checks_input(wcs_cube, hpx_cube, tmp_path):
    path = tmp_path / "cube.fits"
    path.write_text("user data")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_cube(wcs_cube, path)
    assert path.read_text() == "user data"
    write_cube(wcs_cube, path, overwrite=True)
    assert Map.read(path).data.shape == wcs_cube.data.shape
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.fits"]  # no temporary left
    with pytest.raises(ValueError, match="format"):
        write_cube(wcs_cube, tmp_path / "x.fits", format="png")
    with pytest.raises(ValueError, match="healpix"):
        write_cube(wcs_cube, tmp_path / "x.fits", format="healpix")
    with pytest.raises(ValueError, match="fermi"):
        write_cube(hpx_cube, tmp_path / "x.fits", format="fermi")
    with pytest.raises(FileNotFoundError, match="directory"):
        write_cube(wcs_cube, tmp_path / "missing" / "x.fits")
    counts = Map.from_geom(wcs_cube.geom, unit="")
    with pytest.raises(u.UnitConversionError, match="intensity"):
        write_cube(counts, tmp_path / "y.fits")


def test_progress_bar_is_optional(sky, axis, capsys):
    geom = HpxGeom.create(nside=8, frame="galactic", axes=[axis])
    shown = make_cube(sky, geom, progress=True)
    assert "HEALPix pixels" in capsys.readouterr().err
    hidden = make_cube(sky, geom, progress=False)
    assert capsys.readouterr().err == ""
    assert np.array_equal(shown.data, hidden.data)


def test_make_and_write_cube_refuse_wrong_types(sky, wcs_cube, tmp_path):
    with pytest.raises(TypeError, match="sky_model"):
        make_cube(sky.spectral_model, wcs_cube.geom)
    with pytest.raises(TypeError, match="geom"):
        make_cube(sky, "0.1 deg")
    with pytest.raises(TypeError, match="cube"):
        write_cube(wcs_cube.data, tmp_path / "x.fits")


def test_make_cube_bad_geometry(sky):
    with pytest.raises(ValueError, match="energy"):
        make_cube(sky, WcsGeom.create(skydir=(0, 0), width=2, binsz=1, frame="galactic"))


def _power_law_template(index=2.7):
    """A HEALPix template whose energy dependence is an exact power law times a pixel pattern."""
    nodes = MapAxis.from_nodes([1, 10, 100] * u.TeV, name="energy_true", interp="log")
    geom = HpxGeom.create(nside=8, frame="galactic", axes=[nodes])
    pattern = 1 + np.arange(geom.to_image().npix[0])
    data = pattern[None, :] * (nodes.center.to_value("TeV") ** -index)[:, None]
    template = Map.from_geom(geom, data=data, unit=INTENSITY_UNIT)
    return SkyModel(spectral_model=PowerLawNormSpectralModel(),
                    spatial_model=TemplateSpatialModel(template, normalize=False), name="t"), pattern


@pytest.mark.parametrize("energy", [1.0, 3.7, 10.0, 55.0])
def test_healpix_template_on_healpix_interpolates_log_log(energy):
    """gammapy's integrate_geom is WCS-only and its template interpolation is linear in value;
    make_cube must give the exact power law between the template's energies."""
    sky, pattern = _power_law_template()
    axis = MapAxis.from_nodes([energy] * u.TeV, name="energy_true", interp="log")
    cube = make_cube(sky, HpxGeom.create(nside=8, frame="galactic", axes=[axis]))
    assert np.allclose(cube.data[0], pattern * energy**-2.7, rtol=1e-6)


def test_healpix_template_on_wcs_interpolates_log_log():
    sky, _ = _power_law_template()
    axis = MapAxis.from_nodes([1.0, 3.7] * u.TeV, name="energy_true", interp="log")
    cube = make_cube(sky, WcsGeom.create(skydir=(0, 0), width=(20, 10), binsz=1, frame="galactic", axes=[axis]))
    assert np.allclose(cube.data[1] / cube.data[0], 3.7**-2.7, rtol=1e-6)


def test_template_energies_outside_are_refused():
    sky, _ = _power_law_template()
    axis = MapAxis.from_nodes([0.5] * u.TeV, name="energy_true", interp="log")
    with pytest.raises(ValueError, match="outside the template"):
        make_cube(sky, HpxGeom.create(nside=8, frame="galactic", axes=[axis]))


def test_gammapy_model_in_another_frame_on_healpix():
    """A normalised ICRS Gaussian on a Galactic HEALPix grid integrates to 1 (frame transform)."""
    from gammapy.modeling.models import ConstantSpectralModel, GaussianSpatialModel

    gauss = GaussianSpatialModel(lon_0="83.6 deg", lat_0="22.0 deg", sigma="3 deg", frame="icrs")
    sky = SkyModel(spectral_model=ConstantSpectralModel(const="1 cm-2 s-1 TeV-1"), spatial_model=gauss, name="g")
    axis = MapAxis.from_nodes([1.0] * u.TeV, name="energy_true", interp="log")
    geom = HpxGeom.create(nside=256, frame="galactic", axes=[axis])
    cube = make_cube(sky, geom)
    total = (cube.quantity[0] * geom.to_image().solid_angle()).sum()
    assert total.to_value("cm-2 s-1 TeV-1") == pytest.approx(1.0, rel=1e-3)
    coords = geom.to_image().get_coord()
    brightest = np.argmax(cube.data[0])
    centre = SkyCoord(coords.lon.ravel()[brightest], coords.lat.ravel()[brightest], frame="galactic")
    assert centre.separation(SkyCoord(83.6, 22.0, unit="deg", frame="icrs")).deg < 0.3


@pytest.mark.parametrize("kind, fmt", [("car", "gadf"), ("car", "fermi"), ("hpx-galactic", "gadf"),
                                       ("hpx-icrs", "gadf"), ("hpx-galactic", "healpix"), ("hpx-partial", "healpix")])
def test_every_written_format_reads_back(sky, axis, tmp_path, kind, fmt):
    """Issue 24 item 12: what write_cube writes, gammapy's Map.read and read_dge read back (the HEALPix
    format was 'Could not identify HEALPIX convention' before), with the same region flux as the
    cube written (the region integral of a map is the same rule on either side); a region beyond
    a partial cube is refused."""
    from gammapy_cocoons.dge import read_dge
    from gammapy_cocoons.pixelweights import region_integral

    small = MapAxis.from_energy_bounds("1 TeV", "100 TeV", 2, name="energy_true")
    geom = {"car": WcsGeom.create(skydir=(70, 0), width=(40, 10), binsz=1.0, frame="galactic", axes=[small]),
            "hpx-galactic": HpxGeom.create(nside=16, frame="galactic", axes=[small]),
            "hpx-icrs": HpxGeom.create(nside=16, frame="icrs", nest=False, axes=[small]),
            "hpx-partial": HpxGeom.create(nside=16, frame="galactic", axes=[small], region="DISK(70, 0, 25)")}[kind]
    cube = make_cube(sky, geom)
    path = write_cube(cube, tmp_path / f"{kind}.fits", format=fmt)
    assert Map.read(path).data.shape[0] == small.nbin
    model = read_dge(path)
    region = RectangleSkyRegion(SkyCoord(70, 2, unit="deg", frame="galactic"), width=20 * u.deg, height=6 * u.deg)
    flux = RegionFluxSpectralModel(model, region=region)(small.center)
    rtol = 1e-9 if kind == "car" and fmt == "gadf" else 3e-7  # HEALPix columns and Fermi cubes are float32
    assert u.allclose(flux, region_integral(cube, region).to("cm-2 s-1 TeV-1"), rtol=rtol)
    if kind == "hpx-partial":
        beyond = RectangleSkyRegion(SkyCoord(100, 0, unit="deg", frame="galactic"), width=20 * u.deg, height=6 * u.deg)
        with pytest.raises(ValueError, match="coverage"):
            RegionFluxSpectralModel(model, region=beyond)(small.center)
