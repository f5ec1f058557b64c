"""Joint fit of cocoons + the embedded conventional DGE to the LHAASO inner and outer points.

The model in each region r is

    F_r(E) = s_r [ cocoon flux over r (Eq. 8) + N_r x DGE flux over r ]

with the cocoon parameters (chi0, R0, ...) shared by the regions (one Parameter object), one free
DGE normalisation N_r per region, and the paper's mask factor s_inner = 0.65 (s_outer = 1). The
points are the bundled LHAASO-KM2A 2023 tables with statistical and systematic errors in
quadrature (see :mod:`gammapy_cocoons.datasets`). gammapy's ``Fit`` does the minimisation and
the covariance; the cocoon test statistic is TS = stat(chi0 = 0) - stat(best fit).
"""
import json
import logging
import time
from pathlib import Path

import numpy as np
import astropy.units as u
from gammapy.datasets import Datasets, FluxPointsDataset
from gammapy.modeling import Fit
from gammapy.modeling.models import Models, PowerLawNormSpectralModel, SkyModel

from .datasets import load_flux_points
from .dge import conventional_dge
from .models import CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel

__all__ = [
    "build_lhaaso_fit", "run_lhaaso_fit", "compare_grammage_laws", "neutrino_prediction", "sample_posterior",
    "set_default_priors", "INNER_MASK_SCALE",
]

log = logging.getLogger(__name__)

#: the paper's factor for the LHAASO inner-region source mask, applied to the inner predictions
INNER_MASK_SCALE = 0.65
_REGIONS = (("inner", "lhaaso-km2a-2023-inner", INNER_MASK_SCALE), ("outer", "lhaaso-km2a-2023-outer", 1.0))


def build_lhaaso_fit(grammage="exponential", variant="min", r0=20 * u.TV, chi0=0.4 * u.Unit("g cm-2")):
    """Datasets and models of the joint LHAASO fit.

    Returns
    -------
    datasets : `~gammapy.datasets.Datasets`
        One FluxPointsDataset per region ("inner", "outer").
    cocoons : `~gammapy.modeling.models.SkyModel`
        The cocoon sky model whose parameters the regions share.
    dge_norms : dict
        Region name -> the PowerLawNormSpectralModel of the DGE in that region.
    """
    cocoons = SkyModel(
        spectral_model=CocoonSpectralModel(grammage=grammage, chi0=chi0, r0=r0),
        spatial_model=CocoonSpatialModel(), name="cocoons",
    )
    dge = conventional_dge(variant)
    datasets, norms = [], {}
    for name, dataset_name, scale in _REGIONS:
        points = load_flux_points(dataset_name)
        region = points.meta["region"]
        norm = PowerLawNormSpectralModel()
        norms[name] = norm
        dge_region = SkyModel(spectral_model=norm, spatial_model=dge.spatial_model, name=f"dge-{name}")
        total = (RegionFluxSpectralModel(cocoons, region=region, scale=scale)
                 + RegionFluxSpectralModel(dge_region, region=region, scale=scale))
        model = SkyModel(spectral_model=total, name=name)
        datasets.append(FluxPointsDataset(data=points, models=model, name=name))
    return Datasets(datasets), cocoons, norms


def _free_summary(datasets, cocoons, norms):
    summary = {}
    for parameter in cocoons.spectral_model.parameters:
        if not parameter.frozen or parameter.name == "chi0":
            summary[parameter.name] = {"value": float(parameter.value), "error": float(parameter.error),
                                       "unit": parameter.unit.to_string()}
    for name, norm in norms.items():
        summary[f"dge_norm_{name}"] = {"value": float(norm.norm.value), "error": float(norm.norm.error), "unit": ""}
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


