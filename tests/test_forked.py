"""ForkedCall: a function in a forked child on the parent's data, its result, exception and warnings
back; with rerun=True a failed child's call runs in the parent; in this process where forking is off."""
import os
import time

import numpy as np
import pytest

from gammapy_cocoons.analysis import forked
from gammapy_cocoons.analysis.forked import ForkedCall, can_fork

needs_fork = pytest.mark.skipif(not can_fork(), reason="ForkedCall forks on Linux only")


@needs_fork
def test_the_function_runs_in_a_child_and_its_result_comes_back():
    parent = os.getpid()
    call = ForkedCall(lambda: {"pid": os.getpid(), "values": [1.5, float("inf")]})
    assert call.forked
    result = call.result()
    assert result["pid"] != parent and result["values"] == [1.5, float("inf")]
    with pytest.raises(RuntimeError, match="once"):
        call.result()


@needs_fork
def test_the_childs_exception_is_raised_here_with_its_type_and_message():
    def fail():
        raise ValueError("energy must be within the DGE cube's range")

    with pytest.raises(ValueError, match="DGE cube's range"):
        ForkedCall(fail).result()


@needs_fork
def test_a_child_that_dies_is_reported_and_a_cancelled_one_is_ended():
    with pytest.raises(RuntimeError, match="without a result"):
        ForkedCall(lambda: os._exit(3)).result()
    start = time.perf_counter()
    with ForkedCall(lambda: time.sleep(30)) as call:
        pid = call._pid
    assert time.perf_counter() - start < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # ended and reaped


def test_without_fork_the_function_runs_here_when_the_result_is_asked(monkeypatch):
    calls = []
    call = ForkedCall(lambda: calls.append(os.getpid()) or "done", fork=False)
    assert not call.forked and calls == []
    assert call.result() == "done" and calls == [os.getpid()]
    monkeypatch.setattr(forked, "can_fork", lambda: False)  # macOS, Windows
    assert not ForkedCall(lambda: None).forked


@needs_fork
def test_a_parallel_fit_writes_the_same_files_as_a_sequential_one(tmp_path, monkeypatch):
    """run_lhaaso_fit(parallel=True) prepares the best fit's outputs (figures, neutrinos, template,
    covariance) in a forked child, fits the other DGE normalisations in another, and
    builds a missing neutrino cube in a third: byte for byte the files of the sequential run (the
    YAML up to its random link names and date, the summary up to its timings), and no private
    directory left."""
    import json
    import re

    from gammapy_cocoons.analysis import fitting
    from gammapy_cocoons.dge import conventional

    options = dict(profiles=False, alternative=True, dge_norm_options=False)
    summaries = {}
    summaries[False] = fitting.run_lhaaso_fit(tmp_path / "False", parallel=False, **options)
    # the neutrino cube as if missing from the disk cache: its child is started (and here only says so)
    monkeypatch.setattr(conventional, "cube_on_disk", lambda *args, **kwargs: False)
    monkeypatch.setattr(fitting, "_store_neutrino_cube", lambda variant: (tmp_path / f"nu-{os.getpid()}").touch())
    summaries[True] = fitting.run_lhaaso_fit(tmp_path / "True", parallel=True, **options)
    markers = [p.name for p in tmp_path.glob("nu-*")]
    assert len(markers) == 1 and markers[0] != f"nu-{os.getpid()}"
    assert "alternative" in summaries[True]
    names = sorted(p.name for p in (tmp_path / "False").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "True").iterdir())  # nothing hidden left behind
    assert {"sed_inner.png", "neutrinos.png", "dge_template.fits", "fit_result_covariance.dat"} <= set(names)
    for name in names:
        a, b = ((tmp_path / str(parallel) / name).read_bytes() for parallel in (False, True))
        if name == "fit_result.yaml":
            a, b = (re.sub(rb"date: '[^']*'", b"", re.sub(rb"@[A-Za-z0-9_-]{8}", b"@", t)) for t in (a, b))
        if name == "fit_summary.json":
            a, b = ({k: v for k, v in json.loads(t).items() if not k.startswith("time_")} for t in (a, b))
        assert a == b, name
    assert summaries[True]["figure_text_overlaps"] == summaries[False]["figure_text_overlaps"]


