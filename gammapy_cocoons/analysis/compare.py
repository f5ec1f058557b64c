"""Does the data want cocoons? The rival explanations on the same data, under every DGE choice.

For each DGE choice (the embedded DGE's "min" and "max" envelopes, the Fermi-LAT pi0 baseline's
"min" member, and any user file) the joint likelihood of :mod:`.likelihood` (by default the five
bundled gamma-ray datasets and the IceCube term; the DGE normalisation and the energy scales
constrained) is fitted under the hypotheses of issue 23, item 5:

* "dge": (a) the DGE alone;
* "dge+cocoons": (b) DGE + cocoons, chi0 >= 0 and R0 free (1-1000 TV);
* "dge+ecpl": (c) DGE + an exponential-cut-off power law of free amplitude, index and cut-off with
  the cocoons' morphology (Zhang et al. 2023, ApJ 957, 43);
* "radial-delta": (d) the embedded DGE on the KRA-gamma sea (only for the embedded DGE choices,
  whose CR sea it replaces; its own "min" / "max" envelope of the knee variants).

Fits, profiles and toys run on the likelihood compiled to arrays (:mod:`.compiled`; its statistic is
checked against gammapy's at every best fit, ``stat_gammapy``). Each row holds stat, ndof
(measurements: points, the IceCube term and the constraint terms, minus free parameters), AIC =
stat + 2 k and delta_aic (to the lowest AIC of the same DGE choice), the cocoon TS, chi0 and R0 with
68 % profile intervals (delta stat = 1, other parameters refitted). The significance of (b) is
:mod:`.significance`'s: at R0 = 20 TV against half a chi2 (1 dof), and for free R0 from toys and the
Gross-Vitells correction. chi0 from B/C alone comes from :func:`~.bcfit.fit_bc` (paper set-up).

The fits of the DGE choices are independent: they run through any ``concurrent.futures.Executor``
(a process pool of two workers by default; ``dask.distributed.Client(...).get_executor()`` runs the
same tasks on a cluster). Nothing is tuned: the answer is whatever the fits give.
"""
import json
import logging
import time
from pathlib import Path

import numpy as np
import astropy.units as u

from .._files import json_default, output_set, prepare_outdir, publish_text
from .._validation import boolean, choice, integer
from ..dge.select import BASELINES, describe_baseline
from ..models import GRAMMAGE_LAWS
from ..physics.targetgas import target_helium_fraction
from .likelihood import (DEFAULT_LIKELIHOOD_DATASETS, DGE_NORM_MODES, HYPOTHESES, ICECUBE_TERM, LIKELIHOOD_DATASETS,
                         MASK_MODES, BC_TERM, _check_energy_scale_names, _energy_scale_widths,
                         build_likelihood, icecube_measurement)

__all__ = ["run_compare", "compare_output_files", "default_dge_choices", "compare_dge", "COMPARE_HYPOTHESES",
           "answer_rows", "compare_markdown", "DEFAULT_TOYS", "dge_choice_label"]

log = logging.getLogger(__name__)

COMPARE_HYPOTHESES = tuple(HYPOTHESES)
#: toy experiments per DGE choice for the free-R0 calibration
DEFAULT_TOYS = 30
_SEED = 20261206


def dge_choice_label(dge, variant):
    """"embedded min", "fermi-pi0 min", or the file name(s) and member."""
    if isinstance(dge, str) and dge in BASELINES:
        return f"{dge} {variant}"
    paths = [dge] if isinstance(dge, (str, Path)) else list(dge)
    return f"{' / '.join(Path(p).name for p in paths)} {variant}"


def default_dge_choices(files=()):
    """The DGE choices of issue 23, item 2: embedded min and max, the Fermi pi0 baseline (its "min"
    member, the envelope of the knee variants' spectra below its template) and each user file or
    (min, max) pair of files (its "min" member)."""
    choices = [("embedded", "min"), ("embedded", "max"), ("fermi-pi0", "min")]
    for entry in files:
        choices.append((entry, "min"))
    return choices


