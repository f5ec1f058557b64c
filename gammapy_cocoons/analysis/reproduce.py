"""Every figure of Ambrosone et al. (2025) and its key numbers from one call.

:func:`reproduce` (the command ``gammapy-cocoons reproduce --outdir DIR``) writes each figure as
PNG and PDF with the ECSV table of the curves behind it (``<figure>.ecsv``; the plotted data points
are in ``<figure>_data.ecsv``):

- ``fig1_bc``: B/C fitted to AMS-02 with galactic + cocoon grammage (Fig. 1);
- ``fig2_sed``: inner and outer gamma-ray SEDs of the paper's fiducial cocoons,
  chi_c,0 = 0.4 g cm-2 and R0 = 20 TV (Fig. 2);
- ``figB1_neutrinos``: all-sky neutrinos per flavour against IceCube (Fig. B.1);
- ``figB2_r0_scan``: R0 = 10, 20, 50, 90 TV (Fig. B.2);
- ``figB3_grammage_laws``: Kraichnan with R0 = 1 TV and Bohm with R0 = 10 TV (Fig. B.3);

and ``SUMMARY.md`` / ``summary.json`` with the fitted chi_c,0 (B/C, LHAASO and joint fits), the
Eq. 9 and 10 values and the cocoon fraction of the total at 1, 10 and 100 TeV per region.

Two cocoon gases, each stated on the figures, in their ECSV meta and in SUMMARY.md: the paper's
curves (the fiducial cocoons of Figs. 2, B.1-B.3, the appendix chi2, the cocoon fractions, the
data/model ratios and figP) use the paper's Eq. 7 exactly, ``target="hydrogen"`` (pure hydrogen on
chi0 / m_p, :data:`PAPER_TARGET`); every fit (B/C, LHAASO, joint) uses the package's one
convention, chi0 the mass grammage of ISM gas (:data:`FIT_TARGET`), so their chi0 compare like
with like (the free fit drawn in Fig. 2 too).

As in the paper, the DGE is drawn as computed: no fitted scaling enters Figs. 2 and B.1-B.3, only
the paper's fixed 0.65 mask factor for the LHAASO inner region, written on the figures. The DGE is
any baseline of :func:`~gammapy_cocoons.dge.select.dge_baseline`: the embedded conventional model
(default; the paper used the DRAGON/HERMES "base min/max" maps, which are not bundled), the
data-driven Fermi pi0 template, or the user's own files. SUMMARY.md gives the data/model ratios of
every dataset (LHAASO, Tibet, ARGO and the user's points) and the free fit, whose DGE
normalisation is a fitted number, labelled as such.

The answer row SUMMARY.md quotes (``gammapy-cocoons compare``'s four hypotheses for this DGE) is
fitted in a child process beside the figures, when the machine has
:data:`.answer.BACKGROUND_MEMORY_GB` available (:mod:`.answer`: from the command line on Linux with
two or more CPUs a forked copy of this process, started once gammapy is imported, with the embedded
DGE's first steps computed meanwhile by another; else a child interpreter started first,
:mod:`.background`); otherwise in this process, last. With the embedded DGE and a disk cache, that
child first builds the DGE cubes the figures need, in the order this process asks for them (the
gamma-ray and neutrino envelopes, then inverse Compton and bremsstrahlung for Fig. 2, drawn last),
while this process fits B/C and draws the population; this process loads them (the disk cache makes
it wait for a build in progress rather than build twice), and releases each once its figures are
drawn. The child then builds the radial-delta DGE of hypothesis (d) itself and fits. Each figure
is drawn once for its PNG and its text-overlap check (:func:`~.plotting.save_figure`).
"""
import json
import logging
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import astropy.units as u
from astropy.table import QTable, Table

from .._files import output_set, prepare_outdir, publish_table, publish_text
from . import answer as _answer
from .answer import return_freed_memory as _return_freed_memory
from .bcfit import BC_OVERLAY_DATA, bc_data_table, bc_table, fit_bc, joint_fit
from .._validation import boolean, choice
from ..datasets import band_at, load_band, load_flux_points
from ..dge.select import BASELINES, describe_baseline, dge_baseline, dge_model
from ..emission import CocoonEmission
from ..models.sky import DeclaredUnitSkyModel
from ..physics.targetgas import describe_target
from .fitting import INNER_MASK_SCALE, MASK_SCALES, build_lhaaso_fit, neutrino_prediction, run_lhaaso_fit
from ..models import CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
from ..skyregions import LHAASO_INNER, LHAASO_OUTER

__all__ = ["reproduce", "output_files", "FIDUCIAL_CHI0", "FIDUCIAL_R0", "R0_SCAN", "LAW_CASES", "PAPER_TARGET",
           "FIT_TARGET"]

log = logging.getLogger(__name__)

#: the paper's fiducial cocoons (Sect. 3)
FIDUCIAL_CHI0 = 0.4 * u.Unit("g cm-2")
FIDUCIAL_R0 = 20 * u.TV
#: the cocoon gas of the paper's curves: Eq. 7 as written, pure hydrogen on chi0 / m_p
PAPER_TARGET = "hydrogen"
#: the cocoon gas of the fits (B/C, LHAASO, joint): the package's default, chi0 = ISM mass grammage
FIT_TARGET = "ism"
#: Fig. B.2 and Fig. B.3 cases
R0_SCAN = (10, 20, 50, 90) * u.TV
LAW_CASES = (("kraichnan", 1 * u.TV), ("bohm", 10 * u.TV))

SED_ENERGY = np.geomspace(1.0, 3e6, 91) * u.GeV
NEUTRINO_ENERGY = np.geomspace(100.0, 1e6, 61) * u.GeV
FRACTION_ENERGY = (1, 10, 100) * u.TeV
_E2I = u.Unit("GeV cm-2 s-1 sr-1")
_E2F = u.Unit("GeV cm-2 s-1")

# region -> (sky region, model scale for the source mask, data sets shown)
_REGIONS = {
    "inner": (LHAASO_INNER, INNER_MASK_SCALE, ("lhaaso-km2a-2023-inner", "fermi-lat-lhaaso-inner")),
    "outer": (LHAASO_OUTER, 1.0, ("lhaaso-km2a-2023-outer",)),
}
_TITLES = {"inner": r"inner Galaxy, $15^\circ<l<125^\circ$, $|b|<5^\circ$ (model $\times$ 0.65)",
           "outer": r"outer Galaxy, $125^\circ<l<235^\circ$, $|b|<5^\circ$"}
_SHORT_TITLES = {"inner": r"inner Galaxy (model $\times$ 0.65)", "outer": "outer Galaxy"}
_FIGURES = ("fig1_bc", "fig2_sed", "figB1_neutrinos", "figB2_r0_scan", "figB3_grammage_laws", "figP_population")
#: realisations of the cocoon population drawn for figP_population
POPULATION_REALISATIONS = 200
#: datasets whose data/model ratios SUMMARY.md reports (not fitted by the figures)
RATIO_DATASETS = ("lhaaso-km2a-2023-inner", "lhaaso-km2a-2023-outer", "tibet-asgamma-2021-a",
                  "tibet-asgamma-2021-b", "argo-ybj-2015")


