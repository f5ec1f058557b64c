"""Figures of the fits: SEDs per region (intensities per sr, as the paper's Fig. 2) and profiles."""
from contextlib import contextmanager

import numpy as np
import astropy.units as u

__all__ = ["plot_lhaaso_fit", "plot_sed", "plot_neutrinos", "plot_bc", "plot_points", "plot_sed_panel",
           "plot_neutrino_bands", "new_figure", "save_figure", "plot_spectrum", "figure_note", "text_overlaps",
           "plot_local_spectra", "plot_local_electrons", "plot_compare_residuals", "save_figure_png",
           "plot_likelihood_fit", "plot_sed_components", "FIGURE_DPI", "figures_at"]

_E2I = u.Unit("GeV cm-2 s-1 sr-1")

#: the dpi of the PNGs that :func:`save_figure` and :func:`save_figure_png` write
FIGURE_DPI = 150
#: dpi of the fit commands' figures (sed_*.png, profiles.png, the neutrino figure), each made at it
FIT_FIGURE_DPI = 120


def _matplotlib():
    # no matplotlib.use here: the backend is the user's (inline in notebooks); headless
    # machines fall back to Agg by themselves
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def figures_at(dpi=FIGURE_DPI):
    """Figures made inside are made at ``dpi``: make a figure at the dpi its PNG is written at.
    Its layout (``tight_layout``, :func:`figure_note`) is then measured by the renderer that draws
    the PNG (matplotlib's Agg canvas reuses its renderer while the figure's size and dpi stay the
    same), and that draw reuses the measured texts instead of measuring them again: ~1 s of
    ``reproduce``'s six figures. The layout is the same to a pixel's hinting (it is in inches);
    only the dpi of the figure object differs.

    Only matplotlib's ``figure.dpi`` setting changes (process-wide while inside) and is restored on
    leaving; every other setting made inside stays (not ``rc_context``, which restores them all: a
    notebook's inline backend, loaded by the first figure, turns the interactive mode on, and
    undoing that would stop the notebook's later figures from showing)."""
    import matplotlib as mpl

    from .._validation import positive_float

    dpi = positive_float(dpi, "dpi")
    before = mpl.rcParams["figure.dpi"]
    mpl.rcParams["figure.dpi"] = dpi
    try:
        yield
    finally:
        mpl.rcParams["figure.dpi"] = before


def figure_note(fig, text, fontsize=6.5):
    """Write ``text`` under the axes of ``fig`` (wrapped to its width; newlines start paragraphs),
    make the figure taller by the note's height (the panels keep their size) and lay it out around
    the note, so that it overlaps no axis, label or legend."""
    import textwrap

    width = int(72 / (0.56 * fontsize) * fig.get_figwidth())  # characters per line at this size
    lines = [line for part in text.split("\n") for line in (textwrap.wrap(part, width) or [""])]
    note_height = (len(lines) * 1.25 * fontsize + 6) / 72  # inches
    fig.set_figheight(fig.get_figheight() + note_height)
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=fontsize, va="bottom", ha="left", color="0.3")
    _tight_layout_once(fig, rect=(0, note_height / fig.get_figheight(), 1, 1))
    return fig


def _tight_layout_once(fig, rect):
    """``fig.tight_layout(rect=rect)`` with each axes' layout box measured once: given a ``rect``,
    matplotlib adjusts the subplot parameters twice on the same axes positions, measuring every
    tick label and text twice for the same boxes (nothing moves between the two). The boxes of the
    first pass serve the second, so the layout is the same at half the cost."""
    import matplotlib.artist as martist

    measure = getattr(martist, "_get_tightbbox_for_layout_only", None)
    if measure is None:  # another matplotlib: its own layout
        fig.tight_layout(rect=rect)
        return
    boxes = {}

    def measured_once(artist, *args, **kwargs):
        key = (id(artist), args, tuple(sorted(kwargs.items())))
        if key not in boxes:
            boxes[key] = measure(artist, *args, **kwargs)
        return boxes[key]

    martist._get_tightbbox_for_layout_only = measured_once
    try:
        fig.tight_layout(rect=rect)
    finally:
        martist._get_tightbbox_for_layout_only = measure


def axes_note(ax, text, fontsize=6.5):
    """Write ``text`` under the x-axis label of ``ax``, wrapped to the axes' width. It is part of
    the axes' layout box, so ``tight_layout`` makes room for it: it overlaps no label or legend,
    in one panel or many."""
    import textwrap

    fig = ax.figure
    width = max(30, int(72 / (0.56 * fontsize) * ax.get_position().width * fig.get_figwidth()))
    lines = [line for part in text.split("\n") for line in (textwrap.wrap(part, width) or [""])]
    return ax.annotate("\n".join(lines), xy=(0, 0), xycoords="axes fraction", xytext=(0, -34),
                       textcoords="offset points", va="top", ha="left", fontsize=fontsize, color="0.3",
                       annotation_clip=False)


def dataset_label(points):
    """The legend label of bundled or user flux points; a ``*`` marks a dataset with a caveat."""
    name = points.meta.get("name")
    label = _POINT_STYLE.get(name, (None, None, name or "data"))[2]
    return label + (" *" if points.meta.get("caveat") else "")


def dataset_note(points_list):
    """'Data:' and the reference of every dataset in ``points_list`` (once each), then the caveat
    of those marked ``*`` in their legend label: what a figure must say about its points."""
    seen, references, caveats = set(), [], []
    for points in points_list:
        name = points.meta.get("name") or "data"
        if name in seen:
            continue
        seen.add(name)
        label = dataset_label(points).rstrip(" *")
        references.append(f"{label}: {points.meta.get('reference') or 'reference not given (' + name + ')'}")
        if points.meta.get("caveat"):
            caveats.append(f"* {label}: {points.meta['caveat']}")
    if not references:
        return ""
    return "Data: " + "; ".join(references) + ("\n" + "\n".join(caveats) if caveats else "")


