"""The joint likelihood (issue 23, items 2 and 3): each term against a hand computation, the
constraints counted once, the IceCube term, duplicate measurements refused, bad input, and the
compiled arrays equal to gammapy's statistic."""
import numpy as np
import pytest
import astropy.units as u
from astropy.table import QTable, Table
from gammapy.datasets import Datasets, FluxPointsDataset
from gammapy.estimators import FluxPoints
from gammapy.modeling.models import Models, PowerLawSpectralModel, SkyModel

from gammapy_cocoons.analysis.likelihood import (NeutrinoFluxDataset, PointsDataset, build_likelihood,
                                                 check_duplicate_measurements, icecube_measurement)
from gammapy_cocoons.datasets import load_band, load_flux_points, read_flux_points
from gammapy_cocoons.models import EnergyScaleSpectralModel, LogNormalPrior

FEW = ("lhaaso-km2a-2023-outer", "argo-ybj-2015", "icecube-2023-pi0")


@pytest.fixture(scope="module")
def cocoon_likelihood():
    """Hypothesis (b) on the Fermi pi0 baseline, LHAASO outer + ARGO + IceCube (small and quick)."""
    return build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0", datasets=FEW)


def _points(e, dnde, errn, errp, ul=None):
    table = Table({"e_ref": e * u.TeV, "dnde": dnde * u.Unit("cm-2 s-1 TeV-1"),
                   "dnde_errn": errn * u.Unit("cm-2 s-1 TeV-1"), "dnde_errp": errp * u.Unit("cm-2 s-1 TeV-1")})
    if ul is not None:  # gammapy's "distrib" reads dnde_err even where it needs it nowhere
        table["dnde_err"] = 0.5 * (errn + errp) * u.Unit("cm-2 s-1 TeV-1")
        table["dnde_ul"] = ul * u.Unit("cm-2 s-1 TeV-1")
        table["is_ul"] = np.isfinite(ul)
    table.meta["SED_TYPE"] = "dnde"
    return FluxPoints.from_table(table, sed_type="dnde")


def test_log_normal_constraint_and_its_bad_widths():
    prior = LogNormalPrior(mu=1.2, sigma=0.25)
    assert prior.evaluate(1.5, 1.2, 0.25) == pytest.approx((np.log(1.5 / 1.2) / 0.25) ** 2, rel=1e-12)
    assert prior.evaluate(1.2, 1.2, 0.25) == 0.0 and np.isinf(prior.evaluate(-1.0, 1.2, 0.25))
    for kwargs in ({"sigma": 0}, {"sigma": -0.1}, {"sigma": np.nan}, {"mu": 0}):
        with pytest.raises(ValueError, match=list(kwargs)[0]):
            LogNormalPrior(**kwargs)
    with pytest.raises(ValueError, match="dge_norm_width"):
        build_likelihood(dge="fermi-pi0", dge_norm_width=0.0)
    with pytest.raises(ValueError, match=r"energy_scales\['lhaaso-km2a'\]"):
        build_likelihood(dge="fermi-pi0", energy_scales={"lhaaso-km2a": -0.08})


def test_gammapy_counts_a_shared_prior_per_model_so_the_constraints_are_a_term_of_their_own(cocoon_likelihood):
    """Why ConstraintDataset exists: gammapy 2.1 adds Parameter.prior once per model holding it."""
    model = PowerLawSpectralModel()
    points = _points(np.array([1.0, 3.0]), np.array([1e-12, 1e-13]), np.full(2, 1e-14), np.full(2, 1e-14))
    a = FluxPointsDataset(data=points, models=SkyModel(spectral_model=model, name="a"), name="a")
    b = FluxPointsDataset(data=points, models=SkyModel(spectral_model=model, name="b"), name="b")
    model.index.prior = LogNormalPrior(mu=2.0, sigma=0.1)
    model.index.value = 2.2
    one = (np.log(1.1) / 0.1) ** 2
    assert Datasets([a, b]).models.parameters.prior_stat_sum() == pytest.approx(2 * one)
    # ours: the DGE norm shared by three terms and the energy scales, each counted once
    like = cocoon_likelihood
    norm, scale = like.dge_norms["all"].norm, like.energy_scales["lhaaso-km2a"]
    saved = norm.value, scale.value
    try:
        norm.value, scale.value = 1.5, 0.9
        term = next(d for d in like.datasets if d.name == "constraints")
        expected = (np.log(1.5) / 0.206) ** 2 + (np.log(0.9) / 0.08) ** 2
        assert term.stat_sum() == pytest.approx(expected, rel=1e-12)
        assert like.datasets.models.parameters.prior_stat_sum() == 0.0  # nothing counted twice
    finally:
        norm.value, scale.value = saved


