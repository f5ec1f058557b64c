"""Bundled measurements and user flux points."""
import numpy as np
import pytest
import astropy.units as u
from astropy.table import Table
from gammapy.datasets import FluxPointsDataset
from gammapy.modeling.models import SkyModel

from gammapy_cocoons import LHAASO_INNER, CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
from gammapy_cocoons.datasets import BANDS, DATASETS, available_datasets, load_band, load_flux_points, read_flux_points


def test_every_bundled_dataset_loads():
    names = set(available_datasets()["name"])
    assert names == set(DATASETS) | set(BANDS)
    for name in DATASETS:
        points = load_flux_points(name)
        assert np.all(points.dnde.quantity > 0) and points.meta["solid_angle"] > 0
        assert points.meta["reference"] and points.meta["region"] is not None


def test_lhaaso_inner_values_are_the_table_times_the_solid_angle():
    points = load_flux_points("lhaaso-km2a-2023-inner")
    omega = points.meta["solid_angle"]
    assert omega == pytest.approx(2 * np.radians(110) * np.sin(np.radians(5)), rel=1e-9)
    assert u.isclose(points.energy_ref[0], 12.6 * u.TeV)
    # Table S2 first row: 6.61e-13 TeV-1 cm-2 s-1 sr-1, stat 0.64e-13, sys 0.77e-13
    assert points.dnde.quantity.ravel()[0].to_value("TeV-1 cm-2 s-1") == pytest.approx(6.61e-13 * omega)
    assert points.dnde_errn.quantity.ravel()[0].to_value("TeV-1 cm-2 s-1") == pytest.approx(
        np.hypot(0.64e-13, 0.77e-13) * omega)
    assert points.meta["stat_errn"][0].to_value("TeV-1 cm-2 s-1") == pytest.approx(0.64e-13 * omega)
    intensity = points.dnde.quantity.ravel() / (omega * u.sr)
    assert intensity.unit.is_equivalent("cm-2 s-1 TeV-1 sr-1")


def test_digitised_points_convert_e27():
    """Tibet: y = E^2.7 dN/dE in GeV^1.7 cm-2 s-1 sr-1, e.g. 1.664e-4 at 121 TeV."""
    points = load_flux_points("tibet-asgamma-2021-a")
    e = points.energy_ref[0].to_value("GeV")
    intensity = points.dnde.quantity.ravel()[0] / (points.meta["solid_angle"] * u.sr)
    assert (intensity.to_value("GeV-1 cm-2 s-1 sr-1") * e**2.7) == pytest.approx(1.663962e-4, rel=1e-6)
    # IceCube's cross-check in PROVENANCE: E^2 F = 4.5e-11 TeV cm-2 s-1 sr-1 at 121 TeV
    e2f = (points.energy_ref[0] ** 2 * intensity).to_value("TeV cm-2 s-1 sr-1")
    assert e2f == pytest.approx(4.5e-11, rel=0.03)  # the quoted value is rounded


def test_icecube_band_units():
    band = load_band("icecube-2023-pi0")
    assert band["e2dnde"].unit == u.Unit("GeV cm-2 s-1")
    assert np.all(band["e2dnde_low"] < band["e2dnde"]) and np.all(band["e2dnde"] < band["e2dnde_high"])
    # Table 1: E^2 dN/dE(100 TeV) = 2.18e-8 GeV cm-2 s-1 for the best fit (the band ends at 69 TeV)
    e = band["e_ref"].to_value("GeV")
    slope = np.polyfit(np.log(e[-5:]), np.log(band["e2dnde"][-5:].value), 1)[0]
    extrapolated = band["e2dnde"][-1].value * (1e5 / e[-1]) ** slope
    assert extrapolated == pytest.approx(2.18e-8, rel=0.05)


def test_points_work_with_region_flux_models():
    sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="cocoons")
    points = load_flux_points("lhaaso-km2a-2023-inner")
    dataset = FluxPointsDataset(data=points, models=SkyModel(spectral_model=RegionFluxSpectralModel(
        sky, region=points.meta["region"], scale=0.65), name="inner"))
    assert np.isfinite(dataset.stat_sum()) and dataset.stat_sum() > 0


def _write(path, table):
    table.write(path, format="ascii.ecsv", overwrite=True)
    return path


