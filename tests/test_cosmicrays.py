import mpmath
import numpy as np
import pytest
from scipy import special

from gammapy_cocoons.constants import ERG_GEV
from gammapy_cocoons.physics.cosmicrays import HELIUM, PROTON, Injection, fiducial_injections


def _injected_energy_mpmath(injection):
    """4 pi int dp p^2 Q(p) T(p) with mpmath (independent of the package's Gauss-Legendre rule)."""
    mpmath.mp.dps = 25
    m, k, g, pmax = injection.species.mass, injection.norm, injection.index, injection.p_max

    def integrand(p):
        # T = sqrt(p^2 + m^2) - m written without cancellation at small p
        return p**2 * k * (p / m) ** -g * mpmath.exp(-p / pmax) * p * p / (mpmath.sqrt(p * p + m * m) + m)

    return float(4 * mpmath.pi * mpmath.quad(integrand, [0, m, 10 * m, pmax, 10 * pmax, mpmath.inf]))


@pytest.mark.parametrize("injection", fiducial_injections(), ids=["H", "He"])
def test_normalisation_eq3(injection):
    assert _injected_energy_mpmath(injection) == pytest.approx(injection.efficiency * 1e51 * ERG_GEV, rel=1e-6)
    assert injection.injected_energy() == pytest.approx(injection.efficiency * 1e51 * ERG_GEV, rel=1e-9)


def test_no_cutoff_limit_is_a_beta_function():
    """p_max -> infinity: int_0^inf x^(2-g) (sqrt(1+x^2) - 1) dx = Gamma(a/2) Gamma(-1/2 - a/2) / (2 Gamma(-1/2)), a = 3 - g."""
    g = 4.3
    injection = Injection(PROTON, efficiency=0.1, index=g, p_max=1e30)
    a = 3.0 - g
    mellin = special.gamma(a / 2) * special.gamma(-0.5 - a / 2) / (2 * special.gamma(-0.5))
    expected = 0.1 * 1e51 * ERG_GEV / (4 * np.pi * PROTON.mass**4 * mellin)
    assert injection.norm == pytest.approx(expected, rel=1e-6)


def test_fiducial_values_are_the_papers():
    h, he = fiducial_injections()
    assert (h.efficiency, h.index, h.p_max) == (0.05, 4.26, 1e6)
    assert (he.efficiency, he.index, he.p_max) == (0.012, 4.16, 2e6)


def test_energy_spectrum_is_momentum_spectrum_times_jacobian():
    h, _ = fiducial_injections()
    e = np.array([2.0, 50.0, 3e4])
    p = PROTON.momentum(e)
    assert np.allclose(h.dn_de(e), 4 * np.pi * p**2 * h.dn_dp3(p) * e / p, rtol=1e-12)


def test_overrides_match_new_injection():
    h, _ = fiducial_injections()
    other = Injection(PROTON, efficiency=0.08, index=4.4)
    e = np.geomspace(2, 1e7, 9)
    assert np.allclose(h.dn_de(e, efficiency=0.08, index=4.4), other.dn_de(e), rtol=1e-12)


def test_rigidity():
    assert HELIUM.rigidity(HELIUM.mass + 1000.0) == pytest.approx(HELIUM.momentum(HELIUM.mass + 1000.0) / 2)
    assert PROTON.rigidity(PROTON.mass) == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [({"efficiency": 0.0}, "efficiency"), ({"efficiency": 1.5}, "efficiency"), ({"index": 2.0}, "index"),
     ({"index": np.nan}, "index"), ({"p_max": -1.0}, "p_max")],
)
def test_bad_injection(kwargs, match):
    args = {"species": PROTON, "efficiency": 0.05, "index": 4.26}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Injection(**args)


def test_species_by_name_and_bad_species():
    assert Injection("He", efficiency=0.012, index=4.16).species is HELIUM
    with pytest.raises(TypeError, match="species"):
        Injection("Fe", efficiency=0.01, index=4.2)
