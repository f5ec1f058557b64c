"""Joint fit of cocoons + a DGE baseline to diffuse gamma-ray points (LHAASO, Tibet, ARGO, yours).

The model for the points of dataset d, measured over region r_d, is

    F_d(E) = s_d [ cocoon flux over r_d (Eq. 8) + N x DGE flux over r_d ]

with the cocoon parameters (chi0, R0, ...) shared by all datasets (one Parameter object) and one
free DGE normalisation N shared by all of them (default; ``shared_dge_norm=False`` gives one N_d
per dataset instead). s_d is the dataset's fixed mask factor: the paper's 0.65 for the LHAASO
inner region, whose known sources are masked; 1 for the others (Tibet and ARGO do not state an
equivalent factor). The bundled points carry statistical and systematic errors in quadrature
(see :mod:`gammapy_cocoons.datasets`). The DGE is any baseline of
:func:`~gammapy_cocoons.dge.select.dge_baseline` ("embedded", "fermi-pi0", or files). gammapy's
``Fit`` does the minimisation and the covariance; the cocoon test statistic is
TS = stat(chi0 = 0) - stat(best fit). chi0 is the mass grammage of the cocoon gas (``target``: ISM
by default, as the B/C fit's; "hydrogen" for the paper's Eq. 7), stated in every summary.
"""
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import astropy.units as u
from gammapy.datasets import Datasets, FluxPointsDataset
from gammapy.modeling import Fit
from gammapy.modeling.models import Models, PowerLawNormSpectralModel, SkyModel

from .._files import output_set, prepare_outdir, publish, publish_table, publish_text
from .._validation import boolean, choice, integer
from ..datasets import check_point_errors, load_flux_points
from ..dge.select import BASELINES, describe_baseline, dge_model
from ..models import GRAMMAGE_LAWS, CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
from ..models.sky import DeclaredUnitSkyModel
from ..physics.targetgas import describe_target
from .bounds import PROFILE_THRESHOLD, bound_note, extended_scan, parameters_at_bounds

__all__ = [
    "build_lhaaso_fit", "run_lhaaso_fit", "compare_grammage_laws", "neutrino_prediction", "sample_posterior",
    "set_default_priors", "INNER_MASK_SCALE", "MASK_SCALES", "DEFAULT_FIT_DATASETS", "FIT_DATASETS",
    "SpectralFluxPointsDataset", "fit_dataset_names", "fit_output_files", "YAML_HEADER", "read_fit_result",
]

log = logging.getLogger(__name__)

#: the paper's factor for the LHAASO inner-region source mask, applied to the inner predictions
INNER_MASK_SCALE = 0.65
#: fixed mask factor per bundled dataset (1 where none is stated)
MASK_SCALES = {"lhaaso-km2a-2023-inner": INNER_MASK_SCALE}
#: bundled gamma-ray datasets a fit may use, with the short names of their fit datasets
FIT_DATASETS = {"lhaaso-km2a-2023-inner": "inner", "lhaaso-km2a-2023-outer": "outer",
                "tibet-asgamma-2021-a": "tibet-a", "tibet-asgamma-2021-b": "tibet-b", "argo-ybj-2015": "argo"}
DEFAULT_FIT_DATASETS = ("lhaaso-km2a-2023-inner", "lhaaso-km2a-2023-outer")


def fit_dataset_names(datasets=DEFAULT_FIT_DATASETS, points=()):
    """Names of the gamma-ray fit datasets :func:`build_lhaaso_fit` (and the joint likelihood) makes
    for these bundled ``datasets`` and user ``points`` (checks them as the fit does, builds nothing);
    the IceCube and B/C terms of the joint likelihood are not flux points and are left out."""
    from .likelihood import LIKELIHOOD_DATASETS

    unknown = [n for n in datasets if n not in LIKELIHOOD_DATASETS]
    if unknown:
        raise ValueError(f"datasets must be among {list(LIKELIHOOD_DATASETS)}, got {unknown}")
    gamma = tuple(n for n in datasets if n in FIT_DATASETS)
    if not gamma and not points:
        raise ValueError("datasets: the fit needs gamma-ray points (a bundled dataset or points)")
    return [name for name, _, _ in _fit_points(gamma, points)]


def check_dataset_names(names, allowed):
    """``names`` as a tuple, each among ``allowed`` and none twice (ValueError naming datasets)."""
    names = tuple(names)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"datasets must be among {list(allowed)}, got {unknown}")
    if len(set(names)) != len(names):
        raise ValueError(f"datasets are given twice: {list(names)}")
    return names


def _fit_points(names, points):
    """[(short name, FluxPoints, mask scale)] of the chosen bundled datasets and the user's points."""
    names = check_dataset_names(names, sorted(FIT_DATASETS))
    chosen = [(FIT_DATASETS[n], load_flux_points(n), MASK_SCALES.get(n, 1.0)) for n in names]
    for i, entry in enumerate(points):
        flux_points, scale = entry if isinstance(entry, tuple) else (entry, 1.0)
        if "region" not in flux_points.meta:
            raise ValueError("points: each user FluxPoints needs meta['region'] (see datasets.read_flux_points)")
        name = flux_points.meta.get("name") or f"points-{i + 1}"
        _check_errors(flux_points, f"points {name!r}")
        chosen.append((name, flux_points, float(scale)))
    if not chosen:
        raise ValueError("datasets and points are both empty: nothing to fit")
    short = [c[0] for c in chosen]
    if len(set(short)) != len(short):
        raise ValueError(f"dataset names must be unique, got {short}")
    return chosen


def _check_errors(flux_points, where):
    """The chi2 needs finite errors > 0 at every point that is not an upper limit."""
    errors = {}
    for key in ("dnde_errn", "dnde_errp", "dnde_err"):
        try:
            errors[key] = np.asarray(getattr(flux_points, key).data, dtype=float).ravel()
        except AttributeError:
            pass
    errn, errp = errors.get("dnde_errn", errors.get("dnde_err")), errors.get("dnde_errp", errors.get("dnde_err"))
    if errn is None or errp is None:
        raise ValueError(f"{where}: no dnde errors (dnde_err, or dnde_errn and dnde_errp)")
    is_ul = flux_points.is_ul
    measured = ~np.asarray(is_ul.data, bool).ravel() if is_ul is not None else np.ones(errn.size, bool)
    check_point_errors(errn[measured], errp[measured], where)


class SpectralFluxPointsDataset(FluxPointsDataset):
    """A `~gammapy.datasets.FluxPointsDataset` that evaluates spectral-only models directly.

    gammapy's ``flux_pred`` builds a new ``SkyModel`` and the energy coordinates of the data's
    geometry on every call, about 3.4 of the 4.1 ms of one evaluation of an LHAASO dataset. For
    models without spatial or temporal parts (as in the joint fit, where the region flux is the
    spectral model) this one evaluates each spectral model at the cached energies, the same
    numbers (tested to 1e-12); any other model goes through gammapy's path. The chi2 statistic
    reads the data from cached arrays for the same reason. ``Fit``, ``Sampler`` and ``Datasets``
    see an ordinary FluxPointsDataset.
    """

    def _energy_true(self):
        key = id(self.data)
        if getattr(self, "_energy_cache", (None, None))[0] != key:
            energy = self.data.geom.as_energy_true.get_coord(sparse=True)["energy_true"]
            self._energy_cache = (key, energy)
        return self._energy_cache[1]

    def _data_arrays(self):
        """dnde and its errors as plain arrays in the dnde unit, cached per data object
        (FluxPoints builds new maps on every ``dnde`` access)."""
        key = id(self.data)
        if getattr(self, "_data_cache", (None, None))[0] != key:
            data = self.data
            unit = data.dnde.unit
            arrays = {"unit": unit, "dnde": data.dnde.data}
            for name in ("dnde_errp", "dnde_errn", "dnde_err"):
                try:
                    arrays[name] = getattr(data, name).quantity.to_value(unit)
                except AttributeError:
                    arrays[name] = None
            self._data_cache = (key, arrays)
        return self._data_cache[1]

    def stat_array(self):
        """gammapy's "chi2" statistic (``Chi2FitStatistic``: symmetric errors, dnde_err or the mean of
        dnde_errn and dnde_errp) on cached data arrays, tested equal to gammapy's own to 1e-12; other
        statistics go through gammapy."""
        if self.stat_type != "chi2":
            return super().stat_array()
        data = self._data_arrays()
        if data["dnde_err"] is not None:
            sigma = data["dnde_err"]
        else:
            sigma = (data["dnde_errn"] + data["dnde_errp"]) / 2
        model = self.flux_pred().to_value(data["unit"])
        return ((data["dnde"] - model) / sigma) ** 2

    def stat_sum(self):
        if self.stat_type != "chi2":
            return super().stat_sum()
        stat = self.stat_array()
        mask = self.mask
        if mask is not None:
            stat = stat[mask.data if hasattr(mask, "data") else mask]
        return np.sum(stat)

    def _stat_sum_likelihood(self):
        # what gammapy's Sampler (through Datasets) asks a dataset for: its statistic without priors,
        # which a dataset does not hold (gammapy's own would bypass stat_sum: its "distrib" needs
        # symmetric errors that the bundled points do not have)
        return self.stat_sum()

    def flux_pred(self):
        models = self.models
        if models is None or any(m.spatial_model is not None or m.temporal_model is not None for m in models):
            return super().flux_pred()
        flux = 0.0
        energy = self._energy_true()
        for model in models:
            flux = flux + model.spectral_model(energy)
        return flux


