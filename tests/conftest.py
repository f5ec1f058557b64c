"""Session-wide set-up of the tests.

The suite runs on two pytest-xdist workers (``-n 2 --dist loadgroup`` in pyproject.toml). Every
process of a session (the workers, the notebook kernels, the command-line subprocesses) inherits
from the controller, through the environment:

* one BLAS thread, unless the user chose (multi-threaded OpenBLAS stalls on two busy cores);
* one DGE disk cache, a temporary directory made for the session and removed after it (never the
  user's cache), so that the DGE is built once per session, as on a fresh machine.

The documentation build, the tutorials it shows and the ``reproduce`` run it draws from are one
xdist group, run first on one worker, so that nothing of it is done twice.
"""
import os
import shutil
import tempfile

import numpy as np
import pytest
import astropy.units as u

from gammapy_cocoons import CocoonEmission
from gammapy_cocoons._cache import CACHE_VARIABLE
from gammapy_cocoons._hugepages import avoid_hugepage_advice
from gammapy_cocoons._threads import BLAS_THREAD_VARIABLES, limit_blas_threads

limit_blas_threads()
avoid_hugepage_advice()
if not any(name in os.environ for name in BLAS_THREAD_VARIABLES):
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"

#: session fixtures of the documentation build, and the modules whose tests use them: one xdist
#: group (pytest-xdist's own xdist_group marks are ignored under pytest 9.2, xdist issue #1386)
DOCS_FIXTURES = ("executed_tutorials", "reproduced")
DOCS_MODULES = ("tests/test_docs.py", "tests/test_reproduce.py", "tests/test_tutorials.py")
_SESSION_CACHE = "_gammapy_cocoons_session_cache"


def pytest_configure(config):
    # the controller (or the only process) makes the session's DGE cache before xdist starts its
    # workers, which inherit the variable; a worker keeps the one it inherited
    if hasattr(config, "workerinput"):
        return
    directory = tempfile.mkdtemp(prefix="gammapy-cocoons-test-cache-")
    setattr(config, _SESSION_CACHE, (directory, os.environ.get(CACHE_VARIABLE)))
    os.environ[CACHE_VARIABLE] = directory


def pytest_unconfigure(config):
    session_cache = getattr(config, _SESSION_CACHE, None)
    if session_cache is None:
        return
    directory, previous = session_cache
    shutil.rmtree(directory, ignore_errors=True)
    if previous is None:
        os.environ.pop(CACHE_VARIABLE, None)
    else:
        os.environ[CACHE_VARIABLE] = previous


def _uses_the_docs_fixtures_elsewhere(item):
    return (bool(set(DOCS_FIXTURES) & set(getattr(item, "fixturenames", ())))
            and item.nodeid.split("::")[0] not in DOCS_MODULES)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # such a test would build the docs fixtures a second time on the other worker
    if _uses_the_docs_fixtures_elsewhere(item):
        pytest.fail(f"tests that use {DOCS_FIXTURES} belong in {DOCS_MODULES} (conftest.py)", pytrace=False)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadgroup, with the tests of DOCS_MODULES as one group "docs" (the largest work unit,
    so the scheduler hands it out first)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class DocsGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid):
            return "docs" if nodeid.split("::")[0] in DOCS_MODULES else super()._split_scope(nodeid)

    return DocsGroupScheduling(config, log)


@pytest.fixture(scope="session")
def fiducial():
    """The paper's fiducial emission, on its Eq. 7 target (pure hydrogen on chi0 / m_p; kernels and
    geometry are cached across tests)."""
    return CocoonEmission(target="hydrogen")


@pytest.fixture(scope="session")
def energies():
    return np.geomspace(10 * u.GeV, 1 * u.PeV, 11)


@pytest.fixture(scope="session")
def executed_tutorials(tmp_path_factory):
    """Every tutorial executed once as a Jupyter notebook; the docs build (tests/test_docs.py)
    reuses these through $GAMMAPY_COCOONS_NOTEBOOKS instead of executing them again.

    In one kernel, not one per core as the docs build outside the tests: here the other worker
    keeps the second core busy, so a second kernel gains no time and costs its start-up and its
    own caches: the 8 tutorials took 25-26 s of CPU in one kernel, 33-35 s in two (measured in turn)."""
    import os
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "docs"))
    import tutorial_notebooks

    directory = tmp_path_factory.mktemp("notebooks")
    os.environ[tutorial_notebooks.CACHE_VARIABLE] = str(directory)
    return {path.stem: path for path in tutorial_notebooks.executed_notebooks(directory, workers=1)}


def _record_figures(monkeypatch, record):
    """Record in ``record`` each figure file the package writes: {file name: (the figure's own dpi
    when written, the dpi it is written at)} (every figure file goes through _files.publish_figure)."""
    from pathlib import Path

    from gammapy_cocoons import _files

    publish = _files.publish_figure

    def recorded(fig, path, overwrite=False, **kwargs):
        record[Path(path).name] = (fig.dpi, kwargs.get("dpi"))
        return publish(fig, path, overwrite, **kwargs)

    monkeypatch.setattr(_files, "publish_figure", recorded)
    return record


@pytest.fixture
def written_figures(monkeypatch):
    """{file name: (figure dpi, written dpi)} of the figures the test's commands write."""
    return _record_figures(monkeypatch, {})


_REPRODUCED_FIGURES = {}
_REPRODUCED_FORKS = []


def _record_forks(monkeypatch, record):
    """Record (function name, whether a child runs it) of every ForkedCall made meanwhile."""
    from gammapy_cocoons.analysis import forked

    class Recorded(forked.ForkedCall):
        def __init__(self, function, *args, **kwargs):
            super().__init__(function, *args, **kwargs)
            record.append((getattr(function, "__name__", repr(function)), self.forked))

    monkeypatch.setattr(forked, "ForkedCall", Recorded)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory):
    """`gammapy-cocoons reproduce` run once; the docs build shows these figures
    ($GAMMAPY_COCOONS_REPRODUCED) instead of running it again. Returns (outdir, CLI output); the
    figures it wrote are in :func:`reproduced_figures`, its forked calls in :func:`reproduced_forks`."""
    import os

    from click.testing import CliRunner

    from gammapy_cocoons.cli import main

    outdir = tmp_path_factory.mktemp("reproduce")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _record_figures(monkeypatch, _REPRODUCED_FIGURES)
        _record_forks(monkeypatch, _REPRODUCED_FORKS)
        result = CliRunner().invoke(main, ["reproduce", "--outdir", str(outdir), "--no-progress"])
    assert result.exit_code == 0, result.output
    os.environ["GAMMAPY_COCOONS_REPRODUCED"] = str(outdir)
    return outdir, result.output


@pytest.fixture(scope="session")
def reproduced_figures(reproduced):
    """{file name: (figure dpi, written dpi)} of the figures of the `reproduced` run."""
    return dict(_REPRODUCED_FIGURES)


@pytest.fixture(scope="session")
def reproduced_forks(reproduced):
    """[(function name, whether a forked child ran it)] of the `reproduced` run's ForkedCalls, in order."""
    return list(_REPRODUCED_FORKS)
