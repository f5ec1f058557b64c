"""The cocoon population as a workflow: realise it, summarise it, compare it with 1LHAASO, write it.

The model (:class:`~gammapy_cocoons.population.CocoonPopulation`) is a library module; this is what
the ``population`` command and the reproduction run on it.
"""
import numpy as np
import astropy.units as u

from ..emission import CocoonEmission
from ..physics.targetgas import describe_target
from ..population import DEFAULT_RADIUS, CocoonPopulation, _lb

__all__ = ["lhaaso_comparison", "run_population", "population_output_files", "population_results",
           "LHAASO_COMPONENTS", "LHAASO_DECLINATION", "R39_OVER_RADIUS"]

_FLUX_UNIT = u.Unit("cm-2 s-1 TeV-1")

#: the 1LHAASO field of view in declination [deg] (the catalogue's sources lie within it)
LHAASO_DECLINATION = (-20.0, 80.0)
#: r39 (39 % containment radius) of a projected uniform sphere, in units of its angular radius:
#: 1 - (1 - x^2)^(3/2) = 0.39
R39_OVER_RADIUS = float(np.sqrt(1.0 - 0.61 ** (2.0 / 3.0)))


def __getattr__(name):
    if name == "LHAASO_COMPONENTS":  # re-exported from datasets, imported when asked for
        from ..datasets import LHAASO_COMPONENTS

        return LHAASO_COMPONENTS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lhaaso_comparison(sample, realisations=200, secondary="gamma"):
    """Detectable cocoons against the 1LHAASO catalogue, per component (WCDA at 3 TeV, KM2A at
    50 TeV), for the cocoons in the catalogue's declination band.

    The proxy threshold is the faintest N0 the catalogue lists for that component (a documented
    stand-in for the survey sensitivity, which depends on size and position). Cocoon sizes are
    given as r39 = 0.53 x angular radius (39 % of a projected uniform sphere), the catalogue's
    size measure. Returns a dict with, per component: the catalogue's count, faintest flux and
    sizes, and the realisations' counts above the threshold (median, 16 and 84 %), how many of
    those are larger than the largest catalogue source, and logN-logS curves.
    """
    from ..datasets import catalog_components

    if isinstance(realisations, bool) or not isinstance(realisations, (int, np.integer)) or realisations < 1:
        raise ValueError(f"realisations must be an integer >= 1, got {realisations!r}")
    n_used = min(int(realisations), sample.n)
    if n_used == sample.n:  # every cocoon: no copy of their positions
        members = np.nonzero(_in_declination_band(*_lb(sample.position)))[0]
    else:
        members = np.nonzero(sample.realisation < n_used)[0]
        members = members[_in_declination_band(*_lb(sample.position[members]))]
    index = sample.realisation[members]
    r39 = R39_OVER_RADIUS * sample._angular_radius(members)
    out = {"realisations": n_used, "declination_band_deg": list(LHAASO_DECLINATION), "components": {}}
    for name, entry in catalog_components().items():
        flux = sample.cocoon_flux(entry["energy"].reshape(1), secondary, members)[:, 0].to_value(_FLUX_UNIT)
        threshold = float(np.nanmin(entry["flux"]))
        largest = float(np.max(entry["r39"]))
        above = flux >= threshold
        counts = np.bincount(index[above], minlength=n_used)
        large = np.bincount(index[above & (r39 > largest)], minlength=n_used)
        grid = np.geomspace(threshold / 10.0, max(np.nanmax(entry["flux"]), threshold) * 10.0, 40)
        predicted = _counts_above(flux, index, n_used, grid)  # (grid, n)
        out["components"][name] = {
            "energy_tev": float(entry["energy"].to_value("TeV")),
            "catalog_sources": int(entry["flux"].size),
            "catalog_faintest_flux": threshold,
            "catalog_largest_r39_deg": largest,
            "catalog_median_r39_deg": float(np.median(entry["r39"])),
            "detectable_median": float(np.median(counts)),
            "detectable_16_84": [float(np.percentile(counts, 16)), float(np.percentile(counts, 84))],
            "detectable_larger_than_catalog_largest": float(np.median(large)),
            "lognlogs": {
                "flux": grid.tolist(),
                "catalog": [int(np.sum(entry["flux"] >= s)) for s in grid],
                "cocoons_median": np.median(predicted, axis=1).tolist(),
                "cocoons_16": np.percentile(predicted, 16, axis=1).tolist(),
                "cocoons_84": np.percentile(predicted, 84, axis=1).tolist(),
            },
        }
    return out


