"""Figures of the fits: SEDs per region (intensities per sr, as the paper's Fig. 2) and profiles."""
import numpy as np
import astropy.units as u

__all__ = ["plot_local_electrons", "plot_lhaaso_fit", "plot_sed", "plot_neutrinos", "plot_bc", "plot_points", "plot_sed_panel",
           "plot_neutrino_bands", "new_figure", "save_figure"]

_E2I = u.Unit("GeV cm-2 s-1 sr-1")


def _matplotlib():
    # no matplotlib.use here: the backend is the user's (inline in notebooks); headless
    # machines fall back to Agg by themselves
    import matplotlib.pyplot as plt

    return plt


def plot_sed(ax, dataset, energy=None):
    """E^2 I of data and model components of one region's FluxPointsDataset on ``ax``."""
    points = dataset.data
    omega = points.meta["solid_angle"] * u.sr
    e = points.energy_ref
    intensity = points.dnde.quantity.ravel() / omega
    errn = points.dnde_errn.quantity.ravel() / omega
    errp = points.dnde_errp.quantity.ravel() / omega
    ax.errorbar(e.to_value("TeV"), (e**2 * intensity).to_value(_E2I),
                yerr=[(e**2 * errn).to_value(_E2I), (e**2 * errp).to_value(_E2I)],
                fmt="o", color="k", label=points.meta.get("name", "data"))
    total = dataset.models[0].spectral_model
    grid = np.geomspace(1, 1000, 100) * u.TeV if energy is None else energy
    components = (("cocoons", total.model1, "C0"), ("DGE", total.model2, "C7"), ("total", total, "k"))
    for label, model, color in components:
        value = (grid**2 * model(grid) / omega).to_value(_E2I)
        ax.plot(grid.to_value("TeV"), value, color=color, lw=2 if label == "total" else 1.5, label=label)
    data = (e**2 * intensity).to_value(_E2I)
    ax.set_ylim(0.1 * np.min(data), 10 * np.max(data))  # the cocoon cut-off falls by 1e15 further
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("E [TeV]")
    ax.set_ylabel(r"$E^2 I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]")
    import textwrap

    name = points.meta.get("name") or dataset.name
    reference = points.meta.get("reference", "")
    ax.set_title("\n".join(textwrap.wrap(f"{name}: {reference}", 70)), fontsize=7)
    names = set(total.model1.parameters.names) | set(total.model2.parameters.names)
    if {"chi0", "r0", "norm"} <= names:  # the model states its parameters on the plot
        text = (rf"$\chi_{{c,0}}$ = {total.model1.parameters['chi0'].value:.2f} g cm$^{{-2}}$, "
                rf"$R_0$ = {total.model1.parameters['r0'].value:.0f} TV; "
                f"DGE x {total.model2.parameters['norm'].value:.2f}")
        scale = getattr(total.model1, "scale", 1.0)
        if scale != 1:
            text += f"; model x {scale:g} (mask)"
        ax.text(0.03, 0.03, text, transform=ax.transAxes, fontsize=7, va="bottom")
    ax.legend(fontsize=8)
    return ax


def plot_lhaaso_fit(datasets, cocoons, outdir, profiles, overwrite=False):
    """Publish sed_<dataset>.png and profiles.png for a fit from :func:`~gammapy_cocoons.analysis.fitting.run_lhaaso_fit`."""
    from .._files import publish_figure

    plt = _matplotlib()
    for dataset in datasets:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        plot_sed(ax, dataset)
        fig.tight_layout()
        publish_figure(fig, outdir / f"sed_{dataset.name}.png", overwrite, dpi=120)
        plt.close(fig)
    if profiles:
        fig, axes = plt.subplots(1, len(profiles), figsize=(5 * len(profiles), 4))
        axes = np.atleast_1d(axes)
        for ax, (name, profile) in zip(axes, profiles.items()):
            key = next(k for k in profile if k.endswith(f"{name}_scan"))
            stat = np.asarray(profile["stat_scan"])
            ax.plot(profile[key], stat - np.nanmin(stat), "o-")
            ax.axhline(1.0, ls="--", color="gray")
            ax.set_xlabel(name + (" [g cm-2]" if name == "chi0" else " [TV]"))
            ax.set_ylabel(r"$\Delta$ stat")
            if name == "r0":
                ax.set_xscale("log")
        fig.tight_layout()
        publish_figure(fig, outdir / "profiles.png", overwrite, dpi=120)
        plt.close(fig)


