"""gammapy models: CocoonSpectralModel, CocoonSpatialModel, RegionFluxSpectralModel, registry."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from gammapy.datasets import Datasets
from gammapy.estimators import FluxPoints
from gammapy.maps import HpxGeom, MapAxis, RegionGeom, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    SPECTRAL_MODEL_REGISTRY,
    ExpCutoffPowerLawSpectralModel,
    Models,
    SkyModel,
)
from regions import CircleSkyRegion
from scipy import integrate

from gammapy_cocoons import (
    LHAASO_INNER,
    LHAASO_OUTER,
    CocoonEmission,
    CocoonSpatialModel,
    CocoonSpectralModel,
    RegionFluxSpectralModel,
    mask_out,
)
from gammapy_cocoons.models import register

FLUX = u.Unit("cm-2 s-1 TeV-1")


@pytest.fixture()
def sky():
    """The paper's cocoons on its Eq. 7 target, like the ``fiducial`` engine."""
    return SkyModel(spectral_model=CocoonSpectralModel(target="hydrogen"), spatial_model=CocoonSpatialModel(),
                    name="cocoons")


# -- spectral ---------------------------------------------------------------------------------
def test_spectral_model_is_the_all_sky_flux_of_eq8(fiducial, energies):
    model = CocoonSpectralModel(target="hydrogen")
    assert u.allclose(model(energies), fiducial.flux(energies), rtol=1e-12)
    nu = CocoonSpectralModel(secondary="nu_per_flavour", target="hydrogen")
    assert u.allclose(nu(energies), fiducial.flux(energies, "nu_per_flavour"), rtol=1e-12)
    # the default cocoon gas (ISM) in both
    assert CocoonSpectralModel().target == "ism"
    assert u.allclose(CocoonSpectralModel()(energies), CocoonEmission().flux(energies), rtol=1e-12)


def test_spectral_parameters_match_the_engine(energies):
    model = CocoonSpectralModel(grammage="kraichnan", chi0=0.3 * u.Unit("g cm-2"), r0=50 * u.TV)
    model.eps_he.value = 0.02
    model.index_h.value = 4.3
    assert model.delta.value == 0.5  # the preset
    from gammapy_cocoons import HELIUM, PROTON, Injection

    engine = CocoonEmission(
        chi0=0.3 * u.Unit("g cm-2"), r0=50 * u.TV, grammage="kraichnan",
        injections=(Injection(PROTON, 0.05, 4.3), Injection(HELIUM, 0.02, 4.16)),
    )
    assert u.allclose(model(energies), engine.flux(energies), rtol=1e-10)


def test_spectral_model_linear_in_chi0_and_units(energies):
    model = CocoonSpectralModel()
    base = model(energies)
    model.chi0.value = 0.8
    assert u.allclose(model(energies), 2 * base, rtol=1e-12)
    assert model(energies).unit == FLUX
    assert model.chi0.unit == u.Unit("g cm-2") and model.r0.unit == u.TV
    assert model.chi0.min == 0 and not model.chi0.frozen and model.eps_h.frozen


def test_evaluate_integral_against_quad():
    model = CocoonSpectralModel()
    emin, emax = [1, 10] * u.TeV, [10, 300] * u.TeV
    values = model.integral(emin, emax)
    for lo, hi, value in zip(emin, emax, values):
        ref, _ = integrate.quad(
            lambda x: np.exp(x) * model(np.exp(x) * u.TeV).to_value(FLUX), np.log(lo.value), np.log(hi.value),
            epsrel=1e-10, limit=200,
        )
        assert value.to_value("cm-2 s-1") == pytest.approx(ref, rel=1e-6)


def test_error_band_equals_brute_force_loop_over_samples():
    model = CocoonSpectralModel()
    model.chi0.error = 0.05
    model.r0.error = 4.0
    energy = [1, 5, 20] * u.TeV
    samples = model.sample_parameters_from_covariance(n_samples=400, random_state=1, free_only=False)
    samples = [samples[:, k] * p.unit for k, p in enumerate(model.parameters)]
    vectorised = model.evaluate(energy[:, np.newaxis], *samples)
    copy = model.copy()
    for n in range(0, 400, 57):
        for p, s in zip(copy.parameters, samples):
            p.quantity = s[n]
        assert u.allclose(vectorised[:, n], copy(energy), rtol=1e-12)
    median, errn, errp = model.evaluate_error(energy, n_samples=200)
    assert np.all(errn > 0) and np.all(errp > 0)