def _counts_above(flux, index, n, grid):
    """Cocoons with ``flux`` >= each value of the increasing ``grid``, per realisation ``index``
    (grid.size, n): one histogram over (realisation, grid values at or below the flux), summed from
    the top (the counts of one comparison per grid value)."""
    above = np.searchsorted(grid, flux, side="right")  # how many grid values are <= each flux
    hist = np.bincount(index.astype(np.int64) * (grid.size + 1) + above, minlength=n * (grid.size + 1))
    # a cocoon counts at grid[g] when g < above: sum the histogram over above > g
    return np.cumsum(hist.reshape(n, grid.size + 1)[:, ::-1], axis=1)[:, ::-1][:, 1:].T


def _in_declination_band(l, b):
    """Whether the Galactic directions (l, b) [rad] lie in :data:`LHAASO_DECLINATION`: sin(dec) is
    the ICRS z of the unit vector, by astropy's Galactic-to-ICRS rotation (the transform SkyCoord
    applies; the same dec to ~1e-15 rad)."""
    from ..skyregions import frame_to_galactic

    z_axis = frame_to_galactic("icrs")[:, 2]  # the ICRS pole in Galactic vectors
    l, b = np.asarray(l, float), np.asarray(b, float)
    cos_b = np.cos(b)
    sin_dec = z_axis[0] * cos_b * np.cos(l) + z_axis[1] * cos_b * np.sin(l) + z_axis[2] * np.sin(b)
    dec = np.degrees(np.arcsin(np.clip(sin_dec, -1.0, 1.0)))
    return (dec > LHAASO_DECLINATION[0]) & (dec < LHAASO_DECLINATION[1])


def _grammage_text(law):
    """A grammage law with the units of its parameters (its repr has none: ``r0=20000.0``)."""
    parts = [f"chi0 = {law.chi0:g} g cm-2"]
    if hasattr(law, "r0"):
        parts.append(f"R0 = {law.r0 / 1e3:g} TV")
    if hasattr(law, "delta"):
        parts.append(f"delta = {law.delta:g}")
    return f"{type(law).__name__.replace('Grammage', '').lower()} ({', '.join(parts)})"


def population_output_files(plot=True):
    """Names of the files :func:`run_population` writes."""
    from .._validation import boolean

    boolean(plot, "plot")
    return (["population_summary.json", "population_fluxes.ecsv", "population_lognlogs.ecsv"]
            + (["population.png", "population.pdf"] if plot else []))