def run_lhaaso_fit(outdir=None, grammage="exponential", variant="min", profiles=True, plot=True, overwrite=False,
                   profile_points=13, posterior=False, live_points=100):
    """Fit cocoons + DGE to LHAASO inner/outer; optionally write the results to ``outdir``.

    Writes ``fit_result.yaml`` (gammapy Models with covariance; the DGE cube it references as
    ``dge_template.fits``), ``fit_summary.json``, ``profile_chi0.ecsv``/``profile_r0.ecsv``
    (``profile_points`` values each, chi0 0-1.2 g cm-2, R0 3-300 TV, other parameters refitted) and,
    with ``plot``, ``sed_inner.png``/``sed_outer.png`` and ``profiles.png``. With ``posterior``,
    ``posterior.ecsv`` (UltraNest samples with :func:`set_default_priors`) and its quantiles in the
    summary.

    Returns
    -------
    dict
        The summary: success, stat, ndof, parameters (name -> value, error), ts_cocoons, ...
    """
    if outdir is not None:
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        targets = ["fit_result.yaml", "fit_summary.json", "dge_template.fits"]
        existing = [t for t in targets if (outdir / t).exists()]
        if existing and not overwrite:
            raise FileExistsError(f"outdir {str(outdir)!r} already holds {', '.join(existing)}; pass overwrite=True")
    start = time.perf_counter()
    datasets, cocoons, norms = build_lhaaso_fit(grammage=grammage, variant=variant)
    datasets.stat_sum()  # builds kernels and region integrals once
    built = time.perf_counter()
    result = Fit().run(datasets)
    fitted = time.perf_counter()
    best_stat = float(result.total_stat)
    null_stat = _fit_with_chi0_zero(datasets, cocoons)
    n_points = int(sum(d.mask.sum() for d in datasets))
    n_free = len(datasets.models.parameters.free_unique_parameters)
    summary = {
        "success": bool(result.success),
        "message": str(result.message),
        "stat": best_stat,
        "ndof": n_points - n_free,
        "n_points": n_points,
        "grammage": grammage,
        "dge_variant": variant,
        "inner_mask_scale": INNER_MASK_SCALE,
        "errors": "LHAASO statistical and systematic errors in quadrature",
        "parameters": _free_summary(datasets, cocoons, norms),
        "stat_chi0_zero": null_stat,
        "ts_cocoons": null_stat - best_stat,
        "time_build_s": built - start,
        "time_fit_s": fitted - built,
    }
    profiles_out = {}
    if profiles:
        best = [(p, p.value, p.error) for p in datasets.models.parameters.unique_parameters]
        n = int(profile_points)
        for name, values in (("chi0", np.linspace(0.0, 1.2, n)), ("r0", np.geomspace(3, 300, n))):
            parameter = getattr(cocoons.spectral_model, name)
            parameter.scan_values = values
            profiles_out[name] = Fit().stat_profile(datasets, parameter, reoptimize=True)
            parameter.scan_values = None
            for p, value, error in best:  # back to the best fit after each scan
                p.value, p.error = value, error
    samples = None
    if posterior:
        set_default_priors(cocoons, norms)
        labels = {norm.norm: f"dge_norm_{name}" for name, norm in norms.items()}
        samples, quantiles = sample_posterior(datasets, live_points=live_points, labels=labels)
        summary["posterior"] = quantiles
    if outdir is not None:
        if samples is not None:
            samples.write(outdir / "posterior.ecsv", overwrite=True)
        _write_outputs(outdir, datasets, cocoons, summary, profiles_out, plot, variant)
    return summary


def _write_outputs(outdir, datasets, cocoons, summary, profiles, plot, variant):
    from astropy.table import Table

    template = datasets[0].models[0].spectral_model.model2.sky_model.spatial_model
    template_path = outdir / "dge_template.fits"
    template.map.write(template_path, overwrite=True)
    template.filename = str(template_path)
    models = Models([d.models[0] for d in datasets])
    models.write(outdir / "fit_result.yaml", overwrite=True, write_covariance=True)
    for name, profile in profiles.items():
        key = next(k for k in profile if k.endswith(f"{name}_scan"))
        table = Table({name: profile[key], "stat": profile["stat_scan"]})
        table.write(outdir / f"profile_{name}.ecsv", overwrite=True)
        summary[f"profile_{name}"] = f"profile_{name}.ecsv"
    neutrinos = neutrino_prediction(cocoons.spectral_model, variant)
    neutrinos.write(outdir / "neutrinos.ecsv", overwrite=True)
    summary["neutrinos"] = "neutrinos.ecsv"
    (outdir / "fit_summary.json").write_text(json.dumps(summary, indent=2))
    if plot:
        from .plotting import plot_lhaaso_fit, plot_neutrinos

        plot_lhaaso_fit(datasets, cocoons, outdir, profiles)
        plot_neutrinos(neutrinos, outdir / "neutrinos.png")


