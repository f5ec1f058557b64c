"""Leptonic kernels against independent references: naima's inverse Compton on the same seed
photons, the Thomson limit, the published radiation lengths of H and He (Tsai 1974 / PDG) and the
unscreened Bethe-Heitler limit, and a direct quadrature of the screened formula."""
import numpy as np
import pytest
import astropy.units as u
from scipy import integrate

from gammapy_cocoons.constants import C_CM_S
from gammapy_cocoons.physics import radiation as R
from gammapy_cocoons.physics.isrf import cmb_number_density, galprop_isrf

AVOGADRO = 6.02214076e23


@pytest.fixture(scope="module")
def isrf():
    return galprop_isrf()


def test_ic_matches_naima_on_the_local_isrf(isrf):
    naima = pytest.importorskip("naima")
    eps, n = isrf.eps, isrf.number_density(8.5, 0.0)
    # the same seed photons for naima: dn/dln eps linear in ln eps between the nodes, finely sampled
    x = np.log(eps)
    xf = np.linspace(x[0], x[-1], 12 * (x.size - 1) + 1)
    nf = np.interp(xf, x, n)
    ef = np.exp(xf)
    # a smoothly broken power law like the local spectrum (E^-3.1 -> E^-4 at 1 TeV)
    def spectrum(e_gev):
        return e_gev**-3.1 / (1.0 + (e_gev / 1e3) ** 9) ** 0.1

    particles = naima.models.TableModel(np.geomspace(0.3, 1e6, 400) * u.GeV,
                                        spectrum(np.geomspace(0.3, 1e6, 400)) / u.GeV)
    ic = naima.models.InverseCompton(particles, seed_photon_fields=[["isrf", ef * u.GeV, nf / ef / 1e9 / u.cm**3 / u.eV]],
                                     Eemin=0.3 * u.GeV, Eemax=1e6 * u.GeV, nEed=150)
    e_gamma = np.geomspace(1.0, 1e5, 6)
    reference = ic.flux(e_gamma * u.GeV, distance=0).to_value("1/(GeV s)")
    electrons = np.geomspace(0.3, 1e6, int(16 * np.log10(1e6 / 0.3)) + 1)  # the electron sea's 16 per decade
    kernel = R.ic_emissivity_matrix(electrons, eps, e_gamma)
    mine = C_CM_S * np.einsum("gep,e,p->g", kernel, spectrum(electrons), n)
    np.testing.assert_allclose(mine, reference, rtol=0.01)


def test_ic_loss_is_thomson_at_low_energy_and_klein_nishina_suppressed_above(isrf):
    eps = isrf.eps
    n = cmb_number_density(eps)
    energy = np.array([1.0, 10.0, 1e4, 1e5])
    loss = R.ic_loss_matrix(energy, eps) @ n
    u_cmb = np.trapezoid(n * eps, np.log(eps))
    thomson = 4 / 3 * R.SIGMA_T_CM2 * C_CM_S * (energy / R.ELECTRON_MASS_GEV) ** 2 * u_cmb
    # 0.4 %: the interpolation of dn/dln eps between the 0.1-dex nodes against their trapezoid
    np.testing.assert_allclose(loss[:2] / thomson[:2], 1.0, rtol=0.006)
    assert loss[3] / thomson[3] < 0.4 < loss[2] / thomson[2] < 0.9


@pytest.mark.parametrize("atom, l_rad, mass, x0", [("H", 5.31 + 6.144, 1.00794, 63.04),
                                                   ("He", 4 * 4.79 + 2 * 5.621, 4.002602, 94.32)])
def test_complete_screening_gives_the_radiation_length(atom, l_rad, mass, x0):
    # phi1(0) = Z^2 L_rad + Z L'_rad (Tsai 1974, PDG Table; f(Z) < 1e-3 for Z <= 2)
    phi1, phi2 = R.screening_functions(1e-9, atom)
    assert phi1 == pytest.approx(l_rad, rel=0.002)
    # the loss rate is the radiation length's plus Tsai's (Z^2 + Z) / 18 term (1 %)
    z = 1 if atom == "H" else 2
    per_atom = R._brems_loss_per_atom(np.array([1e4]), atom)[0]
    x0_loss = mass / AVOGADRO / per_atom
    assert x0_loss == pytest.approx(x0 / (1 + (z * z + z) / (18 * l_rad)), rel=0.003)