def compare_output_files(plot=True):
    """Files :func:`run_compare` (and ``gammapy-cocoons compare``) writes."""
    boolean(plot, "plot")
    return ["compare.json", "compare.md"] + (["residuals.png"] if plot else [])


# -- one DGE choice (a task) --------------------------------------------------------------------------------

def _interval(values, stats, best_value, best_stat, log=False):
    """68 % interval where the profile rises by 1 (signed-root interpolation); an end at the grid's
    edge that stays below 1 is reported as that edge, flagged."""
    values, stats = np.asarray(values, float), np.asarray(stats, float)
    order = np.argsort(values)
    values, stats = values[order], np.maximum(stats[order] - best_stat, 0.0)
    x = np.log(values) if log else values
    x_best = np.log(best_value) if log else best_value
    root = np.sign(x - x_best) * np.sqrt(stats)
    below, above = root <= 0, root >= 0
    out, open_ends = [None, None], []
    if np.any(root <= -1.0):
        sel = below
        out[0] = float(np.interp(-1.0, root[sel], x[sel]))
    else:
        out[0] = float(x[0])
        open_ends.append("low")
    if np.any(root >= 1.0):
        sel = above
        out[1] = float(np.interp(1.0, root[sel], x[sel]))
    else:
        out[1] = float(x[-1])
        open_ends.append("high")
    if log:
        out = [float(np.exp(v)) for v in out]
    return out, open_ends


def _pulls(compiled, params):
    """Each constrained nuisance: value and pull ln(x) / sigma."""
    return {name: {"value": float(params.get(name, 1.0)), "pull": float(np.log(params.get(name, 1.0)) / sigma),
                   "width": sigma} for name, sigma in compiled.priors.items()}


def _at_bounds(params, free, scale_bounds=None):
    from .compiled import _bounds

    out = {}
    for name in free:
        low, high, kind = _bounds(name, scale_bounds)
        value = params[name]
        if name == "ecpl_amplitude":  # compare in the fits' own unit
            from .compiled import _ECPL_AMPLITUDE_UNIT

            low, high, value = low / _ECPL_AMPLITUDE_UNIT, high / _ECPL_AMPLITUDE_UNIT, value / _ECPL_AMPLITUDE_UNIT
        if kind == "log":
            if abs(np.log(value / low)) < 1e-4:
                out[name] = "min"
            elif abs(np.log(value / high)) < 1e-4:
                out[name] = "max"
        elif name in ("chi0", "ecpl_amplitude") and value <= 1e-6:
            out[name] = "min"
        elif abs(value - low) < 1e-6 * max(1.0, abs(low)):
            out[name] = "min"
        elif abs(value - high) < 1e-6 * max(1.0, abs(high)):
            out[name] = "max"
    return out


def _residuals(compiled, params):
    """Per dataset: energies [TeV] and (data - model) / error (the error on the model's side)."""
    out = {}
    for point, model in zip(compiled.points, compiled.predicted(params)):
        value = point.value
        sigma = np.where(model >= value, point.errp, point.errn)
        out[point.name] = {"energy_tev": point.energy.tolist(), "residual": ((value - model) / sigma).tolist()}
    if compiled.neutrino is not None:
        m = compiled.neutrino["measurement"]
        flux = compiled.neutrino_flux(params)
        out[ICECUBE_TERM] = {"energy_tev": [float(np.sqrt(m["e_min"] * m["e_max"]) / 1e3)],
                             "residual": [float((m["flux"] - flux) / (m["errp"] if flux >= m["flux"] else m["errn"]))]}
    return out


def _row(hypothesis, label, compiled, fit, free):
    n_measurements = compiled.n_points() + len(compiled.priors)
    params = fit.parameters
    stat_gammapy = compiled.gammapy_stat(params)
    row = {"hypothesis": hypothesis, "dge": label, "description": HYPOTHESES[hypothesis],
           "dge_description": compiled.likelihood.setup["dge"],
           "stat": fit.stat, "ndof": n_measurements - len(free), "n_free": len(free), "aic": fit.stat + 2 * len(free),
           "success": fit.success, "stat_gammapy": stat_gammapy, "ts_cocoons": None,
           "chi0": None, "r0": None, "parameters": {k: float(v) for k, v in params.items()},
           "at_bound": _at_bounds(params, free, compiled.scale_bounds), "pulls": _pulls(compiled, params),
           "neutrino_flux_gev_cm2_s": compiled.neutrino_flux(params)}
    if abs(stat_gammapy - fit.stat) > 1e-3 * max(1.0, fit.stat):
        log.warning("%s %s: the compiled statistic %.6g differs from gammapy's %.6g", hypothesis, label, fit.stat,
                    stat_gammapy)
    return row


