"""B/C as a gammapy dataset: fit the cocoon grammage to AMS-02, alone or jointly with gamma rays.

`CosmicRayRatioDataset` is a gammapy ``Dataset`` (chi2 statistic, asymmetric errors honoured) of a
measured ratio and a :class:`~gammapy_cocoons.models.BoronCarbonModel`; gammapy's ``Fit`` accepts
it next to the ``FluxPointsDataset`` of the gamma-ray fit, and a shared ``chi0`` Parameter ties the
two. Only points above 20 GV (``MIN_RIGIDITY_FIT``; 9 GeV/n for C) are fitted by default, where
energy losses, reacceleration and the energy dependence of the cross sections are negligible.

Two set-ups (:data:`BC_SETUPS`), both with the full nuclear network (Ni down to B) and AMS-02 C/O
(2021) fitting the source O/C:

- ``"paper"`` (the main result, as Ambrosone et al. 2025): AMS-02 B/C of PRL 120, 021101 (2018),
  the Evoli et al. 2019 transport with its diffusion break (R_b = 312 GV, Delta_delta = 0.2,
  s = 0.1, H = 4 kpc) and delta fixed at 0.62, the value of that paper's code (crams v1.1,
  ``include/params.h``; see ``shared/data/PROVENANCE.md``); chi0, D0 and O/C free.
- ``"free"``: AMS-02 B/C of the 2021 Physics Reports (rigidity), delta free too.

chi0 is the mass grammage of the cocoon gas (g cm-2 of H + He; ISM gas, He/H = 0.1 by number, by
default), counted like the Galactic grammage and like the gamma-ray models' chi0 (see
:mod:`~gammapy_cocoons.physics.targetgas`); the joint fit refuses a B/C and a gamma-ray model whose
cocoon gases differ (:func:`share_cocoon_parameters`). Before issue 23 the B/C chi0 counted m_p
times the hydrogen column (1 / 1.4 of today's values). DAMPE and CALET are overlaid, not fitted,
unless asked for.
"""
import json
import logging
import time

import numpy as np
import astropy.units as u
from astropy.table import QTable
from gammapy.datasets import Dataset, Datasets
from gammapy.modeling import Fit
from gammapy.modeling.models import DatasetModels

from .._files import output_set, prepare_outdir, publish_table, publish_text
from .._validation import boolean, positive_float, to_value
from .bcstart import start_bc_variants  # noqa: F401  (run_bc's background)
from .bounds import bound_note, extended_scan, parameters_at_bounds
from ..datasets import RATIOS, load_ratio
from ..models.ratio import BoronCarbonModel
from ..physics.targetgas import describe_target
from ..physics.transport import MIN_RIGIDITY_FIT, rigidity_of

__all__ = ["CosmicRayRatioDataset", "build_bc_fit", "fit_bc", "bc_variants", "network_record", "BC_SETUPS", "chi0_interval", "run_bc", "joint_fit", "bc_table",
           "bc_data_table", "share_cocoon_parameters", "start_bc_variants"]

log = logging.getLogger(__name__)

#: B/C fit set-ups: data, and the transport parameters they fix (module docstring)
BC_SETUPS = {
    "paper": {"data": ("ams02-bc-2018", "ams02-co-2021"), "fixed": {"d_index": 0.62},
              "description": "AMS-02 B/C 2018 + C/O 2021; Evoli et al. 2019 transport with its break, "
                             "delta fixed at 0.62 (crams v1.1, the code of Evoli et al. 2019)"},
    "free": {"data": ("ams02-bc-2021", "ams02-co-2021"), "fixed": {},
             "description": "AMS-02 B/C 2021 + C/O 2021; Evoli et al. 2019 transport with its break, delta free"},
}
#: data sets of the default (paper) B/C fit, and those overlaid on its figure
BC_FIT_DATA = BC_SETUPS["paper"]["data"]
BC_OVERLAY_DATA = ("dampe-bc-2022", "calet-bc-2022")
#: what every reported chi0 means (the default cocoon gas, "ism")
CHI0_CONVENTION = describe_target("ism")