def dge_note(dge="embedded"):
    """What the figures' DGE is, in one sentence for every output."""
    return (f"DGE: {describe_baseline(dge)}; drawn as computed (no fitted scaling), inner-region model x "
            f"{INNER_MASK_SCALE} (the paper's LHAASO mask factor). The paper used the DRAGON/HERMES base min/max "
            "maps (De la Torre Luque et al. 2023), not bundled here.")


def output_files():
    """Names of the files :func:`reproduce` writes."""
    names = ["SUMMARY.md", "summary.json"]
    for figure in _FIGURES:
        names += [f"{figure}.png", f"{figure}.pdf", f"{figure}.ecsv"]
    names += ["fig1_bc_data.ecsv", "fig2_sed_data.ecsv"]
    return names


# -- model curves ---------------------------------------------------------------------------------

def _cocoon_model(grammage="exponential", chi0=FIDUCIAL_CHI0, r0=FIDUCIAL_R0, secondary="gamma", target=PAPER_TARGET):
    return CocoonSpectralModel(grammage=grammage, chi0=chi0, r0=r0, secondary=secondary, target=target)


def _gas_note(target=PAPER_TARGET):
    """What the cocoon gas of a curve is, for figure text and ECSV meta."""
    return "cocoons on " + describe_target(target)


def _region_e2i(sky_model, region, scale, energy):
    """E^2 I [GeV cm-2 s-1 sr-1] of ``sky_model`` averaged over ``region``, times the mask ``scale``."""
    flux = RegionFluxSpectralModel(sky_model, region=region, scale=scale)
    return (energy**2 * flux(energy) / flux.solid_angle()).to_value(_E2I)


def cocoon_sed(region_name, energy=SED_ENERGY, **cocoon):
    """E^2 I of the cocoons in ``region_name`` ("inner" / "outer"); keywords as CocoonSpectralModel's
    (``target`` defaults to :data:`PAPER_TARGET`)."""
    region, scale, _ = _REGIONS[choice(region_name, _REGIONS, "region_name")]
    sky = DeclaredUnitSkyModel(spectral_model=_cocoon_model(**cocoon), spatial_model=CocoonSpatialModel(),
                               name="cocoons")
    return _region_e2i(sky, region, scale, energy)


def dge_sed(region_name, variant, norm=1.0, energy=SED_ENERGY, dge="embedded"):
    """E^2 I of the DGE baseline ``dge`` (member ``variant`` "min" / "max") in ``region_name``, times
    ``norm`` (1: as computed)."""
    choice(region_name, _REGIONS, "region_name")
    choice(variant, ("min", "max"), "variant")
    energy_gev = tuple(u.Quantity(energy, u.GeV).value)
    return norm * _unit_dge_sed(region_name, variant, energy_gev, _dge_key(dge))


def _dge_key(dge):
    # hashable: a name or path as a string, a (min, max) pair of paths as a tuple of strings
    return str(dge) if isinstance(dge, (str, os.PathLike)) else tuple(str(p) for p in dge)


@lru_cache(maxsize=32)
def _unit_dge_sed(region_name, variant, energy_gev, dge):
    # the region integral of the HEALPix template takes ~0.3 s; the figures reuse it many times
    region, scale, _ = _REGIONS[region_name]
    values = _region_e2i(dge_model(dge, variant), region, scale,
                         np.array(energy_gev) * u.GeV)
    values.flags.writeable = False
    return values


def lhaaso_stat(grammage="exponential", chi0=FIDUCIAL_CHI0, r0=FIDUCIAL_R0, dge="embedded", variant="min",
                target=PAPER_TARGET):
    """chi2 of LHAASO-KM2A inner + outer for given cocoons (the paper's Eq. 7 target by default) and
    the DGE as computed (norm 1)."""
    if isinstance(dge, str) and dge in BASELINES:  # a built-in DGE: its cube is shared, not copied
        # chi0 and R0 checked as the build checks them (the model's own constructor)
        checked = CocoonSpectralModel(grammage=grammage, chi0=chi0, r0=r0, target=target)
        datasets, cocoons, dge_norms = _lhaaso_stat_datasets(grammage, variant, dge, target)
        spectral = cocoons.spectral_model
        spectral.chi0.quantity, spectral.r0.quantity = checked.chi0.quantity, checked.r0.quantity
    else:  # the user's files: read for this call only (a cached model would hold its own copy)
        datasets, _, dge_norms = build_lhaaso_fit(grammage=grammage, variant=variant, chi0=chi0, r0=r0, dge=dge,
                                                  target=target)
    for norm in dge_norms.values():
        norm.norm.value = 1.0
    return float(datasets.stat_sum())


@lru_cache(maxsize=2)
def _lhaaso_stat_datasets(grammage, variant, dge, target):
    # one build (~0.1 s: the models, their checks, region integrals and kernels) for every chi0 and
    # R0 of a grammage law: the R0 scan of Fig. B.2 and the run's fiducial statistic; private to
    # lhaaso_stat, which sets the cocoons' chi0 and R0 and the DGE norms at every call; emptied when
    # a run of reproduce ends
    return build_lhaaso_fit(grammage=grammage, variant=variant, dge=dge, target=target)


def data_model_ratios(dge="embedded", points=(), chi0=FIDUCIAL_CHI0, r0=FIDUCIAL_R0):
    """Measured / model of every point of the bundled diffuse datasets and the user's ``points``,
    for the DGE as computed (base min and max) with and without the fiducial cocoons.

    Returns a Table: dataset, e_ref [TeV], data, and data / (DGE min), data / (DGE max),
    data / (DGE min + cocoons), data / (DGE max + cocoons); the model carries the dataset's mask
    factor; the cocoons are on the paper's Eq. 7 target (:data:`PAPER_TARGET`). These are
    reported, never fitted.
    """
    baseline = dge_baseline(dge)
    cocoons = DeclaredUnitSkyModel(spectral_model=_cocoon_model(chi0=chi0, r0=r0),
                                   spatial_model=CocoonSpatialModel(), name="cocoons")
    entries = [(name, load_flux_points(name), MASK_SCALES.get(name, 1.0)) for name in RATIO_DATASETS]
    for i, p in enumerate(points):
        if p.meta.get("region") is None:
            raise ValueError(f"points: entry {i + 1} needs meta['region'] (see datasets.read_flux_points)")
    entries += [(p.meta.get("name") or f"points-{i + 1}", p, 1.0) for i, p in enumerate(points)]
    rows = []
    for name, flux_points, scale in entries:
        region = flux_points.meta["region"]
        energy = flux_points.energy_ref
        data = flux_points.dnde.quantity.ravel()
        parts = {key: RegionFluxSpectralModel(model, region=region, scale=scale)(energy)
                 for key, model in (("min", baseline.min), ("max", baseline.max), ("cocoons", cocoons))}
        for i in range(energy.size):
            ratios = [float(data[i] / parts[m][i]) for m in ("min", "max")]
            ratios += [float(data[i] / (parts[m][i] + parts["cocoons"][i])) for m in ("min", "max")]
            rows.append((name, float(energy[i].to_value("TeV")), *ratios))
    return Table(rows=rows, names=("dataset", "e_ref_tev", "data_over_dge_min", "data_over_dge_max",
                                   "data_over_dge_min_plus_cocoons", "data_over_dge_max_plus_cocoons"))