def test_error_band_with_a_sampled_injection_index():
    model = CocoonSpectralModel()
    samples = [p.quantity * np.ones(5) for p in model.parameters]
    samples[4] = np.array([4.2, 4.22, 4.26, 4.3, 4.35]) * u.one  # index_h
    vectorised = model.evaluate([[2.0], [30.0]] * u.TeV, *samples)
    for n in range(5):
        model.index_h.value = samples[4][n].value
        assert u.allclose(vectorised[:, n], model([2.0, 30.0] * u.TeV), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"secondary": "photon"}, "secondary"),
        ({"grammage": "gaussian"}, "grammage"),
        ({"cross_sections": "pythia"}, "cross_sections"),
        ({"source_distribution": "spiral"}, "source_distribution"),
        ({"helium_fraction": -0.1}, "helium_fraction"),
        ({"target": "he"}, "target"),
        ({"target": -1}, "target"),
        ({"cross_sections": "kamae2006"}, "target"),
        ({"per_decade": 3}, "per_decade"),
        ({"chi2": 1.0}, "chi2"),
    ],
)
def test_spectral_bad_input(kwargs, match):
    with pytest.raises((ValueError, NameError, TypeError), match=match):
        CocoonSpectralModel(**kwargs)


def test_spectral_energy_out_of_range():
    with pytest.raises(ValueError, match="energy"):
        CocoonSpectralModel()([1e-5, 1.0] * u.TeV)


def test_parameter_change_reuses_kernels(energies):
    from gammapy_cocoons.models import spectral

    model = CocoonSpectralModel()
    model(energies)
    n = len(spectral._KERNELS)
    for r0 in (10, 30, 90):
        model.r0.value = r0
        model(energies)
    assert len(spectral._KERNELS) == n


def test_steps_that_leave_the_source_term_reuse_it_with_the_same_numbers(energies):
    """A fit's steps in chi0 (or in a DGE norm, an energy scale) reuse Q_sec of the last R0: the
    fluxes equal those of a model evaluated afresh (the kept terms cleared), bit for bit."""
    from gammapy_cocoons.models import spectral

    model = CocoonSpectralModel()
    steps = [(0.4, 20.0), (0.5, 20.0), (0.5, 35.0), (0.3, 20.0), (0.3, 35.0)]
    kept = []
    for chi0, r0 in steps:
        model.chi0.value, model.r0.value = chi0, r0
        kept.append(model(energies).value)
    assert len(spectral._SOURCE_TERMS) >= 2
    for (chi0, r0), value in zip(steps, kept):
        spectral._SOURCE_TERMS.clear()
        fresh = CocoonSpectralModel(chi0=chi0 * u.Unit("g cm-2"), r0=r0 * u.TV)
        assert np.array_equal(fresh(energies).value, value)
        assert np.array_equal(fresh.evaluate(energies, **{p.name: p.quantity for p in fresh.parameters}).value, value)
    assert all(not q.flags.writeable for _, q in spectral._SOURCE_TERMS.values())


def test_a_kernel_dropped_for_memory_is_not_kept_alive_by_its_source_terms(monkeypatch):
    """The kernels' memory bound holds with the kept source terms: a kernel dropped from the cache
    takes its source terms with it (nothing else keeps it alive)."""
    import gc
    import weakref

    from gammapy_cocoons.models import spectral

    monkeypatch.setattr(spectral, "KERNEL_CACHE_BYTES", 1)  # one kernel at a time
    monkeypatch.setattr(spectral, "_KERNELS", spectral.OrderedDict())
    monkeypatch.setattr(spectral, "_SOURCE_TERMS", spectral.OrderedDict())
    model = CocoonSpectralModel()
    made = []
    for k in range(6):
        model(np.geomspace(1.0 + k, 100.0, 12) * u.TeV)
        made.append(weakref.ref(next(reversed(spectral._KERNELS.values()))))
    gc.collect()
    assert [ref() is not None for ref in made] == [False] * 5 + [True]
    assert len(spectral._SOURCE_TERMS) == 1


# -- spatial ----------------------------------------------------------------------------------
def test_spatial_point_values_are_the_normalised_column(fiducial):
    model = CocoonSpatialModel()
    lon, lat = [0.0, 30.0, 200.0] * u.deg, [0.0, -0.5, 5.0] * u.deg
    column = fiducial.column(lon, lat)
    total = fiducial.sky_integral()
    assert u.allclose(model(lon, lat), (column / total).to("sr-1"), rtol=1e-12)
    assert model(lon, lat).unit == u.Unit("sr-1")