def test_user_points_intensity_and_flux(tmp_path):
    energy = [1.0, 3.0, 10.0] * u.TeV
    intensity = [1e-10, 2e-11, 3e-12] * u.Unit("TeV-1 cm-2 s-1 sr-1")
    table = Table({"e_ref": energy, "dnde": intensity, "dnde_err": 0.1 * intensity}, meta={"reference": "mine"})
    points = read_flux_points(_write(tmp_path / "wcda.ecsv", table), region=LHAASO_INNER)
    omega = points.meta["solid_angle"]
    assert u.allclose(points.dnde.quantity.ravel(), intensity * omega * u.sr)
    assert points.meta["reference"] == "mine"
    flux = Table({"e_ref": energy.to(u.GeV), "dnde": intensity * u.sr, "dnde_errn": 0.1 * intensity * u.sr,
                  "dnde_errp": 0.2 * intensity * u.sr})
    points = read_flux_points(_write(tmp_path / "flux.ecsv", flux))
    assert u.allclose(points.dnde.quantity.ravel(), intensity * u.sr)
    assert points.meta["solid_angle"] is None


def test_user_points_bad_input(tmp_path):
    energy = [1.0, 3.0] * u.TeV
    good = {"e_ref": energy, "dnde": [1e-10, 2e-11] * u.Unit("TeV-1 cm-2 s-1 sr-1"),
            "dnde_err": [1e-11, 2e-12] * u.Unit("TeV-1 cm-2 s-1 sr-1")}
    with pytest.raises(ValueError, match="region"):
        read_flux_points(_write(tmp_path / "a.ecsv", Table(good)))
    no_unit = dict(good, dnde=[1e-10, 2e-11])
    with pytest.raises(ValueError, match="no unit"):
        read_flux_points(_write(tmp_path / "b.ecsv", Table(no_unit)), region=LHAASO_INNER)
    with pytest.raises(ValueError, match="missing column"):
        read_flux_points(_write(tmp_path / "c.ecsv", Table({"energy": energy, "dnde": good["dnde"]})))
    with pytest.raises(ValueError, match="errors"):
        read_flux_points(_write(tmp_path / "d.ecsv", Table({"e_ref": energy, "dnde": good["dnde"]})))
    negative = dict(good, dnde=[-1e-10, 2e-11] * u.Unit("TeV-1 cm-2 s-1 sr-1"))
    with pytest.raises(ValueError, match=">= 0"):
        read_flux_points(_write(tmp_path / "e.ecsv", Table(negative)), region=LHAASO_INNER)
    nan = dict(good, dnde=[np.nan, 2e-11] * u.Unit("TeV-1 cm-2 s-1 sr-1"))
    with pytest.raises(ValueError, match="non-finite"):
        read_flux_points(_write(tmp_path / "f.ecsv", Table(nan)), region=LHAASO_INNER)
    wrong_energy = dict(good, e_ref=[1.0, 3.0] * u.cm)
    with pytest.raises(u.UnitConversionError, match="energy"):
        read_flux_points(_write(tmp_path / "g.ecsv", Table(wrong_energy)), region=LHAASO_INNER)
    wrong_errors = dict(good, dnde_err=[1.0, 2.0] * u.s)
    with pytest.raises(u.UnitConversionError, match="errors"):
        read_flux_points(_write(tmp_path / "h.ecsv", Table(wrong_errors)), region=LHAASO_INNER)
    for k, errors in enumerate(([0.0, 2e-12], [-1e-11, 2e-12])):  # issue 24 item 3: a zero error decided the fit
        bad_errors = dict(good, dnde_err=errors * u.Unit("TeV-1 cm-2 s-1 sr-1"))
        with pytest.raises(ValueError, match="must be finite and > 0; 1 of 2"):
            read_flux_points(_write(tmp_path / f"z{k}.ecsv", Table(bad_errors)), region=LHAASO_INNER)
    (tmp_path / "plain.csv").write_text("e_ref,dnde,dnde_err\n1,1e-10,1e-11\n")
    with pytest.raises(ValueError, match="ECSV"):
        read_flux_points(tmp_path / "plain.csv")
    with pytest.raises(FileNotFoundError, match="path"):
        read_flux_points(tmp_path / "missing.ecsv")
    empty = {name: column[:0] for name, column in good.items()}  # issue 24 fuzz: fitted as nothing, silently
    with pytest.raises(ValueError, match="no rows"):
        read_flux_points(_write(tmp_path / "empty.ecsv", Table(empty)), region=LHAASO_INNER)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="lhaaso-km2a-2023-inner"):
        load_flux_points("lhaaso-wcda-2025-inner")
    with pytest.raises(ValueError, match="icecube-2023-pi0"):
        load_band("icecube-2024")