# -- one step per figure --------------------------------------------------------------------------

class _Output:
    """The output directory of a run and whether its files may be replaced (checked up front)."""

    def __init__(self, directory, overwrite):
        self.directory, self.overwrite = Path(directory), bool(overwrite)
        self.overlaps = {}  # figure -> its overlapping texts (text_overlaps: empty for every figure)

    def table(self, table, name):
        publish_table(table, self.directory / name, self.overwrite, format="ascii.ecsv")

    def text(self, text, name):
        publish_text(self.directory / name, text, self.overwrite)


def _write_figure(outdir, stem, table, fig, meta):
    """``stem``.ecsv (the curves, with ``meta``), ``stem``.png and ``stem``.pdf. Every figure of
    the run has been laid out by its maker (a note under the axes, or ``tight_layout``)."""
    from .plotting import save_figure

    table.meta.update(meta)
    outdir.table(table, f"{stem}.ecsv")
    outdir.overlaps[stem] = save_figure(fig, outdir.directory / stem, outdir.overwrite, layout=False)


def _figure_population(outdir):
    """Not in the paper: the discrete cocoons behind Fig. 2's smooth curves, and 1LHAASO."""
    from .plotting import FIGURE_DPI, plot_population
    from .population import population_results

    table, comparison, summary = population_results(realisations=POPULATION_REALISATIONS, target=PAPER_TARGET)
    # made at the dpi save_figure writes its PNG at
    _write_figure(outdir, "figP_population", table, plot_population(table, comparison, summary, dpi=FIGURE_DPI), {
        "figure": f"Cocoon population (not in the paper): {POPULATION_REALISATIONS} realisations of the fiducial "
                  "cocoons (n_gas 1 H atom cm-3, radius 30 pc), flux quantiles against the smooth model, and 1LHAASO",
        "cocoon_gas": _gas_note()})
    return {k: summary[k] for k in ("parameters", "alive", "holding", "flux_share_from_near_cocoons_3tev")} | {
        "lhaaso_1": {name: {k: v for k, v in entry.items() if k != "lognlogs"}
                     for name, entry in summary["lhaaso_1"]["components"].items()}}


def _figure_1(outdir):
    from .plotting import plot_bc

    datasets, model, summary = fit_bc(profile=True)
    figure = plot_bc(model, datasets, overlay=BC_OVERLAY_DATA, summary=summary)
    _write_figure(outdir, "fig1_bc", bc_table(model), figure, {
        "figure": "Fig. 1: B/C with galactic and cocoon grammage, fitted above 20 GV: " + summary["setup_description"],
        "chi0_convention": summary["chi0_convention"]})
    outdir.table(bc_data_table(datasets, model), "fig1_bc_data.ecsv")
    return summary


def _data_points(user_points=()):
    """Points drawn per region: the bundled ones, and the user's whose region is that region."""
    out = {name: [load_flux_points(d) for d in data] for name, (_, _, data) in _REGIONS.items()}
    for points in user_points:
        for name, (region, _, _) in _REGIONS.items():
            if points.meta.get("region") is region or _same_region(points.meta.get("region"), region):
                out[name].append(points)
    return out


def _same_region(a, b):
    from ..skyregions import to_lb_region

    try:
        return a is not None and to_lb_region(a).key == to_lb_region(b).key
    except (TypeError, ValueError, AttributeError):
        return False


def _points_table(points_by_region):
    rows = []
    for region, points_list in points_by_region.items():
        for points in points_list:
            omega = points.meta["solid_angle"] * u.sr
            e = points.energy_ref
            factor = e**2 / omega
            for i in range(e.size):
                rows.append((region, points.meta["name"], e[i].to_value("GeV"),
                             (factor[i] * points.dnde.quantity.ravel()[i]).to_value(_E2I),
                             (factor[i] * points.dnde_errn.quantity.ravel()[i]).to_value(_E2I),
                             (factor[i] * points.dnde_errp.quantity.ravel()[i]).to_value(_E2I)))
    table = QTable(rows=rows, names=("region", "dataset", "e_ref", "e2i", "e2i_errn", "e2i_errp"))
    table["e_ref"].unit = u.GeV
    for column in ("e2i", "e2i_errn", "e2i_errp"):
        table[column].unit = _E2I
    table.meta["comments"] = ["E^2 I of the measured points as plotted (errors: stat and sys in quadrature)"]
    return table


def _dge_label(dge):
    return f"DGE: {describe_baseline(dge)}; drawn as computed (no fitted scaling)"


def _sed_note(points, *lines):
    """The note under an SED figure: ``lines`` (parameters with units, the DGE, the mask factor),
    then every plotted dataset's reference and caveat."""
    from .plotting import dataset_note

    drawn = [p for region_points in points.values() for p in region_points]
    return "\n".join([line for line in lines if line] + [dataset_note(drawn)])


def _scale_note(best_fit):
    """How the fitted energy scales enter the dashed curve, for the figure's note."""
    scales = {k.removeprefix("energy_scale_"): v for k, v in best_fit.items() if k.startswith("energy_scale_")}
    if not scales:
        return ""
    text = ", ".join(f"{name} s = {value:.2f}" for name, value in scales.items())
    return (f"; fitted energy scales ({text}, each with its prior): the dashed curve is in true energy, the fit "
            "compared s x the model at s E with the points at E")