class _PointsSkyModel(SkyModel):
    """The SkyModel of a region flux compared with flux points. gammapy checks a SkyModel's unit by
    evaluating it at 1 TeV, which a user's DGE cube need not cover (a template refuses energies
    outside its own); here the unit is checked at the points' first energy instead."""

    def __init__(self, *args, unit_check_energy=1 * u.TeV, **kwargs):
        self._unit_check_energy = u.Quantity(unit_check_energy).reshape(1)
        super().__init__(*args, **kwargs)

    def copy(self, name=None, copy_data=False, **kwargs):
        kwargs.setdefault("unit_check_energy", self._unit_check_energy)
        return super().copy(name=name, copy_data=copy_data, **kwargs)

    def _check_unit(self):
        unit = self.spectral_model(self._unit_check_energy).unit
        if not unit.is_equivalent("cm-2 s-1 TeV-1"):
            raise ValueError(f"SkyModel unit {unit} is not equivalent to cm-2 s-1 TeV-1")


def build_lhaaso_fit(grammage="exponential", variant="min", r0=20 * u.TV, chi0=0.4 * u.Unit("g cm-2"),
                     dge="embedded", datasets=DEFAULT_FIT_DATASETS, points=(), shared_dge_norm=True, target="ism"):
    """Datasets and models of the joint fit of cocoons + DGE (see the module documentation).

    Parameters
    ----------
    grammage, r0, chi0
        The cocoon model's grammage law and starting values (chi0: mass grammage of the cocoon gas).
    target : str or float
        The cocoon gas (:class:`~gammapy_cocoons.CocoonSpectralModel`): "ism" (default) or "hydrogen".
    variant : {"min", "max"}
        Member of the DGE band that is fitted.
    dge : str, path or pair of paths
        DGE baseline (:func:`~gammapy_cocoons.dge.select.dge_baseline`).
    datasets : sequence of str
        Bundled datasets (keys of :data:`FIT_DATASETS`).
    points : sequence of FluxPoints or (FluxPoints, mask scale)
        The user's own points, each with ``meta["region"]`` (:func:`~gammapy_cocoons.datasets.read_flux_points`).
    shared_dge_norm : bool
        One DGE normalisation for all datasets (default) or one per dataset.

    Returns
    -------
    datasets : `~gammapy.datasets.Datasets`
        One :class:`SpectralFluxPointsDataset` per dataset ("inner", "outer", "tibet-a", ... or the
        points' names).
    cocoons : `~gammapy.modeling.models.SkyModel`
        The cocoon sky model whose parameters the datasets share.
    dge_norms : dict
        "all" -> the shared PowerLawNormSpectralModel of the DGE, or dataset name -> its own.
    """
    if variant not in ("min", "max"):
        raise ValueError(f"variant must be 'min' or 'max' (the member of the DGE band), got {variant!r}")
    shared_dge_norm = boolean(shared_dge_norm, "shared_dge_norm")
    chosen = _fit_points(datasets, points)  # the data are checked before the DGE is built
    cocoons = DeclaredUnitSkyModel(
        spectral_model=CocoonSpectralModel(grammage=grammage, chi0=chi0, r0=r0, target=target),
        spatial_model=CocoonSpatialModel(), name="cocoons",
    )
    template = dge_model(dge, variant)
    shared = PowerLawNormSpectralModel()
    out, norms = [], ({"all": shared} if shared_dge_norm else {})
    for name, flux_points, scale in chosen:
        region = flux_points.meta["region"]
        norm = shared if shared_dge_norm else norms.setdefault(name, PowerLawNormSpectralModel())
        dge_region = DeclaredUnitSkyModel(spectral_model=norm, spatial_model=template.spatial_model, name=f"dge-{name}")
        total = (RegionFluxSpectralModel(cocoons, region=region, scale=scale)
                 + RegionFluxSpectralModel(dge_region, region=region, scale=scale))
        model = _PointsSkyModel(spectral_model=total, name=name, unit_check_energy=flux_points.energy_ref[0])
        # upper limits are shown with the data, not fitted: the chi2 needs a measurement and its error
        measured = None if flux_points.is_ul is None else ~np.asarray(flux_points.is_ul.data, bool)
        out.append(SpectralFluxPointsDataset(data=flux_points, models=model, name=name, mask_safe=measured))
    return Datasets(out), cocoons, norms


def _free_summary(datasets, cocoons, norms, at_bound=None, likelihood=None):
    """name -> value, error, unit and, for a parameter the fit left at a bound, at_bound "min" / "max"."""
    at_bound = parameters_at_bounds(datasets.models.parameters.free_unique_parameters) if at_bound is None \
        else at_bound
    summary = {}

    def entry(parameter):
        return {"value": float(parameter.value), "error": float(parameter.error), "unit": parameter.unit.to_string()}

    if cocoons is not None:
        for parameter in cocoons.spectral_model.parameters:
            if not parameter.frozen or parameter.name == "chi0":
                summary[parameter.name] = entry(parameter)
    for name, norm in norms.items():
        key = "dge_norm" if name == "all" else f"dge_norm_{name}"
        summary[key] = {"value": float(norm.norm.value), "error": float(norm.norm.error), "unit": ""}
        if not norm.norm.frozen and parameters_at_bounds([norm.norm]):
            summary[key]["at_bound"] = parameters_at_bounds([norm.norm])["norm"]
    if likelihood is not None:
        for instrument, parameter in likelihood.energy_scales.items():
            summary[f"energy_scale_{instrument}"] = entry(parameter)
        if likelihood.ecpl is not None:
            for parameter in likelihood.ecpl.spectral_model.parameters:
                if not parameter.frozen:
                    summary[f"ecpl_{parameter.name}"] = entry(parameter)
        if likelihood.bc_model is not None:
            for parameter in likelihood.bc_model.parameters:
                if not parameter.frozen and parameter.name not in ("chi0", "r0"):
                    summary[f"bc_{parameter.name}"] = entry(parameter)
    for name, side in at_bound.items():
        if name in summary:
            summary[name]["at_bound"] = side
    return summary


def _fit_with_chi0_zero(datasets, cocoons):
    """Best stat with the cocoons switched off (chi0 = 0 frozen); restores the parameters."""
    spectral = cocoons.spectral_model
    saved = [(p, p.value, p.frozen, p.error) for p in datasets.models.parameters.unique_parameters]
    try:
        spectral.chi0.value = 0.0
        spectral.chi0.frozen = True
        spectral.r0.frozen = True  # undefined without cocoons
        result = Fit().optimize(datasets)
        return float(result.total_stat)
    finally:
        for parameter, value, frozen, error in saved:
            parameter.value, parameter.frozen, parameter.error = value, frozen, error


#: the fit statistics of the fit command: gammapy's "distrib" (asymmetric errors, upper limits) or
#: "chi2" (mean errors: the paper's fit, as reproduce draws it)
STATISTICS = ("distrib", "chi2")