def test_distrib_statistic_by_hand_and_against_gammapy():
    """Asymmetric errors (the upper one where the model is above) and an upper limit, by hand and
    against gammapy's own "distrib" on the same points."""
    from scipy.special import erfc

    e = np.array([1.0, 2.0, 4.0, 8.0])
    model = PowerLawSpectralModel(index=2.0, amplitude="1e-12 cm-2 s-1 TeV-1")
    m = model(e * u.TeV).to_value("cm-2 s-1 TeV-1")
    dnde = m * np.array([0.8, 1.3, 1.0, np.nan])
    errn, errp = m * np.array([0.1, 0.2, 0.1, 0.1]), m * np.array([0.3, 0.1, 0.2, 0.1])  # gammapy wants all
    ul = np.array([np.nan, np.nan, np.nan, 0.5 * m[3]])
    points = _points(e, dnde, errn, errp, ul)
    ours = PointsDataset(data=points, models=SkyModel(spectral_model=model, name="pl"), name="p")
    hand = [((m[0] - dnde[0]) / errp[0]) ** 2, ((m[1] - dnde[1]) / errn[1]) ** 2, 0.0,
            2 * np.log(erfc((ul[3] - m[3]) / ul[3]) / erfc(1.0))]
    assert ours.stat_sum() == pytest.approx(sum(hand), rel=1e-10)
    theirs = FluxPointsDataset(data=points, models=SkyModel(spectral_model=model, name="pl2"), name="g",
                               stat_type="distrib")
    assert ours.stat_sum() == pytest.approx(theirs.stat_sum(), rel=1e-12)


def test_the_statistic_without_priors_is_stat_sum_for_gammapys_sampler(cocoon_likelihood):
    """gammapy's Sampler asks Datasets for the statistic without priors, dataset by dataset
    (``_stat_sum_likelihood``): our points' statistic (asymmetric errors, no dnde_err column), not
    gammapy's, which would fail on these points."""
    e = np.array([1.0, 2.0, 4.0])
    model = PowerLawSpectralModel(index=2.0, amplitude="1e-12 cm-2 s-1 TeV-1")
    m = model(e * u.TeV).to_value("cm-2 s-1 TeV-1")
    points = _points(e, m * np.array([0.8, 1.3, 1.0]), 0.1 * m, 0.3 * m)  # no dnde_err
    ours = PointsDataset(data=points, models=SkyModel(spectral_model=model, name="pl"), name="p")
    assert ours._stat_sum_likelihood() == ours.stat_sum() > 0
    datasets = cocoon_likelihood.datasets
    for dataset in datasets:
        assert dataset._stat_sum_likelihood() == dataset.stat_sum()
    prior = sum(p.prior_stat_sum() for p in datasets.models.parameters.unique_parameters if p.prior is not None)
    assert datasets._stat_sum_likelihood() == pytest.approx(datasets.stat_sum() - prior, rel=1e-12)


def test_energy_scale_model_and_yaml():
    power_law = PowerLawSpectralModel(index=2.7, amplitude="1e-12 cm-2 s-1 TeV-1")
    scaled = EnergyScaleSpectralModel(power_law, 1.1)
    e = [1.0, 30.0] * u.TeV
    assert np.allclose(scaled(e) / power_law(e), 1.1 * 1.1**-2.7, rtol=1e-12)  # s F(s E)
    other = EnergyScaleSpectralModel(PowerLawSpectralModel(), scaled.energy_scale)
    read = Models.from_yaml(Models([SkyModel(spectral_model=scaled, name="x"),
                                    SkyModel(spectral_model=other, name="y")]).to_yaml())
    assert read["x"].spectral_model.energy_scale is read["y"].spectral_model.energy_scale  # still one scale
    assert read["x"].spectral_model.energy_scale.value == pytest.approx(1.1)
    with pytest.raises(ValueError, match="energy_scale"):
        EnergyScaleSpectralModel(power_law, -1.0)


def test_energy_scale_of_the_cocoons_on_a_fixed_grid():
    """The wrapped model is evaluated on a grid that does not move with s (one production kernel for a
    whole fit, not one per step) and interpolated log-log: within 1e-3 of s F(s E) computed directly
    where E^2 F is within four decades of its peak (measured: 6e-4; the cocoon spectrum itself wiggles by
    ~1e-4 in log-log, its cross-section tables), and in the far cut-off only as a share of the peak."""
    from gammapy_cocoons import CocoonSpectralModel
    from gammapy_cocoons.models import spectral

    cocoons = CocoonSpectralModel(r0=30 * u.TV)
    scaled = EnergyScaleSpectralModel(cocoons, 1.0)
    e = np.geomspace(12.0, 900.0, 15) * u.TeV
    scaled(e)
    kernels = len(spectral._KERNELS)
    for s in (0.81, 0.93, 1.07, 1.24):
        scaled.energy_scale.value = s
        direct = s * cocoons(s * e)
        sed = (e**2 * direct).value
        relevant = sed > 1e-4 * sed.max()
        assert relevant.sum() >= 6
        assert np.allclose(scaled(e)[relevant], direct[relevant], rtol=1e-3, atol=0)
        assert np.allclose((e**2 * scaled(e)).value[~relevant], sed[~relevant], rtol=0, atol=1e-7 * sed.max())
    assert len(spectral._KERNELS) == kernels + 4  # the direct evaluations' kernels only