def _kra_check(compiled, params):
    """The radial-delta DGE's neutrinos against IceCube's KRA-gamma template fits (a check of (d),
    not in the likelihood): predicted int E dN/dE dE over each band's energies, over the fit's."""
    like = compiled.likelihood
    from .likelihood import hypothesis_dge
    from ..models import RegionFluxSpectralModel
    from gammapy.modeling.models import PowerLawNormSpectralModel

    from ..models.sky import DeclaredUnitSkyModel

    setup = like.setup
    model = hypothesis_dge("radial-delta", "embedded", setup["dge_variant"], secondary="nu_per_flavour")
    norm = PowerLawNormSpectralModel()
    norm.norm.value = params.get("norm", 1.0)
    total = RegionFluxSpectralModel(DeclaredUnitSkyModel(spectral_model=norm, spatial_model=model.spatial_model),
                                    region=None)
    out = {}
    for band in ("icecube-2023-kra5", "icecube-2023-kra50"):
        m = icecube_measurement(band)
        x, w = np.polynomial.legendre.leggauss(32)
        lo, hi = np.log(m["e_min"]), np.log(m["e_max"])
        energy = np.exp(lo + 0.5 * (x + 1) * (hi - lo))
        dnde = total(energy * u.GeV).to_value("GeV-1 cm-2 s-1")
        predicted = float(np.sum(0.5 * w * (hi - lo) * energy**2 * dnde))
        out[band] = {"predicted": predicted, "measured": m["flux"], "errn": m["errn"], "errp": m["errp"],
                     "ratio": predicted / m["flux"], "e_min_gev": m["e_min"], "e_max_gev": m["e_max"]}
    return out


def _cocoon_rows(compiled, label, options):
    """Fits of hypothesis (b): best fit, null, R0 scan, profiles, significance."""
    from .compiled import default_r0_grid
    from .significance import calibrate, fixed_r0_pvalue, free_r0_significance, significance

    best, (grid, stats) = compiled.best_fit()
    null = min((compiled.null_fit(start=best.parameters), compiled.null_fit()), key=lambda f: f.stat)
    free = compiled.free_names()
    row = _row("dge+cocoons", label, compiled, best, free)
    at_20 = int(np.argmin(np.abs(np.log(grid / 20.0))))
    ts_free = max(null.stat - best.stat, 0.0)
    ts_20 = max(null.stat - stats[at_20], 0.0)
    row["ts_cocoons"] = ts_free
    # chi0 profile (R0 refitted) and the R0 scan as R0's profile
    chi0_best = best.parameters["chi0"]
    chi0_grid = np.unique(np.concatenate([np.linspace(0.0, max(1.2, 3 * chi0_best), 13), [chi0_best]]))
    chi0_stats = compiled.profile("chi0", chi0_grid, best)
    chi0_interval, chi0_open = _interval(chi0_grid, chi0_stats, chi0_best, best.stat)
    r0_values = np.append(grid, best.parameters["r0"])
    r0_stats = np.append(stats, best.stat)
    r0_interval, r0_open = _interval(r0_values, r0_stats, best.parameters["r0"], best.stat, log=True)
    row["chi0"] = {"value": chi0_best, "interval_68": chi0_interval, "interval_open_ends": chi0_open,
                   "unit": "g cm-2"}
    row["r0"] = {"value": best.parameters["r0"], "interval_68": r0_interval, "interval_open_ends": r0_open,
                 "unit": "TV", "search_range": [float(grid.min()), float(grid.max())]}
    row["r0_scan"] = {"r0_tv": grid.tolist(), "ts": np.maximum(null.stat - stats, 0.0).tolist()}
    row["chi0_profile"] = {"chi0": chi0_grid.tolist(), "delta_stat": (chi0_stats - best.stat).tolist()}
    significance_row = {"ts_r0_20": ts_20, "p_r0_20": fixed_r0_pvalue(ts_20),
                        "z_r0_20": significance(fixed_r0_pvalue(ts_20)),
                        "chi0_r0_20": float(compiled.r0_scan([20.0], start=best.parameters)[2][0].parameters["chi0"]),
                        "ts_free": ts_free}
    if options["n_toys"] > 0:
        calibration = calibrate(compiled, null.parameters, n_toys=options["n_toys"], seed=options["seed"],
                                r0_grid=default_r0_grid(), fork=options["parallel_toys"])
        significance_row.update(free_r0_significance(ts_free, calibration))
    row["significance"] = significance_row
    return row, null, best