class FitDatasets(Datasets):
    """gammapy's Datasets with the joint statistic of ``Datasets.stat_sum`` (the datasets' statistics,
    then the priors of every parameter of their unique models and the penalties), without the
    Models collections it builds in every one of the thousands of evaluations of a B/C fit (each
    collection gathers every model's parameters through gammapy's attribute hook). Same value."""

    def stat_sum(self):
        models = {}
        for dataset in self:
            for model in _dataset_models(dataset):
                models[model] = model
        prior = 0
        for model in models:
            for parameter in _model_parameters(model):
                if parameter.prior is not None:
                    prior += parameter.prior_stat_sum()
        penalties = self._penalties
        if penalties is not None:
            for penalty in penalties if isinstance(penalties, (list, tuple)) else [penalties]:
                prior += penalty.stat_sum()
        stat = 0.0
        for dataset in self:
            stat += dataset.stat_sum()
        return stat + prior


def _dataset_models(dataset):
    if isinstance(dataset, CosmicRayRatioDataset):
        return () if dataset._model is None else (dataset._model,)
    return () if dataset.models is None else dataset.models


def _model_parameters(model):
    """``model.parameters`` as a list; a BoronCarbonModel's from the instance (its Parameter objects,
    shared ones too, live in its ``__dict__``; see :meth:`BoronCarbonModel.network`)."""
    if isinstance(model, BoronCarbonModel):
        state = object.__getattribute__(model, "__dict__")
        return [state[name] for name in type(model).default_parameters.names]
    return model.parameters