@needs_fork
def test_a_fit_whose_children_cannot_start_runs_their_steps_here(tmp_path, monkeypatch):
    """os.fork failing (EAGAIN, ENOMEM): every step of a parallel fit runs in this process, with its
    own arguments (no pipe end closed twice, the build's deferred cache entries written), and the
    files are those of a sequential run."""
    from gammapy_cocoons.analysis import fitting

    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    options = dict(profiles=False, alternative=False, dge_norm_options=False, plot=False)
    fitting.run_lhaaso_fit(tmp_path / "sequential", parallel=False, **options)
    monkeypatch.setattr(forked.os, "fork", no_fork)
    witness = open(tmp_path / "witness.txt", "w")  # a descriptor a stale close could hit
    try:
        fitting.run_lhaaso_fit(tmp_path / "parallel", parallel=True, **options)
        witness.write("still open")
    finally:
        witness.close()
    assert (tmp_path / "witness.txt").read_text() == "still open"
    for name in ("fit_result_covariance.dat", "neutrinos.ecsv", "dge_template.fits"):
        assert (tmp_path / "parallel" / name).read_bytes() == (tmp_path / "sequential" / name).read_bytes(), name


def _pid_and_sum(array):
    return os.getpid(), float(array.sum())


@needs_fork
def test_the_child_computes_on_the_parents_data():
    data = np.arange(1e6)
    with ForkedCall(_pid_and_sum, data) as call:
        assert call.forked
        pid, total = call.result()
    assert pid != os.getpid() and total == data.sum()
    assert not call.forked


class _TwoArgumentError(Exception):
    def __init__(self, name, value):
        super().__init__(f"{name}: bad {value}")


def _raises_two_argument_error():
    raise _TwoArgumentError("chi0", -1)


@needs_fork
def test_an_exception_that_cannot_be_rebuilt_still_says_what_it_was():
    """An exception class whose __init__ takes other arguments pickles but does not unpickle: the
    parent gets its type and message, and rerun=True raises the real one here."""
    with pytest.raises(RuntimeError, match="_TwoArgumentError: chi0: bad -1"):
        ForkedCall(_raises_two_argument_error).result()
    with pytest.raises(_TwoArgumentError, match="chi0: bad -1"):
        ForkedCall(_raises_two_argument_error, rerun=True).result()


@needs_fork
def test_a_child_that_fails_leaves_the_call_to_the_parent():
    parent = os.getpid()

    def fails_in_a_child(x):
        if os.getpid() != parent:
            raise RuntimeError("child only")
        return x + 1

    def dies_in_a_child(x):
        if os.getpid() != parent:
            os._exit(3)
        return x + 2

    assert ForkedCall(fails_in_a_child, 1, rerun=True).result() == 2
    assert ForkedCall(dies_in_a_child, 1, rerun=True).result() == 3

    def fails(x):
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 4"):  # the error as raised in the parent, with its traceback
        ForkedCall(fails, 4, rerun=True).result()


def test_without_fork_the_call_runs_at_result(monkeypatch):
    monkeypatch.delattr(forked.os, "fork")  # Windows
    call = ForkedCall(_pid_and_sum, np.ones(3))
    assert not call.forked and call.result() == (os.getpid(), 3.0)


def _warns(x):
    import warnings

    warnings.warn(f"careful with {x}", RuntimeWarning)
    return x


@needs_fork
def test_the_childs_warnings_are_issued_in_the_parent():
    call = ForkedCall(_warns, 5)
    assert call.forked
    with pytest.warns(RuntimeWarning, match="careful with 5"):
        assert call.result() == 5


@needs_fork
def test_the_filters_module_patterns_match_a_childs_warning():
    """A child's warning is issued here with the name of the module it came from (before: the path
    of its file), so a filter on that module applies to it."""
    import re
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=RuntimeWarning, module=re.escape(__name__))
        with pytest.raises(RuntimeWarning, match="careful with 7"):
            ForkedCall(_warns, 7).result()


