"""gammapy-cocoons compare (issue 23, item 5 and the answer) on a reduced setting."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from gammapy_cocoons.analysis.compare import _interval, run_compare
from gammapy_cocoons.cli import main


def test_profile_interval_of_a_parabola():
    x = np.linspace(0.0, 2.0, 9)
    interval, open_ends = _interval(x, 10.0 + ((x - 1.0) / 0.2) ** 2, 1.0, 10.0)
    assert interval == pytest.approx([0.8, 1.2], abs=1e-9) and open_ends == []
    # at a boundary: the end is the grid's, flagged
    interval, open_ends = _interval(x, 10.0 + (x / 0.5) ** 2, 0.0, 10.0)
    assert interval == pytest.approx([0.0, 0.5]) and open_ends == ["low"]


def test_compare_command_reduced(tmp_path, written_figures):
    """Three hypotheses, the Fermi pi0 baseline, two datasets, two toys, in this process."""
    outdir = tmp_path / "cmp"
    result = CliRunner().invoke(main, [
        "compare", "--outdir", str(outdir), "--dge", "fermi-pi0", "--hypotheses", "dge", "--hypotheses", "dge+cocoons",
        "--hypotheses", "dge+ecpl", "--hypotheses", "radial-delta", "--datasets", "lhaaso-km2a-2023-outer",
        "--datasets", "argo-ybj-2015", "--toys", "2", "--no-bc", "--workers", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    data = json.loads((outdir / "compare.json").read_text())
    rows = {r["hypothesis"]: r for r in data["rows"]}
    assert set(rows) == {"dge", "dge+cocoons", "dge+ecpl"}  # radial-delta changes the embedded DGE only
    assert all(r["dge"] == "fermi-pi0 min" for r in data["rows"])
    assert rows["dge"]["ts_cocoons"] is None and rows["dge"]["chi0"] is None
    cocoons = rows["dge+cocoons"]
    # the cocoons' null is hypothesis (a): TS = stat(a) - stat(b)
    assert cocoons["ts_cocoons"] == pytest.approx(rows["dge"]["stat"] - cocoons["stat"], abs=5e-3)
    low, high = cocoons["chi0"]["interval_68"]
    assert low <= cocoons["chi0"]["value"] <= high and cocoons["r0"]["unit"] == "TV"
    assert min(r["delta_aic"] for r in data["rows"]) == 0.0
    assert rows["dge"]["ndof"] - cocoons["ndof"] == 2  # chi0 and R0
    for row in data["rows"]:  # the compiled statistic is gammapy's
        assert row["stat_gammapy"] == pytest.approx(row["stat"], abs=1e-3)
    answer = data["answer"][0]
    assert answer["dge"] == "fermi-pi0 min" and answer["preferred"] in rows and answer["n_toys"] == 2
    assert answer["z_r0_20"] == pytest.approx(np.sqrt(answer["ts_r0_20"]), rel=1e-6)
    markdown = (outdir / "compare.md").read_text()
    assert "## The answer" in markdown and "fermi-pi0 min" in markdown
    assert not any(data["figure_text_overlaps"].values()) and (outdir / "residuals.png").stat().st_size > 0
    assert written_figures == {"residuals.png": (150, 150)}  # made at the dpi it is written at (plotting.figures_at)
    assert "preferred=" in result.output


def test_compare_bad_input(tmp_path):
    bad = CliRunner().invoke(main, ["compare", "--outdir", str(tmp_path / "x"), "--hypotheses", "cocoons-only"])
    assert bad.exit_code == 2 and "--hypotheses" in bad.output and "Traceback" not in bad.output
    with pytest.raises(ValueError, match="hypotheses"):
        run_compare(hypotheses=("dge", "nonsense"))
    with pytest.raises(ValueError, match="datasets"):
        run_compare(datasets=("ams02-bc",))
    with pytest.raises(ValueError, match="n_toys"):
        run_compare(n_toys=-1)
    # refused before any task starts (issue 24's fuzz campaign: these failed inside the tasks)
    for kwargs, error, match in (({"seed": -1}, ValueError, "seed"), ({"seed": "x"}, TypeError, "seed"),
                                 ({"energy_scales": {"lhaaso-km2a": -1}}, ValueError, "energy_scales"),
                                 ({"energy_scales": {"hawc": 0.1}}, ValueError, "energy_scales"),
                                 ({"target": "he"}, ValueError, "target"), ({"grammage": "x"}, ValueError, "grammage"),
                                 ({"hypotheses": "dge"}, TypeError, "hypotheses"),
                                 ({"datasets": "argo-ybj-2015"}, TypeError, "datasets"),
                                 ({"hypotheses": ("radial-delta",), "dge_choices": [("fermi-pi0", "min")]}, ValueError,
                                  "nothing would be fitted")):
        with pytest.raises(error, match=match):
            run_compare(outdir=tmp_path / "x", executor=_NoExecutor(), **kwargs)
    path = tmp_path / "dge.fits"
    path.write_text("x")
    with pytest.raises(ValueError, match="icecube-2023-pi0"):
        run_compare(dge_choices=[(str(path), "min")])
    assert not (tmp_path / "x").exists()


class _NoExecutor:
    """An executor that fails the test if any task reaches it."""

    def submit(self, *args, **kwargs):
        raise AssertionError("a task started before the input was checked")
