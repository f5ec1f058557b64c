"""Issue 24 item 3: one rule per kind of value, enforced everywhere that kind is taken.

Brute force over the public API: every boolean option refuses a string ("no" is truthy), every
energy refuses a complex number, every model refuses an unknown keyword and a parameter value that
is not one real number; property tests of the rules themselves."""
import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import astropy.units as u
from hypothesis import given, settings, strategies as st

import gammapy_cocoons
from gammapy_cocoons._validation import boolean, check_parameter_bounds, integer, to_value

#: gammapy's own signatures (to_dict, copy): not options of this package
_GAMMAPY_API = {"full_output", "copy_data"}


def _boolean_options():
    """(module, qualified name, parameter) of every public callable with a boolean default."""
    found = set()
    for info in pkgutil.walk_packages(gammapy_cocoons.__path__, "gammapy_cocoons."):
        if info.name.split(".")[-1].startswith("_") or info.name.endswith(".cli"):
            continue
        if info.name.split(".")[-1] in ("fitting", "bcfit", "reproduce", "plotting") and ".analysis." not in info.name:
            continue  # deprecated shims re-exporting the analysis modules
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            targets = [(name, obj)] if inspect.isfunction(obj) or inspect.isclass(obj) else []
            if inspect.isclass(obj):
                targets += [(f"{name}.{k}", v) for k, v in vars(obj).items()
                            if inspect.isfunction(v) and not k.startswith("_")]
            for label, function in targets:
                try:
                    signature = inspect.signature(function)
                except (TypeError, ValueError):
                    continue
                for parameter in signature.parameters.values():
                    if isinstance(parameter.default, bool) and parameter.name not in _GAMMAPY_API:
                        found.add((module.__name__.removeprefix("gammapy_cocoons."), label, parameter.name))
    return found


def _tiny_cube():
    from gammapy.maps import Map, MapAxis, WcsGeom

    axis = MapAxis.from_nodes([1, 10] * u.TeV, name="energy_true", interp="log")
    return Map.from_geom(WcsGeom.create(npix=(2, 2), binsz=1, frame="galactic", axes=[axis]),
                         unit="cm-2 s-1 TeV-1 sr-1")


def _sky_model():
    from gammapy.modeling.models import SkyModel

    from gammapy_cocoons import CocoonSpatialModel, CocoonSpectralModel

    return SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="c")


#: how to call each of them with one boolean set to "no" (everything else minimal and valid)
CALLS = {
    ("analysis.bcfit", "fit_bc", "profile"): lambda m, tmp, kw: m.fit_bc(**kw),
    ("analysis.bcfit", "bc_output_files", "plot"): lambda m, tmp, kw: m.bc_output_files(**kw),
    ("analysis.bcfit", "bc_output_files", "joint"): lambda m, tmp, kw: m.bc_output_files(**kw),
    ("analysis.bcfit", "joint_fit", "overwrite"): lambda m, tmp, kw: m.joint_fit(**kw),
    ("analysis.fitting", "build_lhaaso_fit", "shared_dge_norm"): lambda m, tmp, kw: m.build_lhaaso_fit(**kw),
    ("analysis.fitting", "fit_output_files", "profiles"): lambda m, tmp, kw: m.fit_output_files(["a"], **kw),
    ("analysis.fitting", "fit_output_files", "plot"): lambda m, tmp, kw: m.fit_output_files(["a"], **kw),
    ("analysis.fitting", "fit_output_files", "posterior"): lambda m, tmp, kw: m.fit_output_files(["a"], **kw),
    ("analysis.fitting", "fit_output_files", "compare_laws"): lambda m, tmp, kw: m.fit_output_files(["a"], **kw),
    ("analysis.plotting", "plot_lhaaso_fit", "overwrite"): lambda m, tmp, kw: m.plot_lhaaso_fit([], None, tmp, {},
                                                                                                  **kw),
    ("analysis.plotting", "plot_neutrinos", "overwrite"): lambda m, tmp, kw: m.plot_neutrinos(None, tmp / "n.png",
                                                                                                **kw),
    ("analysis.plotting", "save_figure", "overwrite"): lambda m, tmp, kw: m.save_figure(None, tmp / "f", **kw),
    ("analysis.population", "population_output_files", "plot"): lambda m, tmp, kw: m.population_output_files(**kw),
    ("analysis.reproduce", "reproduce", "overwrite"): lambda m, tmp, kw: m.reproduce(tmp / "r", **kw),
    ("analysis.reproduce", "reproduce", "progress"): lambda m, tmp, kw: m.reproduce(tmp / "r", **kw),
    ("analysis.reproduce", "reproduce", "answer"): lambda m, tmp, kw: m.reproduce(tmp / "r", **kw),
    ("analysis.answer", "answer_fits", "background"): lambda m, tmp, kw: m.answer_fits("embedded", **kw),
    ("dge.conventional", "ConventionalDGE", "absorption"): lambda m, tmp, kw: m.ConventionalDGE(**kw),
    ("dge.conventional", "ConventionalDGE", "heavier_nuclei"): lambda m, tmp, kw: m.ConventionalDGE(**kw),
    ("dge.leptonic", "ic_intensity", "absorption"): lambda m, tmp, kw: m.ic_intensity(None, [1.0], [0.0], [0.0], **kw),
    ("dge.pi0", "fermi_pi0_dge", "absorption"): lambda m, tmp, kw: m.fermi_pi0_dge(**kw),
    ("emission", "CocoonEmission", "absorption"): lambda m, tmp, kw: m.CocoonEmission(**kw),
    ("models.ratio", "BoronCarbonModel", "advective_floor"): lambda m, tmp, kw: m.BoronCarbonModel(**kw),
    ("models.ratio", "BoronCarbonModel.network", "cocoons"): lambda m, tmp, kw: m.BoronCarbonModel().network(**kw),
    ("models.region", "RegionFluxSpectralModel", "absorption"): lambda m, tmp, kw: m.RegionFluxSpectralModel(
        _sky_model(), **kw),
    ("physics.transport", "GalacticTransport", "advective_floor"): lambda m, tmp, kw: m.GalacticTransport(**kw),
    ("physics.transport", "NuclearNetwork.ratio_vs_energy", "split"): lambda m, tmp, kw: m.NuclearNetwork(
    ).ratio_vs_energy(np.array([10.0]), **kw),
    ("physics.transport", "NuclearNetwork.prepare", "split"): lambda m, tmp, kw: m.NuclearNetwork().prepare(
        [20.0], **kw),
    ("physics.transport", "NuclearNetwork.ratio_vs_rigidity", "split"): lambda m, tmp, kw: m.NuclearNetwork(
    ).ratio_vs_rigidity(np.array([10.0]), **kw),
    ("analysis.bounds", "extended_scan", "log"): lambda m, tmp, kw: m.extended_scan([1, 2, 3], None, 0, 0, 9, **kw),
    ("templates", "write_cube", "overwrite"): lambda m, tmp, kw: m.write_cube(_tiny_cube(), tmp / "c.fits", **kw),
}
for _name, _parameter in (("run_lhaaso_fit", p) for p in ("profiles", "plot", "overwrite", "posterior",
                                                            "shared_dge_norm", "alternative", "progress")):
    CALLS["analysis.fitting", _name, _parameter] = lambda m, tmp, kw: m.run_lhaaso_fit(tmp / "f", **kw)