def compare_dge(dge, variants=("min",), hypotheses=COMPARE_HYPOTHESES, datasets=DEFAULT_LIKELIHOOD_DATASETS,
                points=(), dge_norm="prior", energy_scales=True, masks="scalar", masked_cocoons=False,
                target="ism", grammage="exponential", n_toys=DEFAULT_TOYS, seed=_SEED, parallel_toys=False):
    """Fit the hypotheses under one DGE baseline's members ``variants`` (one task of :func:`run_compare`).
    ``parallel_toys``: half of the significance's toys in a forked child (:func:`.significance.calibrate`;
    the same numbers; for a process of the command line with a core to spare, e.g. ``reproduce``'s
    answer row).

    Returns a dict: ``rows`` (one per hypothesis and member), ``residuals`` (per member and
    hypothesis, per dataset), ``timings`` [s].
    """
    from .._threads import limit_blas_threads
    from .compiled import CompiledLikelihood

    limit_blas_threads()
    options = {"n_toys": integer(n_toys, "n_toys", minimum=0, maximum=100000),
               "seed": integer(seed, "seed", minimum=0, maximum=2**32 - 1),
               "parallel_toys": boolean(parallel_toys, "parallel_toys")}
    rows, residuals, timings = [], {}, {}
    for variant in variants:
        label = dge_choice_label(dge, variant)
        residuals[label] = {}
        for hypothesis in hypotheses:
            if hypothesis == "radial-delta" and not (isinstance(dge, str) and dge == "embedded"):
                continue
            start = time.perf_counter()
            like = build_likelihood(hypothesis=hypothesis, dge=dge, variant=variant, datasets=datasets, points=points,
                                    dge_norm=dge_norm, energy_scales=energy_scales, masks=masks,
                                    masked_cocoons=masked_cocoons, target=target, grammage=grammage)
            compiled = CompiledLikelihood(like)
            built = time.perf_counter()
            if hypothesis == "dge+cocoons":
                row, null, best = _cocoon_rows(compiled, label, options)
                row["setup"] = like.setup
                fit = best
            else:
                fit, _ = compiled.best_fit()
                row = _row(hypothesis, label, compiled, fit, compiled.free_names())
                row["setup"] = like.setup
                if hypothesis == "dge+ecpl":
                    p = fit.parameters
                    row["ecpl"] = {"amplitude_cm2_s_tev_at_10tev": p["ecpl_amplitude"], "index": p["ecpl_index"],
                                   "cutoff_tev": 1.0 / p["ecpl_lambda"]}
                    null = compiled.null_fit(start=fit.parameters)
                    row["ts_ecpl"] = max(null.stat - fit.stat, 0.0)
                if hypothesis == "radial-delta" and compiled.neutrino is not None:
                    row["icecube_kra_gamma_check"] = _kra_check(compiled, fit.parameters)
            residuals[label][hypothesis] = _residuals(compiled, fit.parameters)
            rows.append(row)
            timings[f"{label} {hypothesis}"] = {"build_s": built - start, "fits_s": time.perf_counter() - built}
    return {"rows": rows, "residuals": residuals, "timings": timings, "peak_memory_mb": _peak_memory_mb()}