def test_fit_refuses_user_points_without_positive_errors():
    """Issue 24 item 3: FluxPoints made in Python bypass read_flux_points; the fit checks them too."""
    from gammapy.estimators import FluxPoints

    from gammapy_cocoons.analysis.fitting import build_lhaaso_fit

    bundled = load_flux_points("lhaaso-km2a-2023-outer")
    table = bundled.to_table(sed_type="dnde")
    table["dnde_errn"][1] = 0.0
    points = FluxPoints.from_table(table, sed_type="dnde")
    points.meta.update(bundled.meta, name="mine")
    with pytest.raises(ValueError, match="points 'mine': every lower error"):
        build_lhaaso_fit(datasets=(), points=[points])


def test_neutrino_prediction_refuses_an_unknown_variant():
    """Issue 24 item 8: an AttributeError deep in the DGE code."""
    from gammapy_cocoons.analysis.fitting import neutrino_prediction

    with pytest.raises(ValueError, match="variant must be 'min' or 'max'"):
        neutrino_prediction(CocoonSpectralModel(), variant="mid")


def test_neutrino_prediction_columns():
    from gammapy_cocoons.analysis.fitting import neutrino_prediction

    model = CocoonSpectralModel(chi0=0.5 * u.Unit("g cm-2"), r0=30 * u.TV)
    table = neutrino_prediction(model, energy=[1e3, 1e4, 1e6] * u.GeV)
    expected = CocoonSpectralModel(secondary="nu_per_flavour", chi0=0.5 * u.Unit("g cm-2"), r0=30 * u.TV)
    e = table["e_ref"]
    assert u.allclose(table["cocoons"], (e**2 * expected(e)).to("GeV cm-2 s-1"), rtol=1e-12)
    assert u.allclose(table["total"], table["cocoons"] + table["dge"])
    assert np.isfinite(table["icecube_pi0_best"][:2]).all() and np.isnan(table["icecube_pi0_best"][2])
    # the data-driven DGE has neutrinos too; the DGE cube ends at 5 PeV: beyond it is refused, not held flat
    pi0 = neutrino_prediction(model, energy=[1e3, 1e4] * u.GeV, dge="fermi-pi0")
    assert np.all(pi0["dge"] > 0) and not u.allclose(pi0["dge"], table["dge"][:2])
    with pytest.raises(ValueError, match="energy"):
        neutrino_prediction(model, energy=[1e7, 1e8] * u.GeV)


def test_grammage_laws_are_compared_by_their_fit_statistic():
    from gammapy_cocoons.analysis.fitting import compare_grammage_laws

    rows = compare_grammage_laws(laws=("exponential", "bohm"))
    assert [r["grammage"] for r in rows] == ["exponential", "bohm"]
    for row in rows:
        # 15 KM2A points and the priors of the DGE norm and the KM2A energy scale; chi0, R0 and those two free
        assert row["success"] and row["ndof"] == 15 + 2 - 4 and np.isfinite(row["stat"])
        assert row["ts_cocoons"] >= -1e-6  # the cocoons can only improve the fit


def test_band_at_reproduces_the_nodes_and_is_nan_outside():
    from gammapy_cocoons.datasets import band_at, load_band

    band = load_band("icecube-2023-kra5")
    assert u.allclose(band_at(band, band["e_ref"], "e2dnde_high"), band["e2dnde_high"], rtol=1e-12)
    # between two nodes: the geometric mean of the node values at the geometric mean energy
    e = np.sqrt(band["e_ref"][3] * band["e_ref"][4])
    expected = np.sqrt(band["e2dnde"][3] * band["e2dnde"][4])
    assert u.allclose(band_at(band, e), expected, rtol=1e-12)
    outside = band_at(band, [10, 1e7] * u.GeV)
    assert np.all(np.isnan(outside.value))
    with pytest.raises(ValueError, match="column"):
        band_at(band, e, "best")


