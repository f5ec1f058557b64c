"""The Dame et al. (2001) CO survey, X_CO and the survey's H2 columns in the DGE (dge/co.py)."""
import numpy as np
import pytest
import astropy.units as u

from gammapy_cocoons.dge.co import (
    DAME2001_COMPLETE_LATITUDE, X_CO_BOLATTO2013, co_survey, dame2001_co, survey_pixel_means, x_co_profile)
from gammapy_cocoons.dge.conventional import ConventionalDGE, default_model

pytestmark = pytest.mark.filterwarnings("ignore:The filename is not defined")


def test_dame2001_map_published_values_and_traps():
    """Check values of PROVENANCE.md (measured on the file by the data collection), the 40 duplicated
    columns beyond abs(l) = 180 dropped (they equal their counterparts) and NaN kept where not observed."""
    from importlib import resources

    from astropy.io import fits

    co = dame2001_co()
    assert co.data.shape == (561, 2880) and co.geom.frame == "galactic" and co.unit == u.Unit("K km s-1")
    for (l, b), expected in (((30.0, 0.0), 179.0), ((0.0, 0.0), 1406.0), ((209.0, -19.4), 180.0)):
        value = co.get_by_coord({"lon": l, "lat": b})[0]
        assert value == pytest.approx(expected, rel=0.01), (l, b)
    lon, lat = (c.to_value("deg") for c in co.geom.get_coord())
    for l0, expected in ((0.0, 324.0), (30.0, 86.0), (50.0, 34.0), (100.0, 2.6)):
        column = np.abs(np.mod(lon - l0 + 180, 360) - 180) < 0.01
        mean = np.nanmean(co.data[column & (np.abs(lat) <= 1.0)])
        assert mean == pytest.approx(expected, rel=0.05), l0
    assert np.isnan(co.data).mean() > 0.5  # not observed: most of the high latitudes
    path = resources.files("gammapy_cocoons").joinpath("data", "gas", "Wco_DHT2001_-180_180.fits.gz")
    with resources.as_file(path) as filename, fits.open(filename) as hdul:
        hdul.verify("silentfix")
        raw = hdul[0].data
    # raw columns 1-39 are l = 184.875 .. 180.125, the same sky as l = -175.125 .. -179.875 (2881-2919),
    # columns 2921-2959 (l = -180.125 .. -184.875) repeat l = 179.875 .. 175.125; l = +-185 are blank
    assert np.array_equal(raw[:, 1:40], raw[:, 2881:2920], equal_nan=True)
    assert np.array_equal(raw[:, 2921:2960], raw[:, 41:80], equal_nan=True)
    assert not np.any(np.isfinite(raw[:, [0, 2960]]))


def test_dame2001_molecular_columns_off_the_plane():
    """Dame et al. (2001, abstract): with X_CO = 1.8e20 the mean molecular column falls from ~3e20 cm-2
    at abs(b) = 5 deg to ~0.1e20 at 30 deg (their value includes the 2 % of CO outside the sampling)."""
    co = dame2001_co()
    lat = co.geom.get_coord().lat.to_value("deg")
    data = np.where(np.isnan(co.data), 0.0, co.data)  # complete at abs(b) < 32 deg
    at_5 = 1.8e20 * data[np.abs(np.abs(lat) - 5.0) < 0.6].mean()
    at_30 = 1.8e20 * data[np.abs(np.abs(lat) - 30.0) < 0.6].mean()
    assert at_5 == pytest.approx(3e20, rel=0.2)
    assert at_30 < 0.2e20
    assert DAME2001_COMPLETE_LATITUDE == 32.0


def test_x_co_profiles_and_bad_input():
    assert x_co_profile(X_CO_BOLATTO2013).local == 2e20
    assert x_co_profile(1.5e20 * u.Unit("cm-2 / (K km s-1)")).local == 1.5e20
    strong = x_co_profile("strong2004")  # Strong et al. 2004: 0.4, 0.6, 0.8, 1.5, 10 x 1e20
    assert np.allclose(strong(np.array([2.0, 4.0, 6.0, 8.5, 12.0])), [0.4e20, 0.6e20, 0.8e20, 1.5e20, 10e20],
                       rtol=1e-12, atol=0)
    for bad in (-1.0, np.nan, np.inf, "bolatto", 1.0 * u.K):
        with pytest.raises(ValueError, match="x_co"):
            x_co_profile(bad)