def _peak_memory_mb():
    """The peak resident memory [MB] of the task's process (its worker, where it ran in one), or of the
    largest child it waited for (the forked toys of ``parallel_toys``), if larger."""
    import resource
    import sys

    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def _bc_task():
    """chi0 from AMS-02 B/C alone (the B/C fit's paper set-up, profile interval)."""
    from .._threads import limit_blas_threads
    from .bcfit import fit_bc

    limit_blas_threads()
    start = time.perf_counter()
    _, _, summary = fit_bc(profile=True)
    chi0 = summary["parameters"]["chi0"]
    return {"chi0": {"value": chi0["value"], "error": chi0["error"], "interval_68": summary.get("chi0_interval_68"),
                     "unit": "g cm-2"},
            "stat": summary["stat"], "ndof": summary["ndof"], "setup": summary["setup_description"],
            "chi0_convention": summary["chi0_convention"], "seconds": time.perf_counter() - start,
            "peak_memory_mb": _peak_memory_mb()}


# -- the answer ------------------------------------------------------------------------------------------------

def _verdict(z):
    if z is None:
        return "n/a"
    return "none (Z < 2)" if z < 2 else "hint (2 <= Z < 3)" if z < 3 else "evidence (3 <= Z < 5)" if z < 5 else \
        "detection (Z >= 5)"


def answer_rows(rows, bc):
    """One line per DGE choice: the cocoon TS and significance (R0 = 20 TV; free R0, global),
    chi0 from gamma rays vs from B/C, and the hypothesis of lowest AIC."""
    out = []
    for label in dict.fromkeys(r["dge"] for r in rows):
        group = [r for r in rows if r["dge"] == label]
        cocoon = next((r for r in group if r["hypothesis"] == "dge+cocoons"), None)
        best = min(group, key=lambda r: r["aic"])
        entry = {"dge": label, "preferred": best["hypothesis"],
                 "delta_aic": {r["hypothesis"]: r["delta_aic"] for r in group}}
        if cocoon is not None:
            s = cocoon.get("significance", {})
            entry.update({"ts_r0_20": s.get("ts_r0_20"), "z_r0_20": s.get("z_r0_20"), "ts_free": s.get("ts_free"),
                          "z_global": s.get("z_global"), "z_toys": s.get("z_toys"), "n_toys": s.get("n_toys"),
                          "chi0_gamma": cocoon["chi0"], "r0": cocoon["r0"],
                          "evidence": _verdict(s.get("z_global", s.get("z_r0_20")))})
        entry["chi0_bc"] = None if bc is None else bc["chi0"]
        out.append(entry)
    return out


def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}g}"


def _interval_text(entry):
    if entry is None:
        return "-"
    low, high = entry["interval_68"] if entry.get("interval_68") else (None, None)
    opened = entry.get("interval_open_ends", [])
    low_text = ("<=" if "low" in opened else "") + _fmt(low)
    high_text = _fmt(high) + ("+" if "high" in opened else "")
    return f"{entry['value']:.3g} [{low_text}, {high_text}]"