def test_the_dge_outputs_load_no_neutrino_cube_the_disk_cache_holds(tmp_path, monkeypatch):
    """The DGE's outputs make sure the neutrino cube is in the disk cache (the prediction reads it);
    a cube stored already (by the neutrino cube's child) is not loaded again, one missing is built,
    and the DGE template is written either way."""
    from types import SimpleNamespace

    from gammapy.maps import HpxGeom, Map

    from gammapy_cocoons.analysis import fitting, likelihood
    from gammapy_cocoons.dge import conventional

    calls = []
    monkeypatch.setattr(likelihood, "hypothesis_dge", lambda *args, **kwargs: calls.append((args, kwargs)))
    template = Map.from_geom(HpxGeom.create(nside=1, frame="galactic"), unit="sr-1")
    spatial = SimpleNamespace(map=template)
    fake = SimpleNamespace(setup={"hypothesis": "dge+cocoons"}, gamma_datasets=[SimpleNamespace(name="inner")],
                           parts={"inner": {"dge": SimpleNamespace(sky_model=SimpleNamespace(spatial_model=spatial))}})
    setup = {"dge": "embedded", "variant": "min"}
    asked = []
    for stored, expected in ((True, 0), (False, 1)):
        monkeypatch.setattr(conventional, "cube_on_disk",
                            lambda *args, stored=stored, **kwargs: asked.append((args, kwargs)) or stored)
        workdir = tmp_path / str(stored)
        workdir.mkdir()
        calls.clear()
        fitting._prepare_dge_outputs(workdir, fake, setup)
        assert len(calls) == expected
        assert (workdir / "dge_template.fits").is_file()
    assert calls == [(("dge+cocoons", "embedded", "min"), {"secondary": "nu_per_flavour"})]
    assert asked == [(("min", "nu_per_flavour"), {})] * 2  # the neutrino cube of the run's variant
    # not the embedded DGE's cube (radial-delta's, the Fermi model's): asked for as before, whatever
    # the disk cache holds
    monkeypatch.setattr(conventional, "cube_on_disk", lambda *args, **kwargs: True)
    assert not fitting._neutrino_cube_stored("radial-delta", "embedded", "min")
    assert not fitting._neutrino_cube_stored("dge+cocoons", "fermi-pi0", "min")
    assert fitting._neutrino_cube_stored("dge+cocoons", "embedded", "min")


def _grandchild_then_wait(path):
    """Fork a grandchild that sleeps, say both pids in ``path``, and wait (a stand-in for the answer
    row's child and the toys it forks)."""
    inner = ForkedCall(time.sleep, 60)
    path.write_text(f"{os.getpid()} {inner._pid}")
    time.sleep(60)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped by its parent) counts as ended
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@needs_fork
def test_a_new_group_child_is_ended_with_the_processes_it_forked(tmp_path):
    """ForkedCall(new_group=True) (reproduce's answer child, whose toys fork a grandchild): the child
    leads a process group of its own, and cancel ends the grandchild too; without it, only the child."""
    for new_group in (True, False):
        path = tmp_path / f"pids-{new_group}"
        call = ForkedCall(_grandchild_then_wait, path, new_group=new_group)
        deadline = time.time() + 30
        while not (path.exists() and len(path.read_text().split()) == 2) and time.time() < deadline:
            time.sleep(0.05)
        child, grandchild = map(int, path.read_text().split())
        assert (os.getpgid(child) == child) is new_group
        call.cancel()
        deadline = time.time() + 10
        while new_group and _alive(grandchild) and time.time() < deadline:  # SIGKILL: at once, in practice
            time.sleep(0.05)
        assert not _alive(child)
        assert _alive(grandchild) is not new_group
        if not new_group:  # the orphan of the plain child: ended here
            os.kill(grandchild, 9)