def test_survey_pixel_means_are_block_averages():
    """On a CAR grid aligned with the survey (0.5 deg = 4 x 4 survey pixels) the pixel means are the
    area-weighted block averages of the map; on HEALPix they conserve the survey's integral."""
    from gammapy.maps import HpxGeom, WcsGeom

    survey = co_survey("dame2001")
    # pixel edges half-way between survey pixel centres (multiples of 0.125 deg)
    geom = WcsGeom.create(skydir=(30.0625, 0.0625), width=(4.0, 2.0), binsz=0.5, frame="galactic", proj="CAR")
    means, covered = survey_pixel_means(survey, geom, lambda lon, lat: np.ones((1, np.size(lon))))
    co = dame2001_co()
    lon, lat = (c.to_value("deg") for c in co.geom.get_coord())
    values = np.where(np.isnan(co.data), 0.0, co.data)
    weights = np.cos(np.radians(lat))
    centre = geom.get_coord()
    for iy, ix in ((0, 0), (2, 5), (3, 7)):
        l0, b0 = centre.lon[iy, ix].to_value("deg"), centre.lat[iy, ix].to_value("deg")
        block = (np.abs(np.mod(lon - l0 + 180, 360) - 180) < 0.25) & (np.abs(lat - b0) < 0.25)
        assert np.count_nonzero(block) == 16
        expected = np.sum(values[block] * weights[block]) / np.sum(weights[block])
        assert means[0].reshape(geom.data_shape)[iy, ix] == pytest.approx(expected, rel=1e-3)
    assert np.all(covered == 1.0)
    hpx = HpxGeom.create(nside=32, nest=False, frame="galactic")
    means, covered = survey_pixel_means(survey, hpx, lambda lon, lat: np.ones((1, np.size(lon))))
    total = np.sum(survey.area[survey.emitting] * survey.value[survey.emitting])
    assert np.sum(means[0] * hpx.solid_angle().to_value("sr")) == pytest.approx(total, rel=0.02)


@pytest.fixture(scope="module")
def dge():
    return default_model("icetop")


@pytest.mark.parametrize("lon, lat", [(30.0, 0.0), (150.0, 1.0), (300.0, 5.0)])
def test_co_weights_against_a_direct_line_of_sight_integral(dge, lon, lat):
    """<f_j X_CO>_w at a node of the (l, abs(b)) grid against scipy.quad along the same line of sight,
    w the W_CO emission of the 3-D H2 model; <X_CO>_w is X_CO itself for a constant X_CO."""
    from scipy import integrate

    from gammapy_cocoons.dge.conventional import _CO_LAT, _CO_LON

    sea, gas = dge.sea, dge.gas
    l, b = np.radians(lon), np.radians(lat)
    r_sun, r_max, z_max = sea.source_distribution.r_sun, min(sea.halo_radius, gas.r_max, 20.0), 1.0
    d_exit = r_sun * np.cos(l) + np.sqrt(r_max**2 - (r_sun * np.sin(l)) ** 2)
    s_exit = min(d_exit / np.cos(b), z_max / abs(np.sin(b))) if lat else d_exit

    def emission(s, node):
        d, z = s * np.cos(b), s * np.sin(b)
        r = np.sqrt(r_sun**2 + d * d - 2 * r_sun * d * np.cos(l))
        shape = 1.0 if node is None else sea.node_shape(node, r, z)
        return float(shape * gas.h2(r, z))

    points = [p for p in (0.1, 0.3, 1.0, 2.0, 5.0, r_sun * np.cos(l) / np.cos(b)) if 0 < p < s_exit]

    def quad(node):
        return integrate.quad(emission, 0.0, s_exit, args=(node,), points=points, limit=1000, epsabs=0, epsrel=1e-5)[0]

    i, j = int(np.flatnonzero(_CO_LON == lon)[0]), int(np.flatnonzero(_CO_LAT == lat)[0])
    weights = dge.co_weights[:, i, j]
    assert weights[0] == pytest.approx(2e20, rel=1e-12)
    norm = quad(None)
    for node in (0, len(sea.rigidity_nodes) - 1):
        assert weights[1 + node] / 2e20 == pytest.approx(quad(node) / norm, rel=2e-3), node


