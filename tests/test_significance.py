"""Significance of the cocoons (issue 23, item 7): the half-chi2 p-value at fixed R0, the
Gross-Vitells look-elsewhere bound, and the toy calibration on a tiny toy set."""
import os

import numpy as np
import pytest
from scipy.stats import chi2

from gammapy_cocoons.analysis.significance import (calibrate, empirical_pvalue, fixed_r0_pvalue, free_r0_significance,
                                                   gross_vitells_pvalue, significance, upcrossings)


def test_half_chi2_and_one_sided_z():
    # the 90 % quantile of chi2 with 1 dof is 2.7055: half of 10 % beyond it
    assert fixed_r0_pvalue(2.705543) == pytest.approx(0.05, rel=1e-5)
    assert significance(fixed_r0_pvalue(9.0)) == pytest.approx(3.0, rel=1e-9)  # Z = sqrt(TS) on a boundary
    assert fixed_r0_pvalue(0.0) == 1.0 and fixed_r0_pvalue(-1e-9) == 1.0 and significance(0.7) == 0.0
    with pytest.raises(ValueError, match="ts"):
        fixed_r0_pvalue(np.nan)


def test_gross_vitells_bound_by_hand():
    u, n0, c0 = 12.0, 0.8, 0.5
    assert gross_vitells_pvalue(u, n0, c0) == pytest.approx(0.5 * chi2.sf(u, 1) + n0 * np.exp(-(u - c0) / 2), rel=1e-12)
    assert gross_vitells_pvalue(u, 0.0, c0) == pytest.approx(fixed_r0_pvalue(u))  # no look elsewhere: local
    assert gross_vitells_pvalue(0.3, 1.0, c0) == 1.0
    with pytest.raises(ValueError, match="mean_upcrossings"):
        gross_vitells_pvalue(u, -1.0)
    assert upcrossings([0.0, 0.6, 0.2, 0.4, 0.9, 0.1, 0.5], 0.5) == 3
    assert empirical_pvalue(2.0, [0.0, 1.0, 3.0]) == pytest.approx(2 / 4)


def test_calibration_on_a_tiny_toy_set():
    """Toys from the null of a small likelihood (Fermi pi0 DGE, LHAASO outer + ARGO): every TS >= 0,
    free R0 at least the R0 = 20 TV one, the measured data restored; the toys' p-value and the bound."""
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood, default_r0_grid
    from gammapy_cocoons.analysis.likelihood import build_likelihood

    like = build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0",
                            datasets=("lhaaso-km2a-2023-outer", "argo-ybj-2015"))
    compiled = CompiledLikelihood(like)
    data = compiled._value_flat.copy()
    null = compiled.null_fit()
    grid = default_r0_grid()[::3]
    result = calibrate(compiled, null.parameters, n_toys=6, seed=3, r0_grid=np.append(grid, 20.0))
    assert np.all(result["ts_free"] >= 0) and np.all(result["ts_free"] >= result["ts_20"] - 1e-9)
    assert np.array_equal(compiled._value_flat, data) and compiled.aux == {k: 1.0 for k in compiled.priors}
    summary = free_r0_significance(3.0, result)
    assert summary["n_toys"] == 6 and 0 < summary["p_toys"] <= 1 and summary["p_global"] >= fixed_r0_pvalue(3.0)
    # bad toy counts and R0 grids: one line naming them, before any toy
    for kwargs, error in (({"n_toys": 2.5}, TypeError), ({"n_toys": 0}, ValueError),
                          ({"r0_grid": [20.0]}, ValueError), ({"r0_grid": [1.0, float("nan")]}, ValueError),
                          ({"r0_grid": [[1.0, 2.0]]}, ValueError), ({"r0_grid": [-1.0, 2.0]}, ValueError)):
        with pytest.raises(error, match=next(iter(kwargs))):
            calibrate(compiled, null.parameters, **kwargs)
    assert np.array_equal(calibrate(compiled, null.parameters, n_toys=1, seed=3, r0_grid=[50.0, 5.0])["r0_grid"],
                          [5.0, 50.0])  # scanned along increasing R0
    with pytest.raises(ValueError, match="hypothesis"):
        calibrate(CompiledLikelihood(build_likelihood(hypothesis="dge", dge="fermi-pi0",
                                                      datasets=("argo-ybj-2015",))), {}, n_toys=1)