@needs_fork
def test_the_forked_answer_child_starts_with_the_prefetched_dge_steps(monkeypatch, caplog):
    """start_answer(fork=True) installs the prefetched DGE state, then forks the answer row's child in
    a group of its own; a child that fails is reported and its fits are done in this process."""
    from gammapy_cocoons.analysis import answer, reproduce
    from gammapy_cocoons.dge import conventional, diskcache

    installed = []
    monkeypatch.setattr(conventional, "adopt_prefetched", lambda: installed.append(os.getpid()) or True)

    def fits(dge, background):
        return {"pid": os.getpid(), "group": os.getpgid(0), "dge": dge, "background": background,
                "installed_before_the_fork": list(installed),
                "rows": [{"hypothesis": "dge", "dge": "embedded min", "stat": 10.0, "ndof": 5, "aic": 12.0,
                          "ts_cocoons": None, "chi0": None, "r0": None}], "seconds": 0.0}

    monkeypatch.setattr(answer, "answer_fits", fits)
    monkeypatch.setattr(diskcache, "available_memory_gb", lambda: 100.0)  # whatever the machine has free
    call = answer.start_answer("embedded", fork=True)
    assert isinstance(call, ForkedCall) and installed == [os.getpid()]
    result = call.result()
    assert result["pid"] != os.getpid() and result["group"] == result["pid"]
    assert result["installed_before_the_fork"] == [os.getpid()]  # the child inherited the installed state
    assert (result["dge"], result["background"]) == ("embedded", True)

    def fails(dge, background):
        raise RuntimeError("no cube")

    monkeypatch.setattr(answer, "answer_fits", fails)
    failed = answer.start_answer("embedded", fork=True)
    monkeypatch.setattr(answer, "answer_fits", lambda dge: fits(dge, False))  # the fits done here
    bc = {"parameters": {"chi0": {"value": 0.48, "error": 0.04}}, "chi0_interval_68": [0.44, 0.52]}
    with caplog.at_level("WARNING"):
        row, _ = reproduce._answer_row("embedded", bc, failed)
    assert "RuntimeError: no cube" in caplog.text and "fitting in this process instead" in caplog.text
    assert row["preferred"] == "dge"


def _warns_and_logs():
    import logging
    import warnings

    for _ in range(30):  # as the toys repeat theirs
        warnings.warn("the same warning, thirty times", RuntimeWarning)
    logging.getLogger("gammapy_cocoons.test").warning("a record from the child")
    os.write(1, b"to the terminal\n")  # a background group's child writes nothing there
    return os.getpid()


@needs_fork
@pytest.mark.parametrize("new_group", [False, True])
def test_the_childs_warnings_come_once_and_its_log_records_through_this_process(new_group, caplog, capfd):
    import warnings

    with caplog.at_level("WARNING"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pid = ForkedCall(_warns_and_logs, new_group=new_group).result()
    assert pid != os.getpid()
    assert [str(w.message) for w in caught] == ["the same warning, thirty times"]
    assert [(r.name, r.getMessage()) for r in caplog.records] == [("gammapy_cocoons.test", "a record from the child")]
    assert ("to the terminal" in capfd.readouterr().out) is not new_group


@needs_fork
def test_a_child_forked_by_a_child_holds_no_end_of_its_parents_pipe(tmp_path):
    """The toys' grandchild of reproduce's answer child closes the answer child's result pipe: the
    main process reads the pipe's end when the answer child ends, however long the grandchild runs."""
    def answer_child():
        inner = ForkedCall(time.sleep, 30)  # outlives this child, killed below
        (tmp_path / "inner").write_text(str(inner._pid))
        os._exit(0)  # ends without a result, as a child killed by the kernel would

    start = time.perf_counter()
    call = ForkedCall(answer_child, new_group=True)
    with pytest.raises(RuntimeError, match="ended without a result"):
        call.result()
    assert time.perf_counter() - start < 15
    os.kill(int((tmp_path / "inner").read_text()), 9)


@needs_fork
def test_a_ctrl_c_raised_here_after_the_fork_ends_the_child_too(monkeypatch):
    """A Ctrl-C (KeyboardInterrupt) raised in this process at any step after the fork, e.g. one held
    back during it: the child just started is ended and reaped, not left running without an owner,
    and the signals are let through again."""
    import signal

    started = []
    real_setpgid = os.setpgid

    def interrupted(pid, group):
        if pid == 0:  # the child's own call
            return real_setpgid(pid, group)
        started.append(pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(forked.os, "setpgid", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ForkedCall(time.sleep, 60, new_group=True)
    assert len(started) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(started[0], os.WNOHANG)  # ended and reaped
    assert not signal.pthread_sigmask(signal.SIG_BLOCK, []) & {signal.SIGINT, signal.SIGTERM}