def test_spectral_dataset_equals_gammapy_path():
    """Issue 15 item 19: the thin dataset evaluates the same flux and statistic as gammapy's
    FluxPointsDataset (which rebuilds a SkyModel per call), exactly, for every bundled fit dataset;
    models with a spatial part and other statistics go through gammapy."""
    from gammapy_cocoons.analysis.fitting import FIT_DATASETS, SpectralFluxPointsDataset, build_lhaaso_fit

    datasets, cocoons, _ = build_lhaaso_fit(datasets=tuple(FIT_DATASETS))
    cocoons.spectral_model.chi0.value = 0.7
    for dataset in datasets:
        assert isinstance(dataset, SpectralFluxPointsDataset)
        np.testing.assert_array_equal(dataset.flux_pred(), FluxPointsDataset.flux_pred(dataset))
        np.testing.assert_array_equal(dataset.stat_array(), FluxPointsDataset.stat_array(dataset))
        assert dataset.stat_sum() == FluxPointsDataset.stat_sum(dataset)
    # a model with a spatial part: gammapy's path (its reference-model logic) is used
    sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="c")
    spatial = SpectralFluxPointsDataset(data=datasets[0].data, models=sky)
    np.testing.assert_array_equal(spatial.flux_pred(), FluxPointsDataset.flux_pred(spatial))
    # another statistic: gammapy's (its asymmetric-error chi2 needs upper limits, which these points lack)
    first = datasets[0]
    other = SpectralFluxPointsDataset(data=first.data, models=first.models)
    other._stat_type = "distrib-like"  # any stat type but "chi2" takes gammapy's route
    assert other.stat_sum() == FluxPointsDataset.stat_sum(other)


def test_a_user_dge_cube_need_not_cover_1_tev(tmp_path):
    """gammapy checks a SkyModel's unit at 1 TeV; a user's DGE cube starting above it must still fit
    (the unit is checked at the points' first energy), and energies outside it stay refused."""
    from gammapy.maps import Map, MapAxis, WcsGeom
    from gammapy.modeling import Fit

    from gammapy_cocoons.analysis.fitting import build_lhaaso_fit

    axis = MapAxis.from_energy_bounds(5 * u.TeV, 3000 * u.TeV, 8, name="energy_true")
    geom = WcsGeom.create(skydir=(180, 0), width=(120, 12), binsz=1.0, frame="galactic", axes=[axis])
    intensity = 1e-13 * (axis.center.to_value("TeV") / 10) ** -2.7
    cube = Map.from_geom(geom, data=np.ones(geom.data_shape) * intensity[:, None, None],
                         unit="cm-2 s-1 TeV-1 sr-1")
    path = tmp_path / "user_dge.fits"
    cube.write(path)
    datasets, cocoons, norms = build_lhaaso_fit(dge=str(path), datasets=("lhaaso-km2a-2023-outer",))
    assert Fit().optimize(datasets).success
    copied = datasets.models.copy()  # what Fit does: the copies keep the unit-check energy
    assert len(copied) == len(datasets.models)
    with pytest.raises(ValueError, match="template's range"):
        datasets[0].models[0].spectral_model(1 * u.TeV)


def test_region_constants_are_copies():
    """Issue 24 item 6: changing LHAASO_INNER (or the points' own region) changes neither the
    package's region nor the bundled points' solid angle."""
    import gammapy_cocoons
    from gammapy_cocoons import skyregions

    omega = load_flux_points("lhaaso-km2a-2023-inner").meta["solid_angle"]
    mine = gammapy_cocoons.LHAASO_INNER
    mine.width = 1 * u.deg
    points = load_flux_points("lhaaso-km2a-2023-inner")
    points.meta["region"].height = 1 * u.deg
    assert gammapy_cocoons.LHAASO_INNER.width == 110 * u.deg and skyregions.LHAASO_INNER.height == 10 * u.deg
    assert load_flux_points("lhaaso-km2a-2023-inner").meta["solid_angle"] == omega
    assert load_flux_points("lhaaso-km2a-2023-inner").meta["region"].height == 10 * u.deg
    assert LHAASO_INNER.width == 110 * u.deg  # this module's own import is untouched too
    # the points are read once per process and copied for each caller: one caller's changes to its
    # data stay its own
    first = load_flux_points("lhaaso-km2a-2023-inner")
    reference = first.dnde.data.copy()
    first.dnde.data[...] = 0.0
    first.meta["reference"] = "changed"
    again = load_flux_points("lhaaso-km2a-2023-inner")
    np.testing.assert_array_equal(again.dnde.data, reference)
    assert again.meta["reference"] != "changed" and again is not first