@pytest.mark.parametrize("nside", [16, 64])
def test_spatial_integrates_to_one_on_healpix(nside):
    model = CocoonSpatialModel()
    axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 2, name="energy_true")
    geom = HpxGeom.create(nside=nside, frame="galactic", axes=[axis])
    integral = model.integrate_geom(geom)
    assert integral.data.shape == geom.data_shape
    assert np.allclose(integral.data.sum(axis=-1), 1.0, rtol=1e-5)
    # point values x pixel solid angle agree away from the plane
    values = model.evaluate_geom(geom.to_image())
    far = np.abs(geom.to_image().get_coord().lat.to_value("deg")) > 20
    omega = np.broadcast_to(geom.to_image().solid_angle().to_value("sr"), far.shape)  # one value for HEALPix
    ratio = values.to_value("sr-1")[far] * omega[far] / integral.data[0][far]
    assert np.allclose(ratio, 1.0, rtol=5e-3)


def test_spatial_region_and_wcs_integrals_equal_the_engine(fiducial):
    model = CocoonSpatialModel()
    total = fiducial.sky_integral()
    expected = (fiducial.sky_integral(LHAASO_INNER) / total).to_value("")
    region_value = model.integrate_geom(RegionGeom.create(LHAASO_INNER)).data.sum()
    assert region_value == pytest.approx(expected, rel=1e-12)
    # an aligned CAR map covering exactly the same box
    geom = WcsGeom.create(skydir=(70, 0), width=(110, 10), binsz=0.25, frame="galactic", proj="CAR")
    assert model.integrate_geom(geom).data.sum() == pytest.approx(expected, rel=1e-5)


def test_spatial_non_aligned_wcs_integrates_accurately(fiducial):
    """An ICRS TAN map across the plane: latitude-averaged sub-pixels against the exact circle."""
    model = CocoonSpatialModel()
    center = SkyCoord(30, 0, unit="deg", frame="galactic")
    geom = WcsGeom.create(skydir=center.icrs, width=6, binsz=0.2, frame="icrs", proj="TAN")
    circle = CircleSkyRegion(center, 2.5 * u.deg)
    mask = geom.region_mask([circle]).data
    value = model.integrate_geom(geom, oversampling_factor=4).data[mask].sum()
    # the pixelised circle is not the circle: compare with the same pixels done exactly by
    # a fine aligned grid would need the same mask, so compare to the whole map instead
    whole = model.integrate_geom(geom, oversampling_factor=4).data.sum()
    finer = model.integrate_geom(geom, oversampling_factor=8).data.sum()
    assert whole == pytest.approx(finer, rel=1e-3)
    exact = (fiducial.sky_integral(circle) / fiducial.sky_integral()).to_value("")
    assert value == pytest.approx(exact, rel=0.03)  # pixelised circle edge


def test_spatial_parameters_change_the_geometry():
    model = CocoonSpatialModel()
    geom = WcsGeom.create(skydir=(0, 0), width=(40, 4), binsz=1.0, frame="galactic", proj="CAR")
    before = model.integrate_geom(geom).data.copy()
    model.z0.value = 0.2
    after = model.integrate_geom(geom).data
    assert not np.allclose(before, after, rtol=1e-3)
    assert model.distribution().z0 == 0.2


def test_spatial_plot_shows_pixel_means():
    import matplotlib

    matplotlib.use("Agg")
    model = CocoonSpatialModel()
    image = model._get_plot_map(None)
    assert image.geom.frame == "galactic" and image.unit == u.Unit("sr-1")
    total = (image.quantity * image.geom.solid_angle()).sum().to_value("")
    assert total == pytest.approx(model.integrate_geom(image.geom).data.sum(), rel=1e-12)
    assert model.plot() is not None


def test_spatial_bad_input():
    with pytest.raises(ValueError, match="profile"):
        CocoonSpatialModel(profile="uniform")
    model = CocoonSpatialModel()
    with pytest.raises(ValueError, match="frozen"):
        model.evaluate(0 * u.deg, 0 * u.deg, alpha=[1.0, 1.1] * u.one, beta=3.87 * u.one, z0=0.083 * u.kpc)