def run_lhaaso_fit(outdir=None, grammage="exponential", variant="min", profiles=True, plot=True, overwrite=False,
                   profile_points=13, posterior=False, live_points=100, dge="embedded",
                   datasets=DEFAULT_FIT_DATASETS, points=(), shared_dge_norm=True, alternative=True,
                   progress=False, target="ism", hypothesis="dge+cocoons", dge_norm="prior", energy_scales=True,
                   masks="scalar", masked_cocoons=False, statistic="distrib", dge_norm_options=True,
                   parallel=False):
    """Fit one hypothesis of the joint likelihood to diffuse data; optionally write the results to ``outdir``.

    The likelihood is :func:`~.likelihood.build_likelihood`'s: ``hypothesis`` ("dge+cocoons" by
    default, or "dge", "dge+ecpl", "radial-delta"), ``dge`` and ``variant``, ``datasets`` (default
    LHAASO-KM2A inner and outer; any of :data:`~.likelihood.LIKELIHOOD_DATASETS`, the IceCube term and
    AMS-02 B/C among them), ``points``, the DGE normalisation ``dge_norm`` ("prior": log-normal of
    width :data:`~.priors.DGE_NORM_PRIOR_WIDTH`, default; "free"; "fixed"), ``energy_scales`` (each
    instrument's, constrained by its quoted uncertainty), ``masks``, ``masked_cocoons``, ``target``,
    ``statistic`` ("distrib" default; "chi2" for the paper's fit). With ``alternative`` the fit is
    repeated with the other choice of DGE normalisations (one per dataset, or one shared), and with
    ``dge_norm_options`` with the other two DGE normalisation modes, reported beside the main fit.

    ``progress`` shows a tqdm bar (stderr) over the steps: build, fit, refit without cocoons,
    the other DGE normalisations, each profile, the posterior and the outputs.

    ``parallel`` (the command line's choice; default False): the outputs are computed in forked
    copies of this process (:mod:`.forked`, Linux) as soon as what they need is known (the DGE
    template and the build's disk-cache entries; the covariance file and the SED figures; the
    neutrino prediction and its figure: :class:`_Outputs`), and the fits with the other DGE
    normalisations and modes in others (one each for a built-in DGE), while this one refits without
    cocoons and computes the profiles; the same files and numbers. Not for notebooks.

    Writes ``fit_result.yaml`` (gammapy Models with covariance; the DGE cube it references as
    ``dge_template.fits``, or the user's DGE file by its path relative to the YAML),
    ``fit_summary.json``, ``profile_chi0.ecsv``/``profile_r0.ecsv`` (with cocoons; ``profile_points``
    values each over chi0 0-1.2 g cm-2 and R0 3-300 TV, extended until the statistic rises by 4 on both
    sides of the best fit or reaches the parameter's bound; other parameters refitted) and, with
    ``plot``, ``sed_<dataset>.png``, ``neutrinos.png`` and ``profiles.png``. With ``posterior``,
    ``posterior.ecsv`` (UltraNest samples with :func:`set_default_priors`) and its quantiles in the
    summary. Everything is validated before the first file is written, and a run that fails or
    is interrupted leaves none of its files (:func:`~gammapy_cocoons._files.output_set`).

    Returns
    -------
    dict
        The summary: success, stat, ndof, parameters (name -> value, error, unit), ``at_bound``
        (name -> "min" / "max" for free parameters the fit left at a bound), ts_cocoons, ...
    """
    from .likelihood import DGE_NORM_MODES, HYPOTHESES, MASK_MODES

    for name, value in (("profiles", profiles), ("plot", plot), ("overwrite", overwrite), ("posterior", posterior),
                        ("shared_dge_norm", shared_dge_norm), ("alternative", alternative), ("progress", progress),
                        ("masked_cocoons", masked_cocoons), ("dge_norm_options", dge_norm_options),
                        ("parallel", parallel)):
        boolean(value, name)
    profile_points = integer(profile_points, "profile_points", minimum=3, maximum=1000)
    integer(live_points, "live_points", minimum=20)
    if variant not in ("min", "max"):
        raise ValueError(f"variant must be 'min' or 'max' (the member of the DGE band), got {variant!r}")
    choice(grammage, GRAMMAGE_LAWS, "grammage")
    choice(hypothesis, HYPOTHESES, "hypothesis")
    choice(dge_norm, DGE_NORM_MODES, "dge_norm")
    choice(masks, MASK_MODES, "masks")
    choice(statistic, STATISTICS, "statistic")
    if hypothesis != "radial-delta":
        describe_baseline(dge)
    setup = dict(grammage=grammage, variant=variant, dge=dge, datasets=tuple(datasets), points=points, target=target,
                 hypothesis=hypothesis, dge_norm=dge_norm, energy_scales=energy_scales, masks=masks,
                 masked_cocoons=masked_cocoons, statistic=statistic)
    names = fit_dataset_names(datasets, points)
    profiles = profiles and hypothesis == "dge+cocoons"
    with output_set(outdir):
        if outdir is not None:
            outdir = prepare_outdir(outdir, fit_output_files(names, dge, profiles, plot, posterior,
                                                             hypothesis=hypothesis), overwrite)
        return _run_lhaaso_fit(outdir, setup, profiles, plot, overwrite, profile_points, posterior, live_points,
                               shared_dge_norm, alternative, progress, dge_norm_options, parallel)


def _build(setup, shared_dge_norm, **changes):
    from .likelihood import build_likelihood

    options = dict(setup, **changes)
    return build_likelihood(hypothesis=options["hypothesis"], dge=options["dge"], variant=options["variant"],
                            datasets=options["datasets"], points=options["points"], dge_norm=options["dge_norm"],
                            energy_scales=options["energy_scales"], masks=options["masks"],
                            masked_cocoons=options["masked_cocoons"], grammage=options["grammage"],
                            target=options["target"], shared_dge_norm=shared_dge_norm,
                            statistic=options["statistic"])


class _FitOutcome:
    """What the summary needs of a fit: success, message and the best statistic (gammapy's)."""

    def __init__(self, success, message, stat):
        self.success, self.message, self.total_stat = bool(success), str(message), float(stat)


def _compile(likelihood):
    """The likelihood compiled to arrays, or None where it cannot be (B/C, one norm per dataset, chi2)."""
    from .compiled import CompiledLikelihood

    try:
        return CompiledLikelihood(likelihood)
    except ValueError:
        return None


def _fit_likelihood(likelihood, compiled=None, start=None):
    """The best fit of the likelihood, left in its gammapy Parameters with gammapy's covariance.

    Where the likelihood compiles (:mod:`.compiled`), its global best fit (an R0 scan, several starts
    of the extra component) is the fit and gammapy's HESSE computes the covariance there (on the
    compiled statistic's exact mode, :func:`_covariance`; gammapy's statistic at that point is checked
    equal); elsewhere gammapy's Fit runs from ``start`` (a dict Parameter ->
    value) or the defaults. Returns (outcome, stat)."""
    if not likelihood.datasets.models.parameters.free_unique_parameters:
        # e.g. hypothesis dge, the DGE norm fixed, no energy scales: nothing to fit (iminuit would fail)
        for parameter, value in (start or {}).items():
            parameter.value = value
        stat = float(likelihood.datasets.stat_sum())
        return _FitOutcome(True, "no free parameter: the statistic at the fixed values", stat), stat
    if compiled is not None:
        best, _ = compiled.best_fit()
        compiled.set_gammapy_parameters(best.parameters)
        covariance = _covariance(likelihood, compiled)
        stat = float(likelihood.datasets.stat_sum())
        if abs(stat - best.stat) > 1e-3 * max(1.0, stat):
            log.warning("the compiled statistic %.6g differs from gammapy's %.6g at the best fit", best.stat, stat)
        return _FitOutcome(best.success, f"compiled best fit; gammapy covariance: {covariance.message}", stat), stat
    for parameter, value in (start or {}).items():
        parameter.value = value
    try:
        result = Fit().run(likelihood.datasets)
    except ValueError as error:
        if "got nan" not in str(error):
            raise
        # iminuit stepped to NaN (a model many decades from a point): say so, not which range NaN left
        names = ", ".join(d.name for d in likelihood.datasets)
        raise ValueError(f"the fit of {names} failed: the minimiser proposed a parameter value that is not a number "
                         f"({error}); points many decades away from every model (their energies or fluxes) do this")
    return result, float(likelihood.datasets.stat_sum())


def _covariance(likelihood, compiled):
    """gammapy's covariance of the likelihood at its parameters' values (``Fit().covariance``:
    iminuit's HESSE), with HESSE's statistic evaluated through ``compiled`` where it can be
    (:class:`_ExactStatistic`: the same numbers, ~20x faster); else through gammapy's datasets."""
    datasets = likelihood.datasets
    if compiled is not None and compiled.exact_supported and _compiled_parameters_cover(likelihood):
        exact = _ExactStatistic(likelihood, compiled)
        stat, expected = exact.stat_sum(), float(datasets.stat_sum())
        if abs(stat - expected) <= 1e-9 * max(1.0, abs(expected)):
            return Fit().covariance(exact)
        log.warning("the compiled statistic %.12g differs from gammapy's %.12g: gammapy's datasets compute the "
                    "covariance", stat, expected)
    return Fit().covariance(datasets)