for _parameter in ("fork", "rerun", "new_group"):
    CALLS["analysis.forked", "ForkedCall", _parameter] = lambda m, tmp, kw: m.ForkedCall(lambda: None, **kw)
CALLS["analysis.answer", "start_answer", "fork"] = lambda m, tmp, kw: m.start_answer("embedded", **kw)
for _parameter in ("dge_norm_options", "energy_scales", "masked_cocoons", "parallel"):
    CALLS["analysis.fitting", "run_lhaaso_fit", _parameter] = lambda m, tmp, kw: m.run_lhaaso_fit(tmp / "f", **kw)
for _parameter in ("energy_scales", "masked_cocoons", "shared_dge_norm"):
    CALLS["analysis.likelihood", "build_likelihood", _parameter] = lambda m, tmp, kw: m.build_likelihood(**kw)
for _parameter in ("energy_scales", "masked_cocoons", "parallel_toys"):
    CALLS["analysis.compare", "compare_dge", _parameter] = lambda m, tmp, kw: m.compare_dge("fermi-pi0", **kw)
for _parameter in ("bc", "energy_scales", "masked_cocoons", "overwrite", "plot", "progress"):
    CALLS["analysis.compare", "run_compare", _parameter] = lambda m, tmp, kw: m.run_compare(tmp / "c", **kw)
CALLS["analysis.answer", "figure_cubes_first", "leptonic_first"] = lambda m, tmp, kw: m.figure_cubes_first(**kw)
CALLS["analysis.significance", "calibrate", "fork"] = lambda m, tmp, kw: m.calibrate(None, {}, **kw)
CALLS["analysis.compare", "compare_output_files", "plot"] = lambda m, tmp, kw: m.compare_output_files(**kw)
CALLS["analysis.plotting", "plot_likelihood_fit", "overwrite"] = lambda m, tmp, kw: m.plot_likelihood_fit(
    None, tmp, {}, **kw)
CALLS["analysis.plotting", "save_figure_png", "overwrite"] = lambda m, tmp, kw: m.save_figure_png(
    None, tmp / "f.png", **kw)
for _parameter in ("overwrite", "plot", "profile", "variants"):
    CALLS["analysis.bcfit", "run_bc", _parameter] = lambda m, tmp, kw: m.run_bc(tmp / "b", **kw)
CALLS["analysis.plotting", "save_figure", "layout"] = lambda m, tmp, kw: m.save_figure(None, tmp / "f", **kw)
for _parameter in ("overwrite", "plot"):
    CALLS["analysis.population", "run_population", _parameter] = lambda m, tmp, kw: m.run_population(tmp / "p", **kw)


def test_every_boolean_option_is_covered():
    """A new boolean option must be added to CALLS (and refuse strings)."""
    assert _boolean_options() == set(CALLS)