def plot_neutrinos(table, path, overwrite=False):
    """All-sky per-flavour neutrino E^2 dN/dE of the model against IceCube's pi0 band (Fig. B.1)."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    e = table["e_ref"].to_value("GeV")
    unit = "GeV cm-2 s-1"
    band = np.isfinite(table["icecube_pi0_best"].value)
    ax.fill_between(e[band], table["icecube_pi0_low"][band].to_value(unit), table["icecube_pi0_high"][band].to_value(unit),
                    color="C1", alpha=0.3, label="IceCube 2023, pi0 template (1 sigma)")
    drawn = []
    for column, color in (("cocoons", "C3"), ("dge", "C0"), ("total", "k")):
        values = table[column].to_value(unit)
        if np.any(np.isfinite(values)):  # a DGE from files has no neutrinos
            ax.plot(e, values, color=color, label=column)
            drawn.append(np.nanmax(values))
    if "dge" in table.meta:
        ax.text(0.03, 0.03, f"DGE: {table.meta['dge']}", transform=ax.transAxes, fontsize=7, va="bottom", wrap=True)
    top = max(drawn)
    ax.set_ylim(1e-4 * top, 3 * top)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$E_\nu$ [GeV]")
    ax.set_ylabel(r"$E^2\,dN/dE$ per flavour, all sky [GeV cm$^{-2}$ s$^{-1}$]")
    ax.legend(fontsize=8)
    fig.tight_layout()
    from .._files import publish_figure

    publish_figure(fig, path, overwrite, dpi=120)
    plt.close(fig)


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
        ax.legend(fontsize=7.5, loc="lower left")
    first = axes[views[0]]
    first.set_ylabel("B/C")
    first.set_ylim(0.008, 0.45)
    free = [p.name for p in model.parameters if not p.frozen]
    note = (f"fitted data: {', '.join(d.name for d in datasets)} above 20 GV; free: {', '.join(free)}; chi0 per H "
            "column (Eq. 7 convention); shaded: not fitted (energy losses, reacceleration)")
    if summary:
        note = (f"fit: {summary.get('setup_description', '')}\nchi2 = {summary['stat']:.1f} for {summary['ndof']} dof; "
                + note)
    import textwrap

    lines = [w for part in note.split("\n") for w in textwrap.wrap(part, int(17 * fig.get_figwidth()))]
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=6.5, va="bottom", ha="left", color="0.3")
    fig.tight_layout(rect=(0, (len(lines) * 9 + 6) / (72 * fig.get_figheight()), 1, 1))
    return fig


# -- the paper's SED figures (Fig. 2, B.2, B.3) and neutrinos (Fig. B.1) ----------------------------

_POINT_STYLE = {"lhaaso-km2a-2023-inner": ("o", "k", "LHAASO-KM2A (2023)"),
                "lhaaso-km2a-2023-outer": ("o", "k", "LHAASO-KM2A (2023)"),
                "fermi-lat-lhaaso-inner": ("s", "0.45", "Fermi-LAT")}
_GOLD = "goldenrod"


def plot_points(ax, points):
    """Region-integrated FluxPoints as E^2 I per sr: error bars, and arrows for upper limits."""
    marker, color, label = _POINT_STYLE.get(points.meta.get("name"), ("o", "k", points.meta.get("name")))
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


def plot_neutrino_bands(energy, cocoons, total_band, icecube, lines=()):
    """Fig. B.1: all-sky per-flavour E^2 dN/dE of the model against IceCube's three template fits.

    ``icecube`` maps a label to a band table from :func:`~gammapy_cocoons.datasets.load_band`.
    """
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    unit = "GeV cm-2 s-1"
    x = u.Quantity(energy, "GeV").value
    for (label, band), color in zip(icecube.items(), ("C1", "C2", "C4")):
        e = band["e_ref"].to_value("GeV")
        ax.fill_between(e, band["e2dnde_low"].to_value(unit), band["e2dnde_high"].to_value(unit), color=color,
                        alpha=0.25, lw=0, label=label)
        ax.plot(e, band["e2dnde"].to_value(unit), color=color, lw=1)
    ax.fill_between(x, total_band[0], total_band[1], color=_GOLD, alpha=0.6, lw=0, label="DGE (base min-max) + cocoons")
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
    fig.tight_layout()
    return fig


def new_figure(nrows, ncols, width=5.2, height=4.2):
    """A figure of nrows x ncols SED panels (Agg backend)."""
    plt = _matplotlib()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes


def save_figure(fig, path_stem, overwrite=False):
    """Publish ``path_stem``.png (150 dpi) and .pdf atomically, and close the figure."""
    from .._files import publish_figure

    plt = _matplotlib()
    if not fig.texts:  # a figure with a note under its axes has laid itself out around it
        fig.tight_layout()
    for suffix in ("png", "pdf"):
        publish_figure(fig, f"{path_stem}.{suffix}", overwrite, dpi=150)
    plt.close(fig)


def plot_dge_validation(model, energy=10.0, label="embedded DGE (base min)"):
    """Validation of a DGE on the Fermi-LAT pi0 template: the ratio map at ``energy`` [GeV]
    (Mollweide, Galactic, centred on l = 0) and the region ratios at 3 and 10 GeV."""
    import healpy as hp

    from ..dge.validation import VALIDATION_REGIONS, ratio_map, validation_ratios

    plt = _matplotlib()
    ratios, node = ratio_map(model, energy)
    fig = plt.figure(figsize=(12, 4.6))
    hp.mollview(ratios, fig=fig.number, sub=(1, 2, 1), min=0.3, max=1.7, cmap="RdBu_r", cbar=True,
                title=f"{label} / Fermi-LAT pi0 template, {node:.1f} GeV", unit="ratio")
    hp.graticule(dpar=15, dmer=60, alpha=0.3)
    ax = fig.add_axes([0.68, 0.12, 0.3, 0.78])
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
    ax.set_xlabel("region mean: model / Fermi pi0 template")
    ax.set_xlim(0.4, 1.6)
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("grey: the tested tolerance (25 % regions, 30 % sub-regions)", fontsize=9)
    return fig


def plot_population(table, comparison, summary):
    """The discrete cocoons: flux bands of the realisations against the population mean (LHAASO inner
    and outer), and the logN-logS of the cocoons against the 1LHAASO catalogue.

    ``table`` is the flux table of :func:`~gammapy_cocoons.analysis.population.run_population`,
    ``comparison`` its :func:`~gammapy_cocoons.analysis.population.lhaaso_comparison`, ``summary`` its summary.
    """
    import textwrap

    from ..skyregions import LHAASO_INNER, LHAASO_OUTER
    from ..emission import CocoonEmission

    plt = _matplotlib()
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.6))
    omega = {"lhaaso-inner": CocoonEmission().solid_angle(LHAASO_INNER).to_value("sr"),
             "lhaaso-outer": CocoonEmission().solid_angle(LHAASO_OUTER).to_value("sr")}
    for ax, region in zip(axes[:2], ("lhaaso-inner", "lhaaso-outer")):
        rows = table[table["region"] == region]
        e = rows["energy"].to_value("TeV")
        scale = e**2 / omega[region]
        unit = rows["smooth"].unit
        value = {k: rows[k].to_value(unit) * scale for k in ("q2.5", "q16", "q50", "q84", "q97.5", "smooth", "mean")}
        ax.fill_between(e, value["q2.5"], value["q97.5"], color="tab:blue", alpha=0.18, label="95 % of realisations")
        ax.fill_between(e, value["q16"], value["q84"], color="tab:blue", alpha=0.35, label="68 %")
        ax.plot(e, value["q50"], color="tab:blue", lw=1.5, label="median realisation")
        ax.plot(e, value["smooth"], color="k", ls="--", lw=1.5, label="population mean (smooth model)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("E [TeV]")
        ax.set_ylabel(r"E$^2$ I [TeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]")
        ax.set_title(f"cocoons, {region.replace('lhaaso-', 'LHAASO ')}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7.5, loc="lower left")
        ax.set_ylim(np.nanmax(value["q97.5"]) * 1e-4, np.nanmax(value["q97.5"]) * 3)
    for ax, (name, entry) in zip(axes[2:], comparison["components"].items()):
        curves = entry["lognlogs"]
        flux = np.asarray(curves["flux"])
        ax.step(flux, curves["catalog"], where="post", color="k", label=f"1LHAASO {name} ({entry['catalog_sources']})")
        ax.fill_between(flux, curves["cocoons_16"], curves["cocoons_84"], color="tab:orange", alpha=0.35,
                        label="cocoons, 68 % of realisations")
        ax.plot(flux, curves["cocoons_median"], color="tab:orange", label="cocoons, median")
        ax.axvline(entry["catalog_faintest_flux"], color="0.4", ls=":", label="faintest catalogue source (proxy threshold)")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, 2.0 * max(max(curves["catalog"]), max(curves["cocoons_84"]), 1))
        ax.set_xlabel(f"dN/dE at {entry['energy_tev']:g} TeV [cm$^{{-2}}$ s$^{{-1}}$ TeV$^{{-1}}$]")
        ax.set_ylabel("N(> S)")
        low, high = entry["detectable_16_84"]
        ax.set_title(f"{name}: {entry['detectable_median']:.0f} ({low:.0f}-{high:.0f}) cocoons above threshold",
                     fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7.5, loc="upper right")
    p = summary["parameters"]
    note = (f"{p['realisations']} realisations; n_gas = {p['n_gas_cm3']:g} cm-3, radius {p['radius_pc']:g} pc, "
            f"{p['grammage']}, escape {p['escape']}, seed {p['seed']}; {summary['alive']['expected']:.0f} cocoons alive "
            f"on average. LogN-logS: cocoons in the 1LHAASO declination band {comparison['declination_band_deg']} deg, "
            f"{comparison['realisations']} realisations; threshold = the catalogue's faintest N0 (a proxy, not the "
            "survey's size-dependent sensitivity). Nothing fitted.")
    lines = textwrap.wrap(note, int(15 * fig.get_figwidth()))
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=7, va="bottom", ha="left", color="0.3")
    # room for the note: 7 pt lines on a figure of this height, plus a margin
    fig.tight_layout(rect=(0, (len(lines) * 10 + 6) / (72 * fig.get_figheight()), 1, 1))
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