class _ExactStatistic:
    """A likelihood's datasets as gammapy's ``Fit.covariance`` uses them (``models``, ``parameters``,
    ``stat_sum``), the statistic from the compiled likelihood's :meth:`~.compiled.CompiledLikelihood.exact_stat`
    at the gammapy Parameters' values: gammapy's evaluation to rounding (tests: 1e-12) without its
    per-evaluation parameter bookkeeping (0.4 ms instead of 3-8 ms). HESSE sets the covariance on the
    likelihood's own models."""

    def __init__(self, likelihood, compiled):
        self._likelihood, self._compiled = likelihood, compiled

    @property
    def models(self):
        return self._likelihood.datasets.models

    @property
    def parameters(self):
        return self._likelihood.datasets.parameters

    def stat_sum(self):
        return self._compiled.exact_stat(_compiled_values(self._likelihood))


def _compiled_parameters_cover(likelihood):
    """Whether every free parameter of the likelihood is one :func:`_compiled_values` reads (HESSE
    would see a flat statistic in any other)."""
    read = [model.norm for model in likelihood.dge_norms.values()] + list(likelihood.energy_scales.values())
    if likelihood.cocoons is not None:
        read += [likelihood.cocoons.spectral_model.chi0, likelihood.cocoons.spectral_model.r0]
    if likelihood.ecpl is not None:
        spectral = likelihood.ecpl.spectral_model
        read += [spectral.amplitude, spectral.index, spectral.lambda_]
    return all(any(parameter is known for known in read)
               for parameter in likelihood.datasets.models.parameters.free_unique_parameters)


def _n_measurements(likelihood):
    """Points of the statistic: gamma-ray points, the IceCube term, B/C points and the constraint terms."""
    from .bcfit import CosmicRayRatioDataset
    from .likelihood import ConstraintDataset, NeutrinoFluxDataset

    n = 0
    for dataset in likelihood.datasets:
        if isinstance(dataset, ConstraintDataset):
            n += len(dataset.constraints)
        elif isinstance(dataset, NeutrinoFluxDataset):
            n += 1
        elif isinstance(dataset, CosmicRayRatioDataset):
            n += int(dataset.mask_fit.sum())
        else:
            n += int(np.sum(dataset.mask))
    return n


def _run_lhaaso_fit(outdir, setup, profiles, plot, overwrite, profile_points, posterior, live_points, shared_dge_norm,
                    alternative, progress, dge_norm_options=True, parallel=False):
    """The steps of :func:`run_lhaaso_fit`; with an ``outdir``, its outputs are prepared by
    :class:`_Outputs` (in forked children with ``parallel``) and published at the end."""
    outputs = _Outputs(outdir, setup, plot, parallel) if outdir is not None else None
    try:
        return _lhaaso_fit_steps(outdir, setup, profiles, plot, overwrite, profile_points, posterior, live_points,
                                 shared_dge_norm, alternative, progress, dge_norm_options, outputs, parallel)
    finally:
        if outputs is not None:
            outputs.close()


