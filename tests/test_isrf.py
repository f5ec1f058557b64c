"""The bundled GALPROP ISRF: energy densities against the file's own checks (PROVENANCE.md), the
exact CMB, interpolation and bad input."""
import numpy as np
import pytest
from astropy import constants as const
from astropy import units as u
from scipy.integrate import trapezoid

from gammapy_cocoons.physics.isrf import CMB_TEMPERATURE_K, RadiationField, cmb_number_density, galprop_isrf


@pytest.fixture(scope="module")
def isrf():
    return galprop_isrf()


@pytest.mark.parametrize("r, optical, infrared", [(8.25, 0.545, 0.399), (0.25, 16.8, 1.78), (16.25, 0.049, 0.042)])
def test_energy_densities_match_the_published_checks(isrf, r, optical, infrared):
    # PROVENANCE.md section 7: sums x 0.1 ln 10 of the file at z = 0 (trapezoid vs sum: < 1 %)
    assert isrf.energy_density(r, 0.0, "optical") == pytest.approx(optical, rel=0.01)
    assert isrf.energy_density(r, 0.0, "infrared") == pytest.approx(infrared, rel=0.01)


def test_cmb_is_the_exact_black_body(isrf):
    # a T^4 with the radiation constant a = 4 sigma / c
    a = (4 * const.sigma_sb / const.c).to("eV cm-3 K-4").value
    assert isrf.energy_density(5.0, 1.0, "cmb") == pytest.approx(a * CMB_TEMPERATURE_K**4, rel=1e-3)
    # photon number density 411 cm-3 (2 zeta(3) / pi^2 (kT / hbar c)^3)
    x = np.geomspace(1e-6, 60, 20001)
    kt = (const.k_B * CMB_TEMPERATURE_K * u.K).to_value("GeV")
    n = trapezoid(cmb_number_density(x * kt), np.log(x))
    assert n == pytest.approx(410.7, rel=2e-3)


def test_interpolation_is_bilinear_and_symmetric(isrf):
    i, j = 16, 10  # R = 8.25, z = 1.0
    r0, r1, z0, z1 = isrf.r[i], isrf.r[i + 1], isrf.z[j], isrf.z[j + 1]
    middle = isrf.number_density(0.5 * (r0 + r1), 0.5 * (z0 + z1), "optical")
    corners = sum(isrf.number_density(r, z, "optical") for r in (r0, r1) for z in (z0, z1)) / 4
    assert np.allclose(middle, corners, rtol=1e-12)
    assert np.array_equal(isrf.number_density(8.0, -0.7), isrf.number_density(8.0, 0.7))
    # held at the grid's edge beyond it
    assert np.array_equal(isrf.number_density(30.0, 9.0, "infrared"), isrf.number_density(isrf.r[-1], isrf.z[-1],
                                                                                           "infrared"))
    shape = isrf.number_density(np.ones((2, 3)), 0.0).shape
    assert shape == (isrf.eps.size, 2, 3)


def test_bad_input(isrf):
    with pytest.raises(ValueError, match="components"):
        isrf.number_density(8.0, 0.0, "starlight")
    with pytest.raises(ValueError, match="finite"):
        isrf.number_density(np.nan, 0.0)
    with pytest.raises(ValueError, match="r must be >= 0"):
        isrf.number_density(-1.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        RadiationField(r=isrf.r, z=isrf.z, eps=isrf.eps, density={"optical": np.ones((2, 2, 2))})
    with pytest.raises(ValueError, match="increasing"):
        RadiationField(r=isrf.r[::-1], z=isrf.z, eps=isrf.eps, density={})


def test_a_file_of_the_wrong_shape_is_refused(tmp_path):
    from astropy.io import fits

    for shape in ((2, 56, 101, 41), (56, 101, 41)):
        path = tmp_path / f"isrf_{len(shape)}.fits"
        fits.PrimaryHDU(np.zeros(shape, dtype=np.float32)).writeto(path)
        with pytest.raises(ValueError, match="filename .*expected 4 axes"):
            galprop_isrf(str(path))