class CosmicRayRatioDataset(Dataset):
    """A measured CR ratio (B/C or C/O) and its model, with a chi2 statistic.

    Parameters
    ----------
    data : `~astropy.table.QTable`
        As returned by :func:`~gammapy_cocoons.datasets.load_ratio`: columns x, value, error_lo,
        error_hi; meta ratio ("B/C" or "C/O") and quantity ("rigidity" or
        "kinetic_energy_per_nucleon").
    models : `BoronCarbonModel` or list holding one, optional
    name : str, optional
        Default: ``data.meta["name"]``.
    min_rigidity : `~astropy.units.Quantity`
        Points below this rigidity (of C12 for per-nucleon data) are masked from the fit.
    correlation_length : float, optional
        ``None`` (default): statistical and systematic errors in quadrature, points independent.
        A number ell > 0 [decades of rigidity]: the systematic errors are correlated, with the
        covariance of the fitted points C_ij = stat_i^2 delta_ij + sys_i sys_j
        exp(-(log10(R_i / R_j))^2 / (2 ell^2)), the form of Derome et al. 2019 (A&A 627, A158,
        Sect. 3) with one systematic component (AMS-02 publishes no correlation matrix, so ell is
        an assumption; errors symmetrised, sys^2 = total^2 - stat^2), and chi2 = r^T C^-1 r.
    """

    tag = "CosmicRayRatioDataset"
    stat_type = "chi2"

    def __init__(self, data, models=None, name=None, min_rigidity=MIN_RIGIDITY_FIT * u.GV, correlation_length=None):
        if not isinstance(data, QTable) or not {"x", "value", "error_lo", "error_hi"} <= set(data.colnames):
            raise TypeError("data must be a QTable with columns x, value, error_lo, error_hi (see load_ratio)")
        if data.meta.get("ratio") not in ("B/C", "C/O"):
            raise ValueError(f"data.meta['ratio'] must be 'B/C' or 'C/O', got {data.meta.get('ratio')!r}")
        if data.meta.get("quantity") not in ("rigidity", "kinetic_energy_per_nucleon"):
            raise ValueError("data.meta['quantity'] must be 'rigidity' or 'kinetic_energy_per_nucleon'")
        if np.any(~(np.asarray(data["error_lo"]) > 0)) or np.any(~(np.asarray(data["error_hi"]) > 0)):
            raise ValueError("data errors must be finite and > 0")
        self.data = data
        self._name = name or data.meta.get("name") or "ratio"
        rigidity = self.rigidity.to_value(u.GV)
        self.mask_fit = rigidity >= to_value(min_rigidity, "GV", "min_rigidity")
        if not np.any(self.mask_fit):  # a statistic of 0 over no points would look like a perfect fit
            raise ValueError(f"min_rigidity {min_rigidity} leaves no point of {self._name} to fit (its highest "
                             f"rigidity is {rigidity.max():.4g} GV)")
        self.mask_safe = None
        self._model = None
        self.models = models
        self.correlation_length = None
        self._cholesky = None
        if correlation_length is not None:
            self._set_correlation(correlation_length)

    def _set_correlation(self, correlation_length):
        from scipy.linalg import cho_factor

        length = float(correlation_length)
        if not (np.isfinite(length) and length > 0):
            raise ValueError(f"correlation_length must be finite and > 0 (decades of rigidity), got {correlation_length!r}")
        if "stat_error" not in self.data.colnames:
            raise ValueError("correlation_length needs a stat_error column (statistical part of the errors)")
        mask = self.mask_fit
        total = 0.5 * (np.asarray(self.data["error_lo"]) + np.asarray(self.data["error_hi"]))[mask]
        stat = np.asarray(self.data["stat_error"], dtype=float)[mask]
        if np.any(~(stat > 0)) or np.any(stat > total):
            raise ValueError("stat_error must be > 0 and not above the total error")
        sys = np.sqrt(total**2 - stat**2)
        log_r = np.log10(self.rigidity.to_value(u.GV)[mask])
        correlation = np.exp(-0.5 * ((log_r[:, None] - log_r[None, :]) / length) ** 2)
        covariance = np.diag(stat**2) + sys[:, None] * sys[None, :] * correlation
        self.correlation_length = length
        self._cholesky = cho_factor(covariance, lower=True)

    @property
    def rigidity(self):
        """Rigidity of each point [GV] (of C12 for per-nucleon data)."""
        x = self.data["x"]
        if self.data.meta["quantity"] == "rigidity":
            return x.to(u.GV)
        return rigidity_of(x.to_value(u.GeV), 2.0) * u.GV

    @property
    def models(self):
        # one DatasetModels per model set (it holds the live model: parameter changes show through);
        # a fit reads it in every evaluation
        return self._models

    @models.setter
    def models(self, models):
        if models is None:
            self._model = self._models = None
            return
        candidates = [models] if isinstance(models, BoronCarbonModel) else [
            m for m in models if isinstance(m, BoronCarbonModel)]
        if len(candidates) != 1:
            raise ValueError(f"models must hold exactly one BoronCarbonModel, got {len(candidates)}")
        self._model = candidates[0]
        self._models = DatasetModels([self._model])
        # the fit evaluates the fitted points only (stat_sum): the network is solved on those
        self._model.register(self.data["x"][self.mask_fit], quantity=self.data.meta["quantity"],
                             ratio=self.data.meta["ratio"])

    def npred(self):
        """The model ratio at every point."""
        if self._model is None:
            raise ValueError(f"dataset {self.name!r} has no model")
        return self._model.evaluate(self.data["x"], quantity=self.data.meta["quantity"], ratio=self.data.meta["ratio"])

    def stat_array(self):
        """chi2 of each point; the upper error applies where the model is above the point."""
        model = self.npred()
        value = np.asarray(self.data["value"], dtype=float)
        error = np.where(model > value, self.data["error_hi"], self.data["error_lo"])
        return ((model - value) / error) ** 2

    def stat_sum(self):
        """chi2 of the fitted points: independent points, or r^T C^-1 r with correlated systematics.

        The model is evaluated at the fitted points only (every point is independent: the same
        values as :meth:`npred` there)."""
        if self._model is None:
            raise ValueError(f"dataset {self.name!r} has no model")
        mask = self.mask_fit
        model = self._model.evaluate(self.data["x"][mask], quantity=self.data.meta["quantity"],
                                     ratio=self.data.meta["ratio"])
        residual = model - np.asarray(self.data["value"], dtype=float)[mask]
        if self._cholesky is None:
            error = np.where(residual > 0, np.asarray(self.data["error_hi"])[mask],
                             np.asarray(self.data["error_lo"])[mask])
            return float(np.sum((residual / error) ** 2))
        from scipy.linalg import cho_solve

        return float(residual @ cho_solve(self._cholesky, residual))

    def _stat_sum_likelihood(self):
        return self.stat_sum()

    def residuals(self):
        """(data - model) / model at every point."""
        model = self.npred()
        return (np.asarray(self.data["value"]) - model) / model

    def __str__(self):
        return (f"{type(self).__name__}: {self.name} ({self.data.meta['ratio']} vs {self.data.meta['quantity']}), "
                f"{int(self.mask_fit.sum())} of {len(self.data)} points fitted")