def _figure_2(outdir, best_fit, points, dge):
    from .plotting import new_figure, plot_sed_panel

    table = QTable({"e_ref": SED_ENERGY})
    fig, axes = new_figure(1, 2)
    norm_key = "dge_norm"
    components = None
    if dge == "embedded":  # the DGE min's components, as computed, for both panels
        from .leptonic import component_models

        components = component_models("min")
    for ax, region in zip(axes[0], _REGIONS):
        cocoons = cocoon_sed(region)
        dge_min, dge_max = dge_sed(region, "min", dge=dge), dge_sed(region, "max", dge=dge)
        best = (cocoon_sed(region, chi0=best_fit["chi0"] * u.Unit("g cm-2"), r0=best_fit["r0"] * u.TV,
                           target=FIT_TARGET)
                + dge_sed(region, "min", best_fit[norm_key], dge=dge))
        for column, values in (("cocoons", cocoons), ("dge_min", dge_min), ("dge_max", dge_max),
                               ("total_min", cocoons + dge_min), ("total_max", cocoons + dge_max),
                               ("free_fit_total", best)):
            table[f"{region}_{column}"] = values * _E2I
        lines = [(best, dict(color="k", ls="--", lw=1, label="fit: chi0, R0 free; N, s with priors (dashed)"))]
        if components is not None:  # the band is pi0 alone
            from .leptonic import component_seds

            region_obj, scale, _ = _REGIONS[region]
            parts = component_seds(region_obj, SED_ENERGY, scale, "min", components)
            for name, color, note in (("pi0", "C2", " (the band's DGE)"), ("ic", "C3", " (not in the band)"),
                                      ("bremsstrahlung", "C4", " (not in the band)")):
                table[f"{region}_dge_min_{name}"] = parts[name] * _E2I
                lines.append((parts[name], dict(color=color, ls="--", lw=1, label=f"DGE min: {name}{note}")))
        plot_sed_panel(ax, SED_ENERGY, cocoons, (cocoons + dge_min, cocoons + dge_max), points[region],
                       title=_TITLES[region], lines=lines)
    bound = best_fit.get("at_bound_note")
    from .plotting import figure_note

    figure_note(fig, _sed_note(
        points, "Cocoons: chi0 = 0.4 g cm-2, R0 = 20 TV (the paper's fiducial values), exponential grammage, pure-hydrogen target on chi0 / m_p (the paper's Eq. 7); "
                f"inner-region model x {INNER_MASK_SCALE} (the paper's LHAASO source-mask factor). " + _dge_label(dge),
        f"Free fit to the LHAASO-KM2A points (dashed; ISM cocoon gas, chi0 its mass grammage): chi0 = {best_fit['chi0']:.2f} g cm-2, R0 = {best_fit['r0']:.0f} "
        f"TV, DGE x {best_fit[norm_key]:.2f} (fitted, log-normal prior of width 0.206)" + _scale_note(best_fit)
        + (f"; {bound}" if bound else "")))
    _write_figure(outdir, "fig2_sed", table, fig, {
        "figure": "Fig. 2: gamma-ray E^2 I of fiducial cocoons (chi0 0.4 g cm-2, R0 20 TV) and DGE",
        "cocoon_gas": _gas_note(), "free_fit_cocoon_gas": _gas_note(FIT_TARGET),
        "inner_mask_scale": INNER_MASK_SCALE, "free_fit": best_fit, "dge": dge_note(dge)})
    outdir.table(_points_table(points), "fig2_sed_data.ecsv")


def _figure_b1(outdir, dge):
    from .plotting import plot_neutrino_bands

    spectral = _cocoon_model()
    tables = {v: neutrino_prediction(spectral, v, energy=NEUTRINO_ENERGY, dge=dge) for v in ("min", "max")}
    cocoons = tables["min"]["cocoons"].to_value(_E2F)
    dge_values = {v: t["dge"].to_value(_E2F) for v, t in tables.items()}
    table = QTable({"e_ref": NEUTRINO_ENERGY, "cocoons": cocoons * _E2F, "dge_min": dge_values["min"] * _E2F,
                    "dge_max": dge_values["max"] * _E2F, "total_min": (cocoons + dge_values["min"]) * _E2F,
                    "total_max": (cocoons + dge_values["max"]) * _E2F})
    bands = {}
    for name, label in (("pi0", r"IceCube 2023, $\pi^0$"), ("kra5", r"IceCube 2023, KRA$_\gamma^5$"),
                        ("kra50", r"IceCube 2023, KRA$_\gamma^{50}$")):
        band = load_band(f"icecube-2023-{name}")
        bands[label] = band
        for column in ("e2dnde", "e2dnde_low", "e2dnde_high"):
            table[f"icecube_{name}_{column.replace('e2dnde', 'best').replace('best_', '')}"] = (
                band_at(band, NEUTRINO_ENERGY, column))
    has_dge = np.all(np.isfinite(dge_values["min"]))
    fig = plot_neutrino_bands(NEUTRINO_ENERGY, cocoons,
                              (cocoons + dge_values["min"], cocoons + dge_values["max"]) if has_dge else None, bands,
                              note="Cocoons: chi0 = 0.4 g cm-2, R0 = 20 TV, pure-hydrogen target on chi0 / m_p (the paper's Eq. 7). " + (
                                  _dge_label(dge) if has_dge else "No DGE neutrinos (DGE files hold gamma rays)."))
    _write_figure(outdir, "figB1_neutrinos", table, fig, {
        "figure": "Fig. B.1: all-sky nu + anti-nu of one flavour at Earth, E^2 dN/dE", "dge": tables["min"].meta["dge"],
        "cocoon_gas": _gas_note()})
    return table


def _figure_b2(outdir, points, dge, fiducial_stat=None):
    from .plotting import new_figure, plot_sed_panel

    table = QTable({"e_ref": SED_ENERGY})
    stats = {}
    fig, axes = new_figure(1, 2)
    colors = dict(zip(R0_SCAN.to_value("TV"), ("C0", "goldenrod", "C2", "0.4")))
    for ax, region in zip(axes[0], _REGIONS):
        dge_min = dge_sed(region, "min", dge=dge)
        lines = []
        for r0 in R0_SCAN:
            cocoons = cocoon_sed(region, r0=r0)
            key = f"{r0.to_value('TV'):g}TV"
            table[f"{region}_cocoons_r0_{key}"] = cocoons * _E2I
            table[f"{region}_total_r0_{key}"] = (cocoons + dge_min) * _E2I
            color = colors[r0.to_value("TV")]
            lines += [(cocoons, dict(color=color, ls="--", lw=1.3)),
                      (cocoons + dge_min, dict(color=color, lw=1.6, label=f"$R_0$ = {r0.to_value('TV'):g} TV"))]
        table[f"{region}_dge_min"] = dge_min * _E2I
        lines.append((dge_min, dict(color="0.6", ls=":", lw=1.2, label="DGE (base min)")))
        plot_sed_panel(ax, SED_ENERGY, None, None, points[region], title=_TITLES[region], lines=lines)
    for r0 in R0_SCAN:  # the fiducial R0's chi2 is the run's lhaaso_stat(dge=dge) when given
        fiducial = fiducial_stat is not None and r0 == FIDUCIAL_R0
        stats[f"{r0.to_value('TV'):g} TV"] = fiducial_stat if fiducial else lhaaso_stat(r0=r0, dge=dge)
    from .plotting import figure_note

    figure_note(fig, _sed_note(points, "Dashed: cocoons; solid: DGE (base min) + cocoons, for R0 = 10, 20, 50, 90 TV; "
                                       f"chi0 = 0.4 g cm-2, exponential grammage, pure-hydrogen target on chi0 / m_p (the paper's Eq. 7); inner-region model x {INNER_MASK_SCALE} "
                                       "(the paper's LHAASO source-mask factor). " + _dge_label(dge)))
    _write_figure(outdir, "figB2_r0_scan", table, fig, {
        "figure": "Fig. B.2: cocoons (chi0 0.4 g cm-2) for several R0, and DGE (base min) + cocoons",
        "cocoon_gas": _gas_note(), "lhaaso_chi2": stats, "dge": dge_note(dge)})
    return stats