class _Outputs:
    """The outputs of a run prepared in a private directory of ``outdir`` (outside the run's output
    set; :func:`_write_outputs` publishes them), as soon as what they need is known:

    * :meth:`start_dge` (the DGE built): the DGE's neutrino cube into the disk cache (the neutrino
      prediction's), then dge_template.fits (:func:`_prepare_dge_outputs`);
    * :meth:`start` (the best fit known): the covariance file and the SED figures
      (:func:`_prepare_outputs`), and the neutrino prediction with its figure
      (:func:`_prepare_neutrinos`), two jobs of ~1 s each rather than one of ~2 s: the run ends
      with the last job, and the shorter jobs share the two cores more evenly.

    With ``parallel`` each is a forked child (:mod:`.forked`) beside this process's next steps (the
    neutrinos' reads the neutrino cube once the DGE's says it is stored, through a pipe); otherwise
    all run in this process, in order, when :func:`_write_outputs` asks for them. The same files
    either way."""

    def __init__(self, outdir, setup, plot, parallel):
        import tempfile

        self.setup, self.plot, self.parallel = setup, plot, parallel
        self.workdir = Path(tempfile.mkdtemp(prefix=".gammapy-cocoons-fit-", dir=outdir))
        self.dge = self.best = self.neutrinos = self.neutrino_cube = None
        self.profile_overlaps = {}  # {"profiles.png": its text overlaps}, by draw_profiles
        self.pending = []  # disk-cache entries of the DGE build, written by the DGE's child (deferred_writes)
        self._ready = None  # the read end of the pipe by which the first child says the neutrino cube is stored

    def build(self, build):
        """``build()``; with forks, the disk-cache entries it makes are written by the DGE's child,
        and the embedded DGE's neutrino cube (the neutrino prediction's) is built into the disk
        cache meanwhile by another child, if the cache lacks it (the second core is idle during the
        build; the DGE's child waits for it through the cache's lock)."""
        from .._cache import cache_directory, deferred_writes
        from .forked import ForkedCall, can_fork

        if not (self.parallel and can_fork()):
            return build()
        if isinstance(self.setup["dge"], str) and self.setup["dge"] == "embedded" and \
                self.setup["hypothesis"] != "radial-delta":
            from ..dge.conventional import adopt_prefetched, cube_on_disk, cube_ready, default_model

            if cache_directory() is not None and not cube_on_disk(self.setup["variant"], "nu_per_flavour"):
                if not cube_ready(self.setup["variant"]):
                    # the model both builds need (with the command line's prefetched steps) made
                    # first, so that the child starts with it
                    adopt_prefetched()
                    default_model()
                self.neutrino_cube = ForkedCall(_store_neutrino_cube, self.setup["variant"])
        with deferred_writes() as pending:
            result = build()
        self.pending = list(pending)
        return result

    def start_dge(self, likelihood):
        from .forked import ForkedCall, can_fork

        # read when the function runs: in a forked child, the values at the fork; here (no child
        # could start), the write end is None (closed below) and the pending entries are still these
        pending, self.pending = self.pending, []
        self._dge_write = None
        if self.parallel and can_fork():
            self._ready, self._dge_write = os.pipe()
        self.dge = ForkedCall(lambda: _prepare_dge_outputs(self.workdir, likelihood, self.setup, self._dge_write,
                                                           pending), fork=self.parallel)
        if self._dge_write is not None:
            os.close(self._dge_write)  # the child's: its end (or its exit) is the signal
            self._dge_write = None
        if not self.dge.forked:  # nobody will signal: the outputs' step runs after this one here
            self._close_ready()

    def start(self, likelihood, at_bound_note):
        from .forked import ForkedCall

        # the pipe's read end for a forked child only (in this process it is closed now, and the
        # DGE's child is waited for before the function runs here)
        self._child_ready = self._ready
        self.best = ForkedCall(lambda: _prepare_outputs(self.workdir, likelihood, self.plot, at_bound_note),
                               fork=self.parallel)
        self.neutrinos = ForkedCall(lambda: _prepare_neutrinos(self.workdir, likelihood, self.plot,
                                                               self.setup["variant"], self.setup["dge"],
                                                               self._child_ready), fork=self.parallel)
        self._child_ready = None
        self._close_ready()

    def draw_profiles(self, profiles, summary):
        """profiles.png into the private directory as soon as the profiles and the main fit's summary
        entries are known, while the children of the outputs and of the other fits may still run
        (its text overlaps in :attr:`profile_overlaps`)."""
        from .._files import unrecorded
        from .plotting import _plot_profiles

        with unrecorded():
            _plot_profiles(profiles, summary, self.workdir, True, self.profile_overlaps)

    def results(self):
        """The figures' text overlaps, once all are done (their exceptions raised here)."""
        self.dge.result()
        if self.neutrino_cube is not None:  # done by now (the DGE's child waited for it); its warnings issued here
            call, self.neutrino_cube = self.neutrino_cube, None
            try:
                call.result()
            except Exception as error:  # noqa: BLE001 - the DGE's child then built the cube itself
                log.warning("the DGE's neutrino cube could not be built beside the fit (%s); it was built after", error)
        overlaps = self.best.result()
        overlaps.update(self.neutrinos.result())
        return overlaps

    def _close_ready(self):
        if self._ready is not None:
            os.close(self._ready)
            self._ready = None

    def close(self):
        """End what still runs (a run that failed before it published) and remove the directory."""
        import shutil

        for call in (self.best, self.neutrinos, self.dge, self.neutrino_cube):
            if call is not None:
                call.cancel()
        self._close_ready()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _lhaaso_fit_steps(outdir, setup, profiles, plot, overwrite, profile_points, posterior, live_points,
                      shared_dge_norm, alternative, progress, dge_norm_options, outputs, parallel=False):
    from contextlib import ExitStack

    from tqdm.auto import tqdm

    from .forked import ForkedCall

    from .likelihood import DGE_NORM_MODES

    has_cocoons = setup["hypothesis"] == "dge+cocoons"
    other_modes = [m for m in DGE_NORM_MODES if m != setup["dge_norm"]] if dge_norm_options else []
    steps = 2 + has_cocoons + bool(alternative) + bool(other_modes) + (2 if profiles else 0) + bool(posterior) + \
        (outdir is not None)
    # calls: the forked children of the other fits, ended if a step fails before their results are collected
    with tqdm(total=steps, desc="fit", unit="step", disable=not progress) as bar, ExitStack() as calls:
        def step(name):
            bar.set_postfix_str(name)

        start = time.perf_counter()
        step("building the models and region integrals")
        likelihood = outputs.build(lambda: _build(setup, shared_dge_norm)) if outputs is not None else \
            _build(setup, shared_dge_norm)
        if outputs is not None:
            outputs.start_dge(likelihood)  # the DGE's outputs: beside the fit, with parallel
        datasets, cocoons, norms = likelihood.datasets, likelihood.cocoons, likelihood.dge_norms
        datasets.stat_sum()  # builds kernels and region integrals once
        compiled = _compile(likelihood)
        built = time.perf_counter()
        bar.update(1)
        step("fit")
        result, best_stat = _fit_likelihood(likelihood, compiled)
        best_values = {p: p.value for p in datasets.models.parameters.unique_parameters}
        bar.update(1)
        fitted = time.perf_counter()
        at_bound = parameters_at_bounds(datasets.models.parameters.free_unique_parameters)
        n_points = _n_measurements(likelihood)
        n_free = len(datasets.models.parameters.free_unique_parameters)
        gamma = likelihood.gamma_datasets
        summary = {
            "success": bool(result.success),
            "message": str(result.message),
            "at_bound": at_bound,
            "at_bound_note": bound_note(at_bound, {p.name: p for p in datasets.models.parameters.unique_parameters}),
            "stat": best_stat,
            "ndof": n_points - n_free,
            "n_points": n_points,
            "n_points_note": "measurements in the statistic: points, the IceCube term, B/C points and the constraint "
                             "terms of the nuisance parameters",
            "hypothesis": setup["hypothesis"],
            "grammage": setup["grammage"],
            "target": setup["target"],
            "chi0_convention": describe_target(setup["target"]),
            "dge": likelihood.setup["dge"],
            "dge_variant": setup["variant"],
            "dge_norm": setup["dge_norm"],
            "dge_norm_prior": likelihood.setup["dge_norm_prior"],
            "dge_norms": likelihood.setup["dge_norms"],
            "energy_scale_priors": likelihood.setup["energy_scale_priors"],
            "statistic": setup["statistic"],
            "masks": setup["masks"],
            "masked_cocoons": setup["masked_cocoons"],
            "datasets": [d.name for d in gamma],
            "terms": [d.name for d in datasets],
            "mask_scales": dict(likelihood.setup["mask_scales"]),
            "inner_mask_scale": INNER_MASK_SCALE,
            "errors": "statistical and systematic errors in quadrature (bundled points)",
            "parameters": _free_summary(datasets, cocoons, norms, at_bound, likelihood),
            "stat_by_term": {d.name: float(d.stat_sum()) for d in datasets},
            "fitted_with": "the compiled likelihood (gammapy's statistic, checked) and gammapy's covariance"
                           if compiled is not None else "gammapy's Fit",
            "time_build_s": built - start,
            "time_fit_s": fitted - built,
        }
        if "icecube" in likelihood.setup:
            summary["icecube"] = likelihood.setup["icecube"]
        # the outputs of the best fit alone: started now (beside the steps below, with parallel)
        if outputs is not None:
            outputs.start(likelihood, summary["at_bound_note"])
        if has_cocoons:
            step("refit without cocoons")
            null_stat = compiled.null_fit(start=compiled.defaults()).stat if compiled is not None else \
                _fit_with_chi0_zero(datasets, cocoons)
            summary["stat_chi0_zero"] = null_stat
            summary["ts_cocoons"] = null_stat - best_stat
            bar.update(1)
        # the fits with the other DGE normalisations and modes share nothing with the main fit but
        # its best values (their start): beside the profiles, with parallel each in a forked child
        # (jobs of ~0.5 s: they share the two cores with the outputs' children evenly) where the DGE
        # is a built-in one, whose cube the children share; the user's DGE files, which each build
        # would read into a copy of its own, in one child
        others = []
        do_alternative = bool(alternative) and len(gamma) > 1
        if do_alternative or other_modes:
            for key, wanted in (("alternative", do_alternative), ("dge_norm_options", other_modes)):
                if wanted:
                    summary[key] = None  # filled in below (its place in the summary)
            best_start = _best_values(likelihood)
            if isinstance(setup["dge"], str) and setup["dge"] in BASELINES:
                jobs = ([(True, [])] if do_alternative else []) + [(False, [mode]) for mode in other_modes]
            else:
                jobs = [(do_alternative, other_modes)]
            others = [calls.enter_context(ForkedCall(_other_fits, setup, shared_dge_norm, job_alternative, job_modes,
                                                     best_start, fork=parallel))
                      for job_alternative, job_modes in jobs]
        profiles_out = {}
        if profiles:
            best_compiled = None
            if compiled is not None:
                from .compiled import FitResult

                best_compiled = FitResult(best_stat, {**compiled.defaults(), **_compiled_values(likelihood)}, True)
            for name, values, log in (("chi0", np.linspace(0.0, 1.2, profile_points), False),
                                      ("r0", np.geomspace(3, 300, profile_points), True)):
                step(f"profile of {name} ({profile_points} points or more)")
                parameter = getattr(cocoons.spectral_model, name)
                if compiled is not None:
                    profiles_out[name] = _compiled_profile(compiled, name, parameter, values, best_compiled, log)
                else:
                    profiles_out[name] = _profile(datasets, parameter, values, best_stat, log)
                bar.update(1)
            summary["profile_threshold"] = PROFILE_THRESHOLD
            summary["profile_ends"] = {name: _profile_ends(profile, best_stat, getattr(cocoons.spectral_model, name))
                                       for name, profile in profiles_out.items()}
            if outputs is not None and plot:
                outputs.draw_profiles(profiles_out, summary)  # before waiting for the other fits below
        if alternative:
            step("fit with the other DGE normalisations")
        if other_modes:
            step("fits with the other DGE normalisation modes")
        for call in others:  # in the order of the jobs: the summary's order
            for key, value in call.result().items():
                if key == "dge_norm_options":
                    summary[key] = {**(summary[key] or {}), **value}
                else:
                    summary[key] = value
        bar.update(bool(alternative) + bool(other_modes))
        for parameter, value in best_values.items():  # the main fit's values (the other fits share nothing)
            parameter.value = value
        samples = None
        if posterior:
            set_default_priors(cocoons, norms, likelihood)
            labels = {norm.norm: "dge_norm" if name == "all" else f"dge_norm_{name}" for name, norm in norms.items()}
            labels.update({p: f"energy_scale_{i}" for i, p in likelihood.energy_scales.items()})
            step("posterior")
            samples, quantiles = sample_posterior(datasets, live_points=live_points, labels=labels)
            bar.update(1)
            summary["posterior"] = quantiles
        if outdir is not None:
            step("writing the outputs")
            _write_outputs(outdir, likelihood, summary, profiles_out, plot, setup["dge"], overwrite, samples, outputs)
            bar.update(1)
    return summary