def build_bc_fit(names=None, model=None, grammage="exponential", min_rigidity=MIN_RIGIDITY_FIT * u.GV,
                 setup="paper", production="galprop17-opt12", correlation_length=None):
    """Datasets of the B/C fit and its model.

    ``setup`` (:data:`BC_SETUPS`) gives the default data (``names``) and the transport parameters it
    fixes; chi0 and d0 are free, d_index unless the set-up fixes it; with C/O data in ``names``,
    o_to_c is freed too. A ``model`` passed in is used as it is (its frozen flags included).
    ``correlation_length`` (decades of rigidity): correlated systematics, see
    :class:`CosmicRayRatioDataset`.
    """
    if setup not in BC_SETUPS:
        raise ValueError(f"setup must be one of {sorted(BC_SETUPS)}, got {setup!r}")
    names = tuple(BC_SETUPS[setup]["data"] if names is None else names)
    if not names:
        raise ValueError(f"names must list at least one ratio dataset, e.g. {list(BC_FIT_DATA)}")
    if model is None:
        model = BoronCarbonModel(grammage=grammage, production=production)
        for name, value in BC_SETUPS[setup]["fixed"].items():
            model.parameters[name].value = value
            model.parameters[name].frozen = True
    if not isinstance(model, BoronCarbonModel):
        raise TypeError(f"model must be a BoronCarbonModel, got {type(model).__name__}")
    datasets = FitDatasets([CosmicRayRatioDataset(load_ratio(name), models=model, min_rigidity=min_rigidity,
                                               correlation_length=correlation_length) for name in names])
    if any(d.data.meta["ratio"] == "C/O" for d in datasets):
        model.o_to_c.frozen = False
    return datasets, model


def _optimize_and_covariance(datasets):
    """Optimise, then compute the covariance in a separate call.

    In the joint fit, the covariance that ``Fit.run`` takes from the optimiser's final state came
    out up to 10x too small (d_index: 0.004 against 0.036 from a fresh Hesse and from the profile);
    a separate ``Fit.covariance`` agrees with the profile likelihood.
    """
    fit = Fit()
    result = fit.optimize(datasets)
    fit.covariance(datasets)
    return result


def _ndof(datasets):
    points = sum(int(d.mask_fit.sum()) for d in datasets)
    return points - len(datasets.models.parameters.free_parameters.unique_parameters)


#: Minuit options of the refits that give only a minimum statistic (chi0's profile, chi0 = 0):
#: strategy 0 skips the Hessian that strategy 1 computes at the end of Migrad, which such a refit
#: never uses (about 10 of its 30-45 evaluations). Migrad's stopping rule (EDM below tolerance)
#: is the same; on every point of ``bc``'s profiles the minima came out bitwise equal to strategy 1.
REFIT_OPTIONS = {"strategy": 0}


def _refit_fixed_chi0(datasets, model, chi0):
    saved = [(p, p.value, p.frozen) for p in datasets.models.parameters.unique_parameters]
    try:
        model.chi0.value, model.chi0.frozen = chi0, True
        result = Fit(optimize_opts=dict(REFIT_OPTIONS)).optimize(datasets)
        return float(result.total_stat)
    finally:
        for parameter, value, frozen in saved:
            parameter.value, parameter.frozen = value, frozen


def chi0_interval(datasets, model, best_stat, values=None):
    """Profile of the fit statistic in chi0 (other free parameters refitted) and its 68 % interval.

    The grid (default 0-1.2 g cm-2 in 13 steps, and the best fit) is extended until delta stat
    reaches 4 on both sides of the best fit or chi0's bound (:func:`~.bounds.extended_scan`).
    Returns (chi0 grid, delta stat, (lower, upper)); the bounds are where delta stat = 1, by
    linear interpolation on the grid (None when the grid does not reach it).
    """
    values = np.linspace(0.0, 1.2, 13) if values is None else np.asarray(values, dtype=float)
    best_value = float(model.chi0.value)  # the caller's best fit
    values = np.unique(np.append(values, best_value))
    values, stats = extended_scan(values, lambda grid: [_refit_fixed_chi0(datasets, model, v) for v in grid],
                                  best_stat, model.chi0.min, model.chi0.max)
    stats = stats - best_stat
    # the signed root of delta stat is linear in chi0 for a parabolic profile: interpolating it is
    # exact there even on this coarse grid (interpolating delta stat itself came out 40 % narrow)
    root = np.sign(values - best_value) * np.sqrt(np.maximum(stats, 0.0))
    lower = upper = None
    if root[0] <= -1.0:
        lower = float(np.interp(-1.0, root, values))
    elif stats[0] <= 1.0:
        lower = float(values[0])
    if root[-1] >= 1.0:
        upper = float(np.interp(1.0, root, values))
    return values, stats, (lower, upper)