def population_results(realisations=1000, n_gas=1 * u.cm**-3, radius=DEFAULT_RADIUS, chi0=0.4 * u.Unit("g cm-2"),
                       r0=20 * u.TV, escape="box", seed=1, target="ism", workers=1, meanwhile=None):
    """Realise the population and summarise it: (flux table, 1LHAASO comparison, summary dict).

    The table holds, per region (all-sky, LHAASO inner and outer) and energy, the smooth
    population mean and the 2.5/16/50/84/97.5 % quantiles and mean of the realisations.
    ``chi0`` is the mass grammage of the cocoon gas ``target`` (ISM by default,
    :class:`~gammapy_cocoons.CocoonEmission`), ``n_gas`` its hydrogen atoms per cm3.

    With ``workers=2``, two steps run in forked copies of this process
    (``analysis.forked.ForkedCall``): the smooth model while this one draws
    the cocoons, then the cocoons' containment in the LHAASO regions (the longest step) while this
    one computes the rest and calls ``meanwhile()`` (if given; e.g. the plotting imports). The
    same numbers on two cores.
    """
    import time

    from astropy.table import QTable

    from .._validation import integer
    from ..skyregions import LHAASO_INNER, LHAASO_OUTER, to_lb_region
    from .forked import ForkedCall

    two = integer(workers, "workers", minimum=1) > 1
    start = time.perf_counter()
    pop = CocoonPopulation(CocoonEmission(chi0=chi0, r0=r0, target=target), n_gas=n_gas, radius=radius, escape=escape,
                           seed=seed)
    energy = np.geomspace(0.3, 300.0, 19) * u.TeV
    three = np.array([3.0]) * u.TeV
    regions = {"all-sky": None, "lhaaso-inner": LHAASO_INNER, "lhaaso-outer": LHAASO_OUTER}
    boxes = [to_lb_region(r) for r in regions.values() if r is not None]
    with ForkedCall(_smooth_fluxes, pop, energy, regions, fork=two, rerun=True) as smooth:
        sample = pop.realise(realisations)
        # the child takes the containment of most chunks of cocoons, this process the first few once
        # it has done the rest (about as long in all; the entries of both concatenate)
        mine = slice(0, len(sample._chunks()) // 6 if two else 0)
        with ForkedCall(sample._containment_entries, boxes, slice(mine.stop, None), fork=two,
                        rerun=True) as containment:
            # meanwhile, what does not need the regions' containment
            flux = {"all-sky": sample.flux(energy).to_value(_FLUX_UNIT)}
            # the flux of all the realisations together, from all cocoons and from those beyond 0.5 and 1 kpc
            summed = {"all-sky": sample._summed_flux(three, None, min_distances=(0.0, 0.5, 1.0))[:, 0]}
            comparison = lhaaso_comparison(sample)
            alive = float(sample.n_alive.mean())
            holding = {f"{r:g}_GV": {"expected": float(pop.mean_number(r * u.GV)),
                                     "sampled_mean": float(sample.number_holding(r * u.GV).mean())}
                       for r in (1e3, 2e4, 1e5)}
            smooth = smooth.result()
            if meanwhile is not None:
                meanwhile()
            first = sample._containment_entries(boxes, mine)
            sample._cache.update({key: tuple(np.concatenate(pair) for pair in zip(first[key], rest))
                                  for key, rest in containment.result().items()})
    for name in ("lhaaso-inner", "lhaaso-outer"):
        flux[name] = sample.flux(energy, regions[name]).to_value(_FLUX_UNIT)
    summed["lhaaso-outer"] = sample._summed_flux(three, LHAASO_OUTER, min_distances=(0.0, 0.5, 1.0))[:, 0]
    near_share = {name: {f"within_{d}_kpc": float(1 - far / total) for d, far in zip((0.5, 1.0), beyond)}
                  for name, (total, *beyond) in summed.items()}
    levels = (0.025, 0.16, 0.5, 0.84, 0.975)
    rows = {"region": [], "energy": [], "smooth": [], **{f"q{100 * q:g}": [] for q in levels}, "mean": []}
    for name in regions:
        quantiles = np.quantile(flux[name], levels, axis=0)
        rows["region"] += [name] * energy.size
        rows["energy"] += list(energy.to_value("TeV"))
        rows["smooth"] += list(smooth[name])
        rows["mean"] += list(flux[name].mean(axis=0))
        for q, values in zip(levels, quantiles):
            rows[f"q{100 * q:g}"] += list(values)
    table = QTable()
    for key, values in rows.items():
        table[key] = values
    table["energy"].unit = u.TeV
    for key in table.colnames[2:]:
        table[key].unit = _FLUX_UNIT
    table.meta["comments"] = [f"cocoon flux of {realisations} realisations (quantiles, mean) and the population mean "
                              f"(smooth, radius {pop.radius:.0f})"]
    summary = {
        "parameters": {"realisations": int(realisations), "n_gas_cm3": pop.n_gas,
                       "n_gas_counts": "hydrogen atoms per cm3", "radius_pc": float(pop.radius.value),
                       "chi0_g_cm2": float(pop.emission.grammage.chi0), "target": pop.emission.target,
                       "chi0_convention": describe_target(pop.emission.target),
                       "grammage": repr(pop.emission.grammage),
                       "grammage_text": _grammage_text(pop.emission.grammage),
                       "escape": escape, "seed": seed, "source_rate_per_yr": pop.distribution.rate_per_yr},
        "lifetime_yr": float(pop.lifetime.to_value("yr")),
        "alive": {"expected": pop.mean_number(), "sampled_mean": alive},
        "holding": holding,
        "flux_share_from_near_cocoons_3tev": near_share,
        "lhaaso_1": comparison,
        "seconds": time.perf_counter() - start,
    }
    return table, comparison, summary


def _smooth_fluxes(population, energy, regions):
    """The population mean (:meth:`~gammapy_cocoons.population.CocoonPopulation.mean_flux`) in each
    of ``regions`` (name -> region) [cm-2 s-1 TeV-1]."""
    return {name: population.mean_flux(energy, region).to_value(_FLUX_UNIT) for name, region in regions.items()}


def _plotting_imports():
    """Import what the population figure needs (matplotlib's pyplot and PDF backend, half a second)."""
    import matplotlib.backends.backend_pdf  # noqa: F401
    import matplotlib.pyplot  # noqa: F401


def run_population(outdir, realisations=1000, n_gas=1 * u.cm**-3, radius=DEFAULT_RADIUS, chi0=0.4 * u.Unit("g cm-2"),
                   r0=20 * u.TV, escape="box", seed=1, overwrite=False, plot=True, target="ism", workers=1):
    """Realise the cocoon population and write its summary, flux quantiles, the 1LHAASO comparison
    and (``plot``) population.png/pdf. Every option and output is checked before anything is
    written; a run that fails or is interrupted leaves none of its files. ``workers=2``: the
    containment (:func:`population_results`) and the PDF (while this process draws the PNG) in
    forked copies of this process, the same outputs on two cores."""
    from .._files import output_set, prepare_outdir
    from .._validation import boolean, integer

    overwrite, plot = boolean(overwrite, "overwrite"), boolean(plot, "plot")
    integer(realisations, "realisations", minimum=1)
    workers = integer(workers, "workers", minimum=1)
    # the model's own checks (n_gas, radius, chi0, r0, escape, seed) before anything is written
    CocoonPopulation(CocoonEmission(chi0=chi0, r0=r0, target=target), n_gas=n_gas, radius=radius, escape=escape,
                     seed=seed)
    with output_set(outdir):
        outdir = prepare_outdir(outdir, population_output_files(plot), overwrite)
        return _run_population(outdir, realisations, n_gas, radius, chi0, r0, escape, seed, overwrite, plot, target,
                               workers)


def _run_population(outdir, realisations, n_gas, radius, chi0, r0, escape, seed, overwrite, plot, target, workers):
    import json
    from pathlib import Path

    from astropy.table import QTable

    from .._files import publish, publish_table, publish_text

    table, comparison, summary = population_results(realisations, n_gas, radius, chi0, r0, escape, seed, target,
                                                    workers, _plotting_imports if plot else None)
    publish_table(table, outdir / "population_fluxes.ecsv", overwrite, format="ascii.ecsv")
    lognlogs = QTable()
    for name, entry in comparison["components"].items():
        curves = entry["lognlogs"]
        lognlogs[f"{name}_flux"] = curves["flux"] * _FLUX_UNIT
        for key in ("catalog", "cocoons_median", "cocoons_16", "cocoons_84"):
            lognlogs[f"{name}_{key}"] = curves[key]
    lognlogs.meta["comments"] = ["N(>S) of the 1LHAASO components and of the cocoons in the catalogue's declination "
                                 "band, S = differential flux at the component's E0 (WCDA 3 TeV, KM2A 50 TeV)"]
    publish_table(lognlogs, outdir / "population_lognlogs.ecsv", overwrite, format="ascii.ecsv")
    if plot:
        from .forked import ForkedCall
        from .plotting import POPULATION_DPI, _figure_bytes, _publish_measured, plot_population

        fig = plot_population(table, comparison, summary)
        # with two workers the PDF is drawn in a forked copy while this process draws the PNG
        with ForkedCall(_figure_bytes, fig, "pdf", POPULATION_DPI, fork=workers > 1, rerun=True) as pdf:
            # the overlaps measured on the PNG's own draw: one draw for both
            overlaps = _publish_measured(fig, outdir / "population.png", overwrite, dpi=POPULATION_DPI)
            summary["figure_text_overlaps"] = {"population.png": overlaps}
            content = pdf.result()
        publish(outdir / "population.pdf", lambda temporary: Path(temporary).write_bytes(content), overwrite)
    publish_text(outdir / "population_summary.json", json.dumps(summary, indent=2), overwrite)
    return summary