def _best_values(likelihood):
    """The main fit's values the other fits start from: its (first) DGE normalisation, chi0 and R0,
    the energy scales."""
    values = {"norm": next(iter(likelihood.dge_norms.values())).norm.value,
              "scales": {i: p.value for i, p in likelihood.energy_scales.items()}}
    if likelihood.cocoons is not None:
        values.update(chi0=likelihood.cocoons.spectral_model.chi0.value, r0=likelihood.cocoons.spectral_model.r0.value)
    return values


def _other_fits(setup, shared_dge_norm, alternative, other_modes, best):
    """The summary's entries of the fits with the other choice of DGE normalisations ("alternative",
    from the main fit's ``best`` values) and with the other ``other_modes`` ("dge_norm_options"):
    each its own likelihood, nothing shared with the main fit's."""
    out = {}
    if alternative:
        other = _build(setup, not shared_dge_norm)
        start_values = {norm.norm: best["norm"] for norm in other.dge_norms.values()}
        if other.cocoons is not None:
            for name in ("chi0", "r0"):
                start_values[getattr(other.cocoons.spectral_model, name)] = best[name]
        for instrument, parameter in other.energy_scales.items():
            start_values[parameter] = best["scales"][instrument]
        other_result, other_stat = _fit_likelihood(other, _compile(other), start_values)
        other_free = len(other.datasets.models.parameters.free_unique_parameters)
        other_bound = parameters_at_bounds(other.datasets.models.parameters.free_unique_parameters)
        out["alternative"] = {
            "dge_norms": other.setup["dge_norms"], "success": bool(other_result.success), "stat": other_stat,
            "ndof": _n_measurements(other) - other_free, "at_bound": other_bound,
            "parameters": _free_summary(other.datasets, other.cocoons, other.dge_norms, other_bound, other)}
    if other_modes:
        out["dge_norm_options"] = {}
        for mode in other_modes:
            other = _build(setup, shared_dge_norm, dge_norm=mode)
            other_compiled = _compile(other)
            other_result, other_stat = _fit_likelihood(other, other_compiled)
            other_free = len(other.datasets.models.parameters.free_unique_parameters)
            other_bound = parameters_at_bounds(other.datasets.models.parameters.free_unique_parameters)
            entry = {"stat": other_stat, "ndof": _n_measurements(other) - other_free,
                     "success": bool(other_result.success), "at_bound": other_bound,
                     "parameters": _free_summary(other.datasets, other.cocoons, other.dge_norms, other_bound, other)}
            if other.cocoons is not None:
                null = other_compiled.null_fit().stat if other_compiled is not None else \
                    _fit_with_chi0_zero(other.datasets, other.cocoons)
                entry["ts_cocoons"] = null - other_stat
            out["dge_norm_options"][mode] = entry
    return out


def _compiled_values(likelihood):
    """The likelihood's gammapy Parameter values as the compiled likelihood names them."""
    values = {("norm" if key == "all" else f"norm:{key}"): model.norm.value
              for key, model in likelihood.dge_norms.items()}
    values.update({f"scale:{i}": p.value for i, p in likelihood.energy_scales.items()})
    if likelihood.cocoons is not None:
        values.update(chi0=likelihood.cocoons.spectral_model.chi0.value, r0=likelihood.cocoons.spectral_model.r0.value)
    if likelihood.ecpl is not None:
        spectral = likelihood.ecpl.spectral_model
        values.update(ecpl_amplitude=spectral.amplitude.value, ecpl_index=spectral.index.value,
                      ecpl_lambda=spectral.lambda_.value)
    return values


def _compiled_profile(compiled, name, parameter, values, best, log):
    """Profile of chi0 or R0 on the compiled likelihood (other parameters refitted, the valley followed),
    extended like :func:`_profile` until delta stat 4 or the parameter's bound."""
    values = np.unique(np.append(values, best.parameters[name]))
    if log:
        values = values[values > 0]
    grid, stats = extended_scan(values, lambda grid: compiled.profile(name, grid, best), best.stat, parameter.min,
                                parameter.max, log=log)
    return {"values": grid, "stat": stats}


def _profile_ends(profile, best_stat, parameter):
    """Where a profile ends, its delta stat there, and whether that end is the parameter's bound
    (delta stat below the threshold there: the data do not bound the parameter on that side)."""
    values, stats = profile["values"], profile["stat"]
    ends = {}
    for side, index, bound in (("low", 0, parameter.min), ("high", -1, parameter.max)):
        delta = float(stats[index] - best_stat)
        ends[side] = {"value": float(values[index]), "delta_stat": delta, "at_bound": bool(values[index] == bound),
                      "unbounded": bool(delta < PROFILE_THRESHOLD)}
    return ends


def _profile(datasets, parameter, values, best_stat, log):
    """Profile of ``parameter`` on ``values`` and the best-fit value, extended until delta stat
    reaches 4 or a bound (:func:`~.bounds.extended_scan`); the other parameters are refitted and
    every parameter is back at the best fit afterwards. Returns {"values", "stat"}."""
    best = [(p, p.value, p.error) for p in datasets.models.parameters.unique_parameters]
    values = np.unique(np.append(values, parameter.value))
    if log:
        values = values[values > 0]

    def evaluate(grid):
        parameter.scan_values = grid
        try:
            return np.asarray(Fit().stat_profile(datasets, parameter, reoptimize=True)["stat_scan"], dtype=float)
        finally:
            parameter.scan_values = None
            for p, value, error in best:  # back to the best fit after each scan
                p.value, p.error = value, error

    grid, stats = extended_scan(values, evaluate, best_stat, parameter.min, parameter.max, log=log)
    return {"values": grid, "stat": stats}


def fit_output_files(dataset_names, dge="embedded", profiles=True, plot=True, posterior=False, compare_laws=False,
                     hypothesis="dge+cocoons"):
    """Every file :func:`run_lhaaso_fit` (and the ``fit`` command) writes for these options.

    ``dge_template.fits`` only when the YAML needs it: a DGE read from files is referenced by
    its own path instead. Profiles only for the hypothesis with cocoons.
    """
    for name, value in (("profiles", profiles), ("plot", plot), ("posterior", posterior),
                        ("compare_laws", compare_laws)):
        boolean(value, name)
    profiles = profiles and hypothesis == "dge+cocoons"
    names = ["fit_result.yaml", "fit_result_covariance.dat", "fit_summary.json", "neutrinos.ecsv"]
    if hypothesis == "radial-delta" or (isinstance(dge, str) and dge in BASELINES):
        names.append("dge_template.fits")
    if profiles:
        names += ["profile_chi0.ecsv", "profile_r0.ecsv"]
    if plot:
        names += [f"sed_{name}.png" for name in dataset_names] + ["neutrinos.png"]
        names += ["profiles.png"] if profiles else []
    if posterior:
        names.append("posterior.ecsv")
    if compare_laws:
        names.append("grammage_laws.json")
    return names


#: first lines of every fit_result.yaml: it reads back only where the plugin registered its models
YAML_HEADER = ("# Written by gammapy-cocoons {version}. Read it back with\n"
               "#     import gammapy_cocoons  # registers the cocoon models with gammapy\n"
               "#     from gammapy.modeling.models import Models; models = Models.read(\"fit_result.yaml\")\n"
               "# (without the import gammapy stops with 'No object found with tag ...').\n")


def read_fit_result(path):
    """The gammapy Models of a ``fit_result.yaml`` (:func:`run_lhaaso_fit`), read with the cocoon
    models registered; a tag gammapy does not know is a ValueError that says what to import."""
    path = Path(path)  # this module imports ..models, which registers the cocoon models
    if not path.is_file():
        raise FileNotFoundError(f"path: {str(path)!r} does not exist")
    try:
        return Models.read(path)
    except KeyError as error:
        raise ValueError(f"{path}: {error.args[0] if error.args else error}; models written by gammapy-cocoons read "
                         "back after `import gammapy_cocoons` (it registers them), others need their own plugin") \
            from None


def _store_neutrino_cube(variant):
    """The embedded DGE's per-flavour neutrino cube of ``variant`` built into the disk cache (a
    forked child's job: :meth:`_Outputs.build`)."""
    from ..dge.conventional import conventional_dge

    conventional_dge(variant, "nu_per_flavour")