def test_icecube_term():
    """The measured flux is the band's integral (a power law: closed form) with the fit's asymmetric
    errors, 21.8 +5.3 -4.9 of IceCube's Table 1; the term is the asymmetric Gaussian of a model's integral."""
    m = icecube_measurement()
    band = load_band("icecube-2023-pi0")
    e, y = band["e_ref"].to_value("GeV"), band["e2dnde"].to_value("GeV cm-2 s-1")
    slope = np.polyfit(np.log(e), np.log(y), 1)[0]  # E^2 dN/dE = A E^slope
    amplitude = y[0] / e[0] ** slope
    closed = amplitude * (e[-1] ** slope - e[0] ** slope) / slope
    assert m["flux"] == pytest.approx(closed, rel=2e-3)
    assert m["errn"] / m["flux"] == pytest.approx(4.9 / 21.8, rel=1e-3)
    assert m["errp"] / m["flux"] == pytest.approx(5.3 / 21.8, rel=1e-3)
    # a model 10 % above the measurement costs (0.1 F / errp)^2, 10 % below (0.1 F / errn)^2
    for factor, error in ((1.1, m["errp"]), (0.9, m["errn"])):
        index = 2.0 - slope
        model = PowerLawSpectralModel(index=index, amplitude=factor * amplitude * u.Unit("GeV-1 cm-2 s-1"),
                                      reference=1 * u.GeV)
        term = NeutrinoFluxDataset(m, models=SkyModel(spectral_model=model, name="nu"))
        assert term.predicted_flux() == pytest.approx(factor * closed, rel=1e-6)
        assert term.stat_sum() == pytest.approx(((factor * closed - m["flux"]) / error) ** 2, rel=1e-3)


@pytest.mark.parametrize("factor", [1e4, 1e-6])
def test_points_beyond_the_dge_or_the_cocoons_are_refused_at_build(tmp_path, factor):
    """A point at 1e6 TeV (or 15 MeV) failed inside the fit, naming the cocoon model or the template (the
    issue-24 fuzz run): refused when the likelihood is built, naming the points."""
    outer = load_flux_points("lhaaso-km2a-2023-outer")
    omega = outer.meta["solid_angle"] * u.sr
    QTable({"e_ref": outer.energy_ref * factor, "dnde": outer.dnde.quantity.ravel() / omega,
            "dnde_errn": outer.dnde_errn.quantity.ravel() / omega,
            "dnde_errp": outer.dnde_errp.quantity.ravel() / omega}).write(tmp_path / "far.ecsv")
    from gammapy_cocoons.skyregions import LHAASO_OUTER

    far = read_flux_points(tmp_path / "far.ecsv", region=LHAASO_OUTER, name="far-points")
    with pytest.raises(ValueError, match="points 'far-points': energies .* reach beyond the DGE cube"):
        build_likelihood(dge="fermi-pi0", datasets=("argo-ybj-2015",), points=[far])


def test_duplicate_measurement_refused_by_value(tmp_path):
    """The bundled LHAASO outer points and the user's copy of them (as intensities, another name) are
    one measurement; the bundled datasets are five different ones."""
    outer = load_flux_points("lhaaso-km2a-2023-outer")
    omega = outer.meta["solid_angle"] * u.sr
    QTable({"e_ref": outer.energy_ref, "dnde": outer.dnde.quantity.ravel() / omega,
            "dnde_errn": outer.dnde_errn.quantity.ravel() / omega,
            "dnde_errp": outer.dnde_errp.quantity.ravel() / omega}).write(tmp_path / "mine.ecsv")
    from gammapy_cocoons.skyregions import LHAASO_OUTER

    mine = read_flux_points(tmp_path / "mine.ecsv", region=LHAASO_OUTER, name="my-copy")
    with pytest.raises(ValueError, match="same measurement"):
        build_likelihood(dge="fermi-pi0", datasets=("lhaaso-km2a-2023-outer",), points=[mine])
    from gammapy_cocoons.analysis.fitting import FIT_DATASETS

    check_duplicate_measurements([(name, load_flux_points(name)) for name in FIT_DATASETS])  # no error


def test_bad_input_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match="hypothesis"):
        build_likelihood(hypothesis="cocoons-only", dge="fermi-pi0")
    with pytest.raises(ValueError, match="radial-delta.*embedded"):
        build_likelihood(hypothesis="radial-delta", dge="fermi-pi0")
    with pytest.raises(ValueError, match="datasets"):
        build_likelihood(dge="fermi-pi0", datasets=("lhaaso-km2a-2023-outer", "hawc"))
    # a DGE file holds gamma rays only: the IceCube term is refused before anything is built
    path = tmp_path / "dge.fits"
    path.write_text("not read")
    with pytest.raises(ValueError, match="icecube-2023-pi0"):
        build_likelihood(dge=str(path), datasets=("lhaaso-km2a-2023-outer", "icecube-2023-pi0"))