def text_overlaps(fig, renderer=None):
    """Pairs of texts of ``fig`` whose boxes overlap once drawn: titles, axis labels, tick labels,
    texts, notes and whole legends (matplotlib's renderer gives each its window extent).

    ``renderer``: the renderer of a draw in progress (a ``draw_event``'s, e.g. of the draw that
    writes a PNG); by default the figure is laid out first (drawn without rendering). Boxes overlap when they
    share more than 0.01 inch each way (one pixel at 100 dpi), at any dpi.

    Returns a list of (text a, text b) strings; empty for a clean figure.
    """
    from matplotlib.legend import Legend
    from matplotlib.text import Text

    if renderer is None:
        fig.draw_without_rendering()  # the layout of a draw (ticks, text extents) without rasterising
        renderer = fig.canvas.get_renderer()
    touching = renderer.points_to_pixels(0.72)  # 0.01 inch in this renderer's pixels
    boxes = []
    legends = [a for ax in fig.axes for a in ax.get_children() if isinstance(a, Legend)] + list(fig.legends)
    skip = {id(t) for legend in legends for t in legend.get_texts() + [legend.get_title()]}
    for legend in legends:
        if legend.get_visible():
            boxes.append(("legend: " + ", ".join(t.get_text() for t in legend.get_texts())[:60],
                          legend.get_window_extent(renderer)))
    # tick labels: only those matplotlib draws (ticks inside the view interval)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = abs(high - low)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                labels = (tick.label1, tick.label2)
                skip.update(id(label) for label in labels)
                location = tick.get_loc()
                if location is None or not low - 1e-9 * span <= location <= high + 1e-9 * span:
                    continue
                for label in labels:
                    if label.get_visible() and label.get_text().strip():
                        boxes.append((label.get_text()[:60], label.get_window_extent(renderer)))
    for artist in fig.findobj(Text):
        if id(artist) in skip or not artist.get_visible() or not artist.get_text().strip():
            continue
        boxes.append((artist.get_text()[:60], artist.get_window_extent(renderer)))
    overlaps = []
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1:]:
            if a.width > 0 and b.width > 0 and a.overlaps(b):
                overlap_w = min(a.x1, b.x1) - max(a.x0, b.x0)
                overlap_h = min(a.y1, b.y1) - max(a.y0, b.y0)
                if overlap_w > touching and overlap_h > touching:  # more than touching
                    overlaps.append((name_a, name_b))
    return overlaps