def test_the_toys_r0_scan_finds_what_a_multi_start_search_finds():
    """The toys' R0 scan follows the data's rule: the first node from the toy's start and from the
    defaults with chi0 = 0.4, each later node from the previous node's best fit only (nodes + 1
    fits). On toys of a small likelihood its statistic at every node is that of the best of three
    starts per node (the toy's start, the defaults with chi0 = 0.4, the toy's start with chi0 = 2),
    to 1e-4."""
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood, default_r0_grid
    from gammapy_cocoons.analysis.likelihood import build_likelihood

    compiled = CompiledLikelihood(build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0",
                                                   datasets=("lhaaso-km2a-2023-outer", "argo-ybj-2015")))
    null = dict(compiled.null_fit().parameters, chi0=0.0)
    grid = np.append(default_r0_grid()[::3], 20.0)
    grid.sort()
    rng = np.random.default_rng(5)
    fit = compiled.fit
    starts = []

    def recorded(start=None, free=None, fixed=None):
        starts.append((dict(start), dict(fixed)))
        return fit(start=start, free=free, fixed=fixed)

    try:
        for _ in range(4):
            compiled.set_data(compiled.simulate(null, rng))
            start = dict(compiled.null_fit(start=null).parameters, chi0=0.05)
            starts.clear()
            compiled.fit = recorded
            _, stats, fits = compiled.r0_scan(grid, start=start)
            compiled.fit = fit
            # where each fit started: node 0 from the toy's start and the defaults with chi0 = 0.4,
            # node k > 0 from node k - 1's best fit, once
            assert len(starts) == grid.size + 1
            assert starts[0] == (start, {"r0": grid[0]})
            assert starts[1] == (dict(compiled.defaults(), chi0=0.4), {"r0": grid[0]})
            for k in range(1, grid.size):
                assert starts[k + 1] == (fits[k - 1].parameters, {"r0": grid[k]})
            for r0, stat in zip(grid, stats):
                fixed = {"r0": float(r0)}
                searched = min(fit(start=s, fixed=fixed).stat for s in (start, dict(compiled.defaults(), chi0=0.4),
                                                                        dict(start, chi0=2.0)))
                assert stat <= searched + 1e-4, (r0, stat, searched)
    finally:
        compiled.fit = fit
        compiled.set_data(None)


def test_toys_are_drawn_as_the_statistic_assumes():
    """At the true parameters the statistic of a toy is a chi2 of as many degrees of freedom as
    measurements (points, the IceCube flux, the constraint terms' auxiliary measurements): its mean
    over toys is that number, and the upper error applies below the model as often as errp / (errp + errn)."""
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood
    from gammapy_cocoons.analysis.likelihood import build_likelihood

    compiled = CompiledLikelihood(build_likelihood(hypothesis="dge", dge="fermi-pi0",
                                                   datasets=("lhaaso-km2a-2023-outer", "argo-ybj-2015",
                                                             "icecube-2023-pi0")))
    truth = dict(compiled.defaults(), norm=1.8)
    rng = np.random.default_rng(2)
    stats, below = [], []
    try:
        for _ in range(400):
            compiled.set_data(compiled.simulate(truth, rng))
            stats.append(compiled.stat(truth))
            below.append(compiled._value_flat < compiled._model_flat(truth))
    finally:
        compiled.set_data(None)
    n = compiled.n_points() + len(compiled.priors)
    assert np.mean(stats) == pytest.approx(n, abs=4 * np.sqrt(2 * n / 400))
    expected = compiled._errp / (compiled._errp + compiled._errn)
    assert np.mean(below, axis=0) == pytest.approx(expected, abs=0.1)


def test_forked_toys_are_the_same_toys(monkeypatch):
    """calibrate(fork=True): half of the toys in a forked child, the same numbers as one process (the
    draws in toy order from one generator); the measured data restored; a child that fails reruns
    its toys here (the same numbers again)."""
    from gammapy_cocoons.analysis import forked
    from gammapy_cocoons.analysis.compiled import CompiledLikelihood, default_r0_grid
    from gammapy_cocoons.analysis.likelihood import build_likelihood

    compiled = CompiledLikelihood(build_likelihood(hypothesis="dge+cocoons", dge="fermi-pi0",
                                                   datasets=("lhaaso-km2a-2023-outer", "argo-ybj-2015")))
    data = compiled._value_flat.copy()
    null = compiled.null_fit()
    grid = np.append(default_r0_grid()[::4], 20.0)
    alone = calibrate(compiled, null.parameters, n_toys=5, seed=11, r0_grid=grid)
    forks = []  # (forked, rows) of each ForkedCall's result
    result = forked.ForkedCall.result
    monkeypatch.setattr(forked.ForkedCall, "result", lambda self: forks.append(
        (self.forked, len(value := result(self)))) or value)
    together = calibrate(compiled, null.parameters, n_toys=5, seed=11, r0_grid=grid, fork=True)
    assert forks == [(True, 2)]  # toys 4 and 5 in the child
    for key in ("ts_free", "ts_20"):
        assert np.array_equal(together[key], alone[key])
    assert together["mean_upcrossings"] == alone["mean_upcrossings"] and np.any(alone["ts_free"] > 0)
    assert np.array_equal(compiled._value_flat, data)
    one = calibrate(compiled, null.parameters, n_toys=1, seed=11, r0_grid=grid, fork=True)  # nothing to split
    assert len(forks) == 1 and one["ts_free"][0] == alone["ts_free"][0]
    monkeypatch.setattr(forked, "_child", lambda function, args, write: os._exit(1))  # a child that dies
    again = calibrate(compiled, null.parameters, n_toys=5, seed=11, r0_grid=grid, fork=True)
    assert np.array_equal(again["ts_free"], alone["ts_free"])