def test_compiled_statistic_is_gammapys(cocoon_likelihood):
    """The arrays compute gammapy's Datasets.stat_sum() (each hypothesis, parameters off the defaults)."""
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood

    rng = np.random.default_rng(5)
    likelihoods = [cocoon_likelihood] + [build_likelihood(hypothesis=h, dge="fermi-pi0", datasets=FEW)
                                         for h in ("dge", "dge+ecpl")]
    for like in likelihoods:
        compiled = CompiledLikelihood(like)
        for _ in range(2):
            params = {k: v * np.exp(0.1 * rng.standard_normal()) for k, v in compiled.defaults().items()}
            assert compiled.stat(params) == pytest.approx(compiled.gammapy_stat(params), rel=2e-5)
    # the best fit is a minimum of gammapy's statistic too: no step of any free parameter lowers it
    compiled = CompiledLikelihood(cocoon_likelihood)
    best, _ = compiled.best_fit()
    at_best = compiled.gammapy_stat(best.parameters)
    for name in compiled.free_names():
        for factor in (0.98, 1.02):
            step = dict(best.parameters, **{name: best.parameters[name] * factor + (0.002 if name == "chi0" else 0)})
            assert compiled.gammapy_stat(step) >= at_best - 1e-4, name


def test_compiled_per_dataset_norms_are_gammapys():
    """One DGE normalisation per dataset (the fit command's alternative): the arrays compute gammapy's
    statistic with every norm moved on its own, and their best fit is at least as good as gammapy's
    Fit from the defaults, at the same parameters."""
    from gammapy.modeling import Fit

    from gammapy_cocoons.analysis.compiled import CompiledLikelihood

    like = build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0", datasets=FEW, shared_dge_norm=False)
    compiled = CompiledLikelihood(like)
    assert compiled.norm_names == ["norm:outer", "norm:argo"]
    assert set(compiled.norm_names) <= set(compiled.free_names()) and set(compiled.norm_names) <= set(compiled.priors)
    rng = np.random.default_rng(11)
    for _ in range(3):
        params = {k: v * np.exp(0.3 * rng.standard_normal()) for k, v in compiled.defaults().items()}
        assert compiled.stat(params) == pytest.approx(compiled.gammapy_stat(params), rel=2e-5)
    # a norm of one dataset changes that dataset's points only (and the IceCube term, which uses the first's)
    base = compiled.defaults()
    moved = dict(base, **{"norm:argo": 1.5})
    changed = [not np.allclose(a, b, rtol=1e-9, atol=0)
               for a, b in zip(compiled.predicted(base), compiled.predicted(moved))]
    assert changed == [False, True]
    assert compiled.neutrino_flux(moved) == compiled.neutrino_flux(base)
    best, _ = compiled.best_fit()
    reference = Fit().run(like.datasets)
    assert reference.success
    assert best.stat <= float(like.datasets.stat_sum()) + 1e-3
    gammapy_values = {p.name: p.value for p in like.datasets.models.parameters.free_unique_parameters}
    assert best.parameters["chi0"] == pytest.approx(gammapy_values["chi0"], rel=0.05, abs=0.02)


def test_prior_widths_and_energy_scale_names_are_refused_by_name():
    """Fuzz campaign (issue 24): widths that are not numbers name their argument, and an
    energy_scales dict naming no known instrument is refused (it would leave the scale out, silently)."""
    for width in ("abc", None, [0.2, 0.3], True, 0.2 * u.m):
        with pytest.raises(TypeError, match="dge_norm_width must be a number"):
            build_likelihood(dge="fermi-pi0", dge_norm_width=width)
    for width in ("x", None, True):
        with pytest.raises(TypeError, match=r"energy_scales\['lhaaso-km2a'\] must be a number"):
            build_likelihood(dge="fermi-pi0", energy_scales={"lhaaso-km2a": width})
    for name in ("LHAASO-KM2A", "hawc", 1):
        with pytest.raises(ValueError, match="energy_scales: unknown instrument"):
            build_likelihood(hypothesis="dge", dge="fermi-pi0", datasets=("lhaaso-km2a-2023-outer",),
                             energy_scales={name: 0.1})
    with pytest.raises(TypeError, match="datasets must be a sequence"):
        build_likelihood(dge="fermi-pi0", datasets="lhaaso-km2a-2023-outer")


