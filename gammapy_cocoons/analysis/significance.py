"""Significance of the cocoons done right (issue 23, item 7).

The cocoon test statistic TS = stat(no cocoons) - stat(best fit) has two complications:

* chi0 >= 0 is a boundary: under the null, with R0 fixed, TS follows half a chi2 of 1 dof (a
  point mass 1/2 at 0 and chi2_1 / 2 above; Chernoff 1954): p = P(chi2_1 > TS) / 2 and the one-sided
  significance Z = sqrt(TS). :func:`fixed_r0_pvalue` is this, for R0 = 20 TV (the paper's).
* with R0 free, R0 is undefined under the null (chi0 = 0): Wilks' theorem does not hold. TS_free
  = max over R0 of TS(R0), R0 within :data:`~.compiled.PARAMETER_BOUNDS` (1-1000 TV: below 1 TV the
  cocoons leave the data's energies, above 1 PV = p_max of protons the exponential cut-off no longer
  shapes the spectrum and the cocoons become a fixed power law with the source's cut-off, a special
  case of hypothesis (c)). It is calibrated with toy experiments drawn from the null's best fit
  (:func:`calibrate`), and by the look-elsewhere correction of Gross & Vitells (2010, Eur. Phys. J.
  C 70, 525) for a chi2 process of 1 dof, whose one constant is the mean number of upcrossings of
  a low level c0 along the R0 scan, counted in the toys:

      p_global = P(chi2_1 > u) / 2 + <N(c0)> exp(-(u - c0) / 2)      (:func:`gross_vitells_pvalue`)

  The toys' own fraction above the observed TS is reported beside it (:func:`empirical_pvalue`);
  the bound is the headline where the toys run out.
"""
import numpy as np
from scipy.stats import chi2, norm

__all__ = ["fixed_r0_pvalue", "significance", "upcrossings", "gross_vitells_pvalue", "empirical_pvalue",
           "calibrate", "UPCROSSING_LEVEL", "free_r0_significance"]

#: the low level c0 whose upcrossings the toys count (Gross & Vitells 2010)
UPCROSSING_LEVEL = 0.5


def _ts(value, name="ts"):
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return max(value, 0.0)


def fixed_r0_pvalue(ts):
    """p of a TS with one parameter on its boundary (half chi2 of 1 dof): P(chi2_1 > TS) / 2, and 1 at TS = 0."""
    ts = _ts(ts)
    return 1.0 if ts <= 0 else float(0.5 * chi2.sf(ts, 1))


def significance(p):
    """One-sided Gaussian significance Z of a p-value (0 for p >= 0.5)."""
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be within [0, 1], got {p!r}")
    return float(max(norm.isf(p), 0.0)) if p > 0 else float("inf")


def upcrossings(curve, level=UPCROSSING_LEVEL):
    """Times ``curve`` (TS along the R0 scan) crosses ``level`` from below."""
    curve = np.asarray(curve, dtype=float)
    return int(np.sum((curve[:-1] < level) & (curve[1:] >= level)))


def gross_vitells_pvalue(ts, mean_upcrossings, level=UPCROSSING_LEVEL):
    """Global p of a free-R0 TS: P(chi2_1 > u) / 2 + <N(c0)> exp(-(u - c0) / 2), capped at 1
    (Gross & Vitells 2010, Eq. 2 with s = 1 and the one-sided local term)."""
    ts = _ts(ts)
    mean_upcrossings = float(mean_upcrossings)
    if not (np.isfinite(mean_upcrossings) and mean_upcrossings >= 0):
        raise ValueError(f"mean_upcrossings must be finite and >= 0, got {mean_upcrossings!r}")
    if ts <= level:
        return 1.0
    return float(min(1.0, fixed_r0_pvalue(ts) + mean_upcrossings * np.exp(-(ts - level) / 2.0)))


def empirical_pvalue(ts, toys):
    """(1 + toys at or above TS) / (1 + toys): the toys' p-value (never 0)."""
    toys = np.asarray(toys, dtype=float)
    return float((1 + np.sum(toys >= _ts(ts) - 1e-9)) / (1 + toys.size))