def plot_spectrum(table):
    """The plot of ``gammapy-cocoons spectrum``: E^2 I of the columns of its table, with the
    parameters (chi0, R0, grammage law) and the DGE choice written under the axes."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(6.2, 4.8))
    energy = u.Quantity(table["e_ref"]).to_value("GeV")
    names = [c for c in table.colnames if c in ("cocoons", "dge", "total")]  # per sr; e2dnde is the region flux
    values = {name: u.Quantity(table[name]).to_value(_E2I) for name in names}
    for name, color in zip(names, ("C0", "0.5", "k")):
        ax.plot(energy, values[name], color=color, lw=2 if name == "total" else 1.5, label=name)
    meta = table.meta
    secondary = {"gamma": "gamma rays", "nu_per_flavour": "neutrinos per flavour at Earth",
                 "nu_all": "neutrinos, all flavours"}.get(meta.get("secondary"), meta.get("secondary", ""))
    ax.set(xscale="log", yscale="log", xlabel="E [GeV]",
           ylabel=r"$E^2\,I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]", title=f"{secondary}, region {meta.get('region', '')}")
    top = max(np.nanmax(v) for v in values.values())
    ax.set_ylim(1e-5 * top, 3 * top)
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=8, loc="lower left")
    figure_note(fig, f"cocoons: chi0 = {meta.get('chi0_g_cm2', float('nan')):g} g cm-2, R0 = "
                     f"{meta.get('r0_TV', float('nan')):g} TV, grammage law {meta.get('grammage', '')}; "
                     f"region solid angle {meta.get('solid_angle_sr', float('nan')):.4g} sr\n"
                     f"DGE: {meta.get('dge', 'none')}; drawn as computed (no fitted scaling)")
    return fig


def plot_sed(ax, dataset, energy=None, note=""):
    """E^2 I of data and model components of one region's FluxPointsDataset on ``ax``.

    Under the axes: the dataset's reference and caveat, the model's parameters with their units
    and mask factor, and ``note`` (e.g. which parameters the fit left at a bound). Energies in GeV,
    as every figure of the package.
    """
    points = dataset.data
    e, omega, data = _plot_points(ax, points)
    total = dataset.models[0].spectral_model
    grid = np.geomspace(1, 1000, 100) * u.TeV if energy is None else energy
    components = (("cocoons", total.model1, "C0"), ("DGE", total.model2, "C7"), ("total", total, "k"))
    for label, model, color in components:
        value = (grid**2 * model(grid) / omega).to_value(_E2I)
        ax.plot(grid.to_value("GeV"), value, color=color, lw=2 if label == "total" else 1.5, label=label)
    ax.set_ylim(0.1 * np.min(data), 10 * np.max(data))  # the cocoon cut-off falls by 1e15 further
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("E [GeV]")
    ax.set_ylabel(r"$E^2\,I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]")
    ax.set_title(f"{points.meta.get('name') or dataset.name}", fontsize=9)
    lines = [dataset_note([points])]
    names = set(total.model1.parameters.names) | set(total.model2.parameters.names)
    if {"chi0", "r0", "norm"} <= names:  # the model states its parameters on the plot
        target = getattr(getattr(getattr(total.model1, "sky_model", None), "spectral_model", None), "target", None)
        gas = "" if target is None else (" (ISM gas)" if target == "ism" else f" ({target} gas)")
        text = (f"Model: chi0 = {total.model1.parameters['chi0'].value:.3g} g cm-2{gas}, "
                f"R0 = {total.model1.parameters['r0'].value:.3g} TV, "
                f"DGE x {total.model2.parameters['norm'].value:.3g} (fitted)")
        scale = getattr(total.model1, "scale", 1.0)
        if scale != 1:
            text += f"; model x {scale:g} (source mask)"
        lines.append(text)
    if note:
        lines.append(note)
    axes_note(ax, "\n".join(line for line in lines if line))
    ax.legend(fontsize=8, loc="lower left")
    return ax


def plot_lhaaso_fit(datasets, cocoons, outdir, profiles, overwrite=False, summary=None):
    """Publish sed_<dataset>.png and profiles.png for a fit from
    :func:`~gammapy_cocoons.analysis.fitting.run_lhaaso_fit`.

    ``profiles`` maps a parameter name to {"values", "stat"}; ``summary`` (the fit's) gives the
    best statistic and the parameters the fit left at a bound, written on every figure.
    """
    from .._files import publish_figure
    from .._validation import boolean

    boolean(overwrite, "overwrite")
    plt = _matplotlib()
    summary = summary or {}
    note = summary.get("at_bound_note", "")
    overlaps = summary.setdefault("figure_text_overlaps", {})
    for dataset in datasets:
        fig, ax = plt.subplots(figsize=(6, 4.8), dpi=FIT_FIGURE_DPI)  # the PNG's: its draw reuses the layout's text measurements
        plot_sed(ax, dataset, note=note)
        fig.tight_layout()
        overlaps[f"sed_{dataset.name}.png"] = text_overlaps(fig)
        publish_figure(fig, outdir / f"sed_{dataset.name}.png", overwrite, dpi=FIT_FIGURE_DPI)
        plt.close(fig)
    _plot_profiles(profiles, summary, outdir, overwrite, overlaps)


def _plot_profiles(profiles, summary, outdir, overwrite, overlaps):
    """profiles.png: delta stat against chi0 and R0, with the 68 / 95 % levels and where a scan ends."""
    plt = _matplotlib()
    if profiles:
        fig, axes = plt.subplots(1, len(profiles), figsize=(5 * len(profiles), 4.2), dpi=FIT_FIGURE_DPI)
        axes = np.atleast_1d(axes)
        units = {"chi0": r"$\chi_{c,0}$ [g cm$^{-2}$]", "r0": r"$R_0$ [TV]"}
        for ax, (name, profile) in zip(axes, profiles.items()):
            stat = np.asarray(profile["stat"], dtype=float)
            best = summary.get("stat", np.nanmin(stat))
            ax.plot(profile["values"], stat - best, "o-", ms=3)
            for level, text in ((1.0, "68 %"), (4.0, "95 %")):
                ax.axhline(level, ls="--", color="gray", lw=0.8)
                ax.text(1.0, level, f" {text}", transform=ax.get_yaxis_transform(), va="center", fontsize=7,
                        color="gray", clip_on=False)
            ax.set_xlabel(units.get(name, name))
            ax.set_ylabel(r"$\Delta$ stat (other parameters refitted)")
            if name == "r0":
                ax.set_xscale("log")
            side = summary.get("at_bound", {}).get(name)
            title = f"profile of {name}" + (f" (best fit at its {side} bound)" if side else "")
            for end, entry in summary.get("profile_ends", {}).get(name, {}).items():
                if entry["unbounded"]:  # the scan hit the parameter's bound before delta stat 4
                    title += f"\n{end} end: the bound {entry['value']:.3g}, delta stat only {entry['delta_stat']:.2f}"
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        overlaps["profiles.png"] = _publish_measured(fig, outdir / "profiles.png", overwrite, dpi=FIT_FIGURE_DPI)  # one draw
        plt.close(fig)




def _instrument_view(part, scale):
    """A component as the instrument sees it: s F(s E), or F(E) without an energy scale."""
    if scale is None:
        return part
    return lambda energy: scale.value * part(energy * scale.value)


def plot_likelihood_fit(likelihood, outdir, profiles, overwrite=False, summary=None):
    """Publish sed_<dataset>.png (every gamma-ray dataset of a joint-likelihood fit, its components
    as the instrument sees them: through its fitted energy scale and mask factor) and profiles.png."""
    from .._validation import boolean

    boolean(overwrite, "overwrite")
    plt = _matplotlib()
    summary = summary or {}
    note = summary.get("at_bound_note", "")
    overlaps = summary.setdefault("figure_text_overlaps", {})
    for dataset in likelihood.gamma_datasets:
        parts = likelihood.parts[dataset.name]
        scale = parts.get("energy_scale")
        components = []
        if "cocoons" in parts:
            cocoons = parts["cocoons"]
            if "unmasked_fraction" in parts:
                fraction = parts["unmasked_fraction"]
                cocoons = (lambda c, f: (lambda e: c(e) * f(e)))(cocoons, fraction)
            components.append(("cocoons", _instrument_view(cocoons, scale), "C0"))
        if "ecpl" in parts:
            components.append(("extra ECPL", _instrument_view(parts["ecpl"], scale), "C1"))
        components.append(("DGE", _instrument_view(parts["dge"], scale), "C7"))
        components.append(("total", dataset.models[0].spectral_model, "k"))
        lines = [_model_text(likelihood, parts, scale)]
        axis = parts["dge"].sky_model.spatial_model.map.geom.axes[0].center.to_value("TeV")
        s = scale.value if scale is not None else 1.0
        limits = (axis[0] / s * 1.001, axis[-1] / s / 1.001)  # where s E stays on the DGE cube
        # at the dpi it is saved with: one layout of the texts (log tick labels are mathtext) for all passes
        fig, ax = plt.subplots(figsize=(6, 4.8), dpi=FIT_FIGURE_DPI)
        plot_sed_components(ax, dataset, components, "\n".join(line for line in lines + [note] if line), limits)
        fig.tight_layout()
        overlaps[f"sed_{dataset.name}.png"] = _publish_measured(fig, outdir / f"sed_{dataset.name}.png", overwrite,
                                                                dpi=FIT_FIGURE_DPI)  # one draw: the PNG's
        plt.close(fig)
    _plot_profiles(profiles, summary, outdir, overwrite, overlaps)


def _model_text(likelihood, parts, scale):
    """The fitted model in one line: the hypothesis, cocoons, DGE x N, energy scale, mask factor."""
    setup = likelihood.setup
    words = [f"Fit: {setup['hypothesis_description']}"]
    if likelihood.cocoons is not None:
        spectral = likelihood.cocoons.spectral_model
        gas = " (ISM gas)" if spectral.target == "ism" else f" ({spectral.target} gas)"
        words.append(f"chi0 = {spectral.chi0.value:.3g} g cm-2{gas}, R0 = {spectral.r0.value:.3g} TV")
    if likelihood.ecpl is not None:
        spectral = likelihood.ecpl.spectral_model
        words.append(f"ECPL index {spectral.index.value:.2f}, cut-off {1 / spectral.lambda_.value:.3g} TeV")
    norm = parts["norm"].norm.value
    mode = setup["dge_norm"]
    words.append(f"DGE x {norm:.3g} ({'fixed' if mode == 'fixed' else 'free' if mode == 'free' else 'log-normal prior'})")
    if scale is not None:
        words.append(f"energy scale {scale.value:.3f} ({parts['instrument']})")
    mask = parts["dge"].scale
    if mask != 1:
        words.append(f"model x {mask:.3g} (source mask{', 1LHAASO circles' if setup['masks'] == '1lhaaso' else ''})")
    return "; ".join(words)


def _plot_points(ax, points):
    """E^2 I per sr of flux points (their region's mean intensity) with their errors; returns the
    energies, the region's solid angle and the points' E^2 I [GeV cm-2 s-1 sr-1]."""
    omega = points.meta["solid_angle"] * u.sr
    e = points.energy_ref
    intensity = points.dnde.quantity.ravel() / omega
    errn = points.dnde_errn.quantity.ravel() / omega
    errp = points.dnde_errp.quantity.ravel() / omega
    ax.errorbar(e.to_value("GeV"), (e**2 * intensity).to_value(_E2I),
                yerr=[(e**2 * errn).to_value(_E2I), (e**2 * errp).to_value(_E2I)],
                fmt="o", color="k", label=dataset_label(points))
    return e, omega, (e**2 * intensity).to_value(_E2I)


def plot_sed_components(ax, dataset, components, note="", limits=(0.0, np.inf)):
    """E^2 I of a dataset's points and of model ``components`` [(label, callable of energy, colour)]
    on ``ax``, drawn within ``limits`` [TeV]; the reference and caveat of the points and ``note`` under
    the axes."""
    points = dataset.data
    e, omega, data = _plot_points(ax, points)
    e_min, e_max = e.min().to_value("TeV"), e.max().to_value("TeV")
    grid = np.geomspace(max(0.2, e_min / 3, limits[0]), min(3000.0, e_max * 3, limits[1]), 100) * u.TeV
    for label, model, color in components:
        value = (grid**2 * model(grid) / omega).to_value(_E2I)
        ax.plot(grid.to_value("GeV"), value, color=color, lw=2 if label == "total" else 1.5, label=label)
    ax.set_ylim(0.1 * np.min(data), 10 * np.max(data))
    ax.set_xscale("log")
    ax.set_yscale("log")
    if grid[-1] / grid[0] < 100:  # less than two decades: plain labels at 1, 2, 5 (log minor labels collide)
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("E [GeV]")
    ax.set_ylabel(r"$E^2\,I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]")
    ax.set_title(f"{points.meta.get('name') or dataset.name}", fontsize=9)
    axes_note(ax, "\n".join(line for line in (dataset_note([points]), note) if line))
    ax.legend(fontsize=8, loc="lower left")
    return ax


def plot_neutrinos(table, path, overwrite=False):
    """All-sky per-flavour neutrino E^2 dN/dE of the model against IceCube's pi0 band (Fig. B.1);
    publishes ``path`` and returns the figure's text overlaps (:func:`text_overlaps`, empty)."""
    from .._validation import boolean
    from ..datasets import BANDS

    boolean(overwrite, "overwrite")
    plt = _matplotlib()
    # at the dpi it is saved with: one layout of the texts (log tick labels are mathtext) for all passes
    fig, ax = plt.subplots(figsize=(6.2, 4.8), dpi=FIT_FIGURE_DPI)
    e = table["e_ref"].to_value("GeV")
    unit = "GeV cm-2 s-1"
    band = np.isfinite(table["icecube_pi0_best"].value)
    ax.fill_between(e[band], table["icecube_pi0_low"][band].to_value(unit), table["icecube_pi0_high"][band].to_value(unit),
                    color="C1", alpha=0.3, label=r"IceCube 2023, $\pi^0$ template (1 sigma) *")
    drawn = []
    for column, color in (("cocoons", "C3"), ("dge", "C0"), ("total", "k")):
        values = table[column].to_value(unit)
        if np.any(np.isfinite(values)):  # a DGE from files has no neutrinos
            ax.plot(e, values, color=color, label=column)
            drawn.append(np.nanmax(values))
    top = max(drawn)
    ax.set_ylim(1e-4 * top, 3 * top)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$E_\nu$ [GeV]")
    ax.set_ylabel(r"$E^2\,dN/dE$ per flavour, all sky [GeV cm$^{-2}$ s$^{-1}$]")
    ax.legend(fontsize=8, loc="lower left")
    axes_note(ax, f"Data: IceCube: {BANDS['icecube-2023-pi0'][1]}\n* band derived from the public release "
                  f"(data/README.md)\nDGE: {table.meta.get('dge', '')}")
    fig.tight_layout()
    overlaps = _publish_measured(fig, path, overwrite, dpi=FIT_FIGURE_DPI)  # the overlaps measured on the PNG's own draw
    plt.close(fig)
    return overlaps


_BC_STYLE = {"ams02-bc-2018": ("o", "c", "AMS-02 (2018)"), "ams02-bc-2021": ("o", "c", "AMS-02 (2021)"),
             "dampe-bc-2022": ("s", "gold", "DAMPE (2022)"), "calet-bc-2022": ("D", "red", "CALET (2022)")}


def plot_bc(model, datasets, overlay=(), summary=None, views=("kinetic_energy_per_nucleon",)):
    """Fig. 1 of the paper: B/C with its galactic and cocoon parts, against the data.

    The first view is the paper's: against kinetic energy per nucleon, AMS-02 (cyan circles),
    CALET (red), DAMPE (gold), the total (orange), the galactic part (grey dashed) and the cocoon
    part (blue). Add "rigidity" to ``views`` for the rigidity view (AMS-02 2021). Points used in
    the fit are filled, the others open. ``summary`` (of :func:`~gammapy_cocoons.analysis.bcfit.fit_bc`)
    puts the fitted chi0, its 68 % interval and the set-up on the figure.
    """
    from ..datasets import RATIOS, load_ratio
    from ..physics.transport import rigidity_of

    plt = _matplotlib()
    views = tuple(views)
    for view in views:
        if view not in ("kinetic_energy_per_nucleon", "rigidity"):
            raise ValueError(f"views must hold 'kinetic_energy_per_nucleon' and/or 'rigidity', got {view!r}")
    fig, axes = plt.subplots(1, len(views), figsize=(6.2 * len(views), 4.8), sharey=True, squeeze=False)
    axes = dict(zip(views, axes[0]))
    grids = {"rigidity": np.geomspace(5, 5e4, 120) * u.GV,
             "kinetic_energy_per_nucleon": np.geomspace(2.5, 2.5e4, 120) * u.GeV}
    chi0 = model.chi0.value
    interval = (summary or {}).get("chi0_interval_68")
    text = f"$\\chi_{{c,0}}$ = {chi0:.2f}"
    if interval and None not in interval:
        text += f" ({interval[0]:.2f}-{interval[1]:.2f}, 68 %)"
    for quantity, ax in axes.items():
        grid = grids[quantity]
        galactic, cocoon = model.components(grid, quantity=quantity)
        x = grid.value
        ax.plot(x, galactic + cocoon, color="darkorange", lw=2, label="total (fit)")
        ax.plot(x, galactic, color="0.45", ls="--", lw=1.5, label="galactic grammage")
        ax.plot(x, cocoon, color="tab:blue", lw=1.5, label=f"cocoons, {text} g cm$^{{-2}}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    fitted_names = {d.name for d in datasets}
    names = [d.name for d in datasets if d.data.meta["ratio"] == "B/C"] + list(overlay)
    names += [n for n, (_, ratio, q) in RATIOS.items() if ratio == "B/C" and n not in names and n.startswith("ams02")]
    for name in names:
        data = load_ratio(name)
        if data.meta["quantity"] not in axes:
            continue
        ax = axes[data.meta["quantity"]]
        marker, color, label = _BC_STYLE.get(name, ("o", "k", name))
        x = data["x"].value
        rigidity = x if data.meta["quantity"] == "rigidity" else rigidity_of(x, 2.0)
        fitted = (rigidity >= 20.0) & (name in fitted_names)
        yerr = np.array([data["error_lo"], data["error_hi"]])
        if np.any(fitted):
            ax.errorbar(x[fitted], data["value"][fitted], yerr=yerr[:, fitted], fmt=marker, color=color, ms=4,
                        label=label + " (fitted)")
        if np.any(~fitted):
            ax.errorbar(x[~fitted], data["value"][~fitted], yerr=yerr[:, ~fitted], fmt=marker, color=color,
                        mfc="none", ms=4, label=None if np.any(fitted) else label + " (not fitted)")
    # below 20 GV (9 GeV/n for carbon) energy losses and reacceleration matter: not fitted
    limits = {"rigidity": (1.5, 6e4, 20.0, "rigidity R [GV]"),
              "kinetic_energy_per_nucleon": (0.3, 3e4, 9.1, "kinetic energy per nucleon [GeV/n]")}
    for quantity, ax in axes.items():
        low, high, cut, label = limits[quantity]
        ax.axvspan(low / 2, cut, color="0.92", zorder=0)
        ax.set_xlim(low, high)
        ax.set_xlabel(label)
        ax.legend(fontsize=7.5, loc="upper right")
    first = axes[views[0]]
    first.set_ylabel("B/C")
    first.set_ylim(0.008, 0.45)
    free = [p.name for p in model.parameters if not p.frozen]
    gas = "ISM" if model.target == "ism" else repr(model.target)
    note = (f"fitted data: {', '.join(d.name for d in datasets)} above 20 GV; free: {', '.join(free)}; chi0 = mass "
            f"grammage of the cocoon gas ({gas}, H + He), in g cm-2; shaded: not fitted (energy losses, reacceleration)")
    if summary:
        note = (f"fit: {summary.get('setup_description', '')}\nchi2 = {summary['stat']:.1f} for {summary['ndof']} dof; "
                + note)
        if summary.get("at_bound_note"):
            note += "\n" + summary["at_bound_note"]
    drawn = [n for n in dict.fromkeys(names) if load_ratio(n).meta["quantity"] in axes]
    references = "; ".join(f"{_BC_STYLE.get(n, (None, None, n))[2]}: {load_ratio(n).meta.get('reference') or n}"
                           for n in drawn)
    figure_note(fig, note + "\nData (stat and sys errors in quadrature): " + references)
    return fig


# -- the paper's SED figures (Fig. 2, B.2, B.3) and neutrinos (Fig. B.1) ----------------------------

_POINT_STYLE = {"lhaaso-km2a-2023-inner": ("o", "k", "LHAASO-KM2A (2023)"),
                "lhaaso-km2a-2023-outer": ("o", "k", "LHAASO-KM2A (2023)"),
                "fermi-lat-lhaaso-inner": ("s", "0.45", "Fermi-LAT (LHAASO inner region)")}
_GOLD = "goldenrod"


def plot_points(ax, points):
    """Region-integrated FluxPoints as E^2 I per sr: error bars, and arrows for upper limits."""
    marker, color, _ = _POINT_STYLE.get(points.meta.get("name"), ("o", "k", None))
    label = dataset_label(points)
    omega = points.meta["solid_angle"] * u.sr
    e = points.energy_ref
    scale = (e**2 / omega).to_value(_E2I * u.Unit("cm2 s TeV"))  # E^2 I from dnde [TeV-1 cm-2 s-1]
    value = points.dnde.quantity.ravel().to_value("TeV-1 cm-2 s-1") * scale
    is_ul = np.zeros(e.size, bool) if points.is_ul is None else np.asarray(points.is_ul.data, bool).ravel()
    ok = ~is_ul
    errn = points.dnde_errn.quantity.ravel().to_value("TeV-1 cm-2 s-1") * scale
    errp = points.dnde_errp.quantity.ravel().to_value("TeV-1 cm-2 s-1") * scale
    x = e.to_value("GeV")
    ax.errorbar(x[ok], value[ok], yerr=[errn[ok], errp[ok]], fmt=marker, color=color, ms=4, label=label)
    if np.any(is_ul):
        ul = points.dnde_ul.quantity.ravel().to_value("TeV-1 cm-2 s-1") * scale
        ax.errorbar(x[is_ul], ul[is_ul], yerr=0.4 * ul[is_ul], uplims=True, fmt=marker, color=color, ms=4,
                    mfc="none", label=None if np.any(ok) else label)
    return value


def _finish_sed_axes(ax, data_values, model_values, title):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1.0, 3e6)
    data = np.concatenate([np.atleast_1d(v) for v in data_values]) if data_values else np.array([np.inf])
    model = np.concatenate([np.atleast_1d(v) for v in model_values])
    # from below the faintest point to above the brightest point or model curve (the cut-offs fall further)
    ax.set_ylim(0.1 * min(np.min(data), np.max(model) * 1e-5), 3 * max(np.max(data[np.isfinite(data)], initial=0),
                                                                    np.max(model)))
    ax.set_xlabel("E [GeV]")
    ax.set_ylabel(r"$E^2\,I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=7, loc="lower left")


def plot_sed_panel(ax, energy, cocoons, total_band, points=(), title="", lines=()):
    """One region's SED in the paper's style.

    ``cocoons`` (blue line) and ``total_band`` = (low, high) of DGE + cocoons (golden band) are
    E^2 I arrays [GeV cm-2 s-1 sr-1] on ``energy`` (either may be None); ``points`` are region-integrated FluxPoints
    (with ``meta["solid_angle"]``); ``lines`` are extra (values, matplotlib kwargs) curves.
    """
    x = u.Quantity(energy, "GeV").value
    if total_band is not None:
        ax.fill_between(x, total_band[0], total_band[1], color=_GOLD, alpha=0.55, lw=0,
                        label="DGE (base min-max) + cocoons")
        for edge in total_band:  # the band is thin where min and max agree
            ax.plot(x, edge, color=_GOLD, lw=1.5)
    if cocoons is not None:
        ax.plot(x, cocoons, color="C0", lw=1.8, label="cocoons")
    for values, style in lines:
        ax.plot(x, values, **style)
    data = [plot_points(ax, p) for p in points]
    model = [v for v, _ in lines] + ([total_band[1]] if total_band is not None else [])
    _finish_sed_axes(ax, data, model, title)
    return ax


def plot_neutrino_bands(energy, cocoons, total_band, icecube, lines=(), note=""):
    """Fig. B.1: all-sky per-flavour E^2 dN/dE of the model against IceCube's three template fits.

    ``icecube`` maps a label to a band table from :func:`~gammapy_cocoons.datasets.load_band`;
    their references and caveat, and ``note`` (what the DGE is), are written under the axes.
    ``total_band`` may be None (a DGE without neutrinos).
    """
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    unit = "GeV cm-2 s-1"
    x = u.Quantity(energy, "GeV").value
    for (label, band), color in zip(icecube.items(), ("C1", "C2", "C4")):
        e = band["e_ref"].to_value("GeV")
        ax.fill_between(e, band["e2dnde_low"].to_value(unit), band["e2dnde_high"].to_value(unit), color=color,
                        alpha=0.25, lw=0, label=label + " *")
        ax.plot(e, band["e2dnde"].to_value(unit), color=color, lw=1)
    if total_band is not None:
        ax.fill_between(x, total_band[0], total_band[1], color=_GOLD, alpha=0.6, lw=0,
                        label="DGE (base min-max) + cocoons")
        for edge in total_band:  # the band is thin where min and max agree
            ax.plot(x, edge, color=_GOLD, lw=1.5)
    ax.plot(x, cocoons, color="C0", lw=1.8, label="cocoons")
    for values, style in lines:
        ax.plot(x, values, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(1e-10, 3e-6)
    ax.set_xlabel(r"$E_\nu$ [GeV]")
    ax.set_ylabel(r"$E^2\,dN/dE$ per flavour, all sky [GeV cm$^{-2}$ s$^{-1}$]")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=7, loc="lower left")
    references = "; ".join(dict.fromkeys(band.meta.get("reference", "") for band in icecube.values()))
    axes_note(ax, f"Data: {references}\n* bands derived from IceCube's public release (data/README.md)"
              + (f"\n{note}" if note else ""))
    fig.tight_layout()
    return fig


def new_figure(nrows, ncols, width=5.2, height=4.2):
    """A figure of nrows x ncols SED panels (Agg backend)."""
    plt = _matplotlib()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes


def save_figure(fig, path_stem, overwrite=False, layout=True):
    """Publish ``path_stem``.png (:data:`FIGURE_DPI`; for a figure made inside :func:`figures_at`, the
    draw reuses the layout's text measurements) and .pdf atomically, close the figure, and return its
    text overlaps (:func:`text_overlaps`; empty for a figure a reader can read). ``layout``: lay
    the figure out first (``tight_layout``) unless it has a note under its axes (then it has laid
    itself out around it); False for a figure its maker has laid out already."""
    from .._files import publish_figure
    from .._validation import boolean

    boolean(overwrite, "overwrite")
    plt = _matplotlib()
    if boolean(layout, "layout") and not fig.texts:
        fig.tight_layout()
    overlaps = _publish_measured(fig, f"{path_stem}.png", overwrite, dpi=FIGURE_DPI)
    publish_figure(fig, f"{path_stem}.pdf", overwrite, dpi=FIGURE_DPI)
    plt.close(fig)
    return overlaps


def _publish_measured(fig, path, overwrite, dpi):
    """Publish ``fig`` as the raster image ``path`` and return its text overlaps (:func:`text_overlaps`),
    measured on the draw that writes the image: one draw for both, not two."""
    from .._files import publish_figure

    _keep_layout(fig)
    measured = []
    callback = fig.canvas.mpl_connect("draw_event", lambda event: measured.append(text_overlaps(fig, event.renderer)))
    try:
        publish_figure(fig, path, overwrite, dpi=dpi)
    finally:
        fig.canvas.mpl_disconnect(callback)
    return measured[-1] if measured else text_overlaps(fig)


def _keep_layout(fig):
    """Drop the placeholder layout engine tight_layout leaves: it makes savefig lay the figure out
    once more (a draw that renders nothing) and then change nothing; the figure keeps its layout."""
    import matplotlib as mpl
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)


def _figure_bytes(fig, fmt, dpi):
    """The file content of ``fig`` saved as ``fmt`` at ``dpi`` (bytes; for a forked child to return)."""
    import io

    _keep_layout(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()


def plot_dge_validation(model, energy=10.0, label="embedded DGE (base min)"):
    """Check of a DGE against the Fermi-LAT pi0 template (a GALPROP model, not data): the ratio map at
    ``energy`` [GeV] (Mollweide, Galactic, centred on l = 0), the region means and the 10-degree
    longitude cells in the two latitude strips at 3 and 10 GeV."""
    import healpy as hp

    from ..dge.validation import CELL_EDGES, VALIDATION_REGIONS, ratio_map, validation_cells, validation_ratios

    plt = _matplotlib()
    ratios, node = ratio_map(model, energy)
    fig = plt.figure(figsize=(12, 8.6))
    hp.mollview(ratios, fig=fig.number, sub=(2, 2, 1), min=0.3, max=1.7, cmap="RdBu_r", cbar=True,
                title=f"{label} / Fermi-LAT pi0 template (a model), {node:.1f} GeV", unit="ratio")
    hp.graticule(dpar=15, dmer=60, alpha=0.3)
    ax = fig.add_axes([0.68, 0.56, 0.3, 0.38])
    table = validation_ratios(model, [3.0, 10.0])
    names = list(VALIDATION_REGIONS)
    y = np.arange(len(names))
    for k, (e, marker) in enumerate(((3.0, "o"), (10.0, "s"))):
        ax.plot([table[n][k] for n in names], y + 0.12 * (k - 0.5), marker, label=f"{e:g} GeV")
    for n_index, n in enumerate(names):
        allowed = VALIDATION_REGIONS[n][1]
        ax.plot([1 - allowed, 1 + allowed], [n_index, n_index], color="0.8", lw=6, zorder=0)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(y, [n + "  " + r"($|b|<5^\circ$)" if "mid" not in n else n + r"  ($5^\circ<|b|<15^\circ$)"
                      for n in names], fontsize=8)
    ax.set_xlabel("region mean: model / template")
    ax.set_xlim(0.4, 1.6)
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("grey: the tested tolerance (20 %)", fontsize=9)
    cells = validation_cells(model, [3.0, 10.0])
    centres = 0.5 * (CELL_EDGES[:-1] + CELL_EDGES[1:])
    ax = fig.add_axes([0.07, 0.08, 0.9, 0.36])
    ax.axhspan(0.7, 1.3, color="0.9", zorder=0, label="within 30 %")
    for (strip, color), (e, style) in ((pair, e) for pair in (("|b|<1", "tab:red"), ("1<|b|<5", "tab:blue"))
                                       for e in ((3.0, "o-"), (10.0, "s--"))):
        rows = cells[(cells["strip"] == strip) & (np.abs(np.log(cells["energy"] / e)) < 0.15)]
        ax.plot(centres, rows["ratio"], style, color=color, ms=4, lw=1,
                label=f"${strip.replace('<', ' < ')}$ deg, {rows['energy'][0]:.1f} GeV")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(CELL_EDGES)
    ax.set_xlim(CELL_EDGES[0], CELL_EDGES[-1])
    ax.set_ylim(0.4, 1.6)
    ax.set_xlabel("Galactic longitude l [deg] (10-degree cells)")
    ax.set_ylabel("cell mean: model / template")
    within = np.mean(np.abs(cells["ratio"] - 1) <= 0.3)
    ax.set_title(f"{within:.0%} of the cells within 30 % (grey). The template is the GALPROP pi0 model of "
                 "Ackermann et al. (2012) fitted to Fermi-LAT data:\na check against a model, not data; no "
                 "gamma-ray data enter the DGE's defaults", fontsize=9)
    ax.legend(fontsize=8, ncol=4, loc="upper center")
    return fig


POPULATION_DPI = 130  # population.png/pdf


def plot_population(table, comparison, summary, dpi=POPULATION_DPI):
    """The discrete cocoons: flux bands of the realisations against the population mean (LHAASO inner
    and outer), and the logN-logS of the cocoons against the 1LHAASO catalogue.

    ``table`` is the flux table of :func:`~gammapy_cocoons.analysis.population.run_population`,
    ``comparison`` its :func:`~gammapy_cocoons.analysis.population.lhaaso_comparison`, ``summary`` its summary.
    Energies in GeV, as every figure of the package. ``dpi``: the figure's, that of the PNG it will
    be written as (``population``'s :data:`POPULATION_DPI`, ``reproduce``'s :data:`FIGURE_DPI`).
    """
    from .._validation import positive_float
    from ..datasets import LHAASO_CATALOG_REFERENCE
    from ..emission import CocoonEmission
    from ..skyregions import LHAASO_INNER, LHAASO_OUTER

    dpi = positive_float(dpi, "dpi")  # (matplotlib takes a negative one and fails later, deep inside)
    plt = _matplotlib()
    # made at the dpi it is saved at: the layout's text metrics serve the PNG's draw
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.8), dpi=dpi)
    omega = {"lhaaso-inner": CocoonEmission().solid_angle(LHAASO_INNER).to_value("sr"),
             "lhaaso-outer": CocoonEmission().solid_angle(LHAASO_OUTER).to_value("sr")}
    dnde = u.Unit("GeV-1 cm-2 s-1")
    for ax, region in zip(axes[:2], ("lhaaso-inner", "lhaaso-outer")):
        rows = table[table["region"] == region]
        energy = u.Quantity(rows["energy"])
        e = energy.to_value("GeV")
        scale = e**2 / omega[region]
        value = {k: u.Quantity(rows[k]).to_value(dnde) * scale
                 for k in ("q2.5", "q16", "q50", "q84", "q97.5", "smooth", "mean")}
        ax.fill_between(e, value["q2.5"], value["q97.5"], color="tab:blue", alpha=0.18, label="95 % of realisations")
        ax.fill_between(e, value["q16"], value["q84"], color="tab:blue", alpha=0.35, label="68 %")
        ax.plot(e, value["q50"], color="tab:blue", lw=1.5, label="median realisation")
        ax.plot(e, value["smooth"], color="k", ls="--", lw=1.5, label="population mean (smooth model)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("E [GeV]")
        ax.set_ylabel(r"$E^2\,I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]")
        ax.set_title(f"cocoons, {region.replace('lhaaso-', 'LHAASO ')}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7.5, loc="upper right")
        ax.set_ylim(np.nanmax(value["q97.5"]) * 1e-4, np.nanmax(value["q97.5"]) * 3)
    for ax, (name, entry) in zip(axes[2:], comparison["components"].items()):
        curves = entry["lognlogs"]
        flux = (np.asarray(curves["flux"]) * u.Unit("cm-2 s-1 TeV-1")).to_value(dnde)
        e0 = entry["energy_tev"] * 1e3
        ax.step(flux, curves["catalog"], where="post", color="k", label=f"1LHAASO {name} ({entry['catalog_sources']})")
        ax.fill_between(flux, curves["cocoons_16"], curves["cocoons_84"], color="tab:orange", alpha=0.35,
                        label="cocoons, 68 % of realisations")
        ax.plot(flux, curves["cocoons_median"], color="tab:orange", label="cocoons, median")
        threshold = entry["catalog_faintest_flux"] * 1e-3  # TeV-1 -> GeV-1
        ax.axvline(threshold, color="0.4", ls=":", label="faintest catalogue source (proxy threshold)")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, 30.0 * max(max(curves["catalog"]), max(curves["cocoons_84"]), 1))
        ax.set_xlabel(f"dN/dE at {e0:g} GeV [GeV$^{{-1}}$ cm$^{{-2}}$ s$^{{-1}}$]")
        ax.set_ylabel("N(> S)")
        low, high = entry["detectable_16_84"]
        ax.set_title(f"{name}: {entry['detectable_median']:.0f} ({low:.0f}-{high:.0f}) cocoons above threshold",
                     fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7.5, loc="upper right")  # above the curves: the y range leaves room for it
    p = summary["parameters"]
    gas = p.get("target", "hydrogen")
    note = (f"{p['realisations']} realisations; n_gas = {p['n_gas_cm3']:g} H atoms cm-3 ({gas} gas, chi0 its mass "
            f"grammage), radius {p['radius_pc']:g} pc, "
            f"grammage {p.get('grammage_text', p['grammage'])}, escape {p['escape']}, seed {p['seed']}; "
            f"{summary['alive']['expected']:.0f} cocoons alive on average. LogN-logS: cocoons in the 1LHAASO "
            f"declination band {comparison['declination_band_deg']} deg, {comparison['realisations']} realisations; "
            "threshold = the catalogue's faintest N0 (a proxy, not the survey's size-dependent sensitivity). "
            f"Nothing fitted.\nData: 1LHAASO: {LHAASO_CATALOG_REFERENCE}")
    figure_note(fig, note, fontsize=7)
    return fig


def plot_local_spectra(variants=None):
    """The local H, He and H + He spectra of the knee variants against the data they were fitted
    to (top: E^2.7 dN/dE per total energy; bottom: each variant's log-space pulls on its own data,
    ln(model / data) / (error / data))."""
    from ..dge.localspectra import DEFAULT_VARIANT, KNEE_VARIANTS, local_spectra

    plt = _matplotlib()
    variants = list(KNEE_VARIANTS) if variants is None else list(variants)
    colours = dict(zip(KNEE_VARIANTS, ("tab:red", "tab:orange", "tab:brown", "tab:blue", "tab:green")))
    markers = {"AMS-02": "o", "DAMPE": "s", "CALET": "D"}
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.4), sharex="col", gridspec_kw={"height_ratios": (2.2, 1)})
    energy = np.geomspace(20.0, 1e8, 400)
    panels = ("H", "He", "light")
    shown = set()
    for variant in variants:
        spectra = local_spectra(variant)
        for ax, species in zip(axes[0], panels):
            parts = ("H", "He") if species == "light" else (species,)
            flux = sum(spectra.flux_total_energy(s, energy) for s in parts)
            default = variant == DEFAULT_VARIANT
            ax.plot(energy, energy**2.7 * flux, color=colours.get(variant), lw=2.2 if default else 1.2,
                    label=f'"{variant}"' + (" (default)" if default else ""))
        for data, pulls in spectra.pulls():
            col = panels.index(data.species)
            e, y, lo, up = data.per_total_energy()
            experiment = data.experiment.split()[0]
            if data.name not in shown:  # each data set once, as published
                shown.add(data.name)
                direct = data.direct
                axes[0, col].errorbar(e, e**2.7 * y, yerr=(e**2.7 * np.minimum(lo, 0.999 * y), e**2.7 * up),
                                      fmt=markers.get(experiment, "v"), ms=3.5, lw=0.8, mfc="none" if direct else None,
                                      color="0.35" if direct else colours.get(variant), capsize=0,
                                      label=data.experiment if direct else f"{data.experiment} ({variant})")
            axes[1, col].plot(e, pulls, markers.get(experiment, "v"), ms=3.5, color=colours.get(variant),
                              mfc="none" if data.direct else None)
    for col, species in enumerate(panels):
        ax = axes[0, col]
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e3 if species != "light" else 2e3, 5e4 if species != "light" else 8e4)
        ax.set_title({"H": "protons", "He": "helium", "light": "H + He (light)"}[species])
        ax.legend(fontsize=6.5, loc="upper right" if species == "light" else "upper left", ncol=2)
        axes[1, col].axhspan(-3, 3, color="0.9", zorder=0)
        axes[1, col].axhline(0, color="k", lw=0.6)
        axes[1, col].set_ylim(-3.5, 3.5)
        axes[1, col].set_xlabel("total energy per particle [GeV]")
    axes[0, 0].set_ylabel(r"$E^{2.7}\,dN/dE$ [GeV$^{1.7}$ m$^{-2}$ s$^{-1}$ sr$^{-1}$]")
    axes[1, 0].set_ylabel("log-space pull")
    fig.text(0.01, 0.005, "Curves: local interstellar spectra, each fitted to AMS-02 (> 20 GV), DAMPE 2025, CALET and "
             "its variant's knee data (<= 100 PeV; errors stat + sys). Points: as published (AMS-02 converted to total "
             "energy; no demodulation, phi = 0.6 GV, nor the fitted energy scales applied).\nPulls (each variant on "
             "its own data, modulation and energy scales included): ln(model / data) / (error / data); grey: +-3. "
             "Gamma-ray data enter nowhere.", fontsize=8)
    fig.tight_layout(rect=(0, 0.045, 1, 1))
    return fig