def test_a_likelihood_without_free_parameters_is_evaluated_not_fitted():
    """hypothesis dge, the DGE norm fixed, no energy scales: nothing is free (the fit command's
    'other DGE normalisation modes' raised iminuit's 'starting value(s) are required'; issue 24 fuzz)."""
    from gammapy_cocoons.analysis.fitting import _compile, _fit_likelihood

    like = build_likelihood(hypothesis="dge", dge="fermi-pi0", datasets=("lhaaso-km2a-2023-outer",),
                            dge_norm="fixed", energy_scales=False)
    assert not like.datasets.models.parameters.free_unique_parameters
    outcome, stat = _fit_likelihood(like, _compile(like))
    assert outcome.success and "no free parameter" in outcome.message
    assert stat == pytest.approx(like.datasets.stat_sum()) and np.isfinite(stat) and stat > 0


def test_a_minimiser_stepping_to_nan_is_said_so(monkeypatch):
    """iminuit proposing NaN (points many decades from every model, found by the issue-24 fuzz run) was
    reported as 'chi0 must be within [0, 20], got nan': now as a failed fit of the named datasets."""
    from gammapy.modeling import Fit

    from gammapy_cocoons.analysis import fitting

    def nan_step(self, datasets):
        raise ValueError("chi0 must be within [0, 20] g / cm2, got nan")

    monkeypatch.setattr(Fit, "run", nan_step)
    like = build_likelihood(hypothesis="dge", dge="fermi-pi0", datasets=("argo-ybj-2015",))
    with pytest.raises(ValueError, match="the fit of argo.* failed: the minimiser proposed a parameter value that is not"):
        fitting._fit_likelihood(like)


def test_write_covariance_writes_gammapys_file(tmp_path, cocoon_likelihood):
    """fitting._write_covariance (the covariance gathered once) writes the same file as gammapy's
    Models.write_covariance, byte for byte, with the fit's non-trivial covariance."""
    from gammapy.modeling import Fit
    from gammapy.modeling.models import Models

    from gammapy_cocoons.analysis.fitting import _write_covariance

    Fit().covariance(cocoon_likelihood.datasets)
    models = Models(list(cocoon_likelihood.datasets.models))
    assert np.count_nonzero(models.covariance.data - np.diag(np.diag(models.covariance.data)))  # correlations
    options = dict(format="ascii.fixed_width", delimiter="|", overwrite=True)
    models.write_covariance(tmp_path / "gammapy.dat", **options)
    _write_covariance(models, tmp_path / "ours.dat", **options)
    assert (tmp_path / "ours.dat").read_bytes() == (tmp_path / "gammapy.dat").read_bytes()


def test_compiled_jacobian_is_the_statistics_derivative(cocoon_likelihood, tmp_path):
    """The compiled fits' analytic Jacobian (issue 25) equals scipy's central differences of the
    residuals anywhere: hypotheses dge, dge+cocoons and dge+ecpl, one or several DGE norms, energy
    scales, the IceCube term, masked cocoons and user points with upper limits; chi0 = 0 and an
    ECPL amplitude 0 from the side a fit moves to."""
    from scipy.optimize._numdiff import approx_derivative

    from gammapy_cocoons.analysis.compiled import CompiledLikelihood
    from gammapy_cocoons.skyregions import LHAASO_OUTER

    outer = load_flux_points("lhaaso-km2a-2023-outer")
    omega = outer.meta["solid_angle"] * u.sr
    dnde = outer.dnde.quantity.ravel() / omega
    is_ul = np.arange(dnde.size) >= dnde.size - 2
    QTable({"e_ref": 0.8 * outer.energy_ref, "dnde": dnde, "dnde_err": outer.dnde_errp.quantity.ravel() / omega,
            "dnde_ul": 3 * dnde, "is_ul": is_ul}).write(tmp_path / "limits.ecsv")
    limits = read_flux_points(tmp_path / "limits.ecsv", region=LHAASO_OUTER, name="with-limits")
    likelihoods = [cocoon_likelihood] + [build_likelihood(hypothesis=h, dge="fermi-pi0", datasets=FEW,
                                                          shared_dge_norm=shared)
                                         for h, shared in (("dge+cocoons", False), ("dge+ecpl", True), ("dge", False))]
    likelihoods.append(build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0", datasets=("argo-ybj-2015",),
                                        points=[limits], masks="1lhaaso", masked_cocoons=True))
    rng = np.random.default_rng(3)
    for like in likelihoods:
        compiled = CompiledLikelihood(like)
        free = compiled.free_names()
        assert compiled._limits.sum() == (2 if like is likelihoods[-1] else 0)
        for trial in range(3):
            params = {k: v * np.exp(0.2 * rng.standard_normal()) for k, v in compiled.defaults().items()}
            for end in ("chi0", "ecpl_amplitude"):  # the components off: where null fits start and end
                if trial == 2 and end in params:
                    params[end] = 0.0
            fixed = {k: v for k, v in params.items() if k not in free}
            x = compiled._to_x(free, params)
            numeric = approx_derivative(lambda y: compiled.residuals(compiled._from_x(free, y, fixed)), x,
                                        method="2-point" if trial == 2 else "3-point", rel_step=1e-7)
            analytic = compiled.jacobian(compiled._from_x(free, x, fixed), free)
            assert analytic.shape == numeric.shape
            scale = np.abs(numeric).max(axis=0)
            assert np.all(np.abs(analytic - numeric).max(axis=0) <= 1e-5 * scale + 1e-12), (free, trial)
    # a value missing from params: one line naming it, not a KeyError from inside the model
    compiled = CompiledLikelihood(cocoon_likelihood)
    params = dict(compiled.defaults())
    del params["r0"]
    with pytest.raises(ValueError, match="params: no value for r0"):
        compiled.residuals(params)
    with pytest.raises(ValueError, match="params: no value for r0"):
        compiled.jacobian(params, ["chi0", "r0"])
    with pytest.raises(ValueError, match="params: no value for r0"):  # chi0 fitted from 0
        compiled.jacobian(dict(params, chi0=0.0), ["chi0"])
    assert np.all(np.isfinite(compiled.residuals(dict(params, chi0=0.0))))  # cocoons off: R0 not needed
    assert np.all(np.isfinite(compiled.jacobian({"r0": 20.0}, ["norm", "chi0"])))  # the others default
    with pytest.raises(ValueError, match="names: no derivative of 'scale:nowhere'"):  # no such instrument
        compiled.jacobian(compiled.defaults(), ["chi0", "scale:nowhere"])
    ecpl = CompiledLikelihood(likelihoods[2])
    assert ecpl.hypothesis == "dge+ecpl"
    with pytest.raises(ValueError, match="params: no value for ecpl_index, ecpl_lambda"):
        ecpl.residuals({"ecpl_amplitude": 1e-13})
    with pytest.raises(ValueError, match="params: no value for ecpl_lambda"):
        ecpl.jacobian({"ecpl_index": 2.4}, ["ecpl_amplitude"])


