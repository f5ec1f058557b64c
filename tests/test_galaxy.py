import mpmath
import numpy as np
import pytest
from scipy import integrate

from gammapy_cocoons.constants import YR_S
from gammapy_cocoons.physics.galaxy import SOURCE_DISTRIBUTIONS, SourceDistribution, get_source_distribution


def _volume_integral_mpmath(dist):
    """Eq. 2 by mpmath quadrature of the density itself (independent of the closed form)."""
    mpmath.mp.dps = 30
    scale = dist.r_sun + dist.r_offset

    def radial(r):
        return r * ((r + dist.r_offset) / scale) ** dist.alpha * mpmath.exp(-dist.beta * (r - dist.r_sun) / scale)

    radial_part = mpmath.quad(radial, [0, dist.r_sun, dist.r_max])
    vertical_part = 2 * mpmath.quad(lambda z: mpmath.exp(-z / dist.z0), [0, dist.h])
    return float(2 * mpmath.pi * radial_part * vertical_part * dist.norm)


@pytest.mark.parametrize("name", sorted(SOURCE_DISTRIBUTIONS))
def test_normalisation_eq2(name):
    dist = SOURCE_DISTRIBUTIONS[name]
    rate = dist.rate_per_yr / YR_S
    assert _volume_integral_mpmath(dist) == pytest.approx(rate, rel=1e-6)


def test_green_is_the_paper_default():
    dist = get_source_distribution("green2015")
    assert (dist.alpha, dist.beta, dist.z0, dist.r_sun, dist.r_max, dist.h) == (1.09, 3.87, 0.083, 8.5, 10.0, 0.1)
    assert dist.rate_per_yr == pytest.approx(1 / 30)
    # Eq. 1: unit radial factor at the Sun, e^-|z|/z0 vertically
    assert dist.radial(8.5) == pytest.approx(1.0)
    assert dist.vertical(0.083) == pytest.approx(np.exp(-1))


def test_density_zero_outside_cylinder():
    dist = SourceDistribution()
    assert dist.density(10.01, 0.0) == 0.0
    assert dist.density(5.0, 0.1001) == 0.0
    assert dist.density(5.0, -0.05) == dist.density(5.0, 0.05) > 0


def test_density_is_scalar_and_array_consistent():
    dist = SourceDistribution()
    r = np.array([0.5, 4.0, 9.0])
    assert np.allclose(dist.density(r, 0.02), [dist.density(x, 0.02) for x in r])


def test_rate_scales_density_linearly():
    base = SourceDistribution()
    double = base.replace(rate_per_yr=2 / 30)
    assert double.density(4.0, 0.0) == pytest.approx(2 * base.density(4.0, 0.0), rel=1e-14)


@pytest.mark.parametrize(
    "field, value",
    [("z0", 0.0), ("h", -1.0), ("rate_per_yr", 0.0), ("r_max", 8.0), ("alpha", np.nan), ("r_offset", -1.0)],
)
def test_bad_parameters_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        SourceDistribution().replace(**{field: value})


def test_unknown_profile_lists_known_ones():
    with pytest.raises(ValueError, match="green2015"):
        get_source_distribution("ferriere")


def test_radial_closed_form_matches_quadrature():
    dist = SourceDistribution()
    numeric, _ = integrate.quad(lambda r: r * dist.radial(r), 0, dist.r_max, epsrel=1e-12, limit=200)
    assert dist.radial_integral() == pytest.approx(numeric, rel=1e-9)