def plot_local_electrons(fit=None):
    """The local e+e- fit (:func:`~gammapy_cocoons.dge.electrons.local_electrons`) against the data
    it was fitted to, E^3 J, each experiment through its own fitted energy scale and the modulation."""
    import matplotlib.pyplot as plt

    from ..dge.electrons import electron_data, local_electrons

    fit = local_electrons() if fit is None else fit
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for color, (experiment, x, y, lo, up) in zip(("C0", "C1", "C2", "C3", "C4"), electron_data()):
        ax.errorbar(x, x**3 * y, yerr=(x**3 * lo, x**3 * up), fmt="o", ms=3, color=color, label=experiment)
        grid = np.geomspace(x.min(), x.max(), 200)
        ax.plot(grid, grid**3 * fit.measured(experiment, grid), color=color, lw=0.8)
    energy = np.geomspace(1.0, 1e5, 300)
    ax.plot(energy, energy**3 * fit.flux(energy), color="k", lw=1.6, label="fit: local interstellar (unmodulated)")
    row = {t["experiment"]: t for t in fit.table}
    text = "\n".join(f"{e}: chi2/n = {t['chi2']:.0f}/{t['n']}, max pull {t['max_pull']:+.1f}, "
                     f"scale {100 * fit.parameters['scale.' + e]:+.1f} %" for e, t in row.items())
    ax.text(0.02, 0.03, "fitted: all points above 10 GeV; thin lines: the model through each energy scale\n" + text,
            transform=ax.transAxes, fontsize=6.5, va="bottom")
    ax.set(xscale="log", yscale="log", xlabel="E [GeV]", ylabel=r"$E^3 J$ [GeV$^2$ m$^{-2}$ s$^{-1}$ sr$^{-1}$]",
           ylim=(5, 600), title="local e$^+$ + e$^-$: fit to AMS-02, CALET, DAMPE, Fermi-LAT, VERITAS")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