def test_h2_columns_from_the_survey(dge):
    """Pixel columns = survey means of 2 <f_j X_CO>_w W_CO; where the CR density is ~1 (high
    latitude: the gas is local), 2 X_CO W_CO itself; X_CO scales them linearly; an X_CO(R) profile
    changes the inner and outer Galaxy in opposite directions."""
    from gammapy.maps import HpxGeom

    geom = HpxGeom.create(nside=32, nest=False, frame="galactic")
    h2, covered = dge.h2_columns(geom)
    plain = dge.survey_h2_columns(32)
    import healpy as hp

    lon, lat = hp.pix2ang(32, np.arange(hp.nside2npix(32)), lonlat=True)
    local = (np.abs(lat) > 15) & (np.abs(lat) < 30) & (plain > 1e20)
    ratio = h2[:, local] / plain[local]
    assert np.all((ratio > 0.9) & (ratio < 1.05))
    assert np.all(covered[np.abs(lat) < 30] == 1.0)
    double = ConventionalDGE("icetop", x_co=4e20)
    assert np.allclose(double.h2_columns(geom)[0], 2 * h2, rtol=1e-10, atol=0)
    radial = ConventionalDGE("icetop", x_co="strong2004").h2_columns(geom)[0]
    inner = (lon > 20) & (lon < 40) & (np.abs(lat) < 2)
    outer = (lon > 150) & (lon < 210) & (np.abs(lat) < 2)
    assert radial[0, inner].sum() < 0.5 * h2[0, inner].sum()  # X_CO(4-6 kpc) = 0.6e20
    assert radial[0, outer].sum() > 1.5 * h2[0, outer].sum()  # 1.5e20 to 9.5 kpc, 10e20 beyond


def test_co_survey_bad_input():
    from gammapy.maps import Map, WcsGeom

    with pytest.raises(ValueError, match="co_survey"):
        ConventionalDGE(co_survey="nanten")
    icrs = Map.from_geom(WcsGeom.create(skydir=(0, 0), width=2, binsz=0.5, frame="icrs"), unit="K km s-1")
    with pytest.raises(ValueError, match="co_survey.*Galactic"):
        ConventionalDGE(co_survey=icrs)
    kelvin = Map.from_geom(WcsGeom.create(skydir=(0, 0), width=2, binsz=0.5, frame="galactic"), unit="K")
    with pytest.raises(ValueError, match="co_survey.*unit"):
        ConventionalDGE(co_survey=kelvin)
    # a survey of l = 98-102 deg asked for a map of l = 300 deg: no data there
    patch = Map.from_geom(WcsGeom.create(skydir=(100, 0), width=4, binsz=0.5, frame="galactic"), unit="K km s-1")
    patch.data += 5.0
    dge = ConventionalDGE("icetop", co_survey=patch, dark_gas=None)
    with pytest.raises(ValueError, match="co_survey has no data"):
        dge.h2_columns(WcsGeom.create(skydir=(300, 0), width=4, binsz=0.5, frame="galactic"))
    for bad in (-2e20, np.nan):
        with pytest.raises(ValueError, match="x_co"):
            ConventionalDGE(x_co=bad)


def test_survey_pixel_means_add_like_bincounts():
    """The pixel sums (one sparse product for all rows) against per-row bincounts in sample order:
    the same additions, so equal to the last bit; given sample factors (a view of sample-major
    values, as the DGE keeps them) and a factor function alike."""
    from gammapy.maps import HpxGeom

    from gammapy_cocoons.dge.co import COSurvey, pixel_index

    full = co_survey("dame2001")
    part = slice(0, None, 13)  # a sample of the survey's pixels (all-sky, observed or not)
    survey = COSurvey("part", *(a[part] for a in (full.lon, full.lat, full.area, full.value)), full.lookup)
    geom = HpxGeom.create(nside=16, nest=False, frame="galactic")
    use = survey.emitting
    rng = np.random.default_rng(5)
    samples = rng.uniform(0.5, 2.0, (use.size, 3)).astype(np.float32)  # sample-major, as the DGE's

    def factors(lon, lat):
        return np.vstack([np.cos(np.radians(lat)), 1.0 + np.sin(np.radians(lon)) ** 2])

    flat = pixel_index(geom, survey.lon, survey.lat)
    area = np.bincount(flat, weights=survey.area, minlength=geom.npix[0])
    for given, rows in ((samples.T, samples.T), (None, factors(survey.lon[use], survey.lat[use]))):
        means, _ = survey_pixel_means(survey, geom, factors, given)
        weighted = rows * (survey.area[use] * survey.value[use])
        sums = np.array([np.bincount(flat[use], weights=w, minlength=geom.npix[0]) for w in weighted])
        with np.errstate(invalid="ignore", divide="ignore"):
            np.testing.assert_array_equal(means[:, area > 0], (sums / area)[:, area > 0])