def _parameter_summary(model):
    out = {}
    at_bound = parameters_at_bounds(model.parameters)
    for p in model.parameters:
        if not p.frozen or p.name == "chi0":
            out[p.name] = {"value": float(p.value), "error": float(p.error), "unit": p.unit.to_string()}
            if p.name in at_bound:
                out[p.name]["at_bound"] = at_bound[p.name]
    return out


def _bound_entries(parameters, named):
    """summary entries "at_bound" and "at_bound_note" of the free ``parameters``."""
    at_bound = parameters_at_bounds(parameters)
    return {"at_bound": at_bound, "at_bound_note": bound_note(at_bound, named)}


def network_record(model):
    """What the B/C model was computed with: isotopes, tables, and the share of the boron production
    at 100 GV (A/Z = 2) made by parents heavier than O."""
    from ..physics.nuclides import get_nucleus
    from ..physics.transport import kinetic_energy_per_nucleon, production_by_parent
    from ..physics.xstables import TABLE_FILES

    network = model.network(cocoons=False)
    production = production_by_parent(network, kinetic_energy_per_nucleon(np.array([100.0]), 2.0), "B")
    total = float(sum(v[0] for v in production.values()))
    heavier = float(sum(v[0] for k, v in production.items() if get_nucleus(k).charge > 8))
    tables = [f"production: {model.production} ({TABLE_FILES.get(model.production, TABLE_FILES['wks98'])[1]})",
              f"inelastic: tripathi99 ({TABLE_FILES['tripathi99'][1]})",
              "ghosts: IAEA LiveChart 2026 list (XS4GCRv2)", "decays: XS4GCR cosmic-ray chart (Z <= 28)",
              "source abundances: GALPROP v54 galdef (O/C fitted)"]
    if model.production == "evoli2019":
        tables.insert(1, "C, N, O -> Li, Be, B fits: Evoli et al. 2019 (PRD 99, 103023)")
    return {"species": list(network.species), "tables": tables, "boron_from_heavier_than_o": heavier / total}


def fit_bc(names=None, grammage="exponential", profile=True, setup="paper", production="galprop17-opt12",
           correlation_length=None):
    """Fit the B/C model; returns (datasets, model, summary dict).

    The summary holds the set-up, stat, ndof, parameters (name -> value, error, unit), the
    parameters the fit left at a bound (``at_bound``), the same fit with chi0 = 0
    (stat_no_cocoons, delta_stat), the chi0 profile and its 68 % interval, the network record
    (:func:`network_record`) and timings.
    """
    profile = boolean(profile, "profile")
    start = time.perf_counter()
    datasets, model = build_bc_fit(names, grammage=grammage, setup=setup, production=production,
                                   correlation_length=correlation_length)
    result = _optimize_and_covariance(datasets)
    elapsed = time.perf_counter() - start
    summary = {
        "setup": setup, "setup_description": BC_SETUPS[setup]["description"],
        "target": model.target, "chi0_convention": describe_target(model.target),
        "success": bool(result.success), "stat": float(result.total_stat), "ndof": _ndof(datasets),
        "parameters": _parameter_summary(model), "fixed": dict(BC_SETUPS[setup]["fixed"]),
        **_bound_entries(datasets.models.parameters.free_parameters.unique_parameters,
                         {p.name: p for p in model.parameters}),
        "datasets": list(datasets.names), "min_rigidity_gv": MIN_RIGIDITY_FIT, "fit_seconds": elapsed,
        "systematics": _systematics_label(correlation_length),
    }
    summary["stat_no_cocoons"] = _refit_fixed_chi0(datasets, model, 0.0)
    summary["delta_stat_no_cocoons"] = summary["stat_no_cocoons"] - summary["stat"]
    summary["stat_by_dataset"] = {d.name: d.stat_sum() for d in datasets}
    if profile:
        grid, stats, (lower, upper) = chi0_interval(datasets, model, summary["stat"])
        summary["chi0_profile"] = {"chi0": grid.tolist(), "delta_stat": stats.tolist()}
        summary["chi0_interval_68"] = [lower, upper]
    summary["network"] = network_record(model)
    return datasets, model, summary