@pytest.mark.parametrize("atom", ["H", "He"])
def test_screening_tends_to_bethe_heitler_without_screening(atom):
    z, electrons = (1, 1) if atom == "H" else (2, 2)
    delta = np.array([0.05, 0.1, 0.2])  # delta >> 2 alpha Z: momentum transfers beyond the atom
    phi1, phi2 = R.screening_functions(delta, atom)
    unscreened = (z * z + electrons) * (np.log(1 / delta) - 0.5)
    np.testing.assert_allclose(phi1, unscreened, rtol=0.01)
    np.testing.assert_allclose(phi2, unscreened, rtol=0.01)


def _screened_direct(e0, k, atom):
    """The screened cross section by adaptive quadrature of the screening integrals."""
    z, electrons, _ = R._ATOMS[atom]
    e1 = e0 - k
    delta = k * R.ELECTRON_MASS_GEV / (2 * e0 * e1)
    i1 = integrate.quad(lambda q: R._screening_integrands(q, delta, atom)[0], delta, 1, limit=200, epsrel=1e-8)[0]
    i2 = integrate.quad(lambda q: R._screening_integrands(q, delta, atom)[1], delta, 1, limit=200, epsrel=1e-8)[0]
    if atom == "H":
        phi1, phi2 = 2 * (1 + i1), 2 * (5 / 6 + i2)
    else:
        phi1, phi2 = 4 * (1.5 + i1), 4 * (1.25 + i2)
    cap = (z * z + electrons) * (np.log(1 / delta) - 0.5)
    phi1, phi2 = min(phi1, cap), min(phi2, cap)
    return 4 * R.ALPHA * R.R_E_CM**2 / k * ((1 + (e1 / e0) ** 2) * phi1 - 2 / 3 * (e1 / e0) * phi2)


@pytest.mark.parametrize("atom", ["H", "He"])
@pytest.mark.parametrize("e0, k", [(1.0, 0.5), (10.0, 1.0), (10.0, 9.99), (1e3, 10.0), (0.05, 0.01)])
def test_bremsstrahlung_cross_section_matches_the_screened_formula(atom, e0, k):
    assert R.bremsstrahlung_cross_section(e0, k, atom) == pytest.approx(_screened_direct(e0, k, atom), rel=0.01)


def test_bremsstrahlung_emissivity_integrates_the_cross_section():
    electrons = np.geomspace(0.3, 1e5, int(16 * np.log10(1e5 / 0.3)) + 1)
    e_gamma = np.array([1.0, 10.0, 100.0])
    matrix = R.bremsstrahlung_emissivity_matrix(electrons, e_gamma, helium_fraction=0.1)
    j = matrix @ electrons**-3.2
    for value, k in zip(j, e_gamma):
        def integrand(ln_e):
            e = np.exp(ln_e)
            return e * e**-3.2 * (R.bremsstrahlung_cross_section(e, k, "H") + 0.1 * R.bremsstrahlung_cross_section(e, k, "He"))
        direct = integrate.quad(integrand, np.log(k + 2 * R.ELECTRON_MASS_GEV), np.log(1e5), limit=400,
                                points=[np.log(k * 1.01), np.log(2 * k)])[0]
        assert value == pytest.approx(direct, rel=0.01)


def test_synchrotron_and_ionisation_losses():
    # 10 GeV in 5 microgauss: (4/3) sigma_T c gamma^2 B^2 / 8 pi
    gamma = 10.0 / R.ELECTRON_MASS_GEV
    expected = 4 / 3 * 6.6524587e-25 * 2.99792458e10 * gamma**2 * (5e-6) ** 2 / (8 * np.pi) * 624.150907
    assert R.synchrotron_loss(10.0, 5e-6) == pytest.approx(expected, rel=1e-6)
    assert R.ionisation_loss(np.array([1.0]), 1.0, helium_fraction=0.0)[0] == pytest.approx(
        7.64e-18 * (3 * np.log(1 / R.ELECTRON_MASS_GEV) + 19.8))


def test_bremsstrahlung_refuses_low_energies():
    with pytest.raises(ValueError, match="electron_energy"):
        R.bremsstrahlung_cross_section(0.005, 0.001)