def _figure_b3(outdir, points, dge):
    from .plotting import new_figure, plot_sed_panel

    table = QTable({"e_ref": SED_ENERGY})
    stats = {}
    fig, axes = new_figure(2, 2)
    for row, (law, r0) in zip(axes, LAW_CASES):
        key = f"{law}_r0_{r0.to_value('TV'):g}TV"
        for ax, region in zip(row, _REGIONS):
            cocoons = cocoon_sed(region, grammage=law, r0=r0)
            dge_min, dge_max = dge_sed(region, "min", dge=dge), dge_sed(region, "max", dge=dge)
            table[f"{region}_{key}_cocoons"] = cocoons * _E2I
            table[f"{region}_{key}_total_min"] = (cocoons + dge_min) * _E2I
            table[f"{region}_{key}_total_max"] = (cocoons + dge_max) * _E2I
            plot_sed_panel(ax, SED_ENERGY, cocoons, (cocoons + dge_min, cocoons + dge_max), points[region],
                           title=f"{law.capitalize()}, $R_0$ = {r0.to_value('TV'):g} TV: {_SHORT_TITLES[region]}")
        stats[key] = lhaaso_stat(grammage=law, r0=r0, dge=dge)
    from .plotting import figure_note

    figure_note(fig, _sed_note(points, "Cocoons: chi0 = 0.4 g cm-2, pure-hydrogen target on chi0 / m_p (the paper's Eq. 7); Kraichnan (delta = 1/2) with R0 = 1 TV, Bohm "
                                       f"(delta = 1) with R0 = 10 TV; inner-region model x {INNER_MASK_SCALE} (the "
                                       "paper's LHAASO source-mask factor). " + _dge_label(dge)))
    _write_figure(outdir, "figB3_grammage_laws", table, fig, {
        "figure": "Fig. B.3: Kraichnan (R0 1 TV) and Bohm (R0 10 TV) cocoon grammage, chi0 0.4 g cm-2",
        "cocoon_gas": _gas_note(), "lhaaso_chi2": stats, "dge": dge_note(dge)})
    return stats


def cocoon_fractions(energies=FRACTION_ENERGY, dge="embedded"):
    """Cocoon share of cocoons + DGE (base min and max, as computed) at ``energies`` per region,
    fiducial cocoons on the paper's Eq. 7 target. Returns a Table: region, energy_tev,
    fraction_dge_min, fraction_dge_max."""
    rows = []
    for region in _REGIONS:
        cocoons = cocoon_sed(region, energy=energies)
        low, high = dge_sed(region, "min", energy=energies, dge=dge), dge_sed(region, "max", energy=energies, dge=dge)
        for e, c, d_min, d_max in zip(energies, cocoons, low, high):
            rows.append((region, e.to_value("TeV"), c / (c + d_min), c / (c + d_max)))
    return Table(rows=rows, names=("region", "energy_tev", "fraction_dge_min", "fraction_dge_max"))


# -- the whole run -------------------------------------------------------------------------------

def reproduce(outdir, overwrite=False, progress=False, dge="embedded", points=(), answer=True):
    """Write every figure of the paper, its tables, SUMMARY.md and summary.json to ``outdir``.

    Existing outputs are refused unless ``overwrite``; nothing is written before that check.
    ``progress`` shows a tqdm bar on stderr. ``dge`` is the DGE baseline ("embedded", "fermi-pi0",
    or a path or (min, max) pair of paths); ``points`` the user's own FluxPoints (with
    ``meta["region"]``, :func:`~gammapy_cocoons.datasets.read_flux_points`), drawn in Fig. 2 when
    their region is a LHAASO region, entered in the free fit and in the data/model ratios.
    Returns the summary dict (as in summary.json). A run that fails or is interrupted leaves
    none of its files (:func:`~gammapy_cocoons._files.output_set`).

    ``answer``: where the answer row's fits run. True: in a child interpreter started here, beside
    the figures (:func:`.answer.start_answer`, if the machine has the memory); False: in this process,
    after the figures; or a child already started by :func:`.answer.start_answer` for the same ``dge``
    (the command line's: a forked copy of it, or a fresh interpreter started before it imports
    gammapy). This function ends the child when it returns or fails. With a forked child (the command
    line's), the joint fit and the summary's tables are made in a forked copy of this process too,
    beside Fig. 2 (the same numbers).
    """
    from .background import BackgroundCall
    from .forked import ForkedCall
    from .plotting import figures_at

    try:
        overwrite, progress = boolean(overwrite, "overwrite"), boolean(progress, "progress")
        if not isinstance(answer, (bool, BackgroundCall, ForkedCall)):
            raise TypeError(f"answer must be True, False or a child of answer.start_answer, got {answer!r}")
        describe_baseline(dge)  # a bad choice fails before any work
        points = tuple(points)
        for i, p in enumerate(points):
            if p.meta.get("region") is None:
                raise ValueError(f"points: entry {i + 1} needs meta['region'] (see datasets.read_flux_points)")
        with output_set(outdir):
            outdir = _Output(prepare_outdir(outdir, output_files(), overwrite), overwrite)
            if answer is True:
                answer = _answer.start_answer(dge)
            with figures_at():  # every figure at its PNG's dpi: that draw reuses the layout's text measurements
                return _reproduce(outdir, progress, dge, points, answer or None)
    finally:
        if isinstance(answer, (BackgroundCall, ForkedCall)):
            answer.cancel()  # a run that failed or was interrupted ends its child too
        _lhaaso_stat_datasets.cache_clear()  # its models hold a DGE cube: not kept beyond the run