def test_compiled_evaluations_kept_between_calls_are_a_fresh_evaluations(cocoon_likelihood):
    """The compiled likelihood keeps its last DGE and cocoon evaluation (a fit's Jacobian follows its
    residuals at the same point): any sequence of residuals and Jacobians, at repeated and new
    points, R0 shifted and back, gives to the bit what a fresh compiled likelihood gives for each
    call alone; the kept arrays cannot be changed by a caller."""
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood

    kept = CompiledLikelihood(cocoon_likelihood)
    free = kept.free_names()
    rng = np.random.default_rng(11)
    points = [{k: v * np.exp(0.2 * rng.standard_normal()) for k, v in kept.defaults().items()} for _ in range(4)]
    points.append(dict(points[0], r0=points[0]["r0"] * 1.5))  # the same energies, another R0
    points.append(dict(points[0], chi0=0.0))  # cocoons off at the same energies
    calls = [(kind, p) for p in points + points[::-1] for kind in ("residuals", "jacobian", "residuals")]
    fresh = CompiledLikelihood(cocoon_likelihood)
    for kind, params in calls:
        got = kept.residuals(params) if kind == "residuals" else kept.jacobian(params, free)
        fresh._last_dge = fresh._last_cocoons = None  # nothing kept: every value computed for this call
        expected = fresh.residuals(params) if kind == "residuals" else fresh.jacobian(params, free)
        assert np.array_equal(got, expected), kind
    for name in ("_last_dge", "_last_cocoons"):
        value = getattr(kept, name)[1 if name == "_last_dge" else 2]
        with pytest.raises(ValueError, match="read-only"):
            value[0] = 0.0
    # the allowed ranges looked up once per name follow a change of the energy scales' bounds
    scale = next(name for name in free if name.startswith("scale:"))
    kept.residuals(dict(points[0], **{scale: 1.05}))
    kept.scale_bounds = dict(kept.scale_bounds, **{scale: (0.99, 1.01)})
    with pytest.raises(ValueError, match=f"params: {scale} must be within"):
        kept.residuals(dict(points[0], **{scale: 1.05}))


