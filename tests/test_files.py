"""Nothing lost (issue 15, items 9-15): outputs checked before anything is written, published
atomically and exclusively, with the umask's permissions, and one-line errors."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import astropy.units as u
from astropy.table import QTable
from click.testing import CliRunner

from gammapy_cocoons._files import check_outputs, publish, publish_text
from gammapy_cocoons.cli import main


def test_publish_is_exclusive_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    publish_text(target, "first")
    # a second writer that passed its own check before the first one published: refused, not overwritten
    with pytest.raises(FileExistsError, match="overwrite"):
        publish_text(target, "second")
    assert target.read_text() == "first"
    publish_text(target, "third", overwrite=True)
    assert target.read_text() == "third"

    def failing(temporary):
        Path(temporary).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish(tmp_path / "never.txt", failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no final file, no temporary


def test_published_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        publish_text(tmp_path / "a.txt", "x")
        result = CliRunner().invoke(main, ["template", "--format", "healpix", "--nside", "8", "--n-energies", "2",
                                           "--output", str(tmp_path / "c.fits")])
        assert result.exit_code == 0, result.output
    finally:
        os.umask(old)
    for name in ("a.txt", "c.fits"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name  # mkstemp alone gives 0600


def test_check_outputs_messages(tmp_path):
    (tmp_path / "a").write_text("x")
    (tmp_path / "b").write_text("x")
    with pytest.raises(FileExistsError, match="already holds a, b"):
        check_outputs([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    check_outputs([tmp_path / "a"], overwrite=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_outputs([tmp_path / "missing" / "x.ecsv"])
    with pytest.raises(IsADirectoryError):
        check_outputs([tmp_path])


@pytest.mark.parametrize("extra", [["--plot", "{d}/p.txt"], ["--plot", "{d}/nodir/p.png"], ["--output", "{d}/nodir/s.ecsv"]])
def test_spectrum_checks_every_output_first(tmp_path, extra):
    """Items 12 and 15: a bad --plot extension or a missing directory leaves nothing written."""
    args = ["spectrum", "--output", str(tmp_path / "s.ecsv")] + [a.format(d=tmp_path) for a in extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "Traceback" not in result.output and len(result.output.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_template_refuses_a_cube_too_large_for_memory(tmp_path):
    """Item 15: --nside 2048 ran out of memory after 49 s; now refused at once with the figure."""
    result = CliRunner().invoke(main, ["template", "--nside", "2048", "--output", str(tmp_path / "big.fits")])
    assert result.exit_code == 2 and "GB" in result.output and not (tmp_path / "big.fits").exists()


def test_fit_refuses_any_existing_output_before_fitting(tmp_path):
    """Item 9: fit replaced 8 outputs when only fit_result.yaml, fit_summary.json and
    dge_template.fits were absent; --compare-laws replaced grammage_laws.json."""
    (tmp_path / "sed_outer.png").write_bytes(b"mine")
    (tmp_path / "grammage_laws.json").write_text("mine")
    for args in (["--no-profiles"], ["--no-profiles", "--compare-laws"]):
        result = CliRunner().invoke(main, ["fit", "--outdir", str(tmp_path)] + args)
        assert result.exit_code == 2 and "sed_outer.png" in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grammage_laws.json", "sed_outer.png"]
    assert (tmp_path / "sed_outer.png").read_bytes() == b"mine"


def _template_command(path, nside=64, n_energies=12):
    return [sys.executable, "-c", "from gammapy_cocoons.cli import main; main()", "template", "--format", "healpix",
            "--nside", str(nside), "--n-energies", str(n_energies), "--output", str(path)]


@pytest.mark.parametrize("delay", [0.5, 2.0, 3.5])
def test_a_killed_template_run_leaves_all_or_nothing(tmp_path, delay):
    """Item 13: kill -9 at any moment: the final path holds nothing or the whole, readable file;
    a rerun is not blocked by a truncated file."""
    from astropy.io import fits

    target = tmp_path / "cube.fits"
    process = subprocess.Popen(_template_command(target), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    process.kill()
    process.wait()
    if target.exists():
        with fits.open(target) as hdulist:
            assert np.all(np.isfinite(hdulist[1].data.field(0)))
    else:  # whatever the kill left is a hidden temporary, and a rerun works
        # (a small cube, in this process: what is checked is that the path is free, not the cube)
        rerun = CliRunner().invoke(main, _template_command(target, nside=8, n_energies=2)[3:])
        assert rerun.exit_code == 0, rerun.output
        with fits.open(target) as hdulist:
            assert np.all(np.isfinite(hdulist[1].data.field(0)))


def test_sigterm_removes_the_temporary(tmp_path):
    """Item 13: SIGTERM while a file is being written (here from inside the writer, so that it
    surely arrives mid-write) unwinds the command: no hidden temporary, no final file."""
    from gammapy_cocoons.cli import exit_on_sigterm

    previous = signal.getsignal(signal.SIGTERM)
    exit_on_sigterm()

    def interrupted(temporary):
        Path(temporary).write_text("half a file")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1.0)  # the handler runs before this returns

    try:
        with pytest.raises(SystemExit) as stop:
            publish(tmp_path / "cube.fits", interrupted)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stop.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


# -- issue 24 item 9: all or nothing -----------------------------------------------------------------

def test_a_failing_run_leaves_nothing_and_restores_what_it_replaced(tmp_path):
    """Fault injection: a run publishes two files, replaces a third (overwrite) and fails: the new
    files and the directories it created are gone, the replaced file has its old content."""
    from gammapy_cocoons._files import output_set, prepare_outdir

    (tmp_path / "old.txt").write_text("the user's")
    for failure in (RuntimeError("disk full"), KeyboardInterrupt()):
        outdir = tmp_path / "new" / "deeper"
        with pytest.raises(type(failure)):
            with output_set(outdir):
                prepare_outdir(outdir, ["a.txt", "b.txt"])
                publish_text(outdir / "a.txt", "a")
                with output_set():  # a nested step joins the run
                    publish_text(outdir / "b.txt", "b")
                publish_text(tmp_path / "old.txt", "replaced", overwrite=True)
                assert (tmp_path / "old.txt").read_text() == "replaced"
                raise failure
        assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]
        assert (tmp_path / "old.txt").read_text() == "the user's"
    with output_set(tmp_path / "ok"):  # and a run that succeeds keeps everything, without a journal
        prepare_outdir(tmp_path / "ok", ["a.txt"])
        publish_text(tmp_path / "ok" / "a.txt", "a")
        publish_text(tmp_path / "old.txt", "new", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok", "old.txt"]


_KILLED_RUN = """
import os, signal, sys
from gammapy_cocoons._files import output_set, prepare_outdir, publish_text
outdir = sys.argv[1]
with output_set(outdir):
    prepare_outdir(outdir, ["a.txt", "b.txt", "kept.txt"], overwrite=True)
    publish_text(outdir + "/a.txt", "a")
    publish_text(outdir + "/kept.txt", "replaced", overwrite=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no unwinding: only the journal knows
"""


def test_the_next_run_undoes_a_killed_one(tmp_path):
    """kill -9 while publishing left part of the output set, and the rerun was refused. Now the
    journal lets the next run into that folder remove the killed run's files and restore the
    file it had replaced, then go ahead."""
    from gammapy_cocoons._files import JOURNAL, prepare_outdir

    (tmp_path / "kept.txt").write_text("the user's")
    process = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(tmp_path)], capture_output=True)
    assert process.returncode == -signal.SIGKILL
    assert {"a.txt", JOURNAL} <= {p.name for p in tmp_path.iterdir()}
    prepare_outdir(tmp_path, ["a.txt", "b.txt"])  # no FileExistsError for a.txt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
    assert (tmp_path / "kept.txt").read_text() == "the user's"


def test_a_live_run_into_the_same_folder_is_not_undone(tmp_path):
    from gammapy_cocoons._files import JOURNAL, prepare_outdir

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / JOURNAL).write_text(f'{{"pid": {sleeper.pid}}}\n{{"published": "{tmp_path}/a.txt"}}\n')
        (tmp_path / "a.txt").write_text("theirs")
        with pytest.raises(FileExistsError, match=f"another run \\(process {sleeper.pid}\\)"):
            prepare_outdir(tmp_path, ["b.txt"])
        assert (tmp_path / "a.txt").read_text() == "theirs"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_failing_commands_leave_nothing(tmp_path, monkeypatch):
    """A failure after some outputs were published (the plot of spectrum, the figure of
    population) removes them, and the folder the run created; --seed -1 creates no folder."""
    import gammapy_cocoons.analysis.plotting as plotting
    import gammapy_cocoons.analysis.population as population

    def broken(*args, **kwargs):
        raise ValueError("the figure failed")

    monkeypatch.setattr(plotting, "publish_figure", broken, raising=False)
    import gammapy_cocoons._files as files

    original = files.publish_figure
    monkeypatch.setattr(files, "publish_figure", broken)
    result = CliRunner().invoke(main, ["spectrum", "--dge", "none", "--n-energies", "2", "--output",
                                       str(tmp_path / "s.ecsv"), "--plot", str(tmp_path / "s.png")])
    assert result.exit_code == 2 and "the figure failed" in result.output
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(files, "publish_figure", original)

    table = QTable({"energy": [1.0] * u.TeV})
    monkeypatch.setattr(population, "population_results", lambda *a: (table, {"components": {}}, {"summary": 1}))
    monkeypatch.setattr(plotting, "plot_population", broken)
    for args in (["--realisations", "2"], ["--seed", "-1"]):
        result = CliRunner().invoke(main, ["population", "--outdir", str(tmp_path / "run" / "pop")] + args)
        lines = result.output.strip().splitlines()  # a progress bar's label may come first
        assert result.exit_code == 2 and lines[-1].startswith("Error:") and "Traceback" not in result.output
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, module, step", [("reproduce", "reproduce", "_figure_1"),
                                                   ("fit", "likelihood", "build_likelihood"), ("bc", "bcfit", "fit_bc")])
def test_errors_start_on_their_own_line_after_a_progress_bar(tmp_path, monkeypatch, command, module, step):
    """Item 11: an error printed while a progress bar was drawn landed inside the bar's line
    (fit's bar was never closed, bc's error was printed inside the bar's block)."""
    import importlib

    def fail(*args, **kwargs):
        raise ValueError("the step failed")

    monkeypatch.setattr(importlib.import_module(f"gammapy_cocoons.analysis.{module}"), step, fail)
    result = CliRunner().invoke(main, [command, "--outdir", str(tmp_path / "r"), "--progress"])
    assert result.exit_code == 2 and result.stderr.strip()  # the bar was drawn
    assert ("\n" + result.stderr).count("\nError: the step failed") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()