def _reproduce(outdir, progress, dge, points, background=None):
    from tqdm.auto import tqdm

    from .forked import ForkedCall

    # the population (no DGE) right after Fig. 1: the answer row's child builds the DGE cubes meanwhile,
    # the hadronic ones first; Fig. 2, the one figure with the leptonic cubes, last, beside the joint fit
    steps = ["Fig. 1 (B/C fit)", "population", "LHAASO fit", "Fig. B.1", "Fig. B.2", "Fig. B.3", "Fig. 2", "joint fit",
             "summary"]
    timings = {}
    summary = {"paper": "Ambrosone, Evoli, Schroer & Blasi (2025)", "fiducial": {"chi0_g_cm2": 0.4, "r0_tv": 20.0},
               "cocoon_gas": {"paper_curves": _gas_note(PAPER_TARGET), "fits": _gas_note(FIT_TARGET)},
               "dge": dge_note(dge), "inner_mask_scale": INNER_MASK_SCALE,
               "user_points": [p.meta.get("name", "") for p in points]}
    if background is None and isinstance(dge, str) and dge == "embedded":
        start = time.perf_counter()
        # no child to build them: here, first, the leptonic ones while this process is small
        _answer.figure_cubes_first(leptonic_first=True)
        timings["DGE cubes of the figures"] = time.perf_counter() - start
    with tqdm(total=len(steps), desc="reproduce", disable=not progress, unit="step") as bar:
        def step(name):
            bar.set_postfix_str(name)
            timings[name] = time.perf_counter()

        def done(name):
            timings[name] = time.perf_counter() - timings[name]
            bar.update(1)

        step(steps[0])
        bc = _figure_1(outdir)
        summary["bc_fit"] = {k: bc[k] for k in ("stat", "ndof", "parameters", "at_bound", "at_bound_note",
                                                "stat_no_cocoons",
                                                "delta_stat_no_cocoons", "chi0_interval_68", "datasets",
                                                "setup_description", "chi0_convention", "network")}
        chi0_bc = bc["parameters"]["chi0"]["value"]
        del bc
        # ~50 MB after fit_bc with its profile; the joint fit (beside Fig. 2, in a forked copy on the
        # command line) recomputes its own in ~0.1 s
        _release_bc_rates()
        done(steps[0])

        step(steps[1])
        population = _figure_population(outdir)  # in summary.json at its place, after Fig. B.3's entry
        _return_freed_memory()
        done(steps[1])

        step(steps[2])
        fit = run_lhaaso_fit(profiles=False, plot=False, dge=dge, points=points, target=FIT_TARGET)
        best_fit = {k: v["value"] for k, v in fit["parameters"].items()}
        best_fit["at_bound_note"] = fit.get("at_bound_note", "")
        summary["lhaaso_fit"] = {k: fit[k] for k in ("stat", "ndof", "n_points", "datasets", "parameters",
                                                      "at_bound", "at_bound_note",
                                                      "stat_chi0_zero", "ts_cocoons", "dge_norm", "dge_norm_prior",
                                                      "dge_norms", "alternative", "chi0_convention")}
        summary["lhaaso_stat_as_computed"] = lhaaso_stat(dge=dge)
        summary["answer"] = None  # its place: the row is collected last (its fits run in the background)
        done(steps[2])

        drawn = _data_points(points)
        step(steps[3])
        nu = _figure_b1(outdir, dge)
        summary["neutrinos_50TeV_gev_cm2_s"] = _at_energy(nu, 50 * u.TeV)
        if dge == "embedded":
            from ..dge.conventional import release_cubes

            release_cubes(secondary="nu_per_flavour")  # no later step draws neutrinos
        done(steps[3])

        step(steps[4])
        summary["r0_scan_lhaaso_chi2"] = _figure_b2(outdir, drawn, dge, summary["lhaaso_stat_as_computed"])
        done(steps[4])

        step(steps[5])
        summary["grammage_laws_lhaaso_chi2"] = _figure_b3(outdir, drawn, dge)
        done(steps[5])

        summary["population"] = population
        summary["joint_fit"] = None  # its place: collected after Fig. 2
        # on the command line (it forked the answer row's child) the joint fit and the summary's
        # tables are made in a forked copy beside Fig. 2: the answer row's child has ended by about
        # then, and its core would be idle
        with ForkedCall(_joint_fit_and_tables, dge, points, fork=isinstance(background, ForkedCall),
                        rerun=True) as joint_call:
            step(steps[6])
            _figure_2(outdir, best_fit, drawn, dge)
            gev = None
            if dge == "embedded":  # with Fig. 2's leptonic cubes at hand; then they are released
                from ..dge.conventional import release_cubes
                from .leptonic import gev_comparison

                gev = gev_comparison()
                release_cubes(components=("ic", "bremsstrahlung"))
                _return_freed_memory()
            done(steps[6])

            step(steps[7])
            forked = joint_call.forked
            summary["joint_fit"], fractions, ratios, joint_seconds = joint_call.result()
        if not forked:  # computed here: its B/C rates freed (a forked copy's ended with it)
            _release_bc_rates()
        done(steps[7])
        # what the step took (in a forked copy, beside Fig. 2), and how long this process waited for it
        waited = timings.pop(steps[7])
        timings[f"{steps[7]} (its fits)"], timings[f"{steps[7]} (waited for)"] = joint_seconds, waited

        step(steps[8])
        summary["eq9_eq10"] = _eq9_eq10(chi0_bc)
        summary["cocoon_fraction"] = fractions
        summary["data_model_ratios"] = ratios
        if gev is not None:
            summary["leptonic_gev_comparison"] = gev
        waited = time.perf_counter()
        summary["answer"], timings["answer row (its fits)"] = _answer_row(dge, summary["bc_fit"], background)
        timings["answer row (waited for)"] = time.perf_counter() - waited
        done(steps[8])
    summary["timings_s"] = timings
    summary["figure_text_overlaps"] = {k: outdir.overlaps[k] for k in _FIGURES if k in outdir.overlaps}
    outdir.text(json.dumps(summary, indent=2), "summary.json")
    outdir.text(summary_markdown(summary), "SUMMARY.md")
    return summary


def _release_bc_rates():
    """Free the B/C networks' memoised rates (:func:`~..physics.transport.clear_rate_caches`): a
    later step that needs them recomputes the same numbers; the run's peak memory stays lower."""
    from ..physics.transport import clear_rate_caches

    clear_rate_caches()
    _return_freed_memory()


def _joint_fit_and_tables(dge, points):
    """The joint B/C + LHAASO fit's summary entries, the summary's cocoon fractions and data/model
    ratios (rows of plain values), and the seconds it took: what ``reproduce`` computes beside
    Fig. 2 (picklable, for a forked copy of the process)."""
    start = time.perf_counter()
    joint = joint_fit()
    joint = {k: joint[k] for k in ("stat", "ndof", "stat_gamma", "stat_bc", "parameters", "at_bound", "at_bound_note",
                                   "shared_chi0", "free_parameters", "success", "cocoon_gas", "chi0_convention")}
    fractions = cocoon_fractions(dge=dge)
    fractions = [dict(zip(fractions.colnames, map(_plain, row))) for row in fractions]
    ratios = _ratio_summary(data_model_ratios(dge=dge, points=points))
    return joint, fractions, ratios, time.perf_counter() - start


def _ratio_summary(table):
    """Per dataset: energy range and the median, min and max of each data/model column."""
    out = {}
    for name in dict.fromkeys(table["dataset"]):
        rows = table[table["dataset"] == name]
        entry = {"n_points": len(rows), "e_min_tev": float(rows["e_ref_tev"].min()),
                 "e_max_tev": float(rows["e_ref_tev"].max())}
        for column in table.colnames[2:]:
            values = np.asarray(rows[column], float)
            entry[column] = {"median": float(np.median(values)), "min": float(values.min()), "max": float(values.max())}
        out[name] = entry
    return out


def _at_energy(table, energy):
    """Every E^2 dN/dE column of ``table`` interpolated log-log at ``energy``, in GeV cm-2 s-1."""
    x = np.log(table["e_ref"].to_value("GeV"))
    out = {"energy_gev": float(energy.to_value("GeV"))}
    for name in table.colnames[1:]:
        y = table[name].to_value(_E2F)
        ok = np.isfinite(y) & (y > 0)
        out[name] = float(np.exp(np.interp(np.log(out["energy_gev"]), x[ok], np.log(y[ok])))) if ok.any() else float("nan")
    return out


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _eq9_eq10(chi0_bc):
    """Eqs. 9 and 10 at n_gas = 1 hydrogen atom per cm3: the fiducial chi0 on the paper's pure-H gas
    (Eq. 9 as written) and on ISM gas, and the B/C chi0 (ISM mass grammage)."""
    out = {}
    for label, chi0, target in (("fiducial", 0.4, PAPER_TARGET), ("fiducial_ism", 0.4, FIT_TARGET),
                                ("bc_fit", chi0_bc, FIT_TARGET)):
        emission = CocoonEmission(chi0=chi0 * u.Unit("g cm-2"), target=target)
        out[label] = {"chi0_g_cm2": chi0, "n_gas_cm3": 1.0, "target": target,
                      "confinement_time_yr": float(emission.confinement_time().to_value("yr")),
                      "maximum_cocoon_radius_pc": float(emission.maximum_cocoon_radius().to_value("pc"))}
    return out