def test_compiled_fits_step_only_where_the_models_are_defined(cocoon_likelihood):
    """A compiled fit checks its parameters once, at its start (issue 25: the check at every step was
    a tenth of ``compare``): its bounds lie inside the ranges where the models are defined, for every
    parameter kind, and every step of real fits (the cocoon hypothesis from its defaults and from near
    its bounds, R0 fixed at the ends of its range, the null fit; energy scales free) passes the check
    it no longer makes; a fixed value outside its range is still refused, naming it."""
    from gammapy_cocoons.analysis import compiled as module
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood

    fit_kinds = list(module.PARAMETER_BOUNDS) + ["norm:outer", "scale:lhaaso-km2a"]
    compiled = CompiledLikelihood(cocoon_likelihood)
    for name in fit_kinds:
        low, high, _ = module._bounds(name, compiled.scale_bounds)
        allowed = compiled._allowed_range(name)
        assert allowed[0] <= low < high <= allowed[1], name

    checked = []

    def checking(function):
        def wrapper(params, *args):
            CompiledLikelihood._check_params(compiled, params)  # raises where the models are not defined
            checked.append(function.__name__)
            return function(params, *args)
        return wrapper

    compiled._residuals = checking(compiled._residuals)
    compiled._jacobian = checking(compiled._jacobian)
    far = dict(compiled.defaults(), chi0=19.9, r0=999.0, norm=90.0)
    fits = [compiled.fit(), compiled.fit(start=far), compiled.fit(fixed={"r0": 1.0}),
            compiled.fit(fixed={"r0": 1000.0}), compiled.null_fit()]
    assert all(np.isfinite(f.stat) for f in fits)
    assert checked.count("_residuals") >= 5 * 3 and checked.count("_jacobian") >= 5 * 2
    for name, value in (("chi0", -0.1), ("r0", 2e5), ("norm", -1.0)):
        with pytest.raises(ValueError, match=f"params: {name} must be within"):
            compiled.fit(fixed={name: value})


def test_exact_statistic_is_gammapys_to_rounding(cocoon_likelihood, tmp_path):
    """The compiled likelihood's exact mode (HESSE's statistic, issue 25) is gammapy's evaluation to
    rounding, energy scales away from 1 included (gammapy interpolates each dataset's whole model on
    the energy-scale grid; the fast mode, within 2e-5, does not): every hypothesis, one or several
    norms, a user dataset with upper limits; the masked cocoons' fraction is refused by name."""
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood
    from gammapy_cocoons.skyregions import LHAASO_OUTER

    outer = load_flux_points("lhaaso-km2a-2023-outer")
    omega = outer.meta["solid_angle"] * u.sr
    dnde = outer.dnde.quantity.ravel() / omega
    QTable({"e_ref": 0.8 * outer.energy_ref, "dnde": dnde, "dnde_err": outer.dnde_errp.quantity.ravel() / omega,
            "dnde_ul": 3 * dnde, "is_ul": np.arange(dnde.size) >= dnde.size - 2}).write(tmp_path / "limits.ecsv")
    limits = read_flux_points(tmp_path / "limits.ecsv", region=LHAASO_OUTER, name="with-limits")
    # the KM2A outer points in GeV, as a user's dataset of that instrument (its energy scale): the
    # energy-scale grid is made in the points' own unit
    in_gev = QTable({"e_ref": outer.energy_ref.to("GeV"), "dnde": dnde.to("GeV-1 cm-2 s-1 sr-1"),
                     "dnde_errn": (outer.dnde_errn.quantity.ravel() / omega).to("GeV-1 cm-2 s-1 sr-1"),
                     "dnde_errp": (outer.dnde_errp.quantity.ravel() / omega).to("GeV-1 cm-2 s-1 sr-1")})
    in_gev.write(tmp_path / "gev.ecsv")
    read = read_flux_points(tmp_path / "gev.ecsv", region=LHAASO_OUTER, name="outer-gev")  # (in TeV)
    table = read.to_table(sed_type="dnde")
    for column in ("e_ref", "e_min", "e_max"):
        if column in table.colnames:
            table[column] = table[column].quantity.to("GeV")
    gev = FluxPoints.from_table(table, sed_type="dnde")
    gev.meta.update(read.meta, instrument="lhaaso-km2a")
    assert gev.energy_ref.unit == u.GeV and gev.meta.get("instrument") == "lhaaso-km2a"
    likelihoods = [cocoon_likelihood] + [build_likelihood(hypothesis=h, dge="fermi-pi0", datasets=FEW,
                                                          shared_dge_norm=shared)
                                         for h, shared in (("dge+cocoons", False), ("dge+ecpl", True), ("dge", True))]
    likelihoods.append(build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0", datasets=("argo-ybj-2015",),
                                        points=[limits]))
    likelihoods.append(build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0", datasets=("argo-ybj-2015",),
                                        points=[gev]))
    assert "scale:lhaaso-km2a" in CompiledLikelihood(likelihoods[-1]).free_names()
    rng = np.random.default_rng(17)
    for like in likelihoods:
        compiled = CompiledLikelihood(like)
        assert compiled.exact_supported
        for _ in range(3):
            params = {k: v * np.exp(0.1 * rng.standard_normal()) for k, v in compiled.defaults().items()}
            params.update({k: 1 + rng.choice([-0.05, 0.04]) for k in params if k.startswith("scale:")})
            assert compiled.exact_stat(params) == pytest.approx(compiled.gammapy_stat(params), rel=1e-12, abs=1e-12)
        assert compiled.exact_stat(dict(params, chi0=0.0, ecpl_amplitude=0.0)) == pytest.approx(
            compiled.gammapy_stat(dict(params, chi0=0.0, ecpl_amplitude=0.0)), rel=1e-12)
    masked = CompiledLikelihood(build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0", datasets=FEW,
                                                 masks="1lhaaso", masked_cocoons=True))
    assert not masked.exact_supported
    with pytest.raises(ValueError, match="exact_stat: the masked cocoons"):
        masked.exact_stat(masked.defaults())