# -- sky model and regions ---------------------------------------------------------------------
def test_spectral_times_spatial_over_regions_equals_the_engine(sky, fiducial, energies):
    mask = CircleSkyRegion(SkyCoord(80, 0, unit="deg", frame="galactic"), 3 * u.deg)
    for region in (LHAASO_INNER, LHAASO_OUTER, mask_out(LHAASO_INNER, mask)):
        model = RegionFluxSpectralModel(sky, region=region)
        assert u.allclose(model(energies), fiducial.flux(energies, region=region), rtol=1e-10)
    for region in (LHAASO_INNER, LHAASO_OUTER, CircleSkyRegion(LHAASO_INNER.center, 4 * u.deg)):
        fraction = sky.spatial_model.integrate_geom(RegionGeom.create(region)).data.sum()
        assert u.allclose(sky.spectral_model(energies) * fraction, fiducial.flux(energies, region=region), rtol=1e-10)


def test_region_flux_scale_masks_and_intensity(sky, fiducial):
    energy = [1, 10] * u.TeV
    mask = CircleSkyRegion(SkyCoord(80, 0, unit="deg", frame="galactic"), 3 * u.deg)
    scaled = RegionFluxSpectralModel(sky, region=LHAASO_INNER, masks=[mask], scale=0.65)
    expected = 0.65 * fiducial.flux(energy, region=mask_out(LHAASO_INNER, mask))
    assert u.allclose(scaled(energy), expected, rtol=1e-10)
    assert u.allclose(scaled.intensity(energy), fiducial.intensity(energy, region=mask_out(LHAASO_INNER, mask)),
                      rtol=1e-10)
    assert scaled.scale == 0.65
    with pytest.raises(ValueError, match="scale"):
        RegionFluxSpectralModel(sky, region=LHAASO_INNER, scale=-1)
    with pytest.raises(TypeError, match="sky_model"):
        RegionFluxSpectralModel(sky.spectral_model, region=LHAASO_INNER)


def test_region_flux_broadcasts_parameter_samples(sky):
    """gammapy's error bands pass every parameter (frozen ones as constant arrays)."""
    inner = RegionFluxSpectralModel(sky, region=LHAASO_INNER)
    samples = [p.quantity * np.ones(4) for p in inner.parameters]
    samples[0] = [0.1, 0.2, 0.3, 0.4] * u.Unit("g cm-2")
    values = inner.evaluate([[1.0], [10.0]] * u.TeV, *samples)
    assert values.shape == (2, 4)
    single = inner([1.0, 10.0] * u.TeV)
    assert u.allclose(values[:, 3], single, rtol=1e-12)
    assert u.allclose(values[:, 0], single / 4, rtol=1e-12)


def test_region_flux_shares_parameter_objects(sky):
    inner = RegionFluxSpectralModel(sky, region=LHAASO_INNER)
    outer = RegionFluxSpectralModel(sky, region=LHAASO_OUTER)
    assert inner.parameters["chi0"] is outer.parameters["chi0"] is sky.spectral_model.chi0
    before = inner(1 * u.TeV)
    sky.spectral_model.chi0.value = 0.2
    assert inner(1 * u.TeV).to_value(FLUX) == pytest.approx(before.to_value(FLUX) / 2, rel=1e-12)


def _points(model, energy, rng, name, rel_error=0.05):
    flux = model(energy).to_value(FLUX)
    table = Table(
        {
            "e_ref": energy,
            "dnde": flux * (1 + rel_error * rng.standard_normal(energy.size)) * FLUX,
            "dnde_err": rel_error * flux * FLUX,
        },
        meta={"SED_TYPE": "dnde"},
    )
    points = FluxPoints.from_table(table, format="gadf-sed")
    # the package's dataset: gammapy's statistic at a quarter of the cost (tests/test_datasets.py)
    from gammapy_cocoons.analysis.fitting import SpectralFluxPointsDataset

    return SpectralFluxPointsDataset(data=points, models=SkyModel(spectral_model=model, name=name), name=name)