def _answer_row(dge, bc_fit, background=None):
    """``gammapy-cocoons compare``'s answer for this DGE's "min" member (its four hypotheses on the
    default likelihood; chi0 from B/C this run's Fig. 1 fit): the row SUMMARY.md quotes. The fits
    come from ``background`` (:func:`.answer.start_answer`) when given, else they run here; a child that
    failed is reported and its fits are done here."""
    from .background import BackgroundError
    from .compare import answer_rows
    from .forked import ForkedCall

    result = None
    if background is not None:
        try:
            result = background.result()
        except BackgroundError as error:
            log.warning("%s; fitting in this process instead", error)
        except Exception as error:  # noqa: BLE001 - a forked child's error, or one that ended without a result
            if not isinstance(background, ForkedCall):
                raise
            log.warning("the answer row's fits failed in their child process (%s: %s); fitting in this process "
                        "instead", type(error).__name__, error)
    if result is None:
        result = _answer.answer_fits(dge)
    lowest = min(r["aic"] for r in result["rows"])
    for r in result["rows"]:
        r["delta_aic"] = r["aic"] - lowest  # as run_compare does, per DGE choice
    chi0 = bc_fit["parameters"]["chi0"]
    bc = {"chi0": {"value": chi0["value"], "error": chi0["error"], "interval_68": bc_fit.get("chi0_interval_68"),
                   "unit": "g cm-2"}}
    row = answer_rows(result["rows"], bc)[0]
    row["rows"] = [{k: r[k] for k in ("hypothesis", "stat", "ndof", "delta_aic", "ts_cocoons")} for r in result["rows"]]
    return row, result["seconds"]


def _answer_markdown(answer):
    """SUMMARY.md's lines of the answer row."""
    from .compare import _interval_text

    fits = "; ".join(f"{r['hypothesis']} stat {r['stat']:.1f} / {r['ndof']}, delta AIC {r['delta_aic']:.1f}"
                     for r in answer["rows"])
    return [
        "## Does the data want cocoons? (`gammapy-cocoons compare`'s row for this DGE)", "",
        f"DGE {answer['dge']}, the default likelihood (LHAASO-KM2A inner and outer, Tibet AS-gamma A and B, "
        "ARGO-YBJ, IceCube; DGE norm with its log-normal prior, energy scales with theirs): cocoon TS "
        f"{answer.get('ts_r0_20', float('nan')):.2f} at R0 = 20 TV (Z = {answer.get('z_r0_20', float('nan')):.2f}, half "
        f"a chi2), {answer.get('ts_free', float('nan')):.2f} for free R0 (global Z = "
        f"{answer.get('z_global', float('nan')):.2f} from {answer.get('n_toys')} toys, Gross-Vitells): "
        f"{answer.get('evidence', '-')}; chi_c,0 from gamma rays {_interval_text(answer.get('chi0_gamma'))} against "
        f"{_interval_text(answer.get('chi0_bc'))} g cm-2 from B/C; R0 = {_interval_text(answer.get('r0'))} TV; "
        f"preferred (lowest AIC): {answer['preferred']}. Every fit: {fits}.", ""]


def _value_error(entry, digits=2):
    return f"{entry['value']:.{digits}f} ± {entry['error']:.{digits}f}"


def _norm_mode(fit):
    """How the fit treated the DGE normalisation N, in words."""
    mode = fit.get("dge_norm", "free")
    if mode == "prior":
        return f"N with a log-normal prior: {fit.get('dge_norm_prior')}"
    return "N fixed at 1" if mode == "fixed" else "N free"