def compare_markdown(result):
    """compare.json as Markdown: the answer, then every row."""
    lines = ["# Does the data want cocoons?", "",
             f"Datasets: {', '.join(result['datasets'])}. DGE normalisation: {result['dge_norm']}; energy scales: "
             f"{result['energy_scales']}; masks: {result['masks']}; masked cocoons: {result['masked_cocoons']}. "
             f"chi0 is the mass grammage of the cocoon gas ({result['chi0_convention']}).", "",
             "## The answer", "",
             "| DGE | TS (R0 = 20 TV) | Z | TS (R0 free) | Z global (toys) | chi0 gamma [g cm-2] | chi0 B/C [g cm-2] | "
             "R0 [TV] | preferred | evidence |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for a in result["answer"]:
        z_toys = f" ({_fmt(a.get('z_toys'), 2)}, {a.get('n_toys')} toys)" if a.get("z_toys") is not None else ""
        lines.append(f"| {a['dge']} | {_fmt(a.get('ts_r0_20'))} | {_fmt(a.get('z_r0_20'), 2)} | {_fmt(a.get('ts_free'))} "
                     f"| {_fmt(a.get('z_global'), 2)}{z_toys} | {_interval_text(a.get('chi0_gamma'))} | "
                     f"{_interval_text(a.get('chi0_bc'))} | {_interval_text(a.get('r0'))} | {a['preferred']} | "
                     f"{a.get('evidence', '-')} |")
    lines += ["", "Z at R0 = 20 TV: half a chi2 of 1 dof (chi0 >= 0 on its boundary). Z global: R0 free in "
              f"{result['r0_search_range_tv']} TV, Gross-Vitells with the toys' upcrossings; in brackets the toys' own "
              "p-value (bounded by their number). Intervals: 68 %, profile delta stat = 1; '<=' / '+' an end at the "
              "search range. Preferred: lowest AIC = stat + 2 k.", "",
              "## Every fit", "",
              "| hypothesis | DGE | stat | ndof | delta AIC | TS cocoons | chi0 [g cm-2] | R0 [TV] | DGE norm | at bound |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        norm = r["parameters"].get("norm")
        bounds = ", ".join(f"{k}:{v}" for k, v in r["at_bound"].items()) or "-"
        lines.append(f"| {r['hypothesis']} | {r['dge']} | {r['stat']:.2f} | {r['ndof']} | {r['delta_aic']:.2f} | "
                     f"{_fmt(r['ts_cocoons'])} | {_interval_text(r['chi0'])} | {_interval_text(r['r0'])} | "
                     f"{_fmt(norm)} | {bounds} |")
    if result.get("bc"):
        bc = result["bc"]
        lines += ["", f"chi0 from B/C alone: {_interval_text(bc['chi0'])} g cm-2 ({bc['setup']}; chi2 {bc['stat']:.1f} "
                      f"for {bc['ndof']} dof)."]
    lines += ["", result["notes"]]
    return "\n".join(lines) + "\n"


# -- the workflow ------------------------------------------------------------------------------------------------

def _check(dge_choices, datasets, dge_norm, masks, n_toys, seed=_SEED, energy_scales=True, target="ism",
           grammage="exponential"):
    choices = default_dge_choices() if dge_choices is None else list(dge_choices)
    if not choices:
        raise ValueError("dge_choices must hold at least one (dge, variant)")
    for entry in choices:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise ValueError(f"dge_choices: each entry must be (dge, variant), got {entry!r}")
        describe_baseline(entry[0])
        choice(entry[1], ("min", "max"), "variant")
    unknown = [n for n in datasets if n not in LIKELIHOOD_DATASETS or n == BC_TERM]
    if unknown:
        raise ValueError(f"datasets must be among {[n for n in LIKELIHOOD_DATASETS if n != BC_TERM]} (B/C is fitted "
                         f"apart, for chi0 from B/C alone), got {unknown}")
    choice(dge_norm, DGE_NORM_MODES, "dge_norm")
    choice(masks, MASK_MODES, "masks")
    integer(n_toys, "n_toys", minimum=0, maximum=100000)
    # checked here, before any task starts (the tasks would refuse them only after other fits)
    integer(seed, "seed", minimum=0, maximum=2**32 - 1)
    _energy_scale_widths(energy_scales)
    target_helium_fraction(target)
    choice(grammage, GRAMMAGE_LAWS, "grammage")
    return choices


def _tasks(choices):
    """Group the DGE choices by baseline: one task builds one baseline's cubes once."""
    groups = {}
    for dge, variant in choices:
        key = json.dumps(dge if isinstance(dge, str) else [str(p) for p in dge]) if not isinstance(dge, Path) \
            else json.dumps(str(dge))
        groups.setdefault(key, (dge, []))[1].append(variant)
    return [(dge, tuple(dict.fromkeys(variants))) for dge, variants in groups.values()]


def run_compare(outdir=None, dge_choices=None, datasets=DEFAULT_LIKELIHOOD_DATASETS, points=(), hypotheses=None,
                dge_norm="prior", energy_scales=True, masks="scalar", masked_cocoons=False, target="ism",
                grammage="exponential", n_toys=DEFAULT_TOYS, seed=_SEED, bc=True, executor=None, plot=True,
                overwrite=False, progress=False):
    """Fit every hypothesis under every DGE choice and write the answer (see the module documentation).

    Parameters
    ----------
    outdir : path, optional
        Writes ``compare.json``, ``compare.md`` and ``residuals.png`` (with ``plot``); all or none.
    dge_choices : sequence of (dge, variant), optional
        Default :func:`default_dge_choices`.
    datasets, points, dge_norm, energy_scales, masks, masked_cocoons, target, grammage
        As :func:`~.likelihood.build_likelihood` (B/C is not among the datasets: chi0 from B/C alone
        is fitted apart when ``bc``).
    hypotheses : sequence of str, optional
        Among :data:`COMPARE_HYPOTHESES` (default all four); an unknown name is refused.
    n_toys, seed
        Toys of the free-R0 calibration per DGE choice (0: none, only the R0 = 20 TV significance).
    executor : `concurrent.futures.Executor`, optional
        Runs the independent fits (one task per DGE baseline, and the B/C fit). Default: a process
        pool of two workers, shut down afterwards. With dask: ``Client(...).get_executor()``.

    Returns
    -------
    dict
        The content of compare.json: ``rows``, ``answer``, ``bc``, the options and timings.
    """
    for name, value in (("masked_cocoons", masked_cocoons), ("bc", bc), ("plot", plot), ("overwrite", overwrite),
                        ("progress", progress)):
        boolean(value, name)
    if isinstance(hypotheses, str):
        raise TypeError(f"hypotheses must be a sequence among {list(COMPARE_HYPOTHESES)}, got the string "
                        f"{hypotheses!r}")
    hypotheses = COMPARE_HYPOTHESES if hypotheses is None else tuple(hypotheses)
    if not hypotheses:
        raise ValueError(f"hypotheses must name at least one of {list(COMPARE_HYPOTHESES)}")
    for name in hypotheses:
        choice(name, COMPARE_HYPOTHESES, "hypotheses")
    if isinstance(datasets, str):
        raise TypeError(f"datasets must be a sequence of dataset names, got the string {datasets!r}")
    datasets = DEFAULT_LIKELIHOOD_DATASETS if datasets is None else tuple(datasets)
    choices = _check(dge_choices, datasets, dge_norm, masks, n_toys, seed, energy_scales, target, grammage)
    if set(hypotheses) == {"radial-delta"} and not any(isinstance(d, str) and d == "embedded" for d, _ in choices):
        raise ValueError(f"hypotheses: 'radial-delta' is fitted only under the embedded DGE (it changes that DGE's "
                         f"cosmic-ray sea), and the DGE choices are {[dge_choice_label(*c) for c in choices]}: nothing "
                         f"would be fitted; add dge 'embedded' or another hypothesis")
    if ICECUBE_TERM in datasets:
        from .likelihood import dge_neutrino_model

        for dge, variant in choices:
            if not (isinstance(dge, str) and dge in BASELINES):
                dge_neutrino_model(dge, variant)  # refuses before any work
    # the data are checked (duplicates, errors) before any task starts
    build_options = dict(datasets=datasets, points=tuple(points), dge_norm=dge_norm, energy_scales=energy_scales,
                         masks=masks, masked_cocoons=masked_cocoons, target=target, grammage=grammage)
    from .fitting import _fit_points
    from .likelihood import check_duplicate_measurements

    gamma = tuple(n for n in datasets if n not in (ICECUBE_TERM, BC_TERM))
    chosen = _fit_points(gamma, points)
    check_duplicate_measurements([(n, fp) for n, fp, _ in chosen])
    _check_energy_scale_names(_energy_scale_widths(energy_scales), chosen)
    with output_set(outdir):
        if outdir is not None:
            outdir = prepare_outdir(outdir, compare_output_files(plot), overwrite)
        result = _run(choices, hypotheses, build_options, n_toys, seed, bc, executor, progress)
        if outdir is not None:
            _write(outdir, result, plot, overwrite)
    return result


def worker_pool(workers):
    """The process pool of compare's tasks: ``workers`` fresh interpreters ("spawn": no forked copy of
    a notebook's kernel), each skipping the garbage collection at its exit, which its caller waits for
    (:mod:`.._collector`)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .._collector import skip_collection_at_exit

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=skip_collection_at_exit)


def _run(choices, hypotheses, build_options, n_toys, seed, bc, executor, progress):
    from tqdm.auto import tqdm

    start = time.perf_counter()
    tasks = _tasks(choices)
    own = executor is None
    if own:
        executor = worker_pool(2)
    try:
        futures = {}
        if bc:
            futures["bc"] = executor.submit(_bc_task)
        for dge, variants in tasks:
            futures[json.dumps(dge_choice_label(dge, ",".join(variants)))] = executor.submit(
                compare_dge, dge, variants, hypotheses, n_toys=n_toys, seed=seed, **build_options)
        results = {}
        with tqdm(total=len(futures), desc="compare", unit="task", disable=not progress) as bar:
            for key, future in futures.items():
                results[key] = future.result()
                bar.update(1)
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
    bc_result = results.pop("bc", None)
    rows, residuals, timings, memory = [], {}, {}, {}
    for key, value in results.items():
        rows += value["rows"]
        residuals.update(value["residuals"])
        timings.update(value["timings"])
        memory[json.loads(key)] = value["peak_memory_mb"]
    if bc_result is not None:
        memory["bc"] = bc_result["peak_memory_mb"]
    for label in dict.fromkeys(r["dge"] for r in rows):
        group = [r for r in rows if r["dge"] == label]
        lowest = min(r["aic"] for r in group)
        for r in group:
            r["delta_aic"] = r["aic"] - lowest
    from .compiled import PARAMETER_BOUNDS

    result = {
        "question": "does the data want cocoons?",
        "datasets": list(build_options["datasets"]) + [p.meta.get("name", "points") for p in build_options["points"]],
        "dge_choices": [dge_choice_label(d, v) for d, v in choices], "hypotheses": list(hypotheses),
        "dge_norm": build_options["dge_norm"], "energy_scales": build_options["energy_scales"],
        "masks": build_options["masks"], "masked_cocoons": build_options["masked_cocoons"],
        "target": build_options["target"], "chi0_convention": _chi0_convention(build_options["target"]),
        "r0_search_range_tv": [PARAMETER_BOUNDS["r0"][0], PARAMETER_BOUNDS["r0"][1]],
        "rows": rows, "bc": bc_result, "answer": answer_rows(rows, bc_result), "residuals": residuals,
        "timings": {"tasks": timings, "total_s": time.perf_counter() - start,
                    "peak_memory_mb_per_task": memory}, "n_toys": int(n_toys), "seed": int(seed),
        "notes": _NOTES,
    }
    return result


def _chi0_convention(target):
    from ..physics.targetgas import describe_target

    return describe_target(target)


_NOTES = ("Nothing is tuned to make the cocoons appear or vanish. The DGE normalisation's prior is log-normal of width "
          "0.206 in ln N (the GeV validation against the Fermi pi0 template, a model); each instrument's energy scale has "
          "a log-normal prior of its quoted uncertainty (KM2A 8 %, Tibet 12 %, ARGO 13 %). The IceCube term is the "
          "all-sky per-flavour energy flux of the pi0-template fit: it assumes that template's morphology (the paper's "
          "Appendix C caveat). The extra component of (c) makes no neutrinos. stat_gammapy is gammapy's Datasets.stat_sum() "
          "at each best fit (the compiled likelihood's check).")


def _write(outdir, result, plot, overwrite):
    text = json.dumps(result, indent=2, default=json_default)
    markdown = compare_markdown(result)
    if plot:
        from .plotting import figures_at, plot_compare_residuals, save_figure_png

        with figures_at():  # laid out at the PNG's dpi: its draw reuses the layout's text measurements
            fig = plot_compare_residuals(result)
            result["figure_text_overlaps"] = {"residuals.png": save_figure_png(fig, outdir / "residuals.png",
                                                                               overwrite)}
        text = json.dumps(result, indent=2, default=json_default)
    publish_text(outdir / "compare.md", markdown, overwrite)
    publish_text(outdir / "compare.json", text, overwrite)