def test_co_factors_in_chunks_equal_the_bilinear_formula(dge):
    """The survey directions' factors (row gathers in chunks) against the bilinear formula on the
    (l, abs(b)) grid written out, to the last bit, at more directions than one chunk holds."""
    from gammapy_cocoons.dge.conventional import _CO_LAT, _CO_LON

    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(0.0, 360.0, 20000), rng.uniform(-40.0, 40.0, 20000)
    grid = dge.co_weights.reshape(dge.co_weights.shape[0], -1)
    i = np.minimum(lon.astype(np.int64), _CO_LON.size - 2)
    tx = lon - _CO_LON[i]
    b = np.minimum(np.abs(lat), _CO_LAT[-1])
    j = np.clip(np.searchsorted(_CO_LAT, b, side="right") - 1, 0, _CO_LAT.size - 2)
    ty = (b - _CO_LAT[j]) / (_CO_LAT[j + 1] - _CO_LAT[j])
    k, n = i * _CO_LAT.size + j, _CO_LAT.size
    expected = 2.0 * (grid[:, k] * ((1 - tx) * (1 - ty)) + grid[:, k + n] * (tx * (1 - ty))
                      + grid[:, k + 1] * ((1 - tx) * ty) + grid[:, k + n + 1] * (tx * ty))
    np.testing.assert_array_equal(dge._co_factors(lon, lat, plain=None), expected)
    np.testing.assert_array_equal(dge._co_factors(lon, lat), expected[1:])


def test_the_plain_survey_columns_are_shared_by_seas_with_the_same_lines_of_sight(monkeypatch):
    """2 <X_CO>_w W_CO has no CR weighting: a DGE on another CR sea whose lines of sight have the same
    ends (here fewer rigidity nodes; the radial-delta DGE's KRA-gamma sea) gets the columns already
    computed, and they equal its own computation bit for bit; a sea with a thinner halo (lines ending
    at 0.8 kpc from the plane, not 1 kpc) gets its own, which differ (X_CO varies with radius).
    ``release_models`` keeps them and drops the CR-weighted geometry."""
    import dataclasses
    from collections import OrderedDict
    from types import SimpleNamespace

    from gammapy_cocoons.dge import conventional

    from gammapy.maps import HpxGeom, Map

    from gammapy_cocoons.dge.crsea import CosmicRaySea

    # a small survey (W_CO = 1 K km/s within 10 deg of the plane) keeps the test to a fraction of a second
    geom = HpxGeom.create(nside=16, frame="galactic")
    near_plane = (np.abs(geom.get_coord().lat.to_value("deg")) < 10).astype(float)
    survey = Map.from_geom(geom, data=near_plane, unit="K km s-1")
    options = dict(x_co="strong2004", co_survey=survey, dark_gas=None)
    monkeypatch.setattr(conventional, "_GEOMETRY", OrderedDict())  # this test's entries only
    base = ConventionalDGE("icetop", **options)
    other = ConventionalDGE("icetop", sea=CosmicRaySea(rigidity_nodes=base.sea.rigidity_nodes[::2]), **options)
    thinner = CosmicRaySea(transport=dataclasses.replace(base.sea.transport, halo_height=0.8))
    smaller = ConventionalDGE("icetop", sea=thinner, **options)
    assert other.sea != base.sea
    shared = base.survey_h2_columns(8)
    assert other.survey_h2_columns(8) is shared
    assert np.array_equal(other._compute_survey_h2(8), shared)
    own = smaller.survey_h2_columns(8)
    assert own is not shared and not np.allclose(own, shared, rtol=1e-6)
    assert np.array_equal(smaller._compute_survey_h2(8), own)
    # releasing the models keeps them (no CR sea in them), and only them
    geometry = conventional._GEOMETRY
    geometry[("hi", base.gas, base.sea)] = np.zeros(3)  # a CR-weighted entry
    for name in ("_default_model", "_shared_electron_sea"):  # (this process's models are left to the others)
        monkeypatch.setattr(conventional, name, SimpleNamespace(cache_clear=lambda: None))
    conventional.release_models()
    assert [key[0] for key in geometry] == ["co_plain", "co_plain"]
    assert other.survey_h2_columns(8) is shared and smaller.survey_h2_columns(8) is own


def test_a_user_survey_is_keyed_on_its_pixels_not_only_its_values():
    """The same W_CO numbers on two HEALPix orderings are two surveys (the DGE's shared columns are
    keyed on the survey): before, only the values were hashed."""
    from gammapy.maps import HpxGeom, Map

    data = np.random.default_rng(0).random(12 * 8**2) * 10
    ring, nest = (co_survey(Map.from_geom(HpxGeom.create(nside=8, nest=n, frame="galactic"), data=data,
                                          unit="K km s-1")) for n in (False, True))
    assert ring.key != nest.key and ring.key.startswith("map:")
    again = co_survey(Map.from_geom(HpxGeom.create(nside=8, nest=False, frame="galactic"), data=data.copy(),
                                    unit="K km s-1"))
    assert again.key == ring.key  # the same survey: the same key