@pytest.mark.parametrize("sed_type", ["dnde", "e2dnde", "flux", "eflux", "likelihood"])
def test_points_in_every_gammapy_sed_type(tmp_path, sed_type):
    """Issue 24 item 13: what gammapy writes in each SED type (with an upper limit) reads back as the
    same dnde at e_ref (a power law of index 2.7: the flux-in-bins conversion with the points' own
    slope is exact for it), per sr or not, and fits (the upper limit is not fitted)."""
    import warnings

    from gammapy.estimators import FluxPoints
    from gammapy.modeling.models import PowerLawSpectralModel

    from gammapy_cocoons.analysis.fitting import build_lhaaso_fit

    truth = PowerLawSpectralModel(index=2.7, amplitude=3e-12 * u.Unit("cm-2 s-1 TeV-1"), reference=1 * u.TeV)
    edges = np.geomspace(1.0, 100.0, 6) * u.TeV
    table = Table({"e_min": edges[:-1], "e_max": edges[1:], "e_ref": np.sqrt(edges[:-1] * edges[1:])})
    table["dnde"] = truth(table["e_ref"].quantity)
    table["dnde_err"] = 0.1 * table["dnde"].quantity
    table["is_ul"] = [False, False, False, False, True]
    table["dnde_ul"] = 2 * table["dnde"].quantity
    table.meta["SED_TYPE"] = "dnde"
    written = FluxPoints.from_table(table, reference_model=truth).to_table(sed_type=sed_type)
    path = tmp_path / f"{sed_type}.ecsv"
    written.write(path, format="ascii.ecsv")
    points = read_flux_points(path, region=LHAASO_INNER)
    assert u.allclose(points.dnde.quantity.ravel()[:4], truth(points.energy_ref[:4]), rtol=1e-9)
    assert list(points.is_ul.data.ravel()) == [False] * 4 + [True]
    assert u.allclose(points.dnde_ul.quantity.ravel()[4], 2 * truth(points.energy_ref[4]), rtol=1e-9)
    # the same as intensities over the region: fluxes x its solid angle
    omega = RegionFluxSpectralModel(SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel()),
                                    region=LHAASO_INNER).solid_angle()
    for column in written.colnames:
        if column.startswith((sed_type, "ref_")) and written[column].unit is not None:
            written[column] = written[column].quantity / omega
    written.write(tmp_path / "per_sr.ecsv", format="ascii.ecsv")
    per_sr = read_flux_points(tmp_path / "per_sr.ecsv", region=LHAASO_INNER)
    assert u.allclose(per_sr.dnde.quantity.ravel()[:4], points.dnde.quantity.ravel()[:4], rtol=1e-9)
    if sed_type == "flux":  # a small flat DGE cube of one's own, so that nothing big is built
        from gammapy.maps import Map, MapAxis, WcsGeom

        axis = MapAxis.from_energy_bounds("0.5 TeV", "300 TeV", 3, name="energy_true")
        geom = WcsGeom.create(skydir=(70, 0), width=(120, 12), binsz=2.0, frame="galactic", axes=[axis])
        Map.from_geom(geom, data=np.full(geom.data_shape, 1e-12), unit="cm-2 s-1 TeV-1 sr-1").write(tmp_path / "d.fits")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            datasets, _, _ = build_lhaaso_fit(datasets=(), points=[points], dge=str(tmp_path / "d.fits"))
        assert np.isfinite(datasets.stat_sum()) and list(datasets[0].mask_safe) == [True] * 4 + [False]


def test_spectrum_ecsv_reads_as_gammapy_flux_points(tmp_path):
    """Issue 24 item 13: ``spectrum`` writes an ECSV that FluxPoints.read reads (SED_TYPE e2dnde):
    E^2 dN/dE of the region flux."""
    from click.testing import CliRunner
    from gammapy.estimators import FluxPoints

    from gammapy_cocoons.cli import main

    out = tmp_path / "s.ecsv"
    result = CliRunner().invoke(main, ["spectrum", "--region", "lhaaso-inner", "--n-energies", "3", "--dge", "none",
                                       "--output", str(out)])
    assert result.exit_code == 0, result.output
    points = FluxPoints.read(out, reference_model=CocoonSpectralModel())
    model = RegionFluxSpectralModel(SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel()),
                                    region=LHAASO_INNER)
    assert u.allclose(points.dnde.quantity.ravel(), model(points.energy_ref), rtol=1e-9)