def _prepare_dge_outputs(workdir, likelihood, setup, ready=None, pending=()):
    """What needs the DGE alone, as soon as it is built: the ``pending`` disk-cache entries of its
    build written, the DGE's per-flavour neutrino cube (that :func:`neutrino_prediction` reads) into
    the disk cache unless it is there, then ``ready`` (a pipe's write end, if given) closed, then
    dge_template.fits (a computed DGE) written into ``workdir``. Without a disk cache the neutrino cube is left to the
    prediction (a child's cube would be lost with it)."""
    from .._cache import cache_directory, write_deferred
    from .._files import unrecorded

    hypothesis, dge = likelihood.setup["hypothesis"], setup["dge"]
    computed = _computed_template(hypothesis, dge)
    try:
        write_deferred(pending)
        if computed and cache_directory() is not None and not _neutrino_cube_stored(hypothesis, dge, setup["variant"]):
            from .likelihood import hypothesis_dge

            hypothesis_dge(hypothesis, dge, setup["variant"], secondary="nu_per_flavour")
    finally:
        if ready is not None:
            os.close(ready)
    if computed:
        template = likelihood.parts[likelihood.gamma_datasets[0].name]["dge"].sky_model.spatial_model
        with unrecorded():
            template.map.write(workdir / "dge_template.fits", overwrite=True)


def _neutrino_cube_stored(hypothesis, dge, variant):
    """Whether the disk cache holds the embedded DGE's neutrino cube already (stored whole: a file
    appears by a rename), e.g. by :func:`_store_neutrino_cube`'s child: then it is not loaded here
    only to be dropped (~0.15 s, a cube's memory); the neutrino prediction loads it."""
    if hypothesis == "radial-delta" or not (isinstance(dge, str) and dge == "embedded"):
        return False
    from ..dge.conventional import cube_on_disk

    return cube_on_disk(variant, "nu_per_flavour")


def _prepare_outputs(workdir, likelihood, plot, at_bound_note):
    """The outputs of the best fit but the neutrinos', written into the private directory ``workdir``
    (outside the run's output set: :func:`_write_outputs` publishes them): fit_result_covariance.dat
    and, with ``plot``, sed_<dataset>.png. Returns {figure name: its text overlaps}."""
    from .._files import unrecorded

    with unrecorded():
        models = Models(list(likelihood.datasets.models))
        _write_covariance(models, workdir / "fit_result_covariance.dat", format="ascii.fixed_width", delimiter="|",
                          overwrite=True)
        overlaps = {}
        if plot:
            from .plotting import plot_likelihood_fit

            summary = {"at_bound_note": at_bound_note}
            plot_likelihood_fit(likelihood, workdir, {}, True, summary=summary)  # the SEDs (no profiles yet)
            overlaps.update(summary["figure_text_overlaps"])
    return overlaps


def _prepare_neutrinos(workdir, likelihood, plot, variant, dge, dge_ready=None):
    """The neutrino prediction of the best fit, written into ``workdir`` as :func:`_prepare_outputs`
    does: neutrinos.ecsv and, with ``plot``, neutrinos.png. ``dge_ready``: a pipe's read end that
    the DGE's child closes once the neutrino cube is stored (read first). Returns {figure name: its
    text overlaps}."""
    from .._files import unrecorded

    hypothesis = likelihood.setup["hypothesis"]
    cocoons = likelihood.cocoons
    spectral = cocoons.spectral_model if cocoons is not None else CocoonSpectralModel(
        chi0=0 * u.Unit("g cm-2"), target=likelihood.setup["target"])
    with unrecorded():
        overlaps = {}
        if dge_ready is not None:
            while os.read(dge_ready, 1):  # the neutrino cube is in the disk cache (or its child ended)
                pass
        neutrinos = neutrino_prediction(spectral, variant, dge=dge, hypothesis=hypothesis)
        neutrinos.write(workdir / "neutrinos.ecsv", overwrite=True, format="ascii.ecsv")
        if plot:
            from .plotting import plot_neutrinos

            overlaps["neutrinos.png"] = plot_neutrinos(neutrinos, workdir / "neutrinos.png", True)
    return overlaps


def _write_covariance(models, filename, **kwargs):
    """gammapy's ``Models.write_covariance`` (the same table and file), with the covariance gathered
    once: gammapy's gathers every model's covariance again for each of its rows (0.3-0.5 s for the
    fit's 31 parameters). ``kwargs`` go to `~astropy.table.Table.write`."""
    from astropy.table import Table

    data = models.covariance.data
    table = Table()
    table["Parameters"] = models.parameters_unique_names
    for idx in range(len(table)):
        table[str(idx)] = data[idx]
    table.write(filename, **kwargs)


def _computed_template(hypothesis, dge):
    """Whether the DGE template is computed (written as dge_template.fits), not the user's file."""
    return hypothesis == "radial-delta" or (isinstance(dge, str) and dge in BASELINES)


def _write_outputs(outdir, likelihood, summary, profiles, plot, dge, overwrite, samples, outputs):
    """Publish the outputs (inside the run's output set): those prepared by ``outputs``
    (:class:`_Outputs`, collected here first, so that anything that can fail fails before the first
    file; profiles.png drawn there by :meth:`_Outputs.draw_profiles`) and the others."""
    from astropy.table import Table

    from .. import __version__

    workdir = outputs.workdir
    overlaps = outputs.results()
    # first everything that can fail ...
    summary["neutrinos"] = "neutrinos.ecsv"
    gamma = likelihood.gamma_datasets
    template = likelihood.parts[gamma[0].name]["dge"].sky_model.spatial_model
    computed = _computed_template(likelihood.setup["hypothesis"], dge)
    if computed:
        template_file = template.filename = "dge_template.fits"  # beside the YAML, referenced relative to it
    else:  # the user's own file, relative to the YAML so that the folder and the file can move together
        template_file = None
        template.filename = os.path.relpath(Path(template.filename).resolve(), Path(outdir).resolve())
    models = Models(list(likelihood.datasets.models))
    covariance = "fit_result_covariance.dat"
    models._covar_file = covariance
    yaml = YAML_HEADER.format(version=__version__) + models.to_yaml()
    tables = {}
    for name, profile in profiles.items():
        tables[f"profile_{name}.ecsv"] = Table({name: profile["values"], "stat": profile["stat"]})
        summary[f"profile_{name}"] = f"profile_{name}.ecsv"
    # ... then the files

    def move(name):
        return lambda temporary: os.replace(workdir / name, temporary)

    if computed:
        publish(outdir / template_file, move(template_file), overwrite)
    publish(outdir / covariance, move(covariance), overwrite)
    publish_text(outdir / "fit_result.yaml", yaml, overwrite)
    for name, table in tables.items():
        publish_table(table, outdir / name, overwrite, format="ascii.ecsv")
    publish(outdir / "neutrinos.ecsv", move("neutrinos.ecsv"), overwrite)
    if samples is not None:
        publish_table(samples, outdir / "posterior.ecsv", overwrite, format="ascii.ecsv")
    if plot:
        figures = summary.setdefault("figure_text_overlaps", {})
        for dataset in gamma:
            name = f"sed_{dataset.name}.png"
            publish(outdir / name, move(name), overwrite)
            figures[name] = overlaps[name]
        if profiles:
            publish(outdir / "profiles.png", move("profiles.png"), overwrite)
            figures["profiles.png"] = outputs.profile_overlaps["profiles.png"]
        publish(outdir / "neutrinos.png", move("neutrinos.png"), overwrite)
        figures["neutrinos.png"] = overlaps["neutrinos.png"]
    publish_text(outdir / "fit_summary.json", json.dumps(summary, indent=2), overwrite)


def set_default_priors(cocoons, norms=None, likelihood=None):
    """Priors for a posterior: chi0 uniform in [0, 2] g cm-2, R0 log-uniform in [1, 1000] TV,
    DGE norms uniform in [0, 10]; with a joint ``likelihood``, energy scales log-uniform in [0.5, 2]
    and the extra component's amplitude, index and cut-off uniform (their constraint terms stay
    the likelihood's own dataset, counted once)."""
    from gammapy.modeling.models import LogUniformPrior, UniformPrior

    if cocoons is not None:
        spectral = cocoons.spectral_model
        spectral.chi0.prior = UniformPrior(min=0.0, max=2.0)
        spectral.r0.prior = LogUniformPrior(min=1.0, max=1000.0)
    for norm in (norms or {}).values():
        norm.norm.prior = UniformPrior(min=0.0, max=10.0)
    if likelihood is not None:
        for parameter in likelihood.energy_scales.values():
            parameter.prior = LogUniformPrior(min=0.5, max=2.0)
        if likelihood.ecpl is not None:
            spectral = likelihood.ecpl.spectral_model
            spectral.amplitude.prior = UniformPrior(min=0.0, max=1e-11)
            spectral.index.prior = UniformPrior(min=1.0, max=4.0)
            spectral.lambda_.prior = LogUniformPrior(min=1e-4, max=1.0)