def test_joint_fit_recovers_injected_parameters(sky):
    rng = np.random.default_rng(7)
    energy = np.geomspace(1, 40, 15) * u.TeV
    inner = RegionFluxSpectralModel(sky, region=LHAASO_INNER, scale=0.65)
    outer = RegionFluxSpectralModel(sky, region=LHAASO_OUTER)
    sky.spectral_model.chi0.value, sky.spectral_model.r0.value = 0.55, 35.0
    datasets = Datasets([_points(inner, energy, rng, "inner"), _points(outer, energy, rng, "outer")])
    sky.spectral_model.chi0.value, sky.spectral_model.r0.value = 0.3, 15.0
    result = Fit().run(datasets)
    assert result.success
    chi0, r0 = sky.spectral_model.chi0, sky.spectral_model.r0
    assert abs(chi0.value - 0.55) < 3 * chi0.error and chi0.error < 0.05
    assert abs(r0.value - 35.0) < 3 * r0.error and r0.error < 5
    assert len(datasets.models.parameters.free_unique_parameters) == 2


def test_cocoon_model_costs_little_more_than_a_power_law_after_a_change(energies):
    """Operation count (not wall clock): a parameter change triggers no kernel construction."""
    from gammapy_cocoons.physics import production

    model = CocoonSpectralModel()
    model(energies)
    calls = []
    original = production.ProductionKernel.__init__

    def counting(self, *args, **kwargs):
        calls.append(1)
        original(self, *args, **kwargs)

    production.ProductionKernel.__init__ = counting
    try:
        for value in (0.1, 0.3, 0.5):
            model.chi0.value = value
            model.r0.value = 100 * value
            model(energies)
    finally:
        production.ProductionKernel.__init__ = original
    assert calls == []
    assert ExpCutoffPowerLawSpectralModel()(energies).unit.is_equivalent(model(energies).unit)