def set_default_priors(cocoons, norms=None):
    """Priors for a posterior: chi0 uniform in [0, 2] g cm-2, R0 log-uniform in [1, 1000] TV,
    DGE norms uniform in [0, 10]."""
    from gammapy.modeling.models import LogUniformPrior, UniformPrior

    spectral = cocoons.spectral_model
    spectral.chi0.prior = UniformPrior(min=0.0, max=2.0)
    spectral.r0.prior = LogUniformPrior(min=1.0, max=1000.0)
    for norm in (norms or {}).values():
        norm.norm.prior = UniformPrior(min=0.0, max=10.0)


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
    try:
        result = sampler.run(datasets)
    finally:
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


def neutrino_prediction(cocoon_spectral, variant="min", energy=None):
    """All-sky per-flavour neutrino E^2 dN/dE [GeV cm-2 s-1] of cocoons and DGE (Fig. B.1).

    ``cocoon_spectral`` is a fitted gamma-ray CocoonSpectralModel: its parameters and options
    are reused with ``secondary="nu_per_flavour"``.

    Returns
    -------
    `~astropy.table.QTable`
        e_ref, cocoons, dge, total, and the IceCube pi0 band interpolated at e_ref where defined.
    """
    from astropy.table import QTable

    from .datasets import band_at, load_band

    energy = np.geomspace(300, 3e5, 40) * u.GeV if energy is None else u.Quantity(energy, u.GeV)
    options = dict(cocoon_spectral.options, secondary="nu_per_flavour")
    nu = CocoonSpectralModel(**options, **{p.name: p.quantity for p in cocoon_spectral.parameters})
    cocoons = (energy**2 * nu(energy)).to(u.Unit("GeV cm-2 s-1"))
    cube = conventional_dge(variant, secondary="nu_per_flavour").spatial_model.map
    nodes = cube.geom.axes[0].center
    all_sky = np.nansum(cube.quantity.reshape(nodes.size, -1), axis=1) * cube.geom.solid_angle()[0]
    dge = np.exp(np.interp(np.log(energy.to_value(u.GeV)), np.log(nodes.to_value(u.GeV)),
                           np.log(all_sky.to_value("GeV-1 cm-2 s-1")))) * u.Unit("GeV-1 cm-2 s-1")
    dge = (energy**2 * dge).to(u.Unit("GeV cm-2 s-1"))
    table = QTable({"e_ref": energy, "cocoons": cocoons, "dge": dge, "total": cocoons + dge})
    band = load_band("icecube-2023-pi0")
    for column in ("e2dnde", "e2dnde_low", "e2dnde_high"):
        table[f"icecube_pi0_{column.replace('e2dnde', 'best').replace('best_', '')}"] = band_at(band, energy, column)
    table.meta["flux"] = "nu + anti-nu of one flavour at Earth (1:1:1), integrated over the whole sky"
    table.meta["dge"] = f"embedded conventional DGE '{variant}' at its own normalisation (the fitted norms are regional)"
    return table


def compare_grammage_laws(laws=("exponential", "kraichnan", "bohm"), variant="min"):
    """Best-fit statistic of the joint LHAASO fit for several cocoon grammage laws (Appendix B)."""
    rows = []
    for law in laws:
        summary = run_lhaaso_fit(grammage=law, variant=variant, profiles=False, plot=False)
        rows.append({"grammage": law, "stat": summary["stat"], "ndof": summary["ndof"],
                     "chi0": summary["parameters"]["chi0"]["value"], "r0": summary["parameters"]["r0"]["value"],
                     "ts_cocoons": summary["ts_cocoons"], "success": summary["success"]})
    return rows