@pytest.mark.parametrize("key", sorted(CALLS), ids=lambda k: f"{k[1]}-{k[2]}")
def test_boolean_options_refuse_strings(key, tmp_path):
    """bool("no") is True: fermi_pi0_dge(absorption="no") absorbed. Refused before any work or file."""
    module = importlib.import_module(f"gammapy_cocoons.{key[0]}")
    with pytest.raises(TypeError, match=f"{key[2]} must be True,? (or )?False"):  # energy_scales: or a dict
        CALLS[key](module, tmp_path, {key[2]: "no"})
    assert list(tmp_path.iterdir()) == []


@given(st.one_of(st.text(max_size=3), st.integers(), st.floats(), st.none()))
def test_boolean_rule(value):
    with pytest.raises(TypeError, match="flag must be True or False"):
        boolean(value, "flag")
    assert boolean(np.bool_(True), "flag") is True and boolean(False, "flag") is False


@given(st.one_of(st.integers(-10, 10), st.floats(allow_nan=True), st.booleans(), st.text(max_size=2)))
def test_integer_rule(value):
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if ok:
        assert integer(value, "n", minimum=0) == value
    else:
        with pytest.raises((TypeError, ValueError), match="n must be"):
            integer(value, "n", minimum=0)


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-5, 5), st.floats(0, 5))
def test_parameter_bounds_rule(value, low, width):
    from gammapy.modeling import Parameter

    parameter = Parameter("x", 1.0, min=low, max=low + width)
    parameter.value = value
    if np.isfinite(value) and low <= value <= low + width:
        check_parameter_bounds([parameter])
    else:
        with pytest.raises(ValueError, match=r"x must be within \["):
            check_parameter_bounds([parameter])


def _energy_calls():
    from gammapy_cocoons import BoronCarbonModel, CocoonEmission, CocoonSpectralModel, LHAASO_INNER
    from gammapy_cocoons.models import RegionFluxSpectralModel

    return {
        "CocoonSpectralModel": lambda e: CocoonSpectralModel()(e),
        "CocoonSpectralModel.integral": lambda e: CocoonSpectralModel().integral(e, 2 * e),
        "CocoonEmission.flux": lambda e: CocoonEmission().flux(e),
        "CocoonEmission.intensity": lambda e: CocoonEmission().intensity(e, LHAASO_INNER),
        "RegionFluxSpectralModel": lambda e: RegionFluxSpectralModel(_sky_model(), region=LHAASO_INNER)(e),
        "BoronCarbonModel": lambda e: BoronCarbonModel().evaluate(e.to(u.GeV), quantity="kinetic_energy_per_nucleon"),
        "CocoonPopulation.mean_flux": lambda e: __import__("gammapy_cocoons.population", fromlist=["x"])
        .CocoonPopulation(seed=1).mean_flux(e),
    }


@pytest.mark.parametrize("name", sorted(_energy_calls()))
def test_complex_energies_are_refused(name):
    """A complex energy lost its imaginary part silently (numpy's cast) and gave a number."""
    with pytest.raises((TypeError, ValueError), match="real"):
        _energy_calls()[name](np.array([100 + 1j]) * u.GeV)


def test_to_value_refuses_complex_and_names_the_argument():
    with pytest.raises(TypeError, match="energy must be real"):
        to_value(np.array([1 + 1j]) * u.GeV, "GeV", "energy")


@pytest.mark.parametrize("model", ["CocoonSpectralModel", "CocoonSpatialModel", "BoronCarbonModel"])
@pytest.mark.parametrize("keyword, value, error, match", [
    ("foo", 1.0, TypeError, "unexpected keyword argument 'foo'"),   # gammapy's NameError
    ("delta", "0.3", TypeError, "delta must be one number"),         # a string parsed as a number
    ("delta", True, TypeError, "delta must be one number"),          # True taken as 1
    ("delta", 0.3 + 0.1j, TypeError, "delta must be real"),          # the imaginary part dropped
    ("delta", [0.3, 0.4], TypeError, "delta must be one number"),
    ("delta", np.nan, ValueError, "delta must be finite"),
])
def test_model_keywords(model, keyword, value, error, match):
    import gammapy_cocoons

    cls = getattr(gammapy_cocoons, model)
    if keyword == "delta" and "delta" not in cls.default_parameters.names:
        keyword = cls.default_parameters.names[0]
        match = match.replace("delta", keyword)
    with pytest.raises(error, match=match):
        cls(**{keyword: value})


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_model_keywords_accept_every_value_in_range(data):
    """The check refuses nothing valid: any in-range value of any parameter constructs."""
    from gammapy_cocoons import CocoonSpectralModel

    name = data.draw(st.sampled_from(CocoonSpectralModel.default_parameters.names))
    parameter = CocoonSpectralModel.default_parameters[name]
    value = data.draw(st.floats(parameter.min, parameter.max))
    model = CocoonSpectralModel(**{name: value * parameter.unit if str(parameter.unit) else value})
    assert model.parameters[name].value == pytest.approx(value)