def summary_markdown(summary):
    """SUMMARY.md text from the summary dict of :func:`reproduce`."""
    bc, fit, joint = summary["bc_fit"], summary["lhaaso_fit"], summary["joint_fit"]
    eq = summary["eq9_eq10"]
    low, high = bc.get("chi0_interval_68") or (float("nan"), float("nan"))
    norm = fit["parameters"]["dge_norm"]
    alternative = fit.get("alternative") or {}
    lines = [
        "# Ambrosone et al. (2025), reproduced by gammapy-cocoons",
        "",
        summary["dge"],
        "",
        "Cocoon gas: the paper's curves (Figs. 2, B.1-B.3, the appendix chi2, the cocoon fractions, the "
        f"data/model ratios, figP) are drawn with {summary['cocoon_gas']['paper_curves']}. Every fit below "
        f"(B/C, LHAASO, joint, and the free fit drawn in Fig. 2) has {summary['cocoon_gas']['fits']}: the "
        "package's one convention, so the fitted chi_c,0 compare like with like.",
        "",
        "## Fitted cocoon grammage chi_c,0 (mass grammage of ISM gas)",
        "",
        "| fit | chi_c,0 [g cm-2] | stat / ndof | paper |",
        "|---|---|---|---|",
        f"| B/C above 20 GV (Fig. 1): {bc['setup_description']} | {_value_error(bc['parameters']['chi0'])} "
        f"(68 %: {low:.2f}-{high:.2f}) | {bc['stat']:.1f} / {bc['ndof']} (chi_c,0 = 0: {bc['stat_no_cocoons']:.1f}) "
        "| 0.4 (0.3-0.6) |",
        f"| {' + '.join(fit['datasets'])}: cocoons + N x DGE, one N ({_norm_mode(fit)}) | "
        f"{_value_error(fit['parameters']['chi0'])}, "
        f"R0 = {fit['parameters']['r0']['value']:.0f} TV, N = {_value_error(norm)} | {fit['stat']:.1f} / {fit['ndof']} "
        f"(TS of the cocoons {fit['ts_cocoons']:.1f}) | 0.4, R0 = 20 TV (fixed), DGE unscaled |",
    ]
    if alternative:
        names = [k for k in alternative["parameters"] if k.startswith("dge_norm")]
        norms = ", ".join(f"{k.replace('dge_norm_', '')} {_value_error(alternative['parameters'][k])}" for k in names)
        lines.append(f"| the same, {alternative['dge_norms']} | {_value_error(alternative['parameters']['chi0'])}, "
                     f"R0 = {alternative['parameters']['r0']['value']:.0f} TV, N: {norms} | "
                     f"{alternative['stat']:.1f} / {alternative['ndof']} | - |")
    lines += [
        f"| joint B/C + LHAASO, one chi_c,0 | {_value_error(joint['parameters']['chi0'])}, "
        f"R0 = {joint['parameters']['r0']['value']:.0f} TV | {joint['stat']:.1f} / {joint['ndof']} | - |",
        "",
    ]
    for label, entry in (("B/C fit", bc), ("LHAASO fit", fit), ("joint fit", joint)):
        if entry.get("at_bound"):
            lines += [f"**{label}: {entry.get('at_bound_note') or entry['at_bound']}.**", ""]
    lines += [
        f"LHAASO-KM2A inner + outer with the fiducial cocoons and the DGE as computed (no free parameter): "
        f"chi2 = {summary['lhaaso_stat_as_computed']:.1f} for {fit['n_points']} points.",
        "",
        f"chi_c,0 of the fits: {bc['chi0_convention']} (the paper's B/C code counts mass grammage too; before "
        "issue 23 this package's B/C chi_c,0 counted m_p x the hydrogen column, 1 / 1.4 of these values). "
        "The B/C network has "
        f"{len(bc['network']['species'])} isotopes from Ni down to B; parents heavier than O make "
        f"{100 * bc['network']['boron_from_heavier_than_o']:.1f} % of the boron production at 100 GV; "
        "tables: " + "; ".join(bc["network"]["tables"]) + " (docs/bc.md).",
        "",
        *(_answer_markdown(summary["answer"]) if summary.get("answer") else []),
        "## Data / model, DGE as computed (reported, not fitted)",
        "",
        "Median (min-max) over each dataset's points of measured / model; the model carries the dataset's "
        f"mask factor ({summary['inner_mask_scale']} for the LHAASO inner region, 1 otherwise).",
        "",
        "| dataset | points, E [TeV] | data / DGE min | data / DGE max | data / (DGE min + cocoons) | "
        "data / (DGE max + cocoons) |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in summary["data_model_ratios"].items():
        cells = [f"{entry[c]['median']:.2f} ({entry[c]['min']:.2f}-{entry[c]['max']:.2f})"
                 for c in ("data_over_dge_min", "data_over_dge_max", "data_over_dge_min_plus_cocoons",
                           "data_over_dge_max_plus_cocoons")]
        lines.append(f"| {name} | {entry['n_points']}, {entry['e_min_tev']:.3g}-{entry['e_max_tev']:.3g} | "
                     + " | ".join(cells) + " |")
    if "leptonic_gev_comparison" in summary:
        from .leptonic import comparison_markdown

        lines += ["", comparison_markdown(summary["leptonic_gev_comparison"])]
    lines += ["", "## Eqs. 9 and 10 (n_gas = 1 hydrogen atom per cm3)", "",
              "tau = chi_c,0 / (m n_gas c), m the gas mass per hydrogen atom: m_p for pure hydrogen (Eq. 9 as "
              "written), 1.4 m_p for ISM gas.", "",
              "| chi_c,0 [g cm-2] | cocoon gas | Eq. 9 confinement time [yr] | Eq. 10 largest cocoon radius [pc] |",
              "|---|---|---|---|"]
    for label in ("fiducial", "fiducial_ism", "bc_fit"):
        if label not in eq:
            continue
        e = eq[label]
        name = "B/C fit" if label == "bc_fit" else "fiducial"
        lines.append(f"| {e['chi0_g_cm2']:.2f} ({name}) | {e.get('target', 'hydrogen')} | "
                     f"{e['confinement_time_yr']:.3g} | {e['maximum_cocoon_radius_pc']:.0f} |")
    lines += ["", "Paper: 2.5e5 yr and 120 pc for chi_c,0 = 0.4 g cm-2 (pure hydrogen).", ""]
    population = summary.get("population")
    if population:
        p, near = population["parameters"], population["flux_share_from_near_cocoons_3tev"]
        lines += [f"## Discrete cocoons (figP_population, not in the paper; {p['realisations']} realisations, "
                  f"n_gas = {p['n_gas_cm3']:g} H atom cm-3, radius {p['radius_pc']:g} pc, "
                  f"{p.get('chi0_convention', 'pure hydrogen')})", "",
                  f"Cocoons alive: {population['alive']['expected']:.0f}; holding 1 / 20 / 100 TV: "
                  + " / ".join(f"{population['holding'][k]['expected']:.0f}" for k in ("1000_GV", "20000_GV", "100000_GV"))
                  + f". Share of the 3 TeV cocoon flux from within 0.5 / 1 kpc: all sky "
                  f"{near['all-sky']['within_0.5_kpc']:.2f} / {near['all-sky']['within_1.0_kpc']:.2f}, LHAASO outer "
                  f"{near['lhaaso-outer']['within_0.5_kpc']:.2f} / {near['lhaaso-outer']['within_1.0_kpc']:.2f}.", "",
                  "| 1LHAASO component | sources | faintest N0 [cm-2 s-1 TeV-1] | cocoons above it, median (16-84 %) | "
                  "of which larger than the largest source |", "|---|---|---|---|---|"]
        for name, entry in population["lhaaso_1"].items():
            low, high = entry["detectable_16_84"]
            lines.append(f"| {name} ({entry['energy_tev']:g} TeV) | {entry['catalog_sources']} | "
                         f"{entry['catalog_faintest_flux']:.2g} | {entry['detectable_median']:.0f} ({low:.0f}-{high:.0f}) | "
                         f"{entry['detectable_larger_than_catalog_largest']:.0f} |")
        lines += [""]
    lines += [
              "## Cocoon fraction of the total gamma-ray intensity (fiducial chi_c,0 = 0.4 g cm-2, R0 = 20 TV, "
              "pure-H target as the paper's Eq. 7, DGE as computed)", "",
              "| region | E [TeV] | cocoons / (cocoons + DGE min) | cocoons / (cocoons + DGE max) |", "|---|---|---|---|"]
    for row in summary["cocoon_fraction"]:
        lines.append(f"| {row['region']} | {row['energy_tev']:g} | {row['fraction_dge_min']:.3f} | "
                     f"{row['fraction_dge_max']:.3f} |")
    lines += ["", "## LHAASO-KM2A chi2 of the appendix cases (DGE as computed, "
              f"{fit['n_points']} points)", "", "| case | chi2 |", "|---|---|"]
    for name, value in {**{f"exponential, R0 = {k}": v for k, v in summary["r0_scan_lhaaso_chi2"].items()},
                        **summary["grammage_laws_lhaaso_chi2"]}.items():
        lines.append(f"| {name.replace('_r0_', ', R0 = ').replace('TV', ' TV')} | {value:.1f} |")
    nu = summary["neutrinos_50TeV_gev_cm2_s"]
    lines += ["", f"Neutrinos per flavour, all sky, at {nu['energy_gev'] / 1e3:.0f} TeV [GeV cm-2 s-1]: cocoons "
              "(fiducial, pure-H target) "
              f"{nu['cocoons']:.2g}; DGE + cocoons {nu.get('total_min', float('nan')):.2g}-"
              f"{nu.get('total_max', float('nan')):.2g} (DGE as computed); IceCube 2023 "
              f"pi0 {nu['icecube_pi0_best']:.2g}, KRAgamma5 {nu['icecube_kra5_best']:.2g}, KRAgamma50 "
              f"{nu['icecube_kra50_best']:.2g} (paper: the templates converge near 2e-8 at 100 TeV).", "",
              "## Figures", "",
              "| file | paper |", "|---|---|",
              "| fig1_bc.png/pdf/ecsv (+ fig1_bc_data.ecsv) | Fig. 1 |",
              "| fig2_sed.png/pdf/ecsv (+ fig2_sed_data.ecsv) | Fig. 2 |",
              "| figB1_neutrinos.png/pdf/ecsv | Fig. B.1 |",
              "| figB2_r0_scan.png/pdf/ecsv | Fig. B.2 |",
              "| figB3_grammage_laws.png/pdf/ecsv | Fig. B.3 |", "",
              "Run time per step [s]: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["timings_s"].items()) + ".", ""]
    return "\n".join(lines)
