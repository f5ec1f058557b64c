import numpy as np
import pytest
import astropy.units as u

from gammapy_cocoons import CocoonEmission


@pytest.fixture(scope="session")
def fiducial():
    """The paper's fiducial emission (kernels and geometry are cached across tests)."""
    return CocoonEmission()


@pytest.fixture(scope="session")
def energies():
    return np.geomspace(10 * u.GeV, 1 * u.PeV, 11)
