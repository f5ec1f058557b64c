import os

import numpy as np
import pytest
import astropy.units as u

from gammapy_cocoons import CocoonEmission
from gammapy_cocoons._threads import BLAS_THREAD_VARIABLES, limit_blas_threads

# one BLAS thread in this process and in the processes it starts (notebook kernels, the CLI),
# unless the user chose (multi-threaded OpenBLAS stalls on two busy cores)
limit_blas_threads()
if not any(name in os.environ for name in BLAS_THREAD_VARIABLES):
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"


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
    reuses these through $GAMMAPY_COCOONS_NOTEBOOKS instead of executing them again."""
    import os
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "docs"))
    import tutorial_notebooks

    directory = tmp_path_factory.mktemp("notebooks")
    os.environ[tutorial_notebooks.CACHE_VARIABLE] = str(directory)
    return {path.stem: path for path in tutorial_notebooks.executed_notebooks(directory)}


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory):
    """`gammapy-cocoons reproduce` run once; the docs build shows these figures
    ($GAMMAPY_COCOONS_REPRODUCED) instead of running it again. Returns (outdir, CLI output)."""
    import os

    from click.testing import CliRunner

    from gammapy_cocoons.cli import main

    outdir = tmp_path_factory.mktemp("reproduce")
    result = CliRunner().invoke(main, ["reproduce", "--outdir", str(outdir), "--no-progress"])
    assert result.exit_code == 0, result.output
    os.environ["GAMMAPY_COCOONS_REPRODUCED"] = str(outdir)
    return outdir, result.output
