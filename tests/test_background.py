"""analysis.background: one function in a fresh interpreter, joined later; its result exact, its
failure reported, its warnings issued again in the caller, and cancel ends it. The children run
side by side (each imports the package once, ~2 s)."""
import time

import pytest

from gammapy_cocoons.analysis.background import BackgroundCall, BackgroundError


def test_a_child_returns_raises_warns_and_is_cancelled():
    values = [0.1] * 10 + [1e-17]
    calls = {"sum": BackgroundCall("math:fsum", values), "fails": BackgroundCall("math:sqrt", -1.0),
             "warns": BackgroundCall("warnings:warn", "a warning from the child"),
             "sleeps": BackgroundCall("time:sleep", 60)}
    import math

    assert calls["sum"].result() == math.fsum(values)  # a float through JSON, exactly
    with pytest.raises(BackgroundError, match="math:sqrt failed in its child process.*math domain error"):
        calls["fails"].result()
    with pytest.warns(UserWarning, match="a warning from the child"):
        assert calls["warns"].result() is None
    start = time.perf_counter()
    assert calls["sleeps"].running()
    calls["sleeps"].cancel()
    assert not calls["sleeps"].running() and time.perf_counter() - start < 10
    with pytest.raises(BackgroundError, match="cancelled or already collected"):
        calls["sleeps"].result()


def test_bad_target_is_refused():
    with pytest.raises(ValueError, match="target must be 'module:function'"):
        BackgroundCall("math.fsum")


def test_reproduce_fits_the_answer_row_itself_when_its_child_fails(monkeypatch, caplog):
    """A failed child is reported (a warning naming the error) and its fits are done in the caller."""
    from gammapy_cocoons.analysis import answer, reproduce

    rows = [{"hypothesis": "dge", "dge": "embedded min", "stat": 10.0, "ndof": 5, "aic": 12.0, "ts_cocoons": None,
             "chi0": None, "r0": None}]
    monkeypatch.setattr(answer, "answer_fits", lambda dge: {"rows": [dict(r) for r in rows], "seconds": 0.0})
    bc = {"parameters": {"chi0": {"value": 0.48, "error": 0.04}}, "chi0_interval_68": [0.44, 0.52]}
    failed = BackgroundCall("math:sqrt", -1.0)
    with caplog.at_level("WARNING"):
        row, _ = reproduce._answer_row("embedded", bc, failed)
    assert "math domain error" in caplog.text and "fitting in this process instead" in caplog.text
    assert row["preferred"] == "dge" and row["rows"][0]["delta_aic"] == 0.0 and row["chi0_bc"]["value"] == 0.48


def test_reproduce_refuses_an_answer_that_is_not_a_choice_or_a_child(tmp_path):
    from gammapy_cocoons.analysis.reproduce import reproduce

    with pytest.raises(TypeError, match="answer must be True, False or a child of answer.start_answer"):
        reproduce(tmp_path / "out", answer="background")
    assert not (tmp_path / "out").exists()


def test_the_command_line_ends_the_answer_child_it_started_when_the_run_fails_first(tmp_path, monkeypatch):
    # reproduce's child starts before the output check (its imports overlap the command's): a run
    # refused by that check ends it
    from click.testing import CliRunner

    from gammapy_cocoons.analysis import answer
    from gammapy_cocoons.cli import main

    events = []

    class Child(BackgroundCall):  # a child that never ran
        def __init__(self):
            pass

        def cancel(self):
            events.append("cancelled")

    from gammapy_cocoons.analysis.forked import can_fork
    from gammapy_cocoons.cli import _two_cores
    from gammapy_cocoons.dge import conventional

    def start(dge, fork=False):
        # forked (Linux, two cores) inside the prefetch block: the helper's state is expected there
        events.append(("started", dge))
        assert fork is (can_fork() and _two_cores() > 1)
        assert (conventional._EXPECTED is not None) is fork
        return Child()

    monkeypatch.setattr(answer, "start_answer", start)
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "SUMMARY.md").write_text("an earlier run's")
    result = CliRunner().invoke(main, ["reproduce", "--outdir", str(outdir)])  # refused by reproduce()
    assert result.exit_code == 2 and "SUMMARY.md" in result.output
    assert events[0] == ("started", "embedded") and set(events[1:]) == {"cancelled"}  # (cancel is idempotent)
    assert (outdir / "SUMMARY.md").read_text() == "an earlier run's"
    events.clear()  # refused before reproduce() runs: the command line ends it
    result = CliRunner().invoke(main, ["reproduce", "--outdir", str(tmp_path / "new"), "--points", "missing.ecsv"])
    assert result.exit_code == 2 and "--points" in result.output
    assert events == [("started", "embedded"), "cancelled"] and not (tmp_path / "new").exists()


def test_reproduce_ends_a_forked_answer_child_and_what_it_forked_when_the_run_fails(tmp_path):
    """A run refused by the output check ends the answer row's forked child (start_answer(fork=True)),
    its process group with it."""
    import os
    import time

    from gammapy_cocoons.analysis.forked import ForkedCall, can_fork
    from gammapy_cocoons.analysis.reproduce import reproduce

    if not can_fork():
        pytest.skip("ForkedCall forks on Linux only")
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "SUMMARY.md").write_text("an earlier run's")
    child = ForkedCall(time.sleep, 60, new_group=True)
    pid = child._pid
    with pytest.raises(FileExistsError):
        reproduce(outdir, answer=child)
    assert not child.forked
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the group is gone