def _systematics_label(correlation_length):
    if correlation_length is None:
        return "stat and sys in quadrature, points independent"
    return f"sys correlated over {correlation_length:g} decades of rigidity (Derome et al. 2019 form)"


#: correlation length [decades of rigidity] of the correlated-systematics variant of ``bc``
DEFAULT_CORRELATION_LENGTH = 0.5


def bc_variants(grammage="exponential", production="galprop17-opt12", correlation_length=None):
    """The other fits reported next to the main one (no profiles): delta free on the 2018 data, the
    paper set-up on the 2021 data, and the paper set-up with the other error model
    (correlated systematics if the main fit has none, independent points otherwise)."""
    other = DEFAULT_CORRELATION_LENGTH if correlation_length is None else None
    out = {}
    for label, setup, names, length in (
            ("paper_delta_free", "free", BC_SETUPS["paper"]["data"], correlation_length),
            ("paper_data_2021", "paper", BC_SETUPS["free"]["data"], correlation_length),
            ("paper_correlated_systematics" if other else "paper_independent_points", "paper", None, other)):
        _, model, summary = fit_bc(names, grammage=grammage, profile=False, setup=setup, production=production,
                                   correlation_length=length)
        out[label] = {k: summary[k] for k in ("datasets", "fixed", "systematics", "stat", "ndof", "stat_no_cocoons",
                                              "parameters", "at_bound")}
    return out




def bc_table(model, energies=None):
    """Model B/C (total, galactic, cocoon) on a kinetic-energy-per-nucleon grid, and C/O, as a QTable."""
    energies = np.geomspace(5.0, 2e4, 90) * u.GeV if energies is None else energies
    galactic, cocoon = model.components(energies, quantity="kinetic_energy_per_nucleon")
    table = QTable()
    table["kinetic_energy_per_nucleon"] = energies
    table["bc_total"] = galactic + cocoon
    table["bc_galactic"] = galactic
    table["bc_cocoon"] = cocoon
    table["co_total"] = model.evaluate(energies, quantity="kinetic_energy_per_nucleon", ratio="C/O")
    table.meta["comments"] = ["B/C of the fitted model at the top of the atmosphere (force field phi); "
                              "galactic + cocoon = total"]
    return table


def bc_output_files(plot=True, joint=False):
    """Names of the files :func:`run_bc` (and, with ``joint``, :func:`joint_fit`) write."""
    boolean(plot, "plot")
    boolean(joint, "joint")
    return (["bc_summary.json", "bc_model.ecsv", "bc_data.ecsv"] + (["bc_ratio.png", "bc_ratio.pdf"] if plot else [])
            + (["joint_summary.json"] if joint else []))


def run_bc(outdir, grammage="exponential", overwrite=False, plot=True, profile=True, names=None, setup="paper",
           production="galprop17-opt12", variants=True, correlation_length=None, background=None):
    """Fit B/C and write ``bc_summary.json``, ``bc_model.ecsv``, ``bc_data.ecsv`` and (``plot``) ``bc_ratio.png/pdf``.

    With ``variants``, the summary also reports the fits of :func:`bc_variants`. ``background``: a
    started :class:`~gammapy_cocoons.analysis.background.BackgroundCall` of :func:`bc_variants` with
    these ``grammage``, ``production`` and ``correlation_length`` (:func:`~.bcstart.start_bc_variants`; the
    command line starts it before its own imports): the variants are then fitted in that child
    process, on a second core, while this one fits the main set-up and draws; its result is the
    summary's variants (the same numbers: JSON carries floats exactly). If the child fails they are
    fitted here (a warning says why); it is ended if this run fails. Options are checked before
    anything is written; a run that fails or is interrupted leaves none of its files.
    """
    try:
        for name, value in (("overwrite", overwrite), ("plot", plot), ("profile", profile), ("variants", variants)):
            boolean(value, name)
        if background is not None and not (variants and callable(getattr(background, "result", None))):
            raise TypeError("background must be a started BackgroundCall of bc_variants (start_bc_variants), and "
                            "only with variants=True")
        if setup not in BC_SETUPS:
            raise ValueError(f"setup must be one of {sorted(BC_SETUPS)}, got {setup!r}")
        BoronCarbonModel(grammage=grammage, production=production)  # checks the options before any work
        unknown = [n for n in (names or ()) if n not in RATIOS]
        if unknown or (names is not None and not len(names)):
            raise ValueError(f"names must be ratio datasets among {sorted(RATIOS)}, got {names!r}")
        if correlation_length is not None:
            positive_float(correlation_length, "correlation_length")
        if background is not None:  # its variants go into this summary: they must be this run's
            started = (getattr(background, "target", None), tuple(getattr(background, "args", ()) or ()))
            wanted = ("gammapy_cocoons.analysis.bcfit:bc_variants", (grammage, production, correlation_length))
            if started != wanted:
                raise ValueError(f"background must fit this run's variants, {wanted[0]}{wanted[1]}, got "
                                 f"{started[0]}{started[1]}")
        with output_set(outdir):
            outdir = prepare_outdir(outdir, bc_output_files(plot), overwrite)
            return _run_bc(outdir, grammage, overwrite, plot, profile, names, setup, production, variants,
                           correlation_length, background)
    finally:
        if background is not None and callable(getattr(background, "cancel", None)):
            background.cancel()  # nothing left running (a no-op once its result is collected)