# -- serialisation ----------------------------------------------------------------------------
def test_yaml_round_trip_in_a_fresh_process(tmp_path, sky):
    spectral = sky.spectral_model
    spectral.chi0.value = 0.37
    spectral.r0.max = 500
    spectral.index_h.frozen = False
    sky.spatial_model.z0.value = 0.09
    nu = SkyModel(
        spectral_model=CocoonSpectralModel(secondary="nu_per_flavour", grammage="bohm", cross_sections="kamae2006",
                                           target="hydrogen"),
        spatial_model=CocoonSpatialModel(profile="yusifov2004"),
        name="nu",
    )
    gas = SkyModel(spectral_model=CocoonSpectralModel(target=0.05), spatial_model=CocoonSpatialModel(), name="gas")
    mask = CircleSkyRegion(SkyCoord(80, 0, unit="deg", frame="galactic"), 3 * u.deg)
    inner = SkyModel(spectral_model=RegionFluxSpectralModel(sky, LHAASO_INNER, masks=[mask], scale=0.65), name="inner")
    outer = SkyModel(spectral_model=RegionFluxSpectralModel(sky, LHAASO_OUTER), name="outer")
    models = Models([sky, nu, inner, outer, gas])
    path = tmp_path / "models.yaml"
    models.write(path)
    energy = [1.0, 10.0, 100.0] * u.TeV
    expected = {m.name: m.spectral_model(energy).to_value(FLUX).tolist() for m in models}

    script = textwrap.dedent(
        f"""
        import json
        import astropy.units as u
        import gammapy_cocoons
        from gammapy.modeling.models import Models
        models = Models.read({str(path)!r})
        energy = [1.0, 10.0, 100.0] * u.TeV
        out = {{m.name: m.spectral_model(energy).to_value("cm-2 s-1 TeV-1").tolist() for m in models}}
        sky, nu, inner, outer, gas = models
        out["targets"] = [sky.spectral_model.target, nu.spectral_model.target, gas.spectral_model.target]
        out["options"] = nu.spectral_model.options
        out["profile"] = nu.spatial_model.profile
        out["chi0"] = [sky.spectral_model.chi0.value, sky.spectral_model.r0.max,
                       sky.spectral_model.index_h.frozen, sky.spatial_model.z0.value]
        out["shared"] = (inner.spectral_model.parameters["chi0"] is outer.spectral_model.parameters["chi0"]
                         is sky.spectral_model.chi0)
        out["scale"] = inner.spectral_model.scale
        out["region"] = type(inner.spectral_model.region).__name__
        print(json.dumps(out))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    import json

    out = json.loads(run.stdout.strip().splitlines()[-1])
    for name, values in expected.items():
        assert np.allclose(out[name], values, rtol=1e-12)
    assert out["options"]["secondary"] == "nu_per_flavour" and out["options"]["grammage"] == "bohm"
    assert out["options"]["cross_sections"] == "kamae2006"
    assert out["profile"] == "yusifov2004"
    assert out["chi0"] == [0.37, 500, False, 0.09]
    assert out["shared"] is True
    assert out["scale"] == 0.65
    assert out["region"] == "CompoundSkyRegion"
    assert out["targets"] == ["hydrogen", "hydrogen", 0.05]


#: a CocoonSpectralModel as written before issue 23 (commit 619f0fd): no ``target``, helium_fraction 0
_OLD_YAML = """
components:
-   name: cocoons
    type: SkyModel
    spectral:
        type: CocoonSpectralModel
        parameters:
        -   name: chi0
            value: 0.5
            unit: g cm-2
        -   name: r0
            value: 20.0
            unit: TV
        secondary: gamma
        grammage: exponential
        cross_sections: aafrag
        source_distribution: green2015
        helium_fraction: 0.0
        per_decade: 64
    spatial:
        type: CocoonSpatialModel
        frame: galactic
        parameters:
        -   name: alpha
            value: 1.09
        -   name: beta
            value: 3.87
        -   name: z0
            value: 0.083
            unit: kpc
        profile: green2015
"""


def test_old_yaml_reads_with_its_old_meaning():
    """A model written before ``target`` existed meant pure hydrogen on chi0 / m_p (helium_fraction 0) or
    a mass grammage of gas with that He/H: read so, with a warning that says it."""
    energy = [1.0, 10.0] * u.TeV
    with pytest.warns(UserWarning, match="target='hydrogen'"):
        old = Models.from_yaml(_OLD_YAML)[0].spectral_model
    assert old.target == "hydrogen" and old.chi0.value == 0.5
    expected = CocoonSpectralModel(target="hydrogen", chi0=0.5 * u.Unit("g cm-2"))(energy)
    assert u.allclose(old(energy), expected, rtol=1e-14)
    with pytest.warns(UserWarning, match="target='ism'"):
        helium = Models.from_yaml(_OLD_YAML.replace("helium_fraction: 0.0", "helium_fraction: 0.1"))[0]
    assert helium.spectral_model.target == "ism"
    # written today: the target, and the He/H for older readers; read back without a warning
    data = CocoonSpectralModel(target="ism").to_dict()["spectral"]
    assert (data["target"], data["helium_fraction"]) == ("ism", 0.1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert CocoonSpectralModel.from_dict({"spectral": data}).target == "ism"


def test_registration_refuses_colliding_tags():
    from gammapy.modeling.models import PowerLawSpectralModel

    class Impostor(PowerLawSpectralModel):
        tag = ["PowerLawSpectralModel", "pl-impostor"]

    with pytest.raises(RuntimeError, match="PowerLawSpectralModel"):
        register(Impostor, SPECTRAL_MODEL_REGISTRY)
    assert Impostor not in SPECTRAL_MODEL_REGISTRY
    assert SPECTRAL_MODEL_REGISTRY.get_cls("CocoonSpectralModel") is CocoonSpectralModel


def test_posterior_recovers_injected_parameters(sky):
    """UltraNest through gammapy's Sampler on simulated inner-region points (2 free parameters)."""
    pytest.importorskip("ultranest")
    from gammapy_cocoons.analysis.fitting import sample_posterior, set_default_priors

    rng = np.random.default_rng(11)
    energy = np.geomspace(1, 40, 12) * u.TeV
    inner = RegionFluxSpectralModel(sky, region=LHAASO_INNER)
    sky.spectral_model.chi0.value, sky.spectral_model.r0.value = 0.5, 30.0
    datasets = Datasets([_points(inner, energy, rng, "inner", rel_error=0.05)])
    set_default_priors(sky)
    samples, quantiles = sample_posterior(datasets, live_points=40)
    assert set(samples.colnames) == {"chi0", "r0"} and len(samples) > 100
    for name, truth in (("chi0", 0.5), ("r0", 30.0)):
        q = quantiles[name]
        width = q["high"] - q["low"]
        assert q["low"] - width < truth < q["high"] + width, (name, q)
    # the models are left at their values before sampling, their priors as gammapy made them
    assert sky.spectral_model.chi0.value == 0.5
    assert "_inverse_cdf" not in vars(sky.spectral_model.chi0.prior)
    assert "_inverse_cdf" not in vars(sky.spectral_model.r0.prior)


def test_frozen_prior_distributions_are_gammapys():
    """The sampler's priors, each distribution made once for a run: the same inverse CDF as
    gammapy's to the bit; a prior shared by two parameters frozen once; a user's prior without a
    scipy distribution left alone; deleting the attribute restores gammapy's method."""
    from gammapy.modeling import Parameter, Parameters
    from gammapy.modeling.models import GaussianPrior, LogUniformPrior, Prior, UniformPrior
    from gammapy.modeling.models.prior import PriorParameter

    from gammapy_cocoons.analysis.fitting import _freeze_prior_distributions

    class HalfPrior(Prior):  # a user's prior: its own inverse CDF, no _random_variable
        tag = ["HalfPrior"]
        scale = PriorParameter(name="scale", value=1.0, unit="")

        @staticmethod
        def evaluate(value, scale):
            return 0.0 * value

        def _inverse_cdf(self, value):
            return 0.5 * value

    class SquaredUniformPrior(UniformPrior):  # a user's prior: a scipy distribution, its own inverse CDF
        tag = ["SquaredUniformPrior"]
        min = PriorParameter(name="min", value=0.0, unit="")  # (gammapy reads a class's own)
        max = PriorParameter(name="max", value=1.0, unit="")

        def _inverse_cdf(self, value):
            return super()._inverse_cdf(value) ** 2

    priors = [UniformPrior(min=0.0, max=2.0), LogUniformPrior(min=1.0, max=1000.0), GaussianPrior(mu=1.0, sigma=0.1)]
    user, squared = HalfPrior(), SquaredUniformPrior(min=0.0, max=2.0)
    parameters = Parameters([Parameter(f"p{i}", 1.0) for i in range(6)])
    for parameter, prior in zip(parameters, priors + [priors[0], user, squared]):
        parameter.prior = prior
    unit_values = np.random.default_rng(3).uniform(size=50)
    expected = [prior._inverse_cdf(unit_values) for prior in priors]
    frozen = []
    _freeze_prior_distributions(parameters, frozen)
    assert [id(p) for p in frozen] == [id(p) for p in priors]  # the shared one once, the users' not at all
    for prior, values in zip(priors, expected):
        assert "_inverse_cdf" in vars(prior)
        assert np.array_equal(prior._inverse_cdf(unit_values), values)
    assert "_inverse_cdf" not in vars(user) and user._inverse_cdf(0.5) == 0.25
    assert "_inverse_cdf" not in vars(squared) and squared._inverse_cdf(0.5) == 1.0
    for prior in frozen:
        del prior._inverse_cdf
    assert all("_inverse_cdf" not in vars(prior) for prior in priors)
    assert np.array_equal(priors[1]._inverse_cdf(unit_values), expected[1])

    # a prior whose distribution cannot be made stops the freezing part way: the ones before it
    # are in the list (sample_posterior undoes them), the rest untouched
    class BrokenPrior(UniformPrior):
        tag = ["BrokenPrior"]
        min = PriorParameter(name="min", value=0.0, unit="")
        max = PriorParameter(name="max", value=1.0, unit="")

        @property
        def _random_variable(self):
            raise ValueError("no distribution")

    broken = Parameters([Parameter("a", 1.0), Parameter("b", 1.0), Parameter("c", 1.0)])
    for parameter, prior in zip(broken, [priors[0], BrokenPrior(), priors[1]]):
        parameter.prior = prior
    frozen = []
    with pytest.raises(ValueError, match="no distribution"):
        _freeze_prior_distributions(broken, frozen)
    assert [id(p) for p in frozen] == [id(priors[0])] and "_inverse_cdf" not in vars(priors[1])
    del priors[0]._inverse_cdf


def test_cocoon_neutrinos_follow_the_pion_rule_below_the_cutoff():
    """Ahlers & Murase 2014: E^2 Phi_nu,flavour(E) = 1/2 E'^2 Phi_gamma(E') at E' = 2E, for pp
    collisions; AAfrag's kernels must obey it well below the cocoon cut-off (R0 = 20 TV)."""
    energy = np.geomspace(100, 1000, 4) * u.GeV
    gamma = CocoonSpectralModel()
    nu = CocoonSpectralModel(secondary="nu_per_flavour")
    ratio = energy**2 * nu(energy) / (0.5 * (2 * energy) ** 2 * gamma(2 * energy))
    assert np.allclose(ratio.to_value(""), 1.0, atol=0.07)


def test_error_band_with_samples_beyond_the_bounds():
    """An uncertain R0 (error > value) gives covariance samples below zero; the band must stay
    finite and physical (no overflow: RuntimeWarnings are errors in this suite)."""
    model = CocoonSpectralModel()
    model.covariance = np.diag([0.2, 400.0, 0, 0, 0, 0, 0]) ** 2
    energy = np.geomspace(0.1, 100, 5) * u.TeV
    median, errn, errp = model.evaluate_error(energy, n_samples=300)
    assert np.all(np.isfinite(median.value)) and np.all(np.isfinite(errp.value)) and np.all(median.value >= 0)
    samples = model.sample_parameters_from_covariance(n_samples=300, random_state=2, free_only=False)
    assert np.any(samples[:, 1] < 0) and np.any(samples[:, 0] < 0)  # the case the clipping exists for
    values = model.evaluate(energy[:, None], *[samples[:, k] * p.unit for k, p in enumerate(model.parameters)])
    clipped = [np.clip(samples[:, k], p.min, p.max) * p.unit for k, p in enumerate(model.parameters)]
    assert u.allclose(values, model.evaluate(energy[:, None], *clipped), rtol=1e-12)


def test_declared_unit_sky_model_checks_units_as_gammapy_does():
    """DeclaredUnitSkyModel (issue 25: no geometry evaluated per SkyModel) accepts and refuses what
    gammapy's SkyModel does, with the same message: a template in intensity units or sr-1, the
    cocoons' morphology, with and without the exposure; any other spatial model is gammapy's own
    check. The units it reads are the ones the spatial models evaluate to; the YAML is a SkyModel's."""
    from gammapy.maps import Map
    from gammapy.modeling.models import (Models, PointSpatialModel, PowerLawNormSpectralModel,
                                         PowerLawSpectralModel, SkyModel, TemplateSpatialModel)

    from gammapy_cocoons.models.sky import DeclaredUnitSkyModel, declared_unit

    axis = MapAxis.from_energy_bounds("10 GeV", "100 TeV", nbin=4, name="energy_true")
    geom = HpxGeom.create(nside=4, frame="galactic", axes=[axis])
    cube = Map.from_geom(geom, data=np.full(geom.data_shape, 2.0), unit="cm-2 s-1 TeV-1 sr-1")
    image = Map.from_geom(geom.to_image(), data=np.ones(geom.to_image().data_shape), unit="sr-1")
    class PerSquareDegree(TemplateSpatialModel):  # a subclass may evaluate to another unit than its map's
        lon_0 = TemplateSpatialModel.default_parameters["lon_0"].copy()  # (gammapy reads a class's own)
        lat_0 = TemplateSpatialModel.default_parameters["lat_0"].copy()

        def evaluate(self, lon, lat, energy=None, lon_0=None, lat_0=None):
            return super().evaluate(lon, lat, energy, lon_0, lat_0).value * u.Unit("deg-2")

    spatials = [TemplateSpatialModel(cube, normalize=False, filename="cube.fits"),
                TemplateSpatialModel(image, normalize=False, filename="image.fits"),
                CocoonSpatialModel(), PointSpatialModel(lon_0="1 deg", lat_0="2 deg", frame="galactic"),
                PerSquareDegree(image, normalize=False, filename="image.fits")]
    spectrals = [PowerLawNormSpectralModel(), PowerLawSpectralModel(), CocoonSpectralModel()]
    outcomes = 0
    for spatial in spatials:
        for spectral in spectrals:
            for apply_irf in (None, {"exposure": False, "psf": True, "edisp": True}):
                def make(cls):
                    try:
                        cls(spectral_model=spectral, spatial_model=spatial, apply_irf=apply_irf, name="m")
                        return None
                    except ValueError as error:
                        return str(error)
                expected = make(SkyModel)
                assert make(DeclaredUnitSkyModel) == expected, (type(spatial).__name__, type(spectral).__name__)
                outcomes += expected is None
    assert 0 < outcomes < len(spatials) * len(spectrals) * 2  # some accepted, some refused
    probe = WcsGeom.create(skydir=(10, 1), frame="galactic", npix=(2, 2), axes=[axis])
    for spatial in spatials[:3]:
        assert declared_unit(spatial) == spatial.evaluate_geom(probe).unit
    assert declared_unit(spatials[3]) is None and declared_unit(spatials[4]) is None
    model = DeclaredUnitSkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="c")
    data = Models([model]).to_dict()
    assert data["components"][0]["type"] == "SkyModel"
    assert type(Models.from_dict(data)[0]) is SkyModel