def calibrate(compiled, null_parameters, n_toys=50, seed=20261206, r0_grid=None, level=UPCROSSING_LEVEL, fork=False):
    """Toy experiments of the cocoon TS under the null (no cocoons) for a compiled likelihood of
    hypothesis "dge+cocoons" (:class:`~.compiled.CompiledLikelihood`).

    Each toy draws data and auxiliary measurements from the model at ``null_parameters`` (chi0 = 0;
    :meth:`~.compiled.CompiledLikelihood.simulate`), refits the null, scans R0 over ``r0_grid``
    (sorted; default :func:`~.compiled.default_r0_grid`, which holds 20 TV) with chi0 >= 0 free, and records
    TS(R0). The measured data are restored afterwards. ``fork``: the second half of the toys in a
    forked child (:class:`~.forked.ForkedCall`: for the command line only; the caller decides)
    beside the first half here; the same numbers (the toys' draws come from one generator in toy
    order, each toy's fits depend on its draws only).

    Returns
    -------
    dict
        ``ts_free`` and ``ts_20`` (arrays over toys), ``mean_upcrossings`` (of ``level``),
        ``level``, ``n_toys``, ``seed``, ``r0_grid``.
    """
    from .._validation import boolean, integer
    from .compiled import default_r0_grid

    fork = boolean(fork, "fork")
    if compiled.hypothesis != "dge+cocoons":
        raise ValueError(f"hypothesis must be 'dge+cocoons' to calibrate the cocoon TS, got {compiled.hypothesis!r}")
    n_toys = integer(n_toys, "n_toys", minimum=1)
    if r0_grid is None:
        grid = default_r0_grid()
    else:  # the scan runs along increasing R0 (warm starts, upcrossings)
        grid = np.asarray(r0_grid, dtype=float)
        if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid) & (grid > 0)):
            raise ValueError(f"r0_grid must be two or more finite R0 > 0 [TV], got {r0_grid!r}")
        grid = np.unique(grid)
    rng = np.random.default_rng(seed)
    null = dict(null_parameters, chi0=0.0)
    split = (n_toys + 1) // 2 if fork and n_toys > 1 else n_toys
    # the first toys drawn here; the others from the generator where they stop (a toy's draws do
    # not depend on any fit: the same toys in one process or two)
    first = _draws(compiled, null, rng, split) if split == n_toys else list(_draws(compiled, null, rng, split))
    if split < n_toys:
        from .forked import ForkedCall

        rest = _draws(compiled, null, rng, n_toys - split)  # drawn in the child (or here, if it fails)
        with ForkedCall(_toy_curves, compiled, null, rest, grid, level, rerun=True) as later:
            curves = np.concatenate([_toy_curves(compiled, null, first, grid, level), later.result()])
    else:
        curves = _toy_curves(compiled, null, first, grid, level)
    ts_free, ts_20, crossings = curves.T
    return {"ts_free": ts_free, "ts_20": ts_20, "mean_upcrossings": float(crossings.mean()), "level": level,
            "n_toys": n_toys, "seed": seed, "r0_grid": grid}


def _draws(compiled, null, rng, n):
    """The next ``n`` toy states of ``rng`` (one at a time: a toy's arrays are not all kept)."""
    for _ in range(n):
        yield compiled.simulate(null, rng)


def _toy_curves(compiled, null, toys, grid, level):
    """(TS free, TS at 20 TV, upcrossings of ``level``) of each toy state of the iterable ``toys``
    (rows); the measured data restored afterwards."""
    at_20 = int(np.argmin(np.abs(np.log(grid / 20.0))))
    out = []
    try:
        for state in toys:
            compiled.set_data(state)
            null_fit = compiled.null_fit(start=null)
            _, stats, _ = compiled.r0_scan(grid, start=dict(null_fit.parameters, chi0=0.05))
            curve = np.maximum(null_fit.stat - stats, 0.0)
            out.append((curve.max(), curve[at_20], upcrossings(curve, level)))
    finally:
        compiled.set_data(None)
    return np.array(out, dtype=float).reshape(-1, 3)


def free_r0_significance(ts_free, calibration):
    """Global p and Z of an observed free-R0 TS from a :func:`calibrate` result: the Gross-Vitells
    bound with the toys' upcrossings (headline) and the toys' own p-value beside it."""
    p_gv = gross_vitells_pvalue(ts_free, calibration["mean_upcrossings"], calibration["level"])
    p_toys = empirical_pvalue(ts_free, calibration["ts_free"])
    return {"p_global": p_gv, "z_global": significance(p_gv), "p_toys": p_toys, "z_toys": significance(p_toys),
            "n_toys": calibration["n_toys"], "mean_upcrossings": calibration["mean_upcrossings"],
            "upcrossing_level": calibration["level"],
            "toys_half_chi2_check": {"fraction_ts20_zero": float(np.mean(calibration["ts_20"] <= 1e-6)),
                                     "mean_ts20": float(np.mean(calibration["ts_20"]))}}