def _run_bc(outdir, grammage, overwrite, plot, profile, names, setup, production, variants, correlation_length,
            background):
    datasets, model, summary = fit_bc(names, grammage=grammage, profile=profile, setup=setup, production=production,
                                      correlation_length=correlation_length)
    datasets[0].npred()  # the cross sections on these energies, once (as during the fit), not timed
    start = time.perf_counter()
    for _ in range(20):
        datasets[0].npred()
    summary["evaluation_ms"] = (time.perf_counter() - start) / 20 * 1e3
    if variants:
        summary["variants"] = None  # filled in below (its place in the summary)
        if background is None:
            summary["variants"] = bc_variants(grammage=grammage, production=production,
                                              correlation_length=correlation_length)
    publish_table(bc_table(model), outdir / "bc_model.ecsv", overwrite, format="ascii.ecsv")
    publish_table(bc_data_table(datasets, model), outdir / "bc_data.ecsv", overwrite, format="ascii.ecsv")
    if plot:
        from .plotting import figures_at, plot_bc, save_figure

        with figures_at():  # laid out at the PNG's dpi: its draw reuses the layout's text measurements
            fig = plot_bc(model, datasets, overlay=BC_OVERLAY_DATA, summary=summary)
            # one draw writes the PNG and measures its texts (the PDF is a second backend's draw)
            summary["figure_text_overlaps"] = {"bc_ratio.png": save_figure(fig, outdir / "bc_ratio", overwrite)}
    if variants and background is not None:
        summary["variants"] = _background_variants(background, grammage, production, correlation_length)
    publish_text(outdir / "bc_summary.json", json.dumps(summary, indent=2), overwrite)
    return summary


def _background_variants(background, grammage, production, correlation_length):
    from .background import BackgroundError

    try:
        return background.result()
    except BackgroundError as error:
        log.warning("the B/C variants are fitted in this process: %s", error)
        return bc_variants(grammage=grammage, production=production, correlation_length=correlation_length)


def bc_data_table(datasets, model):
    """Every B/C and C/O point (fitted and overlaid) with its model value, as a QTable."""
    rows = []
    for name in [d.name for d in datasets] + list(BC_OVERLAY_DATA):
        data = load_ratio(name)
        dataset = CosmicRayRatioDataset(data)  # its fit mask; no model: the fit's model registers no new points
        values = model.evaluate(data["x"], quantity=data.meta["quantity"], ratio=data.meta["ratio"])
        for x, v, lo, hi, fitted, m in zip(data["x"].value, data["value"], data["error_lo"], data["error_hi"],
                                           dataset.mask_fit & (name in datasets.names), values):
            rows.append((name, data.meta["ratio"], data.meta["quantity"], x, v, lo, hi, bool(fitted), m))
    table = QTable(rows=rows, names=("dataset", "ratio", "quantity", "x", "value", "error_lo", "error_hi",
                                     "fitted", "model"))
    table.meta["comments"] = ["x in GV (rigidity) or GeV (kinetic energy per nucleon); errors stat+sys"]
    return table