_HYPOTHESIS_STYLE = {"dge": ("0.35", "o", "(a) DGE"), "dge+cocoons": ("C0", "s", "(b) DGE + cocoons"),
                     "dge+ecpl": ("C1", "^", "(c) DGE + ECPL"), "radial-delta": ("C2", "D", "(d) radial-delta DGE")}


def plot_compare_residuals(result):
    """The residuals of every hypothesis of ``gammapy-cocoons compare`` at its best fit: one row per DGE
    choice, one column per dataset, (data - model) / error against energy (the IceCube term against the
    hypothesis); each row's legend gives every fit's statistic and delta AIC."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plt = _matplotlib()
    residuals = result["residuals"]
    labels = list(residuals)
    datasets = list(dict.fromkeys(name for by_hyp in residuals.values() for fits in by_hyp.values() for name in fits))
    fig, axes = plt.subplots(len(labels), len(datasets), figsize=(2.5 * len(datasets) + 2.8, 2.5 * len(labels) + 0.4),
                             squeeze=False, sharey=True)
    rows = {(r["dge"], r["hypothesis"]): r for r in result["rows"]}
    hypotheses = list(_HYPOTHESIS_STYLE)
    for i, label in enumerate(labels):
        handles = []
        for j, name in enumerate(datasets):
            ax = axes[i, j]
            for band, alpha in ((2, 0.08), (1, 0.12)):
                ax.axhspan(-band, band, color="0.5", alpha=alpha, lw=0)
            ax.axhline(0, color="0.3", lw=0.6)
            fits = residuals[label]
            present = [h for h in hypotheses if h in fits and name in fits[h]]
            single = name == "icecube-2023-pi0"
            for k, hypothesis in enumerate(present):
                colour, marker, text = _HYPOTHESIS_STYLE[hypothesis]
                entry = fits[hypothesis][name]
                if single:
                    x = [hypotheses.index(hypothesis)]
                else:
                    x = np.asarray(entry["energy_tev"]) * (1.0 + 0.05 * (k - (len(present) - 1) / 2))
                row = rows.get((label, hypothesis))
                legend = f"{text}: stat {row['stat']:.1f}, dAIC {row['delta_aic']:.1f}" if row else text
                line, = ax.plot(x, entry["residual"], marker=marker, ls="none", ms=4, color=colour, label=legend)
                if j == 0 or len(handles) < len(present):
                    handles.append(line) if legend not in [h.get_label() for h in handles] else None
            if single:
                ax.set_xlim(-0.6, len(hypotheses) - 0.4)
                ax.set_xticks(range(len(hypotheses)))
                ax.set_xticklabels(["(a)", "(b)", "(c)", "(d)"], fontsize=7)
            else:
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
                energies = [e for h in present for e in fits[h][name]["energy_tev"]]
                ax.set_xlim(min(energies) / 1.4, max(energies) * 1.4)
            if i == 0:
                ax.set_title(name if not single else "icecube-2023-pi0 (all sky)", fontsize=9)
            if i == len(labels) - 1:
                ax.set_xlabel("hypothesis" if single else "E [TeV]", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{label}\n(data - model) / error", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[i, -1].legend(handles=handles, fontsize=6.5, loc="center left", bbox_to_anchor=(1.04, 0.5),
                           title=label, title_fontsize=7)
    lim = max(3.0, min(8.0, max((abs(v) for fits in residuals.values() for by in fits.values() for e in by.values()
                                for v in e["residual"]), default=3.0) * 1.1))
    axes[0, 0].set_ylim(-lim, lim)
    note = (f"Residuals at each hypothesis' best fit of the joint likelihood ({', '.join(result['datasets'])}); "
            f"error: the point's upper error where the model is above it, lower below (gammapy's 'distrib'). "
            f"DGE normalisation: {result['dge_norm']} (log-normal of width 0.206 when 'prior'); energy scales "
            f"{'constrained per instrument' if result['energy_scales'] else 'fixed'}; masks '{result['masks']}'. "
            f"IceCube: the pi0-template fit's all-sky per-flavour energy flux (its morphology assumed; (c) makes no "
            f"neutrinos). Bands: 1 and 2 sigma. chi0: {result['chi0_convention']}.")
    return figure_note(fig, note + "\n" + _references(result["datasets"]))


def _references(names):
    """'Data:' with the reference (and caveat) of every bundled dataset and the IceCube band named."""
    from ..datasets import load_band, load_flux_points
    from .fitting import FIT_DATASETS

    text = dataset_note([load_flux_points(n) for n in names if n in FIT_DATASETS])
    bands = [load_band(n).meta.get("reference", n) for n in names if n.startswith("icecube")]
    lines = [text] if text else []
    lines += [f"IceCube Galactic plane: {b}" for b in bands]
    return "\n".join(lines)


def save_figure_png(fig, path, overwrite=False):
    """Publish ``fig`` as one PNG (:data:`FIGURE_DPI`) atomically, close it, and return its text overlaps."""
    from .._validation import boolean

    boolean(overwrite, "overwrite")

    plt = _matplotlib()
    overlaps = _publish_measured(fig, path, overwrite, dpi=FIGURE_DPI)
    plt.close(fig)
    return overlaps