def sample_posterior(datasets, live_points=100, frac_remain=0.5, labels=None):
    """Posterior of the free parameters with gammapy's Sampler (UltraNest backend).

    Every free parameter needs a prior (:func:`set_default_priors`). Needs the optional
    dependency ``ultranest`` (``pip install "gammapy-cocoons[sampler]"``).

    ``labels`` optionally maps Parameter objects to column names.

    Returns
    -------
    table : `~astropy.table.Table`
        Equally weighted posterior samples, one column per free parameter (unique names).
    quantiles : dict
        name -> {"median", "low", "high"} (16 and 84 per cent).
    """
    try:
        import ultranest  # noqa: F401
    except ImportError:
        raise ImportError(
            'the posterior needs UltraNest, gammapy\'s sampler backend: pip install "gammapy-cocoons[sampler]"'
        ) from None
    from astropy.table import Table
    from gammapy.modeling import Sampler

    parameters = datasets.models.parameters.free_unique_parameters
    missing = [p.name for p in parameters if p.prior is None]
    if missing:
        raise ValueError(f"parameters without a prior: {', '.join(missing)} (see set_default_priors)")
    saved = [(p, p.value, p.error) for p in parameters]
    sampler = Sampler(
        backend="ultranest",
        sampler_opts={"live_points": int(live_points), "frac_remain": float(frac_remain), "log_dir": None,
                      "resume": "overwrite"},
        run_opts={"show_status": False, "viz_callback": False},
    )
    frozen = []  # filled as they are frozen: undone even if freezing fails part way
    try:
        _freeze_prior_distributions(parameters, frozen)
        result = sampler.run(datasets)
    finally:
        for prior in frozen:
            del prior._inverse_cdf
        for p, value, error in saved:  # the sampler moves the models to the posterior mean
            p.value, p.error = value, error
    names, seen, labels = [], {}, labels or {}
    for p in parameters:
        label = next((text for obj, text in labels.items() if obj is p), p.name)
        seen[label] = seen.get(label, 0) + 1
        names.append(label if seen[label] == 1 else f"{label}_{seen[label]}")
    table = Table(np.asarray(result.samples), names=names)
    quantiles = {
        name: dict(zip(("low", "median", "high"), map(float, np.percentile(table[name], [16, 50, 84]))))
        for name in names
    }
    return table, quantiles


def _freeze_prior_distributions(parameters, frozen):
    """Each prior's scipy distribution made once, for one sampler run; the priors changed are
    appended to the list ``frozen`` as they are (the caller deletes their attribute after the run).

    gammapy's priors build a new frozen scipy distribution, docstring included, on every call of
    ``_inverse_cdf``: about half the sampler's time per point here. A prior cannot change during a
    run, so each one's ``ppf`` is bound once as an attribute of the instance, which the caller
    deletes after the run: the same function of the same distribution, the same numbers. Only
    priors that use gammapy's own ``_inverse_cdf`` (``_random_variable.ppf``) are changed: a kind
    that defines its own, or has no ``_random_variable``, keeps what it does.
    """
    from gammapy.modeling.models import Prior

    for parameter in parameters:
        prior = parameter.prior
        if "_inverse_cdf" in vars(prior):  # one prior shared by two parameters, already frozen
            continue
        if getattr(type(prior), "_inverse_cdf", None) is not Prior._inverse_cdf:
            continue
        try:
            distribution = prior._random_variable
        except (AttributeError, NotImplementedError):
            continue
        prior._inverse_cdf = distribution.ppf
        frozen.append(prior)


def neutrino_prediction(cocoon_spectral, variant="min", energy=None, dge="embedded", hypothesis="dge+cocoons"):
    """All-sky per-flavour neutrino E^2 dN/dE [GeV cm-2 s-1] of cocoons and DGE (Fig. B.1).

    ``cocoon_spectral`` is a fitted gamma-ray CocoonSpectralModel: its parameters and options
    are reused with ``secondary="nu_per_flavour"``. The DGE is the neutrino counterpart of the
    baseline ``dge`` ("embedded" or "fermi-pi0") at its own normalisation; a DGE read from files
    (gamma rays only) has none, and its column is NaN. Energies beyond the DGE cube are refused.

    Returns
    -------
    `~astropy.table.QTable`
        e_ref, cocoons, dge, total, and the IceCube pi0 band interpolated at e_ref where defined.
    """
    from astropy.table import QTable

    from ..datasets import band_at, load_band

    if variant not in ("min", "max"):
        raise ValueError(f"variant must be 'min' or 'max' (the member of the DGE band), got {variant!r}")
    if not isinstance(cocoon_spectral, CocoonSpectralModel):
        raise TypeError(f"cocoon_spectral must be a CocoonSpectralModel, got {type(cocoon_spectral).__name__}")
    if hypothesis != "radial-delta":
        describe_baseline(dge)
    energy = np.geomspace(300, 3e5, 40) * u.GeV if energy is None else u.Quantity(energy, u.GeV)
    options = dict(cocoon_spectral.options, secondary="nu_per_flavour")
    nu = CocoonSpectralModel(**options, **{p.name: p.quantity for p in cocoon_spectral.parameters})
    cocoons = (energy**2 * nu(energy)).to(u.Unit("GeV cm-2 s-1"))
    if hypothesis == "radial-delta" or (isinstance(dge, str) and dge in BASELINES):
        from .likelihood import hypothesis_dge

        cube = hypothesis_dge(hypothesis, dge, variant, secondary="nu_per_flavour").spatial_model.map
        nodes = cube.geom.axes[0].center
        e_gev, node_gev = energy.to_value(u.GeV), nodes.to_value(u.GeV)
        if np.any(e_gev < node_gev[0] * (1 - 1e-9)) or np.any(e_gev > node_gev[-1] * (1 + 1e-9)):
            raise ValueError(f"energy must lie within the DGE cube's {node_gev[0]:.3g}-{node_gev[-1]:.3g} GeV, "
                             f"got {e_gev.min():.3g}-{e_gev.max():.3g} GeV")
        all_sky = np.nansum(cube.quantity.reshape(nodes.size, -1), axis=1) * cube.geom.solid_angle()[0]
        flux = np.exp(np.interp(np.log(e_gev), np.log(node_gev), np.log(all_sky.to_value("GeV-1 cm-2 s-1"))))
        dge_e2 = (energy**2 * flux * u.Unit("GeV-1 cm-2 s-1")).to(u.Unit("GeV cm-2 s-1"))
        label = "the embedded DGE on the KRA-gamma sea" if hypothesis == "radial-delta" else describe_baseline(dge)
        note = f"{label}, '{variant}', at its own normalisation"
    else:
        dge_e2 = np.full(energy.size, np.nan) * u.Unit("GeV cm-2 s-1")
        note = "DGE read from files holds gamma rays only: no DGE neutrinos"
    table = QTable({"e_ref": energy, "cocoons": cocoons, "dge": dge_e2, "total": cocoons + dge_e2})
    band = load_band("icecube-2023-pi0")
    for column in ("e2dnde", "e2dnde_low", "e2dnde_high"):
        table[f"icecube_pi0_{column.replace('e2dnde', 'best').replace('best_', '')}"] = band_at(band, energy, column)
    table.meta["flux"] = "nu + anti-nu of one flavour at Earth (1:1:1), integrated over the whole sky"
    table.meta["cocoon_gas"] = describe_target(nu.target)
    table.meta["dge"] = note
    return table


def compare_grammage_laws(laws=("exponential", "kraichnan", "bohm"), variant="min", **fit_options):
    """Best-fit statistic of the joint fit for several cocoon grammage laws (Appendix B);
    ``fit_options`` as :func:`run_lhaaso_fit`'s (dge, datasets, points, shared_dge_norm, target)."""
    rows = []
    for law in laws:
        summary = run_lhaaso_fit(grammage=law, variant=variant, profiles=False, plot=False, alternative=False,
                                 **fit_options)
        rows.append({"grammage": law, "stat": summary["stat"], "ndof": summary["ndof"],
                     "chi0": summary["parameters"]["chi0"]["value"], "r0": summary["parameters"]["r0"]["value"],
                     "ts_cocoons": summary["ts_cocoons"], "success": summary["success"],
                     "at_bound": summary["at_bound"]})
    return rows
