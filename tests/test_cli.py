import numpy as np
import astropy.units as u
from click.testing import CliRunner

from gammapy_cocoons import LHAASO_INNER, CocoonEmission
from gammapy_cocoons.cli import main


def test_spectra_table_matches_the_api():
    result = CliRunner().invoke(main, ["spectra", "--n-energies", "5"])
    assert result.exit_code == 0, result.output
    rows = np.array([[float(x) for x in line.split()] for line in result.output.splitlines() if not line.startswith("#")])
    assert rows.shape == (5, 4)
    energy = rows[:, 0] * u.GeV
    inner = (energy**2 * CocoonEmission().intensity(energy, LHAASO_INNER)).to_value("GeV cm-2 s-1 sr-1")
    assert np.allclose(rows[:, 1], inner, rtol=1e-3)
    assert "Eq. 9" in result.output and "Eq. 10" in result.output


def test_bad_option_is_one_line():
    result = CliRunner().invoke(main, ["spectra", "--emin", "1e3", "--emax", "10"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--emin" in result.output


def test_bad_physics_value_is_one_line():
    result = CliRunner().invoke(main, ["spectra", "--chi0", "-1"])
    assert result.exit_code == 2
    assert "chi0" in result.output and "Traceback" not in result.output