def _errors_reset(like):
    """The likelihood's parameter errors as before any covariance (HESSE starts from them)."""
    for parameter in like.datasets.models.parameters:
        parameter.error = 0.0


def test_covariance_through_the_compiled_statistic_is_gammapys(monkeypatch, caplog):
    """fit's covariance: gammapy's HESSE on the compiled exact statistic gives gammapy's covariance
    (the same steps: errors within 1e-5), and gammapy's datasets compute it where the compiled
    statistic cannot follow: a free parameter it does not read, or a statistic that differs."""
    from gammapy.modeling import Fit

    from gammapy_cocoons.analysis import fitting
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood

    seen = []
    covariance = Fit.covariance
    monkeypatch.setattr(Fit, "covariance", lambda self, datasets, **kw: seen.append(type(datasets).__name__)
                        or covariance(self, datasets, **kw))
    fresh = build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0", datasets=FEW)  # (its errors are set)
    for like in (fresh, build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0", datasets=FEW,
                                         shared_dge_norm=False)):
        compiled = CompiledLikelihood(like)
        best, _ = compiled.best_fit()
        compiled.set_gammapy_parameters(best.parameters)
        free = like.datasets.models.parameters.free_unique_parameters
        _errors_reset(like)
        reference = Fit().covariance(like.datasets)
        expected = np.array([p.error for p in free])
        _errors_reset(like)
        values = [p.value for p in free]
        result = fitting._covariance(like, compiled)
        assert seen[-2:] == ["FitDatasets", "_ExactStatistic"]  # (the likelihood's Datasets class)
        assert result.success and [p.value for p in free] == values  # HESSE leaves the best fit
        assert np.all(expected > 0) and np.allclose([p.error for p in free], expected, rtol=1e-5, atol=0)
        assert np.allclose(result.matrix, reference.matrix, rtol=1e-4, atol=1e-12 * np.abs(reference.matrix).max())
    # a free parameter the compiled statistic does not read (the DGE norm's tilt): gammapy's datasets
    like = fresh
    compiled = CompiledLikelihood(like)
    tilt = like.dge_norms["all"].tilt
    monkeypatch.setattr(tilt, "frozen", False)
    fitting._covariance(like, compiled)
    assert seen[-1] == "FitDatasets"
    monkeypatch.setattr(tilt, "frozen", True)
    # a compiled statistic that is not gammapy's: said, and gammapy's datasets
    monkeypatch.setattr(compiled, "exact_stat", lambda params: 1.0 + CompiledLikelihood.exact_stat(compiled, params))
    with caplog.at_level("WARNING", logger="gammapy_cocoons.analysis.fitting"):
        fitting._covariance(like, compiled)
    assert seen[-1] == "FitDatasets" and "differs from gammapy's" in caplog.text


@pytest.mark.parametrize("change", [{"chi0": -0.1}, {"chi0": 25.0}, {"r0": 2e5}, {"r0": 1e-4},
                                    {"scale:lhaaso-km2a": 3.0}, {"scale:argo-ybj": 0.3},
                                    {"norm": -1.0}, {"norm": float("nan")}])
def test_compiled_refuses_parameters_where_the_models_are_not_defined(cocoon_likelihood, change):
    """chi0 < 0 or an energy scale off its bounds: gammapy's models refuse them; the arrays (fast and
    exact) would extrapolate a number, so they refuse them too, naming the parameter."""
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood

    compiled = CompiledLikelihood(cocoon_likelihood)
    params = dict(compiled.defaults(), **change)
    (name, value), = change.items()
    for call in (compiled.stat, compiled.exact_stat, lambda p: compiled.jacobian(p, compiled.free_names()),
                 compiled.predicted, compiled.neutrino_flux, lambda p: compiled.simulate(p, np.random.default_rng(0))):
        with pytest.raises(ValueError, match=f"params: {name} must be within"):
            call(params)
    if name in ("chi0", "r0", "scale:lhaaso-km2a", "scale:argo-ybj"):  # gammapy's own models refuse these
        with pytest.raises(ValueError, match="must be within"):
            compiled.gammapy_stat(params)
    # a value that is not a number: named, not a TypeError from inside a comparison
    with pytest.raises(ValueError, match=f"params: {name} must be a number"):
        compiled.stat(dict(params, **{name: "0.4"}))
    # the bounds themselves are allowed (the fits reach them, to rounding)
    low, high = compiled.scale_bounds["scale:argo-ybj"]
    for edge in (low, high, low * (1 - 1e-14)):
        assert np.isfinite(compiled.stat(dict(compiled.defaults(), **{"scale:argo-ybj": edge})))