def share_cocoon_parameters(bc_model, cocoon_spectral):
    """Give ``bc_model`` the chi0 and r0 Parameter objects of the gamma-ray ``cocoon_spectral`` model.

    A shared chi0 means the same gas in both terms only if both models have the same cocoon gas:
    a mismatch (e.g. a B/C model of ISM gas and a gamma-ray model with ``target="hydrogen"``) is
    refused. Returns the cocoon gas (:class:`~gammapy_cocoons.physics.targetgas.TargetGas`).
    """
    if bc_model.cocoon_gas != cocoon_spectral.cocoon_gas:
        raise ValueError(f"target: the B/C model's cocoon gas ({bc_model.target!r}) and the gamma-ray model's "
                         f"({cocoon_spectral.target!r}) differ, so one chi0 would mean different gas in each; "
                         "give both the same target")
    bc_model.chi0 = cocoon_spectral.chi0
    bc_model.r0 = cocoon_spectral.r0
    return bc_model.cocoon_gas


def joint_fit(outdir=None, overwrite=False, variant="min"):
    """One chi0 for B/C and gamma rays: AMS-02 B/C + C/O and LHAASO inner + outer in one gammapy Fit.

    The BoronCarbonModel gets the cocoon SkyModel's own chi0 and r0 Parameter objects
    (:func:`share_cocoon_parameters`: both models have the default ISM cocoon gas, so chi0 is the
    same mass grammage in both terms). Returns the summary (stat and ndof per part and in total,
    parameters, the cocoon gas); writes ``joint_summary.json``.
    """
    from .fitting import build_lhaaso_fit

    overwrite = boolean(overwrite, "overwrite")
    if variant not in ("min", "max"):
        raise ValueError(f"variant must be 'min' or 'max' (the member of the DGE band), got {variant!r}")
    if outdir is not None:
        with output_set(outdir):
            outdir = prepare_outdir(outdir, ["joint_summary.json"], overwrite)
            summary = joint_fit(None, variant=variant)
            publish_text(outdir / "joint_summary.json", json.dumps(summary, indent=2), overwrite)
        return summary
    start = time.perf_counter()
    gamma_datasets, cocoons, norms = build_lhaaso_fit(variant=variant)
    bc_datasets, model = build_bc_fit()
    # start from the B/C-only best fit: the joint likelihood has shallow directions (R0 with the
    # DGE norms) in which a start far from the B/C optimum can strand the minimiser
    Fit().optimize(bc_datasets)
    cocoons.spectral_model.chi0.value = model.chi0.value
    gas = share_cocoon_parameters(model, cocoons.spectral_model)
    datasets = FitDatasets(list(gamma_datasets) + list(bc_datasets))
    result = _optimize_and_covariance(datasets)
    gamma_points = sum(int(np.sum(d.mask if d.mask is not None else np.ones(d.data.energy_ref.shape, bool)))
                       for d in gamma_datasets)
    bc_points = sum(int(d.mask_fit.sum()) for d in bc_datasets)
    free = len(datasets.models.parameters.free_parameters.unique_parameters)
    summary = {
        "success": bool(result.success), "stat": float(result.total_stat), "ndof": gamma_points + bc_points - free,
        "stat_gamma": float(sum(d.stat_sum() for d in gamma_datasets)),
        "stat_bc": float(sum(d.stat_sum() for d in bc_datasets)),
        "points_gamma": gamma_points, "points_bc": bc_points,
        "parameters": {**_parameter_summary(model),
                       **{("dge_norm" if k == "all" else f"dge_norm_{k}"):
                          {"value": float(n.norm.value), "error": float(n.norm.error), "unit": ""}
                          for k, n in norms.items()}},
        "shared_chi0": model.chi0 is cocoons.spectral_model.chi0, "target": gas.target,
        "chi0_convention": describe_target(gas.target),
        "cocoon_gas": {"bc": model.target, "gamma": cocoons.spectral_model.target},
        **_bound_entries(datasets.models.parameters.free_parameters.unique_parameters,
                         {p.name: p for p in model.parameters}),
        "free_parameters": [p.name for p in datasets.models.parameters.free_parameters.unique_parameters],
        "bc_setup": BC_SETUPS["paper"]["description"],
        "fit_seconds": time.perf_counter() - start,
    }
    return summary
